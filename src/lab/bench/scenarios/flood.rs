//! Scenario 10: a hostile flood from a third host (the lab's client), what it
//! costs the host that must ignore it. A single pair at 100 ms; the client
//! sends ~25,000 adverts a second, first lower-priority adverts for the
//! pair's VRID (measured on the Master, which must discard them), then adverts
//! for VRIDs nobody runs (measured on the Backup). The flood is the floor
//! sender itself, so its rate is what it counted over its life.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::load::stop_floor;
use super::{single, single_pair, VIP};
use crate::lab::bench::measure::cpu_time;
use crate::lab::bench::node::{Kind, Node, Spec};
use crate::lab::bench::Bench;
use crate::lab::{Lab, LabError};

/// The pair's advertisement interval.
pub const PAIR_INTERVAL: Duration = Duration::from_millis(100);

/// Routers the flood sender cycles through, each every [`FLOOD_INTERVAL`]:
/// 2,500 × 10/s = 25,000 adverts a second, 25 per 1 ms tick.
const FLOOD_ROUTERS: usize = 2_500;
/// How often each flood router is sent.
const FLOOD_INTERVAL: Duration = Duration::from_millis(100);
/// The VRID of [`single`]'s pair.
const PAIR_VRID: u8 = 51;

/// What one flood cost the host that took it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FloodCost {
    /// CPU of the measured host's agent over the window, % of one core.
    pub cpu_percent: f64,
    /// Adverts a second the flood sender sent (its count over its life).
    pub rate: f64,
}

/// Scenario 10 for one kind: (lower-priority flood on the Master, unknown-VRID
/// flood on the Backup). For the floor, a receiver on each host stands in for
/// the agents: the floor of receiving the same flood.
pub fn flood(
    bench: &Bench,
    kind: Kind,
    window: Duration,
) -> Result<(FloodCost, FloodCost), LabError> {
    let lab = bench.lab(2)?;
    let (a, b, _ping) = if kind == Kind::Floor {
        let receiver = |host: usize| {
            Node::floor_receiver(
                &lab.hosts[host],
                &bench.program,
                &single(100, PAIR_INTERVAL),
            )
        };
        (receiver(0)?, receiver(1)?, None)
    } else {
        let (a, b, ping) = single_pair(bench, &lab, kind, "flood", PAIR_INTERVAL, "")?;
        (a, b, Some(ping))
    };
    let lower = flood_one(bench, &lab, &a, lower_priority(), window)?;
    let unknown = flood_one(bench, &lab, &b, unknown_vrids(), window)?;
    Ok((lower, unknown))
}

/// Floods from the client while measuring `target` over `window`.
fn flood_one(
    bench: &Bench,
    lab: &Lab,
    target: &Node,
    specs: Vec<Spec>,
    window: Duration,
) -> Result<FloodCost, LabError> {
    let pids = target.pids();
    let began = Instant::now();
    let mut sender = Node::floor_sender(&lab.client, &bench.program, &specs)?;
    // Let the flood reach its pace before measuring.
    std::thread::sleep(Duration::from_secs(1));
    let before = cpu_time(&pids);
    let started = Instant::now();
    std::thread::sleep(window);
    let elapsed = started.elapsed().as_secs_f64();
    let used = cpu_time(&pids).saturating_sub(before);
    let sent = stop_floor(&mut sender)?;
    Ok(FloodCost {
        cpu_percent: used.as_secs_f64() / elapsed * 100.0,
        rate: sent.datagrams as f64 / began.elapsed().as_secs_f64(),
    })
}

/// Adverts for the pair's VRID with priorities 1..=99, below both agents'.
fn lower_priority() -> Vec<Spec> {
    flood_specs(|n| (PAIR_VRID, 1 + (n % 99) as u8))
}

/// Adverts for every VRID but the pair's, which nobody on the lab runs.
fn unknown_vrids() -> Vec<Spec> {
    flood_specs(|n| {
        let vrid = 1 + (n % 254) as u8;
        (if vrid >= PAIR_VRID { vrid + 1 } else { vrid }, 100)
    })
}

fn flood_specs(vrid_priority: impl Fn(usize) -> (u8, u8)) -> Vec<Spec> {
    let vip: Ipv4Addr = VIP.parse().unwrap_or(Ipv4Addr::new(192, 0, 2, 50));
    (0..FLOOD_ROUTERS)
        .map(|n| {
            let (vrid, priority) = vrid_priority(n);
            Spec {
                interface: "eth0".into(),
                vrid,
                priority,
                interval: FLOOD_INTERVAL,
                vip: format!("{vip}/24"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floods_never_carry_the_pairs_own_advert() {
        let lower = lower_priority();
        assert_eq!(lower.len(), FLOOD_ROUTERS);
        assert!(lower
            .iter()
            .all(|s| s.vrid == PAIR_VRID && s.priority < 100));
        let unknown = unknown_vrids();
        assert!(unknown.iter().all(|s| s.vrid != PAIR_VRID && s.vrid >= 1));
        assert!(unknown.iter().any(|s| s.vrid == 255));
        // 25,000 adverts a second.
        let rate = FLOOD_ROUTERS as f64 / FLOOD_INTERVAL.as_secs_f64();
        assert_eq!(rate, 25_000.0);
        assert_eq!(single(100, PAIR_INTERVAL)[0].vrid, PAIR_VRID);
    }
}
