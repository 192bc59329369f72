//! Unicast peers (`unicast_peers`, `unicast_source`), for networks that drop
//! multicast: where an instance's adverts go, which source they carry, which
//! TTL a received one may have, and whether the configured source is on the
//! interface at all. Pure, like the rest of the agent.

use std::collections::HashSet;
use std::net::IpAddr;

use super::KernelAddress;
use crate::config;

/// The address an instance's adverts carry as IP source: `unicast_source`
/// when set, else the interface's own (IPv4 primary, IPv6 link-local). It is
/// also the instance's primary address in the tie-break of equal priorities
/// (RFC 9568 §6.4.3), since that is the address the peers compare.
pub fn advert_source(config: &config::Instance, interface_source: IpAddr) -> IpAddr {
    config.unicast_source.unwrap_or(interface_source)
}

/// Where each advert goes: the VRRP group, or every unicast peer but this
/// host itself, so that one peer list can be shared by every router of the
/// virtual router (an advert to our own address would only loop back).
///
/// An iterator, not a list: a Master sends thousands of adverts a second.
pub fn destinations(
    config: &config::Instance,
    source: IpAddr,
) -> impl Iterator<Item = IpAddr> + '_ {
    let group = config
        .unicast_peers
        .is_empty()
        .then(|| crate::wire::vrrp_group(source));
    group.into_iter().chain(
        config
            .unicast_peers
            .iter()
            .copied()
            .filter(move |&peer| peer != source),
    )
}

/// Whether a received advert's TTL / hop limit is acceptable for `config`.
///
/// RFC 9568 §7.1 requires 255, which proves an advert sent to the group was
/// not routed; that stays the rule for every advert sent to the group. An
/// advert sent to one of our addresses by a unicast instance's listed peer is
/// accepted with any TTL, as keepalived does for `unicast_peer` (unless its
/// `min_ttl` / `max_ttl` are given): such a peer may be a routed hop away, and
/// the source list, not the TTL, is what admits it. keepalived 2.2 itself
/// sends IPv6 unicast adverts with hop limit 64 (the kernel's default).
pub fn hop_limit_acceptable(
    config: &config::Instance,
    destination: IpAddr,
    hop_limit: Option<u8>,
) -> bool {
    hop_limit == Some(255) || (!destination.is_multicast() && !config.unicast_peers.is_empty())
}

/// The host's addresses by interface, from the kernel's address
/// notifications and snapshots, so that an instance learns whether its
/// `unicast_source` is on its interface, also right after a reload. Until the
/// first snapshot nothing is known, and an unknown source counts as absent: an
/// instance never sends from an address the host does not have.
#[derive(Debug, Default, Clone)]
pub struct HostAddresses {
    /// Whether a snapshot has arrived yet.
    known: bool,
    /// (interface index, address) of every address on the host now.
    present: HashSet<(u32, IpAddr)>,
}

impl HostAddresses {
    /// Takes a full snapshot of the host's addresses. Returns whether one of
    /// the `watched` addresses appeared or went, or this is the first one.
    pub fn on_snapshot(&mut self, addresses: &[KernelAddress], watched: &HashSet<IpAddr>) -> bool {
        let present: HashSet<(u32, IpAddr)> =
            addresses.iter().map(|a| (a.ifindex, a.address)).collect();
        let changed = !self.known
            || present
                .symmetric_difference(&self.present)
                .any(|(_, address)| watched.contains(address));
        self.known = true;
        self.present = present;
        changed
    }

    /// Takes one address notification. Returns whether it changed the
    /// presence of that address: the kernel also echoes every renewal of a
    /// VIP's lifetime, which changes nothing, so the caller looks up whether
    /// the address is a watched one only when it moved.
    pub fn on_change(&mut self, address: KernelAddress, present: bool) -> bool {
        let key = (address.ifindex, address.address);
        if present {
            self.present.insert(key)
        } else {
            self.present.remove(&key)
        }
    }

    /// The Fault reason of an instance whose `unicast_source` is not on its
    /// interface (index `ifindex`), or `None` when it is or none is set.
    pub fn source_fault(&self, config: &config::Instance, ifindex: u32) -> Option<String> {
        let source = config.unicast_source?;
        if self.present.contains(&(ifindex, source)) {
            return None;
        }
        Some(if self.known {
            format!(
                "unicast_source {source} is not on {}; no advert is sent until it is",
                config.interface
            )
        } else {
            format!("unicast_source {source}: the host's addresses are not read yet")
        })
    }
}

/// The addresses whose presence decides a Fault: every instance's `unicast_source`.
pub fn watched_sources<'a>(
    instances: impl Iterator<Item = &'a config::Instance>,
) -> HashSet<IpAddr> {
    instances.filter_map(|i| i.unicast_source).collect()
}

#[cfg(test)]
mod tests;
