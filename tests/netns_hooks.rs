//! Notify hooks and the event stream on a real host: hooks fire exactly once per
//! transition, in order, with the right arguments and environment, and relative
//! to the VIPs as documented; `before_master` failing keeps the VIP off.

mod support;

use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use support::agents::{agent, can_run_lab, dir, lab, wait_until, SETTLE};
use twinstar::lab::Agent;

/// A directory hooks (run as an unprivileged user) can write their log into.
fn hook_dir(tag: &str) -> PathBuf {
    let dir = dir(tag, 8);
    std::fs::create_dir_all(&dir).expect("hook dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

/// Reads a FIFO from before the agent opens it until stopped, keeping every byte.
struct FifoReader {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<String>,
}

impl FifoReader {
    fn start(path: &Path) -> FifoReader {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
        // Non-blocking open succeeds without a writer; reads then poll.
        let mut fifo = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .expect("open FIFO");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut text = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                match fifo.read(&mut buf) {
                    Ok(n) if n > 0 => text.extend_from_slice(&buf[..n]),
                    _ if stopping.load(Ordering::Relaxed) => break,
                    _ => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            String::from_utf8_lossy(&text).into_owned()
        });
        FifoReader { stop, thread }
    }

    fn finish(self) -> String {
        std::thread::sleep(Duration::from_millis(100));
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("FIFO reader")
    }
}

/// Every line parsed as JSON (panics on any invalid line).
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON {l:?}: {e}")))
        .collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn hooks_fire_in_transition_order_superseded_ones_are_reported_and_events_match() {
    if !can_run_lab("hooks order") {
        return;
    }
    let lab = lab("thk", 1);
    let hooks = hook_dir("thk");
    let log = hooks.join("hooks.log");
    let level = hooks.join("level");
    std::fs::write(&level, "0").unwrap();
    let fifo = FifoReader::start(&hooks.join("events.fifo"));
    let socket = hooks.join("events.sock");
    let l = log.display();
    let count = "$(ip -o addr show dev eth0 | grep -c 192.0.2.50)";
    let config = format!(
        "events:\n  fifo: {fifo}\n  socket: {socket}\n\
         instances:\n  - name: web\n    interface: eth0\n    vrid: 81\n    advert_interval: 10ms\n\
         \x20   virtual_ips: [192.0.2.50/24]\n    garp: {{count: 1}}\n\
         \x20   track:\n      - file: {level}\n        interval: 10ms\n        timeout: 1s\n        weight: 0\n\
         \x20   hooks:\n\
         \x20     on_master: \"echo master $1 $2 $3 $4 {count} >> {l}\"\n\
         \x20     on_backup: \"echo backup $1 $2 $3 $4 >> {l}\"\n\
         \x20     on_fault: \"echo fault $1 $2 $3 $4 >> {l}\"\n\
         \x20     on_stop: \"echo stop $1 $2 $3 $4 >> {l}\"\n\
         \x20     after_backup: \"echo after_backup $1 $2 $3 {count} >> {l}\"\n\
         \x20     on_change: \"echo change $TWINSTAR_INSTANCE $TWINSTAR_STATE $TWINSTAR_OLD_STATE $TWINSTAR_PRIORITY >> {l}\"\n",
        fifo = hooks.join("events.fifo").display(),
        socket = socket.display(),
        level = level.display(),
    );
    let mut a = agent(&lab, "thk", 0, &config);
    a.wait_for_state("web", "master", SETTLE).unwrap();
    let mut client = std::os::unix::net::UnixStream::connect(&socket).expect("event socket");

    // The check's timeout is long so that only the test's writes move the
    // instance: on a loaded machine a 10 ms read can take longer than 10 ms,
    // and that extra Fault would change the VIP under a running on_master.
    // Twelve fail/recover cycles as fast as the agent follows: each is
    // Master → Fault → Backup → Master. Each step also waits for the hook that
    // looks at the VIP, so it sees the state it was run for, not a later one.
    wait_hook(&log, "master ", 1);
    for cycle in 0..12 {
        std::fs::write(&level, "1").unwrap();
        wait_state(&a, "fault", cycle);
        wait_hook(&log, "after_backup ", cycle + 1);
        std::fs::write(&level, "0").unwrap();
        wait_state(&a, "master", cycle);
        wait_hook(&log, "master ", cycle + 2);
    }
    assert_eq!(a.terminate().map(|s| s.success()), Some(true));
    let fifo_text = fifo.finish();
    let mut socket_text = String::new();
    client
        .read_to_string(&mut socket_text)
        .expect("read event socket");

    let events = json_lines(&fifo_text);
    let transitions: Vec<(String, String)> = of_type(&events, "transition")
        .iter()
        .map(|t| {
            assert_eq!(t["instance"], "web");
            let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
            (s("from"), s("to"))
        })
        .collect();
    assert!(
        transitions.len() >= 36,
        "expected at least 36 transitions, got {transitions:?}"
    );
    let mut expected = Vec::new();
    for (from, to) in &transitions {
        if from == "master" {
            expected.push(format!("after_backup web {to} {from} 0"));
        }
        expected.push(match to.as_str() {
            "master" => format!("master web master {from} 100 1"),
            "backup" => format!("backup web backup {from} 100"),
            "fault" => format!("fault web fault {from} 100"),
            _ => format!("stop web {to} {from} 100"),
        });
        expected.push(format!("change web {to} {from} 100"));
    }
    // Hooks of a transition that a later one superseded before they started
    // are dropped (reported as skipped): what ran is, in order, a part of
    // what the transitions asked for, and every hook asked for is accounted
    // for by exactly one hook event.
    let logged = std::fs::read_to_string(&log).expect("hook log");
    let logged: Vec<&str> = logged.lines().collect();
    let mut wanted = expected.iter();
    for line in &logged {
        assert!(
            wanted.any(|e| e == line),
            "hook {line:?} out of order, unasked for or repeated\nran: {logged:#?}\nasked: {expected:#?}\n{}",
            a.log()
        );
    }
    let hook_events = of_type(&events, "hook");
    assert_eq!(
        hook_events.len(),
        expected.len(),
        "one hook event per hook asked for"
    );
    let skipped = hook_events
        .iter()
        .filter(|h| h["result"] == "skipped")
        .count();
    assert_eq!(
        skipped,
        expected.len() - logged.len(),
        "dropped hooks are reported"
    );
    assert!(hook_events
        .iter()
        .filter(|h| h["result"] != "skipped")
        .all(|h| h["success"] == true));
    let masters = logged.iter().filter(|l| l.starts_with("master ")).count();
    assert!(
        masters >= 13,
        "every on_master the test waited for ran with the VIP on: {logged:#?}"
    );
    let checks = of_type(&events, "check");
    assert!(checks.len() >= 24, "check changes: {}", checks.len());
    assert!(checks.iter().any(|c| c["up"] == true && c["value"] == 1));

    // The socket client joined after the start: it saw a tail of the same stream.
    let late = json_lines(&socket_text);
    let late_transitions = of_type(&late, "transition");
    assert!(late_transitions.len() >= 36);
    let tail = &of_type(&events, "transition")[transitions.len() - late_transitions.len()..];
    assert_eq!(late_transitions, tail);
}

/// Waits until `count` lines of the hook log start with `prefix`.
fn wait_hook(log: &Path, prefix: &str, count: usize) {
    let logged = || {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .count()
    };
    assert!(
        wait_until(SETTLE, || logged() >= count),
        "hook {prefix:?} ran {} times, expected {count}",
        logged()
    );
}

fn wait_state(agent: &Agent, state: &str, cycle: usize) {
    agent
        .wait_for_state("web", state, SETTLE)
        .unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
}

#[test]
fn failing_before_master_keeps_the_vip_off_until_it_succeeds() {
    if !can_run_lab("before_master") {
        return;
    }
    let lab = lab("tbm", 1);
    let hooks = hook_dir("tbm");
    let log = hooks.join("hooks.log");
    let config = |before: &str| {
        format!(
            "events:\n  socket: {socket}\n\
             instances:\n  - name: db\n    interface: eth0\n    vrid: 82\n    advert_interval: 50ms\n\
             \x20   virtual_ips: [192.0.2.50/24]\n\
             \x20   hooks:\n      before_master_retry: 1s\n\
             \x20     before_master: \"echo before $2 $3 $(ip -o addr show dev eth0 | grep -c 192.0.2.50) >> {l}; {before}\"\n\
             \x20     on_master: \"echo master $(ip -o addr show dev eth0 | grep -c 192.0.2.50) >> {l}\"\n",
            socket = hooks.join("events.sock").display(),
            l = log.display(),
        )
    };
    let a = agent(&lab, "tbm", 0, &config("exit 1"));
    // It wins on the wire, but the hook fails: Fault, and the VIP never comes on.
    a.wait_for_state("db", "fault", SETTLE).unwrap();
    let mut ever_on = false;
    let watched = wait_until(Duration::from_millis(2500), || {
        ever_on |= lab.holders("192.0.2.50").unwrap()[0];
        false
    });
    assert!(!watched && !ever_on, "the VIP came on\n{}", a.log());
    let status = a.status().unwrap();
    let reasons = status.0["instances"][0]["fault_reasons"].to_string();
    assert!(reasons.contains("before_master failed"), "{reasons}");
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let tries = logged.lines().filter(|l| l.starts_with("before")).count();
    assert!(tries >= 2, "retried after before_master_retry: {logged}");
    assert!(
        logged.lines().all(|l| l == "before master backup 0"),
        "only failed before_master runs, with the VIP off: {logged}"
    );

    // Now the hook succeeds (after a while): the VIP comes on after it, then on_master.
    std::fs::write(a.config_path(), config("sleep 0.2")).unwrap();
    std::fs::write(&log, "").unwrap();
    a.reload().unwrap();
    assert!(
        wait_until(SETTLE, || lab.holders("192.0.2.50").unwrap()[0]),
        "the VIP should come on once before_master succeeds\n{}",
        a.log()
    );
    assert!(wait_until(SETTLE, || std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("master 1")));
    let logged = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(
        lines,
        vec!["before master backup 0", "master 1"],
        "{logged}"
    );
}
