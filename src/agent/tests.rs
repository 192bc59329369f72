//! Whole-agent unit tests: one agent driven by hand, its effects read back.

use super::*;
use crate::config::parse_str;
use crate::notify::record::EventRecord;
use crate::track::monitor::CheckUpdate;
use crate::vrrp::State;
use crate::wire::vrrp::{Addresses, Advertisement, ChecksumForm};
use crate::wire::VRRP_GROUP_V4;
use std::net::Ipv4Addr;

const US: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const INTERVAL: Duration = Duration::from_millis(100);
const KEY: SocketKey = SocketKey {
    ifindex: 2,
    ipv6: false,
};

/// One instance on eth0 with VIP 192.0.2.(50 + vrid), 100 ms adverts.
fn instance(name: &str, vrid: u8, priority: u8, extra: &str) -> String {
    format!(
        "  - name: {name}\n    interface: eth0\n    vrid: {vrid}\n    priority: {priority}\n    \
         advert_interval: 100ms\n    virtual_ips: [192.0.2.{}/24]\n{extra}",
        50 + vrid
    )
}

const CHECK: &str = "checks:\n  - name: svc\n    script: 'true'\n";
const TRACK: &str = "    track:\n      - check: svc\n        weight: -60\n";

fn setup(text: &str) -> Setup {
    let config = parse_str(text, "t.yaml").expect("valid config");
    let facts = config
        .instances
        .iter()
        .map(|i| {
            let facts = InstanceFacts {
                ifindex: 2,
                mac: [2, 0, 0, 0, 0, 1],
                link_local: None,
                source: US,
                carrier: true,
                vmac: None,
            };
            (i.name.clone(), Ok(facts))
        })
        .collect();
    Setup {
        config,
        facts,
        links: [("eth0".to_owned(), true)].into_iter().collect(),
    }
}

fn instances(list: &[String]) -> String {
    format!("{CHECK}instances:\n{}", list.concat())
}

/// Every effect the agent has queued (shared by the agent's test modules).
pub(super) fn drain(agent: &mut Agent) -> Vec<Effect> {
    std::iter::from_fn(|| agent.poll_effect()).collect()
}

/// Reports every address job in `effects` done, as the worker would.
fn finish_jobs(agent: &mut Agent, now: Instant, effects: &[Effect]) {
    for e in effects {
        if let Effect::Address { instance, seq, .. } = e {
            agent.handle(
                now,
                Input::AddressesDone {
                    instance: *instance,
                    seq: *seq,
                    present: Vec::new(),
                },
            );
        }
    }
}

fn advert_from_peer(vrid: u8, priority: u8) -> Input {
    let vip = Ipv4Addr::new(192, 0, 2, 50 + vrid);
    let advert = Advertisement::new(vrid, priority, INTERVAL, Addresses::V4(vec![vip]));
    datagram_from_peer(advert.expect("valid advert"))
}

/// `advert` as PEER sends it to the IPv4 group, with TTL 255.
fn datagram_from_peer(advert: Advertisement) -> Input {
    let bytes = advert
        .to_bytes(PEER, IpAddr::V4(VRRP_GROUP_V4), ChecksumForm::PseudoHeader)
        .expect("emits");
    Input::Datagram(Datagram {
        socket: KEY,
        source: PEER,
        destination: IpAddr::V4(VRRP_GROUP_V4),
        hop_limit: Some(255),
        payload: Ok(bytes.into()),
    })
}

/// Wakes the agent at every deadline up to `until`; returns its effects.
pub(super) fn run_until(agent: &mut Agent, until: Instant) -> Vec<Effect> {
    let mut effects = Vec::new();
    while let Some(due) = agent.poll_timeout().filter(|d| *d <= until) {
        agent.handle(due, Input::Timeout);
        effects.extend(drain(agent));
    }
    effects
}

fn state(agent: &Agent, name: &str) -> State {
    let status = agent.status(Instant::now());
    status
        .instances
        .iter()
        .find(|i| i.name == name)
        .map(|i| i.state)
        .expect("instance")
}

/// An agent running `text` with the check up, its Masters settled.
fn running(text: &str, t0: Instant) -> Agent {
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(t0, setup(text));
    agent.handle(
        t0,
        Input::Check(CheckUpdate {
            check: "svc".into(),
            up: true,
            value: 0,
            detail: "ok".into(),
            last_output: None,
        }),
    );
    drain(&mut agent);
    agent
}

