//! The fence hook (`hooks.fence`), STONITH for VRRP: before a Backup takes
//! over from a Master that went silent — which may be alive behind a broken
//! path — it runs the operator's command with the old Master's address, and
//! becomes Master only once it exits 0. Not run after a priority-0 advert
//! (the Master resigned), for a preemption (the lower Master still speaks),
//! or at startup when no Master was ever heard: there is nobody to fence.
//!
//! With `quorum`, the fence runs after the key is ours, so a Master whose
//! lease is live (a healthy one) is never fenced.

use std::time::Instant;

use tracing::{info, warn};

use super::hooks::{HookRun, HookRunId, TransitionArgs};
use super::{hook_event, Agent, Effect};
use crate::notify::record::HookKind;
use crate::track::process::ScriptOutcome;
use crate::vrrp::{MastershipCause, State};

/// A fence run of one instance, and what it was told.
#[derive(Debug, Clone)]
pub struct Fencing {
    /// The run, quoted in its report.
    pub run: HookRunId,
    /// Its arguments, for the event.
    pub args: TransitionArgs,
}

impl Agent {
    /// Instance `index` may become Master as far as the lease is concerned:
    /// fence the silent Master first where a fence is configured, else grant.
    pub(super) fn after_lease(&mut self, now: Instant, index: usize) {
        let instance = &self.instances[index];
        let cause = instance.router.awaiting_mastership();
        let fence = instance.config.hooks.fence.clone();
        let (Some(MastershipCause::MasterSilent { master }), Some(hook)) = (cause, fence) else {
            self.grant(now, index);
            return;
        };
        if instance.fenced() == Some(master) {
            self.grant(now, index);
            return;
        }
        if instance.fencing().is_some() {
            return; // One fence at a time; its result answers the request.
        }
        self.next_hook_run += 1;
        let id = HookRunId(self.next_hook_run);
        let args = TransitionArgs {
            name: instance.config.name.clone(),
            group: false,
            to: State::Master,
            from: instance.router.state(),
            priority: instance.router.priority(),
            peer: Some(master),
        };
        info!(instance = %args.name, master = %master, "fencing the silent Master before taking over");
        self.instances[index].start_fencing(Fencing {
            run: id,
            args: args.clone(),
        });
        self.out.push(Effect::RunHook(Box::new(HookRun {
            id,
            kind: HookKind::Fence,
            hook,
            args,
        })));
        self.out.status_dirty = true;
    }

    /// A hook finished: if it was a fence, grant (exit 0) or deny the
    /// request it was run for, and return true.
    pub(super) fn on_fence_done(
        &mut self,
        now: Instant,
        run: HookRunId,
        outcome: &ScriptOutcome,
    ) -> bool {
        let Some(index) = self
            .instances
            .iter()
            .position(|i| i.fencing().is_some_and(|f| f.run == run))
        else {
            return false;
        };
        let Some(fencing) = self.instances[index].take_fencing() else {
            return false;
        };
        self.out.push(Effect::Event(hook_event(
            &fencing.args,
            HookKind::Fence,
            Some(outcome),
        )));
        let instance = &mut self.instances[index];
        let success = outcome.result.is_success();
        if !success {
            let failures = instance.count_fence_failure();
            warn!(
                instance = %instance.config.name,
                failures,
                "fence failed ({}): staying Backup, trying again in one Master_Down_Interval",
                outcome.result
            );
        }
        if instance.router.awaiting_mastership().is_none() {
            info!(instance = %instance.config.name, "fence finished after the takeover was called off");
            self.out.status_dirty = true;
            return true;
        }
        if !success {
            self.deny(now, index);
            return true;
        }
        // The fence may have run long: the lease must still be ours (or be
        // taken again) before the VIPs go on.
        self.instances[index].set_fenced(fencing.args.peer);
        match self.key_of(index) {
            Some(key) => {
                let (go, request) = self.quorum.request(&key, now);
                if let Some(request) = request {
                    self.out.push(Effect::Quorum(request));
                }
                if go {
                    self.grant(now, index);
                }
            }
            None => self.grant(now, index),
        }
        true
    }
}
