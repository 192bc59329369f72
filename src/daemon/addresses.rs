//! The per-instance address worker: adds and removes virtual IPs through netlink and
//! sends announcements, strictly in the order the state machine asked.
//!
//! It runs as its own task so that a slow netlink round trip or a train of
//! gratuitous ARPs never delays the protocol timers of any virtual router.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::agent::{AddressJob, AddressTarget, Input};
use crate::config::VirtualIp;
use crate::platform::announce::Announcer;
use crate::platform::netlink::Netlink;

use super::progress::Pulse;

/// The sending end of a worker's queue: (job number, job).
pub type Jobs = mpsc::UnboundedSender<(u64, AddressJob)>;

/// Starts the worker; it ends when the sender is dropped and its queue is
/// drained. After each job it reports [`Input::AddressesDone`] with the VIPs
/// it now has on the interface. `pulse` tells the watchdog while a job is
/// in hand (see `progress`).
///
/// The netlink calls inside are boxed while they run: a worker idles most of
/// its life, and an inline netlink future would make every idle worker (one
/// per instance) several kilobytes larger.
pub fn spawn(
    target: AddressTarget,
    netlink: Arc<Netlink>,
    announcer: Arc<Announcer>,
    reports: mpsc::UnboundedSender<Input>,
    pulse: Pulse,
) -> Jobs {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(target, netlink, announcer, rx, reports, pulse));
    tx
}

async fn run(
    target: AddressTarget,
    netlink: Arc<Netlink>,
    announcer: Arc<Announcer>,
    mut jobs: mpsc::UnboundedReceiver<(u64, AddressJob)>,
    reports: mpsc::UnboundedSender<Input>,
    pulse: Pulse,
) {
    let mut target = Arc::new(target);
    let mut announcing: Option<JoinHandle<()>> = None;
    // Whether we are meant to hold the VIPs (between Add and Remove).
    let mut holding = false;
    // The VIPs we added and have not removed since.
    let mut present: Vec<VirtualIp> = Vec::new();
    while let Some((seq, job)) = jobs.recv().await {
        pulse.busy();
        match job {
            AddressJob::RemoveStale => Box::pin(remove_stale(&target, &netlink)).await,
            AddressJob::Add => {
                holding = true;
                for vip in &target.vips {
                    if Box::pin(add(&target, &netlink, vip)).await && !present.contains(vip) {
                        present.push(*vip);
                    }
                }
            }
            AddressJob::Remove => {
                holding = false;
                stop_announcing(&mut announcing);
                for vip in &target.vips {
                    Box::pin(remove(&target, &netlink, vip)).await;
                    present.retain(|v| v != vip);
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
                        present.retain(|v| v != vip);
                    }
                    for vip in target.vips.iter().filter(|v| !old.contains(v)) {
                        if Box::pin(add(&target, &netlink, vip)).await && !present.contains(vip) {
                            present.push(*vip);
                        }
                    }
                    if announcing.is_some() {
                        stop_announcing(&mut announcing);
                        announcing =
                            Some(tokio::spawn(announce(target.clone(), announcer.clone())));
                    }
                } else {
                    present.retain(|v| target.vips.contains(v));
                }
            }
        }
        let done = Input::AddressesDone {
            instance: target.instance,
            seq,
            present: present.clone(),
        };
        if reports.send(done).is_err() {
            break; // The daemon is gone.
        }
        pulse.idle();
    }
    stop_announcing(&mut announcing);
}

/// Adds one VIP; true when it is on the interface now.
async fn add(target: &AddressTarget, netlink: &Netlink, vip: &VirtualIp) -> bool {
    match netlink
        .add_address(target.ifindex, vip.addr, vip.prefix_len)
        .await
    {
        Ok(()) => true,
        Err(e) => {
            warn!(instance = %target.name, "adding {vip} to {} failed: {e}", target.interface);
            false
        }
    }
}

async fn remove(target: &AddressTarget, netlink: &Netlink, vip: &VirtualIp) {
    if let Err(e) = netlink
        .remove_address(target.ifindex, vip.addr, vip.prefix_len)
        .await
    {
        warn!(instance = %target.name, "removing {vip} from {} failed: {e}", target.interface);
    }
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
            warn!(instance = %target.name, "listing addresses on {} failed: {e}", target.interface);
            return;
        }
    };
    for vip in &target.vips {
        if present.iter().any(|a| a.address == vip.addr) {
            warn!(
                instance = %target.name,
                "removing {vip} from {}: left by an earlier run while we are not Master",
                target.interface
            );
            if let Err(e) = netlink
                .remove_address(target.ifindex, vip.addr, vip.prefix_len)
                .await
            {
                warn!(instance = %target.name, "removing stale {vip} failed: {e}");
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
                debug!(instance = %target.name, "no link-local address: skipping NA for {vip}");
                continue;
            }
        };
        if let Err(e) = sent {
            warn!(instance = %target.name, "announcing {vip} on {} failed: {e}", target.interface);
        }
    }
}
