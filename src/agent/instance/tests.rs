//! Unit tests of one instance: address job numbering, handover, the
//! before_master gate, health edges, reconfiguration and the advert cache.

use super::*;
use crate::config::parse_str;
use crate::notify::record::HookKind;
use crate::vrrp::AdvertInfo;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use super::super::advert::advert_addresses;
use crate::wire::vrrp::Addresses;

use super::super::hooks::Step;

const US: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const GROUP: IpAddr = IpAddr::V4(crate::wire::VRRP_GROUP_V4);
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const INTERVAL: Duration = Duration::from_millis(100);
/// RFC 9568 §6.1 for priority 128 at 10 cs: 3 × 10 + (256 − 128) × 10 / 256 = 35 cs.
const MDI_128: Duration = Duration::from_millis(350);

fn yaml(priority: u8, extra: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    \
         priority: {priority}\n    advert_interval: 100ms\n    \
         virtual_ips: [192.0.2.50/24]\n{extra}"
    )
}

const HOOKS: &str = "    hooks:\n      on_master: {command: m, timeout: 1s}\n      \
                     on_backup: {command: b, timeout: 1s}\n";
const BEFORE: &str = "    hooks:\n      on_master: {command: m, timeout: 1s}\n      \
                      before_master: {command: bm, timeout: 1s}\n      \
                      before_master_retry: 2s\n";

fn config(text: &str) -> Arc<config::Instance> {
    parse_str(text, "t.yaml").expect("valid").instances[0].clone()
}

fn core(text: &str) -> InstanceCore {
    let facts = InstanceFacts {
        ifindex: 2,
        mac: [2, 0, 0, 0, 0, 1],
        link_local: None,
        source: US,
        carrier: true,
        vmac: None,
    };
    InstanceCore::new(InstanceId(1), config(text), facts).expect("valid settings")
}

/// The address jobs queued in `out`, with their numbers (other effects dropped).
fn jobs(out: &mut Out) -> Vec<(u64, AddressJob)> {
    out.effects
        .drain(..)
        .filter_map(|e| match e {
            Effect::Address { seq, job, .. } => Some((seq, job)),
            _ => None,
        })
        .collect()
}

/// The priorities of the adverts queued in `out` (byte 2 of the message).
fn adverts(out: &Out) -> Vec<u8> {
    out.effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendAdvert { packet, .. } => Some(packet[2]),
            _ => None,
        })
        .collect()
}

fn advert(priority: u8) -> Event {
    Event::AdvertReceived(AdvertInfo {
        priority,
        interval: INTERVAL,
        source: PEER,
    })
}

/// Starts `core` and lets its down timer make it Master; returns when.
fn to_master(core: &mut InstanceCore, t0: Instant, out: &mut Out) -> Instant {
    core.handle(t0, Event::Startup, out);
    let due = core.next_deadline().expect("down timer");
    let moved = core.handle(due, Event::TimerExpired, out);
    assert_eq!(moved.last().map(|t| t.to), Some(State::Master));
    due
}

/// Runs every hook that may start now, each to its end; returns their kinds.
fn run_hooks(core: &mut InstanceCore) -> Vec<HookKind> {
    let mut next = 0;
    let mut ran = Vec::new();
    loop {
        let steps = core.hooks.pump(core.done_seq, &mut next);
        if steps.is_empty() {
            return ran;
        }
        for step in steps {
            match step {
                Step::Run(run) => {
                    ran.push(run.kind);
                    core.hooks.finished(run.id);
                }
                Step::Skipped { kind, .. } | Step::Superseded { kind, .. } => ran.push(kind),
            }
        }
    }
}

#[test]
fn address_jobs_are_numbered_in_order_and_settle_when_the_last_is_done() {
    let mut core = core(&yaml(128, ""));
    let mut out = Out::default();
    assert!(core.addresses_settled() && core.is_quiet());
    assert_eq!(core.queue(AddressJob::Add, &mut out), 1);
    assert_eq!(core.queue(AddressJob::Announce, &mut out), 2);
    assert_eq!(core.queue(AddressJob::Remove, &mut out), 3);
    let seqs: Vec<u64> = jobs(&mut out).into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    core.done_seq = 2;
    assert!(!core.addresses_settled());
    assert!(!core.is_quiet());
    core.done_seq = 3;
    assert!(core.addresses_settled() && core.is_quiet());
    core.done_seq = 4;
    assert!(core.addresses_settled());
}

