//! The agent of one host, sans-IO: every virtual router it runs, the sync
//! groups, health → priority and Fault, the make-before-break handover, the
//! `before_master` gate, maintenance and switchover, hooks in order, and drop
//! accounting — as data in and data out.
//!
//! Quinn style: the daemon feeds [`Input`]s with the current time into
//! [`Agent::handle`], answers control requests through [`Agent::switchover`],
//! [`Agent::set_maintenance`] and [`Agent::configure`], carries out the
//! [`Effect`]s that [`Agent::poll_effect`] hands out in order, and wakes the
//! agent at [`Agent::poll_timeout`]. Nothing in here opens a socket, reads a
//! clock or spawns a task, so whole agents run on a simulated LAN in tests.

mod accept_mode;
mod advert;
mod checks;
mod deadlines;
mod effects;
mod fence;
mod groups;
mod handover;
pub mod health;
mod heartbeat;
pub mod hooks;
mod instance;
mod lan_log;
mod links;
mod mastership;
mod operate;
pub mod quorum;
pub mod receive;
mod reconcile;
mod reload;
mod settle;
mod status;
mod unicast;
mod versions;
mod vip_links;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use tracing::info;

pub use self::accept_mode::refuses_traffic;
pub use self::effects::{AddressJob, AddressTarget, Effect, Input, KernelAddress, Out};
pub use self::handover::{HandoverKind, HandoverOutcome, HandoverRecord, Ticket};
pub use self::heartbeat::LinkFacts;
pub use self::hooks::{HookRun, HookRunId, TransitionArgs};
pub use self::instance::{InstanceFacts, Transition, VirtualMacFacts};
pub use self::operate::{Answer, HandoverOptions};
pub use self::receive::{Datagram, DropReason, SocketKey};
pub use self::reload::{ReloadSummary, Setup};

use self::checks::CheckStates;
use self::groups::GroupCore;
use self::health::Assessment;
use self::instance::InstanceCore;
use self::lan_log::LanLog;
use self::receive::DropCounters;
use crate::config::Config;
use crate::notify::record::{
    EventRecord, GroupEvent, HookEvent, HookKind, PriorityEvent, TransitionEvent,
};
use crate::track::process::ScriptOutcome;
use crate::vrrp::Event;

/// Names one run of an instance: a restarted instance (same name, new
/// identity after a reload) gets a new id, so late reports of the old one are
/// told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub u64);

/// How many queued effects the agent keeps room for once the queue is empty.
pub(crate) const EFFECTS_KEPT: usize = 256;

/// Timers due this soon are handled now, at their deadline: one wake-up serves
/// every timer in the same half millisecond, and an advert or takeover is
/// never late for it.
pub const TIMER_SLACK: Duration = Duration::from_micros(500);

