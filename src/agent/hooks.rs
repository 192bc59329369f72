//! The hook queue of one instance (or sync group), as data: transition hooks
//! run in transition order, one at a time, and those that depend on the
//! virtual IPs wait for the address worker — `on_master` until the addresses
//! are on, `after_backup` until they are off. `before_master`, which gates the
//! addresses, has a lane of its own so that it never waits behind a slow
//! `on_change`.
//!
//! The queue is bounded ([`QUEUED_HOOKS_BOUND`]): when the state flaps faster
//! than hooks run, only the latest transition's hooks are kept; those of
//! superseded transitions that have not started are dropped and reported
//! ([`Step::Superseded`]), so a flapping instance never builds a backlog of
//! hooks that describe states long gone.
//!
//! The queue decides what runs next; the daemon runs it ([`HookRun`]) and
//! reports back with [`super::Input::HookFinished`]. Address jobs are numbered
//! per instance and done in order, so "the addresses are on" is simply "the
//! worker has finished job `seq`".

use std::collections::VecDeque;

use crate::config::{Hook, Hooks};
use crate::notify::record::HookKind;
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
    /// For `fence`: the silent Master's address, passed as a fifth argument
    /// and as `TWINSTAR_MASTER`; `None` for the other hooks.
    pub peer: Option<std::net::IpAddr>,
}

impl TransitionArgs {
    /// The hook's arguments: `INSTANCE NEW_STATE OLD_STATE PRIORITY`.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec![
            self.name.clone(),
            self.to.as_str().to_owned(),
            self.from.as_str().to_owned(),
            self.priority.to_string(),
        ];
        argv.extend(self.peer.map(|p| p.to_string()));
        argv
    }

    /// The same values as `TWINSTAR_*` environment variables.
    pub fn env(&self) -> Vec<(String, String)> {
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
        if let Some(peer) = self.peer {
            env.push(("TWINSTAR_MASTER".to_owned(), peer.to_string()));
        }
        env
    }
}

/// Names one run of a hook, so that its report finds its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HookRunId(pub u64);

/// A hook the daemon must run now, as `script_user`, bounded by its timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    /// Quote this in [`super::Input::HookFinished`].
    pub id: HookRunId,
    /// Which hook.
    pub kind: HookKind,
    /// The command and its timeout.
    pub hook: Hook,
    /// The transition it belongs to.
    pub args: TransitionArgs,
}

/// What the hooks of one transition wait for before they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Nothing: run when their turn comes.
    Open,
    /// The address worker's job `seq` (and all before it).
    Addresses(u64),
    /// Entering Master: the add has not been queued yet (`before_master` runs).
    AwaitAdd,
    /// Leaving Master by a handover: the removal waits for the new Master.
    AwaitRemoval,
    /// The addresses never came on: skip these hooks (reported as skipped).
    Skip,
    /// Master again before a handover removed the addresses: they were never
    /// off, so `after_backup` is skipped; the other hooks run.
    Kept,
}

/// The hooks of one transition, in order, once the gate opens.
#[derive(Debug)]
struct TransitionJob {
    args: TransitionArgs,
    hooks: VecDeque<(HookKind, Hook)>,
    gate: Gate,
}

/// `before_master` for Master term `term`; its result decides the VIPs.
#[derive(Debug)]
struct BeforeMasterJob {
    args: TransitionArgs,
    hook: Hook,
    term: u64,
}

/// The hook that is running now.
#[derive(Debug, Clone)]
struct Running {
    id: HookRunId,
    kind: HookKind,
    args: TransitionArgs,
    term: u64,
}

/// What the queue did when pumped: a hook to start, or one it let go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start this run.
    Run(HookRun),
    /// This hook was skipped: the addresses it depends on never came on.
    Skipped {
        /// The transition.
        args: TransitionArgs,
        /// The hook.
        kind: HookKind,
    },
    /// This hook was dropped before it started: a later transition made its
    /// own obsolete (the state flapped while hooks were queued).
    Superseded {
        /// The superseded transition.
        args: TransitionArgs,
        /// The hook.
        kind: HookKind,
        /// How many hooks this queue has dropped so far, this one included.
        total: u64,
    },
}

/// A hook run that finished, as the queue knew it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Which hook.
    pub kind: HookKind,
    /// Its transition.
    pub args: TransitionArgs,
    /// For `before_master`, the Master term it ran for.
    pub term: u64,
}

/// The most hooks a queue holds waiting (not running): the hooks of one
/// transition (`after_backup`, the state's hook, `on_change`) and one
/// `before_master`. Coalescing keeps it there however fast the state flaps:
/// a new transition drops what earlier ones still had queued, and a new
/// Master term drops a `before_master` of an older term not yet started.
pub const QUEUED_HOOKS_BOUND: usize = 4;