#[test]
fn becoming_master_adds_then_announces_and_on_master_waits_for_the_add() {
    let mut core = core(&yaml(128, HOOKS));
    let mut out = Out::default();
    to_master(&mut core, Instant::now(), &mut out);
    assert_eq!(
        jobs(&mut out),
        vec![(1, AddressJob::Add), (2, AddressJob::Announce)]
    );
    assert_eq!(
        run_hooks(&mut core),
        vec![HookKind::OnBackup],
        "on_master waits for job 1"
    );
    core.done_seq = 1;
    assert_eq!(run_hooks(&mut core), vec![HookKind::OnMaster]);
}

#[test]
fn a_handover_keeps_the_vips_until_the_new_master_speaks() {
    let mut core = core(&yaml(128, HOOKS));
    let mut out = Out::default();
    let t = to_master(&mut core, Instant::now(), &mut out);
    jobs(&mut out);
    core.done_seq = 2;
    let t1 = t + Duration::from_millis(30);
    let moved = core.handle(t1, Event::Switchover, &mut out);
    assert_eq!(moved.len(), 1);
    assert_eq!(
        adverts(&out),
        vec![0],
        "priority 0 announces the resignation"
    );
    assert!(jobs(&mut out).is_empty(), "the VIPs stay for now");
    assert_eq!(core.handover_deadline(), Some(t1 + MDI_128));
    assert!(!core.is_quiet());
    // Another router resigning does not end our wait.
    core.handle(t1 + Duration::from_millis(1), advert(0), &mut out);
    assert_eq!(core.handover_deadline(), Some(t1 + MDI_128));
    // The new Master speaks: one of its intervals later, ours may go.
    let t2 = t1 + Duration::from_millis(10);
    core.handle(t2, advert(100), &mut out);
    assert_eq!(core.handover_deadline(), Some(t2 + INTERVAL));
    assert_eq!(core.next_deadline(), Some(t2 + INTERVAL));
    // A later advert does not push it back.
    core.handle(t2 + Duration::from_millis(50), advert(100), &mut out);
    assert_eq!(core.handover_deadline(), Some(t2 + INTERVAL));
    // on_backup waits for the removal, which is queued only now.
    assert_eq!(
        run_hooks(&mut core),
        vec![HookKind::OnBackup, HookKind::OnMaster]
    );
    core.finish_handover(&mut out);
    assert_eq!(jobs(&mut out), vec![(3, AddressJob::Remove)]);
    assert_eq!(core.handover_deadline(), None);
    core.finish_handover(&mut out);
    assert!(jobs(&mut out).is_empty(), "removed once");
    assert!(run_hooks(&mut core).is_empty());
    core.done_seq = 3;
    assert_eq!(run_hooks(&mut core), vec![HookKind::OnBackup]);
}

#[test]
fn a_fault_during_a_handover_removes_the_vips_at_once() {
    let mut core = core(&yaml(128, ""));
    let mut out = Out::default();
    let t = to_master(&mut core, Instant::now(), &mut out);
    assert!(core.seldom().is_none(), "a plain Master has no rare state");
    core.handle(t, Event::Switchover, &mut out);
    jobs(&mut out);
    assert!(core.handover_deadline().is_some());
    let fault = Assessment {
        priority: 128,
        priority_reasons: Vec::new(),
        fault_reasons: vec!["down".into()],
    };
    let moved = core.apply_health(t, fault, &mut out);
    assert_eq!(moved.last().map(|m| m.to), Some(State::Fault));
    assert_eq!(jobs(&mut out), vec![(3, AddressJob::Remove)]);
    assert_eq!(core.handover_deadline(), None);
    assert!(
        core.seldom().is_none(),
        "handover and successor watch gone: the rare state's box is freed"
    );
}

