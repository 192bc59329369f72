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

mod checks;
mod groups;
pub mod health;
pub mod hooks;
mod instance;
mod operate;
pub mod receive;
mod reload;
mod status;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::info;

pub use self::hooks::{HookRun, HookRunId, TransitionArgs};
pub use self::instance::{InstanceFacts, Transition};
pub use self::receive::{Datagram, DropReason, SocketKey};
pub use self::reload::{ReloadSummary, Setup};

use self::checks::CheckStates;
use self::groups::GroupCore;
use self::health::Assessment;
use self::hooks::Step;
use self::instance::InstanceCore;
use self::receive::DropCounters;
use crate::config::{Config, Garp, VirtualIp};
use crate::notify::record::{
    EventRecord, GroupEvent, HookEvent, HookKind, PriorityEvent, TransitionEvent,
};
use crate::track::monitor::CheckUpdate;
use crate::track::process::ScriptOutcome;
use crate::vrrp::Event;

/// Names one run of an instance: a restarted instance (same name, new
/// identity after a reload) gets a new id, so late reports of the old one are
/// told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub u64);

/// Something that happened outside the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A datagram arrived on a VRRP socket.
    Datagram(Datagram),
    /// An interface's carrier changed (or was reported again).
    Link {
        /// Interface index.
        ifindex: u32,
        /// Interface name (for `interface` checks).
        name: String,
        /// Up with carrier.
        carrier: bool,
    },
    /// A check's monitor reported.
    Check(CheckUpdate),
    /// A hook the agent asked for ended.
    HookFinished {
        /// The run.
        run: HookRunId,
        /// How it went.
        outcome: ScriptOutcome,
    },
    /// The address worker of an instance finished job `seq`.
    AddressesDone {
        /// The instance.
        instance: InstanceId,
        /// The job.
        seq: u64,
        /// The VIPs now on the interface, as far as the worker knows.
        present: Vec<VirtualIp>,
    },
    /// An advert could not be sent.
    SendFailed {
        /// The instance.
        instance: InstanceId,
        /// What the kernel said.
        error: String,
    },
    /// [`Agent::poll_timeout`] has passed.
    Timeout,
}

/// A job for an instance's address worker; done strictly in queue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressJob {
    /// Remove any of our VIPs left on the interface (a crashed predecessor's).
    RemoveStale,
    /// Add the VIPs.
    Add,
    /// Remove the VIPs (and stop announcing).
    Remove,
    /// Announce the VIPs: `garp.count` times, then every `garp.refresh` if set.
    Announce,
    /// New VIPs or announcement settings from a reload: while holding, add and
    /// remove only the difference.
    Reconfigure {
        /// The new VIP list.
        vips: Vec<VirtualIp>,
        /// The new announcement settings.
        garp: Garp,
    },
}

/// Where and what an instance's address worker manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressTarget {
    /// The instance, for its reports.
    pub instance: InstanceId,
    /// Instance name, for logs.
    pub name: String,
    /// Interface name, for logs.
    pub interface: String,
    /// Interface index.
    pub ifindex: u32,
    /// Interface MAC: the link-layer address the announcements claim.
    pub mac: [u8; 6],
    /// IPv6 link-local address, the source of Neighbor Advertisements.
    pub link_local: Option<Ipv6Addr>,
    /// The virtual IPs.
    pub vips: Vec<VirtualIp>,
    /// Announcement settings.
    pub garp: Garp,
}

/// Something the daemon must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send this advert on this socket.
    SendAdvert {
        /// The sender (for [`Input::SendFailed`]).
        instance: InstanceId,
        /// The socket.
        socket: SocketKey,
        /// The VRRP message.
        packet: Arc<[u8]>,
    },
    /// Start the address worker of a new instance.
    StartInstance(AddressTarget),
    /// Queue a job on an instance's address worker; report it done with
    /// [`Input::AddressesDone`].
    Address {
        /// The instance.
        instance: InstanceId,
        /// The job's number, increasing per instance.
        seq: u64,
        /// The job.
        job: AddressJob,
    },
    /// The instance is gone and its jobs done: its worker may stop.
    StopInstance(InstanceId),
    /// Run a hook; report with [`Input::HookFinished`].
    RunHook(HookRun),
    /// Publish on the event stream.
    Event(EventRecord),
    /// The Master heard on the wire (or this host becoming it) changed.
    MasterChanged {
        /// The instance.
        instance: String,
    },
    /// Persist the maintenance set so that it survives a restart.
    SaveMaintenance(Vec<String>),
    /// The status changed: rewrite status.json and the metrics.
    PublishStatus,
}

