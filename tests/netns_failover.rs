//! Failover on real sockets: host loss, graceful stop, preemption and a crashed
//! Master's restart, measured by a client that pings the VIP every 2 ms.

mod support;

use std::time::{Duration, Instant};

use support::agents::{
    agent, can_run_lab, config, holds_for, lab, state_between, wait_until, EARLY, MARGIN, STARTUP,
};
use support::rfc::{master_down_interval, skew_time};
use twinstar::lab::{Agent, Lab, Pinger};

const VIP: &str = "192.0.2.50";
const INTERVAL: Duration = Duration::from_millis(100);

/// Extra room for the client's view of an outage: ARP/ping round trips at 2 ms.
const OUTAGE_SLACK: Duration = Duration::from_millis(100);

/// Logs of both agents, for failure messages.
fn logs(a: &Agent, b: &Agent) -> String {
    format!("A:\n{}\nB:\n{}", a.log(), b.log())
}

/// A (150) Master and B (100) Backup for VRID `vrid`, with `extra_a` added to A's config.
/// A starts Backup and takes over after its Master_Down_Interval (B, lower, never
/// preempts it).
fn elect(lab: &Lab, tag: &str, vrid: u8, extra_a: &str) -> (Agent, Agent) {
    let started = Instant::now();
    let a = agent(
        lab,
        tag,
        0,
        &config(vrid, 150, "100ms", "192.0.2.50/24", extra_a),
    );
    let b = agent(
        lab,
        tag,
        1,
        &config(vrid, 100, "100ms", "192.0.2.50/24", ""),
    );
    let mdi = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", started, mdi, mdi + STARTUP);
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    assert!(
        wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![true, false]),
        "only A should hold the VIP after election\n{}",
        logs(&a, &b)
    );
    (a, b)
}

/// What the client sees, for failure messages.
fn diagnose(lab: &Lab) -> String {
    let neigh = lab
        .client
        .ns
        .ip(&["neigh"])
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string());
    let host = lab
        .client
        .ns
        .exec("ping", &["-c", "1", "-W", "1", "192.0.2.11"])
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string());
    let vip = lab
        .client
        .ns
        .exec("ping", &["-c", "1", "-W", "1", VIP])
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string());
    let addr = lab.hosts[0]
        .ns
        .ip(&["addr"])
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string());
    format!("neigh {neigh:?}\nhost {host:?}\nvip {vip:?}\nA addr {addr:?}")
}

/// Asserts the client's largest reply gap is within `low - EARLY ..= high +
/// OUTAGE_SLACK`: an outage shorter than the protocol allows means the Backup
/// took over too early, one longer means it was late.
fn assert_outage_within(
    what: &str,
    ping: &Pinger,
    low: Duration,
    high: Duration,
    agents: &[&Agent],
) {
    let gap = ping.largest_gap();
    let high = high + OUTAGE_SLACK;
    let low = low.saturating_sub(EARLY);
    println!("{what}: outage {gap:?} (bounds {low:?}..={high:?})");
    let logs: Vec<String> = agents.iter().map(|a| a.log()).collect();
    assert!(
        (low..=high).contains(&gap),
        "{what}: outage {gap:?} outside {low:?}..={high:?}\n{}",
        logs.join("\n")
    );
}

/// A client pinging the VIP every 2 ms, already answered.
fn pinger(lab: &Lab) -> Pinger {
    let ping = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(2)).expect("ping");
    assert!(
        ping.wait_replies(20, MARGIN),
        "the VIP never answered the client: {}",
        diagnose(lab)
    );
    ping
}

#[test]
fn backup_takes_over_within_master_down_interval_when_master_host_is_cut_off() {
    if !can_run_lab("host_loss") {
        return;
    }
    let lab = lab("hl", 2);
    let (a, b) = elect(&lab, "hl", 61, "");
    let ping = pinger(&lab);
    ping.reset();
    assert!(ping.wait_replies(20, MARGIN));
    // B last heard A at most one interval before the cut: it takes over between
    // Master_Down_Interval - Advertisement_Interval and Master_Down_Interval after it.
    let mdi = master_down_interval(100, INTERVAL);
    let cut = Instant::now();
    lab.set_cable(0, false).unwrap();
    state_between(&b, "web", "master", cut, mdi - INTERVAL, mdi);
    assert!(
        ping.wait_replies(50, MARGIN),
        "the VIP did not answer after failover\nB:\n{}",
        b.log()
    );
    let b_mac = lab.hosts[1].mac().unwrap();
    assert!(
        wait_until(MARGIN, || lab.client.neighbour_mac(VIP).unwrap() == b_mac),
        "client neighbour entry {} is not B's MAC {b_mac}",
        lab.client.neighbour_mac(VIP).unwrap()
    );
    assert_outage_within("host loss", &ping, mdi - INTERVAL, mdi, &[&a, &b]);
}

#[test]
fn graceful_stop_hands_over_within_skew_time_and_removes_the_vip() {
    if !can_run_lab("graceful_stop") {
        return;
    }
    let lab = lab("gs", 2);
    let (mut a, b) = elect(&lab, "gs", 62, "");
    let ping = pinger(&lab);
    ping.reset();
    assert!(ping.wait_replies(20, MARGIN));
    // A resigns with priority 0: B takes over Skew_Time after hearing it.
    let skew = skew_time(100, INTERVAL);
    let stopped = Instant::now();
    let exit = a.terminate().expect("A was running");
    assert!(exit.success(), "A exited with {exit:?}\n{}", a.log());
    state_between(&b, "web", "master", stopped, skew, skew);
    assert_eq!(
        b.status().unwrap().counter("web", "priority_zero_received"),
        1,
        "B should have heard A resign once\n{}",
        b.log()
    );
    assert!(
        ping.wait_replies(50, MARGIN),
        "the VIP did not answer after handover\nB:\n{}",
        b.log()
    );
    assert!(
        !lab.hosts[0].has_address(VIP).unwrap(),
        "A kept the VIP after a graceful stop\n{}",
        a.log()
    );
    // A keeps the VIP until B's first advert (a handover), so the client may see
    // much less than Skew_Time; B's own takeover time is checked above.
    assert_outage_within("graceful stop", &ping, Duration::ZERO, skew, &[&a, &b]);
}

