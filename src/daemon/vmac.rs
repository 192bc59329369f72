//! The virtual MAC interfaces of the host's instances (`vmac`, RFC 9568
//! §7.3, keepalived's `use_vmac`): made (or adopted) when an instance's
//! interface is looked up, deleted once no address worker uses them, and the
//! ARP settings they need set on the way in and restored on the way out.
//!
//! A macvlan exists for as long as its instance runs, up, whatever the
//! state; only the VIPs on it come and go with mastership, as with
//! keepalived. Its carrier follows the interface below, so it needs no
//! following of its own: re-creating the interface below takes the macvlan
//! with it, and the lookup that rebinds the instance makes it again.
//!
//! The settings, as keepalived documents for `use_vmac`:
//! - on the macvlan: `arp_ignore=1` (answer ARP only for its own addresses,
//!   the VIPs, with the virtual MAC), `accept_local=1` and `rp_filter=0` (our
//!   own adverts, sent from an address of the interface below, come back on
//!   it), `promote_secondaries=1` (removing one VIP keeps the others), and
//!   IPv6 `addr_gen_mode=1` (no EUI-64 link-local: every router's would be
//!   the same address, derived from the shared MAC; an IPv6 instance's
//!   macvlan gets the interface's own link-local instead, as the source of
//!   its adverts);
//! - on the interface below: `arp_ignore=1` and `arp_filter=1`, so that it
//!   does not answer ARP for the VIPs with its own MAC, and, beyond what
//!   keepalived sets, `arp_announce=2`: a reply sent from a VIP (the answer
//!   to a client's ping) leaves through the interface below when its route
//!   comes first, and the ARP request it needs would otherwise carry the VIP
//!   as sender with the interface's own MAC, which every neighbour that
//!   hears it takes as the VIP's new MAC. Their earlier values are put back
//!   when the last macvlan on it is deleted. After a crash they stay, which
//!   only stops the interface from answering for addresses it does not carry
//!   and from announcing them.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::DaemonError;
use crate::agent::{AddressTarget, InstanceId, VirtualMacFacts};
use crate::config::{self, AddressFamily, Config};
use crate::platform::macvlan::MacvlanLink;
use crate::platform::netlink::{LinkInfo, Netlink};
use crate::platform::sysctl::InterfaceSetting;

/// How long a stop waits for the macvlans being deleted.
const REMOVAL_LIMIT: Duration = Duration::from_secs(2);

/// The settings of the interface below a macvlan: (key, value while a
/// macvlan is on it).
const BELOW_SETTINGS: [(&str, &str); 3] = [
    ("arp_ignore", "1"),
    ("arp_filter", "1"),
    ("arp_announce", "2"),
];

/// The IPv4 settings of the macvlan itself.
const VMAC_SETTINGS: [(&str, &str); 4] = [
    ("arp_ignore", "1"),
    ("accept_local", "1"),
    ("rp_filter", "0"),
    ("promote_secondaries", "1"),
];

/// The host's virtual MAC interfaces and the settings changed for them.
/// The daemon's lookups make them; its effects say when a worker uses one.
#[derive(Default)]
pub struct VirtualMacs {
    shared: Arc<Mutex<Shared>>,
    removals: Vec<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    /// Per interface below a macvlan: what its settings were before.
    saved: HashMap<String, Vec<(InterfaceSetting, String)>>,
    /// The macvlan each live address worker puts its VIPs on.
    live: HashMap<InstanceId, InUse>,
}

/// A macvlan as one address worker uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InUse {
    name: String,
    ifindex: u32,
    below: String,
}

/// Whether `mac` is a virtual router MAC (00-00-5E-00-01-xx or -02-xx).
fn is_virtual_router_mac(mac: [u8; 6]) -> bool {
    mac[..4] == [0x00, 0x00, 0x5e, 0x00] && matches!(mac[4], 0x01 | 0x02)
}