/// The agent: one owner of every piece of protocol state on this host.
#[derive(Debug)]
pub struct Agent {
    config: Config,
    instances: Vec<InstanceCore>,
    /// Removed by a reload or stopped, finishing their hooks and address jobs.
    retiring: Vec<InstanceCore>,
    /// (socket, vrid) → index into `instances`.
    by_vrid: HashMap<(SocketKey, u8), usize>,
    /// (socket, vrid) → (index into `instances`, index of its heartbeat link).
    heartbeat_by_vrid: HashMap<(SocketKey, u8), (usize, usize)>,
    /// Heartbeat links whose lookup failed, to try again.
    heartbeat_lookups: heartbeat::HeartbeatLookups,
    /// socket → its interface and our source address on it.
    sockets: HashMap<SocketKey, SocketInfo>,
    /// Last known carrier per interface index.
    carrier: HashMap<u32, bool>,
    /// Which index each followed interface has now, and who must rebind.
    links: links::LinkBook,
    /// The interfaces that carry VIPs but not adverts, and their carrier.
    vip_links: vip_links::VipLinks,
    checks: CheckStates,
    groups: Vec<GroupCore>,
    retiring_groups: Vec<GroupCore>,
    maintenance: BTreeSet<String>,
    drops: DropCounters,
    /// Rate limits for log lines caused by packets from the LAN.
    lan_log: LanLog,
    /// Moves whenever something in the status may have changed (a counter
    /// included), so the daemon can skip rewriting an unchanged status.
    status_version: u64,
    out: Out,
    next_instance: u64,
    next_hook_run: u64,
    /// The earliest deadline of all instances, when known (`None`: rescan).
    deadline_cache: Option<Option<Instant>>,
    /// Each instance's next deadline, in time order (see `deadlines`).
    deadlines: deadlines::Deadlines,
    /// The instances the last timeout visited; kept between timeouts so
    /// that a timer allocates no list.
    timer_visits: Vec<usize>,
    stopping: bool,
    /// Switchovers and maintenance handovers waiting for their new Master.
    handovers: Vec<handover::Handover>,
    /// The last ticket given to a request that waits for its outcome.
    next_ticket: u64,
    /// Each instance's last handover outcome, for the status.
    last_handover: HashMap<String, HandoverRecord>,
    /// The quorum keys of this node's units (see `quorum.rs`).
    quorum: quorum::QuorumBook,
    /// The host's addresses, which say whether each `unicast_source` is there.
    host_addresses: unicast::HostAddresses,
    /// The VIPs last handed out in [`Effect::AcceptFilter`] (`accept_mode.rs`).
    accept_filter: BTreeSet<IpAddr>,
    /// Which instances carry each VIP (`reconcile.rs`).
    vip_owners: reconcile::VipOwners,
}

impl Agent {
    /// An agent with no instance yet; `maintenance` is the set kept from the
    /// last run. [`configure`](Self::configure) starts the instances.
    pub fn new(maintenance: BTreeSet<String>) -> Self {
        Agent {
            config: Config::empty(),
            instances: Vec::new(),
            retiring: Vec::new(),
            by_vrid: HashMap::new(),
            heartbeat_by_vrid: HashMap::new(),
            heartbeat_lookups: heartbeat::HeartbeatLookups::default(),
            sockets: HashMap::new(),
            carrier: HashMap::new(),
            links: links::LinkBook::default(),
            vip_links: vip_links::VipLinks::default(),
            checks: CheckStates::default(),
            groups: Vec::new(),
            retiring_groups: Vec::new(),
            maintenance,
            drops: DropCounters::default(),
            lan_log: LanLog::default(),
            status_version: 0,
            out: Out::default(),
            next_instance: 0,
            next_hook_run: 0,
            deadline_cache: None,
            deadlines: deadlines::Deadlines::default(),
            timer_visits: Vec::new(),
            stopping: false,
            handovers: Vec::new(),
            next_ticket: 0,
            last_handover: HashMap::new(),
            quorum: quorum::QuorumBook::default(),
            host_addresses: unicast::HostAddresses::default(),
            accept_filter: BTreeSet::new(),
            vip_owners: reconcile::VipOwners::default(),
        }
    }

