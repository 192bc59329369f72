//! Scenario 8: host loss with and without the quorum guard, in the
//! split-brain lab ([`QuorumLab`]: two agents and a witness, each with an etcd
//! member on a management link). The Master's host is cut off completely
//! (both cables); the client pinging the VIP measures the outage. Without the
//! guard the Backup takes over after Master_Down_Interval; with it, only once
//! the lost Master's lease has expired at etcd. Each run builds a fresh lab,
//! so no key or lease carries over from the run before.

use std::time::Duration;

use super::{jitter, wait, VIP};
use crate::lab::bench::Bench;
use crate::lab::quorum::QuorumLab;
use crate::lab::{Agent, LabError, Pinger};

/// The lease ttl of the guarded runs: the documented default.
pub const LEASE_TTL: Duration = Duration::from_secs(2);

/// The advert interval of both variants.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Whether `etcd` (Debian's `etcd-server`) can be run.
pub fn etcd_installed() -> bool {
    std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// `runs` host-loss outages in ms, with the guard (`guarded`) or without.
pub fn host_loss_quorum(bench: &Bench, guarded: bool) -> Result<Vec<f64>, LabError> {
    let mut samples = Vec::new();
    for run in 0..bench.runs {
        samples.push(one_run(bench, guarded, run)?);
    }
    Ok(samples)
}

fn one_run(bench: &Bench, guarded: bool, run: usize) -> Result<f64, LabError> {
    let n = bench.labs.get() + 1;
    bench.labs.set(n);
    let tag = if guarded { "quorum" } else { "plain" };
    let dir = bench.workdir.join(format!("{tag}-r{run}"));
    let quorum = QuorumLab::build(&format!("tsb{}q{n}", std::process::id()), &dir)?;
    let mut agents = Vec::new();
    for (index, priority) in [(0usize, 150u8), (1, 100)] {
        let keys = if guarded {
            quorum.quorum_keys(index, LEASE_TTL, "release")
        } else {
            String::new()
        };
        let config = format!(
            "instances:\n  - name: vr0\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    \
             advert_interval: {}ms\n    garp: {{count: 1}}\n    virtual_ips: [{VIP}/24]\n{keys}",
            INTERVAL.as_millis()
        );
        let host = &quorum.lab.hosts[index];
        agents.push(Agent::start(
            host,
            &bench.program,
            &dir.join(format!("h{index}")),
            &config,
        )?);
    }
    let lab = &quorum.lab;
    wait("the VIP on host 0 only", Duration::from_secs(30), || {
        lab.holders(VIP).is_ok_and(|h| h == vec![true, false])
    })?;
    std::thread::sleep(INTERVAL * 3 + Duration::from_millis(100));
    let ping = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(2))?;
    if !ping.wait_replies(20, Duration::from_secs(10)) {
        return Err(LabError::Timeout("client replies from the VIP".into()));
    }
    ping.reset();
    if !ping.wait_replies(10, Duration::from_secs(10)) {
        return Err(LabError::Timeout(
            "client replies before the failure".into(),
        ));
    }
    // A random phase of the advert cadence and of the lease renewals.
    std::thread::sleep(jitter(LEASE_TTL / 3));
    quorum.isolate(0)?;
    wait("the VIP on host 1", Duration::from_secs(30), || {
        lab.holders(VIP).is_ok_and(|h| h[1])
    })?;
    if !ping.wait_replies(20, Duration::from_secs(10)) {
        return Err(LabError::Timeout(
            "client replies after the failover".into(),
        ));
    }
    let outage = ping.largest_gap().as_secs_f64() * 1000.0;
    drop(ping);
    drop(agents);
    Ok(outage)
}
