//! Named scenarios on the simulated LAN: loss, partitions, preemption choices.

mod support;

use std::time::Duration;

use support::sim::Lan;
use twinstar::vrrp::{master_down_interval, State, TransitionReason};

const INTERVAL: Duration = Duration::from_millis(100);

fn lan_with(priorities: &[u8], seed: u64) -> Lan {
    let mut lan = Lan::new(seed);
    for (id, &priority) in priorities.iter().enumerate() {
        lan.add_node(Lan::settings(id, priority, INTERVAL));
    }
    for id in 0..priorities.len() {
        lan.start(id);
    }
    lan.run_for(Duration::from_secs(2));
    lan
}

#[test]
fn partition_gives_two_masters_and_healing_restores_one() {
    let mut lan = lan_with(&[200, 100], 1);
    assert_eq!(lan.masters(), vec![0]);
    lan.set_link(0, false);
    lan.run_for(master_down_interval(100, INTERVAL) + INTERVAL);
    // Each side of a partition elects its own Master: that is VRRP's contract.
    assert_eq!(lan.masters(), vec![0, 1]);
    lan.set_link(0, true);
    let healed = lan.now();
    lan.run_for(INTERVAL * 2);
    assert_eq!(lan.masters(), vec![0]);
    let after: Vec<_> = lan.transitions_since(healed);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].reason, TransitionReason::PreemptedByHigherPriority);
}

#[test]
fn moderate_loss_keeps_the_master_and_recovers_after_loss_ends() {
    let mut lan = lan_with(&[200, 150, 100], 42);
    for id in 0..3 {
        lan.set_loss(id, 10);
    }
    lan.run_for(Duration::from_secs(60));
    for id in 0..3 {
        lan.set_loss(id, 0);
    }
    let clean = lan.now();
    lan.run_for(master_down_interval(100, INTERVAL) * 2);
    assert_eq!(lan.masters(), vec![0]);
    lan.run_for(Duration::from_secs(10));
    let settled = clean + master_down_interval(100, INTERVAL) * 2;
    assert!(lan.transitions_since(settled).is_empty());
}

#[test]
fn same_seed_replays_the_same_history() {
    let run = |seed| {
        let mut lan = lan_with(&[200, 150, 100], seed);
        for id in 0..3 {
            lan.set_loss(id, 40);
        }
        lan.run_for(Duration::from_secs(30));
        lan.transitions().to_vec()
    };
    let first = run(9);
    assert!(
        first.len() > 3,
        "heavy loss should cause takeovers: {first:?}"
    );
    assert_eq!(first, run(9));
}

#[test]
fn returning_higher_priority_host_preempts() {
    let mut lan = lan_with(&[200, 100], 3);
    lan.crash(0);
    lan.run_for(Duration::from_secs(1));
    assert_eq!(lan.masters(), vec![1]);
    lan.start(0);
    let back = lan.now();
    lan.run_for(master_down_interval(200, INTERVAL) + Duration::from_millis(1));
    assert_eq!(lan.masters(), vec![0]);
    let took_over = lan
        .transitions_since(back)
        .into_iter()
        .find(|t| t.node == 0 && t.to == State::Master)
        .expect("node 0 took over");
    assert_eq!(took_over.reason, TransitionReason::PreemptedLowerPriority);
}

#[test]
fn preempt_false_keeps_the_current_master() {
    let mut lan = Lan::new(5);
    let mut high = Lan::settings(0, 200, INTERVAL);
    high.preempt = false;
    lan.add_node(high);
    lan.add_node(Lan::settings(1, 100, INTERVAL));
    lan.start(1);
    lan.run_for(Duration::from_secs(1));
    lan.start(0);
    lan.run_for(Duration::from_secs(10));
    assert_eq!(lan.masters(), vec![1]);
    assert_eq!(lan.state(0), State::Backup);
}

#[test]
fn preempt_delay_waits_before_taking_over() {
    let mut lan = Lan::new(6);
    let mut high = Lan::settings(0, 200, INTERVAL);
    high.preempt_delay = Duration::from_secs(3);
    lan.add_node(high);
    lan.add_node(Lan::settings(1, 100, INTERVAL));
    lan.start(1);
    lan.run_for(Duration::from_secs(1));
    lan.start(0);
    lan.run_for(Duration::from_millis(2900));
    assert_eq!(lan.masters(), vec![1], "still inside the preempt delay");
    lan.run_for(Duration::from_millis(300));
    assert_eq!(lan.masters(), vec![0]);
}

#[test]
fn graceful_stop_hands_over_within_skew_time_and_rejoin_takes_back() {
    let mut lan = lan_with(&[200, 100], 8);
    lan.stop(0);
    let stopped = lan.now();
    lan.run_for(Duration::from_millis(100));
    let takeover = lan
        .transitions_since(stopped)
        .into_iter()
        .find(|t| t.to == State::Master)
        .expect("backup took over");
    assert!(takeover.at - stopped <= twinstar::vrrp::skew_time(100, INTERVAL));
    assert_eq!(takeover.reason, TransitionReason::MasterResigned);
    lan.start(0);
    lan.run_for(Duration::from_secs(1));
    assert_eq!(lan.masters(), vec![0]);
}
