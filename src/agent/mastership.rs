//! The agent's side of the mastership gate: a router that needs permission
//! asks ([`crate::vrrp::Action::RequestMastership`]); the agent takes the
//! unit's quorum key first (when `quorum` is configured), then answers with
//! [`Event::MastershipGranted`] or [`Event::MastershipDenied`]. It also stops
//! a Master whose lease lapsed, and gives keys back once no member of their
//! unit serves or waits.

use std::time::Instant;

use tracing::{info, warn};

use super::quorum::Verdict;
use super::{Agent, Effect};
use crate::notify::record::EventRecord;
use crate::quorum::QuorumReport;
use crate::vrrp::{Event, MastershipCause, State};

impl Agent {
    /// Answers every pending request for mastership (requests made while
    /// answering included: a sync group's partners follow its first member)
    /// and gives back keys nobody serves on. Runs at the end of every input.
    pub(super) fn settle_mastership(&mut self, now: Instant) {
        self.sync_gates(now);
        loop {
            let requests: Vec<(usize, MastershipCause)> = self
                .instances
                .iter_mut()
                .enumerate()
                .filter_map(|(index, i)| i.mastership_requested.take().map(|c| (index, c)))
                .collect();
            if requests.is_empty() {
                break;
            }
            self.invalidate_deadlines();
            for (index, cause) in requests {
                self.on_mastership_request(now, index, cause);
            }
        }
        self.release_idle_keys();
        for event in self.quorum.changes() {
            info!(key = %event.key, from = %event.from, to = %event.to, holder = ?event.holder, "quorum key");
            self.out.push(Effect::Event(EventRecord::Quorum(event)));
        }
    }

    /// Turns each router's gate on where the configuration asks for it; a
    /// router that waits while its gate is turned off (quorum removed by a
    /// reload) is granted at once, as it would have become Master ungated.
    pub(super) fn sync_gates(&mut self, now: Instant) {
        for index in 0..self.instances.len() {
            self.sync_gate(now, index);
        }
    }

    /// [`sync_gates`](Self::sync_gates) for instance `index` alone.
    pub(super) fn sync_gate(&mut self, now: Instant, index: usize) {
        let quorum = self.quorum.enabled();
        let instance = &mut self.instances[index];
        if instance.router.awaiting_mastership().is_none() {
            // A request called off (its Master spoke again) forgets its
            // fence: should that Master fall silent again, it is fenced again.
            instance.set_fenced(None);
        }
        let wanted = quorum || instance.config.hooks.fence.is_some();
        if instance.router.mastership_gate() == wanted {
            return;
        }
        instance.router.set_mastership_gate(wanted);
        if !wanted && instance.router.awaiting_mastership().is_some() {
            instance.mastership_requested = None;
            self.grant(now, index);
        }
    }

    /// The key that guards instance `index`, when quorum is configured.
    pub(super) fn key_of(&self, index: usize) -> Option<String> {
        let name = &self.instances[index].config.name;
        let group = self
            .config
            .sync_groups
            .iter()
            .find(|g| g.instances.iter().any(|m| m == name))
            .map(|g| g.name.as_str());
        self.quorum.key_of(name, group)
    }

    /// The instances guarded by `key`.
    fn members_of(&self, key: &str) -> Vec<usize> {
        (0..self.instances.len())
            .filter(|&index| self.key_of(index).as_deref() == Some(key))
            .collect()
    }

    fn on_mastership_request(&mut self, now: Instant, index: usize, cause: MastershipCause) {
        if self.instances[index].router.awaiting_mastership().is_none() {
            return; // Cancelled while the request was on its way.
        }
        info!(instance = %self.instances[index].config.name, cause = %cause, "asks to become Master");
        if let Some(key) = self.key_of(index) {
            let (go, request) = self.quorum.request(&key, now);
            if let Some(request) = request {
                self.out.push(Effect::Quorum(request));
            }
            if !go {
                self.out.status_dirty = true;
                return; // The worker's report decides.
            }
        }
        self.after_lease(now, index);
    }

    /// Lets instance `index` become Master.
    pub(super) fn grant(&mut self, now: Instant, index: usize) {
        self.instances[index].set_fenced(None);
        let transitions =
            self.instances[index].handle(now, Event::MastershipGranted, &mut self.out);
        self.after_transitions(index, transitions, now);
    }