    /// The configuration running now.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The next effect to carry out, in order; `None` when there is none.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        if let Some(effect) = self.out.effects.pop_front() {
            return Some(effect);
        }
        if std::mem::take(&mut self.out.status_dirty) {
            self.status_version += 1;
            return Some(Effect::PublishStatus);
        }
        // Starting a thousand instances queues thousands of effects at
        // once; the room they took (some 200 bytes each) is given back once
        // they are carried out, rather than held for the life of the agent.
        if self.out.effects.capacity() > EFFECTS_KEPT {
            self.out.effects.shrink_to(EFFECTS_KEPT);
        }
        None
    }

    /// A number that moves whenever the status may have changed, counters
    /// included. Counters alone never ask for [`Effect::PublishStatus`] (a
    /// flood must cost counting only): the daemon refreshes the status on a
    /// timer, and only when this number moved.
    pub fn status_version(&self) -> u64 {
        self.status_version
    }

    /// When the agent must next be woken with [`Input::Timeout`].
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if let Some(cached) = self.deadline_cache {
            return cached;
        }
        // Retired instances are timed no more: their handover ended when
        // they were removed, and a hold of theirs would never be cleared.
        self.deadlines.refresh(&self.instances);
        debug_assert!(
            self.deadlines.agrees_with(&self.instances),
            "an instance's deadline moved without telling the index"
        );
        let earliest = self
            .deadlines
            .earliest()
            .into_iter()
            .chain(self.links.next_deadline())
            .chain(self.heartbeat_lookups.next_deadline())
            .chain(self.handover_deadline())
            .chain(self.quorum.next_deadline())
            .min();
        self.deadline_cache = Some(earliest);
        earliest
    }

    /// Handles one input at `now`.
    pub fn handle(&mut self, now: Instant, input: Input) {
        // Every input may move a counter (adverts, drops, send errors).
        self.status_version += 1;
        let is_timeout = matches!(input, Input::Timeout);
        match input {
            Input::Datagram(datagram) => {
                self.on_datagram(now, datagram);
                // The new Master's first advert decides a waiting handover.
                return self.settle_handovers(now, now);
            }
            Input::Timeout => {
                let only_visited_moved = self.on_timers(now);
                if only_visited_moved && self.handovers.is_empty() {
                    // `on_timers` recorded the deadlines of what it visited.
                    self.deadline_cache = None;
                    let visited = std::mem::take(&mut self.timer_visits);
                    self.settle_instances(now, &visited);
                    self.timer_visits = visited;
                    return;
                }
            }
            Input::Link {
                ifindex,
                name,
                carrier,
            } => self.on_link(now, ifindex, &name, carrier),
            Input::LinkRemoved { ifindex, name } => self.on_link_removed(now, ifindex, &name),
            Input::InterfaceFacts { interface, facts } => {
                self.on_interface_facts(now, &interface, &facts)
            }
            Input::HeartbeatFacts {
                interface,
                ipv6,
                facts,
            } => self.on_heartbeat_facts(now, &interface, ipv6, facts),
            Input::Check(update) => {
                // A result that changes nothing a reader sees (the check
                // passed again) waits for the periodic refresh.
                if let Some(event) = self.checks.on_update(update, now) {
                    self.out.push(Effect::Event(EventRecord::Check(event)));
                    self.reassess(now);
                    self.out.status_dirty = true;
                }
            }
            Input::HookFinished { run, outcome } => self.on_hook(now, run, outcome),
            Input::AddressesDone {
                instance,
                seq,
                present,
            } => {
                let index = self.index_of(instance);
                let old = index.map(|index| self.instances[index].next_deadline());
                self.on_addresses_done(now, index, instance, seq, present);
                // A Master of many instances hears one of these per VIP
                // refresh: only the instance it names may have moved.
                if let (Some(index), Some(old)) = (index, old) {
                    if self.handovers.is_empty() {
                        self.record_deadline(index, old);
                        return self.settle_instances(now, &[index]);
                    }
                }
            }
            Input::AddressChanged { address, present } => {
                let source_moved = self.host_addresses.on_change(address, present)
                    && self.unicast_sources().contains(&address.address);
                if source_moved {
                    self.reassess(now);
                }
                let contradicted = self.on_address_changed(address, present);
                // The kernel's echo of a refresh or a change of ours agrees
                // with what every instance expects: nothing moved.
                if !source_moved && !contradicted && self.handovers.is_empty() {
                    return;
                }
            }
            Input::AddressSnapshot(addresses) => {
                let watched = self.unicast_sources();
                if self.host_addresses.on_snapshot(&addresses, &watched) {
                    self.reassess(now);
                }
                self.on_address_snapshot(&addresses);
            }
            Input::SendFailed {
                instance,
                socket,
                error,
            } => {
                if let Some(i) = self.instance_by_id(instance) {
                    i.send_failed_on(socket, &error);
                }
            }
            Input::Quorum(report) => self.on_quorum_report(now, report),
        }
        if !is_timeout || !self.handovers.is_empty() {
            // A timeout moved only the instances `on_timers` recorded.
            self.invalidate_deadlines();
        }
        self.settle_handovers(now, now);
        self.deadline_cache = None;
        self.settle(now);
    }

    /// Instance `index`'s deadline may have moved from `old`, and nothing
    /// else's: the index moves one entry, and the cached next wake-up stays
    /// valid unless it was this instance's.
    pub(super) fn record_deadline(&mut self, index: usize, old: Option<Instant>) {
        let new = self.instances[index].next_deadline();
        self.deadlines.set(index, new);
        self.deadline_cache = match self.deadline_cache {
            Some(Some(earliest)) if old != Some(earliest) => {
                Some(Some(new.map_or(earliest, |n| n.min(earliest))))
            }
            Some(None) if old.is_none() => Some(new),
            _ => None,
        };
    }

    /// The index of the running instance `id`. Instances are started with
    /// ever larger ids and a reload keeps their order, so they are sorted
    /// by id: a Master of a thousand instances hears one report per VIP
    /// renewal, each naming an instance by id.
    fn index_of(&self, id: InstanceId) -> Option<usize> {
        debug_assert!(
            self.instances.windows(2).all(|w| w[0].id < w[1].id),
            "instances out of id order"
        );
        self.instances.binary_search_by_key(&id, |i| i.id).ok()
    }

    /// Any instance's deadline may have moved: recompute the next wake-up
    /// and rebuild the deadline index before it is read again.
    pub(super) fn invalidate_deadlines(&mut self) {
        self.deadline_cache = None;
        self.deadlines.invalidate();
    }

    /// Stops every instance: Masters resign with priority 0 and keep their
    /// VIPs until the new Master speaks (at most Master_Down_Interval); then
    /// the VIPs go and the stop hooks run. Keep feeding inputs until
    /// [`is_finished`](Self::is_finished).
    pub fn shutdown(&mut self, now: Instant) {
        self.stopping = true;
        for index in 0..self.instances.len() {
            let transitions = self.instances[index].handle(now, Event::Shutdown, &mut self.out);
            for t in &transitions {
                self.publish_transition(index, t);
            }
        }
        self.refresh_groups();
        self.settle_handovers(now, now);
        self.out.status_dirty = true;
        self.invalidate_deadlines();
        self.settle(now);
    }

    /// True once stopped and nothing is pending: no handover, address job or hook.
    pub fn is_finished(&self) -> bool {
        self.stopping
            && self.retiring.is_empty()
            && self.instances.iter().all(InstanceCore::is_quiet)
            && self.groups.iter().all(|g| g.hooks.is_idle())
            && self.retiring_groups.is_empty()
    }

    fn instance_by_id(&mut self, id: InstanceId) -> Option<&mut InstanceCore> {
        match self.index_of(id) {
            Some(index) => Some(&mut self.instances[index]),
            None => self.retiring.iter_mut().find(|i| i.id == id),
        }
    }

    /// Handles every timer due at `now`, leaving the instances it visited
    /// in `timer_visits`. True when only they may have moved (no
    /// transition, expired hold or handover), for
    /// [`settle_instances`](Self::settle_instances).
    fn on_timers(&mut self, now: Instant) -> bool {
        let horizon = now + TIMER_SLACK;
        // Before the routers and handovers of the members: a handover that
        // nobody took up makes its members Master again with the VIPs kept,
        // rather than letting the handover remove them first.
        self.settle_handovers(now, horizon);
        let mut holds_expired = false;
        // Only the instances with something due are visited: every part of
        // an instance's wake-up is at most TIMER_SLACK after the part it
        // stands for (`reconcile::refresh_wake`), so whatever is due by
        // `horizon` belongs to an instance woken by `horizon + TIMER_SLACK`.
        self.deadlines.refresh(&self.instances);
        debug_assert!(
            self.deadlines.agrees_with(&self.instances),
            "an instance's deadline moved without telling the index"
        );
        let mut due = std::mem::take(&mut self.timer_visits);
        self.deadlines.due_into(horizon + TIMER_SLACK, &mut due);
        let mut candidates = due.iter().copied();
        // After a transition other instances may have moved (groups, sync):
        // from there on, every later instance is visited, as a full scan would.
        let mut every_from: Option<usize> = None;
        let mut reached_further = false;
        loop {
            let index = match every_from {
                Some(next) if next < self.instances.len() => {
                    every_from = Some(next + 1);
                    next
                }
                Some(_) => break,
                None => match candidates.next() {
                    Some(index) => index,
                    None => break,
                },
            };
            let instance = &mut self.instances[index];
            if let Some(due) = instance.router.next_deadline().filter(|t| *t <= horizon) {
                // Stamped at the deadline when only slightly late, so adverts
                // keep their cadence instead of drifting by each wake-up's delay.
                let late = now.saturating_duration_since(due);
                let at = if late <= TIMER_SLACK * 4 { due } else { now };
                let transitions = instance.handle(at, Event::TimerExpired, &mut self.out);
                if !transitions.is_empty() {
                    reached_further = true;
                    if every_from.is_none() {
                        every_from = Some(index + 1);
                    }
                }
                self.after_transitions(index, transitions, at);
            }
            let instance = &mut self.instances[index];
            if instance.reconcile.refresh_due(horizon) {
                instance.refresh_lifetime(now, &mut self.out);
            }
            if instance.handover_deadline().is_some_and(|t| t <= horizon) {
                // Nobody took over in time: the VIPs go anyway.
                instance.finish_handover(&mut self.out);
                reached_further = true;
            }
            if instance
                .before_master_failed_until()
                .is_some_and(|t| t <= now)
            {
                info!(instance = %instance.config.name, "before_master retry: leaving Fault");
                instance.set_before_master_failed_until(None);
                holds_expired = true;
            }
            let deadline = self.instances[index].next_deadline();
            self.deadlines.set(index, deadline);
        }
        if holds_expired {
            self.invalidate_deadlines();
            self.reassess(now);
        }
        self.on_quorum_timer(horizon);
        self.retry_lookups(now);
        self.retry_heartbeat_lookups(now);
        self.timer_visits = due;
        !reached_further && !holds_expired
    }

    fn on_hook(&mut self, now: Instant, run: HookRunId, outcome: ScriptOutcome) {
        let finished = self
            .instances
            .iter_mut()
            .chain(self.retiring.iter_mut())
            .find_map(|i| i.hooks.finished(run).map(|f| (Some(i.id), f)))
            .or_else(|| {
                self.groups
                    .iter_mut()
                    .chain(self.retiring_groups.iter_mut())
                    .find_map(|g| g.hooks.finished(run).map(|f| (None, f)))
            });
        let Some((owner, finished)) = finished else {
            self.on_fence_done(now, run, &outcome);
            return;
        };
        let success = outcome.result.is_success();
        self.out.push(Effect::Event(hook_event(
            &finished.args,
            finished.kind,
            Some(&outcome),
        )));
        if finished.kind != HookKind::BeforeMaster {
            return;
        }
        let Some(index) = self.instances.iter().position(|i| Some(i.id) == owner) else {
            return;
        };
        let current =
            self.instances[index].before_master_done(now, finished.term, success, &mut self.out);
        if current && !success {
            self.reassess(now);
        }
    }

    /// Every instance's `unicast_source`: the addresses whose coming and
    /// going moves a Fault.
    fn unicast_sources(&self) -> std::collections::HashSet<IpAddr> {
        unicast::watched_sources(self.instances.iter().map(|i| &*i.config))
    }

    /// Recomputes every instance's health from links, checks, before_master
    /// holds and sync groups, and feeds what changed to the state machines.
    fn reassess(&mut self, now: Instant) {
        let mut all: HashMap<String, Assessment> = (0..self.instances.len())
            .map(|index| {
                let i = &self.instances[index];
                let link_up = self.link_up(index);
                let mut a = health::assess(&i.config, &self.config, &self.checks.states, link_up);
                a.fault_reasons.extend(self.link_fault(index));
                a.fault_reasons.extend(self.vip_link_faults(index));
                a.fault_reasons
                    .extend(self.host_addresses.source_fault(&i.config, i.facts.ifindex));
                if let Some(until) = i.before_master_failed_until() {
                    let left = until.saturating_duration_since(now).as_secs();
                    a.fault_reasons
                        .push(format!("before_master failed; retry in {left} s"));
                }
                (i.config.name.clone(), a)
            })
            .collect();
        health::couple_sync_groups(&self.config, &mut all);
        for index in 0..self.instances.len() {
            let Some(health) = all.remove(&self.instances[index].config.name) else {
                continue;
            };
            let instance = &mut self.instances[index];
            if instance.health.matches(&health) {
                continue;
            }
            if health.priority != instance.health.priority() {
                self.out
                    .push(Effect::Event(EventRecord::Priority(PriorityEvent {
                        instance: instance.config.name.clone(),
                        priority: health.priority,
                        base_priority: instance.config.priority.get(),
                        reasons: health.priority_reasons.clone(),
                    })));
            }
            let transitions = instance.apply_health(now, health, &mut self.out);
            self.after_transitions(index, transitions, now);
            self.out.status_dirty = true;
        }
    }

    /// Publishes transitions, makes sync-group partners follow a member that
    /// left Master, and updates the groups' own states.
    fn after_transitions(&mut self, index: usize, transitions: Vec<Transition>, now: Instant) {
        if transitions.is_empty() {
            return;
        }
        self.out.status_dirty = true;
        self.invalidate_deadlines();
        self.note_master(index);
        for transition in transitions {
            self.publish_transition(index, &transition);
            let name = &self.instances[index].config.name;
            let partners: Vec<(String, Event)> = self
                .groups
                .iter()
                .flat_map(|g| g.resign_with(name, &transition))
                .map(|(partner, event)| (partner.to_owned(), event))
                .collect();
            for (partner, event) in partners {
                let Some(j) = self.instances.iter().position(|i| i.config.name == partner) else {
                    continue;
                };
                let follow = self.instances[j].handle(now, event, &mut self.out);
                self.after_transitions(j, follow, now);
            }
        }
        self.refresh_groups();
    }

    /// Counts a change of the Master heard on the wire (or of becoming it).
    fn note_master(&mut self, index: usize) {
        let instance = &mut self.instances[index];
        let master = instance.router.current_master().map(|m| m.source);
        if master.is_some() && master != instance.noted_master {
            self.out.push(Effect::MasterChanged {
                instance: instance.config.name.clone(),
            });
        }
        instance.noted_master = master;
    }

    fn publish_transition(&mut self, index: usize, t: &Transition) {
        publish_transition(&self.instances[index], t, &mut self.out);
    }

    fn refresh_groups(&mut self) {
        for group in &mut self.groups {
            let members: Vec<&InstanceCore> = self
                .instances
                .iter()
                .filter(|i| group.has(&i.config.name))
                .collect();
            let states: Vec<_> = members.iter().map(|i| i.router.state()).collect();
            let priority = members
                .iter()
                .map(|i| i.router.priority())
                .min()
                .unwrap_or(0);
            if let Some((from, to)) = group.refresh(&states, priority) {
                info!(group = %group.config.name, from = %from, to = %to, "sync group changed");
                self.out.push(Effect::Event(EventRecord::Group(GroupEvent {
                    group: group.config.name.clone(),
                    from,
                    to,
                })));
            }
        }
    }
}

