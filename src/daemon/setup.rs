//! Looking up what the agent needs about the host before it (re)configures:
//! each instance's interface (index, MAC, addresses, carrier), its VRRP socket
//! (opened on first use, with its reader), and the links that
//! `interface` checks watch. The same lookup serves an interface that was
//! re-created while running ([`interface_facts`]). An instance with a
//! virtual MAC gets its macvlan made here too, before its facts are reported.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::receive;
use super::vmac::VirtualMacs;
use super::DaemonError;
use crate::agent::{InstanceFacts, LinkFacts, Setup, SocketKey};
use crate::config::{self, AddressFamily, CheckKind, Config};
use crate::platform::netlink::Netlink;
use crate::platform::vrrp_socket::VrrpSocket;

/// Every open VRRP socket, with its reader.
#[derive(Default)]
pub struct Sockets {
    open: HashMap<SocketKey, Arc<VrrpSocket>>,
    /// Send-only sockets (on virtual MAC interfaces): no reader.
    senders: HashMap<SocketKey, Arc<VrrpSocket>>,
    /// The readers of `open`'s sockets, which the event loop polls.
    pub readers: receive::Readers,
}

impl Sockets {
    /// The socket for `key`, opened (with its reader) on first use.
    pub fn open(
        &mut self,
        key: SocketKey,
        interface: &str,
        source: IpAddr,
    ) -> Result<Arc<VrrpSocket>, DaemonError> {
        if let Some(socket) = self.open.get(&key) {
            return Ok(socket.clone());
        }
        let socket = Arc::new(VrrpSocket::open(interface, key.ifindex, source)?);
        self.readers.add(key, socket.reader()?);
        self.open.insert(key, socket.clone());
        Ok(socket)
    }

    /// The send-only socket for `key` on a virtual MAC interface, opened
    /// on first use.
    pub fn open_sender(
        &mut self,
        key: SocketKey,
        interface: &str,
        source: IpAddr,
    ) -> Result<(), DaemonError> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.senders.entry(key) {
            let socket = VrrpSocket::open_sender(interface, key.ifindex, source)?;
            slot.insert(Arc::new(socket));
        }
        Ok(())
    }

    /// The socket for `key`, if open.
    pub fn get(&self, key: &SocketKey) -> Option<&Arc<VrrpSocket>> {
        self.open.get(key).or_else(|| self.senders.get(key))
    }

    /// Closes the socket for `key` and stops reading it (its interface is
    /// gone); nothing happens when it is not open.
    pub fn close_one(&mut self, key: &SocketKey) {
        self.senders.remove(key);
        self.readers.remove(key);
        self.open.remove(key);
    }

    /// Closes every socket.
    pub fn close(&mut self) {
        self.readers.clear();
        self.open.clear();
        self.senders.clear();
    }
}

/// Looks up every instance's interface and socket, and every watched link:
/// those of `interface` checks and those that carry virtual IPs but not
/// adverts (their carrier is part of their instance's health).
pub async fn prepare(
    config: Config,
    netlink: &Netlink,
    sockets: &mut Sockets,
    vmacs: &VirtualMacs,
) -> Setup {
    let facts = facts_of(
        config.instances.iter().map(|i| &**i),
        netlink,
        sockets,
        vmacs,
    )
    .await;
    let checked = config.checks.iter().filter_map(|check| match &check.kind {
        CheckKind::Interface(ifname) => Some(ifname.as_str()),
        _ => None,
    });
    let vip_only = config
        .instances
        .iter()
        .flat_map(|i| i.vip_only_interfaces());
    let mut links = HashMap::new();
    for ifname in checked.chain(vip_only) {
        if links.contains_key(ifname) {
            continue;
        }
        let up = match netlink.link_by_name(ifname).await {
            Ok(link) => link.up && link.carrier,
            Err(_) => false,
        };
        links.insert(ifname.to_owned(), up);
    }
    Setup {
        config,
        facts,
        links,
    }
}

/// Looks up the facts of every instance on `interface` (re-created while
/// running), as at start.
pub async fn interface_facts(
    config: &Config,
    interface: &str,
    netlink: &Netlink,
    sockets: &mut Sockets,
    vmacs: &VirtualMacs,
) -> HashMap<String, Result<InstanceFacts, String>> {
    let on_interface = config
        .instances
        .iter()
        .map(|i| &**i)
        .filter(|i| i.interface == interface);
    facts_of(on_interface, netlink, sockets, vmacs).await
}

async fn facts_of(
    instances: impl Iterator<Item = &config::Instance>,
    netlink: &Netlink,
    sockets: &mut Sockets,
    vmacs: &VirtualMacs,
) -> HashMap<String, Result<InstanceFacts, String>> {
    let mut facts = HashMap::new();
    for instance in instances {
        let found = instance_facts(instance, netlink, sockets, vmacs)
            .await
            .map_err(|e| e.to_string());
        facts.insert(instance.name.clone(), found);
    }
    facts
}

async fn instance_facts(
    config: &config::Instance,
    netlink: &Netlink,
    sockets: &mut Sockets,
    vmacs: &VirtualMacs,
) -> Result<InstanceFacts, DaemonError> {
    let link = netlink.link_by_name(&config.interface).await?;
    let link_local = netlink.link_local_ipv6(link.index).await?;
    let source = match config.address_family() {
        AddressFamily::Ipv4 => netlink.primary_ipv4(link.index).await?.map(IpAddr::V4),
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
    let socket = sockets.open(key, &config.interface, source)?;
    let vmac = vmacs.ensure(netlink, config, &link, link_local).await?;
    let facts = InstanceFacts {
        ifindex: link.index,
        mac: link.mac,
        link_local,
        source: socket.source(),
        carrier: link.carrier,
        vmac: vmac.map(Box::new),
    };
    if let Some(vmac) = &facts.vmac {
        let send = facts.send_socket();
        if send != key {
            sockets.open_sender(send, &vmac.interface, facts.source)?;
        }
    }
    Ok(facts)
}

/// Looks up a heartbeat link (its index, carrier, and our address of the
/// family on it) and opens its VRRP socket, as for an instance's interface.
pub async fn heartbeat_facts(
    interface: &str,
    ipv6: bool,
    netlink: &Netlink,
    sockets: &mut Sockets,
) -> Result<LinkFacts, DaemonError> {
    let link = netlink.link_by_name(interface).await?;
    let source = if ipv6 {
        netlink.link_local_ipv6(link.index).await?.map(IpAddr::V6)
    } else {
        netlink.primary_ipv4(link.index).await?.map(IpAddr::V4)
    };
    let source = source.ok_or_else(|| DaemonError::NoHeartbeatAddress {
        interface: interface.to_owned(),
        family: if ipv6 { "IPv6 link-local" } else { "IPv4" },
    })?;
    let key = SocketKey {
        ifindex: link.index,
        ipv6,
    };
    let socket = sockets.open(key, interface, source)?;
    Ok(LinkFacts {
        ifindex: link.index,
        source: socket.source(),
        carrier: link.carrier,
    })
}