    /// Keeps instance `index` Backup; its router asks again later.
    pub(super) fn deny(&mut self, now: Instant, index: usize) {
        self.instances[index].set_fenced(None);
        let transitions = self.instances[index].handle(now, Event::MastershipDenied, &mut self.out);
        self.after_transitions(index, transitions, now);
        self.out.status_dirty = true;
        self.invalidate_deadlines();
    }

    /// The quorum worker reported.
    pub(super) fn on_quorum_report(&mut self, now: Instant, report: QuorumReport) {
        match &report {
            QuorumReport::HeldBy { key, holder } => {
                info!(key = %key, holder = %holder, "quorum key held by another node")
            }
            QuorumReport::Unreachable { key, error } => {
                warn!(key = ?key, "quorum store unreachable: {error}")
            }
            QuorumReport::LeaseLost => warn!("quorum lease lost"),
            _ => {}
        }
        let verdicts = self.quorum.on_report(now, report);
        self.apply_verdicts(now, verdicts);
        self.out.status_dirty = true;
        self.invalidate_deadlines();
    }

    /// A lease may have lapsed, or an unreachable key be due for a retry.
    pub(super) fn on_quorum_timer(&mut self, now: Instant) {
        if self.quorum.next_deadline().is_some_and(|t| t <= now) {
            let verdicts = self.quorum.on_timer(now);
            self.apply_verdicts(now, verdicts);
            self.out.status_dirty = true;
            self.invalidate_deadlines();
        }
    }

    fn apply_verdicts(&mut self, now: Instant, verdicts: Vec<Verdict>) {
        for verdict in verdicts {
            match verdict {
                Verdict::Grant(key) => {
                    for index in self.members_of(&key) {
                        if self.instances[index].router.awaiting_mastership().is_some() {
                            self.after_lease(now, index);
                        }
                    }
                }
                Verdict::Deny(key) => {
                    for index in self.members_of(&key) {
                        if self.instances[index].router.awaiting_mastership().is_some() {
                            self.deny(now, index);
                        }
                    }
                }
                Verdict::StopServing(key) => self.stop_serving(now, &key),
                Verdict::Retry(key) => {
                    let serving = self
                        .members_of(&key)
                        .into_iter()
                        .any(|index| self.instances[index].router.state() == State::Master);
                    if let Some(request) = serving.then(|| self.quorum.confirm(&key)).flatten() {
                        self.out.push(Effect::Quorum(request));
                    }
                }
            }
        }
    }

    /// The unit's Masters stop serving at once (VIPs removed, priority-0
    /// advert), and the key is given back in case etcd still has it ours
    /// (a lapse by our clock, a late acquisition): otherwise the worker
    /// would keep the lease of a key nobody serves on alive.
    fn stop_serving(&mut self, now: Instant, key: &str) {
        for index in self.members_of(key) {
            if self.instances[index].router.state() != State::Master {
                continue;
            }
            warn!(instance = %self.instances[index].config.name, key = %key, "quorum lease lost: virtual IPs removed");
            let transitions = self.instances[index].handle(now, Event::QuorumLost, &mut self.out);
            self.after_transitions(index, transitions, now);
        }
        if let Some(request) = self.quorum.release(key) {
            self.out.push(Effect::Quorum(request));
        }
    }

    /// Gives back every key of a unit with no member Master or waiting (the
    /// handover of a resigning Master stays make-before-break: the VIPs are
    /// the instance's business; the key goes now so the new Master takes it
    /// at once). Asks for the key of a Master that serves without it (quorum
    /// turned on by a reload) without stopping it first.
    fn release_idle_keys(&mut self) {
        let keys: Vec<String> = self.quorum.units().map(|u| u.key.clone()).collect();
        for key in keys {
            let members = self.members_of(&key);
            let serving = members
                .iter()
                .any(|&i| self.instances[i].router.state() == State::Master);
            let waiting = members
                .iter()
                .any(|&i| self.instances[i].router.awaiting_mastership().is_some());
            let request = if serving {
                let off = self
                    .quorum
                    .unit(&key)
                    .is_some_and(|u| u.state == super::quorum::LeaseState::Off);
                off.then(|| self.quorum.confirm(&key)).flatten()
            } else if !waiting {
                self.quorum.release(&key)
            } else {
                None
            };
            if let Some(request) = request {
                self.out.push(Effect::Quorum(request));
                self.out.status_dirty = true;
                self.invalidate_deadlines();
            }
        }
    }
}