#[test]
fn master_again_during_a_handover_keeps_the_vips_without_a_new_removal() {
    let mut core = core(&yaml(128, ""));
    let mut out = Out::default();
    let t = to_master(&mut core, Instant::now(), &mut out);
    core.handle(t, Event::Switchover, &mut out);
    jobs(&mut out);
    let due = core.next_deadline().expect("timers");
    let moved = core.handle(due, Event::TimerExpired, &mut out);
    assert_eq!(moved.last().map(|m| m.to), Some(State::Master));
    assert_eq!(core.handover_deadline(), None);
    assert_eq!(
        jobs(&mut out),
        vec![(3, AddressJob::Add), (4, AddressJob::Announce)]
    );
}

#[test]
fn a_preempted_master_removes_its_vips_at_once() {
    let mut core = core(&yaml(128, ""));
    let mut out = Out::default();
    let t = to_master(&mut core, Instant::now(), &mut out);
    jobs(&mut out);
    let moved = core.handle(t, advert(200), &mut out);
    assert_eq!(moved.last().map(|m| m.to), Some(State::Backup));
    assert_eq!(jobs(&mut out), vec![(3, AddressJob::Remove)]);
    assert_eq!(core.handover_deadline(), None);
}

#[test]
fn a_lower_master_heard_makes_the_master_announce_again() {
    let mut core = core(&yaml(128, ""));
    let mut out = Out::default();
    let t = to_master(&mut core, Instant::now(), &mut out);
    jobs(&mut out);
    assert!(core.handle(t, advert(100), &mut out).is_empty());
    assert_eq!(jobs(&mut out), vec![(3, AddressJob::Announce)]);
}

#[test]
fn before_master_gates_the_vips_of_its_own_term_only() {
    let mut core = core(&yaml(128, BEFORE));
    let mut out = Out::default();
    let t = to_master(&mut core, Instant::now(), &mut out);
    assert!(jobs(&mut out).is_empty(), "the VIPs wait for before_master");
    assert_eq!(run_hooks(&mut core), vec![HookKind::BeforeMaster]);
    assert!(!core.before_master_done(t, 0, true, &mut out), "stale term");
    assert!(jobs(&mut out).is_empty());
    assert!(core.before_master_done(t, 1, true, &mut out));
    assert_eq!(
        jobs(&mut out),
        vec![(1, AddressJob::Add), (2, AddressJob::Announce)],
        "the announcement asked for meanwhile follows the add"
    );
    assert!(
        !core.before_master_done(t, 1, true, &mut out),
        "reported once"
    );
    assert!(jobs(&mut out).is_empty());
}

#[test]
fn before_master_failure_holds_a_fault_for_the_retry_time() {
    let mut core = core(&yaml(128, BEFORE));
    let mut out = Out::default();
    let t = to_master(&mut core, Instant::now(), &mut out);
    let t1 = t + Duration::from_millis(5);
    assert!(core.before_master_done(t1, 1, false, &mut out));
    assert!(jobs(&mut out).is_empty());
    let until = t1 + Duration::from_secs(2);
    assert_eq!(core.before_master_failed_until(), Some(until));
    assert!(core.next_deadline().is_some_and(|d| d <= until));
    // Leaving Master before the report: its on_master hooks are skipped.
    let mut core2 = self::core(&yaml(128, BEFORE));
    let t = to_master(&mut core2, Instant::now(), &mut out);
    jobs(&mut out);
    let moved = core2.handle(t, advert(200), &mut out);
    assert_eq!(moved.last().map(|m| m.to), Some(State::Backup));
    assert!(
        !core2.before_master_done(t, 1, true, &mut out),
        "not Master now"
    );
    assert_eq!(jobs(&mut out), vec![(1, AddressJob::Remove)]);
}

#[test]
fn a_switchover_while_before_master_runs_removes_at_once() {
    let mut core = core(&yaml(128, BEFORE));
    let mut out = Out::default();
    let t = to_master(&mut core, Instant::now(), &mut out);
    core.handle(t, Event::Switchover, &mut out);
    assert_eq!(
        jobs(&mut out),
        vec![(1, AddressJob::Remove)],
        "no VIPs were on: no handover"
    );
    assert_eq!(core.handover_deadline(), None);
    let mut next = 0;
    let steps = core.hooks.pump(1, &mut next);
    // The on_master of the abandoned term is dropped (the switchover's
    // transition superseded it); before_master runs in its own lane.
    assert!(
        matches!(
            &steps[..],
            [
                Step::Superseded {
                    kind: HookKind::OnMaster,
                    ..
                },
                Step::Run(r)
            ] if r.kind == HookKind::BeforeMaster
        ),
        "{steps:?}"
    );
    let Step::Run(run) = &steps[1] else {
        unreachable!()
    };
    core.hooks.finished(run.id);
    assert!(core.hooks.pump(1, &mut next).is_empty());
    assert!(core.hooks.is_idle());
}

