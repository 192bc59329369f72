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

/// True when the tests can build namespaces and run keepalived (Debian's
/// package, which tests/run.sh installs) as a peer; otherwise records a skip
/// through [`super::skip::skip`] (which fails the test under CI).
pub fn can_run_keepalived_lab(test: &str) -> bool {
    use twinstar::lab::keepalived;
    if !can_run_lab(test) {
        return false;
    }
    if !keepalived::available() {
        let why = format!(
            "keepalived is neither on PATH nor at {}",
            keepalived::KEEPALIVED
        );
        super::skip::skip(test, &why);
        return false;
    }
    true
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

/// Upper margin on a protocol time in the lab: two shared cores, `ip` forks,
/// netlink and status-file polling on top of what RFC 9568 allows.
pub const MARGIN: Duration = Duration::from_secs(1);

/// Lower margin on a protocol time in the lab: how much earlier than the RFC's
/// time an event may seem to happen (clock reads on either side of a poll,
/// timer granularity). A takeover earlier than this is a bug, like a late one.
pub const EARLY: Duration = Duration::from_millis(5);

/// Allowance for an agent process to start (`ip netns exec`, config, sockets)
/// before its protocol timers begin.
pub const STARTUP: Duration = Duration::from_secs(2);

/// Waits for `condition`, at most `latest` + [`MARGIN`] after `since`, and asserts
/// that it came true, and not before `earliest` − [`EARLY`]. Returns how long
/// it took; `context` builds the failure message (logs).
pub fn happens_between(
    what: &str,
    since: std::time::Instant,
    earliest: Duration,
    latest: Duration,
    condition: impl FnMut() -> bool,
    context: impl Fn() -> String,
) -> Duration {
    let deadline = latest + MARGIN;
    let held = wait_until(deadline.saturating_sub(since.elapsed()), condition);
    let took = since.elapsed();
    assert!(
        held,
        "{what}: not after {took:?} (bound {latest:?} + {MARGIN:?})\n{}",
        context()
    );
    println!("{what}: after {took:?} (RFC window {earliest:?}..={latest:?})");
    assert!(
        took + EARLY >= earliest,
        "{what}: after {took:?}, before the RFC allows ({earliest:?} - {EARLY:?})\n{}",
        context()
    );
    took
}

/// [`happens_between`] for `agent`'s `instance` reaching `state`.
pub fn state_between(
    agent: &Agent,
    instance: &str,
    state: &str,
    since: std::time::Instant,
    earliest: Duration,
    latest: Duration,
) -> Duration {
    happens_between(
        &format!("{instance} {state}"),
        since,
        earliest,
        latest,
        || agent.status().and_then(|s| s.state(instance)).as_deref() == Some(state),
        || agent.log(),
    )
}

/// Asserts, every 50 ms for `span`, that `check` holds (a state that must not
/// change); `context` builds the failure message.
pub fn holds_for(
    what: &str,
    span: Duration,
    mut check: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let until = std::time::Instant::now() + span;
    while std::time::Instant::now() < until {
        assert!(check(), "{what}\n{}", context());
        std::thread::sleep(Duration::from_millis(50));
    }
}
