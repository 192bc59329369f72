//! Whole agents on a simulated LAN: each host runs a real `twinstar::agent::Agent`
//! (every instance, sync group, hook and check of its configuration), and this
//! world plays the daemon around it — it carries the adverts as real wire bytes
//! to the other hosts (with loss, delay and partitions), performs address jobs
//! on a model of each host's interface after a delay, runs hooks for simulated
//! durations with scripted results, and feeds link and check changes. Each
//! host also has a second link, `eth1` (for `heartbeat: [eth1]`), a network
//! of its own that is cut by its own cable.
//!
//! Time is virtual and every random choice comes from one seed, so a failing
//! schedule replays exactly. What happened is kept in a log for invariants.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use twinstar::agent::{
    AddressJob, AddressTarget, Agent, Datagram, Effect, HandoverOptions, HookRun, Input,
    InstanceFacts, InstanceId, Setup, SocketKey,
};
use twinstar::config::{parse_str, Config};
use twinstar::control::Status;
use twinstar::notify::record::{EventRecord, HookKind};
use twinstar::track::monitor::CheckUpdate;
use twinstar::track::process::{ScriptOutcome, ScriptResult};
use twinstar::vrrp::{State, TransitionReason};

use super::SplitMix64;

mod etcd;
mod heartbeat;
mod kernel;

pub use etcd::SimEtcd;

/// Index of a host in the world.
pub type HostId = usize;

/// The index every simulated host's interface has at first; a re-created
/// interface gets the next one.
const IFINDEX: u32 = 2;

pub use heartbeat::HEARTBEAT_IFINDEX;

/// How a simulated hook command behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPlan {
    /// Exits with this status after this long.
    Exit(i32, Duration),
    /// Never exits: killed at its timeout.
    Hang,
}

/// One transition of one instance, as its agent published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Virtual time.
    pub at: Duration,
    /// The host.
    pub host: HostId,
    /// Which run of the agent on that host (a restart makes a new one).
    pub incarnation: u32,
    /// The instance.
    pub instance: String,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why.
    pub reason: TransitionReason,
}

/// One sync-group transition, as its agent published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSeen {
    /// The host.
    pub host: HostId,
    /// Which run of the agent on that host.
    pub incarnation: u32,
    /// The group.
    pub group: String,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
}

/// One advert a host sent, as it went on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertSeen {
    /// Virtual time it was sent.
    pub at: Duration,
    /// The sender.
    pub host: HostId,
    /// Its VRID.
    pub vrid: u8,
    /// Its priority (0: the sender resigns).
    pub priority: u8,
    /// The group, or a unicast peer.
    pub destination: IpAddr,
    /// Its VRRP version: 3, or 2 from an instance with `version: 2` or `both`.
    pub version: u8,
}

/// One hook the agent started (or skipped), in the order it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSeen {
    /// Virtual time it started.
    pub at: Duration,
    /// The host.
    pub host: HostId,
    /// Which run of the agent.
    pub incarnation: u32,
    /// Instance or group name.
    pub name: String,
    /// Whether `name` is a group.
    pub group: bool,
    /// Which hook.
    pub kind: HookKind,
    /// The transition's states.
    pub from: State,
    /// See `from`.
    pub to: State,
    /// True when it was skipped rather than run.
    pub skipped: bool,
    /// For `fence`: the silent Master's address it was given.
    pub peer: Option<IpAddr>,
}

/// Which of an instance's hook lanes a hook runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lane {
    Transition,
    BeforeMaster,
    Fence,
}

impl Lane {
    fn of(kind: HookKind) -> Self {
        match kind {
            HookKind::BeforeMaster => Lane::BeforeMaster,
            HookKind::Fence => Lane::Fence,
            _ => Lane::Transition,
        }
    }
}

/// A check run after every step of the world.
type Observer = Box<dyn FnMut(&World)>;

/// Something due at a point of virtual time.
#[derive(Debug)]
enum Pending {
    /// A datagram arrives at a host.
    Deliver { to: HostId, datagram: Datagram },
    /// An address job completes.
    AddressJob {
        host: HostId,
        incarnation: u32,
        instance: InstanceId,
        seq: u64,
        job: AddressJob,
    },
    /// The kernel's notification of an address change reaches a host's agent.
    Notice {
        host: HostId,
        incarnation: u32,
        address: IpAddr,
        present: bool,
    },
    /// The daemon's lookup of a heartbeat link ends.
    HeartbeatLookup {
        host: HostId,
        incarnation: u32,
        interface: String,
        ipv6: bool,
    },
    /// The daemon's lookup of a re-created interface ends.
    Lookup {
        host: HostId,
        incarnation: u32,
        interface: String,
    },
    /// Between a quorum worker and the simulated etcd.
    Etcd(etcd::EtcdPending),
    /// A hook run ends.
    HookDone {
        host: HostId,
        incarnation: u32,
        run: HookRun,
        outcome: ScriptOutcome,
    },
}

