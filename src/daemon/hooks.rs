//! Notify hooks: one worker per instance (and per sync group) runs them strictly
//! in transition order, one at a time, each bounded by its timeout.
//!
//! The worker is a task of its own, so a slow hook delays the next hook and never
//! the protocol. Hooks that depend on the virtual IPs wait for the address worker
//! to confirm (a `oneshot` it completes in queue order): `on_master` runs once the
//! addresses are on, `after_backup` once they are off.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{Hook, Hooks};
use crate::track::process::{self, ScriptOutcome};
use crate::track::run_as::RunAs;
use crate::vrrp::State;

/// What a hook is told about the transition, as arguments and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionArgs {
    /// The instance (or sync group) name.
    pub name: String,
    /// Whether `name` is a sync group.
    pub group: bool,
    /// The state entered.
    pub to: State,
    /// The state left.
    pub from: State,
    /// The effective priority at the transition.
    pub priority: u8,
}

impl TransitionArgs {
    fn argv(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.to.as_str().to_owned(),
            self.from.as_str().to_owned(),
            self.priority.to_string(),
        ]
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("TWINSTAR_INSTANCE".to_owned(), self.name.clone()),
            ("TWINSTAR_STATE".to_owned(), self.to.as_str().to_owned()),
            (
                "TWINSTAR_OLD_STATE".to_owned(),
                self.from.as_str().to_owned(),
            ),
            ("TWINSTAR_PRIORITY".to_owned(), self.priority.to_string()),
        ];
        if self.group {
            env.push(("TWINSTAR_GROUP".to_owned(), self.name.clone()));
        }
        env
    }
}

/// Which hook ran; defined with the event records, whose `hook` field it is.
pub use crate::notify::record::HookKind;

/// A hook that ran (or was skipped), reported back to the event loop.
#[derive(Debug)]
pub struct HookReport {
    /// The transition it belonged to.
    pub args: TransitionArgs,
    /// Which hook.
    pub kind: HookKind,
    /// How it went; `None` when skipped because the addresses never came on.
    pub outcome: Option<ScriptOutcome>,
    /// For `before_master`: the Master term it was run for (see `InstanceRuntime`).
    pub term: u64,
}

/// One queued unit of work.
enum Job {
    /// The hooks of one transition, in order, once `after` completes (if given).
    Transition {
        args: TransitionArgs,
        hooks: Vec<(HookKind, Hook)>,
        after: Option<Gate>,
    },
    /// `before_master` for Master term `term`; its report decides the VIPs.
    BeforeMaster {
        args: TransitionArgs,
        hook: Hook,
        term: u64,
    },
}

/// Waits for the address worker before running hooks.
pub struct Gate {
    done: oneshot::Receiver<()>,
    /// Run anyway when the gate is dropped unfulfilled (leaving Master: the
    /// addresses are as off as they will get), or skip (entering Master: the
    /// addresses never came on).
    run_if_abandoned: bool,
}

impl Gate {
    /// A gate opened by completing the returned sender.
    pub fn new(run_if_abandoned: bool) -> (oneshot::Sender<()>, Gate) {
        let (tx, done) = oneshot::channel();
        (
            tx,
            Gate {
                done,
                run_if_abandoned,
            },
        )
    }
}

/// The queue of one instance's (or group's) hook worker.
pub struct HookQueue {
    /// `None` when no hook is configured: no worker task at all.
    worker: Option<(mpsc::UnboundedSender<Job>, JoinHandle<()>)>,
    hooks: Hooks,
    run_as: Arc<RunAs>,
    reports: mpsc::UnboundedSender<HookReport>,
}

impl HookQueue {
    /// Starts a worker for `hooks`; reports go to `reports`.
    pub fn spawn(
        hooks: Hooks,
        run_as: Arc<RunAs>,
        reports: mpsc::UnboundedSender<HookReport>,
    ) -> Self {
        let mut queue = HookQueue {
            worker: None,
            hooks: Hooks::default(),
            run_as,
            reports,
        };
        queue.set_hooks(hooks);
        queue
    }

    /// Sends a job to the worker, starting it on first use.
    fn send(&mut self, job: Job) {
        let (jobs, _) = self.worker.get_or_insert_with(|| {
            let (jobs, rx) = mpsc::unbounded_channel();
            let worker = tokio::spawn(work(rx, self.run_as.clone(), self.reports.clone()));
            (jobs, worker)
        });
        let _ = jobs.send(job);
    }

