//! The daemon: the tokio event loop that feeds every virtual router its events and
//! carries out its actions (mini-redis style: one owner of the state, tasks at the
//! edges, one shutdown path).
//!
//! One task owns all state machines. Socket readers, the link watcher and signals
//! feed it through channels; address changes and announcements go out to one worker
//! per instance, so nothing slow ever sits between a timer and its advert.

mod addresses;
mod control;
mod events;
mod groups;
mod health;
mod hooks;
mod instance;
mod operate;
mod receive;
mod reload;
mod status;
mod systemd;
mod tracking;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use self::addresses::{AddressJob, AddressTarget, Present};
use self::control::{ControlSocket, ControlSocketError};
use self::events::{EventSinkError, EventStream};
use self::groups::GroupRuntime;
use self::health::Assessment;
use self::hooks::{HookKind, HookQueue, HookReport};
use self::instance::{InstanceRuntime, Transition};
use self::receive::{Datagram, DropCounters, SocketKey};
use self::systemd::Notifier;
use self::tracking::Tracking;
use crate::config::{self, AddressFamily, Config, ConfigErrors};
use crate::control::metrics::Metrics;
use crate::notify::record::{EventRecord, GroupEvent, HookEvent, PriorityEvent, TransitionEvent};
use crate::platform::announce::Announcer;
use crate::platform::netlink::{LinkEvent, Netlink};
use crate::platform::vrrp_socket::{SocketError, VrrpSocket};
use crate::platform::PlatformError;
use crate::track::monitor::CheckUpdate;
use crate::track::run_as::RunAs;
use crate::track::TrackError;
use crate::vrrp::{Event, RouterSettings, SettingsError, VirtualRouter};

/// What `twinstar run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The configuration file (re-read on SIGHUP).
    pub config_path: PathBuf,
    /// Where run-time files go (status snapshot; later the control socket).
    pub runtime_dir: PathBuf,
}

