//! One configured instance inside the agent: its virtual router plus what the
//! host adds around it — the make-before-break handover, the `before_master`
//! gate, health as last applied, the hook queue, and the numbered address jobs
//! that the daemon's worker carries out in order.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};

use super::advert::AdvertTemplate;
use super::health::{AppliedHealth, Assessment};
use super::heartbeat::HeartbeatLink;
use super::hooks::{Gate, HookQueue, TransitionArgs};
use super::receive::SocketKey;
use super::reconcile::Reconcile;
use super::unicast::{advert_source, destinations};
use super::versions::MixedVersions;
use super::{AddressJob, AddressTarget, Effect, InstanceId, Out};
use crate::config::{self, VirtualIp};
use crate::vrrp::{
    Action, Event, MastershipCause, RouterSettings, State, TransitionReason, VirtualRouter,
};

/// A state transition as the agent reports it (events, sync groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why.
    pub reason: TransitionReason,
}

/// A running instance.
#[derive(Debug)]
pub struct InstanceCore {
    /// Names this run of the instance in effects and reports.
    pub id: InstanceId,
    /// The validated configuration.
    pub config: Arc<config::Instance>,
    /// Interface facts it started with.
    pub facts: InstanceFacts,
    /// The protocol state machine.
    pub router: VirtualRouter,
    /// Health as last applied to the router (priority, fault and why).
    pub health: AppliedHealth,
    /// The VIPs the address worker reports on the interface.
    pub present: Vec<VirtualIp>,
    /// The Master's address as last noted (for the master-changes metric).
    pub noted_master: Option<IpAddr>,
    /// The hooks and their queue.
    pub hooks: HookQueue,
    /// Whether the VIPs should be on, their lifetime refresh, and repairs.
    pub reconcile: Reconcile,
    /// The heartbeat links, in configured order (a slice: eight bytes less
    /// than a list in each instance, most of which have none).
    pub heartbeat: Box<[HeartbeatLink]>,
    /// The VRRPv3 adverts heard lately, whose VRRPv2 twins a `both`
    /// instance ignores (RFC 9568 §8.4.2).
    pub versions: MixedVersions,
    advert: AdvertTemplate,
    /// Counts the times this instance became Master; a `before_master`
    /// report for an older term is stale.
    term: u64,
    /// `before_master` runs for term `term`: the VIPs wait for it (and
    /// whether to announce after them).
    awaiting_before_master: Option<bool>,
    /// Master entered, VIPs not yet queued: the on_master hooks wait.
    add_pending: bool,
    /// The state machine asked for the VIPs to go (and whether they were on);
    /// how is decided at its transition.
    removal_requested: Option<bool>,
    /// What the instance seldom has (`seldom.rs`): a `before_master`
    /// failure, a handover, a fence, failed sends. `None` nearly always.
    seldom: Option<Box<seldom::Seldom>>,
    /// Set while [`reclaim`](Self::reclaim) feeds the router: the Master
    /// term it enters keeps the addresses that never left, with no hooks.
    reclaiming: bool,
    /// The gate for the hooks of the transition about to be reported.
    gate: Option<Gate>,
    /// The last address job queued and the last the worker finished.
    queued_seq: u64,
    /// See `queued_seq`.
    pub done_seq: u64,
    /// The router asked for mastership; the agent answers (`mastership.rs`).
    pub mastership_requested: Option<MastershipCause>,
}

impl InstanceCore {
    /// A new instance in Initialize; `startup` starts it.
    pub fn new(
        id: InstanceId,
        config: Arc<config::Instance>,
        facts: InstanceFacts,
    ) -> Result<Self, crate::vrrp::SettingsError> {
        let settings = router_settings(&config, advert_source(&config, facts.source));
        let router = VirtualRouter::new(settings)?;
        let health = AppliedHealth::new(config.priority.get());
        Ok(InstanceCore {
            id,
            advert: AdvertTemplate::new(&config),
            hooks: HookQueue::default(),
            reconcile: Reconcile::default(),
            heartbeat: HeartbeatLink::all_of(&config).into_boxed_slice(),
            versions: MixedVersions::default(),
            config,
            facts,
            router,
            health,
            present: Vec::new(),
            noted_master: None,
            term: 0,
            awaiting_before_master: None,
            add_pending: false,
            removal_requested: None,
            seldom: None,
            reclaiming: false,
            gate: None,
            queued_seq: 0,
            done_seq: 0,
            mastership_requested: None,
        })
    }

