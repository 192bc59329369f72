//! Reconciliation and lifetime refresh, one agent driven by hand.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::super::{AddressJob, Agent, Effect, Input, InstanceFacts, KernelAddress, Setup};
use crate::config::{parse_str, VirtualIp};
use crate::notify::record::{AddressRepair, EventRecord};
use crate::vrrp::State;

const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50));
const IFINDEX: u32 = 2;

fn vip() -> VirtualIp {
    VirtualIp {
        addr: VIP,
        prefix_len: 24,
        interface: None,
    }
}

/// An agent with one instance `web` (100 ms adverts, `extra` lines added),
/// alone on its LAN: Master one Master_Down_Interval after `t0`, its jobs done.
fn master(t0: Instant, extra: &str) -> (Agent, Instant) {
    let text = format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    \
         advert_interval: 100ms\n    virtual_ips: [192.0.2.50/24]\n{extra}"
    );
    let config = parse_str(&text, "t.yaml").expect("valid config");
    let facts = InstanceFacts {
        ifindex: IFINDEX,
        mac: [2, 0, 0, 0, 0, 1],
        link_local: None,
        source: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        carrier: true,
        vmac: None,
    };
    let setup = Setup {
        config,
        facts: [("web".to_owned(), Ok(facts))].into_iter().collect(),
        links: [("eth0".to_owned(), true)].into_iter().collect(),
    };
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(t0, setup);
    let mut now = t0;
    let deadline = t0 + Duration::from_secs(1);
    let mut jobs = done_all(&mut agent, now);
    while agent.instances[0].router.state() != State::Master {
        now = agent.poll_timeout().expect("a timer");
        assert!(now < deadline, "never became Master");
        agent.handle(now, Input::Timeout);
        jobs.extend(done_all(&mut agent, now));
    }
    assert!(jobs.contains(&AddressJob::Add));
    (agent, now)
}

/// Carries out every queued effect, reporting address jobs done with the VIP
/// present after Add/Restore/Refresh and absent otherwise; returns the jobs.
fn done_all(agent: &mut Agent, now: Instant) -> Vec<AddressJob> {
    let mut jobs = Vec::new();
    while let Some(effect) = agent.poll_effect() {
        if let Effect::Address { instance, seq, job } = effect {
            let present = match job {
                AddressJob::Add | AddressJob::Refresh | AddressJob::Restore(_) => vec![vip()],
                _ => Vec::new(),
            };
            jobs.push(job);
            agent.handle(
                now,
                Input::AddressesDone {
                    instance,
                    seq,
                    present,
                },
            );
        }
    }
    jobs
}

/// The address jobs and events queued, without carrying them out.
fn pending(agent: &mut Agent) -> (Vec<(u64, AddressJob)>, Vec<EventRecord>) {
    let (mut jobs, mut events) = (Vec::new(), Vec::new());
    while let Some(effect) = agent.poll_effect() {
        match effect {
            Effect::Address { seq, job, .. } => jobs.push((seq, job)),
            Effect::Event(record) => events.push(record),
            _ => {}
        }
    }
    (jobs, events)
}

fn changed(present: bool) -> Input {
    Input::AddressChanged {
        address: KernelAddress {
            ifindex: IFINDEX,
            address: VIP,
        },
        present,
    }
}

fn done(agent: &Agent, seq: u64, present: Vec<VirtualIp>) -> Input {
    Input::AddressesDone {
        instance: agent.instances[0].id,
        seq,
        present,
    }
}

#[test]
fn a_master_renews_the_lifetime_every_third_of_it() {
    let t0 = Instant::now();
    let (mut agent, became) = master(t0, "    vip_lifetime: 3s\n");
    let mut refreshes = Vec::new();
    let until = became + Duration::from_secs(10);
    while let Some(due) = agent.poll_timeout().filter(|d| *d <= until) {
        agent.handle(due, Input::Timeout);
        if done_all(&mut agent, due).contains(&AddressJob::Refresh) {
            refreshes.push(due);
        }
    }
    assert_eq!(refreshes.len(), 10, "one a second over 10 s: {refreshes:?}");
    assert_eq!(refreshes[0] - became, Duration::from_secs(1));
    for pair in refreshes.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_secs(1));
    }
}