#[test]
fn summary_line_names_few_instances_and_counts_many() {
    let t0 = Instant::now();
    let agent = running("instances: []\n", t0);
    assert_eq!(
        agent.summary_line(),
        "no instances configured; holding no virtual IP"
    );
    let four: Vec<String> = (1..=4)
        .map(|v| instance(&format!("i{v}"), v, 100, ""))
        .collect();
    let mut agent = running(&instances(&four), t0);
    agent.set_maintenance(t0, true, Some("i2"), HandoverOptions::default());
    assert_eq!(
        agent.summary_line(),
        "i1 backup, i2 backup (maintenance), i3 backup, i4 backup"
    );
    let mut five = four.clone();
    five.push(instance("owner", 5, 255, ""));
    let agent = running(&instances(&five), t0);
    assert_eq!(
        agent.summary_line(),
        "5 instances: 1 master, 4 backup, 0 fault"
    );
}

#[test]
fn maintenance_names_one_instance_or_all_and_is_saved() {
    let t0 = Instant::now();
    let mut empty = running("instances: []\n", t0);
    assert!(empty
        .set_maintenance(t0, true, None, HandoverOptions::default())
        .accepted());
    let two = [instance("a", 1, 100, ""), instance("b", 2, 100, "")];
    let mut agent = running(&instances(&two), t0);
    assert!(!agent
        .set_maintenance(t0, true, Some("c"), HandoverOptions::default())
        .accepted());
    assert!(agent
        .set_maintenance(t0, true, Some("b"), HandoverOptions::default())
        .accepted());
    let saved = |effects: Vec<Effect>| {
        effects.into_iter().find_map(|e| match e {
            Effect::SaveMaintenance(names) => Some(names),
            _ => None,
        })
    };
    assert_eq!(saved(drain(&mut agent)), Some(vec!["b".to_owned()]));
    assert!(agent
        .set_maintenance(t0, true, None, HandoverOptions::default())
        .accepted());
    assert_eq!(
        saved(drain(&mut agent)),
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
    assert!(agent
        .set_maintenance(t0, false, Some("a"), HandoverOptions::default())
        .accepted());
    assert_eq!(saved(drain(&mut agent)), Some(vec!["b".to_owned()]));
}

#[test]
fn priority_changes_are_published_and_a_new_master_is_noted_once() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 150, TRACK)]), t0);
    agent.handle(
        t0,
        Input::Check(CheckUpdate {
            check: "svc".into(),
            up: false,
            value: 0,
            detail: "failed".into(),
            last_output: None,
        }),
    );
    let priorities: Vec<(u8, u8)> = drain(&mut agent)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Event(EventRecord::Priority(p)) => Some((p.priority, p.base_priority)),
            _ => None,
        })
        .collect();
    assert_eq!(priorities, vec![(90, 150)]);
    let changed = |effects: Vec<Effect>| {
        effects
            .iter()
            .filter(|e| matches!(e, Effect::MasterChanged { .. }))
            .count()
    };
    agent.handle(t0, advert_from_peer(1, 200));
    assert_eq!(changed(drain(&mut agent)), 1);
    agent.handle(t0 + INTERVAL, advert_from_peer(1, 200));
    assert_eq!(changed(drain(&mut agent)), 0, "the same Master");
}

#[test]
fn adverts_slightly_late_keep_their_cadence() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 255, "")]), t0);
    assert_eq!(state(&agent, "web"), State::Master);
    let due = agent.poll_timeout().expect("adver timer");
    agent.handle(due + Duration::from_millis(1), Input::Timeout);
    assert_eq!(
        agent.poll_timeout(),
        Some(due + INTERVAL),
        "stamped at the deadline"
    );
    let due = due + INTERVAL;
    let late = due + Duration::from_millis(3);
    agent.handle(late, Input::Timeout);
    assert_eq!(
        agent.poll_timeout(),
        Some(late + INTERVAL),
        "too late: from now"
    );
}

