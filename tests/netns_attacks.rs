//! A third host on the segment attacks a Master / Backup pair with valid,
//! forged VRRPv3 adverts:
//! - one advert claiming priority 255 and the longest interval, with `peers`
//!   set: nothing changes, and it is counted as `unknown_peer`;
//! - a flood of lower-priority adverts for our VRID: the Master answers at
//!   most once per advert interval, so it is no amplifier;
//! - a flood of adverts for a VRID nobody runs: every one is counted, the
//!   election is undisturbed, and the status file is rewritten no more than
//!   once a second.

mod support;

use std::time::{Duration, Instant};

use support::agents::{agent, can_run_lab, config, holds_for, lab, wait_until, MARGIN, STARTUP};
use support::attacker::{advert, cpu_time, send, FrameCounter, RewriteCounter};
use support::rfc::master_down_interval;
use twinstar::lab::Agent;

const VIP: &str = "192.0.2.50";
const INTERVAL: Duration = Duration::from_millis(100);
/// The longest interval an advert can carry: 4095 centiseconds.
const LONGEST: Duration = Duration::from_millis(40_950);
/// The status file is refreshed once a second when only counters move.
const STATUS_REFRESH: Duration = Duration::from_secs(1);

/// Starts the Master (priority 150, host 0) and the Backup (100, host 1),
/// each with `extra` config lines, and waits until they have settled.
fn pair(lab: &twinstar::lab::Lab, tag: &str, extra: &str) -> (Agent, Agent) {
    let master = agent(
        lab,
        tag,
        0,
        &config(51, 150, "100ms", "192.0.2.50/24", extra),
    );
    let backup = agent(
        lab,
        tag,
        1,
        &config(51, 100, "100ms", "192.0.2.50/24", extra),
    );
    let mdi = master_down_interval(150, INTERVAL);
    master
        .wait_for_state("web", "master", mdi + STARTUP + MARGIN)
        .unwrap();
    backup.wait_for_state("web", "backup", MARGIN).unwrap();
    // Let the first announcement train (5 × 100 ms) end.
    std::thread::sleep(Duration::from_millis(600));
    (master, backup)
}

fn state(agent: &Agent) -> Option<String> {
    agent.status().and_then(|s| s.state("web"))
}

fn counter(agent: &Agent, name: &str) -> u64 {
    agent.status().expect("status").counter("web", name)
}

fn dropped(agent: &Agent, reason: &str) -> u64 {
    agent.status().map_or(0, |s| s.dropped("eth0", reason))
}

/// Both agents keep their roles and the Master its VIP.
fn undisturbed(lab: &twinstar::lab::Lab, master: &Agent, backup: &Agent) -> bool {
    state(master).as_deref() == Some("master")
        && state(backup).as_deref() == Some("backup")
        && lab.hosts[0].has_address(VIP).unwrap_or(false)
        && !lab.hosts[1].has_address(VIP).unwrap_or(true)
}