/// The effects produced while handling an input, in order.
#[derive(Debug, Default)]
pub struct Out {
    effects: VecDeque<Effect>,
    status_dirty: bool,
}

impl Out {
    /// Appends an effect.
    pub fn push(&mut self, effect: Effect) {
        self.effects.push_back(effect);
    }
}

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
    /// socket → its interface and our source address on it.
    sockets: HashMap<SocketKey, SocketInfo>,
    /// Last known carrier per interface index.
    carrier: HashMap<u32, bool>,
    checks: CheckStates,
    groups: Vec<GroupCore>,
    retiring_groups: Vec<GroupCore>,
    maintenance: BTreeSet<String>,
    drops: DropCounters,
    out: Out,
    next_instance: u64,
    next_hook_run: u64,
    /// The earliest deadline of all instances, when known (`None`: rescan).
    deadline_cache: Option<Option<Instant>>,
    stopping: bool,
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
            sockets: HashMap::new(),
            carrier: HashMap::new(),
            checks: CheckStates::default(),
            groups: Vec::new(),
            retiring_groups: Vec::new(),
            maintenance,
            drops: DropCounters::default(),
            out: Out::default(),
            next_instance: 0,
            next_hook_run: 0,
            deadline_cache: None,
            stopping: false,
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
            return Some(Effect::PublishStatus);
        }
        None
    }

    /// When the agent must next be woken with [`Input::Timeout`].
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if let Some(cached) = self.deadline_cache {
            return cached;
        }
        let earliest = self
            .instances
            .iter()
            .chain(&self.retiring)
            .filter_map(InstanceCore::next_deadline)
            .min();
        self.deadline_cache = Some(earliest);
        earliest
    }

    /// Handles one input at `now`.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Datagram(datagram) => return self.on_datagram(now, datagram),
            Input::Timeout => self.on_timers(now),
            Input::Link {
                ifindex,
                name,
                carrier,
            } => self.on_link(now, ifindex, &name, carrier),
            Input::Check(update) => {
                if let Some(event) = self.checks.on_update(update, now) {
                    self.out.push(Effect::Event(EventRecord::Check(event)));
                    self.reassess(now);
                }
                self.out.status_dirty = true;
            }
            Input::HookFinished { run, outcome } => self.on_hook(now, run, outcome),
            Input::AddressesDone {
                instance,
                seq,
                present,
            } => {
                if let Some(i) = self.instance_by_id(instance) {
                    i.done_seq = i.done_seq.max(seq);
                    i.present = present;
                }
                self.out.status_dirty = true;
            }
            Input::SendFailed { instance, error } => {
                if let Some(i) = self.instance_by_id(instance) {
                    i.send_failed(&error);
                }
            }
        }
        self.deadline_cache = None;
        self.settle();
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
        self.out.status_dirty = true;
        self.deadline_cache = None;
        self.settle();
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
        self.instances
            .iter_mut()
            .chain(self.retiring.iter_mut())
            .find(|i| i.id == id)
    }

    fn on_datagram(&mut self, now: Instant, datagram: Datagram) {
        let Some(socket) = self.sockets.get(&datagram.socket) else {
            return;
        };
        let found = receive::check(&datagram, socket.source).and_then(|accepted| {
            match self.by_vrid.get(&(datagram.socket, accepted.vrid)) {
                Some(&index) => Ok((index, accepted)),
                None => Err(DropReason::UnknownVrid),
            }
        });
        let (index, accepted) = match found {
            Ok(found) => found,
            Err(reason) => {
                self.drops.count(&socket.interface, reason);
                self.out.status_dirty = true;
                return;
            }
        };
        let event = Event::AdvertReceived(accepted.info);
        let old = self.instances[index].next_deadline();
        let transitions = self.instances[index].handle(now, event, &mut self.out);
        let new = self.instances[index].next_deadline();
        self.deadline_cache = match self.deadline_cache {
            // Only this instance's deadline moved: the earliest stays valid
            // unless it was this one's.
            Some(Some(earliest)) if transitions.is_empty() && old != Some(earliest) => {
                Some(Some(new.map_or(earliest, |n| n.min(earliest))))
            }
            Some(None) if transitions.is_empty() && old.is_none() => Some(new),
            _ => None,
        };
        if !transitions.is_empty() {
            self.after_transitions(index, transitions, now);
            self.settle();
        }
        self.note_master(index);
    }

    fn on_timers(&mut self, now: Instant) {
        let horizon = now + TIMER_SLACK;
        let mut holds_expired = false;
        for index in 0..self.instances.len() {
            let instance = &mut self.instances[index];
            if let Some(due) = instance.router.next_deadline().filter(|t| *t <= horizon) {
                // Stamped at the deadline when only slightly late, so adverts
                // keep their cadence instead of drifting by each wake-up's delay.
                let late = now.saturating_duration_since(due);
                let at = if late <= TIMER_SLACK * 4 { due } else { now };
                let transitions = instance.handle(at, Event::TimerExpired, &mut self.out);
                self.after_transitions(index, transitions, at);
            }
            let instance = &mut self.instances[index];
            if instance.handover_deadline().is_some_and(|t| t <= horizon) {
                // Nobody took over in time: the VIPs go anyway.
                instance.finish_handover(&mut self.out);
            }
            if instance
                .before_master_failed_until
                .is_some_and(|t| t <= now)
            {
                info!(instance = %instance.config.name, "before_master retry: leaving Fault");
                instance.before_master_failed_until = None;
                holds_expired = true;
            }
        }
        for instance in &mut self.retiring {
            if instance.handover_deadline().is_some_and(|t| t <= horizon) {
                instance.finish_handover(&mut self.out);
            }
        }
        if holds_expired {
            self.reassess(now);
        }
    }

    fn on_link(&mut self, now: Instant, ifindex: u32, name: &str, carrier: bool) {
        let previous = self.carrier.insert(ifindex, carrier);
        for event in self.checks.on_link(name, carrier, now) {
            self.out.push(Effect::Event(EventRecord::Check(event)));
        }
        if previous.is_some() && previous != Some(carrier) {
            info!(interface = %name, carrier, "link changed");
        }
        self.reassess(now);
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

    /// Starts whatever hooks may start now, and lets go of retired instances
    /// and groups once they are quiet.
    fn settle(&mut self) {
        let next = &mut self.next_hook_run;
        let mut steps = Vec::new();
        for instance in self.instances.iter_mut().chain(self.retiring.iter_mut()) {
            steps.extend(instance.hooks.pump(instance.done_seq, next));
        }
        for group in self
            .groups
            .iter_mut()
            .chain(self.retiring_groups.iter_mut())
        {
            steps.extend(group.hooks.pump(u64::MAX, next));
        }
        for step in steps {
            match step {
                Step::Run(run) => self.out.push(Effect::RunHook(run)),
                Step::Skipped { args, kind } => {
                    info!(name = %args.name, hook = kind.as_str(), "skipped: the virtual IPs never came on");
                    self.out.push(Effect::Event(hook_event(&args, kind, None)));
                }
            }
        }
        let out = &mut self.out;
        self.retiring.retain(|i| {
            let quiet = i.is_quiet();
            if quiet {
                out.push(Effect::StopInstance(i.id));
            }
            !quiet
        });
        self.retiring_groups.retain(|g| !g.hooks.is_idle());
    }

    /// Recomputes every instance's health from links, checks, before_master
    /// holds and sync groups, and feeds what changed to the state machines.
    fn reassess(&mut self, now: Instant) {
        let mut all: HashMap<String, Assessment> = self
            .instances
            .iter()
            .map(|i| {
                let link_up = self.carrier.get(&i.facts.ifindex).copied().unwrap_or(false);
                let mut a = health::assess(&i.config, &self.config, &self.checks.states, link_up);
                if let Some(until) = i.before_master_failed_until {
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
            if health == instance.health {
                continue;
            }
            if health.priority != instance.health.priority {
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
        self.deadline_cache = None;
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
mod tests {
    use super::*;
    use crate::config::parse_str;
    use crate::notify::record::EventRecord;
    use crate::vrrp::State;
    use crate::wire::vrrp::{Addresses, Advertisement, ChecksumForm};
    use crate::wire::VRRP_GROUP_V4;
    use std::net::Ipv4Addr;

    const US: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    const INTERVAL: Duration = Duration::from_millis(100);
    const KEY: SocketKey = SocketKey {
        ifindex: 2,
        ipv6: false,
    };

    /// One instance on eth0 with VIP 192.0.2.(50 + vrid), 100 ms adverts.
    fn instance(name: &str, vrid: u8, priority: u8, extra: &str) -> String {
        format!(
            "  - name: {name}\n    interface: eth0\n    vrid: {vrid}\n    priority: {priority}\n    \
             advert_interval: 100ms\n    virtual_ips: [192.0.2.{}/24]\n{extra}",
            50 + vrid
        )
    }

    const CHECK: &str = "checks:\n  - name: svc\n    script: 'true'\n";
    const TRACK: &str = "    track:\n      - check: svc\n        weight: -60\n";

    fn setup(text: &str) -> Setup {
        let config = parse_str(text, "t.yaml").expect("valid config");
        let facts = config
            .instances
            .iter()
            .map(|i| {
                let facts = InstanceFacts {
                    ifindex: 2,
                    mac: [2, 0, 0, 0, 0, 1],
                    link_local: None,
                    source: US,
                    carrier: true,
                };
                (i.name.clone(), Ok(facts))
            })
            .collect();
        Setup {
            config,
            facts,
            links: [("eth0".to_owned(), true)].into_iter().collect(),
        }
    }

    fn instances(list: &[String]) -> String {
        format!("{CHECK}instances:\n{}", list.concat())
    }

    fn drain(agent: &mut Agent) -> Vec<Effect> {
        std::iter::from_fn(|| agent.poll_effect()).collect()
    }

    /// Reports every address job in `effects` done, as the worker would.
    fn finish_jobs(agent: &mut Agent, now: Instant, effects: &[Effect]) {
        for e in effects {
            if let Effect::Address { instance, seq, .. } = e {
                agent.handle(
                    now,
                    Input::AddressesDone {
                        instance: *instance,
                        seq: *seq,
                        present: Vec::new(),
                    },
                );
            }
        }
    }

    fn advert_from_peer(vrid: u8, priority: u8) -> Input {
        let vip = Ipv4Addr::new(192, 0, 2, 50 + vrid);
        let bytes = Advertisement::new(vrid, priority, INTERVAL, Addresses::V4(vec![vip]))
            .expect("valid advert")
            .to_bytes(PEER, IpAddr::V4(VRRP_GROUP_V4), ChecksumForm::PseudoHeader)
            .expect("emits");
        Input::Datagram(Datagram {
            socket: KEY,
            source: PEER,
            destination: IpAddr::V4(VRRP_GROUP_V4),
            hop_limit: Some(255),
            payload: Ok(bytes),
        })
    }

    /// Wakes the agent at every deadline up to `until`; returns its effects.
    fn run_until(agent: &mut Agent, until: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        while let Some(due) = agent.poll_timeout().filter(|d| *d <= until) {
            agent.handle(due, Input::Timeout);
            effects.extend(drain(agent));
        }
        effects
    }

    fn state(agent: &Agent, name: &str) -> State {
        let status = agent.status(Instant::now());
        status
            .instances
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.state)
            .expect("instance")
    }

    /// An agent running `text` with the check up, its Masters settled.
    fn running(text: &str, t0: Instant) -> Agent {
        let mut agent = Agent::new(BTreeSet::new());
        agent.configure(t0, setup(text));
        agent.handle(
            t0,
            Input::Check(CheckUpdate {
                check: "svc".into(),
                up: true,
                value: 0,
                detail: "ok".into(),
                last_output: None,
            }),
        );
        drain(&mut agent);
        agent
    }

    #[test]
    fn summary_line_names_few_instances_and_counts_many() {
        let t0 = Instant::now();
        let agent = running("instances: []\n", t0);
        assert_eq!(
            agent.summary_line(),
            "no instances configured; holding no virtual IP"
        );
        let four: Vec<String> = (1..=4)
            .map(|v| instance(&format!("i{v}"), v, 100, ""))
            .collect();
        let mut agent = running(&instances(&four), t0);
        agent.set_maintenance(t0, true, Some("i2"));
        assert_eq!(
            agent.summary_line(),
            "i1 backup, i2 backup (maintenance), i3 backup, i4 backup"
        );
        let mut five = four.clone();
        five.push(instance("owner", 5, 255, ""));
        let agent = running(&instances(&five), t0);
        assert_eq!(
            agent.summary_line(),
            "5 instances: 1 master, 4 backup, 0 fault"
        );
    }

    #[test]
    fn switchover_needs_a_master_and_a_peer_heard_or_force() {
        let t0 = Instant::now();
        let mut agent = running(&instances(&[instance("web", 1, 200, "")]), t0);
        assert!(!agent.switchover(t0, "nope", true).ok);
        assert!(!agent.switchover(t0, "web", true).ok, "Backup here");
        run_until(&mut agent, t0 + Duration::from_secs(1));
        assert_eq!(state(&agent, "web"), State::Master);
        assert!(!agent.switchover(t0, "web", false).ok, "nobody heard");
        let t1 = t0 + Duration::from_secs(1);
        agent.handle(t1, advert_from_peer(1, 100));
        assert!(agent.switchover(t1, "web", false).ok);
        assert_eq!(state(&agent, "web"), State::Backup);
        let mut forced = running(&instances(&[instance("web", 1, 200, "")]), t0);
        run_until(&mut forced, t0 + Duration::from_secs(1));
        assert!(forced.switchover(t1, "web", true).ok);
        assert_eq!(state(&forced, "web"), State::Backup);
    }

    #[test]
    fn maintenance_names_one_instance_or_all_and_is_saved() {
        let t0 = Instant::now();
        let mut empty = running("instances: []\n", t0);
        assert!(empty.set_maintenance(t0, true, None).ok);
        let two = [instance("a", 1, 100, ""), instance("b", 2, 100, "")];
        let mut agent = running(&instances(&two), t0);
        assert!(!agent.set_maintenance(t0, true, Some("c")).ok);
        assert!(agent.set_maintenance(t0, true, Some("b")).ok);
        let saved = |effects: Vec<Effect>| {
            effects.into_iter().find_map(|e| match e {
                Effect::SaveMaintenance(names) => Some(names),
                _ => None,
            })
        };
        assert_eq!(saved(drain(&mut agent)), Some(vec!["b".to_owned()]));
        assert!(agent.set_maintenance(t0, true, None).ok);
        assert_eq!(
            saved(drain(&mut agent)),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert!(agent.set_maintenance(t0, false, Some("a")).ok);
        assert_eq!(saved(drain(&mut agent)), Some(vec!["b".to_owned()]));
    }

    #[test]
    fn priority_changes_are_published_and_a_new_master_is_noted_once() {
        let t0 = Instant::now();
        let mut agent = running(&instances(&[instance("web", 1, 150, TRACK)]), t0);
        agent.handle(
            t0,
            Input::Check(CheckUpdate {
                check: "svc".into(),
                up: false,
                value: 0,
                detail: "failed".into(),
                last_output: None,
            }),
        );
        let priorities: Vec<(u8, u8)> = drain(&mut agent)
            .into_iter()
            .filter_map(|e| match e {
                Effect::Event(EventRecord::Priority(p)) => Some((p.priority, p.base_priority)),
                _ => None,
            })
            .collect();
        assert_eq!(priorities, vec![(90, 150)]);
        let changed = |effects: Vec<Effect>| {
            effects
                .iter()
                .filter(|e| matches!(e, Effect::MasterChanged { .. }))
                .count()
        };
        agent.handle(t0, advert_from_peer(1, 200));
        assert_eq!(changed(drain(&mut agent)), 1);
        agent.handle(t0 + INTERVAL, advert_from_peer(1, 200));
        assert_eq!(changed(drain(&mut agent)), 0, "the same Master");
    }

    #[test]
    fn adverts_slightly_late_keep_their_cadence() {
        let t0 = Instant::now();
        let mut agent = running(&instances(&[instance("web", 1, 255, "")]), t0);
        assert_eq!(state(&agent, "web"), State::Master);
        let due = agent.poll_timeout().expect("adver timer");
        agent.handle(due + Duration::from_millis(1), Input::Timeout);
        assert_eq!(
            agent.poll_timeout(),
            Some(due + INTERVAL),
            "stamped at the deadline"
        );
        let due = due + INTERVAL;
        let late = due + Duration::from_millis(3);
        agent.handle(late, Input::Timeout);
        assert_eq!(
            agent.poll_timeout(),
            Some(late + INTERVAL),
            "too late: from now"
        );
    }

    #[test]
    fn a_stopped_agent_finishes_once_the_handover_and_removal_are_done() {
        let t0 = Instant::now();
        let mut agent = running(&instances(&[instance("web", 1, 255, "")]), t0);
        let effects = drain(&mut agent);
        finish_jobs(&mut agent, t0, &effects);
        assert!(!agent.is_finished(), "running");
        agent.shutdown(t0);
        assert!(!agent.is_finished(), "the VIPs stay for a handover");
        let effects = run_until(&mut agent, t0 + Duration::from_secs(2));
        assert!(effects.iter().any(|e| matches!(
            e,
            Effect::Address {
                job: AddressJob::Remove,
                ..
            }
        )));
        assert!(!agent.is_finished(), "the removal is not done yet");
        finish_jobs(&mut agent, t0 + Duration::from_secs(2), &effects);
        assert!(agent.is_finished());
    }

    #[test]
    fn a_removed_instance_retires_and_stops_once_its_removal_is_done() {
        let t0 = Instant::now();
        let both = [instance("a", 1, 255, ""), instance("b", 2, 100, "")];
        let mut agent = running(&instances(&both), t0);
        let effects = drain(&mut agent);
        finish_jobs(&mut agent, t0, &effects);
        drain(&mut agent);
        let summary = agent.configure(t0, setup(&instances(&both[1..])));
        assert_eq!(summary.stopped, 1);
        let effects = drain(&mut agent);
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::StopInstance(_))),
            "its removal is pending"
        );
        finish_jobs(&mut agent, t0, &effects);
        let effects = drain(&mut agent);
        assert_eq!(
            effects
                .iter()
                .filter(|e| matches!(e, Effect::StopInstance(_)))
                .count(),
            1
        );
        assert_eq!(agent.config().instances.len(), 1);
    }

    #[test]
    fn reload_counts_what_it_kept_changed_started_stopped_and_failed() {
        let t0 = Instant::now();
        let first = [
            instance("same", 1, 100, ""),
            instance("changed", 2, 100, ""),
            instance("gone", 3, 100, ""),
        ];
        let mut agent = Agent::new(BTreeSet::new());
        let summary = agent.configure(t0, setup(&instances(&first)));
        assert_eq!(
            summary,
            ReloadSummary {
                started: 3,
                ..ReloadSummary::default()
            }
        );
        assert_eq!(
            summary.to_string(),
            "0 unchanged, 0 reconfigured, 3 started, 0 stopped"
        );
        let second = [
            instance("same", 1, 100, ""),
            instance("changed", 2, 120, ""),
            instance("new", 4, 100, ""),
            instance("broken", 5, 100, ""),
        ];
        let mut next = setup(&instances(&second));
        next.facts
            .insert("broken".into(), Err("no such interface".into()));
        let summary = agent.configure(t0, next);
        assert_eq!(
            summary.to_string(),
            "1 unchanged, 1 reconfigured, 1 started, 1 stopped; \
             failed to start: broken: no such interface"
        );
        let names: Vec<&str> = agent
            .config()
            .instances
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(names, vec!["same", "changed", "new", "broken"]);
        assert_eq!(agent.status(t0).instances.len(), 3);
    }

    #[test]
    fn datagrams_reach_their_instance_by_socket_and_vrid_and_drops_are_counted() {
        let t0 = Instant::now();
        let two = [instance("a", 1, 100, ""), instance("b", 2, 100, "")];
        let mut agent = running(&instances(&two), t0);
        agent.handle(t0, advert_from_peer(2, 200));
        agent.handle(t0, advert_from_peer(9, 200));
        let mut own = advert_from_peer(1, 200);
        if let Input::Datagram(d) = &mut own {
            d.source = US;
        }
        agent.handle(t0, own);
        let status = agent.status(t0);
        let master = |name: &str| {
            status
                .instances
                .iter()
                .find(|i| i.name == name)
                .and_then(|i| i.master.as_ref().map(|m| m.address))
        };
        assert_eq!(master("a"), None);
        assert_eq!(master("b"), Some(PEER));
        assert_eq!(status.dropped["eth0"]["unknown_vrid"], 1);
        assert_eq!(status.dropped["eth0"]["own_advert"], 1);
        assert_eq!(DropReason::BadTtl.to_string(), "bad_ttl");
    }

    #[test]
    fn a_masters_advert_moves_the_next_wake_up_later() {
        let t0 = Instant::now();
        let mut agent = running(&instances(&[instance("web", 1, 128, "")]), t0);
        // RFC 9568 §6.1, priority 128 at 10 cs: 3 × 10 + 128 × 10 / 256 = 35 cs.
        let mdi = Duration::from_millis(350);
        assert_eq!(agent.poll_timeout(), Some(t0 + mdi));
        let t1 = t0 + Duration::from_millis(50);
        agent.handle(t1, advert_from_peer(1, 200));
        assert_eq!(
            agent.poll_timeout(),
            Some(t1 + mdi),
            "the down timer restarted: no wake-up at the old deadline"
        );
    }

    #[test]
    fn losing_carrier_faults_the_instances_on_that_link_until_it_returns() {
        let t0 = Instant::now();
        let text = instances(&[instance("web", 1, 100, "")]).replace(
            "instances:\n",
            "  - name: uplink\n    interface: eth0\ninstances:\n",
        );
        let mut agent = running(&text, t0);
        assert_eq!(state(&agent, "web"), State::Backup);
        let link = |carrier| Input::Link {
            ifindex: 2,
            name: "eth0".into(),
            carrier,
        };
        agent.handle(t0, link(false));
        assert_eq!(state(&agent, "web"), State::Fault);
        let status = agent.status(t0);
        assert_eq!(
            status.instances[0].fault_reasons,
            vec!["interface eth0 is down"]
        );
        let checks: Vec<(String, bool)> = drain(&mut agent)
            .into_iter()
            .filter_map(|e| match e {
                Effect::Event(EventRecord::Check(c)) => Some((c.check, c.up)),
                _ => None,
            })
            .collect();
        assert_eq!(checks, vec![("uplink".to_owned(), false)]);
        agent.handle(t0, link(true));
        assert_eq!(state(&agent, "web"), State::Backup);
    }

    #[test]
    fn a_sync_group_removed_by_a_reload_finishes_its_hook_and_then_goes() {
        let t0 = Instant::now();
        let two = instances(&[instance("a", 1, 100, ""), instance("b", 2, 100, "")]);
        let grouped = format!(
            "{two}sync_groups:\n  - name: g\n    instances: [a, b]\n    hooks:\n      \
             on_change: {{command: c, timeout: 1s}}\n"
        );
        let mut agent = Agent::new(BTreeSet::new());
        agent.configure(t0, setup(&grouped));
        let effects = drain(&mut agent);
        let run = effects
            .iter()
            .find_map(|e| match e {
                Effect::RunHook(run) if run.args.group => Some(run.id),
                _ => None,
            })
            .expect("the group's on_change runs");
        finish_jobs(&mut agent, t0, &effects);
        agent.configure(t0, setup(&two));
        drain(&mut agent);
        agent.handle(
            t0,
            Input::HookFinished {
                run,
                outcome: ScriptOutcome {
                    result: crate::track::process::ScriptResult::Exited(0),
                    last_line: None,
                    duration: Duration::from_millis(3),
                },
            },
        );
        let reported = drain(&mut agent)
            .into_iter()
            .any(|e| matches!(e, Effect::Event(EventRecord::Hook(h)) if h.group && h.name == "g"));
        assert!(reported, "the retired group's hook is still reported");
        agent.shutdown(t0);
        let effects = drain(&mut agent);
        finish_jobs(&mut agent, t0, &effects);
        drain(&mut agent);
        assert!(agent.is_finished(), "nothing of the old group is left");
    }
}
