//! Named scenarios on the simulated LAN: loss, partitions, preemption choices.

mod support;

use std::time::Duration;

use support::rfc::{master_down_interval, skew_time};
use support::sim::Lan;
use twinstar::vrrp::{State, TransitionReason};

const INTERVAL: Duration = Duration::from_millis(100);

/// The crate's timers may differ from the RFC oracle by rounding only
/// (tests/rfc_timers.rs); simulated time has no other slack.
const ROUNDING: Duration = Duration::from_micros(1);

/// Asserts `took` is `expected`, give or take [`ROUNDING`].
fn assert_at(what: &str, took: Duration, expected: Duration) {
    assert!(
        took.abs_diff(expected) <= ROUNDING,
        "{what}: after {took:?}, the RFC says {expected:?}"
    );
}

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
    let last_heard = lan.last_advert_sent(0).expect("node 0 advertises");
    lan.set_link(0, false);
    lan.run_for(master_down_interval(100, INTERVAL) + INTERVAL);
    // Each side of a partition elects its own Master: that is VRRP's contract.
    assert_eq!(lan.masters(), vec![0, 1]);
    let takeover = lan
        .transitions_since(last_heard)
        .into_iter()
        .find(|t| t.node == 1 && t.to == State::Master)
        .expect("node 1 took over");
    assert_at(
        "partitioned Backup",
        takeover.at - last_heard,
        master_down_interval(100, INTERVAL),
    );
    lan.set_link(0, true);
    let healed = lan.now();
    lan.run_for(INTERVAL * 2);
    assert_eq!(lan.masters(), vec![0]);
    let after: Vec<_> = lan.transitions_since(healed);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].reason, TransitionReason::PreemptedByHigherPriority);
}

/// Adverts a Backup must miss in a row before its down timer runs out: the
/// first one not to arrive after Master_Down_Interval.
fn misses_to_take_over(priority: u8) -> u32 {
    (master_down_interval(priority, INTERVAL).as_nanos() / INTERVAL.as_nanos()) as u32
}

#[test]
fn moderate_loss_keeps_the_master_and_recovers_after_loss_ends() {
    const LOSS: u8 = 10;
    const LOSSY: Duration = Duration::from_secs(60);
    let priorities = [200u8, 150, 100];
    let mut lan = lan_with(&priorities, 42);
    for id in 0..3 {
        lan.set_loss(id, LOSS);
    }
    let lossy_from = lan.now();
    // Sampled every interval while packets are lost: node 0, the best, never
    // leaves Master (nothing it can hear outranks it) and always holds the VIP;
    // a Backup that missed enough adverts may take over, but hears node 0 again
    // and gives up within ten intervals (ten losses in a row: 0.19^10).
    let mut since_master = [None::<Duration>; 3];
    while lan.now() < lossy_from + LOSSY {
        lan.run_for(INTERVAL);
        assert_eq!(lan.state(0), State::Master, "at {:?}", lan.now());
        assert!(lan.holds_vip(0), "at {:?}", lan.now());
        for (id, since) in since_master.iter_mut().enumerate().skip(1) {
            if lan.state(id) == State::Master {
                let from = *since.get_or_insert(lan.now());
                assert!(
                    lan.now() - from <= INTERVAL * 10,
                    "node {id} Master beside node 0 since {from:?}, now {:?}",
                    lan.now()
                );
            } else {
                *since = None;
            }
        }
    }
    // No more flapping than the loss allows: a Backup takes over only after
    // missing `misses_to_take_over` adverts in a row, each lost with
    // probability 1 - 0.9 * 0.9 (sender's or receiver's side). Allow three
    // times the expectation, plus a few.
    let adverts = (LOSSY.as_nanos() / INTERVAL.as_nanos()) as f64;
    let link_loss = 1.0 - (1.0 - f64::from(LOSS) / 100.0).powi(2);
    let expected: f64 = priorities[1..]
        .iter()
        .map(|&p| adverts * link_loss.powi(misses_to_take_over(p) as i32))
        .sum();
    let takeovers: Vec<_> = lan
        .transitions_since(lossy_from)
        .into_iter()
        .filter(|t| t.to == State::Master)
        .collect();
    println!(
        "{} takeovers in {LOSSY:?} of {LOSS}% loss (expected {expected:.1})",
        takeovers.len()
    );
    assert!(
        (takeovers.len() as f64) <= 3.0 * expected + 3.0,
        "{} takeovers, expected about {expected:.1}: {takeovers:?}",
        takeovers.len()
    );
    for t in &takeovers {
        assert_ne!(t.node, 0, "node 0 never left Master: {t:?}");
        assert_eq!(t.reason, TransitionReason::MasterDownTimerExpired, "{t:?}");
    }

    for id in 0..3 {
        lan.set_loss(id, 0);
    }
    let clean = lan.now();
    let settled = clean + master_down_interval(100, INTERVAL) * 2;
    lan.run_until(settled);
    assert_eq!(lan.masters(), vec![0]);
    lan.run_for(Duration::from_secs(10));
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
    // It ignores the lower Master's adverts and preempts when its own down
    // timer, started at boot, runs out: not earlier, not later.
    assert_at(
        "preempting node 0",
        took_over.at - back,
        master_down_interval(200, INTERVAL),
    );
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
    assert_at(
        "Backup after priority 0",
        takeover.at - stopped,
        skew_time(100, INTERVAL),
    );
    assert_eq!(takeover.reason, TransitionReason::MasterResigned);
    lan.start(0);
    lan.run_for(Duration::from_secs(1));
    assert_eq!(lan.masters(), vec![0]);
}
