//! systemd integration (`Type=notify`): readiness once the sockets are bound
//! and the configuration applied, `RELOADING=1` around reloads, a one-line
//! `STATUS=`, and watchdog keep-alives when `WatchdogSec=` is set.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::debug;

/// The watchdog timeout systemd asked for, as `sd_watchdog_enabled(3)` reads
/// it: `WATCHDOG_USEC`, meant for us unless `WATCHDOG_PID` names another
/// process. (The sd-notify crate also rejects an unset `WATCHDOG_PID`, which
/// libsystemd accepts.)
fn watchdog_timeout() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// Sends notifications to the service manager, if there is one.
pub struct Notifier {
    enabled: bool,
    last_status: String,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` from the environment.
    pub fn from_env() -> Self {
        let watchdog = watchdog_timeout().map(|t| t / 2).filter(|d| !d.is_zero());
        Notifier {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
            last_status: String::new(),
            watchdog,
        }
    }

    /// How often to send keep-alives: half the watchdog timeout, if enabled.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// The agent is up: sockets bound, configuration applied.
    pub fn ready(&mut self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
        self.last_status = status.to_owned();
    }

    /// A reload starts.
    pub fn reloading(&self) {
        let mut states = vec![NotifyState::Reloading];
        if let Ok(now) = NotifyState::monotonic_usec_now() {
            states.push(now);
        }
        self.send(&states);
    }

    /// Updates the one-line status if it changed.
    pub fn status(&mut self, status: &str) {
        if status != self.last_status {
            self.send(&[NotifyState::Status(status)]);
            self.last_status = status.to_owned();
        }
    }

    /// The agent is stopping.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// Watchdog keep-alive.
    pub fn keep_alive(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    fn send(&self, states: &[NotifyState]) {
        if !self.enabled {
            return;
        }
        if let Err(e) = sd_notify::notify(false, states) {
            debug!("sd_notify failed: {e}");
        }
    }
}