/// The hooks of one instance or group and their queue.
///
/// Two lanes: the transition hooks, one at a time in transition order, and
/// `before_master`, which gates the virtual IPs and so never waits behind a
/// slow `on_change` or `on_backup` of an earlier transition.
#[derive(Debug, Default)]
pub struct HookQueue {
    /// What is queued or running; `None` while idle, which is nearly
    /// always (and always for an instance with no hooks): inline, the
    /// lanes made every instance 72 bytes larger.
    lanes: Option<Box<Lanes>>,
    /// Hooks dropped over the queue's life.
    superseded_total: u64,
}

/// The lanes of a [`HookQueue`] that has something queued or running.
#[derive(Debug, Default)]
struct Lanes {
    /// Transition hooks waiting: only the latest transition's, and the rest
    /// of the one whose hook is running until a newer transition arrives.
    jobs: VecDeque<TransitionJob>,
    /// The `before_master` waiting to run: the newest term's only. Boxed,
    /// as are the running hooks: they are rare, and inline they made every
    /// instance's queue some 220 bytes larger, hooks configured or not.
    before_master: Option<Box<BeforeMasterJob>>,
    /// The transition hook running now.
    running: Option<Box<Running>>,
    /// The `before_master` running now.
    running_before_master: Option<Box<Running>>,
    /// Hooks dropped since the last pump, reported by the next one.
    superseded: Vec<(TransitionArgs, HookKind)>,
}

impl HookQueue {
    /// True when nothing is queued or running.
    pub fn is_idle(&self) -> bool {
        self.lanes.as_ref().is_none_or(|lanes| lanes.is_idle())
    }

    /// Whether run `id` is this queue's.
    pub fn is_running(&self, id: HookRunId) -> bool {
        self.lanes
            .as_ref()
            .is_some_and(|lanes| lanes.is_running(id))
    }

    /// How many hooks wait to run (not counting those running); never more
    /// than [`QUEUED_HOOKS_BOUND`].
    pub fn queued(&self) -> usize {
        self.lanes.as_ref().map_or(0, |lanes| lanes.queued())
    }

    /// Queues the hooks of a transition behind `gate`: `after_backup` when
    /// leaving Master, then the hook of the state entered, then `on_change`.
    /// Whatever earlier transitions still had queued is dropped: only the
    /// latest transition's hooks matter (the one running finishes).
    ///
    /// `hooks` are the owner's configured hooks, passed in rather than
    /// copied into every queue: a copy made each instance some 0.7 KiB
    /// larger.
    pub fn transition(&mut self, hooks: &Hooks, args: TransitionArgs, gate: Gate) {
        if let Some(lanes) = &mut self.lanes {
            lanes.supersede_transitions();
        }
        let hooks = transition_hooks(hooks, &args);
        if !hooks.is_empty() {
            self.lanes_mut()
                .jobs
                .push_back(TransitionJob { args, hooks, gate });
        }
        self.let_go_if_idle();
    }

    /// Queues `before_master` for Master term `term`; false when none is
    /// configured. A `before_master` of an older term that has not started
    /// is dropped: its term is over.
    pub fn before_master(&mut self, hooks: &Hooks, args: TransitionArgs, term: u64) -> bool {
        let Some(hook) = hooks.before_master.clone() else {
            return false;
        };
        self.lanes_mut()
            .before_master(BeforeMasterJob { args, hook, term });
        true
    }

    /// Replaces every gate `from` with `to` (an add or removal was queued,
    /// abandoned or made unnecessary).
    pub fn resolve(&mut self, from: Gate, to: Gate) {
        if let Some(lanes) = &mut self.lanes {
            lanes.resolve(from, to);
        }
    }

    /// Drops, without running them, the hooks of transitions still waiting
    /// at gate `gate`; returns how many hooks went. For a handover that nobody
    /// took up: its router is Master again with the addresses never removed,
    /// so the hooks of leaving Master describe something that did not happen.
    pub fn withdraw(&mut self, gate: Gate) -> usize {
        let dropped = self.lanes.as_mut().map_or(0, |lanes| lanes.withdraw(gate));
        self.let_go_if_idle();
        dropped
    }

    /// Starts what may start (`done` is the last address job finished):
    /// reports dropped hooks, starts `before_master` when none runs, and the
    /// front transition's next hook when no transition hook runs and its
    /// gate is open.
    pub fn pump(&mut self, done: u64, next_run: &mut u64) -> Vec<Step> {
        // Nothing waits: the common case, asked after every input of every
        // instance, so it must cost no more than this check.
        let Some(lanes) = &mut self.lanes else {
            return Vec::new();
        };
        let steps = lanes.pump(done, next_run, &mut self.superseded_total);
        self.let_go_if_idle();
        steps
    }

    /// Run `id` finished; the next may start (call [`pump`](Self::pump)).
    pub fn finished(&mut self, id: HookRunId) -> Option<Finished> {
        let finished = self.lanes.as_mut()?.finished(id);
        self.let_go_if_idle();
        finished
    }

    fn lanes_mut(&mut self) -> &mut Lanes {
        self.lanes.get_or_insert_with(Box::default)
    }

    fn let_go_if_idle(&mut self) {
        if self.is_idle() {
            self.lanes = None;
        }
    }
}