    /// The IP source of this instance's adverts (`unicast_source`, else the
    /// interface's address): what peers see and compare in a tie-break.
    pub fn advert_source(&self) -> IpAddr {
        advert_source(&self.config, self.facts.source)
    }

    /// What the daemon's address worker for this instance needs. With a
    /// virtual MAC, the VIPs live on the macvlan and are announced with its
    /// MAC: clients then keep one neighbour entry whoever is Master.
    pub fn address_target(&self) -> AddressTarget {
        let (vmac, ifindex, mac) = match &self.facts.vmac {
            Some(vmac) => (Some(vmac.interface.clone()), vmac.ifindex, vmac.mac),
            None => (None, self.facts.ifindex, self.facts.mac),
        };
        AddressTarget {
            instance: self.id,
            config: self.config.clone(),
            vmac,
            ifindex,
            mac,
            link_local: self.facts.link_local,
        }
    }

    /// Applies a changed configuration of the same virtual router (same
    /// interface, VRID, family and virtual MAC; owner or not as before)
    /// without leaving the current state: VIP lists change by their
    /// difference only. Returns false when the change needs a restart of the
    /// instance instead.
    pub fn reconfigure(&mut self, config: Arc<config::Instance>, out: &mut Out) -> bool {
        let old = &self.config;
        let owner = |c: &config::Instance| c.priority.get() == 255;
        if config.interface != old.interface
            || config.vrid != old.vrid
            || config.address_family() != old.address_family()
            || owner(&config) != owner(old)
            // The VIPs move to or from a macvlan: a new address worker.
            || config.vmac != old.vmac
        {
            return false;
        }
        let settings = router_settings(&config, advert_source(&config, self.facts.source));
        if self.router.update_settings(settings).is_err() {
            return false;
        }
        let lifetime = config.address_lifetime();
        if lifetime != old.address_lifetime() {
            self.reconcile.lifetime_changed();
        }
        if config.virtual_ips != old.virtual_ips
            || config.garp != old.garp
            || lifetime != old.address_lifetime()
        {
            self.queue(AddressJob::Reconfigure(config.clone()), out);
        }
        self.advert = AdvertTemplate::new(&config);
        let links = std::mem::take(&mut self.heartbeat).into_vec();
        self.heartbeat = HeartbeatLink::reconfigured(links, &config).into_boxed_slice();
        info!(instance = %config.name, "reload: reconfigured in place");
        self.config = config;
        true
    }

    /// Queues a job for the address worker; returns its number.
    pub fn queue(&mut self, job: AddressJob, out: &mut Out) -> u64 {
        self.reconcile.queued(&job);
        self.queued_seq += 1;
        out.push(Effect::Address {
            instance: self.id,
            seq: self.queued_seq,
            job,
        });
        self.queued_seq
    }

    /// True when every address job queued has been done.
    pub fn addresses_settled(&self) -> bool {
        self.done_seq >= self.queued_seq
    }

    /// True when nothing of this instance is pending: no handover, no address
    /// job, no hook.
    pub fn is_quiet(&self) -> bool {
        self.handover_deadline().is_none() && self.addresses_settled() && self.hooks.is_idle()
    }

