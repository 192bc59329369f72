//! Property tests of the protocol core on the simulated LAN: whatever the
//! priorities, intervals, start order, crashes and restarts, the election settles
//! on the right Master within the bounds RFC 9568 promises, and then stays put.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use support::sim::{Lan, NodeId};
use twinstar::vrrp::{master_down_interval, skew_time, State};

/// Something that happens to a host during a run.
#[derive(Debug, Clone, Copy)]
enum Disruption {
    Crash,
    Restart,
    Stop,
}

/// One random run: the hosts and what happens to them.
#[derive(Debug, Clone)]
struct Scenario {
    priorities: Vec<u8>,
    interval: Duration,
    delays: Vec<Duration>,
    start_offsets: Vec<Duration>,
    disruptions: Vec<(Duration, NodeId, Disruption)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (2usize..=5, 1u64..=100, any::<bool>()).prop_flat_map(|(n, centis, owner)| {
        let interval = Duration::from_millis(centis * 10);
        // Half the priorities come from a small set, so ties (broken by address) are common.
        let priority = prop_oneof![1u8..=254, Just(100u8), Just(150u8)];
        let priorities = prop::collection::vec(priority, n).prop_map(move |mut p| {
            if owner {
                p[0] = 255;
            }
            p
        });
        let delays = prop::collection::vec(0u64..=300, n)
            .prop_map(|v| v.into_iter().map(Duration::from_micros).collect::<Vec<_>>());
        let start_offsets = prop::collection::vec(0u32..=5000, n).prop_map(move |v| {
            v.into_iter()
                .map(|permille| interval * permille / 1000)
                .collect::<Vec<_>>()
        });
        let kind = prop_oneof![
            Just(Disruption::Crash),
            Just(Disruption::Restart),
            Just(Disruption::Stop)
        ];
        let disruptions =
            prop::collection::vec((0u32..=10_000, 0..n, kind), 0..=4).prop_map(move |v| {
                let mut v: Vec<_> = v
                    .into_iter()
                    .map(|(permille, node, kind)| (interval * permille / 1000, node, kind))
                    .collect();
                v.sort_by_key(|(at, _, _)| *at);
                v
            });
        (priorities, delays, start_offsets, disruptions).prop_map(
            move |(priorities, delays, start_offsets, disruptions)| Scenario {
                priorities,
                interval,
                delays,
                start_offsets,
                disruptions,
            },
        )
    })
}

fn build(s: &Scenario) -> Lan {
    let mut lan = Lan::new(1);
    for (id, &priority) in s.priorities.iter().enumerate() {
        lan.add_node(Lan::settings(id, priority, s.interval));
        lan.set_delay(id, s.delays[id]);
    }
    lan
}

/// The highest priority among `candidates`: the Master must have it.
///
/// Which of several equal-priority nodes wins depends on timing: RFC 9568 §6.4.2
/// has a Backup accept a Master of equal priority whatever its address, so the
/// address breaks ties only between routers that are Master at the same moment
/// (see `simultaneous_start_ties_go_to_the_greater_address`).
fn top_priority(s: &Scenario, candidates: impl Iterator<Item = NodeId>) -> Option<u8> {
    candidates.map(|id| s.priorities[id]).max()
}

/// Asserts exactly one Master, with the top priority among `candidates`.
fn assert_one_master_with_top_priority(
    lan: &Lan,
    s: &Scenario,
    candidates: impl Iterator<Item = NodeId>,
) -> Result<(), TestCaseError> {
    let masters = lan.masters();
    match top_priority(s, candidates) {
        Some(top) => {
            prop_assert_eq!(masters.len(), 1, "masters: {:?}", masters);
            prop_assert_eq!(s.priorities[masters[0]], top);
        }
        None => prop_assert!(masters.is_empty()),
    }
    Ok(())
}

fn running(lan: &Lan, n: usize) -> Vec<NodeId> {
    (0..n).filter(|&id| lan.router(id).is_some()).collect()
}

/// Time for the slowest Backup to notice anything, plus the round trips to settle.
fn settle_time(s: &Scenario) -> Duration {
    let lowest = *s.priorities.iter().min().expect("nodes");
    master_down_interval(lowest, s.interval) + 4 * max_delay(s)
}

/// The largest one-way delay of any node.
fn max_delay(s: &Scenario) -> Duration {
    s.delays.iter().copied().max().unwrap_or_default()
}

/// Every node started together and settled; returns the LAN and its Master.
fn settled(s: &Scenario) -> (Lan, NodeId) {
    let mut lan = build(s);
    for id in 0..s.priorities.len() {
        lan.start(id);
    }
    lan.run_for(settle_time(s));
    let master = lan.masters()[0];
    (lan, master)
}

