//! One configured instance at run time: its state machine, the socket it speaks on,
//! and its address worker. It turns the core's actions into I/O.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::addresses::{AddressJob, Present};
use super::health::Assessment;
use super::hooks::{Gate, HookQueue, TransitionArgs};
use crate::config::{self, Ipv4Checksum};
use crate::platform::vrrp_socket::VrrpSocket;
use crate::vrrp::{Action, Event, RouterSettings, State, TransitionReason, VirtualRouter};
use crate::wire::vrrp::{Addresses, Advertisement, ChecksumForm};

/// A state transition as the event loop reports it (events, sync groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why.
    pub reason: TransitionReason,
}

/// A running instance: config, protocol state, and the handles to carry out actions.
pub struct InstanceRuntime {
    /// The instance's validated configuration.
    pub config: config::Instance,
    /// The protocol state machine.
    pub router: VirtualRouter,
    /// Index of the instance's interface.
    pub ifindex: u32,
    /// The socket of that interface and family.
    pub socket: Arc<VrrpSocket>,
    /// Adverts that could not be sent (full buffer, interface gone).
    pub send_errors: u64,
    /// Health as last applied to the router (priority, fault and why).
    pub health: Assessment,
    /// Until when a failed `before_master` keeps the instance in Fault.
    pub before_master_failed_until: Option<Instant>,
    /// The VIPs the address worker has on the interface.
    pub present: Present,
    /// The Master's address as last noted (for the master-changes metric).
    pub noted_master: Option<IpAddr>,
    advert_addresses: Addresses,
    checksum: ChecksumForm,
    /// The last advert built, by (priority, interval): most adverts repeat it.
    advert_cache: Option<(u8, std::time::Duration, Vec<u8>)>,
    jobs: mpsc::UnboundedSender<AddressJob>,
    worker: JoinHandle<()>,
    hooks: HookQueue,
    /// Counts the times this instance became Master; a `before_master` report
    /// for an older term is stale.
    term: u64,
    /// The VIPs wait for `before_master` (term `term`); announce after them.
    awaiting_before_master: Option<bool>,
    /// Completes once the VIPs are on: the `on_master` hooks wait for it.
    vips_on: Option<oneshot::Sender<()>>,
    /// The gate for the hooks of the transition being reported.
    gate: Option<Gate>,
    /// The state machine asked for the VIPs to go (and whether they were on);
    /// how is decided at its transition.
    removal_requested: Option<bool>,
    /// A voluntary handover in progress: the VIPs stay until the new Master
    /// speaks (or until this deadline), then go; the sender completes the
    /// hooks' gate once they are off.
    handover: Option<(Instant, oneshot::Sender<()>)>,
}

impl InstanceRuntime {
    /// Wraps a router whose address worker is already running.
    pub fn new(
        config: config::Instance,
        router: VirtualRouter,
        ifindex: u32,
        socket: Arc<VrrpSocket>,
        (jobs, worker): (mpsc::UnboundedSender<AddressJob>, JoinHandle<()>),
        present: Present,
        hooks: HookQueue,
    ) -> Self {
        let advert_addresses = advert_addresses(&config);
        let checksum = checksum_form(config.ipv4_checksum);
        let health = Assessment {
            priority: config.priority.get(),
            priority_reasons: Vec::new(),
            fault_reasons: Vec::new(),
        };
        InstanceRuntime {
            config,
            router,
            ifindex,
            socket,
            send_errors: 0,
            health,
            before_master_failed_until: None,
            present,
            noted_master: None,
            advert_addresses,
            checksum,
            advert_cache: None,
            jobs,
            worker,
            hooks,
            term: 0,
            awaiting_before_master: None,
            vips_on: None,
            gate: None,
            removal_requested: None,
            handover: None,
        }
    }

