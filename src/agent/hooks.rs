//! The hook queue of one instance (or sync group), as data: hooks run strictly
//! in transition order, one at a time, and those that depend on the virtual IPs
//! wait for the address worker — `on_master` until the addresses are on,
//! `after_backup` until they are off.
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
}

impl TransitionArgs {
    /// The hook's arguments: `INSTANCE NEW_STATE OLD_STATE PRIORITY`.
    pub fn argv(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.to.as_str().to_owned(),
            self.from.as_str().to_owned(),
            self.priority.to_string(),
        ]
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

/// One queued unit of work.
#[derive(Debug)]
enum Job {
    /// The hooks of one transition, in order, once the gate opens.
    Transition {
        args: TransitionArgs,
        hooks: VecDeque<(HookKind, Hook)>,
        gate: Gate,
    },
    /// `before_master` for Master term `term`; its result decides the VIPs.
    BeforeMaster {
        args: TransitionArgs,
        hook: Hook,
        term: u64,
    },
}

/// The hook that is running now.
#[derive(Debug, Clone)]
struct Running {
    id: HookRunId,
    kind: HookKind,
    args: TransitionArgs,
    term: u64,
}

/// What the queue did when pumped: a hook to start, or one it skipped.
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

/// The hooks of one instance or group and their queue.
#[derive(Debug, Default)]
pub struct HookQueue {
    hooks: Hooks,
    jobs: VecDeque<Job>,
    running: Option<Running>,
}

impl HookQueue {
    /// An empty queue for `hooks`.
    pub fn new(hooks: Hooks) -> Self {
        HookQueue {
            hooks,
            jobs: VecDeque::new(),
            running: None,
        }
    }

    /// The configured hooks.
    pub fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    /// New hooks from a reload, for transitions from now on.
    pub fn set_hooks(&mut self, hooks: Hooks) {
        self.hooks = hooks;
    }

    /// True when nothing is queued or running.
    pub fn is_idle(&self) -> bool {
        self.jobs.is_empty() && self.running.is_none()
    }

    /// Whether run `id` is this queue's.
    pub fn is_running(&self, id: HookRunId) -> bool {
        self.running.as_ref().is_some_and(|r| r.id == id)
    }

    /// Queues the hooks of a transition behind `gate`: `after_backup` when
    /// leaving Master, then the hook of the state entered, then `on_change`.
    pub fn transition(&mut self, args: TransitionArgs, gate: Gate) {
        let h = &self.hooks;
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
        if !hooks.is_empty() {
            self.jobs.push_back(Job::Transition { args, hooks, gate });
        }
    }

    /// Queues `before_master` for Master term `term`; false when none is configured.
    pub fn before_master(&mut self, args: TransitionArgs, term: u64) -> bool {
        let Some(hook) = self.hooks.before_master.clone() else {
            return false;
        };
        self.jobs.push_back(Job::BeforeMaster { args, hook, term });
        true
    }

    /// Replaces every gate `from` with `to` (an add or removal was queued,
    /// abandoned or made unnecessary).
    pub fn resolve(&mut self, from: Gate, to: Gate) {
        for job in &mut self.jobs {
            if let Job::Transition { gate, .. } = job {
                if *gate == from {
                    *gate = to;
                }
            }
        }
    }

    /// Starts what may start: the front job's next hook when nothing runs and
    /// its gate is open (`done` is the last address job finished).
    pub fn pump(&mut self, done: u64, next_run: &mut u64) -> Vec<Step> {
        let mut steps = Vec::new();
        while self.running.is_none() {
            let Some(job) = self.jobs.front_mut() else {
                break;
            };
            match job {
                Job::BeforeMaster { args, hook, term } => {
                    let id = next_id(next_run);
                    let run = HookRun {
                        id,
                        kind: HookKind::BeforeMaster,
                        hook: hook.clone(),
                        args: args.clone(),
                    };
                    self.running = Some(Running {
                        id,
                        kind: HookKind::BeforeMaster,
                        args: args.clone(),
                        term: *term,
                    });
                    self.jobs.pop_front();
                    steps.push(Step::Run(run));
                }
                Job::Transition { args, hooks, gate } => {
                    let ready = match *gate {
                        Gate::Open | Gate::Skip | Gate::Kept => true,
                        Gate::Addresses(seq) => done >= seq,
                        Gate::AwaitAdd | Gate::AwaitRemoval => false,
                    };
                    if !ready {
                        break;
                    }
                    let Some((kind, hook)) = hooks.pop_front() else {
                        self.jobs.pop_front();
                        continue;
                    };
                    if *gate == Gate::Skip || (*gate == Gate::Kept && kind == HookKind::AfterBackup)
                    {
                        steps.push(Step::Skipped {
                            args: args.clone(),
                            kind,
                        });
                        continue;
                    }
                    let id = next_id(next_run);
                    self.running = Some(Running {
                        id,
                        kind,
                        args: args.clone(),
                        term: 0,
                    });
                    steps.push(Step::Run(HookRun {
                        id,
                        kind,
                        hook,
                        args: args.clone(),
                    }));
                }
            }
        }
        steps
    }