/// Reports a transition on the event stream.
fn publish_transition(instance: &InstanceCore, t: &Transition, out: &mut Out) {
    out.push(Effect::Event(EventRecord::Transition(TransitionEvent {
        instance: instance.config.name.clone(),
        from: t.from,
        to: t.to,
        reason: t.reason,
        priority: instance.router.priority(),
    })));
}

/// A VRRP socket as the agent knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SocketInfo {
    /// Its interface's name, for the drop counters.
    interface: String,
    /// Our address on it: our own adverts come back from the group with it.
    source: IpAddr,
}

/// The event of a hook that ran (`outcome`) or was skipped (`None`).
fn hook_event(
    args: &TransitionArgs,
    kind: HookKind,
    outcome: Option<&ScriptOutcome>,
) -> EventRecord {
    EventRecord::Hook(HookEvent {
        name: args.name.clone(),
        group: args.group,
        hook: kind,
        state: args.to,
        old_state: args.from,
        result: outcome.map_or("skipped".to_owned(), |o| o.result.to_string()),
        success: outcome.is_some_and(|o| o.result.is_success()),
        duration_ms: outcome.map(|o| o.duration.as_millis() as u64),
        output: outcome.and_then(|o| o.last_line.clone()),
    })
}

#[cfg(test)]
mod tests;
