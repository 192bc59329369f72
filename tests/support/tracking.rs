//! Shared pieces of the tracking tests: a flag file for check scripts, a
//! Master/Backup pair, and the VIP-move timing assertion.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use twinstar::lab::{Agent, Lab};

use super::agents::{agent, config, dir, wait_until, EARLY, MARGIN as LAB_MARGIN, STARTUP};
use super::rfc::{master_down_interval, skew_time};

pub const VIP: &str = "192.0.2.50";
pub const VIP_CIDR: &str = "192.0.2.50/24";
pub const INTERVAL: Duration = Duration::from_millis(100);
/// Room for two shared cores, forks and netlink on top of the protocol's bound.
pub const MARGIN: Duration = LAB_MARGIN;

/// A file whose existence a check script tests (scripts run unprivileged, so it
/// lives in a directory anyone can search).
pub struct Flag(PathBuf);

impl Flag {
    pub fn new(tag: &str) -> Flag {
        let dir = dir(tag, 9);
        std::fs::create_dir_all(&dir).expect("flag dir");
        Flag(dir.join("failing"))
    }
    pub fn raise(&self) {
        std::fs::write(&self.0, "").expect("raise flag");
    }
    pub fn lower(&self) {
        let _ = std::fs::remove_file(&self.0);
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// A's `track:` block: one item, indented for the `config` helper's instance.
pub fn track(item: &str) -> String {
    let mut lines = item.lines();
    let first = lines.next().unwrap_or_default();
    let rest: String = lines.map(|l| format!("        {l}\n")).collect();
    format!("    track:\n      - {first}\n{rest}")
}

/// A (150, with `track_a`) and B (100) on one VIP; waits until A is Master.
pub fn pair(lab: &Lab, tag: &str, vrid: u8, track_a: &str) -> (Agent, Agent) {
    let a = agent(lab, tag, 0, &config(vrid, 150, "100ms", VIP_CIDR, track_a));
    let b = agent(lab, tag, 1, &config(vrid, 100, "100ms", VIP_CIDR, ""));
    let mdi = master_down_interval(150, INTERVAL);
    a.wait_for_state("web", "master", mdi + STARTUP + MARGIN)
        .unwrap();
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    assert!(
        wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![true, false]),
        "A should hold the VIP\nA:\n{}",
        a.log()
    );
    (a, b)
}

/// Waits until the VIP is on host `holder` only, and asserts it took at least
/// `earliest` - EARLY and at most `bound` (which includes its margin).
pub fn vip_moves_to(
    lab: &Lab,
    holder: usize,
    since: Instant,
    earliest: Duration,
    bound: Duration,
    agents: &[&Agent],
) {
    let expected: Vec<bool> = (0..2).map(|i| i == holder).collect();
    let moved = wait_until(bound.saturating_sub(since.elapsed()), || {
        lab.holders(VIP).unwrap() == expected
    });
    let took = since.elapsed();
    let logs: Vec<String> = agents.iter().map(|a| a.log()).collect();
    assert!(
        moved,
        "VIP not on host {holder} after {took:?} (bound {bound:?})\n{}",
        logs.join("\n")
    );
    println!("VIP on host {holder} after {took:?} (bounds {earliest:?}..={bound:?})");
    assert!(
        took <= bound,
        "VIP took {took:?} to move (bound {bound:?})\n{}",
        logs.join("\n")
    );
    assert!(
        took + EARLY >= earliest,
        "VIP moved after {took:?}, before the protocol allows ({earliest:?})\n{}",
        logs.join("\n")
    );
}

/// The bound for a failing check that lowers A's priority: `fall` runs, then
/// the Backup ignores the lower Master and takes over when its
/// Master_Down_Interval runs out.
pub fn fail_bound(fall: u32) -> Duration {
    INTERVAL * fall + master_down_interval(100, INTERVAL) + MARGIN
}

/// The bound for a check with weight 0 failing on the Master: `fall` runs,
/// then A resigns (priority 0) and B takes over within its Skew_Time.
pub fn fault_bound(fall: u32) -> Duration {
    INTERVAL * fall + skew_time(100, INTERVAL) + MARGIN
}