/// Why the daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration is invalid.
    #[error("invalid configuration:\n{0}")]
    Config(ConfigErrors),
    /// The runtime directory could not be created.
    #[error("cannot create runtime directory {path}: {source}")]
    RuntimeDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A netlink or packet-socket operation failed.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// A VRRP socket could not be opened.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The interface has no address to send adverts from.
    #[error(
        "instance {instance}: interface {interface} has no {family} address to send adverts from"
    )]
    NoSourceAddress {
        /// Instance name.
        instance: String,
        /// Interface name.
        interface: String,
        /// What is missing.
        family: &'static str,
    },
    /// The instance's settings are unusable by the state machine.
    #[error("instance {instance}: {source}")]
    Settings {
        /// Instance name.
        instance: String,
        /// Why.
        source: SettingsError,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The `script_user` cannot be used.
    #[error("script_user: {0}")]
    ScriptUser(TrackError),
    /// An event sink could not be opened.
    #[error(transparent)]
    Events(#[from] EventSinkError),
    /// The control socket could not be opened.
    #[error(transparent)]
    Control(#[from] ControlSocketError),
    /// The metrics listener could not be bound.
    #[error("metrics: cannot listen on {listen}: {source}")]
    Metrics {
        /// The configured address.
        listen: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs the agent until SIGTERM or SIGINT; then resigns as Master and removes VIPs.
pub async fn run(options: RunOptions) -> Result<(), DaemonError> {
    let config = config::load(&options.config_path).map_err(DaemonError::Config)?;
    std::fs::create_dir_all(&options.runtime_dir).map_err(|source| DaemonError::RuntimeDir {
        path: options.runtime_dir.clone(),
        source,
    })?;
    if config.realtime_priority > 0 {
        match crate::platform::sched::enable_realtime(config.realtime_priority) {
            Ok(()) => info!(
                priority = config.realtime_priority,
                "real-time scheduling (SCHED_FIFO)"
            ),
            Err(e) => warn!("real-time scheduling unavailable, running as a normal process: {e}"),
        }
    }
    let run_as = Arc::new(RunAs::resolve(&config.script_user).map_err(DaemonError::ScriptUser)?);
    let events = EventStream::open(&config.events)?;
    let mut daemon = Daemon::new(options, run_as.clone(), events)?;
    daemon.maintenance = operate::load_maintenance(&daemon.options.runtime_dir);
    let mut links = crate::platform::netlink::watch_links()?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    daemon
        .tracking
        .configure(&config, run_as, &daemon.netlink)
        .await;
    daemon.start_groups(&config);
    daemon.config = config.clone();
    let (control, mut control_requests) =
        ControlSocket::open(&daemon.options.runtime_dir, config.control.group.as_deref())?;
    daemon.control = Some(control);
    if let Some(metrics) = &config.metrics {
        let listener = tokio::net::TcpListener::bind(metrics.listen)
            .await
            .map_err(|source| DaemonError::Metrics {
                listen: metrics.listen,
                source,
            })?;
        info!(listen = %metrics.listen, "serving metrics at /metrics");
        let served = daemon.metrics.clone();
        daemon.metrics_served = Some(tokio::spawn(async move {
            if let Err(e) = crate::control::metrics::serve(listener, served).await {
                error!("metrics listener failed: {e}");
            }
        }));
    }
    for instance in config.instances {
        daemon.start_instance(instance).await?;
    }
    info!(instances = daemon.instances.len(), "twinstar running");
    daemon.write_status();
    let line = daemon.summary_line();
    daemon.notifier.ready(&line);
    let mut status_tick = tokio::time::interval(STATUS_REFRESH);
    let mut watchdog = tokio::time::interval(
        daemon
            .notifier
            .watchdog_interval()
            .unwrap_or(Duration::from_secs(3600)),
    );
    // One timer, moved when the earliest deadline moves (not rebuilt per event).
    let far = || tokio::time::Instant::now() + Duration::from_secs(86_400);
    let timer = tokio::time::sleep_until(far());
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    loop {
        let deadline = daemon.next_deadline();
        if deadline != armed {
            timer
                .as_mut()
                .reset(deadline.map_or_else(far, tokio::time::Instant::from_std));
            armed = deadline;
        }
        tokio::select! {
            Some((request, reply)) = control_requests.recv() => {
                daemon.on_control(request, reply).await;
                daemon.deadline_cache = None;
            }
            _ = watchdog.tick() => daemon.notifier.keep_alive(),
            Some(datagram) = daemon.datagrams_rx.recv() => {
                daemon.on_datagram(datagram);
                // Whatever else has arrived meanwhile, in one go.
                for _ in 0..DATAGRAM_BATCH {
                    match daemon.datagrams_rx.try_recv() {
                        Ok(datagram) => daemon.on_datagram(datagram),
                        Err(_) => break,
                    }
                }
            }
            Some(event) = links.next() => {
                daemon.on_link(event);
                daemon.deadline_cache = None;
            }
            Some(update) = daemon.tracking.updates_rx.recv() => {
                daemon.on_check(update);
                daemon.deadline_cache = None;
            }
            Some(report) = daemon.hook_reports_rx.recv() => {
                daemon.on_hook(report);
                daemon.deadline_cache = None;
            }
            () = &mut timer, if armed.is_some() => {
                daemon.on_timers();
                daemon.deadline_cache = None;
                armed = None;
            }
            _ = status_tick.tick() => {
                daemon.write_status();
                // The document is built and dropped every refresh; give the
                // freed pages back so resident memory tracks what is in use.
                #[cfg(target_env = "gnu")]
                // SAFETY: malloc_trim only releases free heap memory.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
            _ = sighup.recv() => {
                // SIGHUP has nobody to answer; reload logs its outcome.
                let _ = daemon.reload().await;
                daemon.deadline_cache = None;
            }
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
        if daemon.status_dirty {
            daemon.write_status();
        }
    }
    info!("shutting down: resigning and removing virtual IPs");
    daemon.shutdown().await;
    Ok(())
}

/// An instance's earliest deadline: protocol timer, before_master hold, handover.
fn deadline_of(instance: &InstanceRuntime) -> Option<Instant> {
    [
        instance.router.next_deadline(),
        instance.before_master_failed_until,
        instance.handover_deadline(),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// How often the status file is rewritten when nothing changed (counters).
const STATUS_REFRESH: Duration = Duration::from_secs(1);

/// Datagrams handled per wake-up beyond the first, before other events get a turn.
const DATAGRAM_BATCH: usize = 256;

/// Timers due this soon are handled now, at their deadline: a wake-up serves
/// every timer in the same half millisecond (tokio's timer has 1 ms
/// granularity anyway), and an advert or takeover is never late for it.
const TIMER_SLACK: Duration = Duration::from_micros(500);

/// The single owner of every instance and socket.
struct Daemon {
    options: RunOptions,
    netlink: Arc<Netlink>,
    announcer: Arc<Announcer>,
    instances: Vec<InstanceRuntime>,
    /// (socket, vrid) → index into `instances`.
    by_vrid: HashMap<(SocketKey, u8), usize>,
    sockets: HashMap<SocketKey, (Arc<VrrpSocket>, JoinHandle<()>)>,
    /// Last known carrier per interface index.
    carrier: HashMap<u32, bool>,
    datagrams_tx: mpsc::Sender<Datagram>,
    datagrams_rx: mpsc::Receiver<Datagram>,
    drops: DropCounters,
    status_dirty: bool,
    /// The configuration running now (replaced by a successful reload).
    config: Config,
    tracking: Tracking,
    groups: Vec<GroupRuntime>,
    events: EventStream,
    hook_reports_tx: mpsc::UnboundedSender<HookReport>,
    hook_reports_rx: mpsc::UnboundedReceiver<HookReport>,
    /// The control socket, once bound.
    control: Option<ControlSocket>,
    notifier: Notifier,
    /// Instances in maintenance mode (kept in the runtime directory).
    maintenance: std::collections::HashSet<String>,
    /// Prometheus metrics, rendered from the status document.
    metrics: Arc<Metrics>,
    /// Whether a metrics listener runs (the document is then kept current).
    metrics_served: Option<JoinHandle<()>>,
    /// The earliest deadline of all instances, when known (`None`: rescan).
    deadline_cache: Option<Option<Instant>>,
}

impl Daemon {
    fn new(
        options: RunOptions,
        run_as: Arc<RunAs>,
        events: EventStream,
    ) -> Result<Self, DaemonError> {
        let (datagrams_tx, datagrams_rx) = mpsc::channel(4096);
        let (hook_reports_tx, hook_reports_rx) = mpsc::unbounded_channel();
        let metrics = Arc::new(Metrics::new());
        Ok(Daemon {
            options,
            netlink: Arc::new(Netlink::connect()?),
            announcer: Arc::new(Announcer::open()?),
            instances: Vec::new(),
            by_vrid: HashMap::new(),
            sockets: HashMap::new(),
            carrier: HashMap::new(),
            datagrams_tx,
            datagrams_rx,
            drops: DropCounters::default(),
            status_dirty: true,
            config: Config {
                instances: Vec::new(),
                checks: Vec::new(),
                sync_groups: Vec::new(),
                events: config::EventSinks::default(),
                script_user: config::defaults::SCRIPT_USER.to_owned(),
                control: config::Control::default(),
                metrics: None,
                realtime_priority: 0,
            },
            tracking: Tracking::new(run_as, {
                let metrics = metrics.clone();
                Arc::new(move |check: &str, took: Duration| {
                    metrics.script_duration("check", check, took.as_secs_f64());
                })
            }),
            metrics,
            groups: Vec::new(),
            events,
            hook_reports_tx,
            hook_reports_rx,
            control: None,
            notifier: Notifier::from_env(),
            maintenance: Default::default(),
            metrics_served: None,
            deadline_cache: None,
        })
    }

    /// Starts the sync groups' hook workers.
    fn start_groups(&mut self, config: &Config) {
        self.groups = config
            .sync_groups
            .iter()
            .map(|g| {
                GroupRuntime::new(
                    g.clone(),
                    self.tracking.run_as(),
                    self.hook_reports_tx.clone(),
                )
            })
            .collect();
    }

    /// Sets up one instance: interface facts, socket, worker; then starts it.
    async fn start_instance(&mut self, config: config::Instance) -> Result<(), DaemonError> {
        let link = self.netlink.link_by_name(&config.interface).await?;
        let link_local = self.netlink.link_local_ipv6(link.index).await?;
        let source = match config.address_family() {
            AddressFamily::Ipv4 => self.netlink.primary_ipv4(link.index).await?.map(IpAddr::V4),
            AddressFamily::Ipv6 => link_local.map(IpAddr::V6),
        };
        let source = source.ok_or_else(|| DaemonError::NoSourceAddress {
            instance: config.name.clone(),
            interface: config.interface.clone(),
            family: match config.address_family() {
                AddressFamily::Ipv4 => "IPv4",
                AddressFamily::Ipv6 => "IPv6 link-local",
            },
        })?;
        let key = SocketKey {
            ifindex: link.index,
            ipv6: source.is_ipv6(),
        };
        let socket = self.socket(key, &config.interface, source)?;
        let settings = RouterSettings {
            priority: config.priority.get(),
            advert_interval: config.advert_interval,
            preempt: config.preempt,
            preempt_delay: config.preempt_delay,
            primary_address: socket.source(),
        };
        let router = VirtualRouter::new(settings).map_err(|source| DaemonError::Settings {
            instance: config.name.clone(),
            source,
        })?;
        let present = Present::default();
        let target = AddressTarget {
            instance: config.name.clone(),
            interface: config.interface.clone(),
            ifindex: link.index,
            mac: link.mac,
            link_local,
            vips: config.virtual_ips.clone(),
            garp: config.garp,
            present: present.clone(),
        };
        let worker = addresses::spawn(target, self.netlink.clone(), self.announcer.clone());
        let hooks = HookQueue::spawn(
            config.hooks.clone(),
            self.tracking.run_as(),
            self.hook_reports_tx.clone(),
        );
        let mut runtime =
            InstanceRuntime::new(config, router, link.index, socket, worker, present, hooks);
        runtime.queue(AddressJob::RemoveStale);
        let now = Instant::now();
        self.carrier.insert(link.index, link.carrier);
        if !link.carrier {
            warn!(instance = %runtime.config.name, "interface {} has no carrier", runtime.config.interface);
        }
        if self.maintenance.contains(&runtime.config.name) {
            info!(instance = %runtime.config.name, "maintenance mode is on (kept from before)");
            runtime.handle(now, Event::Maintenance(true));
        }
        let index = self.instances.len();
        self.by_vrid.insert((key, runtime.config.vrid), index);
        self.instances.push(runtime);
        // Health first, so an instance whose checks have not passed starts in Fault.
        self.reassess(now);
        let transitions = self.instances[index].handle(now, Event::Startup);
        self.after_transitions(index, transitions, now);
        self.status_dirty = true;
        Ok(())
    }

    /// The socket for `key`, opened (with its reader) on first use.
    fn socket(
        &mut self,
        key: SocketKey,
        interface: &str,
        source: IpAddr,
    ) -> Result<Arc<VrrpSocket>, DaemonError> {
        if let Some((socket, _)) = self.sockets.get(&key) {
            return Ok(socket.clone());
        }
        let socket = Arc::new(VrrpSocket::open(interface, key.ifindex, source)?);
        let reader = receive::spawn_reader(key, socket.clone(), self.datagrams_tx.clone());
        self.sockets.insert(key, (socket.clone(), reader));
        Ok(socket)
    }

    /// The earliest deadline of any instance. Cached: a scan of every
    /// instance per event would dominate with many instances; only the advert
    /// path keeps the cache up to date incrementally, everything else
    /// invalidates it (see `on_datagram`).
    fn next_deadline(&mut self) -> Option<Instant> {
        if let Some(cached) = self.deadline_cache {
            return cached;
        }
        let earliest = self.instances.iter().filter_map(deadline_of).min();
        self.deadline_cache = Some(earliest);
        earliest
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        let horizon = now + TIMER_SLACK;
        let mut holds_expired = false;
        for index in 0..self.instances.len() {
            let instance = &mut self.instances[index];
            if let Some(due) = instance.router.next_deadline().filter(|t| *t <= horizon) {
                // Stamped at the deadline when only slightly late, so adverts
                // keep their cadence instead of drifting by each wake-up's delay.
                let late = now.saturating_duration_since(due);
                let at = if late <= TIMER_SLACK * 4 { due } else { now };
                let transitions = instance.handle(at, Event::TimerExpired);
                self.after_transitions(index, transitions, at);
            }
            let instance = &mut self.instances[index];
            if instance.handover_deadline().is_some_and(|t| t <= horizon) {
                // Nobody took over in time: the VIPs go anyway.
                instance.finish_handover();
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
        if holds_expired {
            self.reassess(now);
        }
    }

    fn on_datagram(&mut self, datagram: Datagram) {
        let Some((socket, _)) = self.sockets.get(&datagram.socket) else {
            return;
        };
        let found = receive::check(&datagram, socket.source()).and_then(|accepted| {
            match self.by_vrid.get(&(datagram.socket, accepted.vrid)) {
                Some(&index) => Ok((index, accepted)),
                None => Err("unknown_vrid"),
            }
        });
        match found {
            Ok((index, accepted)) => {
                let now = Instant::now();
                let event = Event::AdvertReceived(accepted.info);
                let old = deadline_of(&self.instances[index]);
                let transitions = self.instances[index].handle(now, event);
                let new = deadline_of(&self.instances[index]);
                self.deadline_cache = match self.deadline_cache {
                    // Only this instance's deadline moved: the earliest stays
                    // valid unless it was this one's.
                    Some(Some(earliest)) if transitions.is_empty() && old != Some(earliest) => {
                        Some(Some(new.map_or(earliest, |n| n.min(earliest))))
                    }
                    Some(None) if transitions.is_empty() && old.is_none() => Some(new),
                    _ => None,
                };
                self.after_transitions(index, transitions, now);
                self.note_master(index);
            }
            Err(reason) => {
                self.drops.count(socket.interface(), reason);
                self.status_dirty = true;
            }
        }
    }

    fn on_link(&mut self, event: LinkEvent) {
        let previous = self.carrier.insert(event.index, event.carrier);
        let now = Instant::now();
        for change in self.tracking.on_link(&event.name, event.carrier, now) {
            self.events.emit(&EventRecord::Check(change));
        }
        if previous != Some(event.carrier) && previous.is_some() {
            info!(interface = %event.name, carrier = event.carrier, "link changed");
        }
        self.reassess(now);
    }

    fn on_check(&mut self, update: CheckUpdate) {
        let now = Instant::now();
        if let Some(change) = self.tracking.on_update(update, now) {
            self.events.emit(&EventRecord::Check(change));
            self.reassess(now);
        }
        self.status_dirty = true;
    }

    fn on_hook(&mut self, report: HookReport) {
        let now = Instant::now();
        let outcome = report.outcome.as_ref();
        if let Some(o) = outcome {
            let name = format!("{}.{}", report.args.name, report.kind.as_str());
            self.metrics
                .script_duration("hook", &name, o.duration.as_secs_f64());
        }
        self.events.emit(&EventRecord::Hook(HookEvent {
            name: report.args.name.clone(),
            group: report.args.group,
            hook: report.kind,
            state: report.args.to,
            old_state: report.args.from,
            result: outcome.map_or("skipped".to_owned(), |o| o.result.to_string()),
            success: outcome.is_some_and(|o| o.result.is_success()),
            duration_ms: outcome.map(|o| o.duration.as_millis() as u64),
            output: outcome.and_then(|o| o.last_line.clone()),
        }));
        if report.kind != HookKind::BeforeMaster || report.args.group {
            return;
        }
        let success = outcome.is_some_and(|o| o.result.is_success());
        let Some(instance) = self
            .instances
            .iter_mut()
            .find(|i| i.config.name == report.args.name)
        else {
            return;
        };
        if instance.before_master_done(now, report.term, success) && !success {
            self.reassess(now);
        }
    }

    /// Recomputes every instance's health from links, checks, before_master
    /// holds and sync groups, and feeds what changed to the state machines.
    fn reassess(&mut self, now: Instant) {
        let mut all: HashMap<String, Assessment> = self
            .instances
            .iter()
            .map(|i| {
                let link_up = self.carrier.get(&i.ifindex).copied().unwrap_or(false);
                let mut a = health::assess(&i.config, &self.config, &self.tracking.states, link_up);
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
                self.events.emit(&EventRecord::Priority(PriorityEvent {
                    instance: instance.config.name.clone(),
                    priority: health.priority,
                    base_priority: instance.config.priority.get(),
                    reasons: health.priority_reasons.clone(),
                }));
            }
            let transitions = instance.apply_health(now, health);
            self.after_transitions(index, transitions, now);
            self.status_dirty = true;
        }
    }

    /// Publishes transitions, makes sync-group partners follow a member that
    /// left Master, and updates the groups' own states.
    fn after_transitions(&mut self, index: usize, transitions: Vec<Transition>, now: Instant) {
        if transitions.is_empty() {
            return;
        }
        self.status_dirty = true;
        self.note_master(index);
        for transition in transitions {
            let name = self.instances[index].config.name.clone();
            self.publish_transition(&name, self.instances[index].router.priority(), &transition);
            let partners: Vec<String> = self
                .groups
                .iter()
                .flat_map(|g| g.resign_with(&name, &transition))
                .map(str::to_owned)
                .collect();
            for partner in partners {
                let Some(j) = self.instances.iter().position(|i| i.config.name == partner) else {
                    continue;
                };
                let follow = self.instances[j].handle(now, Event::Resign);
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
            self.metrics.master_changed(&instance.config.name);
        }
        instance.noted_master = master;
    }

    fn publish_transition(&self, name: &str, priority: u8, t: &Transition) {
        self.metrics.transition(name, t.from, t.to);
        self.events.emit(&EventRecord::Transition(TransitionEvent {
            instance: name.to_owned(),
            from: t.from,
            to: t.to,
            reason: t.reason,
            priority,
        }));
    }

    fn refresh_groups(&mut self) {
        for group in &mut self.groups {
            let members: Vec<&InstanceRuntime> = self
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
                self.events.emit(&EventRecord::Group(GroupEvent {
                    group: group.config.name.clone(),
                    from,
                    to,
                }));
            }
        }
    }
}
