//! The benchmark's scenarios. Each builds its own lab, runs one agent kind,
//! and returns samples; `mod.rs` runs both kinds and prints the table.
//!
//! This file holds what every scenario shares (instance lists, starting and
//! settling agents, waiting for VIPs) and the failover scenarios 1 to 3; the
//! load scenarios 4 to 7 and 9 (CPU, memory, stability, convergence) are in
//! `scenarios/load.rs`, the host loss with and without the quorum guard (8)
//! in `scenarios/quorum.rs`, the hostile floods (10) in `scenarios/flood.rs`.

use std::process::Command;
use std::time::{Duration, Instant};

use super::node::{node_dir, Kind, Node, Spec};
use super::Bench;
use crate::lab::{Lab, LabError, Pinger};

mod flood;
mod load;
mod quorum;

pub use flood::{flood, FloodCost};
pub use load::{convergence, scale, stability, ScaleResult};
pub use quorum::{etcd_installed, host_loss_quorum, INTERVAL as QUORUM_INTERVAL, LEASE_TTL};

/// The VIP of the single-instance scenarios.
pub const VIP: &str = "192.0.2.50";

/// One instance on eth0 at `priority` and `interval`.
pub fn single(priority: u8, interval: Duration) -> Vec<Spec> {
    vec![Spec {
        interface: "eth0".into(),
        vrid: 51,
        priority,
        interval,
        vip: format!("{VIP}/24"),
    }]
}

/// `count` instances on eth0 (VRIDs 1.., VIPs 192.0.2.150..).
pub fn many_on_eth0(count: u8, priority: u8, interval: Duration) -> Vec<Spec> {
    (0..count)
        .map(|i| Spec {
            interface: "eth0".into(),
            vrid: i + 1,
            priority,
            interval,
            vip: format!("192.0.2.{}/32", 150 + u16::from(i)),
        })
        .collect()
}

/// One instance on eth0 (VRID 1), for the per-agent baseline.
pub fn one(priority: u8, interval: Duration) -> Vec<Spec> {
    many_on_eth0(1, priority, interval)
}

/// 100 instances on eth0.
pub fn hundred(priority: u8, interval: Duration) -> Vec<Spec> {
    many_on_eth0(100, priority, interval)
}

/// 4 segments × 250 instances (VIPs 203.0.113.1..250 on each).
pub fn thousand(priority: u8, interval: Duration) -> Vec<Spec> {
    let mut specs = Vec::new();
    for vlan in 0..4 {
        for vrid in 1..=250u8 {
            specs.push(Spec {
                interface: format!("v{vlan}"),
                vrid,
                priority,
                interval,
                vip: format!("203.0.113.{vrid}/32"),
            });
        }
    }
    specs
}

/// Polls `condition` every 5 ms until it holds; an error after `limit`.
pub fn wait(
    what: &str,
    limit: Duration,
    mut condition: impl FnMut() -> bool,
) -> Result<(), LabError> {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LabError::Timeout(what.to_owned()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How many of `specs`' VIPs are on host `index` (one `ip` call; a VIP on
/// several interfaces counts once per interface, as in the specs).
fn vips_on(lab: &Lab, index: usize, specs: &[Spec]) -> usize {
    let Ok(out) = lab.hosts[index].ns.ip(&["-o", "-4", "addr", "show"]) else {
        return 0;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let on: std::collections::HashSet<(String, String)> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let interface = words.nth(1)?.to_owned();
            let address = words.skip_while(|w| *w != "inet").nth(1)?;
            Some((interface, address.split('/').next()?.to_owned()))
        })
        .collect();
    specs
        .iter()
        .filter(|s| {
            let address = s.vip.split('/').next().unwrap_or_default().to_owned();
            on.contains(&(s.interface.clone(), address))
        })
        .count()
}

/// Master (150) on host 0 and Backup (100) on host 1, started in that order,
/// holding the single VIP on host 0; and a client pinging it.
fn single_pair(
    bench: &Bench,
    lab: &Lab,
    kind: Kind,
    tag: &str,
    interval: Duration,
    extra_a: &str,
) -> Result<(Node, Node, Pinger), LabError> {
    let a = start(
        bench,
        lab,
        kind,
        tag,
        (0, 0),
        &single(150, interval),
        extra_a,
    )?;
    let b = start(bench, lab, kind, tag, (1, 0), &single(100, interval), "")?;
    settle(lab, interval)?;
    let ping = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(2))?;
    if !ping.wait_replies(20, Duration::from_secs(10)) {
        return Err(LabError::Timeout("client replies from the VIP".into()));
    }
    Ok((a, b, ping))
}

fn start(
    bench: &Bench,
    lab: &Lab,
    kind: Kind,
    tag: &str,
    (host, run): (usize, usize),
    specs: &[Spec],
    extra: &str,
) -> Result<Node, LabError> {
    let dir = node_dir(&bench.workdir, tag, kind, host, run);
    Node::start(kind, &lab.hosts[host], &dir, &bench.program, specs, extra)
}

/// Waits until the VIP is on host 0 only, then for three quiet intervals.
fn settle(lab: &Lab, interval: Duration) -> Result<(), LabError> {
    wait("the VIP on host 0 only", Duration::from_secs(30), || {
        lab.holders(VIP).is_ok_and(|h| h == vec![true, false])
    })?;
    std::thread::sleep(interval * 3 + Duration::from_millis(100));
    Ok(())
}

