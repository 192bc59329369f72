//! Property tests of the protocol core on the simulated LAN: whatever the
//! priorities, intervals, delays, loss, preemption settings, start order,
//! crashes, restarts, faults and priority changes, the election settles on a
//! legitimate Master within the bounds RFC 9568 promises, and then stays put.
//!
//! Expected times come from the RFC oracle in tests/support/rfc.rs, never from
//! the crate's own timers.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use support::rfc::{master_down_interval, skew_time};
use support::sim::{Lan, NodeId};
use twinstar::vrrp::{Event, State};

/// The crate's timers may differ from the RFC oracle by rounding only
/// (tests/rfc_timers.rs).
const ROUNDING: Duration = Duration::from_micros(1);

/// Something that happens to a host during a run.
#[derive(Debug, Clone, Copy)]
enum Disruption {
    Crash,
    Restart,
    Stop,
    /// A tracked object with weight 0 fails (or the link loses carrier).
    FaultSet,
    FaultCleared,
    /// Tracking moves the effective priority.
    Priority(u8),
}

/// One host: its router's settings and its link.
#[derive(Debug, Clone)]
struct NodeSpec {
    priority: u8,
    /// Its own Advertisement_Interval; RFC 9568 has a Backup adopt the
    /// Master's (Master_Adver_Interval), so hosts need not agree.
    interval: Duration,
    delay: Duration,
    /// Packet loss while the network is disturbed (cleared when it settles).
    loss: u8,
    preempt: bool,
    preempt_delay: Duration,
}

/// One random run: the hosts and what happens to them.
#[derive(Debug, Clone)]
struct Scenario {
    nodes: Vec<NodeSpec>,
    start_offsets: Vec<Duration>,
    disruptions: Vec<(Duration, NodeId, Disruption)>,
}

fn node_spec(base_centis: u64) -> impl Strategy<Value = NodeSpec> {
    // Half the priorities come from a small set, so ties (broken by address) are common.
    let priority = prop_oneof![1u8..=254, Just(100u8), Just(150u8)];
    // Mostly a shared interval, as deployed; sometimes each host its own.
    let centis = prop_oneof![3 => Just(base_centis), 1 => 1u64..=100];
    let preempt_delay = prop_oneof![
        2 => Just(Duration::ZERO),
        1 => (1u64..=3000).prop_map(Duration::from_millis)
    ];
    (
        priority,
        centis,
        0u64..=5000,
        0u8..=30,
        prop::bool::weighted(0.75),
        preempt_delay,
    )
        .prop_map(
            |(priority, centis, delay_us, loss, preempt, preempt_delay)| NodeSpec {
                priority,
                interval: Duration::from_millis(centis * 10),
                delay: Duration::from_micros(delay_us),
                loss,
                preempt,
                preempt_delay,
            },
        )
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (2usize..=5, 1u64..=100, any::<bool>()).prop_flat_map(|(n, base, owner)| {
        let step = Duration::from_millis(base * 10);
        let nodes = prop::collection::vec(node_spec(base), n).prop_map(move |mut nodes| {
            if owner {
                nodes[0].priority = 255;
            }
            nodes
        });
        let start_offsets = prop::collection::vec(0u32..=5000, n).prop_map(move |v| {
            v.into_iter()
                .map(|permille| step * permille / 1000)
                .collect()
        });
        let kind = prop_oneof![
            Just(Disruption::Crash),
            Just(Disruption::Restart),
            Just(Disruption::Stop),
            Just(Disruption::FaultSet),
            Just(Disruption::FaultCleared),
            (1u8..=254).prop_map(Disruption::Priority),
        ];
        let disruptions =
            prop::collection::vec((0u32..=10_000, 0..n, kind), 0..=6).prop_map(move |v| {
                let mut v: Vec<_> = v
                    .into_iter()
                    .map(|(permille, node, kind)| (step * permille / 1000, node, kind))
                    .collect();
                v.sort_by_key(|(at, _, _)| *at);
                v
            });
        (nodes, start_offsets, disruptions).prop_map(|(nodes, start_offsets, disruptions)| {
            Scenario {
                nodes,
                start_offsets,
                disruptions,
            }
        })
    })
}

