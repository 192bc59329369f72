//! How one virtual router reacts to each [`Event`] (RFC 9568 §6.4): the
//! [`VirtualRouter::handle`] dispatcher, one handler per event, and the
//! transitions, timers and adverts they share.

use std::cmp::Ordering;
use std::time::Instant;

use super::{VirtualRouter, OWNER_PRIORITY};
use crate::vrrp::event::{
    Action, Actions, AdvertInfo, Event, MastershipCause, State, TransitionReason,
};
use crate::vrrp::moment::Moment;

impl VirtualRouter {
    /// Processes one event at time `now` and returns what the caller must do, in order.
    pub fn handle(&mut self, now: Instant, event: Event) -> Actions {
        let mut out = Actions::new();
        match event {
            Event::Startup => self.on_startup(now, &mut out),
            Event::Shutdown => self.on_shutdown(now, &mut out),
            Event::AdvertReceived(advert) => self.on_advert(now, advert, &mut out),
            Event::HeartbeatReceived(heard) => self.on_heartbeat(now, heard, &mut out),
            Event::TimerExpired => self.on_timer(now, &mut out),
            Event::PriorityChanged(priority) => self.on_priority(now, priority, &mut out),
            Event::FaultSet => self.on_fault_set(now, &mut out),
            Event::FaultCleared => self.on_fault_cleared(now, &mut out),
            Event::Resign => self.step_down(now, TransitionReason::Resigned, &mut out),
            Event::TakeOver => {
                if self.state == State::Backup && !self.maintenance {
                    self.claim_master(
                        now,
                        TransitionReason::SyncGroup,
                        MastershipCause::SyncGroup,
                        &mut out,
                    );
                }
            }
            Event::Yield => {
                self.step_down(now, TransitionReason::Resigned, &mut out);
                self.preempt_held = false;
            }
            Event::Switchover => self.step_down(now, TransitionReason::Switchover, &mut out),
            Event::Maintenance(on) => self.on_maintenance(now, on, &mut out),
            Event::Reclaim => {
                if self.state == State::Backup && !self.maintenance && !self.fault {
                    // Behind the gate too: under a quorum lease the key was
                    // given back at the resignation and must be ours again.
                    self.claim_master(
                        now,
                        TransitionReason::Reclaimed,
                        MastershipCause::NobodyTookOver,
                        &mut out,
                    );
                }
            }
            Event::MastershipGranted => self.on_granted(now, &mut out),
            Event::MastershipDenied => self.on_denied(now),
            Event::QuorumLost => self.on_quorum_lost(now, &mut out),
        }
        out
    }

    /// RFC 9568 §6.4.1 Startup; ignored unless the router is in Initialize.
    fn on_startup(&mut self, now: Instant, out: &mut Actions) {
        if self.state == State::Initialize {
            self.enter_election(now, TransitionReason::Startup, out);
        }
    }

    /// Joins the election from Initialize or Fault: an owner goes straight to
    /// Master, everyone else to Backup (RFC 9568 §6.4.1); a pending fault wins.
    fn enter_election(&mut self, now: Instant, reason: TransitionReason, out: &mut Actions) {
        if self.fault {
            self.transition(now, State::Fault, TransitionReason::Fault, out);
        } else if self.priority == OWNER_PRIORITY && !self.maintenance {
            if self.mastership_gate {
                // Wait as Backup for permission, like any other router.
                self.master_adver_interval = self.settings.advert_interval;
                self.become_backup(now, reason, out);
            }
            self.claim_master(now, reason, MastershipCause::OwnerStartup, out);
        } else {
            self.master_adver_interval = self.settings.advert_interval;
            self.become_backup(now, reason, out);
        }
    }

    /// RFC 9568 §6.4.2 / §6.4.3 Shutdown: a Master resigns with priority 0.
    fn on_shutdown(&mut self, now: Instant, out: &mut Actions) {
        self.preempt_held = false;
        match self.state {
            State::Initialize => {}
            State::Master => {
                self.resign(out);
                self.transition(now, State::Initialize, TransitionReason::Shutdown, out);
            }
            State::Backup | State::Fault => {
                self.transition(now, State::Initialize, TransitionReason::Shutdown, out);
            }
        }
    }