    /// Applies a new health assessment: priority first, then fault edges, so a
    /// recovering instance rejoins with its new priority.
    pub fn apply_health(
        &mut self,
        now: Instant,
        health: Assessment,
        out: &mut Out,
    ) -> Vec<Transition> {
        let mut transitions = Vec::new();
        if health.priority != self.router.priority() {
            info!(instance = %self.config.name, priority = health.priority, reasons = ?health.priority_reasons, "priority changed");
            transitions.extend(self.handle(now, Event::PriorityChanged(health.priority), out));
        }
        let was_fault = !self.health.fault_reasons().is_empty();
        let is_fault = !health.fault_reasons.is_empty();
        self.health = AppliedHealth::from(health);
        if is_fault && !was_fault {
            warn!(instance = %self.config.name, reasons = ?self.health.fault_reasons(), "fault");
            transitions.extend(self.handle(now, Event::FaultSet, out));
        } else if was_fault && !is_fault {
            info!(instance = %self.config.name, "fault cleared");
            transitions.extend(self.handle(now, Event::FaultCleared, out));
        }
        transitions
    }

    /// Feeds one event to the state machine and carries out what it asks;
    /// returns the transitions it made.
    pub fn handle(&mut self, now: Instant, event: Event, out: &mut Out) -> Vec<Transition> {
        let heard = match event {
            Event::AdvertReceived(advert) => Some(advert),
            Event::HeartbeatReceived(heard) => Some(heard.advert),
            _ => None,
        };
        if let Some(advert) = heard {
            self.note_successor(now, advert);
        }
        if let Some(advert) = heard.filter(|advert| advert.priority > 0) {
            if let Some(until) = self.seldom.as_deref_mut().and_then(|s| s.handover.as_mut()) {
                // The new Master speaks. Its announcements follow once its
                // VIPs are on, so ours go one of its intervals later.
                *until = (*until).min(now + advert.interval);
            }
        }
        let mut transitions = Vec::new();
        let before = self.router.state();
        for action in self.router.handle(now, event) {
            if let Action::StateChanged { from, to, reason } = action {
                transitions.push(Transition { from, to, reason });
            }
            self.execute(action, before, now, out);
        }
        if self.removal_requested.take().is_some() {
            // Not followed by a transition: remove now.
            self.remove_vips(out);
        }
        transitions
    }

    /// When a pending handover gives up waiting for the new Master.
    pub fn handover_deadline(&self) -> Option<Instant> {
        self.seldom()?.handover
    }

    /// The earliest time this instance must be woken: protocol timer,
    /// before_master hold, handover.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.router.next_deadline(),
            self.before_master_failed_until(),
            self.handover_deadline(),
            super::reconcile::refresh_wake(
                self.reconcile.next_refresh(),
                self.router.next_deadline(),
            ),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Ends a handover; true if one was in progress.
    fn take_handover(&mut self) -> bool {
        self.change_seldom(|s| s.handover.take().is_some())
    }

    /// Removes the VIPs kept for a handover (the new Master has spoken and
    /// announced, nobody took over in time, or the instance is going away).
    pub fn finish_handover(&mut self, out: &mut Out) {
        if self.take_handover() {
            let seq = self.queue(AddressJob::Remove, out);
            self.hooks.resolve(Gate::AwaitRemoval, Gate::Addresses(seq));
        }
    }

    /// Queues the removal now; returns the job number the hooks wait for.
    fn remove_vips(&mut self, out: &mut Out) -> u64 {
        self.finish_handover(out);
        self.queue(AddressJob::Remove, out)
    }

    /// `before_master` finished for Master term `term`: add the VIPs if it
    /// succeeded and we are still that Master; on failure, hold a Fault for
    /// `before_master_retry` (the caller re-assesses health). Returns whether
    /// the report was current.
    pub fn before_master_done(
        &mut self,
        now: Instant,
        term: u64,
        success: bool,
        out: &mut Out,
    ) -> bool {
        if term != self.term || self.router.state() != State::Master {
            return false;
        }
        let Some(announce) = self.awaiting_before_master.take() else {
            return false;
        };
        if success {
            self.add_vips(announce, out);
        } else {
            let retry = self.config.hooks.before_master_retry;
            warn!(instance = %self.config.name, "before_master failed: virtual IPs stay off; Fault for {retry:?}");
            self.set_before_master_failed_until(Some(now + retry));
        }
        true
    }