#[test]
fn health_moves_priority_first_then_fault_edges() {
    let mut core = core(&yaml(128, ""));
    let mut out = Out::default();
    let t = Instant::now();
    core.handle(t, Event::Startup, &mut out);
    let healthy = |priority| Assessment {
        priority,
        priority_reasons: Vec::new(),
        fault_reasons: Vec::new(),
    };
    assert!(core.apply_health(t, healthy(128), &mut out).is_empty());
    assert!(core.apply_health(t, healthy(90), &mut out).is_empty());
    assert_eq!(core.router.priority(), 90);
    let faulty = Assessment {
        fault_reasons: vec!["down".into()],
        ..healthy(90)
    };
    let moved = core.apply_health(t, faulty.clone(), &mut out);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].to, State::Fault);
    assert!(core.apply_health(t, faulty, &mut out).is_empty(), "still");
    let moved = core.apply_health(t, healthy(90), &mut out);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].from, State::Fault);
}

#[test]
fn reconfigure_in_place_only_for_the_same_virtual_router() {
    let mut out = Out::default();
    for (changed, in_place) in [
        (yaml(128, "").replace("eth0", "eth1"), false),
        (yaml(128, "").replace("vrid: 51", "vrid: 52"), false),
        (
            yaml(128, "").replace("192.0.2.50/24", "2001:db8::50/64"),
            false,
        ),
        (yaml(255, ""), false),
        (yaml(100, ""), true),
    ] {
        let mut core = core(&yaml(128, ""));
        assert_eq!(
            core.reconfigure(config(&changed), &mut out),
            in_place,
            "{changed}"
        );
    }
    assert!(jobs(&mut out).is_empty(), "same VIPs: no address job");
    let mut core = core(&yaml(128, ""));
    let more = yaml(128, "").replace("[192.0.2.50/24]", "[192.0.2.50/24, 192.0.2.51/24]");
    assert!(core.reconfigure(config(&more), &mut out));
    assert!(
        matches!(&jobs(&mut out)[..], [(1, AddressJob::Reconfigure(c))] if c.virtual_ips.len() == 2)
    );
    let garp = format!("{more}    garp:\n      count: 2\n");
    assert!(core.reconfigure(config(&garp), &mut out));
    assert!(matches!(&jobs(&mut out)[..], [(2, AddressJob::Reconfigure(c))] if c.garp.count == 2));
}

#[test]
fn adverts_carry_the_current_priority_and_interval() {
    let cfg = config(&yaml(128, ""));
    let mut template = AdvertTemplate::new(&cfg);
    let first = template
        .packet(51, 128, INTERVAL, US, GROUP)
        .expect("builds");
    let again = template
        .packet(51, 128, INTERVAL, US, GROUP)
        .expect("builds");
    assert_eq!(first, again);
    let lower = template
        .packet(51, 90, INTERVAL, US, GROUP)
        .expect("builds");
    assert_eq!(lower[2], 90);
    let slower = template
        .packet(51, 90, Duration::from_millis(200), US, GROUP)
        .expect("builds");
    assert_ne!(lower, slower);
    let v6 = config(&yaml(128, "").replace("192.0.2.50/24", "2001:db8::50/64"));
    assert!(matches!(advert_addresses(&v6), Addresses::V6(a) if a.len() == 1));
    assert!(matches!(advert_addresses(&cfg), Addresses::V4(a) if a.len() == 1));
}

#[test]
fn send_errors_are_counted() {
    let mut core = core(&yaml(128, ""));
    core.send_failed("no route");
    core.send_failed("no route");
    core.send_failed("no route");
    assert_eq!(core.send_errors(), 3);
}