/// The daemon's address worker of one instance, modelled.
#[derive(Debug)]
struct Worker {
    target: AddressTarget,
    busy_until: Duration,
    holding: bool,
    present: Vec<twinstar::config::VirtualIp>,
}

/// One simulated host.
pub struct Host {
    /// Its configuration file's text.
    pub yaml: String,
    agent: Option<Agent>,
    /// Counts agent starts; reports of an older run are dropped.
    pub incarnation: u32,
    stopping: bool,
    /// Cable plugged in (the interface has carrier).
    pub link_up: bool,
    /// The cable of its second link, `eth1`, is plugged in.
    pub heartbeat_up: bool,
    /// The interface `eth0` exists (it can be deleted and re-created).
    pub interface_present: bool,
    /// Its index now.
    pub ifindex: u32,
    /// Percentage of its sent and received packets lost.
    pub loss_percent: u8,
    /// One-way delay added to its packets.
    pub delay: Duration,
    /// The addresses on its interface: the kernel's view.
    pub addresses: BTreeSet<IpAddr>,
    workers: HashMap<InstanceId, Worker>,
    /// How each hook command behaves.
    pub hooks: HashMap<String, HookPlan>,
    /// The hook running now per (name, group, lane): transition hooks run
    /// one at a time, and `before_master` and `fence` each in a lane of
    /// their own.
    running_hooks: HashMap<(String, bool, Lane), HookKind>,
    /// The maintenance set its agent last saved (kept across restarts).
    saved_maintenance: BTreeSet<String>,
    /// Instances in maintenance, as the world asked.
    pub maintenance: BTreeSet<String>,
    /// Each instance's last state, as published.
    pub states: HashMap<String, State>,
    /// Per instance, this run: when it became Master, left Master, and when
    /// its worker finished adding and removing its VIPs.
    entered: HashMap<String, Vec<Duration>>,
    left: HashMap<String, Vec<Duration>>,
    added: HashMap<String, Vec<Duration>>,
    removed: HashMap<String, Vec<Duration>>,
}

/// The simulated LAN and its hosts.
pub struct World {
    epoch: Instant,
    now: Duration,
    /// The hosts.
    pub hosts: Vec<Host>,
    queue: BTreeMap<(Duration, u64), Pending>,
    seq: u64,
    rng: SplitMix64,
    /// Pairs of hosts that cannot hear each other.
    cut: HashSet<(HostId, HostId)>,
    /// How long an address job takes.
    pub address_delay: Duration,
    /// How long the kernel's notification of an address change takes to
    /// reach the agent: longer than a job, so echoes of our own jobs arrive
    /// after the job was reported done, as they may on a real host.
    pub notice_delay: Duration,
    /// Every transition, in order.
    pub transitions: Vec<Seen>,
    /// Every sync-group transition, in order.
    pub group_transitions: Vec<GroupSeen>,
    /// Every hook started or skipped, in order.
    pub hook_log: Vec<HookSeen>,
    /// Every answer to a waiting switchover or maintenance, in order.
    pub answers: Vec<(HostId, twinstar::control::Response)>,
    /// Adverts sent.
    pub adverts_sent: u64,
    /// Changes of the Master heard, as the agents counted them
    /// ([`Effect::MasterChanged`]), per host.
    pub master_changes: HashMap<HostId, u64>,
    /// Every advert sent, in order.
    pub adverts: Vec<AdvertSeen>,
    /// Whether the LAN drops every multicast advert, as some clouds do:
    /// only unicast peers can hear each other then.
    pub multicast_dropped: bool,
    /// Called after every step with the world, to check invariants.
    observer: Option<Observer>,
    /// The simulated etcd every host with `quorum` uses.
    pub etcd: SimEtcd,
}