impl VirtualMacs {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }

    /// Makes `config`'s macvlan on `below` (or adopts the one a crash or an
    /// earlier run left, when it is the same), sets its settings and those
    /// of `below`, and brings it up; for IPv6 it also gets `link_local`, the
    /// adverts' source. `None` without `vmac`.
    pub async fn ensure(
        &self,
        netlink: &Netlink,
        config: &config::Instance,
        below: &LinkInfo,
        link_local: Option<Ipv6Addr>,
    ) -> Result<Option<VirtualMacFacts>, DaemonError> {
        let link_local = match config.address_family() {
            AddressFamily::Ipv6 => link_local,
            AddressFamily::Ipv4 => None,
        };
        let Some(name) = config.vmac.as_deref() else {
            return Ok(None);
        };
        let mac = config.virtual_mac();
        let (ifindex, made) = match netlink.macvlan_by_name(name).await? {
            Some(link) if link.matches(below.index, mac) => (link.index, false),
            Some(link) if is_ours(&link) => {
                // Ours, for another VRID, family or interface: make it anew.
                netlink.delete_link(link.index, name).await?;
                (netlink.add_macvlan(name, below.index, mac).await?, true)
            }
            Some(_) => {
                return Err(DaemonError::VirtualMacNameTaken {
                    instance: config.name.clone(),
                    interface: name.to_owned(),
                })
            }
            None => {
                info!(instance = %config.name, interface = %name, parent = %below.name, "making the virtual MAC interface");
                (netlink.add_macvlan(name, below.index, mac).await?, true)
            }
        };
        let set_up = self
            .set_up(netlink, config, name, ifindex, below, link_local)
            .await;
        if let Err(e) = set_up {
            // Nothing half made is left behind: the next lookup tries anew.
            // One adopted (maybe in use, with its VIPs) stays.
            if made {
                if let Err(deleting) = netlink.delete_link(ifindex, name).await {
                    warn!("{deleting}");
                }
            }
            return Err(e);
        }
        Ok(Some(VirtualMacFacts {
            interface: name.to_owned(),
            ifindex,
            mac,
        }))
    }

    /// Sets the settings of macvlan `name` (index `ifindex`) and of `below`,
    /// brings it up and, for IPv6, gives it `link_local`.
    async fn set_up(
        &self,
        netlink: &Netlink,
        config: &config::Instance,
        name: &str,
        ifindex: u32,
        below: &LinkInfo,
        link_local: Option<Ipv6Addr>,
    ) -> Result<(), DaemonError> {
        match config.address_family() {
            AddressFamily::Ipv4 => {
                for (key, value) in VMAC_SETTINGS {
                    InterfaceSetting::ipv4(name, key).write(value)?;
                }
                self.change_below(&below.name)?;
            }
            AddressFamily::Ipv6 => {}
        }
        // No EUI-64 link-local on the macvlan, whatever the family: it would
        // be the same address on every router, and its neighbour discovery
        // would send from the virtual MAC while Backup, moving the switch's
        // entry for it away from the Master.
        let no_link_local = InterfaceSetting::ipv6(name, "addr_gen_mode").write("1");
        match (no_link_local, config.address_family()) {
            (Err(e), AddressFamily::Ipv6) => return Err(e.into()),
            // A host without IPv6 has no such setting, and no link-local.
            (Err(e), AddressFamily::Ipv4) => debug!("{e}"),
            (Ok(()), _) => {}
        }
        netlink.set_link_up(ifindex, name).await?;
        if let Some(link_local) = link_local {
            // IPv6 adverts leave from the macvlan too, and their source must
            // be an address of the sending interface: the interface's own
            // link-local (what peers know this router by) goes on it.
            netlink
                .add_address_without_prefix_route(ifindex, IpAddr::V6(link_local), 64, None)
                .await?;
        }
        Ok(())
    }

    /// Sets the ARP settings of the interface below a macvlan, saving what
    /// they were the first time.
    fn change_below(&self, below: &str) -> Result<(), DaemonError> {
        let mut shared = self.lock();
        if !shared.saved.contains_key(below) {
            let mut before = Vec::new();
            for (key, _) in BELOW_SETTINGS {
                let setting = InterfaceSetting::ipv4(below, key);
                let value = setting.read()?;
                before.push((setting, value));
            }
            shared.saved.insert(below.to_owned(), before);
        }
        for (key, value) in BELOW_SETTINGS {
            InterfaceSetting::ipv4(below, key).write(value)?;
        }
        Ok(())
    }

    /// An address worker starts (or replaces the instance's previous one)
    /// with `target`.
    pub fn started(&self, target: &AddressTarget) {
        let mut shared = self.lock();
        match target.vmac_below() {
            Some(below) => {
                shared.live.insert(
                    target.instance,
                    InUse {
                        name: target.interface().to_owned(),
                        ifindex: target.ifindex,
                        below: below.to_owned(),
                    },
                );
            }
            None => {
                shared.live.remove(&target.instance);
            }
        }
    }

    /// The instance's address worker is done: its macvlan is deleted unless
    /// another worker uses it, and the settings of the interface below are
    /// restored once no macvlan is on it.
    pub fn stopped(&mut self, instance: InstanceId, netlink: Arc<Netlink>) {
        let mut shared = self.lock();
        let Some(gone) = shared.live.remove(&instance) else {
            return;
        };
        if shared.live.values().any(|u| u.name == gone.name) {
            return;
        }
        drop(shared);
        let shared = self.shared.clone();
        self.removals.retain(|task| !task.is_finished());
        self.removals.push(tokio::spawn(async move {
            // Only the macvlan this worker used: one made again since under
            // the same name (a reload's) is another instance's.
            match netlink.macvlan_by_name(&gone.name).await {
                Ok(Some(link)) if link.index == gone.ifindex => {
                    match netlink.delete_link(link.index, &gone.name).await {
                        Ok(()) => {
                            info!(interface = %gone.name, "deleted the virtual MAC interface")
                        }
                        Err(e) => warn!("{e}"),
                    }
                }
                Ok(_) => {}
                Err(e) => warn!("{e}"),
            }
            let mut shared = lock(&shared);
            if shared.live.values().any(|u| u.below == gone.below) {
                return;
            }
            for (setting, value) in shared.saved.remove(&gone.below).unwrap_or_default() {
                if let Err(e) = setting.write(&value) {
                    warn!("restoring a setting: {e}");
                }
            }
        }));
    }

    /// The daemon stops: every macvlan still used is deleted (the VIPs on
    /// it go with it) and the settings restored, waiting a bounded time.
    pub async fn close(mut self, netlink: Arc<Netlink>) {
        let live: Vec<InstanceId> = self.lock().live.keys().copied().collect();
        for instance in live {
            self.stopped(instance, netlink.clone());
        }
        for task in self.removals {
            if tokio::time::timeout(REMOVAL_LIMIT, task).await.is_err() {
                warn!("deleting a virtual MAC interface took longer than {REMOVAL_LIMIT:?}");
            }
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic aborts the daemon (see `panic`), so a poisoned lock holds
    // nothing half-written worth refusing.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether `link` is a macvlan with a virtual router MAC: one twinstar (or
/// keepalived) made, which may be deleted and made again.
fn is_ours(link: &MacvlanLink) -> bool {
    link.is_macvlan && link.mac.is_some_and(is_virtual_router_mac)
}

/// What `remove-vips` did with one instance's virtual MAC interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMacRemovalLine {
    /// The instance.
    pub instance: String,
    /// The macvlan's name.
    pub interface: String,
    /// What happened: `Ok(true)` deleted, `Ok(false)` none there (or not a
    /// virtual MAC interface, left alone), `Err` why it could not be.
    pub outcome: Result<bool, String>,
}

impl fmt::Display for VirtualMacRemovalLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (instance, interface) = (&self.instance, &self.interface);
        match &self.outcome {
            Ok(true) => write!(
                f,
                "{instance}: deleted the virtual MAC interface {interface}"
            ),
            Ok(false) => write!(f, "{instance}: no virtual MAC interface {interface}"),
            Err(e) => write!(f, "{instance}: deleting {interface} failed: {e}"),
        }
    }
}

