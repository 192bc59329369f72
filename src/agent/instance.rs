//! One configured instance inside the agent: its virtual router plus what the
//! host adds around it — the make-before-break handover, the `before_master`
//! gate, health as last applied, the hook queue, and the numbered address jobs
//! that the daemon's worker carries out in order.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::health::Assessment;
use super::hooks::{Gate, HookQueue, TransitionArgs};
use super::receive::SocketKey;
use super::{AddressJob, AddressTarget, Effect, InstanceId, Out};
use crate::config::{self, Ipv4Checksum, VirtualIp};
use crate::vrrp::{Action, Event, RouterSettings, State, TransitionReason, VirtualRouter};
use crate::wire::vrrp::{Addresses, Advertisement, ChecksumForm};

/// What only the host knows about an instance's interface, looked up by the
/// daemon before the instance starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFacts {
    /// Interface index.
    pub ifindex: u32,
    /// Interface MAC: the link-layer address the announcements claim.
    pub mac: [u8; 6],
    /// IPv6 link-local address, the source of Neighbor Advertisements.
    pub link_local: Option<Ipv6Addr>,
    /// The advert source and tie-breaker: IPv4 primary or IPv6 link-local.
    pub source: IpAddr,
    /// Whether the interface is up with carrier now.
    pub carrier: bool,
}

impl InstanceFacts {
    /// The socket this instance speaks on.
    pub fn socket(&self) -> SocketKey {
        SocketKey {
            ifindex: self.ifindex,
            ipv6: self.source.is_ipv6(),
        }
    }
}

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
    pub config: config::Instance,
    /// Interface facts it started with.
    pub facts: InstanceFacts,
    /// The protocol state machine.
    pub router: VirtualRouter,
    /// Health as last applied to the router (priority, fault and why).
    pub health: Assessment,
    /// Until when a failed `before_master` keeps the instance in Fault.
    pub before_master_failed_until: Option<Instant>,
    /// The VIPs the address worker reports on the interface.
    pub present: Vec<VirtualIp>,
    /// The Master's address as last noted (for the master-changes metric).
    pub noted_master: Option<IpAddr>,
    /// Adverts the daemon could not send.
    pub send_errors: u64,
    /// The hooks and their queue.
    pub hooks: HookQueue,
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
    /// A voluntary handover in progress: the VIPs stay until the new Master
    /// speaks (and had one interval to announce), or until this deadline.
    handover: Option<Instant>,
    /// The gate for the hooks of the transition about to be reported.
    gate: Option<Gate>,
    /// The last address job queued and the last the worker finished.
    queued_seq: u64,
    /// See `queued_seq`.
    pub done_seq: u64,
}

impl InstanceCore {
    /// A new instance in Initialize; `startup` starts it.
    pub fn new(
        id: InstanceId,
        config: config::Instance,
        facts: InstanceFacts,
    ) -> Result<Self, crate::vrrp::SettingsError> {
        let settings = router_settings(&config, facts.source);
        let router = VirtualRouter::new(settings)?;
        let health = Assessment {
            priority: config.priority.get(),
            priority_reasons: Vec::new(),
            fault_reasons: Vec::new(),
        };
        Ok(InstanceCore {
            id,
            advert: AdvertTemplate::new(&config),
            hooks: HookQueue::new(config.hooks.clone()),
            config,
            facts,
            router,
            health,
            before_master_failed_until: None,
            present: Vec::new(),
            noted_master: None,
            send_errors: 0,
            term: 0,
            awaiting_before_master: None,
            add_pending: false,
            removal_requested: None,
            handover: None,
            gate: None,
            queued_seq: 0,
            done_seq: 0,
        })
    }

    /// What the daemon's address worker for this instance needs.
    pub fn address_target(&self) -> AddressTarget {
        AddressTarget {
            instance: self.id,
            name: self.config.name.clone(),
            interface: self.config.interface.clone(),
            ifindex: self.facts.ifindex,
            mac: self.facts.mac,
            link_local: self.facts.link_local,
            vips: self.config.virtual_ips.clone(),
            garp: self.config.garp,
        }
    }