#[test]
fn with_peers_a_forged_owner_advert_from_a_third_host_changes_nothing() {
    if !can_run_lab("with_peers_a_forged_owner_advert_from_a_third_host_changes_nothing") {
        return;
    }
    let lab = lab("atp", 3);
    let peers = format!(
        "    peers: [{}, {}]\n",
        lab.hosts[0].ipv4, lab.hosts[1].ipv4
    );
    let (master, backup) = pair(&lab, "atp", &peers);
    let transitions = [
        counter(&master, "master_transitions"),
        counter(&backup, "master_transitions"),
    ];

    let attacker = &lab.hosts[2];
    let forged = advert(attacker.ipv4, 51, 255, LONGEST, VIP);
    let sent = send(attacker.ns.name(), attacker.ipv4, forged, 1, Duration::ZERO)
        .join()
        .unwrap();
    assert_eq!(sent, 1);

    // Without `peers`, the Master would resign at once and the Backup follow
    // the forged Master, learning 40.95 s: give either a Master_Down_Interval
    // of the Backup (the slowest to act) and the lab's margin to show it.
    let watch = master_down_interval(100, INTERVAL) + MARGIN;
    holds_for(
        "the Master and the Backup keep their roles and the VIP",
        watch,
        || undisturbed(&lab, &master, &backup),
        || format!("{}\n{}", master.log(), backup.log()),
    );
    // Counters reach the status file at its next refresh.
    for (name, agent) in [("master", &master), ("backup", &backup)] {
        wait_until(STATUS_REFRESH + MARGIN, || {
            dropped(agent, "unknown_peer") >= 1
        });
        let status = agent.status().expect("status");
        assert_eq!(
            status.dropped("eth0", "unknown_peer"),
            1,
            "{name}: {}",
            status.0["dropped"]
        );
        let learned = &status.0["instances"][0]["master_adver_interval_ms"];
        assert_eq!(learned, 100, "{name} learned the forged interval");
    }
    assert_eq!(
        [
            counter(&master, "master_transitions"),
            counter(&backup, "master_transitions"),
        ],
        transitions,
        "a forged advert caused a transition\n{}\n{}",
        master.log(),
        backup.log()
    );
    assert!(
        master.log().contains("not in peers"),
        "the drop was not logged\n{}",
        master.log()
    );
}

#[test]
fn a_flood_of_lower_priority_adverts_is_answered_once_per_interval() {
    if !can_run_lab("a_flood_of_lower_priority_adverts_is_answered_once_per_interval") {
        return;
    }
    let lab = lab("atl", 3);
    let (master, backup) = pair(&lab, "atl", "");
    let frames = FrameCounter::start(lab.bridge(), "p1", VIP);
    let attacker = &lab.hosts[2];
    // Priority 50: below both routers, so the Master must answer it (RFC 9568
    // §6.4.3) and the Backup ignores it.
    let lower = advert(attacker.ipv4, 51, 50, INTERVAL, VIP);
    let rate = 5_000;
    let flood = Duration::from_secs(3);

    let cpu_before = master.pid().and_then(cpu_time);
    let before = frames.frames();
    let start = Instant::now();
    let sender = send(attacker.ns.name(), attacker.ipv4, lower, rate, flood);
    holds_for(
        "the flood leaves the Master and the Backup in their roles",
        flood,
        || undisturbed(&lab, &master, &backup),
        || format!("{}\n{}", master.log(), backup.log()),
    );
    let sent = sender.join().unwrap();
    // An answer may still be queued when the flood ends; let it leave.
    std::thread::sleep(INTERVAL);
    let after = frames.frames();
    let window = start.elapsed();
    if let (Some(a), Some(b)) = (cpu_before, master.pid().and_then(cpu_time)) {
        let share = (b - a).as_secs_f64() / window.as_secs_f64() * 100.0;
        println!("Master CPU during the flood: {share:.0}% of a core");
    }

    // The bound, from RFC 9568 §6.4.3 and the one-answer-per-interval rule:
    // in `window` the Adver_Timer fires at most once per interval (plus one
    // at the edge), and at most one answer goes out per interval (plus one at
    // the edge), each answer with one announcement train of garp.count
    // (default 5) frames per VIP (one VIP here).
    let intervals = window.as_nanos().div_ceil(INTERVAL.as_nanos()) as u64;
    let adverts_allowed = 2 * (intervals + 1);
    let garp_count = 5;
    let arps_allowed = (intervals + 1) * garp_count;
    let adverts = after.0 - before.0;
    let arps = after.1 - before.1;
    println!(
        "{sent} forged adverts in {window:?}: the Master sent {adverts} adverts \
         (bound {adverts_allowed}) and {arps} ARP frames (bound {arps_allowed}), \
         {:.3} frames out per advert in",
        (adverts + arps) as f64 / sent as f64
    );
    assert!(sent >= u64::from(rate), "only {sent} adverts sent");
    assert!(
        adverts <= adverts_allowed,
        "{adverts} adverts out for {sent} in over {window:?} (bound {adverts_allowed})"
    );
    assert!(
        arps <= arps_allowed,
        "{arps} ARP frames out for {sent} in over {window:?} (bound {arps_allowed})"
    );
    // And it kept advertising: the Backup never lost it.
    assert!(
        adverts >= intervals / 2,
        "the Master sent only {adverts} adverts in {window:?}"
    );
    // Every forged advert it did not answer is counted (the segment is
    // lossless): at most one answer per interval, plus one at the edge.
    let unanswered = sent - (intervals + 1);
    wait_until(STATUS_REFRESH + MARGIN, || {
        counter(&master, "answers_withheld") >= unanswered
    });
    let withheld = counter(&master, "answers_withheld");
    assert!(
        (unanswered..=sent).contains(&withheld),
        "{withheld} answers withheld for {sent} forged adverts"
    );
}