/// When the first node became Master at or after `since`.
fn first_takeover(lan: &Lan, since: Duration) -> Duration {
    lan.transitions_since(since)
        .into_iter()
        .find(|t| t.to == State::Master)
        .map(|t| t.at)
        .expect("someone took over")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Once the network is stable for one Master_Down_Interval there is exactly one
    /// Master, the highest priority (ties by address), and nothing moves after that.
    #[test]
    fn stable_network_elects_best_master_and_never_flaps(s in scenario()) {
        let n = s.priorities.len();
        let mut lan = build(&s);
        let mut plan: Vec<(Duration, NodeId, Option<Disruption>)> = s
            .start_offsets
            .iter()
            .enumerate()
            .map(|(id, &at)| (at, id, None))
            .collect();
        plan.extend(s.disruptions.iter().map(|&(at, id, d)| (at, id, Some(d))));
        plan.sort_by_key(|(at, _, _)| *at);
        let mut last_change = Duration::ZERO;
        for (at, id, what) in plan {
            lan.run_until(at);
            match what {
                None => lan.start(id),
                Some(Disruption::Crash) => lan.crash(id),
                Some(Disruption::Stop) => lan.stop(id),
                Some(Disruption::Restart) => {
                    lan.crash(id);
                    lan.start(id);
                }
            }
            last_change = at;
        }
        let settled = last_change + settle_time(&s);
        lan.run_until(settled);
        assert_one_master_with_top_priority(&lan, &s, running(&lan, n).into_iter())?;
        for id in 0..n {
            prop_assert_eq!(lan.holds_vip(id), lan.state(id) == State::Master);
        }
        lan.run_for(s.interval * 30);
        prop_assert_eq!(lan.transitions_since(settled + Duration::from_nanos(1)), vec![]);
    }

    /// Routers that start together with equal top priority: the greatest address
    /// wins, compared as an unsigned number in network byte order.
    #[test]
    fn simultaneous_start_ties_go_to_the_greater_address(
        n in 2usize..=5,
        centis in 1u64..=100,
        others in prop::collection::vec(1u8..150, 5),
        tied in prop::collection::vec(any::<bool>(), 5),
    ) {
        let interval = Duration::from_millis(centis * 10);
        let mut lan = Lan::new(7);
        let priorities: Vec<u8> = (0..n)
            .map(|id| if tied[id] || id == 0 { 150 } else { others[id] })
            .collect();
        for (id, &priority) in priorities.iter().enumerate() {
            lan.add_node(Lan::settings(id, priority, interval));
        }
        for id in 0..n {
            lan.start(id);
        }
        lan.run_for(master_down_interval(1, interval) + interval * 10);
        let winner = (0..n)
            .filter(|&id| priorities[id] == 150)
            .max_by_key(|&id| Lan::address(id))
            .expect("node 0 has 150");
        prop_assert_eq!(lan.masters(), vec![winner]);
    }

    /// A Master that dies is replaced within Master_Down_Interval of its last advert.
    #[test]
    fn lost_master_is_replaced_within_master_down_interval(
        s in scenario(),
        crash_permille in 0u32..1000,
    ) {
        let n = s.priorities.len();
        let (mut lan, old) = settled(&s);
        lan.run_for(s.interval * crash_permille / 1000);
        let crashed_at = lan.now();
        let last_advert = lan.last_advert_sent(old).expect("a Master advertises");
        lan.crash(old);
        let top = top_priority(&s, (0..n).filter(|&id| id != old)).expect("n >= 2");
        let bound = last_advert + master_down_interval(top, s.interval) + 2 * max_delay(&s);
        lan.run_until(crashed_at.max(bound) + settle_time(&s));
        let first = first_takeover(&lan, crashed_at);
        prop_assert!(first <= bound, "took over at {:?}, bound {:?}", first, bound);
        assert_one_master_with_top_priority(&lan, &s, (0..n).filter(|&id| id != old))?;
    }

    /// A Master that stops gracefully (priority 0) is replaced within Skew_Time.
    #[test]
    fn graceful_stop_is_replaced_within_skew_time(
        s in scenario(),
        stop_permille in 0u32..1000,
    ) {
        let n = s.priorities.len();
        let (mut lan, old) = settled(&s);
        lan.run_for(s.interval * stop_permille / 1000);
        let stopped_at = lan.now();
        lan.stop(old);
        let top = top_priority(&s, (0..n).filter(|&id| id != old)).expect("n >= 2");
        let bound = stopped_at + skew_time(top, s.interval) + 2 * max_delay(&s);
        lan.run_until(bound + settle_time(&s));
        let first = first_takeover(&lan, stopped_at);
        prop_assert!(first <= bound, "took over at {:?}, bound {:?}", first, bound);
        assert_one_master_with_top_priority(&lan, &s, (0..n).filter(|&id| id != old))?;
    }
}
