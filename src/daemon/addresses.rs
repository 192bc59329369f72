//! The per-instance address worker: adds and removes virtual IPs through netlink and
//! sends announcements, strictly in the order the state machine asked.
//!
//! It runs as its own task while it has jobs, so that a slow netlink round
//! trip never delays the protocol timers of any virtual router; between
//! jobs it is only its queue and its state ([`Workers`]). The gratuitous
//! ARPs and NAs a new Master owes the LAN are sent by one task for all
//! instances ([`trains`]), which the worker starts and stops in its order.
//!
//! The VIPs of one instance may live on several interfaces: on the advert
//! interface (the target's, looked up by the agent), or on their own (a
//! dedicated heartbeat network carries the adverts, the service network the
//! VIPs). Those are looked up by name when a job needs them ([`Places`]), so
//! an interface deleted and made again is followed without restarting the
//! worker, and every job of the instance still runs in one queue, in order.

mod trains;
mod workers;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use tracing::{debug, warn};

use crate::agent::{AddressJob, AddressTarget};
use crate::config::{InterfaceName, VirtualIp};
use crate::platform::announce::Announcer;
use crate::platform::netlink::{InterfaceAddress, Netlink};

use super::progress::Pulse;

use trains::{TrainId, Trains};
pub use workers::Workers;

/// What one instance's worker keeps from one job to the next.
struct State {
    target: Arc<AddressTarget>,
    /// Whether we are meant to hold the VIPs (between Add and Remove).
    holding: bool,
    /// The VIPs we added and have not removed since.
    present: Vec<VirtualIp>,
    /// The announcement train, while one may be running.
    announcing: Option<TrainId>,
    /// Tells the watchdog while a job is in hand (see `progress`).
    pulse: Pulse,
}

impl State {
    fn new(target: Arc<AddressTarget>, pulse: Pulse) -> Self {
        State {
            target,
            holding: false,
            present: Vec::new(),
            announcing: None,
            pulse,
        }
    }

    /// Stops the announcement train, if one is running.
    fn stop_announcing(&mut self, trains: &Trains) {
        if let Some(train) = self.announcing.take() {
            trains.stop(train);
        }
    }

    /// Forgets a train that has sent all its rounds.
    fn forget_finished_announcing(&mut self, trains: &Trains) {
        if self
            .announcing
            .is_some_and(|train| !trains.is_running(train))
        {
            self.announcing = None;
        }
    }

    /// Starts a new announcement train for the current target.
    fn start_announcing(&mut self, trains: &Trains) {
        self.stop_announcing(trains);
        self.announcing = Some(trains.start(self.target.clone()));
    }

    /// Carries out one job.
    ///
    /// The netlink calls inside are boxed while they run, so that this
    /// future (and the task that awaits it) stays small.
    async fn run(&mut self, job: AddressJob, netlink: &Netlink, trains: &Trains) {
        let target = self.target.clone();
        match job {
            AddressJob::RemoveStale => Box::pin(remove_stale(&target, netlink)).await,
            AddressJob::Add => {
                self.holding = true;
                Box::pin(add_all(&target, netlink, target.vips(), &mut self.present)).await;
            }
            AddressJob::Refresh if self.holding => {
                Box::pin(add_all(&target, netlink, target.vips(), &mut self.present)).await;
            }
            AddressJob::Refresh => {}
            AddressJob::Restore(vips) => {
                Box::pin(add_all(&target, netlink, &vips, &mut self.present)).await;
            }
            AddressJob::Remove => {
                self.holding = false;
                self.stop_announcing(trains);
                Box::pin(remove_all(
                    &target,
                    netlink,
                    target.vips(),
                    &mut self.present,
                ))
                .await;
            }
            AddressJob::Evict(vips) => {
                Box::pin(remove_all(&target, netlink, &vips, &mut self.present)).await;
            }
            AddressJob::Verify => {
                if let Some(found) = Box::pin(verify(&target, netlink)).await {
                    self.present = found;
                }
            }
            AddressJob::Announce => self.start_announcing(trains),
            AddressJob::Reconfigure(config) => {
                let lifetime = config.address_lifetime();
                self.target = Arc::new(AddressTarget {
                    config,
                    ..(*target).clone()
                });
                let (old, target) = (target, self.target.clone());
                if self.holding {
                    // Only the difference: the VIPs kept are never removed
                    // (a new lifetime is given to them in place). A VIP
                    // moved to another interface is a different VIP: it
                    // leaves the old interface and is added on the new one.
                    let gone: Vec<VirtualIp> = old
                        .vips()
                        .iter()
                        .filter(|v| !target.vips().contains(v))
                        .copied()
                        .collect();
                    Box::pin(remove_all(&target, netlink, &gone, &mut self.present)).await;
                    let added: Vec<VirtualIp> = if lifetime == old.lifetime() {
                        target
                            .vips()
                            .iter()
                            .filter(|v| !old.vips().contains(v))
                            .copied()
                            .collect()
                    } else {
                        target.vips().to_vec()
                    };
                    Box::pin(add_all(&target, netlink, &added, &mut self.present)).await;
                    if self.announcing.is_some() {
                        self.start_announcing(trains);
                    }
                } else {
                    self.present.retain(|v| target.vips().contains(v));
                }
            }
        }
    }
}

