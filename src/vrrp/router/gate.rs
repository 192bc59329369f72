//! The mastership gate: a router configured to need permission asks before
//! every transition into Master (RFC 9568 §6.4.2's Master_Down_Timer, a
//! priority-0 advert, preemption, owner startup, a sync-group TakeOver) and
//! waits in Backup for the answer.
//!
//! The caller (the agent) decides with what the protocol cannot see: whether
//! this node holds the quorum lease, whether the silent Master was fenced.
//! Without the gate, every path becomes Master at once, as RFC 9568 has it.

use std::time::Instant;

use super::VirtualRouter;
use crate::vrrp::event::{Action, Actions, MastershipCause, State, TransitionReason};
use crate::vrrp::moment::Moment;

impl VirtualRouter {
    /// Turns the gate on or off. The agent turns it on when a quorum lease or
    /// a fence hook must be satisfied before the VIPs go on. Turning it off
    /// leaves a pending request pending: the caller answers it.
    pub fn set_mastership_gate(&mut self, on: bool) {
        self.mastership_gate = on;
    }

    /// Whether the gate is on.
    pub fn mastership_gate(&self) -> bool {
        self.mastership_gate
    }

    /// The pending request for mastership, if the router waits for an answer.
    pub fn awaiting_mastership(&self) -> Option<MastershipCause> {
        self.awaiting.map(|(cause, _)| cause)
    }

    /// Every path into Master goes through here: at once without the gate,
    /// else as a request (one at a time) while the router waits in Backup
    /// with no Master_Down_Timer running (the answer re-arms it).
    pub(super) fn claim_master(
        &mut self,
        now: Instant,
        reason: TransitionReason,
        cause: MastershipCause,
        out: &mut Actions,
    ) {
        if !self.mastership_gate {
            self.become_master(now, reason, out);
            return;
        }
        self.master_down_timer = Moment::NONE;
        if self.state != State::Backup || self.awaiting.is_some() {
            return;
        }
        self.awaiting = Some((cause, reason));
        out.push(Action::RequestMastership { cause });
    }

    /// The caller grants the pending request: become Master as the
    /// ungated router would have. A cancelled request stays cancelled.
    pub(super) fn on_granted(&mut self, now: Instant, out: &mut Actions) {
        if self.state != State::Backup || self.maintenance || self.fault {
            self.awaiting = None;
            return;
        }
        if let Some((_, reason)) = self.awaiting.take() {
            self.become_master(now, reason, out);
        }
    }

    /// The caller denies the pending request: stay Backup and ask again one
    /// Master_Down_Interval later, unless a Master speaks up before. Asking
    /// sooner would only hammer the arbiter: whoever holds the lease keeps
    /// it for at least that long, and a Master heard meanwhile cancels.
    pub(super) fn on_denied(&mut self, now: Instant) {
        if self.awaiting.take().is_some() && self.state == State::Backup && !self.maintenance {
            self.master_down_timer = Moment::at(now + self.master_down_interval());
        }
    }

    /// A Master that may no longer serve leaves at once: priority-0 advert,
    /// VIPs removed (the transition's reason makes the removal immediate),
    /// Backup with the down timer running so it asks again later. Unlike a
    /// resignation, preemption is not held: this was no operator's choice.
    pub(super) fn on_quorum_lost(&mut self, now: Instant, out: &mut Actions) {
        if self.state != State::Master {
            return;
        }
        self.resign(out);
        self.master_adver_interval = self.settings.advert_interval;
        self.become_backup(now, TransitionReason::QuorumLost, out);
    }
}