/// The segment; with `lossy`, each host loses its share of packets.
fn build(s: &Scenario, lossy: bool) -> Lan {
    let mut lan = Lan::new(1);
    for (id, node) in s.nodes.iter().enumerate() {
        let mut settings = Lan::settings(id, node.priority, node.interval);
        settings.preempt = node.preempt;
        settings.preempt_delay = node.preempt_delay;
        lan.add_node(settings);
        lan.set_delay(id, node.delay);
        if lossy {
            lan.set_loss(id, node.loss);
        }
    }
    lan
}

/// A running router's effective priority (tracking may have moved it).
fn effective(lan: &Lan, id: NodeId) -> u8 {
    lan.router(id).map_or(0, |r| r.priority())
}

/// Hosts that may be Master: running and not in Fault.
fn candidates(lan: &Lan, n: usize) -> Vec<NodeId> {
    (0..n)
        .filter(|&id| matches!(lan.state(id), State::Master | State::Backup))
        .collect()
}

/// Exactly one Master among `candidates` (none if there are none), and a
/// legitimate one: every candidate with a strictly higher effective priority
/// has preemption off (RFC 9568 §6.4.2: a Backup follows a Master of equal or
/// higher priority, and a lower one too when Preempt_Mode is false).
fn assert_legitimate_master(
    lan: &Lan,
    s: &Scenario,
    candidates: &[NodeId],
) -> Result<(), TestCaseError> {
    let masters = lan.masters();
    if candidates.is_empty() {
        prop_assert!(
            masters.is_empty(),
            "masters {:?} without candidates",
            masters
        );
        return Ok(());
    }
    prop_assert_eq!(masters.len(), 1, "masters: {:?}", masters);
    let master = masters[0];
    prop_assert!(
        candidates.contains(&master),
        "master {} is no candidate",
        master
    );
    for &id in candidates {
        if id != master && effective(lan, id) > effective(lan, master) {
            prop_assert!(
                !s.nodes[id].preempt,
                "node {} (priority {}, preempt on) is Backup under node {} (priority {})",
                id,
                effective(lan, id),
                master,
                effective(lan, master)
            );
        }
    }
    Ok(())
}

/// The longest interval and the largest one-way delay of any host.
fn max_interval(s: &Scenario) -> Duration {
    s.nodes.iter().map(|n| n.interval).max().expect("nodes")
}

fn max_delay(s: &Scenario) -> Duration {
    s.nodes.iter().map(|n| n.delay).max().unwrap_or_default()
}

/// Time for the slowest Backup to notice anything (the lowest priority with
/// the longest interval), to sit out the longest preempt delay, and for the
/// round trips to settle.
fn settle_time(s: &Scenario) -> Duration {
    let slowest = master_down_interval(1, max_interval(s));
    let delay = s
        .nodes
        .iter()
        .map(|n| n.preempt_delay)
        .max()
        .unwrap_or_default();
    slowest + delay + max_interval(s) * 2 + 4 * max_delay(s)
}

/// Every host started together on a lossless segment and settled; returns the
/// segment and its Master.
fn settled(s: &Scenario) -> (Lan, NodeId) {
    let mut lan = build(s, false);
    for id in 0..s.nodes.len() {
        lan.start(id);
    }
    lan.run_for(settle_time(s));
    let masters = lan.masters();
    assert_eq!(masters.len(), 1, "masters after settling: {masters:?}");
    (lan, masters[0])
}

