use std::path::PathBuf;
use std::time::Instant;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::*;
use crate::config::Command;
use crate::track::test_util::{chmod, unprivileged, TempDir};

const WAIT: Duration = Duration::from_secs(5);

fn check(name: &str, kind: CheckKind, interval_ms: u64, rise: u32, fall: u32) -> Check {
    Check {
        name: name.to_owned(),
        kind,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_secs(2),
        rise,
        fall,
    }
}

fn start(check: Check) -> (Monitor, UnboundedReceiver<CheckUpdate>) {
    let (tx, rx) = unbounded_channel();
    let monitor = spawn(check, Arc::new(unprivileged()), tx, None).unwrap();
    (monitor, rx)
}

#[tokio::test]
async fn every_script_run_reports_its_duration() {
    let (tx, mut rx) = unbounded_channel();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let observer: DurationObserver = Arc::new(move |name: &str, took: Duration| {
        sink.lock().unwrap().push((name.to_owned(), took));
    });
    let script = CheckKind::Script(Command::Shell("sleep 0.02".into()));
    let _monitor = spawn(
        check("timed", script, 50, 1, 1),
        Arc::new(unprivileged()),
        tx,
        Some(observer),
    )
    .unwrap();
    next(&mut rx).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(seen
        .iter()
        .all(|(n, d)| n == "timed" && *d >= Duration::from_millis(20)));
}

async fn next(rx: &mut UnboundedReceiver<CheckUpdate>) -> CheckUpdate {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no update in time")
        .expect("monitor stopped")
}

/// Asserts nothing is sent for a while.
async fn quiet(rx: &mut UnboundedReceiver<CheckUpdate>, ms: u64) {
    if let Ok(update) = tokio::time::timeout(Duration::from_millis(ms), rx.recv()).await {
        panic!("unexpected update {update:?}");
    }
}

#[tokio::test]
async fn script_checks_report_changes_only() {
    let dir = TempDir::new("monitor-script");
    let flag = dir.0.join("flag");
    let script = format!(
        "echo \"checked $TWINSTAR_CHECK\"; test -e {}",
        flag.display()
    );
    let (_monitor, mut rx) = start(check(
        "web",
        CheckKind::Script(Command::Shell(script)),
        30,
        1,
        1,
    ));
    let first = next(&mut rx).await;
    assert_eq!(first.check, "web");
    assert!(!first.up);
    assert_eq!(first.value, 0);
    assert!(
        first.detail.starts_with("exit 1 after "),
        "{}",
        first.detail
    );
    assert_eq!(first.last_output.as_deref(), Some("checked web"));
    quiet(&mut rx, 150).await;
    std::fs::write(&flag, "").unwrap();
    let up = next(&mut rx).await;
    assert!(up.up);
    assert!(up.detail.starts_with("exit 0 after "), "{}", up.detail);
    quiet(&mut rx, 150).await;
}

#[tokio::test]
async fn rise_waits_for_consecutive_successes() {
    let dir = TempDir::new("monitor-rise");
    chmod(&dir.0, 0o777); // the script (as nobody) writes here
    let runs = dir.0.join("runs");
    let script = format!("echo run >> {}", runs.display());
    let started = Instant::now();
    let (_monitor, mut rx) = start(check(
        "rising",
        CheckKind::Script(Command::Shell(script)),
        50,
        3,
        1,
    ));
    let first = next(&mut rx).await;
    assert!(first.up);
    // Runs start at 0, 50 and 100 ms; the third success decides.
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    let count = std::fs::read_to_string(&runs).unwrap().lines().count();
    assert!((3..=4).contains(&count), "{count} runs");
}

