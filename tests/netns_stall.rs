//! A Backup that the scheduler leaves without CPU for longer than its
//! Master_Down_Interval, while its Master keeps advertising, must not take
//! over when it runs again: the adverts that came meanwhile wait in its
//! socket, and they are older than the deadline that fires beside them.
//! On a loaded host this is what a false failover looks like.

mod support;

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::agents::{
    agent, can_run_lab, config, lab, state_between, wait_until, MARGIN, STARTUP,
};
use support::rfc::master_down_interval;
use twinstar::lab::Agent;

const INTERVAL: Duration = Duration::from_millis(10);
const ROUNDS: usize = 20;

#[test]
fn a_backup_stalled_past_its_master_down_interval_does_not_take_over() {
    if !can_run_lab("a_backup_stalled_past_its_master_down_interval_does_not_take_over") {
        return;
    }
    let lab = lab("stall", 2);
    // The usual start order: the Master first, so it never hears its Backup.
    let started = Instant::now();
    let a = agent(
        &lab,
        "stall",
        0,
        &config(71, 150, "10ms", "192.0.2.71/24", ""),
    );
    let mdi_a = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", started, mdi_a, mdi_a + STARTUP);
    let b = agent(
        &lab,
        "stall",
        1,
        &config(71, 100, "10ms", "192.0.2.71/24", ""),
    );
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    let heard = |agent: &Agent| {
        agent
            .status()
            .map_or(0, |s| s.counter("web", "adverts_received"))
    };
    assert!(
        wait_until(MARGIN, || heard(&b) > 10),
        "the Backup never heard its Master\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    let pid = Pid::from_raw(b.pid().expect("the Backup runs") as i32);
    // Stalled four times its Master_Down_Interval (RFC 9568 §6.1: three
    // intervals plus Skew_Time), so its timer has long expired on waking.
    let stall = master_down_interval(100, INTERVAL) * 4;
    for round in 0..ROUNDS {
        kill(pid, Signal::SIGSTOP).unwrap();
        std::thread::sleep(stall);
        kill(pid, Signal::SIGCONT).unwrap();
        std::thread::sleep(INTERVAL * 10);
        let taken = transitions(&b);
        assert_eq!(
            taken,
            0,
            "the Backup took over after stall {round} while its Master advertised\nA:\n{}\nB:\n{}",
            a.log(),
            b.log()
        );
    }
    // The status file is rewritten off the loop: one more look once it
    // has surely caught up.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(transitions(&b), 0, "B:\n{}", b.log());
    let state = |agent: &Agent| agent.status().and_then(|s| s.state("web"));
    assert_eq!(state(&a).as_deref(), Some("master"));
    assert_eq!(state(&b).as_deref(), Some("backup"));
}

/// How many times `agent` has become Master.
fn transitions(agent: &Agent) -> u64 {
    agent
        .status()
        .map_or(0, |s| s.counter("web", "master_transitions"))
}
