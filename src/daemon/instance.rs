//! One configured instance at run time: its state machine, the socket it speaks on,
//! and its address worker. It turns the core's actions into I/O.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::addresses::AddressJob;
use crate::config::{self, Ipv4Checksum};
use crate::platform::vrrp_socket::VrrpSocket;
use crate::vrrp::{Action, Event, VirtualRouter};
use crate::wire::vrrp::{Addresses, Advertisement, ChecksumForm};

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
    advert_addresses: Addresses,
    checksum: ChecksumForm,
    jobs: mpsc::UnboundedSender<AddressJob>,
    worker: JoinHandle<()>,
}

impl InstanceRuntime {
    /// Wraps a router whose address worker is already running.
    pub fn new(
        config: config::Instance,
        router: VirtualRouter,
        ifindex: u32,
        socket: Arc<VrrpSocket>,
        jobs: mpsc::UnboundedSender<AddressJob>,
        worker: JoinHandle<()>,
    ) -> Self {
        let advert_addresses = advert_addresses(&config);
        let checksum = match config.ipv4_checksum {
            Ipv4Checksum::PseudoHeader => ChecksumForm::PseudoHeader,
            Ipv4Checksum::Rfc9568 => ChecksumForm::MessageOnly,
        };
        InstanceRuntime {
            config,
            router,
            ifindex,
            socket,
            send_errors: 0,
            advert_addresses,
            checksum,
            jobs,
            worker,
        }
    }

    /// Queues a job for the address worker (cleanup at start, for example).
    pub fn queue(&self, job: AddressJob) {
        // The worker only stops after we drop the sender, so this cannot fail
        // unless the worker panicked; then there is nobody left to tell.
        let _ = self.jobs.send(job);
    }

    /// Feeds one event to the state machine and carries out what it asks; returns
    /// whether the state changed (the status snapshot is then out of date).
    pub fn handle(&mut self, now: Instant, event: Event) -> bool {
        let before = self.router.state();
        for action in self.router.handle(now, event) {
            self.execute(action);
        }
        before != self.router.state()
    }

    fn execute(&mut self, action: Action) {
        match action {
            Action::SendAdvert { priority, interval } => self.send_advert(priority, interval),
            Action::AddAddresses => self.queue(AddressJob::Add),
            Action::RemoveAddresses => self.queue(AddressJob::Remove),
            Action::Announce => self.queue(AddressJob::Announce),
            Action::StateChanged { from, to, reason } => info!(
                instance = %self.config.name,
                from = %from,
                to = %to,
                priority = self.router.priority(),
                reason = %reason,
                "state changed"
            ),
        }
    }

    fn send_advert(&mut self, priority: u8, interval: std::time::Duration) {
        let src = self.socket.source();
        let dst = self.socket.group();
        let bytes = Advertisement::new(
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
        let result = match bytes {
            Ok(bytes) => self.socket.send(&bytes).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            self.send_errors += 1;
            if self.send_errors.is_power_of_two() {
                warn!(instance = %self.config.name, errors = self.send_errors, "sending advert failed: {e}");
            }
        }
    }

    /// Closes the address queue and waits until the worker has done every job.
    pub async fn finish(self) {
        drop(self.jobs);
        let _ = self.worker.await;
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
