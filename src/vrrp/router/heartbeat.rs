//! Adverts heard on a heartbeat link: the same VRRPv3 adverts, sent by the
//! Master on extra links so that losing one link between the routers causes
//! no failover (redundant links, as corosync has them).
//!
//! The Master speaks from a different address on each link, so a heartbeat
//! advert proves the Master alive without saying who it is. The instance's
//! own interface keeps deciding the election as RFC 9568 §6.4 says; what a
//! heartbeat link adds is limited to what cannot flap between the addresses
//! of one Master:
//! - a Backup restarts its Master_Down timer (and learns the interval) on an
//!   advert it would follow on its interface, and keeps the Master it noted
//!   there, so a Master heard on two links is one Master, not a change;
//! - a Master steps down for a higher priority (priorities are the same on
//!   every link, so this cannot disagree with the interface);
//! - an address tie-break between equal priorities (RFC 9568 §6.4.3) is made
//!   on a heartbeat link only while the interface has been silent for a
//!   Master_Down_Interval, comparing both routers' addresses on that link:
//!   both sides then decide on the same pair of addresses; while the
//!   interface carries adverts, it alone decides, whatever the order of the
//!   addresses on other links;
//! - a priority-0 advert is acted on from the interface only: a resigning
//!   Master sends it on every link, and a Master that is heard only on a
//!   heartbeat link is taken over from at Master_Down_Interval anyway.

use std::time::Instant;

use super::VirtualRouter;
use crate::vrrp::event::{Action, Actions, HeartbeatInfo, State, TransitionReason};
use crate::vrrp::moment::Moment;

impl VirtualRouter {
    pub(super) fn on_heartbeat(&mut self, now: Instant, heard: HeartbeatInfo, out: &mut Actions) {
        let advert = heard.advert;
        if advert.priority == 0 {
            return;
        }
        match self.state {
            State::Backup => {
                let lower = advert.priority < self.priority;
                let may_preempt = self.settings.preempt && !self.maintenance && !self.preempt_held;
                if lower && may_preempt {
                    // As on the interface: a lower Master's adverts do not
                    // hold the down timer, so we preempt it.
                    return;
                }
                self.master_resigned = false;
                self.master_adver_interval = advert.interval;
                self.master_down_timer = Moment::at(now + self.master_down_interval());
            }
            State::Master => {
                let higher = advert.priority > self.priority;
                let interface_silent = self.last_peer().is_none_or(|(_, at)| {
                    now.saturating_duration_since(at) >= self.master_down_interval()
                });
                let wins_tie = advert.priority == self.priority
                    && interface_silent
                    && advert.source > heard.own_address;
                if higher || wins_tie {
                    out.push(Action::RemoveAddresses);
                    // The Master is known by its address on the interface
                    // only: none is noted until it is heard there.
                    self.current_master = None;
                    self.master_adver_interval = advert.interval;
                    self.transition(
                        now,
                        State::Backup,
                        TransitionReason::PreemptedByHigherPriority,
                        out,
                    );
                    self.master_down_timer = Moment::at(now + self.master_down_interval());
                }
            }
            State::Initialize | State::Fault => {}
        }
    }
}
