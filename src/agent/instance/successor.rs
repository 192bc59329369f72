//! An instance after a voluntary resignation (switchover, maintenance, a
//! sync-group partner's): watching for the new Master, and going back to
//! Master with the addresses it never gave up when nobody takes over.

use std::net::IpAddr;
use std::time::Instant;

use super::{InstanceCore, Out, Transition};
use crate::vrrp::{AdvertInfo, Event, State};

/// What an instance that resigned voluntarily has heard of its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuccessorWatch {
    /// When the priority-0 advert went out.
    pub resigned_at: Instant,
    /// The first router heard advertising as Master since (priority above
    /// 0), and when: the new Master.
    pub heard: Option<(IpAddr, Instant)>,
}

impl InstanceCore {
    /// Master again at once after a voluntary resignation that nobody took
    /// up, while the handover still keeps the addresses: they never leave,
    /// the hooks of leaving Master are dropped unrun and none run for coming
    /// back (nothing changed for the services), the router advertises again
    /// and announces. Returns the transitions (none unless it was waiting).
    pub fn reclaim(&mut self, now: Instant, out: &mut Out) -> Vec<Transition> {
        if self.handover_deadline().is_none() || self.router.state() != State::Backup {
            return Vec::new();
        }
        self.reclaiming = true;
        let transitions = self.handle(now, Event::Reclaim, out);
        self.reclaiming = false;
        transitions
    }

    /// What this instance has heard of its successor since it last resigned
    /// voluntarily; `None` when it is not waiting for one.
    pub fn successor(&self) -> Option<SuccessorWatch> {
        self.seldom()?.successor
    }

    /// Notes the first other router that advertises as Master (priority
    /// above 0) since the resignation.
    pub(super) fn note_successor(&mut self, now: Instant, advert: AdvertInfo) {
        let own = self.advert_source();
        if let Some(watch) = self
            .seldom
            .as_deref_mut()
            .and_then(|s| s.successor.as_mut())
        {
            if advert.priority > 0 && advert.source != own {
                watch.heard.get_or_insert((advert.source, now));
            }
        }
    }
}