    /// Applies a changed configuration of the same virtual router (same
    /// interface, VRID and family; owner or not as before) without leaving the
    /// current state: VIP lists change by their difference only. Returns false
    /// when the change needs a restart of the instance instead.
    pub fn reconfigure(&mut self, config: config::Instance, out: &mut Out) -> bool {
        let old = &self.config;
        let owner = |c: &config::Instance| c.priority.get() == 255;
        if config.interface != old.interface
            || config.vrid != old.vrid
            || config.address_family() != old.address_family()
            || owner(&config) != owner(old)
        {
            return false;
        }
        let settings = router_settings(&config, self.router.settings().primary_address);
        if self.router.update_settings(settings).is_err() {
            return false;
        }
        if config.virtual_ips != old.virtual_ips || config.garp != old.garp {
            self.queue(
                AddressJob::Reconfigure {
                    vips: config.virtual_ips.clone(),
                    garp: config.garp,
                },
                out,
            );
        }
        self.advert = AdvertTemplate::new(&config);
        self.hooks.set_hooks(config.hooks.clone());
        info!(instance = %config.name, "reload: reconfigured in place");
        self.config = config;
        true
    }

    /// Queues a job for the address worker; returns its number.
    pub fn queue(&mut self, job: AddressJob, out: &mut Out) -> u64 {
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
        self.handover.is_none() && self.addresses_settled() && self.hooks.is_idle()
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
        let was_fault = !self.health.fault_reasons.is_empty();
        let is_fault = !health.fault_reasons.is_empty();
        self.health = health;
        if is_fault && !was_fault {
            warn!(instance = %self.config.name, reasons = ?self.health.fault_reasons, "fault");
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
        if let (Event::AdvertReceived(advert), Some(until)) = (event, &mut self.handover) {
            if advert.priority > 0 {
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
        self.handover
    }

    /// The earliest time this instance must be woken: protocol timer,
    /// before_master hold, handover.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.router.next_deadline(),
            self.before_master_failed_until,
            self.handover,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Removes the VIPs kept for a handover (the new Master has spoken and
    /// announced, nobody took over in time, or the instance is going away).
    pub fn finish_handover(&mut self, out: &mut Out) {
        if self.handover.take().is_some() {
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
            self.before_master_failed_until = Some(now + retry);
        }
        true
    }

    /// Carries out one action; `before` is the state before the event.
    fn execute(&mut self, action: Action, before: State, now: Instant, out: &mut Out) {
        match action {
            Action::SendAdvert { priority, interval } => {
                match self
                    .advert
                    .packet(self.config.vrid, priority, interval, self.facts.source)
                {
                    Ok(packet) => out.push(Effect::SendAdvert {
                        instance: self.id,
                        socket: self.facts.socket(),
                        packet,
                    }),
                    Err(e) => self.send_failed(&e),
                }
            }
            Action::AddAddresses => {
                // Master again while handing over: the VIPs simply stay.
                if self.handover.take().is_some() {
                    self.hooks.resolve(Gate::AwaitRemoval, Gate::Open);
                }
                self.term += 1;
                self.add_pending = true;
                self.gate = Some(Gate::AwaitAdd);
                let args = self.args(State::Master, before);
                if self.hooks.before_master(args, self.term) {
                    self.awaiting_before_master = Some(false);
                } else {
                    self.add_vips(false, out);
                }
            }
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
                    if voluntary && vips_were_on {
                        // Make before break: the priority-0 advert makes the best
                        // Backup take over within its Skew_Time; until it speaks,
                        // we keep answering for the VIPs, so clients lose nothing.
                        self.handover = Some(now + self.router.master_down_interval());
                        self.gate = Some(Gate::AwaitRemoval);
                    } else {
                        let seq = self.remove_vips(out);
                        self.gate = Some(Gate::Addresses(seq));
                    }
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
                self.hooks
                    .transition(self.args(to, from), gate.unwrap_or(Gate::Open));
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
        }
    }

    /// Counts an advert that could not be built or sent.
    pub fn send_failed(&mut self, error: &str) {
        self.send_errors += 1;
        if self.send_errors.is_power_of_two() {
            warn!(instance = %self.config.name, errors = self.send_errors, "sending advert failed: {error}");
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
    }
}

/// Builds this instance's adverts, keeping the last one: most adverts repeat it.
#[derive(Debug)]
struct AdvertTemplate {
    addresses: Addresses,
    checksum: ChecksumForm,
    last: Option<(u8, Duration, Arc<[u8]>)>,
}

impl AdvertTemplate {
    fn new(config: &config::Instance) -> Self {
        AdvertTemplate {
            addresses: advert_addresses(config),
            checksum: match config.ipv4_checksum {
                Ipv4Checksum::PseudoHeader => ChecksumForm::PseudoHeader,
                Ipv4Checksum::Rfc9568 => ChecksumForm::MessageOnly,
            },
            last: None,
        }
    }

    fn packet(
        &mut self,
        vrid: u8,
        priority: u8,
        interval: Duration,
        source: IpAddr,
    ) -> Result<Arc<[u8]>, String> {
        if let Some((p, i, bytes)) = &self.last {
            if *p == priority && *i == interval {
                return Ok(bytes.clone());
            }
        }
        let advert = Advertisement::new(vrid, priority, interval, self.addresses.clone())
            .map_err(|e| e.to_string())?;
        let bytes: Arc<[u8]> = advert
            .to_bytes(source, crate::wire::vrrp_group(source), self.checksum)
            .map_err(|e| e.to_string())?
            .into();
        self.last = Some((priority, interval, bytes.clone()));
        Ok(bytes)
    }
}

/// The addresses an advert lists: the VIPs, in configured order.
fn advert_addresses(config: &config::Instance) -> Addresses {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for vip in &config.virtual_ips {
        match vip.addr {
            IpAddr::V4(a) => v4.push(a),
            IpAddr::V6(a) => v6.push(a),
        }
    }
    if v6.is_empty() {
        Addresses::V4(v4)
    } else {
        Addresses::V6(v6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use crate::notify::record::HookKind;
    use crate::vrrp::AdvertInfo;
    use std::net::Ipv4Addr;

    use super::super::hooks::Step;

    const US: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    const INTERVAL: Duration = Duration::from_millis(100);
    /// RFC 9568 §6.1 for priority 128 at 10 cs: 3 × 10 + (256 − 128) × 10 / 256 = 35 cs.
    const MDI_128: Duration = Duration::from_millis(350);

    fn yaml(priority: u8, extra: &str) -> String {
        format!(
            "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    \
             priority: {priority}\n    advert_interval: 100ms\n    \
             virtual_ips: [192.0.2.50/24]\n{extra}"
        )
    }

    const HOOKS: &str = "    hooks:\n      on_master: {command: m, timeout: 1s}\n      \
                         on_backup: {command: b, timeout: 1s}\n";
    const BEFORE: &str = "    hooks:\n      on_master: {command: m, timeout: 1s}\n      \
                          before_master: {command: bm, timeout: 1s}\n      \
                          before_master_retry: 2s\n";

    fn config(text: &str) -> config::Instance {
        parse_str(text, "t.yaml").expect("valid").instances[0].clone()
    }

    fn core(text: &str) -> InstanceCore {
        let facts = InstanceFacts {
            ifindex: 2,
            mac: [2, 0, 0, 0, 0, 1],
            link_local: None,
            source: US,
            carrier: true,
        };
        InstanceCore::new(InstanceId(1), config(text), facts).expect("valid settings")
    }

    /// The address jobs queued in `out`, with their numbers (other effects dropped).
    fn jobs(out: &mut Out) -> Vec<(u64, AddressJob)> {
        out.effects
            .drain(..)
            .filter_map(|e| match e {
                Effect::Address { seq, job, .. } => Some((seq, job)),
                _ => None,
            })
            .collect()
    }

    /// The priorities of the adverts queued in `out` (byte 2 of the message).
    fn adverts(out: &Out) -> Vec<u8> {
        out.effects
            .iter()
            .filter_map(|e| match e {
                Effect::SendAdvert { packet, .. } => Some(packet[2]),
                _ => None,
            })
            .collect()
    }

    fn advert(priority: u8) -> Event {
        Event::AdvertReceived(AdvertInfo {
            priority,
            interval: INTERVAL,
            source: PEER,
        })
    }

    /// Starts `core` and lets its down timer make it Master; returns when.
    fn to_master(core: &mut InstanceCore, t0: Instant, out: &mut Out) -> Instant {
        core.handle(t0, Event::Startup, out);
        let due = core.next_deadline().expect("down timer");
        let moved = core.handle(due, Event::TimerExpired, out);
        assert_eq!(moved.last().map(|t| t.to), Some(State::Master));
        due
    }

    /// Runs every hook that may start now, each to its end; returns their kinds.
    fn run_hooks(core: &mut InstanceCore) -> Vec<HookKind> {
        let mut next = 0;
        let mut ran = Vec::new();
        loop {
            let steps = core.hooks.pump(core.done_seq, &mut next);
            if steps.is_empty() {
                return ran;
            }
            for step in steps {
                match step {
                    Step::Run(run) => {
                        ran.push(run.kind);
                        core.hooks.finished(run.id);
                    }
                    Step::Skipped { kind, .. } => ran.push(kind),
                }
            }
        }
    }

    #[test]
    fn address_jobs_are_numbered_in_order_and_settle_when_the_last_is_done() {
        let mut core = core(&yaml(128, ""));
        let mut out = Out::default();
        assert!(core.addresses_settled() && core.is_quiet());
        assert_eq!(core.queue(AddressJob::Add, &mut out), 1);
        assert_eq!(core.queue(AddressJob::Announce, &mut out), 2);
        assert_eq!(core.queue(AddressJob::Remove, &mut out), 3);
        let seqs: Vec<u64> = jobs(&mut out).into_iter().map(|(s, _)| s).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        core.done_seq = 2;
        assert!(!core.addresses_settled());
        assert!(!core.is_quiet());
        core.done_seq = 3;
        assert!(core.addresses_settled() && core.is_quiet());
        core.done_seq = 4;
        assert!(core.addresses_settled());
    }

    #[test]
    fn becoming_master_adds_then_announces_and_on_master_waits_for_the_add() {
        let mut core = core(&yaml(128, HOOKS));
        let mut out = Out::default();
        to_master(&mut core, Instant::now(), &mut out);
        assert_eq!(
            jobs(&mut out),
            vec![(1, AddressJob::Add), (2, AddressJob::Announce)]
        );
        assert_eq!(
            run_hooks(&mut core),
            vec![HookKind::OnBackup],
            "on_master waits for job 1"
        );
        core.done_seq = 1;
        assert_eq!(run_hooks(&mut core), vec![HookKind::OnMaster]);
    }

    #[test]
    fn a_handover_keeps_the_vips_until_the_new_master_speaks() {
        let mut core = core(&yaml(128, HOOKS));
        let mut out = Out::default();
        let t = to_master(&mut core, Instant::now(), &mut out);
        jobs(&mut out);
        core.done_seq = 2;
        let t1 = t + Duration::from_millis(30);
        let moved = core.handle(t1, Event::Switchover, &mut out);
        assert_eq!(moved.len(), 1);
        assert_eq!(
            adverts(&out),
            vec![0],
            "priority 0 announces the resignation"
        );
        assert!(jobs(&mut out).is_empty(), "the VIPs stay for now");
        assert_eq!(core.handover_deadline(), Some(t1 + MDI_128));
        assert!(!core.is_quiet());
        // Another router resigning does not end our wait.
        core.handle(t1 + Duration::from_millis(1), advert(0), &mut out);
        assert_eq!(core.handover_deadline(), Some(t1 + MDI_128));
        // The new Master speaks: one of its intervals later, ours may go.
        let t2 = t1 + Duration::from_millis(10);
        core.handle(t2, advert(100), &mut out);
        assert_eq!(core.handover_deadline(), Some(t2 + INTERVAL));
        assert_eq!(core.next_deadline(), Some(t2 + INTERVAL));
        // A later advert does not push it back.
        core.handle(t2 + Duration::from_millis(50), advert(100), &mut out);
        assert_eq!(core.handover_deadline(), Some(t2 + INTERVAL));
        // on_backup waits for the removal, which is queued only now.
        assert_eq!(
            run_hooks(&mut core),
            vec![HookKind::OnBackup, HookKind::OnMaster]
        );
        core.finish_handover(&mut out);
        assert_eq!(jobs(&mut out), vec![(3, AddressJob::Remove)]);
        assert_eq!(core.handover_deadline(), None);
        core.finish_handover(&mut out);
        assert!(jobs(&mut out).is_empty(), "removed once");
        assert!(run_hooks(&mut core).is_empty());
        core.done_seq = 3;
        assert_eq!(run_hooks(&mut core), vec![HookKind::OnBackup]);
    }

    #[test]
    fn a_fault_during_a_handover_removes_the_vips_at_once() {
        let mut core = core(&yaml(128, ""));
        let mut out = Out::default();
        let t = to_master(&mut core, Instant::now(), &mut out);
        core.handle(t, Event::Switchover, &mut out);
        jobs(&mut out);
        assert!(core.handover_deadline().is_some());
        let fault = Assessment {
            priority: 128,
            priority_reasons: Vec::new(),
            fault_reasons: vec!["down".into()],
        };
        let moved = core.apply_health(t, fault, &mut out);
        assert_eq!(moved.last().map(|m| m.to), Some(State::Fault));
        assert_eq!(jobs(&mut out), vec![(3, AddressJob::Remove)]);
        assert_eq!(core.handover_deadline(), None);
    }

    #[test]
    fn master_again_during_a_handover_keeps_the_vips_without_a_new_removal() {
        let mut core = core(&yaml(128, ""));
        let mut out = Out::default();
        let t = to_master(&mut core, Instant::now(), &mut out);
        core.handle(t, Event::Switchover, &mut out);
        jobs(&mut out);
        let due = core.next_deadline().expect("timers");
        let moved = core.handle(due, Event::TimerExpired, &mut out);
        assert_eq!(moved.last().map(|m| m.to), Some(State::Master));
        assert_eq!(core.handover_deadline(), None);
        assert_eq!(
            jobs(&mut out),
            vec![(3, AddressJob::Add), (4, AddressJob::Announce)]
        );
    }

    #[test]
    fn a_preempted_master_removes_its_vips_at_once() {
        let mut core = core(&yaml(128, ""));
        let mut out = Out::default();
        let t = to_master(&mut core, Instant::now(), &mut out);
        jobs(&mut out);
        let moved = core.handle(t, advert(200), &mut out);
        assert_eq!(moved.last().map(|m| m.to), Some(State::Backup));
        assert_eq!(jobs(&mut out), vec![(3, AddressJob::Remove)]);
        assert_eq!(core.handover_deadline(), None);
    }

    #[test]
    fn a_lower_master_heard_makes_the_master_announce_again() {
        let mut core = core(&yaml(128, ""));
        let mut out = Out::default();
        let t = to_master(&mut core, Instant::now(), &mut out);
        jobs(&mut out);
        assert!(core.handle(t, advert(100), &mut out).is_empty());
        assert_eq!(jobs(&mut out), vec![(3, AddressJob::Announce)]);
    }

    #[test]
    fn before_master_gates_the_vips_of_its_own_term_only() {
        let mut core = core(&yaml(128, BEFORE));
        let mut out = Out::default();
        let t = to_master(&mut core, Instant::now(), &mut out);
        assert!(jobs(&mut out).is_empty(), "the VIPs wait for before_master");
        assert_eq!(run_hooks(&mut core), vec![HookKind::BeforeMaster]);
        assert!(!core.before_master_done(t, 0, true, &mut out), "stale term");
        assert!(jobs(&mut out).is_empty());
        assert!(core.before_master_done(t, 1, true, &mut out));
        assert_eq!(
            jobs(&mut out),
            vec![(1, AddressJob::Add), (2, AddressJob::Announce)],
            "the announcement asked for meanwhile follows the add"
        );
        assert!(
            !core.before_master_done(t, 1, true, &mut out),
            "reported once"
        );
        assert!(jobs(&mut out).is_empty());
    }

    #[test]
    fn before_master_failure_holds_a_fault_for_the_retry_time() {
        let mut core = core(&yaml(128, BEFORE));
        let mut out = Out::default();
        let t = to_master(&mut core, Instant::now(), &mut out);
        let t1 = t + Duration::from_millis(5);
        assert!(core.before_master_done(t1, 1, false, &mut out));
        assert!(jobs(&mut out).is_empty());
        let until = t1 + Duration::from_secs(2);
        assert_eq!(core.before_master_failed_until, Some(until));
        assert!(core.next_deadline().is_some_and(|d| d <= until));
        // Leaving Master before the report: its on_master hooks are skipped.
        let mut core2 = self::core(&yaml(128, BEFORE));
        let t = to_master(&mut core2, Instant::now(), &mut out);
        jobs(&mut out);
        let moved = core2.handle(t, advert(200), &mut out);
        assert_eq!(moved.last().map(|m| m.to), Some(State::Backup));
        assert!(
            !core2.before_master_done(t, 1, true, &mut out),
            "not Master now"
        );
        assert_eq!(jobs(&mut out), vec![(1, AddressJob::Remove)]);
    }

    #[test]
    fn a_switchover_while_before_master_runs_removes_at_once() {
        let mut core = core(&yaml(128, BEFORE));
        let mut out = Out::default();
        let t = to_master(&mut core, Instant::now(), &mut out);
        core.handle(t, Event::Switchover, &mut out);
        assert_eq!(
            jobs(&mut out),
            vec![(1, AddressJob::Remove)],
            "no VIPs were on: no handover"
        );
        assert_eq!(core.handover_deadline(), None);
        let mut next = 0;
        let steps = core.hooks.pump(1, &mut next);
        // before_master runs, then the abandoned on_master is skipped.
        assert!(matches!(&steps[..], [Step::Run(r)] if r.kind == HookKind::BeforeMaster));
        let Step::Run(run) = &steps[0] else {
            unreachable!()
        };
        core.hooks.finished(run.id);
        let steps = core.hooks.pump(1, &mut next);
        assert!(
            matches!(
                &steps[..],
                [Step::Skipped {
                    kind: HookKind::OnMaster,
                    ..
                }]
            ),
            "{steps:?}"
        );
    }

    #[test]
    fn health_moves_priority_first_then_fault_edges() {
        let mut core = core(&yaml(128, ""));
        let mut out = Out::default();
        let t = Instant::now();
        core.handle(t, Event::Startup, &mut out);
        let healthy = |priority| Assessment {
            priority,
            priority_reasons: Vec::new(),
            fault_reasons: Vec::new(),
        };
        assert!(core.apply_health(t, healthy(128), &mut out).is_empty());
        assert!(core.apply_health(t, healthy(90), &mut out).is_empty());
        assert_eq!(core.router.priority(), 90);
        let faulty = Assessment {
            fault_reasons: vec!["down".into()],
            ..healthy(90)
        };
        let moved = core.apply_health(t, faulty.clone(), &mut out);
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].to, State::Fault);
        assert!(core.apply_health(t, faulty, &mut out).is_empty(), "still");
        let moved = core.apply_health(t, healthy(90), &mut out);
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].from, State::Fault);
    }

    #[test]
    fn reconfigure_in_place_only_for_the_same_virtual_router() {
        let mut out = Out::default();
        for (changed, in_place) in [
            (yaml(128, "").replace("eth0", "eth1"), false),
            (yaml(128, "").replace("vrid: 51", "vrid: 52"), false),
            (
                yaml(128, "").replace("192.0.2.50/24", "2001:db8::50/64"),
                false,
            ),
            (yaml(255, ""), false),
            (yaml(100, ""), true),
        ] {
            let mut core = core(&yaml(128, ""));
            assert_eq!(
                core.reconfigure(config(&changed), &mut out),
                in_place,
                "{changed}"
            );
        }
        assert!(jobs(&mut out).is_empty(), "same VIPs: no address job");
        let mut core = core(&yaml(128, ""));
        let more = yaml(128, "").replace("[192.0.2.50/24]", "[192.0.2.50/24, 192.0.2.51/24]");
        assert!(core.reconfigure(config(&more), &mut out));
        assert!(
            matches!(&jobs(&mut out)[..], [(1, AddressJob::Reconfigure { vips, .. })] if vips.len() == 2)
        );
        let garp = format!("{more}    garp:\n      count: 2\n");
        assert!(core.reconfigure(config(&garp), &mut out));
        assert!(
            matches!(&jobs(&mut out)[..], [(2, AddressJob::Reconfigure { garp, .. })] if garp.count == 2)
        );
    }

    #[test]
    fn adverts_carry_the_current_priority_and_interval() {
        let cfg = config(&yaml(128, ""));
        let mut template = AdvertTemplate::new(&cfg);
        let first = template.packet(51, 128, INTERVAL, US).expect("builds");
        let again = template.packet(51, 128, INTERVAL, US).expect("builds");
        assert_eq!(first, again);
        let lower = template.packet(51, 90, INTERVAL, US).expect("builds");
        assert_eq!(lower[2], 90);
        let slower = template
            .packet(51, 90, Duration::from_millis(200), US)
            .expect("builds");
        assert_ne!(lower, slower);
        let v6 = config(&yaml(128, "").replace("192.0.2.50/24", "2001:db8::50/64"));
        assert!(matches!(advert_addresses(&v6), Addresses::V6(a) if a.len() == 1));
        assert!(matches!(advert_addresses(&cfg), Addresses::V4(a) if a.len() == 1));
    }

    #[test]
    fn send_errors_are_counted() {
        let mut core = core(&yaml(128, ""));
        core.send_failed("no route");
        core.send_failed("no route");
        core.send_failed("no route");
        assert_eq!(core.send_errors, 3);
    }
}