#[test]
fn forever_means_no_refresh_and_a_backup_renews_nothing() {
    let t0 = Instant::now();
    let (mut agent, became) = master(t0, "    vip_lifetime: forever\n");
    assert_eq!(agent.instances[0].reconcile.next_refresh(), None);
    let until = became + Duration::from_secs(5);
    while let Some(due) = agent.poll_timeout().filter(|d| *d <= until) {
        agent.handle(due, Input::Timeout);
        assert!(!done_all(&mut agent, due).contains(&AddressJob::Refresh));
    }
    // A Master that steps down stops renewing.
    let (mut agent, became) = master(t0, "");
    assert!(agent.instances[0].reconcile.next_refresh().is_some());
    agent.shutdown(became);
    let jobs = done_all(&mut agent, became);
    assert!(jobs.contains(&AddressJob::Remove) || agent.instances[0].handover_deadline().is_some());
    agent.instances[0].finish_handover(&mut agent.out);
    done_all(&mut agent, became);
    assert_eq!(agent.instances[0].reconcile.next_refresh(), None);
}

#[test]
fn a_vip_missing_while_master_is_verified_then_restored_and_counted_once() {
    let t0 = Instant::now();
    let (mut agent, now) = master(t0, "");
    // An echo of our own add changes nothing.
    agent.handle(now, changed(true));
    assert_eq!(pending(&mut agent).0, []);
    agent.handle(now, changed(false));
    let (jobs, _) = pending(&mut agent);
    let [(verify, AddressJob::Verify)] = jobs[..] else {
        panic!("expected one Verify, got {jobs:?}");
    };
    // A second hint while the Verify runs queues nothing more.
    agent.handle(now, changed(false));
    assert_eq!(pending(&mut agent).0, []);
    agent.handle(now, done(&agent, verify, Vec::new()));
    let (jobs, events) = pending(&mut agent);
    assert_eq!(jobs, [(verify + 1, AddressJob::Restore(vec![vip()]))]);
    let [EventRecord::Address(event)] = &events[..] else {
        panic!("expected one address event, got {events:?}");
    };
    assert_eq!(
        (event.action, event.address.as_str(), event.repairs),
        (AddressRepair::Restored, "192.0.2.50/24", 1)
    );
    assert_eq!(agent.instances[0].reconcile.repairs, 1);
    let status = agent.status(now);
    assert_eq!(status.instances[0].counters.address_repairs, 1);
}

#[test]
fn a_verify_that_finds_everything_in_place_repairs_nothing() {
    let t0 = Instant::now();
    let (mut agent, now) = master(t0, "");
    // A late echo of an old removal: the Verify shows the VIP is there.
    agent.handle(now, changed(false));
    let (jobs, _) = pending(&mut agent);
    let verify = jobs[0].0;
    agent.handle(now, done(&agent, verify, vec![vip()]));
    assert_eq!(pending(&mut agent).0, []);
    assert_eq!(agent.instances[0].reconcile.repairs, 0);
}