    /// Carries out one action; `before` is the state before the event.
    fn execute(&mut self, action: Action, before: State, now: Instant, out: &mut Out) {
        match action {
            Action::SendAdvert { priority, interval } => {
                let source = self.advert_source();
                // Unicast adverts leave through the interface even with a
                // virtual MAC: sent through the macvlan, the ARP question for
                // a peer would carry our own address with the shared virtual
                // MAC, and the peer would send what is ours to the Master.
                let socket = if self.config.unicast_peers.is_empty() {
                    self.facts.send_socket()
                } else {
                    self.facts.socket()
                };
                // Unicast peers each get their own copy; otherwise the group
                // does. In `both` mode each gets the VRRPv3 advert, then its
                // VRRPv2 twin (RFC 9568 §8.4.2: an Active Router configured
                // for both MUST send both).
                let versions = self.advert.versions();
                // Failures are counted after the loop, which borrows the config.
                let mut failures = Vec::new();
                for destination in destinations(&self.config, source) {
                    for &version in versions {
                        match self.advert.packet_in(
                            version,
                            self.config.vrid,
                            priority,
                            interval,
                            source,
                            destination,
                        ) {
                            Ok(packet) => out.push(Effect::SendAdvert {
                                instance: self.id,
                                socket,
                                source,
                                destination,
                                packet,
                            }),
                            Err(e) => failures.push(e),
                        }
                    }
                }
                for e in failures {
                    self.send_failed(&e);
                }
                // The same advert on every heartbeat link, from our address there.
                for link in &mut self.heartbeat {
                    match link.packet(self.config.vrid, priority, interval) {
                        Some((socket, source, destination, Ok(packet))) => {
                            out.push(Effect::SendAdvert {
                                instance: self.id,
                                socket,
                                source,
                                destination,
                                packet,
                            })
                        }
                        Some((.., Err(e))) => link.send_failed(&self.config.name, &e),
                        None => {}
                    }
                }
            }
            Action::AddAddresses if self.reclaiming && self.handover_deadline().is_some() => {
                // Nobody took over: the addresses were kept all along.
                self.take_handover();
                self.term += 1;
                self.gate = None;
                let dropped = self.hooks.withdraw(Gate::AwaitRemoval);
                info!(
                    instance = %self.config.name,
                    hooks_dropped = dropped,
                    "nobody took over: Master again, the virtual IPs never left"
                );
            }
            Action::AddAddresses => {
                // Master again while handing over: the VIPs simply stay, and
                // after_backup, which promises they are off, does not run.
                if self.take_handover() {
                    self.hooks.resolve(Gate::AwaitRemoval, Gate::Kept);
                }
                self.term += 1;
                self.add_pending = true;
                self.gate = Some(Gate::AwaitAdd);
                let args = self.args(State::Master, before);
                if self
                    .hooks
                    .before_master(&self.config.hooks, args, self.term)
                {
                    self.awaiting_before_master = Some(false);
                } else {
                    self.add_vips(false, out);
                }
            }
            Action::RequestMastership { cause } => self.mastership_requested = Some(cause),
            Action::Announce => match &mut self.awaiting_before_master {
                Some(announce) => *announce = true,
                None => {
                    self.queue(AddressJob::Announce, out);
                }
            },
            Action::RemoveAddresses => {
                let vips_were_on = !self.add_pending;
                if self.add_pending {
                    // The on_master hooks wait for addresses that never come.
                    self.add_pending = false;
                    self.awaiting_before_master = None;
                    if self.gate == Some(Gate::AwaitAdd) {
                        self.gate = Some(Gate::Skip);
                    }
                    self.hooks.resolve(Gate::AwaitAdd, Gate::Skip);
                }
                // How depends on why we leave Master: see the transition.
                self.removal_requested = Some(vips_were_on);
            }
            Action::StateChanged { from, to, reason } => {
                info!(
                    instance = %self.config.name,
                    from = %from,
                    to = %to,
                    priority = self.router.priority(),
                    reason = %reason,
                    "state changed"
                );
                if let Some(vips_were_on) = self.removal_requested.take() {
                    let voluntary = matches!(
                        reason,
                        TransitionReason::Shutdown
                            | TransitionReason::Switchover
                            | TransitionReason::Resigned
                            | TransitionReason::Maintenance
                    );
                    if voluntary && from == State::Master {
                        self.seldom_mut().successor = Some(SuccessorWatch {
                            resigned_at: now,
                            heard: None,
                        });
                    }
                    if voluntary && vips_were_on {
                        // Make before break: the priority-0 advert makes the best
                        // Backup take over within its Skew_Time; until it speaks,
                        // we keep answering for the VIPs, so clients lose nothing.
                        let until = now + self.router.master_down_interval();
                        self.seldom_mut().handover = Some(until);
                        self.gate = Some(Gate::AwaitRemoval);
                    } else {
                        let seq = self.remove_vips(out);
                        self.gate = Some(Gate::Addresses(seq));
                    }
                }
                if to != State::Backup {
                    self.change_seldom(|s| s.successor = None);
                }
                if reason == TransitionReason::Reclaimed {
                    // Master → Backup → Master with the addresses on all
                    // along: for the services nothing happened, so no hooks.
                    self.gate = None;
                    return;
                }
                if to == State::Fault {
                    // A host that must not serve gives up what a handover
                    // kept: the VIPs go now, not when the new Master speaks.
                    self.finish_handover(out);
                }
                let gate = if to == State::Master || from == State::Master {
                    self.gate.take()
                } else {
                    None
                };
                let args = self.args(to, from);
                self.hooks
                    .transition(&self.config.hooks, args, gate.unwrap_or(Gate::Open));
            }
        }
    }