#[tokio::test]
async fn runs_never_overlap_and_skip_missed_starts() {
    let dir = TempDir::new("monitor-overrun");
    chmod(&dir.0, 0o777); // the script (as nobody) writes here
    let starts = dir.0.join("starts");
    // Each run takes about 175 ms with an interval of 100 ms.
    let script = format!("date +%s%N >> {}; sleep 0.17; exit 1", starts.display());
    let (monitor, mut rx) = start(check(
        "slow",
        CheckKind::Script(Command::Shell(script)),
        100,
        1,
        1,
    ));
    assert!(!next(&mut rx).await.up);
    tokio::time::sleep(Duration::from_millis(700)).await;
    drop(monitor);
    let stamps: Vec<u128> = std::fs::read_to_string(&starts)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(stamps.len() >= 3, "{stamps:?}");
    for pair in stamps.windows(2) {
        let gap_ms = (pair[1] - pair[0]) / 1_000_000;
        // Not before the previous run ended, nor right after it (catching
        // up a backlog), but on the next 100 ms step: 200 ms after it.
        assert!(
            (190..=320).contains(&gap_ms),
            "gap {gap_ms} ms in {stamps:?}"
        );
    }
}

#[tokio::test]
async fn file_checks_report_value_changes() {
    let dir = TempDir::new("monitor-file");
    let path: PathBuf = dir.file("weight", "5\n", 0o644);
    let (_monitor, mut rx) = start(check("weight", CheckKind::File(path.clone()), 30, 1, 2));
    let first = next(&mut rx).await;
    assert_eq!(
        (first.up, first.value, first.detail.as_str()),
        (true, 5, "reads 5")
    );
    quiet(&mut rx, 120).await;
    std::fs::write(&path, "-7").unwrap();
    let changed = next(&mut rx).await;
    assert_eq!((changed.up, changed.value), (true, -7));
    std::fs::remove_file(&path).unwrap();
    // fall 2: the first failed read keeps the last good value.
    let down = next(&mut rx).await;
    assert_eq!((down.up, down.value), (false, 0));
    assert_eq!(down.detail, format!("{} is missing", path.display()));
}

#[tokio::test]
async fn process_and_tcp_checks() {
    let exe = std::env::current_exe().unwrap();
    let name = exe.file_name().unwrap().to_str().unwrap().to_owned();
    let kind = CheckKind::Process {
        name: name.clone(),
        min: 1,
        max: None,
    };
    let (_p, mut rx) = start(check("self", kind, 50, 1, 1));
    let update = next(&mut rx).await;
    assert!(update.up, "{update:?}");
    let kind = CheckKind::Process {
        name,
        min: 0,
        max: Some(0),
    };
    let (_q, mut rx) = start(check("none", kind, 50, 1, 1));
    assert!(!next(&mut rx).await.up);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_t, mut rx) = start(check("port", CheckKind::Tcp(addr), 50, 1, 1));
    let update = next(&mut rx).await;
    assert!(update.up, "{update:?}");
    drop(listener);
    let update = next(&mut rx).await;
    assert_eq!(
        (update.up, update.detail.as_str()),
        (false, "connection refused")
    );
}

#[tokio::test]
async fn interface_checks_are_not_polled() {
    let (tx, _rx) = unbounded_channel();
    let kind = CheckKind::Interface("eth0".into());
    assert!(spawn(
        check("link", kind, 50, 1, 1),
        Arc::new(unprivileged()),
        tx,
        None
    )
    .is_none());
}

#[tokio::test]
async fn dropping_the_monitor_kills_a_running_script() {
    let marker = format!("twinstar-monitor-marker-{}", std::process::id());
    let script = format!("/bin/sh -c 'sleep 30; exit 0' {marker} & sleep 30; exit 0");
    let (monitor, _rx) = start(check(
        "hang",
        CheckKind::Script(Command::Shell(script)),
        1000,
        1,
        1,
    ));
    let running = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&marker))
            })
            .count()
    };
    let mut seen = 0;
    for _ in 0..100 {
        seen = running();
        if seen > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen > 0, "the script never started");
    drop(monitor);
    for _ in 0..100 {
        if running() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the script survived its monitor");
}