/// Deletes the virtual MAC interfaces of `config` that an agent left (after
/// a crash): the VIPs on them go with them. Only macvlans with a virtual
/// router MAC are touched. Must run inside a tokio runtime.
pub async fn remove_virtual_macs(
    config: &Config,
) -> Result<Vec<VirtualMacRemovalLine>, DaemonError> {
    let netlink = Netlink::connect()?;
    let mut lines = Vec::new();
    for instance in &config.instances {
        let Some(name) = instance.vmac.as_deref() else {
            continue;
        };
        let outcome = match netlink.macvlan_by_name(name).await {
            Ok(Some(link)) if is_ours(&link) => netlink
                .delete_link(link.index, name)
                .await
                .map(|()| true)
                .map_err(|e| e.to_string()),
            Ok(_) => Ok(false),
            Err(e) => Err(e.to_string()),
        };
        lines.push(VirtualMacRemovalLine {
            instance: instance.name.clone(),
            interface: name.to_owned(),
            outcome,
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_router_macs_are_recognised_for_both_families_only() {
        assert!(is_virtual_router_mac([0, 0, 0x5e, 0, 1, 51]));
        assert!(is_virtual_router_mac([0, 0, 0x5e, 0, 2, 7]));
        assert!(!is_virtual_router_mac([0, 0, 0x5e, 0, 3, 7]));
        assert!(!is_virtual_router_mac([2, 0, 0x5e, 0, 1, 7]));
    }
}