#[test]
fn a_flood_of_unknown_vrids_is_counted_and_rewrites_the_status_once_a_second() {
    if !can_run_lab("a_flood_of_unknown_vrids_is_counted_and_rewrites_the_status_once_a_second") {
        return;
    }
    let lab = lab("atu", 3);
    let (master, backup) = pair(&lab, "atu", "");
    let heard_before = counter(&backup, "adverts_received");
    let transitions = [
        counter(&master, "master_transitions"),
        counter(&backup, "master_transitions"),
    ];
    let rewrites = RewriteCounter::start(&backup.runtime_dir(), "status.json");
    let attacker = &lab.hosts[2];
    let unknown = advert(attacker.ipv4, 99, 200, INTERVAL, "192.0.2.99");
    let rate = 3_000;
    let flood = Duration::from_secs(3);

    let cpu_before = backup.pid().and_then(cpu_time);
    rewrites.take();
    let start = Instant::now();
    let sender = send(attacker.ns.name(), attacker.ipv4, unknown, rate, flood);
    holds_for(
        "the flood leaves the Master and the Backup in their roles",
        flood,
        || undisturbed(&lab, &master, &backup),
        || format!("{}\n{}", master.log(), backup.log()),
    );
    let sent = sender.join().unwrap();
    let window = start.elapsed();
    let rewritten = rewrites.take();
    if let (Some(a), Some(b)) = (cpu_before, backup.pid().and_then(cpu_time)) {
        let share = (b - a).as_secs_f64() / window.as_secs_f64() * 100.0;
        println!("Backup CPU during the flood: {share:.0}% of a core");
    }
    // One refresh a second, one more at the edge; nothing else changed.
    let refreshes = window.as_nanos().div_ceil(STATUS_REFRESH.as_nanos()) as u64;
    let allowed = refreshes + 1;
    println!(
        "{sent} adverts for VRID 99 in {window:?}: status.json rewritten {rewritten} times \
         (bound {allowed})"
    );
    assert!(sent >= u64::from(rate), "only {sent} adverts sent");
    assert!(
        rewritten <= allowed,
        "status.json rewritten {rewritten} times in {window:?} (bound {allowed})"
    );

    // Every one counted, by both agents (a lossless segment; 4 MiB socket
    // buffers), once the status has been refreshed.
    for (name, agent) in [("master", &master), ("backup", &backup)] {
        wait_until(STATUS_REFRESH + MARGIN, || {
            dropped(agent, "unknown_vrid") >= sent
        });
        assert_eq!(
            dropped(agent, "unknown_vrid"),
            sent,
            "{name}: {}",
            agent.status().expect("status").0["dropped"]
        );
    }
    // The Backup kept hearing the Master: about one advert per interval.
    let heard = counter(&backup, "adverts_received") - heard_before;
    let expected = (window.as_nanos() / INTERVAL.as_nanos()) as u64;
    assert!(
        heard >= expected / 2,
        "the Backup heard {heard} adverts in {window:?} (about {expected} sent)\n{}",
        backup.log()
    );
    assert_eq!(
        [
            counter(&master, "master_transitions"),
            counter(&backup, "master_transitions"),
        ],
        transitions,
        "the flood caused a transition\n{}\n{}",
        master.log(),
        backup.log()
    );
}