    /// Applies a changed configuration of the same virtual router (same
    /// interface, VRID and family; owner or not as before) without leaving the
    /// current state: VIP lists change by their difference only. Returns false
    /// when the change needs a restart of the instance instead.
    pub fn reconfigure(&mut self, config: config::Instance) -> bool {
        let old = &self.config;
        let owner = |c: &config::Instance| c.priority.get() == 255;
        if config.interface != old.interface
            || config.vrid != old.vrid
            || config.address_family() != old.address_family()
            || owner(&config) != owner(old)
        {
            return false;
        }
        let settings = RouterSettings {
            priority: config.priority.get(),
            advert_interval: config.advert_interval,
            preempt: config.preempt,
            preempt_delay: config.preempt_delay,
            primary_address: self.router.settings().primary_address,
        };
        if self.router.update_settings(settings).is_err() {
            return false;
        }
        if config.virtual_ips != old.virtual_ips || config.garp != old.garp {
            self.queue(AddressJob::Reconfigure {
                vips: config.virtual_ips.clone(),
                garp: config.garp,
            });
        }
        self.advert_addresses = advert_addresses(&config);
        self.checksum = checksum_form(config.ipv4_checksum);
        self.advert_cache = None;
        self.hooks.set_hooks(config.hooks.clone());
        info!(instance = %config.name, "reload: reconfigured in place");
        self.config = config;
        true
    }

    /// Queues a job for the address worker (cleanup at start, for example).
    pub fn queue(&self, job: AddressJob) {
        // The worker only stops after we drop the sender, so this cannot fail
        // unless the worker panicked; then there is nobody left to tell.
        let _ = self.jobs.send(job);
    }

    /// Applies a new health assessment: priority first, then fault edges, so a
    /// recovering instance rejoins with its new priority.
    pub fn apply_health(&mut self, now: Instant, health: Assessment) -> Vec<Transition> {
        let mut transitions = Vec::new();
        if health.priority != self.router.priority() {
            info!(instance = %self.config.name, priority = health.priority, reasons = ?health.priority_reasons, "priority changed");
            transitions.extend(self.handle(now, Event::PriorityChanged(health.priority)));
        }
        let was_fault = !self.health.fault_reasons.is_empty();
        let is_fault = !health.fault_reasons.is_empty();
        self.health = health;
        if is_fault && !was_fault {
            warn!(instance = %self.config.name, reasons = ?self.health.fault_reasons, "fault");
            transitions.extend(self.handle(now, Event::FaultSet));
        } else if was_fault && !is_fault {
            info!(instance = %self.config.name, "fault cleared");
            transitions.extend(self.handle(now, Event::FaultCleared));
        }
        transitions
    }