#[test]
fn a_stopped_agent_finishes_once_the_handover_and_removal_are_done() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 255, "")]), t0);
    let effects = drain(&mut agent);
    finish_jobs(&mut agent, t0, &effects);
    assert!(!agent.is_finished(), "running");
    agent.shutdown(t0);
    assert!(!agent.is_finished(), "the VIPs stay for a handover");
    let effects = run_until(&mut agent, t0 + Duration::from_secs(2));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Address {
            job: AddressJob::Remove,
            ..
        }
    )));
    assert!(!agent.is_finished(), "the removal is not done yet");
    finish_jobs(&mut agent, t0 + Duration::from_secs(2), &effects);
    assert!(agent.is_finished());
}

#[test]
fn a_removed_instance_retires_and_stops_once_its_removal_is_done() {
    let t0 = Instant::now();
    let both = [instance("a", 1, 255, ""), instance("b", 2, 100, "")];
    let mut agent = running(&instances(&both), t0);
    let effects = drain(&mut agent);
    finish_jobs(&mut agent, t0, &effects);
    drain(&mut agent);
    let summary = agent.configure(t0, setup(&instances(&both[1..])));
    assert_eq!(summary.stopped, 1);
    let effects = drain(&mut agent);
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::StopInstance(_))),
        "its removal is pending"
    );
    finish_jobs(&mut agent, t0, &effects);
    let effects = drain(&mut agent);
    assert_eq!(
        effects
            .iter()
            .filter(|e| matches!(e, Effect::StopInstance(_)))
            .count(),
        1
    );
    assert_eq!(agent.config().instances.len(), 1);
}

#[test]
fn reload_counts_what_it_kept_changed_started_stopped_and_failed() {
    let t0 = Instant::now();
    let first = [
        instance("same", 1, 100, ""),
        instance("changed", 2, 100, ""),
        instance("gone", 3, 100, ""),
    ];
    let mut agent = Agent::new(BTreeSet::new());
    let summary = agent.configure(t0, setup(&instances(&first)));
    assert_eq!(
        summary,
        ReloadSummary {
            started: 3,
            ..ReloadSummary::default()
        }
    );
    assert_eq!(
        summary.to_string(),
        "0 unchanged, 0 reconfigured, 3 started, 0 stopped"
    );
    let second = [
        instance("same", 1, 100, ""),
        instance("changed", 2, 120, ""),
        instance("new", 4, 100, ""),
        instance("broken", 5, 100, ""),
    ];
    let mut next = setup(&instances(&second));
    next.facts
        .insert("broken".into(), Err("no such interface".into()));
    let summary = agent.configure(t0, next);
    assert_eq!(
        summary.to_string(),
        "1 unchanged, 1 reconfigured, 1 started, 1 stopped; \
         failed to start: broken: no such interface"
    );
    let names: Vec<&str> = agent
        .config()
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, vec!["same", "changed", "new", "broken"]);
    assert_eq!(agent.status(t0).instances.len(), 3);
}

#[test]
fn datagrams_reach_their_instance_by_socket_and_vrid_and_drops_are_counted() {
    let t0 = Instant::now();
    let two = [instance("a", 1, 100, ""), instance("b", 2, 100, "")];
    let mut agent = running(&instances(&two), t0);
    agent.handle(t0, advert_from_peer(2, 200));
    agent.handle(t0, advert_from_peer(9, 200));
    let mut own = advert_from_peer(1, 200);
    if let Input::Datagram(d) = &mut own {
        d.source = US;
    }
    agent.handle(t0, own);
    let status = agent.status(t0);
    let master = |name: &str| {
        status
            .instances
            .iter()
            .find(|i| i.name == name)
            .and_then(|i| i.master.as_ref().map(|m| m.address))
    };
    assert_eq!(master("a"), None);
    assert_eq!(master("b"), Some(PEER));
    assert_eq!(status.dropped["eth0"]["unknown_vrid"], 1);
    assert_eq!(status.dropped["eth0"]["own_advert"], 1);
    assert_eq!(DropReason::BadTtl.to_string(), "bad_ttl");
}

#[test]
fn a_masters_advert_moves_the_next_wake_up_later() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 128, "")]), t0);
    // RFC 9568 §6.1, priority 128 at 10 cs: 3 × 10 + 128 × 10 / 256 = 35 cs.
    let mdi = Duration::from_millis(350);
    assert_eq!(agent.poll_timeout(), Some(t0 + mdi));
    let t1 = t0 + Duration::from_millis(50);
    agent.handle(t1, advert_from_peer(1, 200));
    assert_eq!(
        agent.poll_timeout(),
        Some(t1 + mdi),
        "the down timer restarted: no wake-up at the old deadline"
    );
}