#[test]
fn hints_wait_for_the_jobs_in_flight_and_a_stale_verify_is_done_again() {
    let t0 = Instant::now();
    let (mut agent, now) = master(t0, "");
    // A job in flight: a missing VIP is expected, the check waits.
    let refresh = agent.instances[0].queue(AddressJob::Refresh, &mut agent.out);
    pending(&mut agent);
    agent.handle(now, changed(false));
    assert_eq!(pending(&mut agent).0, []);
    agent.handle(now, done(&agent, refresh, vec![vip()]));
    let (jobs, _) = pending(&mut agent);
    let [(verify, AddressJob::Verify)] = jobs[..] else {
        panic!("expected the deferred Verify, got {jobs:?}");
    };
    // Another job is queued behind the Verify: its answer may be stale.
    let later = agent.instances[0].queue(AddressJob::Announce, &mut agent.out);
    pending(&mut agent);
    agent.handle(now, done(&agent, verify, Vec::new()));
    assert_eq!(pending(&mut agent).0, [], "no repair on a stale answer");
    agent.handle(now, done(&agent, later, Vec::new()));
    let (jobs, _) = pending(&mut agent);
    assert!(
        matches!(jobs[..], [(_, AddressJob::Verify)]),
        "verified again: {jobs:?}"
    );
    assert_eq!(agent.instances[0].reconcile.repairs, 0);
}

#[test]
fn a_vip_of_ours_on_a_host_that_is_not_master_is_evicted() {
    let t0 = Instant::now();
    let (mut agent, now) = master(t0, "");
    agent.shutdown(now);
    agent.instances[0].finish_handover(&mut agent.out);
    done_all(&mut agent, now);
    // A snapshot is a hint too; another interface's address is not ours.
    let elsewhere = KernelAddress {
        ifindex: IFINDEX + 1,
        address: VIP,
    };
    agent.handle(now, Input::AddressSnapshot(vec![elsewhere]));
    assert_eq!(pending(&mut agent).0, []);
    let here = KernelAddress {
        ifindex: IFINDEX,
        address: VIP,
    };
    agent.handle(now, Input::AddressSnapshot(vec![here, elsewhere]));
    let (jobs, _) = pending(&mut agent);
    let [(verify, AddressJob::Verify)] = jobs[..] else {
        panic!("expected one Verify, got {jobs:?}");
    };
    agent.handle(now, done(&agent, verify, vec![vip()]));
    let (jobs, events) = pending(&mut agent);
    assert_eq!(jobs, [(verify + 1, AddressJob::Evict(vec![vip()]))]);
    assert!(matches!(
        &events[..],
        [EventRecord::Address(e)] if e.action == AddressRepair::Removed
    ));
}

#[test]
fn a_reload_to_a_shorter_lifetime_times_the_renewal_afresh() {
    let t0 = Instant::now();
    let (mut agent, became) = master(t0, "    vip_lifetime: 60s\n");
    assert_eq!(
        agent.instances[0].reconcile.next_refresh(),
        Some(became + Duration::from_secs(20))
    );
    let mut config = (*agent.instances[0].config).clone();
    config.vip_lifetime = crate::config::VipLifetime::Fixed(Duration::from_secs(3));
    let later = became + Duration::from_secs(5);
    assert!(agent.instances[0].reconfigure(config.into(), &mut agent.out));
    let jobs = done_all(&mut agent, later);
    assert!(
        matches!(&jobs[..], [AddressJob::Reconfigure(c)] if c.address_lifetime() == Some(Duration::from_secs(3))),
        "{jobs:?}"
    );
    assert_eq!(
        agent.instances[0].reconcile.next_refresh(),
        Some(later + Duration::from_secs(1))
    );
}

#[test]
fn a_refresh_due_just_before_an_advert_waits_for_it() {
    use super::refresh_wake;
    let t = Instant::now();
    let slack = crate::agent::TIMER_SLACK;
    let soon = t + slack / 2;
    assert_eq!(refresh_wake(Some(t), Some(soon)), Some(soon));
    assert_eq!(refresh_wake(Some(t), Some(t + slack)), Some(t + slack));
    let later = t + slack * 2;
    assert_eq!(refresh_wake(Some(t), Some(later)), Some(t));
    let earlier = t - slack / 2;
    assert_eq!(refresh_wake(Some(t), Some(earlier)), Some(t));
    assert_eq!(refresh_wake(None, Some(t)), None);
    assert_eq!(refresh_wake(Some(t), None), Some(t));
}
