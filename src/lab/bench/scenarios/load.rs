//! The load scenarios of the benchmark: 4 and 5 (CPU and memory of many
//! instances, with or without extra segments), 6 (stability with every core
//! saturated) and 7 (convergence of 100 instances started together).

use std::time::{Duration, Instant};

use super::{many_on_eth0, single_pair, start, vips_on, wait};
use crate::lab::bench::measure::{cpu_time, pss_kib, rss_kib};
use crate::lab::bench::node::{Kind, Node, Spec};
use crate::lab::bench::Bench;
use crate::lab::hogs::Hogs;
use crate::lab::{Lab, LabError};

/// What scenarios 4 and 5 report per node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    /// CPU over the window, % of one core.
    pub cpu_percent: f64,
    /// Resident memory at the end (VmRSS), MiB.
    pub rss_mib: f64,
    /// Proportional resident memory at the end (PSS), MiB.
    pub pss_mib: f64,
}

impl Cost {
    /// What `pids` used over `elapsed` seconds, from CPU time `used`.
    fn of(pids: &[u32], used: Duration, elapsed: f64) -> Cost {
        Cost {
            cpu_percent: used.as_secs_f64() / elapsed * 100.0,
            rss_mib: rss_kib(pids) as f64 / 1024.0,
            pss_mib: pss_kib(pids) as f64 / 1024.0,
        }
    }
}

/// Scenario 4/5 result for one kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScaleResult {
    /// The Master node.
    pub master: Cost,
    /// The Backup node.
    pub backup: Cost,
    /// Transitions during the window (should be 0).
    pub transitions: u64,
    /// Adverts the Backup missed in the window (twinstar), or over the
    /// receiver's whole life (floor; keepalived has no counters).
    pub missed_adverts: Option<i64>,
}

/// Scenarios 4, 5 and 9: many instances, or one; CPU and memory over
/// `window`. The floor runs a sender in the Master's place and a receiver in
/// the Backup's, on the same lab, with the same routers.
pub fn scale(
    bench: &Bench,
    kind: Kind,
    specs_for: fn(u8, Duration) -> Vec<Spec>,
    interval: Duration,
    vlans: bool,
    window: Duration,
) -> Result<ScaleResult, LabError> {
    let lab = bench.lab(2)?;
    if vlans {
        add_vlans(&lab)?;
    }
    let (master_specs, backup_specs) = (specs_for(150, interval), specs_for(100, interval));
    let count = master_specs.len();
    let tag = format!("scale{count}");
    if kind == Kind::Floor {
        return floor_scale(bench, &lab, &master_specs, window);
    }
    let a = start(bench, &lab, kind, &tag, (0, 0), &master_specs, "")?;
    let b = start(bench, &lab, kind, &tag, (1, 0), &backup_specs, "")?;
    let what = format!("every VIP on the {} Master", kind.name());
    wait(&what, Duration::from_secs(300), || {
        vips_on(&lab, 0, &master_specs) == count && vips_on(&lab, 1, &master_specs) == 0
    })?;
    std::thread::sleep(Duration::from_secs(2));
    let transitions_before = a.master_transitions() + b.master_transitions();
    let (sent_before, received_before) = (a.adverts_sent(), b.adverts_received());
    let (master, backup) = costs_over(&a.pids(), &b.pids(), window);
    let (sent, received) = (a.adverts_sent(), b.adverts_received());
    // Adverts the Master sent in the window that the Backup did not count
    // (the two readings are a few milliseconds apart: a little slack).
    let missed = match (sent_before, sent, received_before, received) {
        (Some(s0), Some(s1), Some(r0), Some(r1)) => {
            let slack = (count as f64 * 0.01 / interval.as_secs_f64()).ceil() as i64;
            Some(((s1 - s0) as i64 - (r1 - r0) as i64 - slack).max(0))
        }
        _ => None,
    };
    Ok(ScaleResult {
        master,
        backup,
        transitions: (a.master_transitions() + b.master_transitions())
            .saturating_sub(transitions_before),
        missed_adverts: missed,
    })
}

/// What the Master's processes `pa` and the Backup's `pb` cost over `window`
/// (memory read at its end).
fn costs_over(pa: &[u32], pb: &[u32], window: Duration) -> (Cost, Cost) {
    let (ca, cb) = (cpu_time(pa), cpu_time(pb));
    let started = Instant::now();
    std::thread::sleep(window);
    let elapsed = started.elapsed().as_secs_f64();
    let (da, db) = (
        cpu_time(pa).saturating_sub(ca),
        cpu_time(pb).saturating_sub(cb),
    );
    (Cost::of(pa, da, elapsed), Cost::of(pb, db, elapsed))
}

