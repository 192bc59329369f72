//! Lab helpers for the network-namespace tests: unique names, configs, agents.

use std::path::PathBuf;
use std::time::Duration;

use twinstar::lab::{Agent, Lab};

/// True when the tests can build namespaces (root); otherwise records a skip
/// through [`super::skip::skip`] (which fails the test under CI).
pub fn can_run_lab(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        true
    } else {
        super::skip::skip(test, "network-namespace tests need root");
        false
    }
}

/// A lab whose names are unique to this test and process.
pub fn lab(tag: &str, agents: usize) -> Lab {
    let prefix = format!("ts{tag}{}", std::process::id());
    Lab::build(&prefix, agents).expect("build lab")
}

/// A fresh per-test directory for agent files, under cargo's target directory for
/// integration tests (so logs stay inspectable and nothing accumulates in /tmp).
pub fn dir(tag: &str, host: usize) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "twinstar-test-{tag}-{}/h{host}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// One instance `web` on eth0 with this VRID, priority, interval and VIP.
pub fn config(vrid: u8, priority: u8, interval: &str, vip: &str, extra: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: {vrid}\n    priority: {priority}\n    advert_interval: {interval}\n    virtual_ips:\n      - {vip}\n{extra}"
    )
}

/// Starts twinstar on lab host `index` with `config`.
pub fn agent(lab: &Lab, tag: &str, index: usize, config: &str) -> Agent {
    let program = PathBuf::from(env!("CARGO_BIN_EXE_twinstar"));
    Agent::start(&lab.hosts[index], &program, &dir(tag, index), config).expect("start agent")
}

/// A generous bound for things that take a protocol interval or two.
pub const SETTLE: Duration = Duration::from_secs(10);

/// Polls `condition` every 5 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}