    fn on_advert(&mut self, now: Instant, advert: AdvertInfo, out: &mut Actions) {
        if advert.source != self.settings.primary_address {
            self.last_peer = Some(advert.source);
            self.last_peer_at = Moment::at(now);
        }
        if matches!(self.state, State::Initialize | State::Fault) {
            return;
        }
        self.stats.adverts_received += 1;
        if advert.priority == 0 {
            self.stats.priority_zero_received += 1;
        }
        if advert.interval != self.settings.advert_interval {
            self.stats.interval_mismatches += 1;
        }
        match self.state {
            State::Backup => self.backup_on_advert(now, advert),
            State::Master => self.master_on_advert(now, advert, out),
            State::Initialize | State::Fault => {}
        }
    }

    /// RFC 9568 §6.4.2, Backup receiving an advertisement.
    fn backup_on_advert(&mut self, now: Instant, advert: AdvertInfo) {
        if advert.priority == 0 {
            if self
                .current_master
                .is_some_and(|master| master.source != advert.source)
            {
                // A router we do not follow resigned (it was Master only
                // briefly beside ours, or resigned with its sync group): the
                // Master we follow still advertises, and its silence alone
                // may make us take over. Taking its resignation for our
                // Master's makes every Backup claim the role, and with sync
                // groups each claim resigns another VRID: a loop.
                return;
            }
            // The Master resigned: the Backup with the shortest skew takes over.
            self.current_master = None;
            self.master_resigned = true;
            self.master_down_timer = Moment::at(now + self.skew_time());
            return;
        }
        let lower = advert.priority < self.priority;
        let may_preempt = self.settings.preempt && !self.maintenance && !self.preempt_held;
        if !may_preempt || !lower {
            self.preempt_hold_since = Moment::NONE;
            self.lower_master_ignored = false;
            self.follow_master(now, advert);
            return;
        }
        if self.current_master.is_some_and(|master| {
            master.source != advert.source && master.priority > advert.priority
        }) {
            // Another router outranks this lower one and is the Master we
            // follow (its down interval has not run out): RFC 9568 §6.4.2
            // discards the lower advert, and the down timer keeps running on
            // that Master's adverts. Holding the preempt delay against the
            // lower one instead would take over from under the higher Master,
            // whose next advert sends us back: a loop, with a Master that
            // advertises slowly.
            return;
        }
        if self.settings.preempt_delay.is_zero() {
            // Preempt: discard, so our down timer runs out and we take over.
            self.lower_master_ignored = true;
            return;
        }
        let since = self.preempt_hold_since.get().unwrap_or_else(|| {
            self.preempt_hold_since = Moment::at(now);
            now
        });
        let release = since + self.settings.preempt_delay;
        if now >= release {
            self.lower_master_ignored = true;
            return;
        }
        // Tolerate the lower Master until the delay is over, then preempt at once.
        self.follow_master(now, advert);
        self.lower_master_ignored = true;
        if let Some(down) = self.master_down_timer.get() {
            self.master_down_timer = Moment::at(down.min(release));
        }
    }

    /// Accepts `advert` as the Master's: learn its interval, restart the down timer.
    pub(super) fn follow_master(&mut self, now: Instant, advert: AdvertInfo) {
        // A Master we follow speaks: a pending request for mastership is moot.
        self.awaiting = None;
        if let Some(followed_until) = self.outranked_by_followed(now, advert) {
            // A lower router's advert while the Master we follow, which
            // outranks it, is still within its Master_Down_Interval: most
            // often the last advert of a Master that this one just preempted.
            // Learning its interval from it would cut our wait for the
            // Master we follow short. With a slow Master and faster Backups
            // (Preempt_Mode False, which accepts any advert), each Backup's
            // down timer then ran out between two of the Master's adverts,
            // it took over, was preempted, and its own last advert did the
            // same to the next Backup: a flap without end. The lower router
            // still counts as alive (should it be the next Master, the timer
            // runs on its adverts), and once our Master's interval has run
            // out its adverts are followed as RFC 9568 §6.4.2 says.
            let lower_down = now + self.down_interval_for(advert.interval);
            self.master_down_timer = Moment::at(followed_until.max(lower_down));
            return;
        }
        self.current_master = Some(advert);
        self.master_heard_at = Moment::at(now);
        self.master_resigned = false;
        self.master_adver_interval = advert.interval;
        self.master_down_timer = Moment::at(now + self.master_down_interval());
    }

