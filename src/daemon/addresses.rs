//! The per-instance address worker: adds and removes virtual IPs through netlink and
//! sends announcements, strictly in the order the state machine asked.
//!
//! It runs as its own task so that a slow netlink round trip or a train of
//! gratuitous ARPs never delays the protocol timers of any virtual router.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::config::{Garp, VirtualIp};
use crate::platform::announce::Announcer;
use crate::platform::netlink::Netlink;

/// A job for the address worker, queued in the order the actions came out.
#[derive(Debug)]
pub enum AddressJob {
    /// Remove any of our VIPs left on the interface (a crashed predecessor's).
    RemoveStale,
    /// Add the VIPs.
    Add,
    /// Remove the VIPs (and stop announcing).
    Remove,
    /// Announce the VIPs: `garp.count` times, then every `garp.refresh` if set.
    Announce,
    /// Signal that every job queued before this one is done (hooks wait on it).
    Done(oneshot::Sender<()>),
    /// New VIPs or announcement settings from a reload: while holding, add and
    /// remove only the difference.
    Reconfigure {
        /// The new VIP list.
        vips: Vec<VirtualIp>,
        /// The new announcement settings.
        garp: Garp,
    },
}

/// Where and what the worker manages.
#[derive(Clone)]
pub struct AddressTarget {
    /// Instance name, for logs.
    pub instance: String,
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
    /// The VIPs the worker has added and not removed since.
    pub present: Present,
}

/// Starts the worker; it ends when the sender is dropped and its queue is drained.
///
/// The netlink calls inside are boxed while they run: a worker idles most of
/// its life, and an inline netlink future would make every idle worker (one
/// per instance) several kilobytes larger.
pub fn spawn(
    target: AddressTarget,
    netlink: Arc<Netlink>,
    announcer: Arc<Announcer>,
) -> (mpsc::UnboundedSender<AddressJob>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = tokio::spawn(run(target, netlink, announcer, rx));
    (tx, handle)
}

async fn run(
    target: AddressTarget,
    netlink: Arc<Netlink>,
    announcer: Arc<Announcer>,
    mut jobs: mpsc::UnboundedReceiver<AddressJob>,
) {
    let mut target = Arc::new(target);
    let mut announcing: Option<JoinHandle<()>> = None;
    // Whether we are meant to hold the VIPs (between Add and Remove).
    let mut holding = false;
    while let Some(job) = jobs.recv().await {
        match job {
            AddressJob::RemoveStale => Box::pin(remove_stale(&target, &netlink)).await,
            AddressJob::Add => {
                holding = true;
                for vip in &target.vips {
                    Box::pin(add(&target, &netlink, vip)).await;
                }
            }
            AddressJob::Remove => {
                holding = false;
                stop_announcing(&mut announcing);
                for vip in &target.vips {
                    Box::pin(remove(&target, &netlink, vip)).await;
                }
            }
            AddressJob::Announce => {
                stop_announcing(&mut announcing);
                announcing = Some(tokio::spawn(announce(target.clone(), announcer.clone())));
            }
            AddressJob::Reconfigure { vips, garp } => {
                let old = target.vips.clone();
                let mut next = (*target).clone();
                next.vips = vips;
                next.garp = garp;
                target = Arc::new(next);
                if holding {
                    // Only the difference: the VIPs kept are never touched.
                    for vip in old.iter().filter(|v| !target.vips.contains(v)) {
                        Box::pin(remove(&target, &netlink, vip)).await;
                    }
                    for vip in target.vips.iter().filter(|v| !old.contains(v)) {
                        Box::pin(add(&target, &netlink, vip)).await;
                    }
                    if announcing.is_some() {
                        stop_announcing(&mut announcing);
                        announcing =
                            Some(tokio::spawn(announce(target.clone(), announcer.clone())));
                    }
                } else {
                    let mut present = lock(&target.present);
                    present.retain(|v| target.vips.contains(v));
                }
            }
            AddressJob::Done(done) => {
                let _ = done.send(());
            }
        }
    }
    stop_announcing(&mut announcing);
}

/// The VIPs as applied by the worker (shared with the status snapshot).
pub type Present = Arc<Mutex<Vec<VirtualIp>>>;

fn lock(present: &Present) -> std::sync::MutexGuard<'_, Vec<VirtualIp>> {
    // A panic while holding this lock cannot leave the list inconsistent.
    present
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn add(target: &AddressTarget, netlink: &Netlink, vip: &VirtualIp) {
    match netlink
        .add_address(target.ifindex, vip.addr, vip.prefix_len)
        .await
    {
        Ok(()) => {
            let mut present = lock(&target.present);
            if !present.contains(vip) {
                present.push(*vip);
            }
        }
        Err(e) => {
            warn!(instance = %target.instance, "adding {vip} to {} failed: {e}", target.interface)
        }
    }
}

async fn remove(target: &AddressTarget, netlink: &Netlink, vip: &VirtualIp) {
    if let Err(e) = netlink
        .remove_address(target.ifindex, vip.addr, vip.prefix_len)
        .await
    {
        warn!(instance = %target.instance, "removing {vip} from {} failed: {e}", target.interface);
    }
    lock(&target.present).retain(|v| v != vip);
}

/// Stops the announcement train, if one is running.
fn stop_announcing(announcing: &mut Option<JoinHandle<()>>) {
    if let Some(task) = announcing.take() {
        task.abort();
    }
}

/// Removes VIPs of ours that are on the interface although we hold nothing yet.
async fn remove_stale(target: &AddressTarget, netlink: &Netlink) {
    let present = match netlink.addresses(target.ifindex).await {
        Ok(present) => present,
        Err(e) => {
            warn!(instance = %target.instance, "listing addresses on {} failed: {e}", target.interface);
            return;
        }
    };
    for vip in &target.vips {
        if present.iter().any(|a| a.address == vip.addr) {
            warn!(
                instance = %target.instance,
                "removing {vip} from {}: left by an earlier run while we are not Master",
                target.interface
            );
            if let Err(e) = netlink
                .remove_address(target.ifindex, vip.addr, vip.prefix_len)
                .await
            {
                warn!(instance = %target.instance, "removing stale {vip} failed: {e}");
            }
        }
    }
}

/// Sends `garp.count` announcement rounds `garp.interval` apart, then refreshes.
async fn announce(target: Arc<AddressTarget>, announcer: Arc<Announcer>) {
    for round in 0..target.garp.count {
        if round > 0 {
            tokio::time::sleep(target.garp.interval).await;
        }
        announce_once(&target, &announcer);
    }
    if let Some(every) = target.garp.refresh {
        loop {
            tokio::time::sleep(every).await;
            announce_once(&target, &announcer);
        }
    }
}

fn announce_once(target: &AddressTarget, announcer: &Announcer) {
    for vip in &target.vips {
        let sent = match (vip.addr, target.link_local) {
            (IpAddr::V4(addr), _) => announcer.send_garp(target.ifindex, target.mac, addr),
            (IpAddr::V6(addr), Some(source)) => {
                announcer.send_unsolicited_na(target.ifindex, target.mac, source, addr, false)
            }
            (IpAddr::V6(_), None) => {
                debug!(instance = %target.instance, "no link-local address: skipping NA for {vip}");
                continue;
            }
        };
        if let Err(e) = sent {
            warn!(instance = %target.instance, "announcing {vip} on {} failed: {e}", target.interface);
        }
    }
}
