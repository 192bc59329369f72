//! The per-check task: runs a check on its schedule, applies rise/fall, and
//! tells the daemon when the result changes.
//!
//! Each check is one tokio task, so a slow check delays only itself. Runs never
//! overlap: the next start is `interval` after the previous start, and when a
//! run overran, the starts it missed are skipped rather than bunched up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::hysteresis::Hysteresis;
use super::native;
use super::process;
use super::readers::{count_processes, read_track_file};
use super::run_as::RunAs;
use crate::config::{format_duration, Check, CheckKind};

/// A change in a check's state, sent to the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckUpdate {
    /// The check's name.
    pub check: String,
    /// The state after rise/fall. For `file` checks: the file was read and
    /// parsed (the daemon applies the weight semantics using `value`).
    pub up: bool,
    /// For `file` checks, the integer last read successfully while up, and 0
    /// while down; 0 for every other kind.
    pub value: i64,
    /// What the latest run found, short: "exit 1 after 3.2 ms", "connection refused".
    pub detail: String,
    /// For scripts, the last line the latest run printed.
    pub last_output: Option<String>,
}

/// A running check. Dropping it stops the check, killing a script that is
/// still running.
#[derive(Debug)]
pub struct Monitor {
    name: String,
    task: JoinHandle<()>,
}

