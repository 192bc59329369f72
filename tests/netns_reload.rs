//! SIGHUP on a running Master: an unchanged file changes nothing the network can
//! see, and an invalid file is rejected while the agent keeps serving.

mod support;

use std::time::Duration;

use support::agents::{agent, can_run_lab, config, lab, wait_until, SETTLE};
use twinstar::lab::{AgentStatus, Pinger};

const VIP: &str = "192.0.2.50";

fn since_transition(status: &AgentStatus) -> u64 {
    status.0["instances"][0]["since_transition_ms"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn reload_with_unchanged_config_causes_no_transition_and_no_outage() {
    if !can_run_lab("reload_unchanged") {
        return;
    }
    let lab = lab("ru", 2);
    let a = agent(
        &lab,
        "ru",
        0,
        &config(81, 150, "100ms", "192.0.2.50/24", ""),
    );
    let b = agent(
        &lab,
        "ru",
        1,
        &config(81, 100, "100ms", "192.0.2.50/24", ""),
    );
    a.wait_for_state("web", "master", SETTLE).unwrap();
    b.wait_for_state("web", "backup", SETTLE).unwrap();
    let ping = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(2)).expect("ping");
    assert!(ping.wait_replies(20, SETTLE), "the VIP never answered");
    ping.reset();
    assert!(ping.wait_replies(20, SETTLE));

    let before = a.status().expect("A status");
    a.reload().unwrap();
    assert!(
        wait_until(SETTLE, || a.log().contains("configuration reloaded")),
        "A never logged the reload\n{}",
        a.log()
    );
    // Let several status refreshes and adverts pass.
    std::thread::sleep(Duration::from_millis(1200));
    let after = a.status().expect("A status");
    assert_eq!(after.state("web").as_deref(), Some("master"), "{}", a.log());
    assert_eq!(
        after.counter("web", "master_transitions"),
        before.counter("web", "master_transitions"),
        "reload caused a transition\n{}",
        a.log()
    );
    assert!(
        since_transition(&after) > since_transition(&before),
        "since_transition_ms went from {} to {}\n{}",
        since_transition(&before),
        since_transition(&after),
        a.log()
    );
    assert_eq!(
        b.status().and_then(|s| s.state("web")).as_deref(),
        Some("backup")
    );
    let gap = ping.largest_gap();
    println!("reload: largest ping gap {gap:?}");
    assert!(
        gap <= Duration::from_millis(100),
        "reload interrupted the VIP for {gap:?}\n{}",
        a.log()
    );
}

#[test]
fn reload_with_invalid_config_is_rejected_and_master_keeps_running() {
    if !can_run_lab("reload_invalid") {
        return;
    }
    let lab = lab("ri", 1);
    let mut a = agent(
        &lab,
        "ri",
        0,
        &config(82, 150, "100ms", "192.0.2.50/24", ""),
    );
    a.wait_for_state("web", "master", SETTLE).unwrap();
    let before = a.status().expect("A status");
    std::fs::write(
        a.config_path(),
        config(82, 150, "100ms", "192.0.2.50/24", "    no_such_key: 1\n"),
    )
    .unwrap();
    a.reload().unwrap();
    assert!(
        wait_until(SETTLE, || a.log().contains("reload rejected")),
        "the log does not mention the rejection\n{}",
        a.log()
    );
    std::thread::sleep(Duration::from_millis(1000));
    let after = a.status().expect("A status");
    assert_eq!(after.state("web").as_deref(), Some("master"), "{}", a.log());
    assert_eq!(
        after.counter("web", "master_transitions"),
        before.counter("web", "master_transitions")
    );
    assert!(lab.hosts[0].has_address(VIP).unwrap());
    let exit = a.terminate().expect("A was still running");
    assert!(exit.success(), "A exited with {exit:?}\n{}", a.log());
}