    /// Feeds one event to the state machine and carries out what it asks;
    /// returns the transitions it made.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Transition> {
        if let (Event::AdvertReceived(advert), Some((until, _))) = (event, &mut self.handover) {
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
            self.execute(action, before, now);
        }
        if self.removal_requested.take().is_some() {
            // Not followed by a transition: remove now.
            let gate = self.remove_vips();
            drop(gate);
        }
        transitions
    }

    /// When a pending handover gives up waiting for the new Master.
    pub fn handover_deadline(&self) -> Option<Instant> {
        self.handover.as_ref().map(|(until, _)| *until)
    }

    /// Removes the VIPs kept for a handover (the new Master has spoken and
    /// announced, nobody took over in time, or the instance is going away).
    pub fn finish_handover(&mut self) {
        if let Some((_, vips_off)) = self.handover.take() {
            self.queue(AddressJob::Remove);
            self.queue(AddressJob::Done(vips_off));
        }
    }

    /// Queues the removal now; returns the gate for the hooks.
    fn remove_vips(&mut self) -> Gate {
        self.finish_handover();
        self.queue(AddressJob::Remove);
        let (vips_off, gate) = Gate::new(true);
        self.queue(AddressJob::Done(vips_off));
        gate
    }

    /// `before_master` finished for Master term `term`: add the VIPs if it
    /// succeeded and we are still that Master; on failure, hold a Fault for
    /// `before_master_retry` (the caller re-assesses health). Returns whether
    /// the report was current.
    pub fn before_master_done(&mut self, now: Instant, term: u64, success: bool) -> bool {
        if term != self.term || self.router.state() != State::Master {
            return false;
        }
        let Some(announce) = self.awaiting_before_master.take() else {
            return false;
        };
        if success {
            self.add_vips(announce);
        } else {
            let retry = self.config.hooks.before_master_retry;
            warn!(instance = %self.config.name, "before_master failed: virtual IPs stay off; Fault for {retry:?}");
            self.before_master_failed_until = Some(now + retry);
        }
        true
    }

    /// Carries out one action; `before` is the state before the event.
    fn execute(&mut self, action: Action, before: State, now: Instant) {
        match action {
            Action::SendAdvert { priority, interval } => self.send_advert(priority, interval),
            Action::AddAddresses => {
                // Master again while handing over: the VIPs simply stay.
                if let Some((_, vips_off)) = self.handover.take() {
                    let _ = vips_off.send(());
                }
                self.term += 1;
                let (vips_on, gate) = Gate::new(false);
                self.vips_on = Some(vips_on);
                self.gate = Some(gate);
                let args = self.args(State::Master, before);
                if self.hooks.before_master(args, self.term) {
                    self.awaiting_before_master = Some(false);
                } else {
                    self.add_vips(false);
                }
            }
            Action::Announce => match &mut self.awaiting_before_master {
                Some(announce) => *announce = true,
                None => self.queue(AddressJob::Announce),
            },
            Action::RemoveAddresses => {
                // The VIPs are on once add_vips has handed `vips_on` on.
                let vips_were_on = self.vips_on.is_none() && self.awaiting_before_master.is_none();
                // Dropping an unfulfilled `vips_on` tells the on_master hooks to skip.
                self.awaiting_before_master = None;
                self.vips_on = None;
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
                        let until = now + self.router.master_down_interval();
                        let (vips_off, gate) = Gate::new(true);
                        self.handover = Some((until, vips_off));
                        self.gate = Some(gate);
                    } else {
                        let gate = self.remove_vips();
                        self.gate = Some(gate);
                    }
                }
                let gate = if to == State::Master || from == State::Master {
                    self.gate.take()
                } else {
                    None
                };
                self.hooks.transition(self.args(to, from), gate);
            }
        }
    }

    fn add_vips(&mut self, announce: bool) {
        self.queue(AddressJob::Add);
        if let Some(vips_on) = self.vips_on.take() {
            self.queue(AddressJob::Done(vips_on));
        }
        if announce {
            self.queue(AddressJob::Announce);
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

    fn send_advert(&mut self, priority: u8, interval: std::time::Duration) {
        let cached =
            matches!(&self.advert_cache, Some((p, i, _)) if *p == priority && *i == interval);
        if !cached {
            let src = self.socket.source();
            let dst = self.socket.group();
            let built = Advertisement::new(
                self.config.vrid,
                priority,
                interval,
                self.advert_addresses.clone(),
            )
            .map_err(|e| e.to_string())
            .and_then(|advert| {
                advert
                    .to_bytes(src, dst, self.checksum)
                    .map_err(|e| e.to_string())
            });
            match built {
                Ok(bytes) => self.advert_cache = Some((priority, interval, bytes)),
                Err(e) => return self.send_failed(&e),
            }
        }
        if let Some((_, _, bytes)) = &self.advert_cache {
            if let Err(e) = self.socket.send(bytes) {
                self.send_failed(&e.to_string());
            }
        }
    }

    fn send_failed(&mut self, error: &str) {
        self.send_errors += 1;
        if self.send_errors.is_power_of_two() {
            warn!(instance = %self.config.name, errors = self.send_errors, "sending advert failed: {error}");
        }
    }

    /// Closes the address queue and waits until the worker has done every job,
    /// then lets queued hooks (`on_stop`) finish within their timeouts.
    pub async fn finish(mut self) {
        self.finish_handover();
        drop(self.jobs);
        let _ = self.worker.await;
        let limit = hook_limit(self.hooks.hooks());
        self.hooks.finish(limit).await;
    }
}

fn checksum_form(checksum: Ipv4Checksum) -> ChecksumForm {
    match checksum {
        Ipv4Checksum::PseudoHeader => ChecksumForm::PseudoHeader,
        Ipv4Checksum::Rfc9568 => ChecksumForm::MessageOnly,
    }
}

/// How long shutdown waits for queued hooks: the longest after_backup, on_stop
/// and on_change timeouts in a row, the hooks a stop queues.
fn hook_limit(hooks: &config::Hooks) -> std::time::Duration {
    [&hooks.after_backup, &hooks.on_stop, &hooks.on_change]
        .into_iter()
        .flatten()
        .map(|h| h.timeout)
        .sum::<std::time::Duration>()
        + std::time::Duration::from_millis(100)
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
