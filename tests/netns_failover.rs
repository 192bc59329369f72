//! Failover on real sockets: host loss, graceful stop, preemption and a crashed
//! Master's restart, measured by a client that pings the VIP every 2 ms.

mod support;

use std::time::Duration;

use support::agents::{agent, can_run_lab, config, lab, wait_until, SETTLE};
use twinstar::lab::{Agent, Lab, Pinger};
use twinstar::vrrp::{master_down_interval, skew_time};

const VIP: &str = "192.0.2.50";
const INTERVAL: Duration = Duration::from_millis(100);

/// A (150) Master and B (100) Backup for VRID `vrid`, with `extra_a` added to A's config.
fn elect(lab: &Lab, tag: &str, vrid: u8, extra_a: &str) -> (Agent, Agent) {
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
    a.wait_for_state("web", "master", SETTLE).unwrap();
    b.wait_for_state("web", "backup", SETTLE).unwrap();
    assert!(
        wait_until(SETTLE, || lab.holders(VIP).unwrap() == vec![true, false]),
        "only A should hold the VIP after election\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
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

/// Prints the client's largest reply gap and asserts it is within `bound`.
fn assert_outage_within(what: &str, ping: &Pinger, bound: Duration, agents: &[&Agent]) {
    let gap = ping.largest_gap();
    println!("{what}: outage {gap:?} (bound {bound:?})");
    let logs: Vec<String> = agents.iter().map(|a| a.log()).collect();
    assert!(
        gap <= bound,
        "{what}: outage {gap:?} exceeds {bound:?}\n{}",
        logs.join("\n")
    );
}

/// A client pinging the VIP every 2 ms, already answered.
fn pinger(lab: &Lab) -> Pinger {
    let ping = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(2)).expect("ping");
    assert!(
        ping.wait_replies(20, SETTLE),
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
    assert!(ping.wait_replies(20, SETTLE));
    lab.set_cable(0, false).unwrap();
    b.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(
        ping.wait_replies(50, SETTLE),
        "the VIP did not answer after failover\nB:\n{}",
        b.log()
    );
    let b_mac = lab.hosts[1].mac().unwrap();
    assert!(
        wait_until(SETTLE, || lab.client.neighbour_mac(VIP).unwrap() == b_mac),
        "client neighbour entry {} is not B's MAC {b_mac}",
        lab.client.neighbour_mac(VIP).unwrap()
    );
    let bound = master_down_interval(100, INTERVAL) + Duration::from_millis(100);
    assert_outage_within("host loss", &ping, bound, &[&a, &b]);
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
    assert!(ping.wait_replies(20, SETTLE));
    let exit = a.terminate().expect("A was running");
    assert!(exit.success(), "A exited with {exit:?}\n{}", a.log());
    b.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(
        ping.wait_replies(50, SETTLE),
        "the VIP did not answer after handover\nB:\n{}",
        b.log()
    );
    assert!(
        !lab.hosts[0].has_address(VIP).unwrap(),
        "A kept the VIP after a graceful stop\n{}",
        a.log()
    );
    let bound = skew_time(100, INTERVAL) + Duration::from_millis(100);
    assert_outage_within("graceful stop", &ping, bound, &[&a, &b]);
}

#[test]
fn reconnected_higher_priority_master_preempts_and_backup_gives_up_the_vip() {
    if !can_run_lab("preemption") {
        return;
    }
    let lab = lab("pe", 2);
    let (a, b) = elect(&lab, "pe", 63, "");
    lab.set_cable(0, false).unwrap();
    b.wait_for_state("web", "master", SETTLE).unwrap();
    lab.set_cable(0, true).unwrap();
    b.wait_for_state("web", "backup", SETTLE).unwrap();
    a.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(
        wait_until(SETTLE, || lab.holders(VIP).unwrap() == vec![true, false]),
        "holders after preemption: {:?}\nA:\n{}\nB:\n{}",
        lab.holders(VIP).unwrap(),
        a.log(),
        b.log()
    );
}

#[test]
fn restarted_higher_priority_agent_without_preempt_stays_backup() {
    if !can_run_lab("no_preempt") {
        return;
    }
    let lab = lab("np", 2);
    let (mut a, b) = elect(&lab, "np", 64, "    preempt: false\n");
    assert!(a.terminate().expect("A was running").success());
    b.wait_for_state("web", "master", SETTLE).unwrap();
    a.restart().unwrap();
    a.wait_for_state("web", "backup", SETTLE).unwrap();
    // Many Master_Down_Intervals: A hears B and must not take over.
    std::thread::sleep(Duration::from_millis(1500));
    let status = a.status().expect("A status");
    assert_eq!(
        status.state("web").as_deref(),
        Some("backup"),
        "A preempted although preempt is false\n{}",
        a.log()
    );
    assert_eq!(
        b.status().and_then(|s| s.state("web")).as_deref(),
        Some("master")
    );
    assert_eq!(lab.holders(VIP).unwrap(), vec![false, true]);
}

/// Kills A (Master) with SIGKILL, checks the crash leaves its VIP and B takes over,
/// then restarts A with `restart_config` and returns both agents.
fn crash_master(lab: &Lab, tag: &str, vrid: u8, restart_priority: u8) -> (Agent, Agent) {
    let (mut a, b) = elect(lab, tag, vrid, "");
    a.kill();
    assert!(
        lab.hosts[0].has_address(VIP).unwrap(),
        "a killed agent cannot remove its VIP"
    );
    b.wait_for_state("web", "master", SETTLE).unwrap();
    std::fs::write(
        a.config_path(),
        config(vrid, restart_priority, "100ms", "192.0.2.50/24", ""),
    )
    .unwrap();
    a.restart().unwrap();
    (a, b)
}

/// Over one second, the VIP is on exactly `expected` hosts at every sample.
fn assert_single_holder(lab: &Lab, expected: &[bool], a: &Agent, b: &Agent) {
    assert!(
        wait_until(SETTLE, || lab.holders(VIP).unwrap() == expected),
        "holders {:?}, expected {expected:?}\nA:\n{}\nB:\n{}",
        lab.holders(VIP).unwrap(),
        a.log(),
        b.log()
    );
    for _ in 0..20 {
        let now = lab.holders(VIP).unwrap();
        assert_eq!(now, expected, "\nA:\n{}\nB:\n{}", a.log(), b.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn crashed_master_restarted_with_lower_priority_removes_its_stale_vip() {
    if !can_run_lab("crash_lower") {
        return;
    }
    let lab = lab("kl", 2);
    let (a, b) = crash_master(&lab, "kl", 65, 50);
    a.wait_for_state("web", "backup", SETTLE).unwrap();
    b.wait_for_state("web", "master", SETTLE).unwrap();
    assert_single_holder(&lab, &[false, true], &a, &b);
}

#[test]
fn crashed_master_restarted_with_same_config_takes_over_alone() {
    if !can_run_lab("crash_same") {
        return;
    }
    let lab = lab("ks", 2);
    let (a, b) = crash_master(&lab, "ks", 66, 150);
    a.wait_for_state("web", "master", SETTLE).unwrap();
    b.wait_for_state("web", "backup", SETTLE).unwrap();
    assert_single_holder(&lab, &[true, false], &a, &b);
}