    /// Run `id` finished; the next may start (call [`pump`](Self::pump)).
    pub fn finished(&mut self, id: HookRunId) -> Option<Finished> {
        if !self.is_running(id) {
            return None;
        }
        let running = self.running.take()?;
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
mod tests {
    use super::*;
    use crate::config::Command;
    use std::time::Duration;

    fn hook(name: &str) -> Option<Hook> {
        Some(Hook {
            command: Command::Shell(name.to_owned()),
            timeout: Duration::from_secs(1),
        })
    }

    fn args(from: State, to: State) -> TransitionArgs {
        TransitionArgs {
            name: "web".into(),
            group: false,
            to,
            from,
            priority: 100,
        }
    }

    fn all_hooks() -> Hooks {
        Hooks {
            on_master: hook("m"),
            on_backup: hook("b"),
            on_change: hook("c"),
            after_backup: hook("ab"),
            before_master: hook("bm"),
            ..Hooks::default()
        }
    }

    fn kinds(steps: &[Step]) -> Vec<HookKind> {
        steps
            .iter()
            .map(|s| match s {
                Step::Run(run) => run.kind,
                Step::Skipped { kind, .. } => *kind,
            })
            .collect()
    }

    fn run_all(queue: &mut HookQueue, done: u64, next: &mut u64) -> Vec<HookKind> {
        let mut order = Vec::new();
        loop {
            let steps = queue.pump(done, next);
            if steps.is_empty() {
                return order;
            }
            for step in steps {
                order.push(kinds(std::slice::from_ref(&step))[0]);
                if let Step::Run(run) = step {
                    queue.finished(run.id);
                }
            }
        }
    }

    #[test]
    fn hooks_run_one_at_a_time_in_transition_order() {
        let mut queue = HookQueue::new(all_hooks());
        let mut next = 0;
        queue.transition(args(State::Backup, State::Master), Gate::Open);
        queue.transition(args(State::Master, State::Backup), Gate::Open);
        let first = queue.pump(0, &mut next);
        assert_eq!(kinds(&first), vec![HookKind::OnMaster]);
        assert!(queue.pump(0, &mut next).is_empty(), "one runs at a time");
        let Step::Run(run) = &first[0] else {
            panic!("a run")
        };
        assert!(queue.finished(run.id).is_some());
        let rest = run_all(&mut queue, 0, &mut next);
        assert_eq!(
            rest,
            vec![
                HookKind::OnChange,
                HookKind::AfterBackup,
                HookKind::OnBackup,
                HookKind::OnChange
            ]
        );
        assert!(queue.is_idle());
    }

    #[test]
    fn gated_hooks_wait_for_the_address_job_and_block_those_behind() {
        let mut queue = HookQueue::new(all_hooks());
        let mut next = 0;
        queue.transition(args(State::Backup, State::Master), Gate::Addresses(3));
        queue.transition(args(State::Master, State::Backup), Gate::Open);
        assert!(queue.pump(2, &mut next).is_empty());
        assert_eq!(run_all(&mut queue, 3, &mut next)[0], HookKind::OnMaster);
    }

    #[test]
    fn abandoned_master_hooks_are_skipped_and_a_pending_removal_waits() {
        let mut queue = HookQueue::new(all_hooks());
        let mut next = 0;
        queue.transition(args(State::Backup, State::Master), Gate::AwaitAdd);
        queue.transition(args(State::Master, State::Backup), Gate::AwaitRemoval);
        assert!(queue.pump(0, &mut next).is_empty());
        queue.resolve(Gate::AwaitAdd, Gate::Skip);
        let skipped = queue.pump(0, &mut next);
        assert_eq!(
            kinds(&skipped),
            vec![HookKind::OnMaster, HookKind::OnChange]
        );
        assert!(skipped.iter().all(|s| matches!(s, Step::Skipped { .. })));
        queue.resolve(Gate::AwaitRemoval, Gate::Addresses(5));
        assert!(queue.pump(4, &mut next).is_empty());
        assert_eq!(run_all(&mut queue, 5, &mut next)[0], HookKind::AfterBackup);
    }

    #[test]
    fn a_cancelled_handover_skips_only_after_backup() {
        let mut queue = HookQueue::new(all_hooks());
        let mut next = 0;
        queue.transition(args(State::Master, State::Backup), Gate::AwaitRemoval);
        queue.resolve(Gate::AwaitRemoval, Gate::Kept);
        let mut steps = Vec::new();
        loop {
            let step = queue.pump(0, &mut next);
            if step.is_empty() {
                break;
            }
            for s in &step {
                if let Step::Run(run) = s {
                    queue.finished(run.id);
                }
            }
            steps.extend(step);
        }
        assert_eq!(
            kinds(&steps),
            vec![
                HookKind::AfterBackup,
                HookKind::OnBackup,
                HookKind::OnChange
            ]
        );
        assert!(
            matches!(steps[0], Step::Skipped { .. }),
            "the VIPs never went"
        );
        assert!(matches!(steps[1], Step::Run(_)));
    }

    #[test]
    fn before_master_runs_in_queue_order_and_reports_its_term() {
        let mut queue = HookQueue::new(all_hooks());
        let mut next = 0;
        queue.transition(args(State::Master, State::Backup), Gate::Open);
        assert!(queue.before_master(args(State::Backup, State::Master), 7));
        let order = run_all(&mut queue, 0, &mut next);
        assert_eq!(order.last(), Some(&HookKind::BeforeMaster));
        let mut queue = HookQueue::new(all_hooks());
        queue.before_master(args(State::Backup, State::Master), 7);
        let Some(Step::Run(run)) = queue.pump(0, &mut next).pop() else {
            panic!("before_master starts")
        };
        let finished = queue.finished(run.id).expect("it was running");
        assert_eq!((finished.kind, finished.term), (HookKind::BeforeMaster, 7));
        assert!(queue.finished(run.id).is_none(), "reported once");
    }

    #[test]
    fn hooks_are_told_the_transition_as_arguments_and_environment() {
        let mut a = args(State::Backup, State::Master);
        assert_eq!(a.argv(), vec!["web", "master", "backup", "100"]);
        let env = a.env();
        assert_eq!(env.len(), 4);
        assert!(env.contains(&("TWINSTAR_INSTANCE".to_owned(), "web".to_owned())));
        assert!(env.contains(&("TWINSTAR_STATE".to_owned(), "master".to_owned())));
        assert!(env.contains(&("TWINSTAR_OLD_STATE".to_owned(), "backup".to_owned())));
        assert!(env.contains(&("TWINSTAR_PRIORITY".to_owned(), "100".to_owned())));
        a.group = true;
        assert!(a
            .env()
            .contains(&("TWINSTAR_GROUP".to_owned(), "web".to_owned())));
    }

    #[test]
    fn each_state_entered_queues_its_own_hook() {
        let hooks = Hooks {
            on_fault: hook("f"),
            on_stop: hook("s"),
            ..all_hooks()
        };
        let mut queue = HookQueue::new(hooks);
        let mut next = 0;
        queue.transition(args(State::Backup, State::Fault), Gate::Open);
        queue.transition(args(State::Fault, State::Master), Gate::Open);
        queue.transition(args(State::Master, State::Initialize), Gate::Open);
        assert_eq!(
            run_all(&mut queue, 0, &mut next),
            vec![
                HookKind::OnFault,
                HookKind::OnChange,
                HookKind::OnMaster,
                HookKind::OnChange,
                HookKind::AfterBackup,
                HookKind::OnStop,
                HookKind::OnChange,
            ]
        );
    }

    #[test]
    fn a_transition_without_hooks_queues_nothing() {
        let mut queue = HookQueue::new(Hooks::default());
        queue.transition(args(State::Backup, State::Master), Gate::AwaitAdd);
        assert!(queue.is_idle());
        assert!(!queue.before_master(args(State::Backup, State::Master), 1));
        assert!(queue.is_idle());
        queue.set_hooks(all_hooks());
        assert_eq!(queue.hooks().on_master, hook("m"));
        queue.transition(args(State::Backup, State::Master), Gate::AwaitAdd);
        assert!(!queue.is_idle(), "a gated job waits");
    }

    #[test]
    fn runs_are_numbered_from_one_counter_and_only_the_running_one_finishes() {
        let mut queue = HookQueue::new(all_hooks());
        let mut next = 0;
        queue.transition(args(State::Backup, State::Master), Gate::Open);
        let Some(Step::Run(first)) = queue.pump(0, &mut next).pop() else {
            panic!("on_master starts")
        };
        assert_eq!(first.id, HookRunId(1));
        assert!(queue.is_running(first.id));
        assert!(!queue.is_running(HookRunId(2)));
        assert!(!queue.is_idle(), "a hook runs");
        assert!(queue.finished(HookRunId(2)).is_none(), "not ours");
        assert!(queue.is_running(first.id));
        let finished = queue.finished(first.id).expect("ours");
        assert_eq!(finished.kind, HookKind::OnMaster);
        assert_eq!(finished.args, args(State::Backup, State::Master));
        let Some(Step::Run(second)) = queue.pump(0, &mut next).pop() else {
            panic!("on_change starts")
        };
        assert_eq!(second.id, HookRunId(2));
        assert_eq!(next, 2);
        assert_eq!(second.hook, hook("c").unwrap());
    }

    #[test]
    fn resolve_changes_only_the_gates_named() {
        let mut queue = HookQueue::new(all_hooks());
        let mut next = 0;
        queue.transition(args(State::Backup, State::Master), Gate::AwaitAdd);
        queue.resolve(Gate::AwaitRemoval, Gate::Open);
        assert!(
            queue.pump(0, &mut next).is_empty(),
            "still waits for the add"
        );
        queue.resolve(Gate::AwaitAdd, Gate::Addresses(1));
        assert!(queue.pump(0, &mut next).is_empty());
        assert_eq!(run_all(&mut queue, 1, &mut next)[0], HookKind::OnMaster);
    }
}
