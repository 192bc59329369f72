//! The daemon's side of tracked objects: it starts one monitor per configured
//! check, follows link events for `interface` checks, and keeps the latest
//! state of every check for health assessment and status.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tracing::info;

use super::health::CheckState;
use crate::config::{Check, CheckKind, Config};
use crate::control::status::CheckStatus;
use crate::notify::record::CheckEvent;
use crate::platform::netlink::Netlink;
use crate::track::monitor::{self, CheckUpdate, DurationObserver, Monitor};
use crate::track::run_as::RunAs;

/// Every check's monitor and latest state.
pub struct Tracking {
    /// Latest state per check name.
    pub states: HashMap<String, CheckState>,
    /// The checks as configured, by name.
    checks: HashMap<String, Check>,
    monitors: HashMap<String, Monitor>,
    updates_tx: mpsc::UnboundedSender<CheckUpdate>,
    /// Results from the monitors, for the event loop.
    pub updates_rx: mpsc::UnboundedReceiver<CheckUpdate>,
    run_as: Arc<RunAs>,
    durations: DurationObserver,
}

impl Tracking {
    /// No checks yet; scripts will run as `run_as`; `durations` hears how
    /// long every check script ran.
    pub fn new(run_as: Arc<RunAs>, durations: DurationObserver) -> Self {
        let (updates_tx, updates_rx) = mpsc::unbounded_channel();
        Tracking {
            states: HashMap::new(),
            checks: HashMap::new(),
            monitors: HashMap::new(),
            updates_tx,
            updates_rx,
            run_as,
            durations,
        }
    }

    /// The identity scripts and hooks run as.
    pub fn run_as(&self) -> Arc<RunAs> {
        self.run_as.clone()
    }

    /// Brings the monitors in line with `config`: unchanged checks keep running
    /// and keep their state; changed ones restart; removed ones stop. A new
    /// `run_as` (changed `script_user`) restarts every script check.
    pub async fn configure(&mut self, config: &Config, run_as: Arc<RunAs>, netlink: &Netlink) {
        let user_changed = *run_as != *self.run_as;
        self.run_as = run_as;
        let wanted: HashMap<String, Check> = config
            .checks
            .iter()
            .map(|c| (c.name.clone(), c.clone()))
            .collect();
        self.checks.retain(|name, check| {
            let keep = wanted.get(name) == Some(check)
                && !(user_changed && matches!(check.kind, CheckKind::Script(_)));
            if !keep {
                self.monitors.remove(name);
                self.states.remove(name);
            }
            keep
        });
        for (name, check) in wanted {
            if self.checks.contains_key(&name) {
                continue;
            }
            if let CheckKind::Interface(ifname) = &check.kind {
                let up = match netlink.link_by_name(ifname).await {
                    Ok(link) => link.up && link.carrier,
                    Err(_) => false,
                };
                self.set(&name, up, 0, link_detail(ifname, up), None, Instant::now());
            } else if let Some(monitor) = monitor::spawn(
                check.clone(),
                self.run_as.clone(),
                self.updates_tx.clone(),
                Some(self.durations.clone()),
            ) {
                self.monitors.insert(name.clone(), monitor);
            }
            self.checks.insert(name, check);
        }
    }

    /// Records a monitor's result; returns the event to publish if anything changed.
    pub fn on_update(&mut self, update: CheckUpdate, now: Instant) -> Option<CheckEvent> {
        if !self.checks.contains_key(&update.check) {
            return None; // From a monitor stopped by a reload.
        }
        self.set(
            &update.check,
            update.up,
            update.value,
            update.detail,
            update.last_output,
            now,
        )
    }

    /// Follows a link event for `interface` checks; returns events for changes.
    pub fn on_link(&mut self, ifname: &str, up: bool, now: Instant) -> Vec<CheckEvent> {
        let names: Vec<String> = self
            .checks
            .values()
            .filter(|c| matches!(&c.kind, CheckKind::Interface(i) if i == ifname))
            .map(|c| c.name.clone())
            .collect();
        names
            .iter()
            .filter_map(|name| self.set(name, up, 0, link_detail(ifname, up), None, now))
            .collect()
    }

    fn set(
        &mut self,
        name: &str,
        up: bool,
        value: i64,
        detail: String,
        last_output: Option<String>,
        now: Instant,
    ) -> Option<CheckEvent> {
        let state = self.states.entry(name.to_owned()).or_default();
        let changed = state.up != Some(up) || state.value != value;
        if changed {
            state.since = Some(now);
            info!(check = name, up, value, detail = %detail, "check changed");
        }
        state.up = Some(up);
        state.value = value;
        state.detail = detail;
        if last_output.is_some() {
            state.last_output = last_output;
        }
        changed.then(|| CheckEvent {
            check: name.to_owned(),
            up,
            value,
            detail: state.detail.clone(),
            output: state.last_output.clone(),
        })
    }

    /// Status of every check: kind, target, result, last output, age of the result.
    pub fn status(&self, now: Instant) -> Vec<CheckStatus> {
        let mut names: Vec<&String> = self.checks.keys().collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let check = &self.checks[name];
                let state = self.states.get(name).cloned().unwrap_or_default();
                CheckStatus {
                    name: name.clone(),
                    kind: check.kind.key().to_owned(),
                    target: target(&check.kind),
                    up: state.up,
                    value: state.value,
                    detail: state.detail,
                    last_output: state.last_output,
                    since_change_ms: state
                        .since
                        .map(|t| now.saturating_duration_since(t).as_millis() as u64),
                }
            })
            .collect()
    }
}

fn link_detail(ifname: &str, up: bool) -> String {
    if up {
        format!("{ifname} has carrier")
    } else {
        format!("{ifname} is down or missing")
    }
}

/// What a check looks at, for status output.
fn target(kind: &CheckKind) -> String {
    match kind {
        CheckKind::Script(command) => command.to_string(),
        CheckKind::Interface(name) => name.clone(),
        CheckKind::File(path) => path.display().to_string(),
        CheckKind::Process { name, .. } => name.clone(),
        CheckKind::Tcp(addr) => addr.to_string(),
        CheckKind::Http(http) => http.url.clone(),
        CheckKind::Ping(addr) => addr.to_string(),
    }
}