/// Where one VIP is put: the interface it lives on, as found now.
#[derive(Debug, Clone)]
struct Place {
    /// Interface name, for logs.
    interface: String,
    /// Interface index.
    ifindex: u32,
    /// Interface MAC: the link-layer address the announcements claim.
    mac: [u8; 6],
    /// IPv6 link-local address, the source of Neighbor Advertisements.
    link_local: Option<Ipv6Addr>,
}

/// The interfaces of one job's VIPs, each looked up at most once per job:
/// the advert interface from the target, any other by name through netlink.
struct Places<'a> {
    target: &'a AddressTarget,
    netlink: &'a Netlink,
    found: HashMap<InterfaceName, Option<Place>>,
}

impl<'a> Places<'a> {
    fn new(target: &'a AddressTarget, netlink: &'a Netlink) -> Self {
        Places {
            target,
            netlink,
            found: HashMap::new(),
        }
    }

    /// Where `vip` lives now; `None` (logged) when its interface cannot be
    /// found, for example while it is deleted and not yet made again.
    async fn of(&mut self, vip: &VirtualIp) -> Option<Place> {
        let Some(name) = vip.interface else {
            return Some(Place {
                interface: self.target.interface().to_owned(),
                ifindex: self.target.ifindex,
                mac: self.target.mac,
                link_local: self.target.link_local,
            });
        };
        if let Some(found) = self.found.get(&name) {
            return found.clone();
        }
        let found = match self.look_up(name.as_str()).await {
            Ok(place) => Some(place),
            Err(e) => {
                warn!(instance = %self.target.name(), "looking up {name} for {vip} failed: {e}");
                None
            }
        };
        self.found.insert(name, found.clone());
        found
    }

    async fn look_up(&self, name: &str) -> Result<Place, crate::platform::PlatformError> {
        let link = self.netlink.link_by_name(name).await?;
        // Only Neighbor Advertisements need the link-local source.
        let link_local = match self.target.vips().first().map(|v| v.addr) {
            Some(IpAddr::V6(_)) => self.netlink.link_local_ipv6(link.index).await?,
            _ => None,
        };
        Ok(Place {
            interface: name.to_owned(),
            ifindex: link.index,
            mac: link.mac,
            link_local,
        })
    }
}

/// Adds (or renews the lifetime of) `vips`, noting those now on their interface.
async fn add_all(
    target: &AddressTarget,
    netlink: &Netlink,
    vips: &[VirtualIp],
    present: &mut Vec<VirtualIp>,
) {
    let mut places = Places::new(target, netlink);
    for vip in vips {
        let Some(place) = places.of(vip).await else {
            continue;
        };
        if add(target, netlink, &place, vip).await && !present.contains(vip) {
            // Room for this one only: the list lives as long as the VIPs
            // are held, and most instances hold one VIP, where a growing
            // vector would keep room for four.
            present.reserve_exact(1);
            present.push(*vip);
        }
    }
}

/// Removes `vips` from their interfaces, noting them gone. A VIP whose
/// interface no longer exists went with it.
async fn remove_all(
    target: &AddressTarget,
    netlink: &Netlink,
    vips: &[VirtualIp],
    present: &mut Vec<VirtualIp>,
) {
    let mut places = Places::new(target, netlink);
    for vip in vips {
        if let Some(place) = places.of(vip).await {
            remove(target, netlink, &place, vip).await;
        }
        present.retain(|v| v != vip);
    }
}

/// A VIP, where it lives, and the addresses there (`None`: unreadable).
type PlacedVip = (VirtualIp, Place, Option<Vec<InterfaceAddress>>);