/// When the first host became Master at or after `since`.
fn first_takeover(lan: &Lan, since: Duration) -> Option<Duration> {
    lan.transitions_since(since)
        .into_iter()
        .find(|t| t.to == State::Master)
        .map(|t| t.at)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Whatever happened while the network was disturbed (loss, crashes,
    /// restarts, stops, faults, priority changes), once it is stable for the
    /// settle time there is exactly one legitimate Master among the running,
    /// unfaulted hosts, the VIP is on it alone, and nothing moves after that.
    #[test]
    fn stable_network_elects_a_legitimate_master_and_never_flaps(s in scenario()) {
        let n = s.nodes.len();
        let mut lan = build(&s, true);
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
                Some(Disruption::FaultSet) => lan.feed(id, Event::FaultSet),
                Some(Disruption::FaultCleared) => lan.feed(id, Event::FaultCleared),
                Some(Disruption::Priority(p)) => lan.feed(id, Event::PriorityChanged(p)),
            }
            last_change = at;
        }
        // From here on the network is stable: no more loss.
        for id in 0..n {
            lan.set_loss(id, 0);
        }
        let settled = last_change + settle_time(&s);
        lan.run_until(settled);
        assert_legitimate_master(&lan, &s, &candidates(&lan, n))?;
        for id in 0..n {
            prop_assert_eq!(lan.holds_vip(id), lan.state(id) == State::Master);
        }
        lan.run_for(max_interval(&s) * 30);
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

    /// A Master that dies is replaced Master_Down_Interval after its last
    /// advert reached the best Backup: not before (the advert left at
    /// `last_advert`), and not later than that plus the round trip. The
    /// Backups count with the Master's interval, not their own.
    #[test]
    fn lost_master_is_replaced_after_master_down_interval(
        s in scenario(),
        crash_permille in 0u32..1000,
    ) {
        let n = s.nodes.len();
        let (mut lan, old) = settled(&s);
        let master_interval = s.nodes[old].interval;
        lan.run_for(master_interval * crash_permille / 1000);
        let crashed_at = lan.now();
        let last_advert = lan.last_advert_sent(old).expect("a Master advertises");
        lan.crash(old);
        let others = candidates(&lan, n);
        let top = others.iter().map(|&id| effective(&lan, id)).max().expect("n >= 2");
        let earliest = last_advert + master_down_interval(top, master_interval);
        let latest = earliest + 2 * max_delay(&s);
        lan.run_until(crashed_at.max(latest) + settle_time(&s));
        let first = first_takeover(&lan, crashed_at).expect("someone took over");
        prop_assert!(
            first + ROUNDING >= earliest,
            "took over at {:?}, before the RFC allows ({:?})", first, earliest
        );
        prop_assert!(first <= latest + ROUNDING, "took over at {:?}, bound {:?}", first, latest);
        assert_legitimate_master(&lan, &s, &others)?;
    }

    /// A Master that stops gracefully (priority 0) is replaced Skew_Time after
    /// the best Backup hears it: not before, not later than that plus the
    /// round trip.
    #[test]
    fn graceful_stop_is_replaced_after_skew_time(
        s in scenario(),
        stop_permille in 0u32..1000,
    ) {
        let n = s.nodes.len();
        let (mut lan, old) = settled(&s);
        let master_interval = s.nodes[old].interval;
        lan.run_for(master_interval * stop_permille / 1000);
        let stopped_at = lan.now();
        lan.stop(old);
        let others = candidates(&lan, n);
        let top = others.iter().map(|&id| effective(&lan, id)).max().expect("n >= 2");
        let earliest = stopped_at + skew_time(top, master_interval);
        let latest = earliest + 2 * max_delay(&s);
        lan.run_until(latest + settle_time(&s));
        let first = first_takeover(&lan, stopped_at).expect("someone took over");
        prop_assert!(
            first + ROUNDING >= earliest,
            "took over at {:?}, before the RFC allows ({:?})", first, earliest
        );
        prop_assert!(first <= latest + ROUNDING, "took over at {:?}, bound {:?}", first, latest);
        assert_legitimate_master(&lan, &s, &others)?;
    }
}