#[test]
fn losing_carrier_faults_the_instances_on_that_link_until_it_returns() {
    let t0 = Instant::now();
    let text = instances(&[instance("web", 1, 100, "")]).replace(
        "instances:\n",
        "  - name: uplink\n    interface: eth0\ninstances:\n",
    );
    let mut agent = running(&text, t0);
    assert_eq!(state(&agent, "web"), State::Backup);
    let link = |carrier| Input::Link {
        ifindex: 2,
        name: "eth0".into(),
        carrier,
    };
    agent.handle(t0, link(false));
    assert_eq!(state(&agent, "web"), State::Fault);
    let status = agent.status(t0);
    assert_eq!(
        status.instances[0].fault_reasons,
        vec!["interface eth0 is down"]
    );
    let checks: Vec<(String, bool)> = drain(&mut agent)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Event(EventRecord::Check(c)) => Some((c.check, c.up)),
            _ => None,
        })
        .collect();
    assert_eq!(checks, vec![("uplink".to_owned(), false)]);
    agent.handle(t0, link(true));
    assert_eq!(state(&agent, "web"), State::Backup);
}

#[test]
fn a_sync_group_removed_by_a_reload_finishes_its_hook_and_then_goes() {
    let t0 = Instant::now();
    let two = instances(&[instance("a", 1, 100, ""), instance("b", 2, 100, "")]);
    let grouped = format!(
        "{two}sync_groups:\n  - name: g\n    instances: [a, b]\n    hooks:\n      \
         on_change: {{command: c, timeout: 1s}}\n"
    );
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(t0, setup(&grouped));
    let effects = drain(&mut agent);
    let run = effects
        .iter()
        .find_map(|e| match e {
            Effect::RunHook(run) if run.args.group => Some(run.id),
            _ => None,
        })
        .expect("the group's on_change runs");
    finish_jobs(&mut agent, t0, &effects);
    agent.configure(t0, setup(&two));
    drain(&mut agent);
    agent.handle(
        t0,
        Input::HookFinished {
            run,
            outcome: ScriptOutcome {
                result: crate::track::process::ScriptResult::Exited(0),
                last_line: None,
                duration: Duration::from_millis(3),
            },
        },
    );
    let reported = drain(&mut agent)
        .into_iter()
        .any(|e| matches!(e, Effect::Event(EventRecord::Hook(h)) if h.group && h.name == "g"));
    assert!(reported, "the retired group's hook is still reported");
    agent.shutdown(t0);
    let effects = drain(&mut agent);
    finish_jobs(&mut agent, t0, &effects);
    drain(&mut agent);
    assert!(agent.is_finished(), "nothing of the old group is left");
}

#[test]
fn a_retired_instance_leaves_no_timer_behind() {
    // An instance whose before_master failed holds a Fault until its retry;
    // once a reload removes it, nothing of it is timed any more, so the agent
    // must not ask to be woken for that hold (it would wake forever: only
    // running instances' holds are ever cleared).
    let t0 = Instant::now();
    let hooks = "    hooks:\n      before_master: bm\n";
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(t0, setup(&instances(&[instance("a", 1, 255, hooks)])));
    let effects = drain(&mut agent);
    let run = effects.iter().find_map(|e| match e {
        Effect::RunHook(run) => Some(run.id),
        _ => None,
    });
    let run = run.expect("before_master runs: the owner is Master at once");
    let failed = ScriptOutcome {
        result: crate::track::process::ScriptResult::Exited(1),
        last_line: None,
        duration: Duration::from_millis(5),
    };
    agent.handle(
        t0,
        Input::HookFinished {
            run,
            outcome: failed,
        },
    );
    drain(&mut agent);
    assert!(
        agent.poll_timeout().is_some(),
        "the hold is timed while it runs"
    );
    agent.configure(t0, setup("instances: []\n"));
    drain(&mut agent);
    assert_eq!(
        agent.poll_timeout(),
        None,
        "the removed instance's hold is gone"
    );
}

mod accept_mode;
mod handover;
mod hostile;
mod memory;
mod status;
mod unicast;
mod versions;
