//! Election by priority on real sockets: only the Master holds the VIP.

mod support;

use std::time::{Duration, Instant};

use support::agents::{agent, can_run_lab, config, lab, state_between, MARGIN, STARTUP};
use support::rfc::master_down_interval;

const INTERVAL: Duration = Duration::from_millis(100);

#[test]
fn two_nodes_elect_the_higher_priority() {
    if !can_run_lab("two_nodes_elect_the_higher_priority") {
        return;
    }
    let lab = lab("el2", 2);
    let started = Instant::now();
    let a = agent(
        &lab,
        "el2",
        0,
        &config(51, 150, "100ms", "192.0.2.50/24", ""),
    );
    let b = agent(
        &lab,
        "el2",
        1,
        &config(51, 100, "100ms", "192.0.2.50/24", ""),
    );
    // Both start Backup; A's Master_Down_Interval runs out first.
    let mdi = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", started, mdi, mdi + STARTUP);
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.hosts[0].has_address("192.0.2.50").unwrap());
    assert!(!lab.hosts[1].has_address("192.0.2.50").unwrap());
    let heard = support::agents::wait_until(MARGIN, || {
        b.status()
            .is_some_and(|s| s.counter("web", "adverts_received") > 0)
    });
    assert!(heard, "backup never counted an advert: {:?}", b.status());
}

#[test]
fn three_nodes_elect_the_highest_priority() {
    if !can_run_lab("three_nodes_elect_the_highest_priority") {
        return;
    }
    let lab = lab("el3", 3);
    let started = Instant::now();
    let agents: Vec<_> = [100u8, 200, 150]
        .iter()
        .enumerate()
        .map(|(i, &p)| agent(&lab, "el3", i, &config(52, p, "100ms", "192.0.2.52/24", "")))
        .collect();
    let mdi = master_down_interval(200, INTERVAL);
    state_between(&agents[1], "web", "master", started, mdi, mdi + STARTUP);
    agents[0].wait_for_state("web", "backup", MARGIN).unwrap();
    agents[2].wait_for_state("web", "backup", MARGIN).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let holders: Vec<bool> = lab
        .hosts
        .iter()
        .map(|h| h.has_address("192.0.2.52").unwrap())
        .collect();
    assert_eq!(holders, vec![false, true, false]);
}
