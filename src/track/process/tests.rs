use std::time::Duration;

use super::*;
use crate::track::run_as::RunAs;
use crate::track::test_util::{unprivileged, TempDir};

const LIMIT: Duration = Duration::from_secs(10);

fn sh(script: &str) -> Command {
    Command::Shell(script.to_owned())
}

async fn run_sh(script: &str) -> ScriptOutcome {
    run(&sh(script), &[], &[], &unprivileged(), LIMIT).await
}

fn cannot_run(outcome: &ScriptOutcome) -> &str {
    match &outcome.result {
        ScriptResult::CannotRun(reason) => reason,
        other => panic!(
            "expected CannotRun, got {other:?} ({:?})",
            outcome.last_line
        ),
    }
}

#[tokio::test]
async fn exit_status_decides_success() {
    let ok = run_sh("exit 0").await;
    assert_eq!(ok.result, ScriptResult::Exited(0));
    assert!(ok.result.is_success());
    let failed = run_sh("exit 3").await;
    assert_eq!(failed.result, ScriptResult::Exited(3));
    assert!(!failed.result.is_success());
    let argv = Command::Argv(vec!["/bin/sh".into(), "-c".into(), "exit 4".into()]);
    let outcome = run(&argv, &[], &[], &unprivileged(), LIMIT).await;
    assert_eq!(outcome.result, ScriptResult::Exited(4));
    let killed = run_sh("kill -TERM $$").await;
    assert_eq!(killed.result, ScriptResult::Signaled(libc::SIGTERM));
    assert!(!killed.result.is_success());
}

#[tokio::test]
async fn arguments_follow_the_command() {
    let args = vec!["a b".to_owned(), "c".to_owned()];
    let shell = run(&sh("echo \"$0|$1|$2\""), &args, &[], &unprivileged(), LIMIT).await;
    assert_eq!(shell.last_line.as_deref(), Some("twinstar-hook|a b|c"));
    // A bare name is looked up in the script PATH.
    let argv = Command::Argv(vec!["echo".into(), "x".into()]);
    let direct = run(&argv, &args, &[], &unprivileged(), LIMIT).await;
    assert_eq!(direct.result, ScriptResult::Exited(0));
    assert_eq!(direct.last_line.as_deref(), Some("x a b c"));
}

#[tokio::test]
async fn keeps_the_last_non_empty_line_of_stdout_and_stderr() {
    let outcome = run_sh("echo first; echo; echo '  second  ' >&2; printf '\\n\\n'; exit 1").await;
    assert_eq!(outcome.result, ScriptResult::Exited(1));
    assert_eq!(outcome.last_line.as_deref(), Some("second"));
    let silent = run_sh("true").await;
    assert_eq!(silent.last_line, None);
    let unterminated = run_sh("printf 'a\\nlast'").await;
    assert_eq!(unterminated.last_line.as_deref(), Some("last"));
}

#[tokio::test]
async fn bounds_what_it_keeps_of_large_output() {
    // ~600 KiB of output: the script must not block, and the kept line comes
    // from the first 64 KiB.
    let outcome = run_sh("seq 1 100000; echo the-end").await;
    assert_eq!(outcome.result, ScriptResult::Exited(0));
    let line = outcome.last_line.unwrap();
    let n: u32 = line.parse().unwrap_or_else(|_| panic!("{line:?}"));
    assert!((10_000..=15_000).contains(&n), "{n}");
    let long = run_sh("head -c 3000 /dev/zero | tr '\\0' x").await;
    assert_eq!(long.last_line.map(|l| l.len()), Some(512));
}

#[tokio::test]
async fn the_environment_is_clean() {
    // Cargo sets CARGO_PKG_NAME for the test process; scripts must not see it.
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
    let env = vec![("TWINSTAR_CHECK".to_owned(), "web".to_owned())];
    let script = "n=$(env | grep -cv '^\\(PWD\\|OLDPWD\\|SHLVL\\|_\\)='); \
                  echo \"$n|$PATH|$LANG|$TWINSTAR_CHECK|${CARGO_PKG_NAME-unset}|$(pwd)\"";
    let outcome = run(&sh(script), &[], &env, &unprivileged(), LIMIT).await;
    assert_eq!(outcome.result, ScriptResult::Exited(0));
    assert_eq!(
        outcome.last_line.as_deref(),
        Some("4|/usr/sbin:/usr/bin:/sbin:/bin|C|web|unset|/")
    );
    let home = run_sh("echo \"$HOME\"").await;
    assert!(home.last_line.is_some_and(|h| h.starts_with('/')));
}

#[tokio::test]
async fn a_missing_program_cannot_run() {
    let argv = Command::Argv(vec!["/nonexistent/twinstar-check".into()]);
    let outcome = run(&argv, &[], &[], &unprivileged(), LIMIT).await;
    assert!(!outcome.result.is_success());
    assert_eq!(
        cannot_run(&outcome),
        "/nonexistent/twinstar-check: not found"
    );
    let bare = Command::Argv(vec!["no-such-twinstar-program".into()]);
    let outcome = run(&bare, &[], &[], &unprivileged(), LIMIT).await;
    assert!(cannot_run(&outcome).contains("not found"));
    let empty = Command::Argv(vec![]);
    let outcome = run(&empty, &[], &[], &unprivileged(), LIMIT).await;
    assert_eq!(cannot_run(&outcome), "empty command");
}