    /// Until when the Master we follow stays ours, if `advert` is another,
    /// lower router's and that is not yet over.
    fn outranked_by_followed(&self, now: Instant, advert: AdvertInfo) -> Option<Instant> {
        let master = self.current_master?;
        let heard = self.master_heard_at.get()?;
        if master.source == advert.source || master.priority <= advert.priority {
            return None;
        }
        let until = heard + self.master_down_interval();
        (now < until).then_some(until)
    }

    /// RFC 9568 §6.4.3, Master receiving an advertisement.
    fn master_on_advert(&mut self, now: Instant, advert: AdvertInfo, out: &mut Actions) {
        if advert.priority == 0 {
            // Another router resigned; assert ourselves so Backups re-learn us
            // (RFC 9568 §6.4.3: send an advert, restart the Adver_Timer).
            if self.may_answer(now) {
                self.send_advert(now, out);
            }
            return;
        }
        if self.sender_wins(advert) {
            // Leaving Master stops the Adver_Timer (in `transition`).
            out.push(Action::RemoveAddresses);
            self.follow_master(now, advert);
            self.transition(
                now,
                State::Backup,
                TransitionReason::PreemptedByHigherPriority,
                out,
            );
        } else if self.may_answer(now) {
            // Answer a lower-priority Master at once so it steps down and
            // learning bridges see the right path. Two Masters means the LAN was
            // split: neighbours may have learnt the other one's MAC for our
            // addresses, so announce them again.
            self.send_advert(now, out);
            out.push(Action::Announce);
        }
    }

    /// Whether a Master may answer another router's advert now: at most one
    /// answer per Advertisement_Interval, whatever it answers.
    ///
    /// Deliberate limit on RFC 9568 §6.4.3, which answers every priority-0
    /// advert (and we answer every lower-priority Master): anyone on the
    /// segment can send adverts at line rate, and one advert (plus a train of
    /// announcements) out per packet in would make the Master an amplifier.
    /// One answer per interval still tells a lower-priority Master, and the
    /// Backups, within one interval of its first advert: the answer is
    /// immediate, and later ones are covered by the Adver_Timer's regular
    /// advert. The cost is confined to a flood of priority-0 adverts, from
    /// which a Backup may briefly take over until it hears us again — as any
    /// host on the segment could make it do by claiming a higher priority,
    /// which `peers` prevents for both.
    fn may_answer(&mut self, now: Instant) -> bool {
        if self
            .answer_held_until
            .get()
            .is_some_and(|until| now < until)
        {
            self.stats.answers_withheld += 1;
            return false;
        }
        self.answer_held_until = Moment::at(now + self.settings.advert_interval);
        true
    }