impl World {
    /// An empty world; `seed` fixes every random choice.
    pub fn new(seed: u64) -> Self {
        World {
            epoch: Instant::now(),
            now: Duration::ZERO,
            hosts: Vec::new(),
            queue: BTreeMap::new(),
            seq: 0,
            rng: SplitMix64(seed),
            cut: HashSet::new(),
            address_delay: Duration::from_micros(300),
            notice_delay: Duration::from_millis(1),
            transitions: Vec::new(),
            group_transitions: Vec::new(),
            hook_log: Vec::new(),
            answers: Vec::new(),
            adverts_sent: 0,
            master_changes: HashMap::new(),
            adverts: Vec::new(),
            multicast_dropped: false,
            observer: None,
            etcd: SimEtcd::default(),
        }
    }

    /// Host `id`'s primary IPv4 address: 192.0.2.(10 + id).
    pub fn address(id: HostId) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + id as u8))
    }

    /// Host `id`'s IPv6 link-local address: fe80::(10 + id).
    pub fn link_local(id: HostId) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 10 + id as u16)
    }

    /// Adds a host with this configuration (not started).
    pub fn add_host(&mut self, yaml: &str) -> HostId {
        self.hosts.push(Host {
            yaml: yaml.to_owned(),
            agent: None,
            incarnation: 0,
            stopping: false,
            link_up: true,
            heartbeat_up: true,
            interface_present: true,
            ifindex: IFINDEX,
            loss_percent: 0,
            delay: Duration::ZERO,
            addresses: BTreeSet::new(),
            workers: HashMap::new(),
            hooks: HashMap::new(),
            running_hooks: HashMap::new(),
            saved_maintenance: BTreeSet::new(),
            maintenance: BTreeSet::new(),
            states: HashMap::new(),
            entered: HashMap::new(),
            left: HashMap::new(),
            added: HashMap::new(),
            removed: HashMap::new(),
        });
        self.hosts.len() - 1
    }

    /// Installs a check run after every step (panic there to fail).
    pub fn observe(&mut self, observer: impl FnMut(&World) + 'static) {
        self.observer = Some(Box::new(observer));
    }

    /// Virtual time since the world began.
    pub fn now(&self) -> Duration {
        self.now
    }

    fn instant(&self) -> Instant {
        self.epoch + self.now
    }

    /// A random number below `n` from the world's generator.
    pub fn random(&mut self, n: u64) -> u64 {
        self.rng.next() % n.max(1)
    }

    fn setup(&self, id: HostId, config: Config) -> Setup {
        let host = &self.hosts[id];
        let facts = self.facts(id, &config, None);
        let links = [("eth0".to_owned(), host.link_up)].into_iter().collect();
        Setup {
            config,
            facts,
            links,
        }
    }

    /// What the daemon would look up for each instance of `config` (only
    /// those on `interface`, if given) on host `id`'s interface as it is now.
    fn facts(
        &self,
        id: HostId,
        config: &Config,
        interface: Option<&str>,
    ) -> HashMap<String, Result<InstanceFacts, String>> {
        let host = &self.hosts[id];
        config
            .instances
            .iter()
            .filter(|i| interface.is_none_or(|name| i.interface == name))
            .map(|i| {
                if !host.interface_present {
                    let why = format!("no interface named {:?}", i.interface);
                    return (i.name.clone(), Err(why));
                }
                let v6 = i.virtual_ips.first().is_some_and(|v| v.addr.is_ipv6());
                let source = if v6 {
                    IpAddr::V6(Self::link_local(id))
                } else {
                    Self::address(id)
                };
                let facts = InstanceFacts {
                    ifindex: host.ifindex,
                    mac: [2, 0, 0, 0, 0, id as u8],
                    link_local: Some(Self::link_local(id)),
                    source,
                    carrier: host.link_up,
                    vmac: None,
                };
                (i.name.clone(), Ok(facts))
            })
            .collect()
    }

    /// Boots the agent on host `id` with its configuration; a running agent
    /// is crashed first.
    pub fn start(&mut self, id: HostId) {
        self.crash(id);
        let config = parse_str(&self.hosts[id].yaml, "sim.yaml").expect("valid sim config");
        self.hosts[id].incarnation += 1;
        self.etcd_start(id, &config);
        let setup = self.setup(id, config);
        let now = self.instant();
        let host = &mut self.hosts[id];
        host.stopping = false;
        host.states.clear();
        host.entered.clear();
        host.left.clear();
        host.added.clear();
        host.removed.clear();
        host.maintenance = host.saved_maintenance.clone();
        let mut agent = Agent::new(host.saved_maintenance.clone());
        let summary = agent.configure(now, setup);
        assert!(summary.failed.is_empty(), "start failed: {summary}");
        host.agent = Some(agent);
        self.drain(id);
    }

    /// The host dies: no goodbye; its addresses vanish with it and nothing
    /// it had queued happens.
    pub fn crash(&mut self, id: HostId) {
        let host = &mut self.hosts[id];
        host.agent = None;
        host.stopping = false;
        host.addresses.clear();
        host.workers.clear();
        host.running_hooks.clear();
        host.states.clear();
    }

    /// Graceful stop: the agent resigns and exits once it has nothing pending.
    pub fn stop(&mut self, id: HostId) {
        let now = self.instant();
        let Some(agent) = self.hosts[id].agent.as_mut() else {
            return;
        };
        agent.shutdown(now);
        self.hosts[id].stopping = true;
        self.drain(id);
    }

    /// Whether host `id` runs an agent (and is not stopping).
    pub fn running(&self, id: HostId) -> bool {
        self.hosts[id].agent.is_some() && !self.hosts[id].stopping
    }

    /// Plugs (true) or pulls (false) host `id`'s cable; the agent hears of it.
    pub fn set_link(&mut self, id: HostId, up: bool) {
        self.hosts[id].link_up = up;
        if !self.hosts[id].interface_present {
            return;
        }
        let input = Input::Link {
            ifindex: self.hosts[id].ifindex,
            name: "eth0".into(),
            carrier: up,
        };
        self.feed(id, input);
    }

    /// `ip link del eth0` on host `id`: its addresses go with it, its
    /// sockets stop working, and the agent hears of the deletion.
    pub fn delete_interface(&mut self, id: HostId) {
        let host = &mut self.hosts[id];
        host.interface_present = false;
        host.addresses.clear();
        let input = Input::LinkRemoved {
            ifindex: host.ifindex,
            name: "eth0".into(),
        };
        self.feed(id, input);
    }

    /// `ip link add eth0 ...` on host `id` after a deletion: the interface
    /// is back under its name with a new index (and carrier if the cable is
    /// plugged in).
    pub fn create_interface(&mut self, id: HostId) {
        let host = &mut self.hosts[id];
        assert!(!host.interface_present, "host {id}: eth0 exists already");
        host.interface_present = true;
        host.ifindex += 1;
        let input = Input::Link {
            ifindex: host.ifindex,
            name: "eth0".into(),
            carrier: host.link_up,
        };
        self.feed(id, input);
    }

    /// Whether host `id` has an interface that can carry its traffic.
    fn wired(&self, id: HostId) -> bool {
        self.hosts[id].link_up && self.hosts[id].interface_present
    }

    /// Cuts (or heals) the path between two hosts only.
    pub fn set_cut(&mut self, a: HostId, b: HostId, cut: bool) {
        let pair = (a.min(b), a.max(b));
        if cut {
            self.cut.insert(pair);
        } else {
            self.cut.remove(&pair);
        }
    }

    /// A check's monitor on host `id` reports `up`.
    pub fn set_check(&mut self, id: HostId, check: &str, up: bool) {
        let update = CheckUpdate {
            check: check.to_owned(),
            up,
            value: 0,
            detail: if up { "ok" } else { "failed" }.to_owned(),
            last_output: None,
        };
        self.feed(id, Input::Check(update));
    }

    /// Operator: switchover of `instance` on host `id`, waiting for its
    /// outcome (in [`answers`](Self::answers)). Returns whether it was
    /// accepted (refused: not Master there).
    pub fn switchover(&mut self, id: HostId, instance: &str) -> bool {
        let now = self.instant();
        let Some(agent) = self.hosts[id].agent.as_mut() else {
            return false;
        };
        let ok = agent.switchover(now, instance, true).accepted();
        self.drain(id);
        ok
    }

    /// Operator: maintenance on or off for `instance` on host `id`.
    pub fn maintenance(&mut self, id: HostId, instance: &str, on: bool) {
        let now = self.instant();
        let Some(agent) = self.hosts[id].agent.as_mut() else {
            return;
        };
        // Forced: the simulated operator means it even with nobody to take over.
        let options = HandoverOptions {
            wait: false,
            force: true,
        };
        assert!(agent
            .set_maintenance(now, on, Some(instance), options)
            .accepted());
        if on {
            self.hosts[id].maintenance.insert(instance.to_owned());
        } else {
            self.hosts[id].maintenance.remove(instance);
        }
        self.drain(id);
    }

    /// Operator: new configuration text for host `id`, applied by reload.
    pub fn reload(&mut self, id: HostId, yaml: &str) {
        self.hosts[id].yaml = yaml.to_owned();
        let config = parse_str(yaml, "sim.yaml").expect("valid sim config");
        self.etcd_reconfigure(id, &config);
        let setup = self.setup(id, config);
        let now = self.instant();
        let Some(agent) = self.hosts[id].agent.as_mut() else {
            return;
        };
        let summary = agent.configure(now, setup);
        assert!(summary.failed.is_empty(), "reload failed: {summary}");
        self.drain(id);
    }

    /// Host `id`'s status, if its agent runs.
    pub fn status(&self, id: HostId) -> Option<Status> {
        Some(self.hosts[id].agent.as_ref()?.status(self.instant()))
    }

    /// Whether host `id` has no hook running and no address job in flight.
    pub fn quiet(&self, id: HostId) -> bool {
        self.hosts[id].running_hooks.is_empty()
            && self.queue.values().all(|p| match p {
                Pending::AddressJob { host, .. }
                | Pending::HookDone { host, .. }
                | Pending::Lookup { host, .. }
                | Pending::HeartbeatLookup { host, .. } => *host != id,
                Pending::Deliver { .. } | Pending::Notice { .. } | Pending::Etcd(_) => true,
            })
    }

    /// The hosts whose interface holds `vip`.
    pub fn holders(&self, vip: IpAddr) -> Vec<HostId> {
        (0..self.hosts.len())
            .filter(|&h| self.hosts[h].addresses.contains(&vip))
            .collect()
    }

    /// Runs the world for `span` of virtual time.
    pub fn run_for(&mut self, span: Duration) {
        let end = self.now + span;
        self.run_until(end);
    }

    /// Runs the world until virtual time `end`, one event at a time.
    pub fn run_until(&mut self, end: Duration) {
        loop {
            let next_pending = self.queue.keys().next().map(|(at, _)| *at);
            let next_timer = (0..self.hosts.len())
                .filter_map(|h| self.hosts[h].agent.as_mut()?.poll_timeout())
                .min()
                .map(|t| t.saturating_duration_since(self.epoch));
            let next = match (next_pending, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            self.now = next.max(self.now);
            if next_pending == Some(next) {
                let Some((_, pending)) = self.queue.pop_first() else {
                    break;
                };
                self.deliver(pending);
            } else {
                let now = self.instant();
                for h in 0..self.hosts.len() {
                    let due = self.hosts[h]
                        .agent
                        .as_mut()
                        .and_then(Agent::poll_timeout)
                        .is_some_and(|t| t <= now);
                    if due {
                        self.feed(h, Input::Timeout);
                    }
                }
            }
            self.check();
        }
        self.now = end.max(self.now);
    }

    fn check(&mut self) {
        if let Some(mut observer) = self.observer.take() {
            observer(self);
            self.observer = Some(observer);
        }
    }

    fn deliver(&mut self, pending: Pending) {
        match pending {
            Pending::Deliver { to, datagram } => {
                // A datagram for a socket of a deleted interface is lost.
                let on_heartbeat = datagram.socket.ifindex == HEARTBEAT_IFINDEX;
                let arrives = if on_heartbeat {
                    self.hosts[to].heartbeat_up
                } else {
                    self.wired(to) && datagram.socket.ifindex == self.hosts[to].ifindex
                };
                if arrives {
                    self.feed(to, Input::Datagram(datagram));
                }
            }
            Pending::AddressJob {
                host,
                incarnation,
                instance,
                seq,
                job,
            } => {
                if self.hosts[host].incarnation != incarnation {
                    return;
                }
                let before = self.hosts[host].addresses.clone();
                let Some(present) = self.do_address_job(host, instance, job) else {
                    return;
                };
                self.notify_changes(host, &before);
                self.feed(
                    host,
                    Input::AddressesDone {
                        instance,
                        seq,
                        present,
                    },
                );
            }
            Pending::Notice {
                host,
                incarnation,
                address,
                present,
            } => self.deliver_notice(host, incarnation, address, present),
            Pending::Lookup {
                host,
                incarnation,
                interface,
            } => {
                if self.hosts[host].incarnation != incarnation {
                    return;
                }
                let config = parse_str(&self.hosts[host].yaml, "sim.yaml").expect("valid");
                let facts = self.facts(host, &config, Some(&interface));
                self.feed(host, Input::InterfaceFacts { interface, facts });
            }
            Pending::HeartbeatLookup {
                host,
                incarnation,
                interface,
                ipv6,
            } => self.heartbeat_lookup_done(host, incarnation, interface, ipv6),
            Pending::Etcd(pending) => self.etcd_deliver(pending),
            Pending::HookDone {
                host,
                incarnation,
                run,
                outcome,
            } => {
                if self.hosts[host].incarnation != incarnation {
                    return;
                }
                self.hosts[host].running_hooks.remove(&(
                    run.args.name.clone(),
                    run.args.group,
                    Lane::of(run.kind),
                ));
                self.feed(
                    host,
                    Input::HookFinished {
                        run: run.id,
                        outcome,
                    },
                );
            }
        }
    }

    /// Carries out one address job on the interface model.
    fn do_address_job(
        &mut self,
        host: HostId,
        instance: InstanceId,
        job: AddressJob,
    ) -> Option<Vec<twinstar::config::VirtualIp>> {
        let h = &mut self.hosts[host];
        let worker = h.workers.get_mut(&instance)?;
        // A worker for a deleted interface changes nothing: its addresses
        // went with the interface, and it cannot add any.
        let live = h.interface_present && worker.target.ifindex == h.ifindex;
        if !live {
            let name = worker.target.name().to_owned();
            match job {
                AddressJob::Remove => {
                    h.removed.entry(name).or_default().push(self.now);
                    worker.holding = false;
                    worker.present.clear();
                }
                AddressJob::RemoveStale => worker.present.clear(),
                AddressJob::Add => {
                    h.added.entry(name).or_default().push(self.now);
                    worker.holding = true;
                }
                AddressJob::Verify => worker.present.clear(),
                AddressJob::Announce
                | AddressJob::Reconfigure { .. }
                | AddressJob::Refresh
                | AddressJob::Restore(_)
                | AddressJob::Evict(_) => {}
            }
            return Some(worker.present.clone());
        }
        match job {
            AddressJob::RemoveStale => {
                for vip in worker.target.vips() {
                    h.addresses.remove(&vip.addr);
                }
            }
            AddressJob::Add => {
                h.added
                    .entry(worker.target.name().to_owned())
                    .or_default()
                    .push(self.now);
                worker.holding = true;
                for vip in worker.target.vips() {
                    h.addresses.insert(vip.addr);
                    if !worker.present.contains(vip) {
                        worker.present.push(*vip);
                    }
                }
            }
            AddressJob::Remove => {
                h.removed
                    .entry(worker.target.name().to_owned())
                    .or_default()
                    .push(self.now);
                worker.holding = false;
                for vip in worker.target.vips() {
                    h.addresses.remove(&vip.addr);
                }
                worker.present.clear();
            }
            AddressJob::Announce => {}
            AddressJob::Refresh => {
                if worker.holding {
                    for vip in worker.target.vips() {
                        h.addresses.insert(vip.addr);
                        if !worker.present.contains(vip) {
                            worker.present.push(*vip);
                        }
                    }
                }
            }
            AddressJob::Verify => {
                worker.present = worker
                    .target
                    .vips()
                    .iter()
                    .filter(|v| h.addresses.contains(&v.addr))
                    .copied()
                    .collect();
            }
            AddressJob::Restore(vips) => {
                for vip in vips {
                    h.addresses.insert(vip.addr);
                    if !worker.present.contains(&vip) {
                        worker.present.push(vip);
                    }
                }
            }
            AddressJob::Evict(vips) => {
                for vip in vips {
                    h.addresses.remove(&vip.addr);
                    worker.present.retain(|v| *v != vip);
                }
            }
            AddressJob::Reconfigure(config) => {
                let old = worker.target.vips().to_vec();
                worker.target.config = config;
                if worker.holding {
                    for vip in old.iter().filter(|v| !worker.target.vips().contains(v)) {
                        h.addresses.remove(&vip.addr);
                    }
                    for vip in worker.target.vips() {
                        h.addresses.insert(vip.addr);
                    }
                    worker.present = worker.target.vips().to_vec();
                } else {
                    let vips = worker.target.vips().to_vec();
                    worker.present.retain(|v| vips.contains(v));
                }
            }
        }
        Some(worker.present.clone())
    }

    /// Feeds one input to host `id`'s agent and carries out its effects.
    pub fn feed(&mut self, id: HostId, input: Input) {
        let now = self.instant();
        let Some(agent) = self.hosts[id].agent.as_mut() else {
            return;
        };
        agent.handle(now, input);
        self.drain(id);
    }

    fn schedule(&mut self, at: Duration, pending: Pending) {
        self.seq += 1;
        self.queue.insert((at, self.seq), pending);
    }

    /// Carries out host `id`'s effects, the way the daemon would.
    fn drain(&mut self, id: HostId) {
        while let Some(effect) = self.hosts[id].agent.as_mut().and_then(Agent::poll_effect) {
            self.effect(id, effect);
        }
        let finished = self.hosts[id].stopping
            && self.hosts[id]
                .agent
                .as_ref()
                .is_some_and(Agent::is_finished);
        if finished {
            let host = &mut self.hosts[id];
            host.agent = None;
            host.stopping = false;
            host.workers.clear();
            host.states.clear();
        }
    }

    fn effect(&mut self, id: HostId, effect: Effect) {
        let incarnation = self.hosts[id].incarnation;
        match effect {
            Effect::SendAdvert {
                socket,
                source,
                destination,
                packet,
                ..
            } => self.broadcast(id, socket, source, destination, &packet),
            Effect::StartInstance(target) => {
                let worker = Worker {
                    target: (*target).clone(),
                    busy_until: self.now,
                    holding: false,
                    present: Vec::new(),
                };
                self.hosts[id].workers.insert(target.instance, worker);
            }
            Effect::Address { instance, seq, job } => {
                let delay = self.address_delay;
                let Some(worker) = self.hosts[id].workers.get_mut(&instance) else {
                    return;
                };
                let done = worker.busy_until.max(self.now) + delay;
                worker.busy_until = done;
                self.schedule(
                    done,
                    Pending::AddressJob {
                        host: id,
                        incarnation,
                        instance,
                        seq,
                        job,
                    },
                );
            }
            Effect::StopInstance(instance) => {
                self.hosts[id].workers.remove(&instance);
            }
            Effect::RunHook(run) => {
                if !run.args.group {
                    self.assert_gate(id, incarnation, &run);
                }
                let owner = (run.args.name.clone(), run.args.group, Lane::of(run.kind));
                if let Some(kind) = self.hosts[id].running_hooks.get(&owner) {
                    panic!(
                        "host {id}: {:?} started while {kind:?} of {} still runs",
                        run.kind, owner.0
                    );
                }
                self.hosts[id].running_hooks.insert(owner, run.kind);
                self.hook_log.push(HookSeen {
                    at: self.now,
                    host: id,
                    incarnation,
                    name: run.args.name.clone(),
                    group: run.args.group,
                    kind: run.kind,
                    from: run.args.from,
                    to: run.args.to,
                    skipped: false,
                    peer: run.args.peer,
                });
                let plan = self.hosts[id]
                    .hooks
                    .get(&run.hook.command.to_string())
                    .copied()
                    .unwrap_or(HookPlan::Exit(0, Duration::from_millis(1)));
                let (result, took) = match plan {
                    HookPlan::Exit(code, took) if took < run.hook.timeout => {
                        (ScriptResult::Exited(code), took)
                    }
                    _ => (ScriptResult::TimedOut, run.hook.timeout),
                };
                let outcome = ScriptOutcome {
                    result,
                    last_line: None,
                    duration: took,
                };
                let at = self.now + took;
                self.schedule(
                    at,
                    Pending::HookDone {
                        host: id,
                        incarnation,
                        run: *run,
                        outcome,
                    },
                );
            }
            Effect::Event(EventRecord::Transition(t)) => {
                let host = &mut self.hosts[id];
                host.states.insert(t.instance.clone(), t.to);
                if t.to == State::Master {
                    host.entered
                        .entry(t.instance.clone())
                        .or_default()
                        .push(self.now);
                }
                if t.from == State::Master {
                    host.left
                        .entry(t.instance.clone())
                        .or_default()
                        .push(self.now);
                }
                self.transitions.push(Seen {
                    at: self.now,
                    host: id,
                    incarnation,
                    instance: t.instance,
                    from: t.from,
                    to: t.to,
                    reason: t.reason,
                });
            }
            Effect::Event(EventRecord::Hook(h)) if h.result == "skipped" => {
                self.hook_log.push(HookSeen {
                    at: self.now,
                    host: id,
                    incarnation,
                    name: h.name,
                    group: h.group,
                    kind: h.hook,
                    from: h.old_state,
                    to: h.state,
                    skipped: true,
                    peer: None,
                });
            }
            Effect::Event(EventRecord::Group(g)) => {
                self.group_transitions.push(GroupSeen {
                    host: id,
                    incarnation,
                    group: g.group,
                    from: g.from,
                    to: g.to,
                });
            }
            Effect::LookUpInterface { interface } => {
                let at = self.now + self.address_delay;
                let pending = Pending::Lookup {
                    host: id,
                    incarnation,
                    interface,
                };
                self.schedule(at, pending);
            }
            Effect::LookUpHeartbeat { interface, ipv6 } => {
                let at = self.now + self.address_delay;
                let pending = Pending::HeartbeatLookup {
                    host: id,
                    incarnation,
                    interface,
                    ipv6,
                };
                self.schedule(at, pending);
            }
            Effect::MasterChanged { .. } => {
                *self.master_changes.entry(id).or_default() += 1;
            }
            Effect::Event(_)
            | Effect::PublishStatus
            | Effect::CloseSocket(_)
            | Effect::AcceptFilter(_) => {}
            Effect::Answer { response, .. } => self.answers.push((id, *response)),
            Effect::SaveMaintenance(names) => {
                self.hosts[id].saved_maintenance = names.into_iter().collect();
            }
            Effect::Quorum(request) => self.etcd_request(id, request),
        }
    }

    /// `on_master` runs only once its term's VIPs were added, `after_backup`
    /// only once they were removed after leaving Master: the k-th of each
    /// belongs to the k-th entry to (exit from) Master of this run.
    fn assert_gate(&self, id: HostId, incarnation: u32, run: &HookRun) {
        let (moves, jobs) = match run.kind {
            HookKind::OnMaster => (&self.hosts[id].entered, &self.hosts[id].added),
            HookKind::AfterBackup => (&self.hosts[id].left, &self.hosts[id].removed),
            _ => return,
        };
        let name = &run.args.name;
        let k = self
            .hook_log
            .iter()
            .filter(|h| {
                h.host == id
                    && h.incarnation == incarnation
                    && !h.group
                    && h.name == *name
                    && h.kind == run.kind
            })
            .count();
        let moved = moves.get(name).and_then(|m| m.get(k)).copied();
        let Some(moved) = moved else {
            panic!(
                "host {id} {name}: {:?} #{k} without its transition",
                run.kind
            );
        };
        let done = jobs
            .get(name)
            .is_some_and(|j| j.iter().any(|t| *t >= moved));
        assert!(
            done,
            "host {id} {name}: {:?} at {:?} before the address job of the transition at {moved:?}",
            run.kind, self.now
        );
    }

    /// Multicasts an advert from host `from` to every host that can hear it
    /// (its own copy comes back, as the kernel loops multicast back).
    /// Carries one advert: to every host for the group (unless the LAN
    /// drops multicast), to the host that has the address for unicast.
    fn broadcast(
        &mut self,
        from: HostId,
        socket: SocketKey,
        source: IpAddr,
        destination: IpAddr,
        packet: &[u8],
    ) {
        self.adverts_sent += 1;
        // RFC 9568 §5.1 (and RFC 3768 §5.1): the version is the high nibble
        // of the first byte, the VRID the second byte, the priority the third.
        if let [version_type, vrid, priority, ..] = *packet {
            self.adverts.push(AdvertSeen {
                at: self.now,
                host: from,
                vrid,
                priority,
                destination,
                version: version_type >> 4,
            });
        }
        if socket.ifindex == HEARTBEAT_IFINDEX {
            return self.broadcast_heartbeat(from, socket.ipv6, packet);
        }
        // Sent on a socket of a deleted interface: it fails.
        if !self.wired(from) || socket.ifindex != self.hosts[from].ifindex {
            return;
        }
        let multicast = destination.is_multicast();
        if multicast && self.multicast_dropped {
            return;
        }
        for to in 0..self.hosts.len() {
            let addressed = multicast
                || destination == Self::address(to)
                || destination == IpAddr::V6(Self::link_local(to));
            if !addressed {
                continue;
            }
            let heard = to == from
                || (self.wired(to)
                    && !self.cut.contains(&(from.min(to), from.max(to)))
                    && !self.lost(from)
                    && !self.lost(to));
            if !heard {
                continue;
            }
            let at = if to == from {
                self.now
            } else {
                self.now + self.hosts[from].delay + self.hosts[to].delay
            };
            let datagram = Datagram {
                socket: SocketKey {
                    ifindex: self.hosts[to].ifindex,
                    ipv6: socket.ipv6,
                },
                source,
                destination,
                hop_limit: Some(255),
                payload: Ok(packet.to_vec().into()),
            };
            self.schedule(at, Pending::Deliver { to, datagram });
        }
    }

    fn lost(&mut self, id: HostId) -> bool {
        let percent = self.hosts[id].loss_percent;
        percent > 0 && self.rng.next() % 100 < u64::from(percent)
    }
}