#[tokio::test]
async fn a_file_that_is_not_executable_cannot_run() {
    let dir = TempDir::new("noexec");
    let script = dir.file("check.sh", "#!/bin/sh\nexit 0\n", 0o644);
    let argv = Command::Argv(vec![script.display().to_string()]);
    let outcome = run(&argv, &[], &[], &unprivileged(), LIMIT).await;
    assert!(
        cannot_run(&outcome).contains("not executable"),
        "{outcome:?}"
    );
    // The same through the shell: sh exits 126.
    let outcome = run(
        &sh(&script.display().to_string()),
        &[],
        &[],
        &unprivileged(),
        LIMIT,
    )
    .await;
    assert!(cannot_run(&outcome).contains("(shell exit 126: not executable)"));
}

#[tokio::test]
async fn a_missing_interpreter_is_named() {
    let dir = TempDir::new("interp");
    let script = dir.file("check.sh", "#!/nonexistent/interpreter\nexit 0\n", 0o755);
    let argv = Command::Argv(vec![script.display().to_string()]);
    let outcome = run(&argv, &[], &[], &unprivileged(), LIMIT).await;
    assert!(
        cannot_run(&outcome).contains("bad interpreter"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn shell_exit_127_cannot_run() {
    let outcome = run_sh("exit 127").await;
    assert!(cannot_run(&outcome).ends_with("(shell exit 127: command not found)"));
    let outcome = run_sh("no-such-twinstar-command --flag").await;
    let reason = cannot_run(&outcome);
    assert!(reason.contains("no-such-twinstar-command"), "{reason}");
    assert!(
        reason.ends_with("(shell exit 127: command not found)"),
        "{reason}"
    );
    // Only shells use 126/127 that way: a program may exit 127 on its own.
    let argv = Command::Argv(vec!["/bin/sh".into(), "-c".into(), "exit 127".into()]);
    let direct = run(&argv, &[], &[], &unprivileged(), LIMIT).await;
    assert_eq!(direct.result, ScriptResult::Exited(127));
}

/// Processes (not zombies) whose command line contains `marker`.
/// Waits up to a second for every process with `marker` to be gone (SIGKILL
/// is delivered at once, but the kernel takes a moment to tear them down).
async fn assert_none_left(marker: &str) {
    let mut left = processes_with(marker);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = processes_with(marker);
    }
    assert!(left.is_empty(), "left running: {left:?}");
}

fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

#[tokio::test]
async fn a_hanging_script_is_killed_with_its_whole_group() {
    let marker = format!("twinstar-hang-marker-{}", std::process::id());
    // The inner shell (which carries the marker) and its sleep are a
    // grandchild and great-grandchild: only killing the group reaches them.
    let script = format!("/bin/sh -c 'sleep 30; exit 0' {marker} & echo started; sleep 30; exit 0");
    let started = std::time::Instant::now();
    let outcome = run(
        &sh(&script),
        &[],
        &[],
        &unprivileged(),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(outcome.result, ScriptResult::TimedOut);
    assert!(!outcome.result.is_success());
    assert_eq!(outcome.last_line.as_deref(), Some("started"));
    assert!(outcome.duration >= Duration::from_millis(300));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_none_left(&marker).await;
}

#[tokio::test]
async fn dropping_the_run_kills_the_group() {
    let marker = format!("twinstar-drop-marker-{}", std::process::id());
    let script = format!("/bin/sh -c 'sleep 30; exit 0' {marker} & sleep 30; exit 0");
    let command = sh(&script);
    let run_as = unprivileged();
    let running = run(&command, &[], &[], &run_as, LIMIT);
    let waited = tokio::time::timeout(Duration::from_millis(300), running).await;
    assert!(waited.is_err());
    assert_none_left(&marker).await;
}

#[tokio::test]
async fn runs_as_the_configured_user_without_capabilities() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let nobody = RunAs::resolve("nobody").unwrap();
    let outcome = run(
        &sh("echo \"$(id -u) $(id -g) $(grep CapEff /proc/self/status | cut -f2)\""),
        &[],
        &[],
        &nobody,
        LIMIT,
    )
    .await;
    assert_eq!(outcome.result, ScriptResult::Exited(0));
    let gid = nix::unistd::User::from_name("nobody").unwrap().unwrap().gid;
    assert_eq!(
        outcome.last_line,
        Some(format!("65534 {gid} 0000000000000000"))
    );
    // Supplementary groups are the user's, not root's.
    let groups = run(&sh("id -G"), &[], &[], &nobody, LIMIT).await;
    let groups = groups.last_line.unwrap();
    assert!(!groups.split(' ').any(|g| g == "0"), "{groups}");
}

#[tokio::test]
async fn root_scripts_in_writable_places_are_refused() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let root = RunAs::resolve("root").unwrap();
    let dir = TempDir::new("rootcheck");
    let safe = dir.file("safe.sh", "#!/bin/sh\nid -u\n", 0o755);
    let outcome = run(
        &Command::Argv(vec![safe.display().to_string()]),
        &[],
        &[],
        &root,
        LIMIT,
    )
    .await;
    assert_eq!(outcome.result, ScriptResult::Exited(0));
    assert_eq!(outcome.last_line.as_deref(), Some("0"));
    let unsafe_script = dir.file("unsafe.sh", "#!/bin/sh\nid -u\n", 0o757);
    let outcome = run(
        &sh(&unsafe_script.display().to_string()),
        &[],
        &[],
        &root,
        LIMIT,
    )
    .await;
    let reason = cannot_run(&outcome);
    assert!(reason.starts_with("refused to run as root:"), "{reason}");
    assert!(reason.contains("writable by everyone"), "{reason}");
}
