//! The daemon's side of tracked objects: one monitor per configured check
//! (except `interface` checks, which follow link events in the agent). Their
//! results go to the event loop as [`Input::Check`].

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::agent::Input;
use crate::config::{Check, CheckKind, Config};
use crate::track::monitor::{self, CheckUpdate, DurationObserver, Monitor};
use crate::track::run_as::RunAs;

/// Every running check monitor.
pub struct Monitors {
    running: HashMap<String, (Check, Monitor)>,
    updates: mpsc::UnboundedSender<CheckUpdate>,
    run_as: Arc<RunAs>,
    durations: Option<DurationObserver>,
}

impl Monitors {
    /// No monitors yet; results go to `inputs`, scripts run as `run_as`, and
    /// `durations`, if given, hears how long every check script ran.
    pub fn new(
        inputs: mpsc::UnboundedSender<Input>,
        run_as: Arc<RunAs>,
        durations: Option<DurationObserver>,
    ) -> Self {
        let (updates, mut rx) = mpsc::unbounded_channel::<CheckUpdate>();
        tokio::spawn(async move {
            while let Some(update) = rx.recv().await {
                if inputs.send(Input::Check(update)).is_err() {
                    return;
                }
            }
        });
        Monitors {
            running: HashMap::new(),
            updates,
            run_as,
            durations,
        }
    }

    /// The identity scripts and hooks run as.
    pub fn run_as(&self) -> Arc<RunAs> {
        self.run_as.clone()
    }

    /// Brings the monitors in line with `config`: unchanged checks keep
    /// running; changed ones restart; removed ones stop. A new `run_as`
    /// (changed `script_user`) restarts every script check.
    pub fn configure(&mut self, config: &Config, run_as: Arc<RunAs>) {
        let user_changed = *run_as != *self.run_as;
        self.run_as = run_as;
        let wanted: HashMap<&str, &Check> =
            config.checks.iter().map(|c| (c.name.as_str(), c)).collect();
        self.running.retain(|name, (check, _)| {
            wanted.get(name.as_str()) == Some(&&*check)
                && !(user_changed && matches!(check.kind, CheckKind::Script(_)))
        });
        for (name, check) in wanted {
            if self.running.contains_key(name) || matches!(check.kind, CheckKind::Interface(_)) {
                continue;
            }
            if let Some(monitor) = monitor::spawn(
                check.clone(),
                self.run_as.clone(),
                self.updates.clone(),
                self.durations.clone(),
            ) {
                self.running
                    .insert(name.to_owned(), (check.clone(), monitor));
            }
        }
    }
}