/// Runs `fail`, waits until host 1 holds the VIP and the client is answered
/// again, and returns the client's largest reply gap in milliseconds.
fn outage(
    lab: &Lab,
    ping: &Pinger,
    interval: Duration,
    fail: impl FnOnce() -> Result<(), LabError>,
) -> Result<f64, LabError> {
    ping.reset();
    if !ping.wait_replies(10, Duration::from_secs(10)) {
        return Err(LabError::Timeout(
            "client replies before the failure".into(),
        ));
    }
    // Fail at a random moment between two adverts: otherwise every run hits
    // the same phase of the advert cadence and the median says little.
    std::thread::sleep(jitter(interval));
    fail()?;
    wait("the VIP on host 1", Duration::from_secs(30), || {
        lab.holders(VIP).is_ok_and(|h| h[1])
    })?;
    if !ping.wait_replies(20, Duration::from_secs(10)) {
        return Err(LabError::Timeout(
            "client replies after the failover".into(),
        ));
    }
    Ok(ping.largest_gap().as_secs_f64() * 1000.0)
}

/// A pseudo-random duration in `0..below`, from the clock's nanoseconds.
fn jitter(below: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let below = below.as_nanos().max(1) as u64;
    Duration::from_nanos(u64::from(nanos).wrapping_mul(2_654_435_761) % below)
}

/// Scenario 1: the Master's bridge port goes down; `runs` outages in ms.
pub fn host_loss(bench: &Bench, kind: Kind, interval: Duration) -> Result<Vec<f64>, LabError> {
    let lab = bench.lab(2)?;
    let tag = format!("loss{}", interval.as_millis());
    let (_a, _b, ping) = single_pair(bench, &lab, kind, &tag, interval, "")?;
    let mut samples = Vec::new();
    for _ in 0..bench.runs {
        samples.push(outage(&lab, &ping, interval, || lab.set_cable(0, false))?);
        lab.set_cable(0, true)?;
        // Both are Master for a moment; the higher one wins and re-announces.
        settle(&lab, interval)?;
    }
    Ok(samples)
}

/// Scenario 2: the Master stops gracefully (priority 0); outages in ms.
pub fn graceful(bench: &Bench, kind: Kind, interval: Duration) -> Result<Vec<f64>, LabError> {
    let lab = bench.lab(2)?;
    let (mut a, _b, ping) = single_pair(bench, &lab, kind, "grace", interval, "")?;
    let mut samples = Vec::new();
    for run in 0..bench.runs {
        samples.push(outage(&lab, &ping, interval, || {
            a.stop();
            Ok(())
        })?);
        a = start(
            bench,
            &lab,
            kind,
            "grace",
            (0, run + 1),
            &single(150, interval),
            "",
        )?;
        settle(&lab, interval)?;
        if !ping.wait_replies(10, Duration::from_secs(10)) {
            return Err(LabError::Timeout(
                "client replies after the Master returned".into(),
            ));
        }
    }
    Ok(samples)
}

/// Scenario 3a: `twinstar switchover` on the Master; outages in ms.
pub fn switchover(bench: &Bench, interval: Duration) -> Result<Vec<f64>, LabError> {
    let lab = bench.lab(2)?;
    let (a, b, ping) = single_pair(bench, &lab, Kind::Twinstar, "switch", interval, "")?;
    let mut samples = Vec::new();
    for _ in 0..bench.runs {
        samples.push(outage(&lab, &ping, interval, || {
            control(bench, &a, &["switchover", "vr0", "--no-wait"])
        })?);
        // Hand back (not measured): B resigns, A takes over within its skew.
        control(bench, &b, &["switchover", "vr0", "--no-wait"])?;
        settle(&lab, interval)?;
    }
    Ok(samples)
}

/// Scenario 3b: the Master's track script starts failing (weight 0, 100 ms
/// interval); outages in ms.
pub fn failing_script(bench: &Bench, interval: Duration) -> Result<Vec<f64>, LabError> {
    let lab = bench.lab(2)?;
    let flag = bench.workdir.join("failing");
    let extra = format!(
        "    track:\n      - script: test ! -e {}\n        interval: 100ms\n        weight: 0\n",
        flag.display()
    );
    let (_a, _b, ping) = single_pair(bench, &lab, Kind::Twinstar, "script", interval, &extra)?;
    let mut samples = Vec::new();
    for _ in 0..bench.runs {
        samples.push(outage(&lab, &ping, interval, || {
            std::fs::write(&flag, "").map_err(LabError::Io)
        })?);
        std::fs::remove_file(&flag).map_err(LabError::Io)?;
        settle(&lab, interval)?;
    }
    Ok(samples)
}

fn control(bench: &Bench, node: &Node, args: &[&str]) -> Result<(), LabError> {
    let agent = node
        .agent()
        .ok_or_else(|| LabError::Timeout("a twinstar agent".into()))?;
    let out = Command::new(&bench.program)
        .args(args)
        .arg("--runtime-dir")
        .arg(agent.runtime_dir())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Timeout(format!(
            "twinstar {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// Whether the keepalived binary is there.
pub fn keepalived_installed() -> bool {
    crate::lab::keepalived::available()
}