/// Each VIP of the target with its interface and the addresses on it; a VIP
/// whose interface is missing is left out, one whose addresses could not be
/// read (logged) comes with `None`.
async fn addresses_by_place(target: &AddressTarget, netlink: &Netlink) -> Vec<PlacedVip> {
    let mut places = Places::new(target, netlink);
    let mut listed: HashMap<u32, Option<Vec<InterfaceAddress>>> = HashMap::new();
    let mut found = Vec::with_capacity(target.vips().len());
    for vip in target.vips() {
        let Some(place) = places.of(vip).await else {
            continue;
        };
        if let Entry::Vacant(slot) = listed.entry(place.ifindex) {
            let on = match netlink.addresses(place.ifindex).await {
                Ok(on) => Some(on),
                Err(e) => {
                    warn!(instance = %target.name(), "listing addresses on {} failed: {e}", place.interface);
                    None
                }
            };
            slot.insert(on);
        }
        let on = listed.get(&place.ifindex).cloned().flatten();
        found.push((*vip, place, on));
    }
    found
}

/// Which of the target's VIPs the kernel has on their interfaces now; `None`
/// when an interface that exists could not be read. A VIP whose interface
/// is missing is not present.
async fn verify(target: &AddressTarget, netlink: &Netlink) -> Option<Vec<VirtualIp>> {
    let mut present = Vec::new();
    for (vip, _, on) in addresses_by_place(target, netlink).await {
        let on = on?;
        if on
            .iter()
            .any(|a| a.address == vip.addr && a.prefix_len == vip.prefix_len)
        {
            present.push(vip);
        }
    }
    present.shrink_to_fit();
    Some(present)
}

/// Adds one VIP with the target's lifetime, or renews it; true when it is
/// on the interface now.
async fn add(target: &AddressTarget, netlink: &Netlink, place: &Place, vip: &VirtualIp) -> bool {
    // On a virtual MAC interface the subnet keeps its one route, through
    // the interface below (see `Netlink::add_address_without_prefix_route`).
    let on_vmac = target.vmac_below().is_some() && place.ifindex == target.ifindex;
    let added = if on_vmac {
        netlink
            .add_address_without_prefix_route(
                place.ifindex,
                vip.addr,
                vip.prefix_len,
                target.lifetime(),
            )
            .await
    } else {
        netlink
            .add_address(place.ifindex, vip.addr, vip.prefix_len, target.lifetime())
            .await
    };
    match added {
        Ok(()) => true,
        Err(e) => {
            warn!(instance = %target.name(), "adding {vip} to {} failed: {e}", place.interface);
            false
        }
    }
}

async fn remove(target: &AddressTarget, netlink: &Netlink, place: &Place, vip: &VirtualIp) {
    if let Err(e) = netlink
        .remove_address(place.ifindex, vip.addr, vip.prefix_len)
        .await
    {
        warn!(instance = %target.name(), "removing {vip} from {} failed: {e}", place.interface);
    }
}

/// Removes VIPs of ours that are on their interface although we hold nothing yet.
async fn remove_stale(target: &AddressTarget, netlink: &Netlink) {
    for (vip, place, on) in addresses_by_place(target, netlink).await {
        let Some(on) = on else {
            continue;
        };
        if on.iter().any(|a| a.address == vip.addr) {
            warn!(
                instance = %target.name(),
                "removing {vip} from {}: left by an earlier run while we are not Master",
                place.interface
            );
            if let Err(e) = netlink
                .remove_address(place.ifindex, vip.addr, vip.prefix_len)
                .await
            {
                warn!(instance = %target.name(), "removing stale {vip} failed: {e}");
            }
        }
    }
}

/// One round of a train (`trains`): every VIP announced on the interface
/// it lives on, claiming that interface's MAC (RFC 9568 §6.4.2: the
/// neighbours of that link are the ones that must learn where the address
/// went). Each frame goes only while `running` says the train still runs:
/// looking up an interface may wait, and the train may be stopped meanwhile.
async fn announce_once(
    target: &AddressTarget,
    netlink: &Netlink,
    announcer: &Announcer,
    running: impl Fn() -> bool,
) {
    let mut places = Places::new(target, netlink);
    for vip in target.vips() {
        let Some(place) = places.of(vip).await else {
            continue;
        };
        if !running() {
            return;
        }
        let sent = match (vip.addr, place.link_local) {
            (IpAddr::V4(addr), _) => announcer.send_garp(place.ifindex, place.mac, addr),
            (IpAddr::V6(addr), Some(source)) => {
                announcer.send_unsolicited_na(place.ifindex, place.mac, source, addr, false)
            }
            (IpAddr::V6(_), None) => {
                debug!(instance = %target.name(), "no link-local address on {}: skipping NA for {vip}", place.interface);
                continue;
            }
        };
        if let Err(e) = sent {
            warn!(instance = %target.name(), "announcing {vip} on {} failed: {e}", place.interface);
        }
    }
}