    fn add_vips(&mut self, announce: bool, out: &mut Out) {
        let seq = self.queue(AddressJob::Add, out);
        if self.add_pending {
            self.add_pending = false;
            if self.gate == Some(Gate::AwaitAdd) {
                self.gate = Some(Gate::Addresses(seq));
            }
            self.hooks.resolve(Gate::AwaitAdd, Gate::Addresses(seq));
        }
        if announce {
            self.queue(AddressJob::Announce, out);
        }
    }

    fn args(&self, to: State, from: State) -> TransitionArgs {
        TransitionArgs {
            name: self.config.name.clone(),
            group: false,
            to,
            from,
            priority: self.router.priority(),
            peer: None,
        }
    }

    /// Counts an advert that could not be sent on `socket`: the interface's,
    /// or a heartbeat link's, each counted apart.
    pub fn send_failed_on(&mut self, socket: SocketKey, error: &str) {
        let link = self
            .heartbeat
            .iter_mut()
            .find(|l| l.bound.is_some_and(|f| f.socket() == socket));
        match link {
            Some(link) if socket != self.facts.socket() && socket != self.facts.send_socket() => {
                link.send_failed(&self.config.name, error)
            }
            _ => self.send_failed(error),
        }
    }

    /// Counts an advert that could not be built or sent.
    pub fn send_failed(&mut self, error: &str) {
        let errors = self.count_send_error();
        if errors.is_power_of_two() {
            warn!(instance = %self.config.name, errors, "sending advert failed: {error}");
        }
    }
}

/// The router's settings from the config and the host's primary address.
fn router_settings(config: &config::Instance, primary_address: IpAddr) -> RouterSettings {
    RouterSettings {
        priority: config.priority.get(),
        advert_interval: config.advert_interval,
        preempt: config.preempt,
        preempt_delay: config.preempt_delay,
        primary_address,
        // `both` keeps VRRPv3's timers: its VRRPv3 peers compute them so.
        vrrpv2_timers: config.version == config::VrrpVersion::V2,
    }
}

mod facts;
mod seldom;
mod successor;
#[cfg(test)]
mod tests;

pub use self::facts::{InstanceFacts, VirtualMacFacts};
pub use self::successor::SuccessorWatch;
