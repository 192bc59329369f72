//! What an instance seldom has: a `before_master` failure being sat out, a
//! voluntary handover and the successor it waits for, a fence run and the
//! Master it fenced, and the counts of failed fences and sends.
//!
//! Nearly every instance never has any of it, yet inline (with the
//! resignation watch and the fence run each boxed on its own) it took 80
//! bytes of every instance: 72 of the 840 an instance was, some 70 kB at a
//! thousand instances on either host. So it lives in one box, made when the
//! first of it is set and freed once all of it is gone again; the counters,
//! once moved, keep the box for the instance's life.

use std::net::IpAddr;
use std::time::Instant;

use super::super::fence::Fencing;
use super::{InstanceCore, SuccessorWatch};

/// The rare state of one instance (see the module documentation).
#[derive(Debug, Default)]
pub(super) struct Seldom {
    /// Until when a failed `before_master` keeps the instance in Fault.
    before_master_failed_until: Option<Instant>,
    /// A voluntary handover in progress: the VIPs stay until the new Master
    /// speaks (and had one interval to announce), or until this deadline.
    pub(super) handover: Option<Instant>,
    /// Since a voluntary resignation (switchover, maintenance, a partner's
    /// resignation): when it was made and the first Master heard after it.
    pub(super) successor: Option<SuccessorWatch>,
    /// The fence hook running for the pending mastership request.
    fencing: Option<Fencing>,
    /// The silent Master the pending request has already fenced: a lease
    /// taken again after the fence does not fence it twice.
    fenced: Option<IpAddr>,
    /// Fence runs that failed or timed out.
    fence_failures: u64,
    /// Adverts that could not be built or sent.
    send_errors: u64,
}

impl Seldom {
    /// Nothing left worth a box.
    fn is_empty(&self) -> bool {
        self.before_master_failed_until.is_none()
            && self.handover.is_none()
            && self.successor.is_none()
            && self.fencing.is_none()
            && self.fenced.is_none()
            && self.fence_failures == 0
            && self.send_errors == 0
    }
}

impl InstanceCore {
    /// The rare state, if any is set.
    pub(super) fn seldom(&self) -> Option<&Seldom> {
        self.seldom.as_deref()
    }

    /// The rare state, boxed now if none was set.
    pub(super) fn seldom_mut(&mut self) -> &mut Seldom {
        self.seldom.get_or_insert_with(Box::default)
    }

    /// Changes the rare state if there is any (clearing needs no box), and
    /// frees the box once nothing is left in it; returns what `change` did.
    pub(super) fn change_seldom<R: Default>(&mut self, change: impl FnOnce(&mut Seldom) -> R) -> R {
        let Some(seldom) = self.seldom.as_deref_mut() else {
            return R::default();
        };
        let result = change(seldom);
        if seldom.is_empty() {
            self.seldom = None;
        }
        result
    }

    /// Until when a failed `before_master` keeps the instance in Fault.
    pub fn before_master_failed_until(&self) -> Option<Instant> {
        self.seldom()?.before_master_failed_until
    }

    /// Starts (`Some`) or ends (`None`) the Fault after a failed `before_master`.
    pub fn set_before_master_failed_until(&mut self, until: Option<Instant>) {
        match until {
            Some(_) => self.seldom_mut().before_master_failed_until = until,
            None => self.change_seldom(|s| s.before_master_failed_until = None),
        }
    }

    /// The fence run pending for this instance's mastership request, if any.
    pub(crate) fn fencing(&self) -> Option<&Fencing> {
        self.seldom()?.fencing.as_ref()
    }

    /// Notes the fence run started for the pending request.
    pub(crate) fn start_fencing(&mut self, fencing: Fencing) {
        self.seldom_mut().fencing = Some(fencing);
    }

    /// The fence run, ended.
    pub(crate) fn take_fencing(&mut self) -> Option<Fencing> {
        self.change_seldom(|s| s.fencing.take())
    }

    /// The silent Master the pending request has already fenced.
    pub(crate) fn fenced(&self) -> Option<IpAddr> {
        self.seldom()?.fenced
    }

    /// Notes (or forgets, `None`) the Master the pending request fenced.
    pub(crate) fn set_fenced(&mut self, master: Option<IpAddr>) {
        match master {
            Some(_) => self.seldom_mut().fenced = master,
            None => self.change_seldom(|s| s.fenced = None),
        }
    }

    /// Fence runs that failed or timed out.
    pub fn fence_failures(&self) -> u64 {
        self.seldom().map_or(0, |s| s.fence_failures)
    }

    /// Counts a failed fence run; returns the count.
    pub(crate) fn count_fence_failure(&mut self) -> u64 {
        let seldom = self.seldom_mut();
        seldom.fence_failures += 1;
        seldom.fence_failures
    }

    /// Adverts that could not be built or sent.
    pub fn send_errors(&self) -> u64 {
        self.seldom().map_or(0, |s| s.send_errors)
    }

    /// Counts an advert that could not be built or sent; returns the count.
    pub(super) fn count_send_error(&mut self) -> u64 {
        let seldom = self.seldom_mut();
        seldom.send_errors += 1;
        seldom.send_errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_only_with_nothing_set_and_no_counter_moved() {
        let mut seldom = Seldom::default();
        assert!(seldom.is_empty());
        seldom.handover = Some(Instant::now());
        assert!(!seldom.is_empty());
        seldom.handover = None;
        seldom.send_errors = 1;
        assert!(!seldom.is_empty(), "a counter that moved is kept");
    }
}
