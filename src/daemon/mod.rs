//! The daemon: the I/O shell around the sans-IO [`Agent`] (mini-redis style:
//! one owner of the state, tasks at the edges, one shutdown path).
//!
//! One loop owns the agent. Socket readers, address workers, hook runs, check
//! monitors, the link watcher, the control socket and signals feed it; each
//! turn it waits for one of them, reads the clock once, hands the input to the
//! agent and carries out the effects the agent asks for ([`shell::Shell`]).
//! It makes no protocol decision of its own.

mod accept_filter;
mod address_watch;
mod addresses;
mod control;
pub mod lock;
mod loop_timer;
mod maintenance;
pub mod panic;
mod progress;
pub mod quorum;
mod receive;
mod remove_vips;
mod setup;
mod shell;
mod status;
mod systemd;
mod tracking;
mod vmac;

use std::future::poll_fn;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

pub use self::remove_vips::{remove_vips, VipRemoval, VipRemovalLine};
pub use self::vmac::{remove_virtual_macs, VirtualMacRemovalLine};

use self::control::{ControlSocket, ControlSocketError};
use self::shell::Shell;
use crate::agent::{Agent, Datagram, Input, Setup};
use crate::config::{self, ConfigErrors};
use crate::control::{Request, Response};
use crate::notify::events::{EventSinkError, EventStream};
use crate::platform::vrrp_socket::SocketError;
use crate::platform::PlatformError;
use crate::track::run_as::RunAs;
use crate::track::TrackError;