    /// The configured hooks.
    pub fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    /// New hooks from a reload, for transitions from now on.
    pub fn set_hooks(&mut self, hooks: Hooks) {
        self.hooks = hooks;
    }

    /// Whether any hook is configured (a worker only runs then).
    fn any(&self) -> bool {
        let h = &self.hooks;
        [
            &h.on_master,
            &h.on_backup,
            &h.on_fault,
            &h.on_stop,
            &h.on_change,
            &h.before_master,
            &h.after_backup,
        ]
        .iter()
        .any(|hook| hook.is_some())
    }

    /// Queues the hooks of a transition. `after` gates them on the address worker.
    pub fn transition(&mut self, args: TransitionArgs, after: Option<Gate>) {
        if !self.any() {
            return;
        }
        let h = &self.hooks;
        let mut hooks = Vec::new();
        let mut add = |kind: HookKind, hook: &Option<Hook>| {
            if let Some(hook) = hook {
                hooks.push((kind, hook.clone()));
            }
        };
        if args.from == State::Master {
            add(HookKind::AfterBackup, &h.after_backup);
        }
        match args.to {
            State::Master => add(HookKind::OnMaster, &h.on_master),
            State::Backup => add(HookKind::OnBackup, &h.on_backup),
            State::Fault => add(HookKind::OnFault, &h.on_fault),
            State::Initialize => add(HookKind::OnStop, &h.on_stop),
        }
        add(HookKind::OnChange, &h.on_change);
        if !hooks.is_empty() {
            self.send(Job::Transition { args, hooks, after });
        }
    }

    /// Queues `before_master` for Master term `term`; false when none is configured.
    pub fn before_master(&mut self, args: TransitionArgs, term: u64) -> bool {
        let Some(hook) = self.hooks.before_master.clone() else {
            return false;
        };
        self.send(Job::BeforeMaster { args, hook, term });
        true
    }

    /// Closes the queue and waits (up to `limit`) for queued hooks to finish.
    pub async fn finish(self, limit: Duration) {
        let Some((jobs, worker)) = self.worker else {
            return;
        };
        drop(jobs);
        let abort = worker.abort_handle();
        if tokio::time::timeout(limit, worker).await.is_err() {
            warn!("hooks still running after {limit:?}; abandoning them");
            abort.abort();
        }
    }
}

async fn work(
    mut jobs: mpsc::UnboundedReceiver<Job>,
    run_as: Arc<RunAs>,
    reports: mpsc::UnboundedSender<HookReport>,
) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Transition { args, hooks, after } => {
                let run = match after {
                    None => true,
                    Some(gate) => gate.done.await.is_ok() || gate.run_if_abandoned,
                };
                for (kind, hook) in hooks {
                    let outcome = if run {
                        Some(run_hook(&args, kind, &hook, &run_as).await)
                    } else {
                        info!(name = %args.name, hook = kind.as_str(), "skipped: the virtual IPs never came on");
                        None
                    };
                    let report = HookReport {
                        args: args.clone(),
                        kind,
                        outcome,
                        term: 0,
                    };
                    let _ = reports.send(report);
                }
            }
            Job::BeforeMaster { args, hook, term } => {
                let outcome = run_hook(&args, HookKind::BeforeMaster, &hook, &run_as).await;
                let report = HookReport {
                    args,
                    kind: HookKind::BeforeMaster,
                    outcome: Some(outcome),
                    term,
                };
                let _ = reports.send(report);
            }
        }
    }
}

async fn run_hook(
    args: &TransitionArgs,
    kind: HookKind,
    hook: &Hook,
    run_as: &RunAs,
) -> ScriptOutcome {
    let outcome = process::run(
        &hook.command,
        &args.argv(),
        &args.env(),
        run_as,
        hook.timeout,
    )
    .await;
    if outcome.result.is_success() {
        info!(name = %args.name, hook = kind.as_str(), duration = ?outcome.duration, "hook done");
    } else {
        warn!(
            name = %args.name,
            hook = kind.as_str(),
            command = %hook.command,
            "hook failed: {:?}{}",
            outcome.result,
            outcome.last_line.as_deref().map(|l| format!(" ({l})")).unwrap_or_default()
        );
    }
    outcome
}
