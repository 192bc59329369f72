//! The daemon's hands: every I/O resource the agent's effects need, and the
//! code that carries them out — sockets, address workers, hook runs, the event
//! stream, metrics, the status file, systemd, and the I/O half of reload and of
//! control requests. It decides nothing; the agent does.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::accept_filter::AcceptFilter;
use super::addresses::Workers;
use super::maintenance;
use super::progress::Supervisor;
use super::quorum::QuorumWorker;
use super::setup::{self, Sockets};
use super::status;
use super::systemd::Notifier;
use super::tracking::Monitors;
use super::vmac::VirtualMacs;
use super::{DaemonError, RunOptions, Wake};
use crate::agent::{Agent, Answer, Effect, HandoverOptions, Input, ReloadSummary, Setup, Ticket};
use crate::config::{self, Config};
use crate::control::metrics::Metrics;
use crate::control::status::Status;
use crate::control::{Request, Response};
use crate::notify::events::EventStream;
use crate::notify::hooks::run_hook;
use crate::notify::record::EventRecord;
use crate::platform::announce::Announcer;
use crate::platform::netlink::Netlink;
use crate::quorum::{QuorumReport, QuorumRequest};
use crate::track::monitor::DurationObserver;
use crate::track::run_as::RunAs;

/// This node's id in the quorum store: `node_id`, or the host name when
/// the configuration leaves it empty.
fn node_id(config: &Config) -> String {
    if !config.node_id.is_empty() {
        return config.node_id.clone();
    }
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Every I/O resource of the daemon, owned by its loop.
pub struct Shell {
    /// What `twinstar run` was asked to do.
    pub options: RunOptions,
    /// systemd notifications.
    pub notifier: Notifier,
    /// The check monitors.
    pub monitors: Monitors,
    /// Whether the status file (and metrics) must be rewritten: at the end
    /// of this turn, or as soon as the writer is free.
    status_dirty: bool,
    /// Writes the status file and metrics off the event loop.
    status_writer: status::StatusWriter,
    /// The agent's status version last handed to the writer.
    written_version: Option<u64>,
    /// The room to make for the status text: the last one's length and
    /// an eighth.
    status_room: usize,
    /// Watches the socket readers and address workers for the watchdog.
    pub supervisor: Supervisor,
    netlink: Arc<Netlink>,
    sockets: Sockets,
    /// The address workers, one per instance.
    workers: Workers,
    events: EventStream,
    /// The metrics families, kept only when `metrics` is configured: the
    /// endpoint is started with the agent and never later, so counting
    /// transitions and script runs nobody can scrape would only cost memory
    /// (some 0.9 MB of labels at 1000 instances).
    metrics: Option<Arc<Metrics>>,
    metrics_served: Option<JoinHandle<()>>,
    inputs: mpsc::UnboundedSender<Input>,
    /// Why the last maintenance save failed, for the control answer.
    maintenance_error: Option<String>,
    /// The configuration file's last accepted `events` and `script_user`.
    running: Config,
    /// Whether the first configuration has been applied (later ones are reloads).
    started: bool,
    /// Interfaces and heartbeat links the agent asked to look up, in order.
    lookups: Vec<Lookup>,
    /// Control requests waiting for a handover's outcome, by ticket.
    waiting: HashMap<Ticket, oneshot::Sender<Response>>,
    /// The etcd worker, started on the agent's first quorum request.
    quorum: Option<QuorumWorker>,
    /// Keeps the Accept_Mode table in line with the agent.
    accept_filter: AcceptFilter,
    /// The virtual MAC interfaces made for instances.
    vmacs: VirtualMacs,
}

/// How long a stop may spend giving up the quorum keys and the lease; past
/// it etcd expires them by itself after the lease's ttl.
const QUORUM_STOP_LIMIT: Duration = Duration::from_secs(1);

impl Shell {
    /// Connects netlink and the announcer; nothing runs yet. `metrics` is
    /// whether the configuration asks for the metrics endpoint.
    pub fn new(
        options: RunOptions,
        metrics: bool,
        run_as: Arc<RunAs>,
        events: EventStream,
        accept_filter: AcceptFilter,
        inputs: mpsc::UnboundedSender<Input>,
    ) -> Result<Self, DaemonError> {
        let metrics = metrics.then(|| Arc::new(Metrics::new()));
        let durations = metrics.clone().map(|metrics| -> DurationObserver {
            Arc::new(move |check: &str, took: Duration| {
                metrics.script_duration("check", check, took.as_secs_f64());
            })
        });
        let supervisor = Supervisor::new();
        let netlink = Arc::new(Netlink::connect()?);
        let announcer = Arc::new(Announcer::open()?);
        Ok(Shell {
            status_writer: status::StatusWriter::start(options.runtime_dir.clone()),
            written_version: None,
            status_room: 0,
            options,
            notifier: Notifier::from_env(),
            monitors: Monitors::new(inputs.clone(), run_as, durations),
            status_dirty: true,
            netlink: netlink.clone(),
            sockets: Sockets::default(),
            workers: Workers::new(netlink, announcer, inputs.clone(), supervisor.clone()),
            supervisor,
            events,
            metrics,
            metrics_served: None,
            inputs,
            maintenance_error: None,
            running: Config::empty(),
            started: false,
            lookups: Vec::new(),
            waiting: HashMap::new(),
            quorum: None,
            accept_filter,
            vmacs: VirtualMacs::default(),
        })
    }

    /// The identity scripts and hooks run as.
    pub fn run_as(&self) -> Arc<RunAs> {
        self.monitors.run_as()
    }

    /// Starts the metrics listener, if configured.
    pub async fn serve_metrics(&mut self, config: &Config) -> Result<(), DaemonError> {
        let (Some(metrics), Some(served)) = (&config.metrics, &self.metrics) else {
            return Ok(());
        };
        let served = served.clone();
        let listener = tokio::net::TcpListener::bind(metrics.listen)
            .await
            .map_err(|source| DaemonError::Metrics {
                listen: metrics.listen,
                source,
            })?;
        info!(listen = %metrics.listen, "serving metrics at /metrics");
        self.metrics_served = Some(tokio::spawn(async move {
            if let Err(e) = crate::control::metrics::serve(listener, served).await {
                error!("metrics listener failed: {e}");
            }
        }));
        Ok(())
    }

    /// Looks up what the agent needs to run `config`.
    pub async fn prepare(&mut self, config: Config) -> Setup {
        if config.quorum.is_none() {
            if let Some(worker) = self.quorum.take() {
                // The guard was configured away: give its keys up now rather
                // than keep them alive for no one.
                tokio::spawn(worker.stop(QUORUM_STOP_LIMIT));
            }
        }
        self.running = config.clone();
        setup::prepare(config, &self.netlink, &mut self.sockets, &self.vmacs).await
    }

    /// Looks up the next interface the agent asked for (see
    /// [`Effect::LookUpInterface`]): the answer to feed it.
    pub async fn next_lookup(&mut self) -> Option<Input> {
        if self.lookups.is_empty() {
            return None;
        }
        match self.lookups.remove(0) {
            Lookup::Interface(interface) => {
                let facts = setup::interface_facts(
                    &self.running,
                    &interface,
                    &self.netlink,
                    &mut self.sockets,
                    &self.vmacs,
                )
                .await;
                Some(Input::InterfaceFacts { interface, facts })
            }
            Lookup::Heartbeat { interface, ipv6 } => {
                let facts =
                    setup::heartbeat_facts(&interface, ipv6, &self.netlink, &mut self.sockets)
                        .await
                        .map_err(|e| e.to_string());
                Some(Input::HeartbeatFacts {
                    interface,
                    ipv6,
                    facts,
                })
            }
        }
    }

    /// The I/O half of a reload: reads and checks the file, switches the
    /// script user, event sinks and monitors, and looks up the host facts.
    pub async fn reload(&mut self, reply: Option<oneshot::Sender<Response>>) -> Wake {
        self.notifier.reloading();
        let new = match config::load_compact(&self.options.config_path) {
            Ok(new) => new,
            Err(errors) => {
                let errors = errors.0.iter().map(|e| e.to_string()).collect();
                return Wake::ReloadRejected(errors, reply);
            }
        };
        // A reload that turns `accept: false` on must be able to enforce it,
        // as a start must: while nothing refuses traffic yet, clearing the
        // (absent) table is a harmless probe that nftables works.
        let refuses = |c: &Config| c.instances.iter().any(|i| crate::agent::refuses_traffic(i));
        if refuses(&new) && !refuses(&self.running) {
            if let Err(e) = crate::platform::accept_filter::remove().await {
                let error = format!("accept: false needs nftables (nft), which failed: {e}");
                return Wake::ReloadRejected(vec![error], reply);
            }
        }
        let run_as = if new.script_user == self.running.script_user {
            self.run_as()
        } else {
            match RunAs::resolve(&new.script_user) {
                Ok(run_as) => Arc::new(run_as),
                Err(e) => return Wake::ReloadRejected(vec![format!("script_user: {e}")], reply),
            }
        };
        if new.events != self.running.events {
            match EventStream::open(&new.events) {
                Ok(events) => {
                    let old = std::mem::replace(&mut self.events, events);
                    // The old sinks drain on their own: the loop must not
                    // wait for them while Masters are due to advertise.
                    tokio::spawn(old.close(Duration::from_millis(200)));
                }
                Err(e) => error!("reload: keeping the old event sinks: {e}"),
            }
        }
        self.monitors.configure(&new, run_as);
        Wake::Configure(Box::new(self.prepare(new).await), reply)
    }

    /// Reports a reload's outcome to the log, systemd and the asking client.
    pub fn reloaded(
        &mut self,
        agent: &Agent,
        reply: Option<oneshot::Sender<Response>>,
        result: Result<ReloadSummary, Vec<String>>,
    ) {
        self.notifier.ready(&agent.summary_line());
        let response = match result {
            Ok(summary) if !self.started => {
                self.started = true;
                info!("twinstar running: {summary}");
                Response::done(summary.to_string())
            }
            Ok(summary) => {
                info!("configuration reloaded: {summary}");
                Response::done(summary.to_string())
            }
            Err(errors) => {
                error!(
                    "reload rejected, keeping the running configuration:\n{}",
                    errors.join("\n")
                );
                Response {
                    ok: false,
                    error: Some("the configuration is invalid; nothing was changed".into()),
                    errors,
                    ..Response::default()
                }
            }
        };
        if let Some(reply) = reply {
            let _ = reply.send(response);
        }
    }

    /// Answers a control request (reload is handled by [`reload`](Self::reload)),
    /// now or, for a switchover or maintenance that waits for its new Master,
    /// when the agent's [`Effect::Answer`] comes.
    pub async fn answer(
        &mut self,
        agent: &mut Agent,
        now: Instant,
        request: Request,
        reply: oneshot::Sender<Response>,
    ) {
        let answer = match request {
            Request::Status => Answer::Now(Response {
                ok: true,
                status: Some(self.verified_status(agent, now).await),
                ..Response::default()
            }),
            Request::Switchover { instance, wait } => agent.switchover(now, &instance, wait),
            Request::Maintenance {
                on,
                instance,
                wait,
                force,
            } => {
                let options = HandoverOptions { wait, force };
                let answer = agent.set_maintenance(now, on, instance.as_deref(), options);
                self.carry_out(agent, now);
                match (answer, self.maintenance_error.take()) {
                    (Answer::Now(response), Some(e)) if response.ok => {
                        Answer::Now(Response::failed(format!(
                            "{} now, but it will not survive a restart: {e}",
                            response.message.unwrap_or_default()
                        )))
                    }
                    (answer, Some(e)) => {
                        warn!("maintenance will not survive a restart: {e}");
                        answer
                    }
                    (answer, None) => answer,
                }
            }
            Request::Reload => {
                Answer::Now(Response::failed("reload is answered by the event loop"))
            }
        };
        match answer {
            // The client may have gone; then nobody needs the answer.
            Answer::Now(response) => {
                let _ = reply.send(response);
            }
            Answer::Later(ticket) => {
                self.waiting.insert(ticket, reply);
            }
        }
    }

    /// The status with VIP presence read from the kernel: what an operator
    /// asks for (the status file shows what the address workers applied).
    async fn verified_status(&self, agent: &Agent, now: Instant) -> Status {
        let mut status = self.status(agent, now);
        // The VIPs of an instance with a virtual MAC live on its macvlan.
        let vip_interface = |name: &str, interface: &str| -> String {
            self.running
                .instances
                .iter()
                .find(|i| i.name == name)
                .and_then(|i| i.vmac.clone())
                .unwrap_or_else(|| interface.to_owned())
        };
        let places: Vec<String> = status
            .instances
            .iter()
            .map(|i| vip_interface(&i.name, &i.interface))
            .collect();
        let interfaces: BTreeSet<&str> = places.iter().map(String::as_str).collect();
        let mut on_link: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for interface in interfaces {
            let listed = match self.netlink.link_by_name(interface).await {
                Ok(link) => self.netlink.addresses(link.index).await,
                Err(e) => Err(e),
            };
            match listed {
                Ok(list) => {
                    on_link.insert(
                        interface.to_owned(),
                        list.iter().map(|a| a.address).collect(),
                    );
                }
                Err(e) => warn!("status: listing addresses failed: {e}"),
            }
        }
        for (instance, place) in status.instances.iter_mut().zip(&places) {
            let Some(list) = on_link.get(place) else {
                continue;
            };
            for vip in &mut instance.virtual_ips {
                let address = vip.address.split('/').next().unwrap_or_default();
                vip.present = address.parse::<IpAddr>().is_ok_and(|a| list.contains(&a));
            }
        }
        status
    }

    fn status(&self, agent: &Agent, now: Instant) -> Status {
        let mut status = agent.status(now);
        status.pid = std::process::id();
        status
    }

    /// Carries out every effect the agent has queued, in order, then
    /// rewrites the status if it changed.
    pub fn carry_out(&mut self, agent: &mut Agent, now: Instant) {
        while let Some(effect) = agent.poll_effect() {
            match effect {
                Effect::SendAdvert {
                    instance,
                    socket,
                    source,
                    destination,
                    packet,
                } => {
                    let sent = match self.sockets.get(&socket) {
                        Some(open) => open
                            .send_to(&packet, source, destination)
                            .map_err(|e| e.to_string()),
                        None => Err("the socket is not open".to_owned()),
                    };
                    if let Err(error) = sent {
                        agent.handle(
                            now,
                            Input::SendFailed {
                                instance,
                                socket,
                                error,
                            },
                        );
                    }
                }
                Effect::StartInstance(target) => {
                    self.vmacs.started(&target);
                    self.workers.start(*target);
                }
                Effect::Address { instance, seq, job } => {
                    self.workers.send(instance, seq, job);
                }
                Effect::StopInstance(instance) => {
                    self.workers.stop(instance);
                    self.vmacs.stopped(instance, self.netlink.clone());
                }
                Effect::RunHook(run) => {
                    let run_as = self.run_as();
                    let metrics = self.metrics.clone();
                    let inputs = self.inputs.clone();
                    tokio::spawn(async move {
                        let outcome = run_hook(&run, &run_as).await;
                        let name = format!("{}.{}", run.args.name, run.kind.as_str());
                        if let Some(metrics) = metrics {
                            metrics.script_duration("hook", &name, outcome.duration.as_secs_f64());
                        }
                        let _ = inputs.send(Input::HookFinished {
                            run: run.id,
                            outcome,
                        });
                    });
                }
                Effect::Event(record) => {
                    if let (EventRecord::Transition(t), Some(metrics)) = (&record, &self.metrics) {
                        metrics.transition(&t.instance, t.from, t.to);
                    }
                    self.events.emit(&record);
                }
                Effect::MasterChanged { instance } => {
                    if let Some(metrics) = &self.metrics {
                        metrics.master_changed(&instance);
                    }
                }
                Effect::Answer { ticket, response } => {
                    if let Some(reply) = self.waiting.remove(&ticket) {
                        let _ = reply.send(*response);
                    }
                }
                Effect::SaveMaintenance(names) => {
                    self.maintenance_error = maintenance::save(&self.options.runtime_dir, &names)
                        .err()
                        .map(|e| e.to_string());
                }
                Effect::LookUpInterface { interface } => {
                    let lookup = Lookup::Interface(interface);
                    if !self.lookups.contains(&lookup) {
                        self.lookups.push(lookup);
                    }
                }
                Effect::LookUpHeartbeat { interface, ipv6 } => {
                    let lookup = Lookup::Heartbeat { interface, ipv6 };
                    if !self.lookups.contains(&lookup) {
                        self.lookups.push(lookup);
                    }
                }
                Effect::CloseSocket(key) => self.sockets.close_one(&key),
                Effect::PublishStatus => self.status_dirty = true,
                Effect::Quorum(request) => self.ask_quorum(request),
                Effect::AcceptFilter(refused) => self.accept_filter.set(refused),
            }
        }
        if self.status_dirty {
            self.write_status(agent, now);
        }
    }

    /// Whether a status rewrite waits for the writer to be free.
    pub fn status_pending(&self) -> bool {
        self.status_dirty
    }

    /// What tells the loop that the writer is free again.
    pub fn status_ready(&self) -> Arc<Notify> {
        self.status_writer.ready()
    }

    /// Hands `request` to the quorum worker of the running configuration,
    /// starting it (or replacing one made for other settings) first.
    fn ask_quorum(&mut self, request: QuorumRequest) {
        let Some(quorum) = &self.running.quorum else {
            let key = match request {
                QuorumRequest::Acquire { key } | QuorumRequest::Release { key } => key,
            };
            let _ = self.inputs.send(Input::Quorum(QuorumReport::Unreachable {
                key: Some(key),
                error: "no quorum is configured".to_owned(),
            }));
            return;
        };
        let node_id = node_id(&self.running);
        if !self
            .quorum
            .as_ref()
            .is_some_and(|worker| worker.serves(&quorum.etcd, &node_id))
        {
            if let Some(old) = self.quorum.take() {
                // Its keys live under the old settings: give them up.
                tokio::spawn(old.stop(QUORUM_STOP_LIMIT));
            }
            info!(node_id, endpoints = ?quorum.etcd.endpoints, "quorum: using etcd");
            let inputs = self.inputs.clone();
            self.quorum = Some(QuorumWorker::start(
                quorum.etcd.clone(),
                node_id,
                Box::new(move |report| {
                    let _ = inputs.send(Input::Quorum(report));
                }),
            ));
        }
        if let Some(worker) = &self.quorum {
            worker.send(request);
        }
    }

    /// Hands a snapshot of the status to the writer, which writes the file
    /// and renders the metrics off the event loop. While the writer is busy
    /// nothing is built: the rewrite stays pending and the loop comes back
    /// when the writer is free, so the newest status is the one written.
    fn write_status(&mut self, agent: &Agent, now: Instant) {
        if self.status_writer.is_busy() {
            self.status_dirty = true;
            return;
        }
        self.status_dirty = false;
        self.written_version = Some(agent.status_version());
        let snapshot = match self.metrics_served.as_ref().and(self.metrics.clone()) {
            Some(metrics) => status::Snapshot::Document {
                status: self.status(agent, now),
                metrics,
            },
            None => match self.status_text(agent, now) {
                Ok(text) => status::Snapshot::Text(text),
                Err(e) => {
                    warn!("the status document could not be made: {e}");
                    return;
                }
            },
        };
        self.status_writer.publish(snapshot);
        self.notifier.status(&agent.summary_line());
    }

    /// The status file's text, made here rather than by the writer from a
    /// document: a document of a thousand instances is some 8,000 small
    /// blocks, allocated on this thread once a second and freed by the
    /// writer, and the heap kept their room resident between the blocks
    /// that live on (the 1000-instance Master's heap 2.96–2.98 MB without
    /// the status file, 3.36–3.38 MB with it). Made here, one instance's
    /// status is alive at a time, and the text is one block, sized from
    /// the last (above 128 KiB, glibc maps it on its own and unmaps it
    /// when the writer frees it).
    fn status_text(&mut self, agent: &Agent, now: Instant) -> serde_json::Result<Vec<u8>> {
        let mut text = Vec::with_capacity(self.status_room);
        agent.write_status_json(now, std::process::id(), &mut text)?;
        // Room for the next to grow a little without being moved.
        self.status_room = text.len() + text.len() / 8;
        Ok(text)
    }

    /// The periodic refresh: rewrite the status if anything in it moved
    /// since the last write (counters move without asking for a rewrite, so
    /// a flood of packets costs at most one rewrite a second), then give freed
    /// pages back so resident memory tracks what is in use.
    pub fn refresh(&mut self, agent: &Agent, now: Instant) {
        if self.written_version != Some(agent.status_version()) || self.status_dirty {
            self.write_status(agent, now);
        }
        crate::platform::heap::give_back_free_pages();
    }

    /// Writes a status rewrite still pending, once the writer is free: the
    /// file shows the last state before the daemon exits.
    pub async fn flush_status(&mut self, agent: &Agent) {
        if self.status_dirty {
            self.status_writer.idle().await;
            self.write_status(agent, Instant::now());
        }
    }

    /// The readers of the VRRP sockets, which the event loop polls.
    pub fn readers(&mut self) -> &mut super::receive::Readers {
        &mut self.sockets.readers
    }

    /// After the agent has finished: flush the event stream, close the sockets.
    pub async fn close(mut self) {
        if let Some(worker) = self.quorum {
            worker.stop(QUORUM_STOP_LIMIT).await;
        }
        self.accept_filter.close().await;
        self.events.close(Duration::from_secs(1)).await;
        self.vmacs.close(self.netlink.clone()).await;
        self.sockets.close();
        self.status_writer.close().await;
    }
}

/// A lookup the agent asked for, done between two turns of the loop.
#[derive(Debug, PartialEq, Eq)]
enum Lookup {
    /// [`Effect::LookUpInterface`].
    Interface(String),
    /// [`Effect::LookUpHeartbeat`].
    Heartbeat {
        /// The interface.
        interface: String,
        /// The family: true for IPv6.
        ipv6: bool,
    },
}
