//! A panic ends the agent: the hook `twinstar run` installs
//! (`twinstar::daemon::panic::install_abort_on_panic`) turns a panic in a
//! spawned task — which tokio would otherwise swallow — into an abort of the
//! whole process, so that systemd restarts it instead of leaving a deaf
//! Backup or a Master without its addresses.
//!
//! The test runs itself as a child process (this test binary, this one test,
//! with `CHILD` set): the child installs the hook, panics inside a spawned
//! tokio task and would report that it survived; the parent checks that it
//! was killed by SIGABRT instead and that the panic was reported on stderr.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

/// Set in the child's environment: be the panicking agent.
const CHILD: &str = "TWINSTAR_SUPERVISION_TEST_CHILD";
/// What the child prints if the process outlived the panic.
const SURVIVED: &str = "the process survived the panic";

#[test]
fn a_panic_in_a_spawned_task_aborts_the_whole_process() {
    if std::env::var_os(CHILD).is_some() {
        twinstar::daemon::panic::install_abort_on_panic();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let joined = runtime
            .block_on(async { tokio::spawn(async { panic!("reader lost its socket") }).await });
        println!("{SURVIVED} (task result: {joined:?})");
        return;
    }
    let this = std::env::current_exe().expect("test binary path");
    let out = Command::new(this)
        .args([
            "--exact",
            "a_panic_in_a_spawned_task_aborts_the_whole_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains(SURVIVED),
        "the panic was swallowed:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the child must abort; it ended with {:?}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("reader lost its socket") && stderr.contains("aborting"),
        "the panic is reported before the abort:\n{stderr}"
    );
}