    /// Higher priority wins; on a tie, the greater primary address (unsigned, in
    /// network byte order, which is how `IpAddr` orders addresses of one family).
    fn sender_wins(&self, advert: AdvertInfo) -> bool {
        match advert.priority.cmp(&self.priority) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => advert.source > self.settings.primary_address,
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Actions) {
        match self.state {
            State::Master => {
                if self.adver_timer.get().is_some_and(|t| t <= now) {
                    self.send_advert(now, out);
                }
            }
            State::Backup if self.maintenance => {
                // Never take over; keep listening for whoever is Master.
                self.master_down_timer = Moment::NONE;
            }
            State::Backup => {
                if self.master_down_timer.get().is_some_and(|t| t <= now) {
                    let (reason, cause) = if self.lower_master_ignored {
                        (
                            TransitionReason::PreemptedLowerPriority,
                            MastershipCause::PreemptLowerPriority,
                        )
                    } else if self.master_resigned {
                        (
                            TransitionReason::MasterResigned,
                            MastershipCause::MasterResigned,
                        )
                    } else {
                        let cause = match self.current_master {
                            Some(master) => MastershipCause::MasterSilent {
                                master: master.source,
                            },
                            None => MastershipCause::NoMasterHeard,
                        };
                        (TransitionReason::MasterDownTimerExpired, cause)
                    };
                    self.claim_master(now, reason, cause, out);
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    fn on_priority(&mut self, now: Instant, priority: u8, out: &mut Actions) {
        if self.settings.priority == OWNER_PRIORITY {
            return; // The owner's priority is never moved.
        }
        let priority = priority.clamp(1, OWNER_PRIORITY - 1);
        if priority == self.priority {
            return;
        }
        self.priority = priority;
        if self.state == State::Master {
            // Tell Backups now, so a better one can preempt without waiting.
            self.send_advert(now, out);
        }
    }

    fn on_fault_set(&mut self, now: Instant, out: &mut Actions) {
        self.fault = true;
        match self.state {
            State::Initialize | State::Fault => {}
            State::Master => {
                self.resign(out);
                self.transition(now, State::Fault, TransitionReason::Fault, out);
            }
            State::Backup => self.transition(now, State::Fault, TransitionReason::Fault, out),
        }
    }

    /// A Master hands over: priority-0 advert, addresses off, Backup, and no
    /// preempting the router that takes over.
    fn step_down(&mut self, now: Instant, reason: TransitionReason, out: &mut Actions) {
        if self.state == State::Master {
            self.resign(out);
            self.master_adver_interval = self.settings.advert_interval;
            self.preempt_held = true;
            self.become_backup(now, reason, out);
        }
    }

    fn on_maintenance(&mut self, now: Instant, on: bool, out: &mut Actions) {
        if self.maintenance == on {
            return;
        }
        self.maintenance = on;
        if on {
            self.awaiting = None;
            self.step_down(now, TransitionReason::Maintenance, out);
            self.preempt_held = false;
        } else if self.state == State::Backup {
            // Resume the election: take over if no Master speaks up in time.
            self.master_down_timer = Moment::at(now + self.master_down_interval());
        }
    }

    fn on_fault_cleared(&mut self, now: Instant, out: &mut Actions) {
        self.fault = false;
        if self.state == State::Fault {
            self.enter_election(now, TransitionReason::FaultCleared, out);
        }
    }

    /// RFC 9568 §6.4.2 "Active_Down_Timer fires" / §6.4.1 owner startup.
    pub(super) fn become_master(
        &mut self,
        now: Instant,
        reason: TransitionReason,
        out: &mut Actions,
    ) {
        self.preempt_held = false;
        self.master_down_timer = Moment::NONE;
        self.preempt_hold_since = Moment::NONE;
        self.lower_master_ignored = false;
        self.current_master = None;
        self.master_adver_interval = self.settings.advert_interval;
        out.push(Action::AddAddresses);
        self.send_advert(now, out);
        out.push(Action::Announce);
        self.stats.master_transitions += 1;
        self.transition(now, State::Master, reason, out);
    }

    pub(super) fn become_backup(
        &mut self,
        now: Instant,
        reason: TransitionReason,
        out: &mut Actions,
    ) {
        self.master_down_timer = Moment::at(now + self.master_down_interval());
        self.transition(now, State::Backup, reason, out);
    }

    /// Leaves Master: priority-0 advert so Backups take over within Skew_Time.
    pub(super) fn resign(&mut self, out: &mut Actions) {
        self.adver_timer = Moment::NONE;
        out.push(Action::SendAdvert {
            priority: 0,
            interval: self.settings.advert_interval,
        });
        self.stats.adverts_sent += 1;
        self.stats.priority_zero_sent += 1;
        out.push(Action::RemoveAddresses);
    }

    /// Sends an advert and restarts the Adver_Timer from now.
    fn send_advert(&mut self, now: Instant, out: &mut Actions) {
        out.push(Action::SendAdvert {
            priority: self.priority,
            interval: self.settings.advert_interval,
        });
        self.stats.adverts_sent += 1;
        self.adver_timer = Moment::at(now + self.settings.advert_interval);
    }

    pub(super) fn transition(
        &mut self,
        now: Instant,
        to: State,
        reason: TransitionReason,
        out: &mut Actions,
    ) {
        let from = self.state;
        if to != State::Master {
            self.adver_timer = Moment::NONE;
        }
        if to != State::Backup {
            self.master_down_timer = Moment::NONE;
        }
        if to != State::Backup {
            self.master_resigned = false;
            self.awaiting = None;
        }
        if matches!(to, State::Initialize | State::Fault) {
            self.current_master = None;
            self.preempt_hold_since = Moment::NONE;
            self.lower_master_ignored = false;
        }
        self.state = to;
        self.last_transition = Moment::at(now);
        out.push(Action::StateChanged { from, to, reason });
    }
}