/// The floor of scenarios 4, 5 and 9: a receiver on the Backup's host (started
/// first, so that it counts every advert), a sender of the Master's adverts on
/// the Master's host; missed adverts are what the sender counted and the
/// receiver did not, over their whole lives.
fn floor_scale(
    bench: &Bench,
    lab: &Lab,
    master_specs: &[Spec],
    window: Duration,
) -> Result<ScaleResult, LabError> {
    let mut b = Node::floor_receiver(&lab.hosts[1], &bench.program, master_specs)?;
    std::thread::sleep(Duration::from_millis(300));
    let mut a = Node::floor_sender(&lab.hosts[0], &bench.program, master_specs)?;
    std::thread::sleep(Duration::from_secs(2));
    let (master, backup) = costs_over(&a.pids(), &b.pids(), window);
    let sent = stop_floor(&mut a)?;
    // The last adverts are still on their way for a moment.
    std::thread::sleep(Duration::from_millis(100));
    let received = stop_floor(&mut b)?;
    Ok(ScaleResult {
        master,
        backup,
        transitions: 0,
        missed_adverts: Some((sent.datagrams as i64 - received.datagrams as i64).max(0)),
    })
}

/// Stops a floor node and returns its count.
pub(super) fn stop_floor(node: &mut Node) -> Result<crate::lab::bench::floor::Report, LabError> {
    match node {
        Node::Floor(floor) => floor.stop(),
        _ => Err(LabError::Step("not a floor node".into())),
    }
}

/// Four more segments: bridges `s0`..`s3` in the bridge namespace, and on each
/// agent host an interface `v0`..`v3` cabled to them, one /26 each. (Separate
/// segments, as VLANs would be: the same VRIDs on two of them must not meet.)
fn add_vlans(lab: &Lab) -> Result<(), LabError> {
    let bridge = lab.bridge();
    for segment in 0..4u32 {
        let name = format!("s{segment}");
        bridge.ip(&[
            "link",
            "add",
            &name,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        bridge.ip(&["link", "set", &name, "up"])?;
    }
    for (host_index, host) in lab.hosts.iter().enumerate() {
        for segment in 0..4u32 {
            let port = format!("q{host_index}s{segment}");
            let inside = format!("v{segment}");
            bridge.ip(&[
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                &inside,
                "netns",
                host.ns.name(),
            ])?;
            bridge.ip(&["link", "set", &port, "master", &format!("s{segment}")])?;
            bridge.ip(&["link", "set", &port, "up"])?;
            let address = format!("198.51.100.{}/26", segment * 64 + 1 + host_index as u32);
            host.ns.ip(&["addr", "add", &address, "dev", &inside])?;
            host.ns.ip(&["link", "set", &inside, "up"])?;
        }
    }
    Ok(())
}

/// Scenario 6: both cores saturated for `window`; transitions counted.
pub fn stability(
    bench: &Bench,
    kind: Kind,
    interval: Duration,
    window: Duration,
) -> Result<u64, LabError> {
    let lab = bench.lab(2)?;
    let (a, b, _ping) = single_pair(bench, &lab, kind, "hog", interval, "")?;
    let before = a.master_transitions() + b.master_transitions();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut hogs = Hogs::start(cores)?;
    std::thread::sleep(window);
    hogs.stop();
    std::thread::sleep(interval * 10);
    Ok((a.master_transitions() + b.master_transitions()).saturating_sub(before))
}

/// How long scenario 7 waits for an agent to converge before recording the bound.
const CONVERGENCE_LIMIT: Duration = Duration::from_secs(20);

/// Scenario 7: 100 instances; the Backup starts 0.3 s before the Master.
/// Returns (seconds from the Master's start until every VIP is on it and
/// none on the Backup, transitions in the `observe` window after that).
pub fn convergence(
    bench: &Bench,
    kind: Kind,
    interval: Duration,
    observe: Duration,
) -> Result<Vec<(f64, u64)>, LabError> {
    let lab = bench.lab(2)?;
    let mut results = Vec::new();
    for run in 0..bench.runs_convergence {
        let specs = many_on_eth0(100, 150, interval);
        let mut b = start(
            bench,
            &lab,
            kind,
            "conv",
            (1, run),
            &many_on_eth0(100, 100, interval),
            "",
        )?;
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let mut a = start(bench, &lab, kind, "conv", (0, run), &specs, "")?;
        let vips = |host: usize| vips_on(&lab, host, &specs);
        // An agent that keeps flapping may never settle: give up after
        // CONVERGENCE_LIMIT and record that bound (the table shows the max).
        let converged = wait("convergence", CONVERGENCE_LIMIT, || {
            vips(0) == specs.len() && vips(1) == 0
        });
        let took = match converged {
            Ok(()) => started.elapsed().as_secs_f64(),
            Err(_) => CONVERGENCE_LIMIT.as_secs_f64(),
        };
        let before = a.master_transitions() + b.master_transitions();
        std::thread::sleep(observe);
        let after = a.master_transitions() + b.master_transitions();
        results.push((took, after.saturating_sub(before)));
        a.stop();
        b.stop();
        wait("VIPs released", Duration::from_secs(30), || {
            vips(0) == 0 && vips(1) == 0
        })?;
    }
    Ok(results)
}
