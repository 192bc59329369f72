//! The one way a test may skip: loudly, and never under CI.
//!
//! A skipped test still reads "ok" to `cargo test`, so every skip goes through
//! [`skip`]: with `CI` set (CI runs with `CI=true`) or `TWINSTAR_NO_SKIP=1` it
//! panics with the reason, so the test fails; otherwise it prints one line
//! `SKIPPED: <test>: <why>` to stderr and appends that line to the file named by
//! `TWINSTAR_SKIP_LOG`, which tests/run.sh counts.

use std::io::Write;

/// Whether skipping is forbidden in this environment.
pub fn forbidden() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
        || std::env::var("TWINSTAR_NO_SKIP").is_ok_and(|v| v == "1")
}

/// Records that `test` cannot run because of `why`; panics where skips are forbidden.
/// The caller returns right after.
pub fn skip(test: &str, why: &str) {
    let line = format!("SKIPPED: {test}: {why}");
    if forbidden() {
        panic!("{line} (skips are failures with CI or TWINSTAR_NO_SKIP=1)");
    }
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("TWINSTAR_SKIP_LOG") {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            // One write of the whole line: O_APPEND keeps parallel tests' lines whole.
            .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = appended {
            panic!("{line}: cannot record the skip in {path:?}: {e}");
        }
    }
}