#[test]
fn reconnected_higher_priority_master_preempts_and_backup_gives_up_the_vip() {
    if !can_run_lab("preemption") {
        return;
    }
    let lab = lab("pe", 2);
    let (a, b) = elect(&lab, "pe", 63, "");
    let cut = Instant::now();
    lab.set_cable(0, false).unwrap();
    let mdi_b = master_down_interval(100, INTERVAL);
    state_between(&b, "web", "master", cut, mdi_b - INTERVAL, mdi_b);
    // Without carrier A is in Fault; when it comes back A rejoins as Backup,
    // ignores the lower-priority B and preempts when its own
    // Master_Down_Interval runs out.
    a.wait_for_state("web", "fault", MARGIN).unwrap();
    let mdi_a = master_down_interval(150, INTERVAL);
    let reconnected = Instant::now();
    lab.set_cable(0, true).unwrap();
    state_between(&a, "web", "master", reconnected, mdi_a, mdi_a);
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    assert!(
        wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![true, false]),
        "holders after preemption: {:?}\n{}",
        lab.holders(VIP).unwrap(),
        logs(&a, &b)
    );
}

#[test]
fn restarted_higher_priority_agent_without_preempt_stays_backup() {
    if !can_run_lab("no_preempt") {
        return;
    }
    let lab = lab("np", 2);
    let (mut a, b) = elect(&lab, "np", 64, "    preempt: false\n");
    let skew = skew_time(100, INTERVAL);
    let stopped = Instant::now();
    assert!(a.terminate().expect("A was running").success());
    state_between(&b, "web", "master", stopped, skew, skew);
    a.restart().unwrap();
    a.wait_for_state("web", "backup", STARTUP).unwrap();
    // Four of A's Master_Down_Intervals: A hears B and must not take over.
    let span = master_down_interval(150, INTERVAL) * 4;
    holds_for(
        "A preempted although preempt is false, or B lost Master",
        span,
        || {
            a.status().and_then(|s| s.state("web")).as_deref() == Some("backup")
                && b.status().and_then(|s| s.state("web")).as_deref() == Some("master")
                && lab.holders(VIP).unwrap() == vec![false, true]
        },
        || logs(&a, &b),
    );
}

/// Kills A (Master) with SIGKILL, checks the crash leaves its VIP and B takes over,
/// then restarts A with `restart_priority` and returns both agents and when A
/// was restarted. A's VIP has no kernel lifetime (`vip_lifetime: forever`), so
/// it stays until the restarted agent removes it as stale.
fn crash_master(lab: &Lab, tag: &str, vrid: u8, restart_priority: u8) -> (Agent, Agent, Instant) {
    let (mut a, b) = elect(lab, tag, vrid, "    vip_lifetime: forever\n");
    let killed = Instant::now();
    a.kill();
    assert!(
        lab.hosts[0].has_address(VIP).unwrap(),
        "a killed agent cannot remove its VIP"
    );
    let mdi = master_down_interval(100, INTERVAL);
    state_between(&b, "web", "master", killed, mdi - INTERVAL, mdi);
    std::fs::write(
        a.config_path(),
        config(vrid, restart_priority, "100ms", "192.0.2.50/24", ""),
    )
    .unwrap();
    let restarted = Instant::now();
    a.restart().unwrap();
    (a, b, restarted)
}

/// Over one second, the VIP is on exactly `expected` hosts at every sample.
fn assert_single_holder(lab: &Lab, expected: &[bool], a: &Agent, b: &Agent) {
    assert!(
        wait_until(MARGIN, || lab.holders(VIP).unwrap() == expected),
        "holders {:?}, expected {expected:?}\n{}",
        lab.holders(VIP).unwrap(),
        logs(a, b)
    );
    holds_for(
        &format!("holders should stay {expected:?}"),
        Duration::from_secs(1),
        || lab.holders(VIP).unwrap() == expected,
        || logs(a, b),
    );
}

#[test]
fn crashed_master_restarted_with_lower_priority_removes_its_stale_vip() {
    if !can_run_lab("crash_lower") {
        return;
    }
    let lab = lab("kl", 2);
    let (a, b, _) = crash_master(&lab, "kl", 65, 50);
    a.wait_for_state("web", "backup", STARTUP).unwrap();
    assert_eq!(
        b.status().and_then(|s| s.state("web")).as_deref(),
        Some("master")
    );
    assert_single_holder(&lab, &[false, true], &a, &b);
}

#[test]
fn crashed_master_restarted_with_same_config_takes_over_alone() {
    if !can_run_lab("crash_same") {
        return;
    }
    let lab = lab("ks", 2);
    let (a, b, restarted) = crash_master(&lab, "ks", 66, 150);
    // A restarts as Backup, ignores the lower B and preempts after its own
    // Master_Down_Interval; B follows it at once.
    let mdi = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", restarted, mdi, mdi + STARTUP);
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    assert_single_holder(&lab, &[true, false], &a, &b);
}