impl Monitor {
    /// The check's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts running `check` (the first run at once), sending an update when its
/// state is first known, and then whenever `up` or `value` changes. The task
/// ends when `updates` is closed.
///
/// Returns `None` for `interface` checks, which the daemon follows through
/// link events. Must be called from within a tokio runtime.
///
/// `durations`, if given, hears how long every script run took (for metrics).
pub fn spawn(
    check: Check,
    run_as: Arc<RunAs>,
    updates: UnboundedSender<CheckUpdate>,
    durations: Option<DurationObserver>,
) -> Option<Monitor> {
    if matches!(check.kind, CheckKind::Interface(_)) {
        return None;
    }
    let name = check.name.clone();
    let task = tokio::spawn(run_loop(check, run_as, updates, durations));
    Some(Monitor { name, task })
}

/// Called with a check's name and the duration of each of its script runs.
pub type DurationObserver = Arc<dyn Fn(&str, Duration) + Send + Sync>;

async fn run_loop(
    check: Check,
    run_as: Arc<RunAs>,
    updates: UnboundedSender<CheckUpdate>,
    durations: Option<DurationObserver>,
) {
    let mut start = Instant::now();
    let mut hysteresis = Hysteresis::new(check.rise, check.fall);
    let mut good_value = 0;
    let mut sent: Option<(bool, i64)> = None;
    loop {
        let run = run_once(&check, &run_as).await;
        if let (Some(observe), Some(took)) = (&durations, run.duration) {
            observe(&check.name, took);
        }
        start = next_start(start, check.interval, Instant::now());
        let sleep = tokio::time::sleep_until(start);
        tracing::debug!(check = %check.name, ok = run.ok, "check run: {}", run.detail);
        if let (true, Some(value)) = (run.ok, run.value) {
            good_value = value;
        }
        hysteresis.observe(run.ok);
        let Some(up) = hysteresis.state() else {
            sleep.await;
            continue;
        };
        let value = if up { good_value } else { 0 };
        if sent == Some((up, value)) {
            sleep.await;
            continue;
        }
        if sent.map(|(was_up, _)| was_up) != Some(up) {
            let state = if up { "up" } else { "down" };
            tracing::info!(check = %check.name, up, "check {} is {state}: {}", check.name, run.detail);
        } else {
            tracing::info!(check = %check.name, value, "check {} now reads {value}", check.name);
        }
        sent = Some((up, value));
        let update = CheckUpdate {
            check: check.name.clone(),
            up,
            value,
            detail: run.detail,
            last_output: run.last_output,
        };
        if updates.send(update).is_err() {
            // Nobody listens any more: the daemon is stopping.
            return;
        }
        sleep.await;
    }
}

/// The start after the run that started at `previous`: one `interval` later,
/// or, when the run overran that, the first step of the `interval` grid after
/// `now`, so an overrunning check keeps its rhythm instead of running back to back.
fn next_start(previous: Instant, interval: Duration, now: Instant) -> Instant {
    let next = previous + interval;
    if next >= now || interval.is_zero() {
        return next;
    }
    let behind = now.duration_since(previous).as_nanos();
    let step = interval.as_nanos();
    let steps = u32::try_from(behind / step + 1).unwrap_or(u32::MAX);
    previous + interval.saturating_mul(steps)
}

/// One run's raw result, before rise/fall.
struct Run {
    ok: bool,
    /// The integer read by a `file` check.
    value: Option<i64>,
    detail: String,
    last_output: Option<String>,
    /// How long a script ran (scripts only).
    duration: Option<Duration>,
}

impl Run {
    fn probe(probe: native::Probe) -> Run {
        Run {
            ok: probe.ok,
            value: None,
            detail: probe.detail,
            last_output: None,
            duration: None,
        }
    }
}

async fn run_once(check: &Check, run_as: &RunAs) -> Run {
    let timeout = check.timeout;
    match &check.kind {
        CheckKind::Script(command) => {
            let env = [("TWINSTAR_CHECK".to_owned(), check.name.clone())];
            let outcome = process::run(command, &[], &env, run_as, timeout).await;
            Run {
                ok: outcome.result.is_success(),
                value: None,
                detail: format!("{} after {}", outcome.result, millis(outcome.duration)),
                last_output: outcome.last_line,
                duration: Some(outcome.duration),
            }
        }
        CheckKind::File(path) => {
            let path = path.clone();
            match blocking(timeout, move || read_track_file(&path)).await {
                Ok(Ok(value)) => Run {
                    ok: true,
                    value: Some(value),
                    detail: format!("reads {value}"),
                    last_output: None,
                    duration: None,
                },
                Ok(Err(detail)) | Err(detail) => Run {
                    ok: false,
                    value: None,
                    detail,
                    last_output: None,
                    duration: None,
                },
            }
        }
        CheckKind::Process { name, min, max } => {
            let wanted = match max {
                Some(max) => format!("{min}..={max}"),
                None => format!("at least {min}"),
            };
            let name = name.clone();
            match blocking(timeout, move || count_processes(&name)).await {
                Ok(count) => {
                    let count = u32::try_from(count).unwrap_or(u32::MAX);
                    Run {
                        ok: count >= *min && max.is_none_or(|max| count <= max),
                        value: None,
                        detail: format!("{count} running, want {wanted}"),
                        last_output: None,
                        duration: None,
                    }
                }
                Err(detail) => Run {
                    ok: false,
                    value: None,
                    detail,
                    last_output: None,
                    duration: None,
                },
            }
        }
        CheckKind::Tcp(addr) => Run::probe(native::tcp(*addr, timeout).await),
        CheckKind::Http(http) => Run::probe(native::http(http, timeout).await),
        CheckKind::Ping(addr) => Run::probe(native::ping(*addr, timeout).await),
        CheckKind::Interface(name) => Run {
            ok: false,
            value: None,
            detail: format!("interface {name} is followed by link events, not polled"),
            last_output: None,
            duration: None,
        },
    }
}

/// Runs a blocking read on the blocking pool, bounded by `timeout` (a read
/// stuck in the kernel is abandoned, not waited for).
async fn blocking<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("the read failed: {e}")),
        Err(_) => Err(format!("no answer within {}", format_duration(timeout))),
    }
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod schedule_tests {
    use super::*;

    #[test]
    fn next_start_keeps_the_grid() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(next_start(t0, ms(100), t0 + ms(30)), t0 + ms(100));
        assert_eq!(next_start(t0, ms(100), t0 + ms(100)), t0 + ms(100));
        assert_eq!(next_start(t0, ms(100), t0 + ms(175)), t0 + ms(200));
        assert_eq!(next_start(t0, ms(100), t0 + ms(350)), t0 + ms(400));
    }
}