/// What `twinstar run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The configuration file (re-read on SIGHUP).
    pub config_path: PathBuf,
    /// Where run-time files go (status snapshot, control socket, maintenance).
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
    /// Another agent runs with the same runtime directory.
    #[error(transparent)]
    Lock(#[from] lock::LockError),
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
    /// The name configured for an instance's virtual MAC interface belongs
    /// to an interface that is not one (a physical one, or another kind).
    #[error(
        "instance {instance}: interface {interface} exists and is not a virtual MAC \
         interface; name another one with `vmac: NAME`"
    )]
    VirtualMacNameTaken {
        /// Instance name.
        instance: String,
        /// The name configured.
        interface: String,
    },
    /// A heartbeat link has no address of the instance's family to send from.
    #[error("heartbeat link {interface} has no {family} address to send adverts from")]
    NoHeartbeatAddress {
        /// Interface name.
        interface: String,
        /// What is missing.
        family: &'static str,
    },
    /// An instance could not start.
    #[error("{0}")]
    InstanceStart(String),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The Accept_Mode table cannot be managed though an instance needs it.
    #[error("accept: false: {0}")]
    AcceptFilter(#[from] crate::platform::accept_filter::AcceptFilterError),
    /// The `script_user` cannot be used.
    #[error("script_user: {0}")]
    ScriptUser(TrackError),
    /// An event sink could not be opened.
    #[error(transparent)]
    Events(#[from] EventSinkError),
    /// The control socket could not be opened.
    #[error(transparent)]
    Control(#[from] ControlSocketError),
    /// The loop's timer could not be created.
    #[error("cannot create the loop's timer: {0}")]
    Timer(std::io::Error),
    /// The event loop's timer stopped working (tokio reports it only when
    /// its I/O driver is shutting down): without it no advert is sent and
    /// no Master_Down_Timer runs, so the agent stops rather than go on
    /// holding its VIPs in silence.
    #[error("the event loop's timer failed: {0}")]
    TimerFailed(std::io::Error),
    /// The loop's task ended without returning (it was cancelled).
    #[error("the agent's loop ended unexpectedly: {0}")]
    LoopEnded(String),
    /// The metrics listener could not be bound.
    #[error("metrics: cannot listen on {listen}: {source}")]
    Metrics {
        /// The configured address.
        listen: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// How often the status file is rewritten when nothing changed (counters).
const STATUS_REFRESH: Duration = Duration::from_secs(1);

/// How long a stop may take: handovers, VIP removal and stop hooks.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// What woke the loop, before the clock is read.
enum Wake {
    /// Apply this setup (the first configuration, or a reload's).
    Configure(Box<Setup>, Option<oneshot::Sender<Response>>),
    /// A reload whose configuration was rejected.
    ReloadRejected(Vec<String>, Option<oneshot::Sender<Response>>),
    /// Datagrams from the sockets, in arrival order.
    Datagrams(Vec<Datagram>),
    /// The agent's next deadline has come; `late` when the timer fired
    /// more than [`STALLED_AFTER`] after it.
    Timeout { late: bool },
    /// Any other input for the agent.
    Input(Input),
    /// A control request (reload arrives as `Configure` / `ReloadRejected`).
    Control(Request, oneshot::Sender<Response>),
    /// Time to refresh the status file.
    StatusTick,
    /// The status writer is free for a rewrite that waited for it.
    StatusReady,
    /// SIGTERM or SIGINT.
    Stop,
    /// The stop took too long.
    StopLimit,
}

/// How late the agent's timer may fire before the loop counts as having
/// been stalled: the loop's timer fires on a one-millisecond grid
/// (`loop_timer::GRAIN`), so an on-time wake-up is less than that late,
/// and only a stalled one pays for reading every socket first.
const STALLED_AFTER: Duration = Duration::from_millis(2);

/// How long after a (re)configuration the pages of code and data it
/// touched are given back (`platform::startup_pages`): by then the
/// instances have started, and what runs afterwards faults back in.
const STARTUP_PAGES_KEPT: Duration = Duration::from_secs(10);

/// Gives back the clean file pages that start-up or a reload touched, and
/// the heap's free pages (`platform::heap`).
///
/// The log line comes first: code that runs after the give-back stays
/// resident, and the logger's paths are otherwise cold.
fn give_back_startup_pages() {
    match crate::platform::startup_pages::plan() {
        Ok(release) => {
            info!(
                kib = release.file_bytes() / 1024,
                "giving back the pages start-up touched"
            );
            release.give_back();
        }
        Err(e) => debug!("could not give back start-up pages: {e}"),
    }
    crate::platform::heap::give_back_free_pages();
}

/// Runs the agent until SIGTERM or SIGINT; then resigns as Master and removes VIPs.
///
/// The loop runs as a task of its own rather than as the runtime's
/// `block_on` future: a task that a reader or the timer wakes goes on the
/// runtime's run queue and runs in the same turn, whereas a woken `block_on`
/// future costs the runtime one more `epoll_wait` (a zero-timeout poll of
/// its driver) before it is polled. At one advert per wake-up that poll was
/// a third of the agent's system calls.
pub async fn run(options: RunOptions) -> Result<(), DaemonError> {
    if !crate::platform::heap::hold_thresholds() {
        debug!("the allocator's thresholds are its own");
    }
    match tokio::spawn(run_loop(options)).await {
        Ok(result) => result,
        Err(join) => Err(DaemonError::LoopEnded(join.to_string())),
    }
}

async fn run_loop(options: RunOptions) -> Result<(), DaemonError> {
    let config = config::load_compact(&options.config_path).map_err(DaemonError::Config)?;
    std::fs::create_dir_all(&options.runtime_dir).map_err(|source| DaemonError::RuntimeDir {
        path: options.runtime_dir.clone(),
        source,
    })?;
    // Before anything else is touched: stale-VIP removal, the control socket
    // and the status file all belong to whoever holds this.
    let _lock = lock::RuntimeLock::acquire(&options.runtime_dir)?;
    if config.realtime_priority > 0 {
        match crate::platform::sched::enable_realtime(config.realtime_priority) {
            Ok(()) => info!(
                priority = config.realtime_priority,
                "real-time scheduling (SCHED_FIFO)"
            ),
            Err(e) => warn!("real-time scheduling unavailable, running as a normal process: {e}"),
        }
    }
    let refuses_traffic = config
        .instances
        .iter()
        .any(|i| crate::agent::refuses_traffic(i));
    let accept_filter = accept_filter::AcceptFilter::start(refuses_traffic).await?;
    let run_as = Arc::new(RunAs::resolve(&config.script_user).map_err(DaemonError::ScriptUser)?);
    let events = EventStream::open(&config.events)?;
    let (inputs_tx, mut inputs) = mpsc::unbounded_channel();
    let _address_watcher = address_watch::spawn(inputs_tx.clone())?;
    let mut shell = Shell::new(
        options,
        config.metrics.is_some(),
        run_as,
        events,
        accept_filter,
        inputs_tx,
    )?;
    let mut agent = Agent::new(maintenance::load(&shell.options.runtime_dir));
    if let Some(addresses) = address_watch::snapshot().await {
        agent.handle(Instant::now(), addresses);
    }
    let mut links = crate::platform::link_watch::watch_links()?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let (control, mut control_requests) =
        ControlSocket::open(&shell.options.runtime_dir, config.control.group.as_deref())?;
    let mut control = Some(control);
    shell.serve_metrics(&config).await?;
    let run_as = shell.run_as();
    shell.monitors.configure(&config, run_as);
    let setup = shell.prepare(config).await;
    if let Some(error) = setup.facts.values().find_map(|f| f.as_ref().err()) {
        return Err(DaemonError::InstanceStart(error.clone()));
    }
    let mut status_tick = tokio::time::interval(STATUS_REFRESH);
    let mut watchdog = tokio::time::interval(
        shell
            .notifier
            .watchdog_interval()
            .unwrap_or(Duration::from_secs(3600)),
    );
    // One timer, moved when the agent's next deadline moves.
    let mut timer = loop_timer::LoopTimer::new().map_err(DaemonError::Timer)?;
    let stop_limit = tokio::time::sleep(STOP_LIMIT);
    tokio::pin!(stop_limit);
    let mut stopping = false;
    let mut give_back_pages_at: Option<Instant> = None;
    let status_ready = shell.status_ready();
    let mut next = Some(Wake::Configure(Box::new(setup), None));
    loop {
        let wake = match next.take() {
            Some(wake) => wake,
            None => {
                if let Err(e) = timer.set(agent.poll_timeout()) {
                    // Not seen in practice (the arguments are always
                    // valid); the next turn tries again.
                    error!("cannot arm the loop's timer: {e}");
                }
                tokio::select! {
                    Some((request, reply)) = control_requests.recv(), if !stopping => {
                        match request {
                            Request::Reload => shell.reload(Some(reply)).await,
                            request => Wake::Control(request, reply),
                        }
                    }
                    _ = watchdog.tick() => {
                        // Fed only while every worker moves (see `progress`).
                        let hung = shell.supervisor.hung(Instant::now());
                        if hung.is_empty() {
                            shell.notifier.keep_alive();
                        } else {
                            error!("withholding the watchdog keep-alive: {}", hung.join("; "));
                        }
                        continue;
                    }
                    batch = poll_fn(|cx| shell.readers().poll_datagrams(cx)) => {
                        Wake::Datagrams(batch)
                    }
                    Some(event) = links.next() => Wake::Input(if event.removed {
                        Input::LinkRemoved {
                            ifindex: event.index,
                            name: event.name,
                        }
                    } else {
                        Input::Link {
                            ifindex: event.index,
                            name: event.name,
                            carrier: event.carrier,
                        }
                    }),
                    Some(input) = inputs.recv() => Wake::Input(input),
                    due = timer.expired(), if timer.armed().is_some() => {
                        // A failed timer stays armed and would fail again at
                        // once, turn after turn.
                        let due = due.map_err(DaemonError::TimerFailed)?;
                        let late = Instant::now().saturating_duration_since(due) > STALLED_AFTER;
                        Wake::Timeout { late }
                    }
                    _ = status_tick.tick() => Wake::StatusTick,
                    () = status_ready.notified(), if shell.status_pending() => Wake::StatusReady,
                    _ = sighup.recv(), if !stopping => shell.reload(None).await,
                    _ = sigterm.recv(), if !stopping => Wake::Stop,
                    _ = sigint.recv(), if !stopping => Wake::Stop,
                    () = &mut stop_limit, if stopping => Wake::StopLimit,
                }
            }
        };
        // The one place the daemon reads the clock: everything this turn
        // happens at `now`.
        let now = Instant::now();
        match wake {
            Wake::Configure(setup, reply) => {
                let summary = agent.configure(now, *setup);
                shell.carry_out(&mut agent, now);
                shell.reloaded(&agent, reply, Ok(summary));
                give_back_pages_at = Some(now + STARTUP_PAGES_KEPT);
            }
            Wake::ReloadRejected(errors, reply) => shell.reloaded(&agent, reply, Err(errors)),
            Wake::Datagrams(mut batch) => {
                for datagram in batch.drain(..) {
                    agent.handle(now, Input::Datagram(datagram));
                }
                shell.readers().recycle(batch);
            }
            Wake::Timeout { late } => {
                // Adverts that came before the deadline and were not yet
                // handled go first: any of them may be the one that stops
                // the timer. Otherwise the branch the select happened to
                // take decided whether a Backup deprived of CPU took over
                // from a live Master. On time, that is what epoll reported
                // with the timer (no system call for a quiet socket), and
                // what busy sockets whose pace has come hold. Late (a
                // stopped or starved process), every socket is read, paced
                // ones too: after a stop the first `epoll_wait` may return
                // EINTR with no events, so readiness cannot be trusted to
                // be known yet.
                let mut waiting = if late {
                    shell.readers().read_all_queued()
                } else {
                    poll_fn(|cx| Poll::Ready(shell.readers().ready_now(cx))).await
                };
                for datagram in waiting.drain(..) {
                    agent.handle(now, Input::Datagram(datagram));
                }
                shell.readers().recycle(waiting);
                agent.handle(now, Input::Timeout);
            }
            Wake::Input(input) => agent.handle(now, input),
            Wake::Control(request, reply) => shell.answer(&mut agent, now, request, reply).await,
            Wake::StatusTick => {
                shell.refresh(&agent, now);
                if give_back_pages_at.is_some_and(|at| at <= now) {
                    give_back_pages_at = None;
                    give_back_startup_pages();
                }
            }
            // The rewrite itself is done by `carry_out` below.
            Wake::StatusReady => {}
            Wake::Stop => {
                info!("shutting down: resigning and removing virtual IPs");
                shell.notifier.stopping();
                if let Some(control) = control.take() {
                    control.close();
                }
                stopping = true;
                stop_limit
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(now + STOP_LIMIT));
                agent.shutdown(now);
            }
            Wake::StopLimit => {
                warn!("virtual IP removal and stop hooks did not finish within {STOP_LIMIT:?}");
                break;
            }
        }
        shell.carry_out(&mut agent, now);
        // An interface the agent asked about is looked up before anything
        // else happens, as a reload's are.
        if let Some(input) = shell.next_lookup().await {
            next = Some(Wake::Input(input));
        }
        if stopping && agent.is_finished() {
            break;
        }
    }
    shell.flush_status(&agent).await;
    shell.close().await;
    Ok(())
}
