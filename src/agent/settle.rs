//! What every input ends with: answering requests for mastership, starting
//! the hooks that may start, letting go of quiet retired instances, and
//! handing out the Accept_Mode filter when it changed.
//!
//! A Master of a thousand instances handles thousands of inputs a second
//! that move one instance or a few (an advert timer, a VIP lifetime
//! renewal's answer), so passes over every instance per input were most of
//! its cost. [`Agent::settle_instances`] settles only the instances an input
//! named, and falls back to the whole [`Agent::settle`] whenever the input
//! may have reached further.

use std::time::Instant;

use tracing::{info, warn};

use super::accept_mode::refuses_traffic;
use super::hooks::Step;
use super::{hook_event, Agent, Effect};

impl Agent {
    /// Answers requests for mastership, starts whatever hooks may start
    /// now, and lets go of retired instances and groups once they are quiet.
    pub(super) fn settle(&mut self, now: Instant) {
        self.settle_mastership(now);
        let next = &mut self.next_hook_run;
        let mut steps = Vec::new();
        for instance in self.instances.iter_mut().chain(self.retiring.iter_mut()) {
            steps.extend(instance.hooks.pump(instance.done_seq, next));
        }
        self.pump_groups(&mut steps);
        self.carry_out(steps);
        let out = &mut self.out;
        self.retiring.retain(|i| {
            let quiet = i.is_quiet();
            if quiet {
                out.push(Effect::StopInstance(i.id));
            }
            !quiet
        });
        self.retiring_groups.retain(|g| !g.hooks.is_idle());
        self.settle_accept_filter();
    }

    /// [`settle`](Self::settle) after an input that touched only the
    /// instances at `indices` and made no transition (a transition reaches
    /// sync-group partners, which `after_transitions` already moved).
    ///
    /// Whatever else `settle` looks at cannot have moved for other
    /// instances: hooks are queued by transitions and started by their own
    /// instance's address jobs; requests for mastership, quorum keys,
    /// handovers and retired instances reach beyond the instances named, so
    /// any of them sends this to the whole `settle`.
    pub(super) fn settle_instances(&mut self, now: Instant, indices: &[usize]) {
        let reaches_further = !self.handovers.is_empty()
            || !self.retiring.is_empty()
            || !self.retiring_groups.is_empty()
            || self.quorum.enabled()
            || indices
                .iter()
                .any(|&index| self.instances[index].mastership_requested.is_some());
        if reaches_further {
            return self.settle(now);
        }
        for &index in indices {
            self.sync_gate(now, index);
        }
        let next = &mut self.next_hook_run;
        let mut steps = Vec::new();
        for &index in indices {
            let instance = &mut self.instances[index];
            steps.extend(instance.hooks.pump(instance.done_seq, next));
        }
        self.pump_groups(&mut steps);
        self.carry_out(steps);
        if indices.iter().any(|&index| !self.filter_agrees(index)) {
            self.settle_accept_filter();
        }
    }

    /// Whether the Accept_Mode filter handed out last refuses exactly the
    /// VIPs of instance `index` that it should. A VIP shared with another
    /// instance may disagree for both; the whole filter is then recomputed,
    /// which hands out nothing when it did not change.
    fn filter_agrees(&self, index: usize) -> bool {
        let instance = &self.instances[index];
        let refused = instance.reconcile.holding() && refuses_traffic(&instance.config);
        instance
            .config
            .virtual_ips
            .iter()
            .all(|vip| self.accept_filter.contains(&vip.addr) == refused)
    }

    /// Starts the sync groups' hooks that may start (a handful of groups).
    fn pump_groups(&mut self, steps: &mut Vec<Step>) {
        let next = &mut self.next_hook_run;
        for group in self
            .groups
            .iter_mut()
            .chain(self.retiring_groups.iter_mut())
        {
            steps.extend(group.hooks.pump(u64::MAX, next));
        }
    }

    /// Hands out the hooks to run and reports the ones that never will.
    fn carry_out(&mut self, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Run(run) => self.out.push(Effect::RunHook(Box::new(run))),
                Step::Skipped { args, kind } => {
                    info!(name = %args.name, hook = kind.as_str(), "skipped: the virtual IPs never came on");
                    self.out.push(Effect::Event(hook_event(&args, kind, None)));
                }
                Step::Superseded { args, kind, total } => {
                    warn!(
                        name = %args.name,
                        hook = kind.as_str(),
                        from = %args.from,
                        to = %args.to,
                        superseded = total,
                        "dropped before it started: a later transition superseded it"
                    );
                    self.out.push(Effect::Event(hook_event(&args, kind, None)));
                }
            }
        }
    }
}
