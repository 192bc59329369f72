//! The daemon: the tokio event loop that feeds every virtual router its events and
//! carries out its actions (mini-redis style: one owner of the state, tasks at the
//! edges, one shutdown path).
//!
//! One task owns all state machines. Socket readers, the link watcher and signals
//! feed it through channels; address changes and announcements go out to one worker
//! per instance, so nothing slow ever sits between a timer and its advert.

mod addresses;
mod instance;
mod receive;
mod status;

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

use self::addresses::{AddressJob, AddressTarget};
use self::instance::InstanceRuntime;
use self::receive::{Datagram, DropCounters, SocketKey};
use crate::config::{self, AddressFamily, ConfigErrors};
use crate::platform::announce::Announcer;
use crate::platform::netlink::{LinkEvent, Netlink};
use crate::platform::vrrp_socket::{SocketError, VrrpSocket};
use crate::platform::PlatformError;
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
}

/// Runs the agent until SIGTERM or SIGINT; then resigns as Master and removes VIPs.
pub async fn run(options: RunOptions) -> Result<(), DaemonError> {
    let config = config::load(&options.config_path).map_err(DaemonError::Config)?;
    std::fs::create_dir_all(&options.runtime_dir).map_err(|source| DaemonError::RuntimeDir {
        path: options.runtime_dir.clone(),
        source,
    })?;
    let mut daemon = Daemon::new(options)?;
    let mut links = crate::platform::netlink::watch_links()?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    for instance in config.instances {
        daemon.start_instance(instance).await?;
    }
    info!(instances = daemon.instances.len(), "twinstar running");
    daemon.write_status();
    let mut status_tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        let deadline = daemon.next_deadline();
        tokio::select! {
            Some(datagram) = daemon.datagrams_rx.recv() => daemon.on_datagram(datagram),
            Some(event) = links.next() => daemon.on_link(event),
            _ = sleep_until(deadline) => daemon.on_timers(),
            _ = status_tick.tick() => daemon.write_status(),
            _ = sighup.recv() => daemon.reload().await,
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

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

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
}

impl Daemon {
    fn new(options: RunOptions) -> Result<Self, DaemonError> {
        let (datagrams_tx, datagrams_rx) = mpsc::channel(4096);
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
        })
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
        let target = AddressTarget {
            instance: config.name.clone(),
            interface: config.interface.clone(),
            ifindex: link.index,
            mac: link.mac,
            link_local,
            vips: config.virtual_ips.clone(),
            garp: config.garp,
        };
        let (jobs, worker) = addresses::spawn(target, self.netlink.clone(), self.announcer.clone());
        let mut runtime = InstanceRuntime::new(config, router, link.index, socket, jobs, worker);
        runtime.queue(AddressJob::RemoveStale);
        let now = Instant::now();
        self.carrier.insert(link.index, link.carrier);
        if !link.carrier {
            warn!(instance = %runtime.config.name, "interface {} has no carrier", runtime.config.interface);
            runtime.handle(now, Event::FaultSet);
        }
        runtime.handle(now, Event::Startup);
        self.by_vrid
            .insert((key, runtime.config.vrid), self.instances.len());
        self.instances.push(runtime);
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

    fn next_deadline(&self) -> Option<Instant> {
        self.instances
            .iter()
            .filter_map(|i| i.router.next_deadline())
            .min()
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        for instance in &mut self.instances {
            if instance.router.next_deadline().is_some_and(|t| t <= now) {
                self.status_dirty |= instance.handle(now, Event::TimerExpired);
            }
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
                let event = Event::AdvertReceived(accepted.info);
                self.status_dirty |= self.instances[index].handle(Instant::now(), event);
            }
            Err(reason) => {
                self.drops.count(socket.interface(), reason);
                self.status_dirty = true;
            }
        }
    }

    fn on_link(&mut self, event: LinkEvent) {
        let previous = self.carrier.insert(event.index, event.carrier);
        if previous == Some(event.carrier) || previous.is_none() {
            return;
        }
        info!(interface = %event.name, carrier = event.carrier, "link changed");
        let now = Instant::now();
        let fault = if event.carrier {
            Event::FaultCleared
        } else {
            Event::FaultSet
        };
        for instance in self
            .instances
            .iter_mut()
            .filter(|i| i.ifindex == event.index)
        {
            instance.handle(now, fault);
        }
        self.status_dirty = true;
    }

    /// SIGHUP: re-read the config. Unchanged instances are not touched at all;
    /// removed ones resign; changed ones restart; a bad file changes nothing.
    async fn reload(&mut self) {
        let new = match config::load(&self.options.config_path) {
            Ok(new) => new,
            Err(errors) => {
                error!("reload rejected, keeping the running configuration:\n{errors}");
                return;
            }
        };
        let mut kept = Vec::new();
        let mut retired = Vec::new();
        for instance in std::mem::take(&mut self.instances) {
            if new.instances.contains(&instance.config) {
                kept.push(instance);
            } else {
                retired.push(instance);
            }
        }
        let now = Instant::now();
        for mut instance in retired {
            info!(instance = %instance.config.name, "reload: stopping instance");
            instance.handle(now, Event::Shutdown);
            instance.finish().await;
        }
        self.instances = kept;
        self.reindex();
        let (mut added, mut failed) = (0, 0);
        for config in new.instances {
            if self.instances.iter().any(|i| i.config == config) {
                continue;
            }
            let name = config.name.clone();
            match self.start_instance(config).await {
                Ok(()) => added += 1,
                Err(e) => {
                    failed += 1;
                    error!(instance = %name, "reload: cannot start instance: {e}");
                }
            }
        }
        info!(
            kept = self.instances.len() - added,
            started = added,
            failed,
            "configuration reloaded"
        );
        self.status_dirty = true;
    }

    fn reindex(&mut self) {
        self.by_vrid = self
            .instances
            .iter()
            .enumerate()
            .map(|(index, i)| {
                let key = SocketKey {
                    ifindex: i.ifindex,
                    ipv6: i.socket.source().is_ipv6(),
                };
                ((key, i.config.vrid), index)
            })
            .collect();
    }

    fn write_status(&mut self) {
        let snapshot = status::snapshot(self.instances.iter(), &self.drops, Instant::now());
        if let Err(e) = status::write(&self.options.runtime_dir, &snapshot) {
            warn!(
                "writing {} failed: {e}",
                status::path(&self.options.runtime_dir).display()
            );
        }
        self.status_dirty = false;
    }

    /// Resign everywhere (priority 0 from Masters), then wait for VIP removal.
    async fn shutdown(mut self) {
        let now = Instant::now();
        for instance in &mut self.instances {
            instance.handle(now, Event::Shutdown);
        }
        self.write_status();
        let finishing = self.instances.into_iter().map(InstanceRuntime::finish);
        if tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(finishing))
            .await
            .is_err()
        {
            warn!("virtual IP removal did not finish within 5 s");
        }
        for (_, (_, reader)) in self.sockets {
            reader.abort();
        }
    }
}