/// The configured hooks a transition runs, in order: `after_backup` when
/// leaving Master, then the hook of the state entered, then `on_change`.
fn transition_hooks(h: &Hooks, args: &TransitionArgs) -> VecDeque<(HookKind, Hook)> {
    let mut hooks = VecDeque::new();
    let mut add = |kind: HookKind, hook: &Option<Hook>| {
        if let Some(hook) = hook {
            hooks.push_back((kind, hook.clone()));
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
    hooks
}

impl Lanes {
    /// See [`HookQueue::is_idle`].
    fn is_idle(&self) -> bool {
        self.jobs.is_empty()
            && self.before_master.is_none()
            && self.running.is_none()
            && self.running_before_master.is_none()
            && self.superseded.is_empty()
    }

    /// See [`HookQueue::is_running`].
    fn is_running(&self, id: HookRunId) -> bool {
        [&self.running, &self.running_before_master]
            .into_iter()
            .flatten()
            .any(|r| r.id == id)
    }

    /// See [`HookQueue::queued`].
    fn queued(&self) -> usize {
        self.jobs.iter().map(|j| j.hooks.len()).sum::<usize>()
            + usize::from(self.before_master.is_some())
    }

    /// Drops what earlier transitions still had queued, to be reported.
    fn supersede_transitions(&mut self) {
        for job in self.jobs.drain(..) {
            for (kind, _) in job.hooks {
                self.superseded.push((job.args.clone(), kind));
            }
        }
    }

    /// Queues `job`, dropping a `before_master` of an older term.
    fn before_master(&mut self, job: BeforeMasterJob) {
        if let Some(old) = self.before_master.replace(Box::new(job)) {
            self.superseded.push((old.args, HookKind::BeforeMaster));
        }
    }

    /// See [`HookQueue::resolve`].
    fn resolve(&mut self, from: Gate, to: Gate) {
        for job in &mut self.jobs {
            if job.gate == from {
                job.gate = to;
            }
        }
    }

    /// See [`HookQueue::withdraw`].
    fn withdraw(&mut self, gate: Gate) -> usize {
        let mut dropped = 0;
        self.jobs.retain(|job| {
            let waiting = job.gate == gate;
            if waiting {
                dropped += job.hooks.len();
            }
            !waiting
        });
        dropped
    }

    /// See [`HookQueue::pump`]; counts dropped hooks in `superseded_total`.
    fn pump(&mut self, done: u64, next_run: &mut u64, superseded_total: &mut u64) -> Vec<Step> {
        let mut steps = Vec::new();
        for (args, kind) in std::mem::take(&mut self.superseded) {
            *superseded_total += 1;
            steps.push(Step::Superseded {
                args,
                kind,
                total: *superseded_total,
            });
        }
        if self.running_before_master.is_none() {
            if let Some(job) = self.before_master.take() {
                let BeforeMasterJob { args, hook, term } = *job;
                let id = next_id(next_run);
                self.running_before_master = Some(Box::new(Running {
                    id,
                    kind: HookKind::BeforeMaster,
                    args: args.clone(),
                    term,
                }));
                steps.push(Step::Run(HookRun {
                    id,
                    kind: HookKind::BeforeMaster,
                    hook,
                    args,
                }));
            }
        }
        while self.running.is_none() {
            let Some(job) = self.jobs.front_mut() else {
                break;
            };
            let ready = match job.gate {
                Gate::Open | Gate::Skip | Gate::Kept => true,
                Gate::Addresses(seq) => done >= seq,
                Gate::AwaitAdd | Gate::AwaitRemoval => false,
            };
            if !ready {
                break;
            }
            let Some((kind, hook)) = job.hooks.pop_front() else {
                self.jobs.pop_front();
                continue;
            };
            let args = job.args.clone();
            let skip =
                job.gate == Gate::Skip || (job.gate == Gate::Kept && kind == HookKind::AfterBackup);
            if job.hooks.is_empty() {
                // Its last hook: the job is done once that one is.
                self.jobs.pop_front();
            }
            if skip {
                steps.push(Step::Skipped { args, kind });
                continue;
            }
            let id = next_id(next_run);
            self.running = Some(Box::new(Running {
                id,
                kind,
                args: args.clone(),
                term: 0,
            }));
            steps.push(Step::Run(HookRun {
                id,
                kind,
                hook,
                args,
            }));
        }
        steps
    }

    /// See [`HookQueue::finished`].
    fn finished(&mut self, id: HookRunId) -> Option<Finished> {
        let lane = if self.running.as_ref().is_some_and(|r| r.id == id) {
            &mut self.running
        } else if self
            .running_before_master
            .as_ref()
            .is_some_and(|r| r.id == id)
        {
            &mut self.running_before_master
        } else {
            return None;
        };
        let running = lane.take()?;
        Some(Finished {
            kind: running.kind,
            args: running.args,
            term: running.term,
        })
    }
}

fn next_id(counter: &mut u64) -> HookRunId {
    *counter += 1;
    HookRunId(*counter)
}

#[cfg(test)]
mod tests;
