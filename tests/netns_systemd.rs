//! systemd readiness protocol, observed on a notify socket in the test's own
//! directory: READY=1 with a STATUS= line once the agent serves, watchdog
//! keep-alives, RELOADING=1 then READY=1 around a reload, STOPPING=1 at exit.

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::agents::{can_run_lab, config, dir, lab, SETTLE};
use twinstar::lab::Agent;

/// Collects notify datagrams until `until` matches the messages so far.
fn collect(socket: &UnixDatagram, seen: &mut Vec<String>, until: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + SETTLE;
    let mut buf = [0u8; 4096];
    while !until(seen) {
        assert!(
            Instant::now() < deadline,
            "notify messages so far: {seen:?}"
        );
        if let Ok(n) = socket.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

fn has(seen: &[String], line: &str) -> bool {
    seen.iter().any(|m| m.lines().any(|l| l == line))
}

#[test]
fn readiness_watchdog_reload_and_stop_are_notified() {
    if !can_run_lab("sd_notify") {
        return;
    }
    let lab = lab("sdn", 1);
    let dir = dir("sdn", 0);
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let notify = path.display().to_string();
    let program = PathBuf::from(env!("CARGO_BIN_EXE_twinstar"));
    let mut agent = Agent::start_with_env(
        &lab.hosts[0],
        &program,
        &dir,
        &config(96, 150, "100ms", "192.0.2.50/24", ""),
        &[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "200000")],
    )
    .expect("start agent");

    let mut seen = Vec::new();
    collect(&socket, &mut seen, |s| has(s, "READY=1"));
    let ready = seen.iter().find(|m| m.contains("READY=1")).unwrap();
    assert!(
        ready.contains("STATUS=web "),
        "READY carries a status line: {ready:?}"
    );
    // The control socket is bound before readiness is reported.
    assert!(agent.runtime_dir().join("control.sock").exists());
    // Keep-alives every half watchdog period.
    collect(&socket, &mut seen, |s| {
        s.iter().filter(|m| m.trim_end() == "WATCHDOG=1").count() >= 3
    });
    agent.wait_for_state("web", "master", SETTLE).unwrap();
    collect(&socket, &mut seen, |s| has(s, "STATUS=web master"));

    seen.clear();
    agent.reload().unwrap();
    collect(&socket, &mut seen, |s| has(s, "READY=1"));
    let reloading = seen.iter().position(|m| m.contains("RELOADING=1"));
    let ready = seen.iter().position(|m| m.contains("READY=1"));
    assert!(reloading.is_some() && reloading < ready, "{seen:?}");
    assert!(seen[reloading.unwrap()].contains("MONOTONIC_USEC="));

    seen.clear();
    assert_eq!(agent.terminate().map(|s| s.success()), Some(true));
    collect(&socket, &mut seen, |s| has(s, "STOPPING=1"));
}
