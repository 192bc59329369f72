//! The receive checks of RFC 9568 §7.1 and of `peers` that decide whether a
//! datagram reaches a virtual router, and the drop counters they feed. Pure:
//! the daemon hands in what the socket read (bytes, addresses, TTL / hop
//! limit); nothing here touches a socket. A dropped datagram costs counting
//! only: no effect, and a log line at most once a minute per source.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;
use tracing::warn;

use super::lan_log::{LanLog, Notice};
use super::unicast;
use super::Agent;
use crate::vrrp::Event;

use super::versions::Admission;
use crate::vrrp::{AdvertInfo, HeartbeatInfo};
use crate::wire::vrrp::{Advertisement, Packet, Version};
use crate::wire::ParseError;

/// Identifies a VRRP socket: interface index and address family. Every
/// virtual router of one interface and family shares it (told apart by VRID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketKey {
    /// Interface index.
    pub ifindex: u32,
    /// True for the IPv6 socket.
    pub ipv6: bool,
}

/// A datagram as a VRRP socket read it, before any VRRP check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The socket it came from.
    pub socket: SocketKey,
    /// IP source.
    pub source: IpAddr,
    /// IP destination.
    pub destination: IpAddr,
    /// TTL / hop limit, when the kernel reported it.
    pub hop_limit: Option<u8>,
    /// The VRRP message, or why the IP layer already refused it. Shared
    /// bytes: a reader copies each datagram into one arena it reuses, so a
    /// packet costs no allocation of its own (see `daemon::receive`).
    pub payload: Result<Bytes, DropReason>,
}

/// Why a received datagram did not reach a virtual router. Its `as_str` is the
/// stable key of the drop counters in status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The IPv4 header was malformed (the reason names the check).
    BadIpHeader(&'static str),
    /// The kernel gave no hop limit for an IPv6 packet, so §7.1 cannot be checked.
    NoHopLimit,
    /// Our own advert, looped back by the multicast group (or an advert that
    /// claims an instance's own `unicast_source`).
    OwnAdvert,
    /// TTL / hop limit other than 255: the packet was routed (RFC 9568 §7.1).
    /// Adverts addressed to us by a unicast peer are exempt (see `unicast`).
    BadTtl,
    /// The VRRP message itself failed a check of the codec.
    Malformed(ParseError),
    /// A valid advert for a VRID this host does not run on that interface.
    UnknownVrid,
    /// A valid advert for one of our virtual routers from an address that is
    /// not in its `peers`: VRRPv3 has no authentication, so this list is what
    /// keeps another host on the segment from taking the virtual IPs.
    UnknownPeer,
    /// A valid advert of a VRRP version the virtual router does not speak
    /// (its `version`; heartbeat links speak VRRPv3 only).
    VersionMismatch,
}

impl DropReason {
    /// The counter key: `own_advert`, `bad_ttl`, `bad_checksum`, …
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::BadIpHeader(reason) => reason,
            DropReason::NoHopLimit => "no_hop_limit",
            DropReason::OwnAdvert => "own_advert",
            DropReason::BadTtl => "bad_ttl",
            DropReason::Malformed(e) => e.reason(),
            DropReason::UnknownVrid => "unknown_vrid",
            DropReason::UnknownPeer => "unknown_peer",
            DropReason::VersionMismatch => "version_mismatch",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A datagram that passed every check up to the VRID lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The virtual router it is for.
    pub vrid: u8,
    /// VRRPv3 or VRRPv2: the instance's `version` decides whether it is heard.
    pub version: Version,
    /// What the state machine needs.
    pub info: AdvertInfo,
}

/// RFC 9568 §7.1, up to the VRID lookup: own adverts, TTL / hop limit 255
/// for adverts sent to the group, then the codec's checks (version, type,
/// length, checksum, family). An advert addressed to one of our addresses has
/// its TTL checked after the lookup, by its instance's rule
/// ([`unicast::hop_limit_acceptable`](super::unicast::hop_limit_acceptable)).
pub fn check(datagram: &Datagram, own_source: IpAddr) -> Result<Accepted, DropReason> {
    let payload = datagram.payload.as_ref().map_err(|reason| *reason)?;
    if datagram.source == own_source {
        return Err(DropReason::OwnAdvert);
    }
    // Anything less than 255 was routed from elsewhere.
    if datagram.destination.is_multicast() && datagram.hop_limit != Some(255) {
        return Err(DropReason::BadTtl);
    }
    let packet = Packet::new_checked(&payload[..]).map_err(DropReason::Malformed)?;
    // Checked as a parse would, the address list left unread: nothing here
    // reads it (the comparison with the configured VIPs that RFC 9568 §7.1
    // allows is not made).
    let (advert, _form) = Advertisement::check(&packet, datagram.source, datagram.destination)
        .map_err(DropReason::Malformed)?;
    Ok(Accepted {
        vrid: advert.vrid,
        version: advert.version,
        info: AdvertInfo {
            priority: advert.priority,
            interval: advert.max_adver_interval(),
            source: datagram.source,
        },
    })
}

/// Whether `peers` (an instance's list; `None`: any source) admits an advert
/// from `source`.
pub fn admits(peers: Option<&[IpAddr]>, source: IpAddr) -> Result<(), DropReason> {
    match peers {
        Some(peers) if !peers.contains(&source) => Err(DropReason::UnknownPeer),
        _ => Ok(()),
    }
}

/// Dropped datagrams by interface and reason, for status and metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DropCounters {
    /// interface name → reason → count.
    pub by_interface: BTreeMap<String, BTreeMap<&'static str, u64>>,
}

impl DropCounters {
    /// Counts one drop.
    pub fn count(&mut self, interface: &str, reason: DropReason) {
        // Allocate the interface's key only the first time it drops something.
        let reason = reason.as_str();
        if let Some(reasons) = self.by_interface.get_mut(interface) {
            *reasons.entry(reason).or_default() += 1;
        } else {
            let reasons = BTreeMap::from([(reason, 1)]);
            self.by_interface.insert(interface.to_string(), reasons);
        }
    }

    /// The counters as the status document holds them.
    pub fn to_status(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.by_interface
            .iter()
            .map(|(interface, reasons)| {
                let reasons = reasons.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect();
                (interface.clone(), reasons)
            })
            .collect()
    }
}

impl Agent {
    /// Runs the checks of RFC 9568 §7.1 and `peers` on a datagram, counts it
    /// if dropped, and hands it to its virtual router otherwise: as the
    /// advert it is on the instance's interface, as a heartbeat on one of
    /// its heartbeat links.
    pub(super) fn on_datagram(&mut self, now: Instant, datagram: Datagram) {
        let Some(socket) = self.sockets.get(&datagram.socket) else {
            return;
        };
        let own_address = socket.source;
        let found = check(&datagram, own_address).and_then(|accepted| {
            let key = (datagram.socket, accepted.vrid);
            let (index, link) = match self.by_vrid.get(&key) {
                Some(&index) => (index, None),
                None => match self.heartbeat_by_vrid.get(&key) {
                    Some(&(index, link)) => (index, Some(link)),
                    None => return Err(DropReason::UnknownVrid),
                },
            };
            let instance = &self.instances[index];
            if datagram.source == instance.advert_source() {
                return Err(DropReason::OwnAdvert);
            }
            let (destination, hop_limit) = (datagram.destination, datagram.hop_limit);
            if !unicast::hop_limit_acceptable(&instance.config, destination, hop_limit) {
                return Err(DropReason::BadTtl);
            }
            // One list for every link of the instance: it names the other
            // routers by each of their addresses.
            admits(instance.config.peers.as_deref(), datagram.source)?;
            let instance = &mut self.instances[index];
            let admission = match link {
                // Heartbeat links are twinstar's own and speak VRRPv3 only.
                Some(_) if accepted.version != Version::V3 => {
                    return Err(DropReason::VersionMismatch)
                }
                Some(_) => Admission::Process,
                None => instance.versions.admit(
                    instance.config.version,
                    accepted.version,
                    &accepted.info,
                    now,
                )?,
            };
            Ok((index, link, accepted, admission))
        });
        let (index, link, accepted) = match found {
            // The VRRPv2 twin of a VRRPv3 advert the router already had.
            Ok((.., Admission::Twin)) => return,
            Ok((index, link, accepted, Admission::Process)) => (index, link, accepted),
            Err(reason) => {
                // Counting only: the status shows it at the next refresh.
                self.drops.count(&socket.interface, reason);
                if reason == DropReason::UnknownPeer {
                    log_unknown_peer(&mut self.lan_log, now, datagram.source, &socket.interface);
                }
                return;
            }
        };
        self.log_interval_mismatch(now, index, accepted.info);
        if link.is_none() && accepted.version == Version::V3 {
            self.log_v3_only(now, index, accepted.info.source);
        }
        let event = match link {
            None => Event::AdvertReceived(accepted.info),
            Some(link) => {
                let link = &mut self.instances[index].heartbeat[link];
                link.last_heard = Some(now);
                link.adverts_received += 1;
                Event::HeartbeatReceived(HeartbeatInfo {
                    advert: accepted.info,
                    own_address,
                })
            }
        };
        let old = self.instances[index].next_deadline();
        let transitions = self.instances[index].handle(now, event, &mut self.out);
        // A transition reaches further, and `after_transitions` says so.
        self.record_deadline(index, old);
        if !transitions.is_empty() {
            self.after_transitions(index, transitions, now);
            self.settle(now);
        }
        self.note_master(index);
    }

    /// Logs an advert whose interval differs from ours, once a minute per
    /// source: the routers of a group should agree (a Backup follows the
    /// Master's interval, RFC 9568 §6.4.2). The router counts every one.
    fn log_interval_mismatch(&mut self, now: Instant, index: usize, advert: AdvertInfo) {
        let config = &self.instances[index].config;
        if advert.interval == config.advert_interval {
            return;
        }
        if let Some(held) = self
            .lan_log
            .allow(now, advert.source, Notice::IntervalMismatch)
        {
            warn!(
                instance = %config.name,
                source = %advert.source,
                "advert interval {:?} differs from ours, {:?} ({held} more since the last line)",
                advert.interval,
                config.advert_interval
            );
        }
    }
}

impl Agent {
    /// Logs, once a minute per source, a router that a `both` instance hears
    /// in VRRPv3 only (RFC 9568 §8.4.2 "MAY report"): the VRRPv2 routers of
    /// the segment cannot hear it, so it was moved to `version: 3` before
    /// the migration was done.
    fn log_v3_only(&mut self, now: Instant, index: usize, source: IpAddr) {
        let instance = &self.instances[index];
        if !instance.versions.sends_v3_only(source, now) {
            return;
        }
        if let Some(held) = self.lan_log.allow(now, source, Notice::V3Only) {
            warn!(
                instance = %instance.config.name,
                %source,
                "this router sends VRRPv3 without VRRPv2 copies: VRRPv2 routers on the \
                 segment cannot hear it; keep it at `version: both` until none is left \
                 ({held} more since the last line)"
            );
        }
    }
}

/// Logs an advert from outside `peers`, once a minute per source.
fn log_unknown_peer(log: &mut LanLog, now: Instant, source: IpAddr, interface: &str) {
    if let Some(held) = log.allow(now, source, Notice::UnknownPeer) {
        warn!(
            interface,
            %source,
            "dropped an advert from a host not in peers ({held} more since the last line)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::vrrp::{Addresses, ChecksumForm};
    use crate::wire::VRRP_GROUP_V4;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    const US: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    const KEY: SocketKey = SocketKey {
        ifindex: 2,
        ipv6: false,
    };

    fn advert_bytes() -> Vec<u8> {
        let vip = Ipv4Addr::new(192, 0, 2, 50);
        let advert = Advertisement::new(
            51,
            150,
            Duration::from_millis(100),
            Addresses::V4(vec![vip]),
        )
        .expect("valid advert");
        advert
            .to_bytes(PEER, IpAddr::V4(VRRP_GROUP_V4), ChecksumForm::PseudoHeader)
            .expect("emits")
    }

    fn datagram(source: IpAddr, hop_limit: Option<u8>, payload: Vec<u8>) -> Datagram {
        Datagram {
            socket: KEY,
            source,
            destination: IpAddr::V4(VRRP_GROUP_V4),
            hop_limit,
            payload: Ok(payload.into()),
        }
    }

    #[test]
    fn a_valid_advert_from_a_peer_is_accepted() {
        let accepted = check(&datagram(PEER, Some(255), advert_bytes()), US).unwrap();
        assert_eq!(accepted.vrid, 51);
        assert_eq!(accepted.info.priority, 150);
        assert_eq!(accepted.info.interval, Duration::from_millis(100));
        assert_eq!(accepted.info.source, PEER);
    }

    #[test]
    fn each_failed_check_names_its_reason() {
        let own = check(&datagram(US, Some(255), advert_bytes()), US);
        assert_eq!(own, Err(DropReason::OwnAdvert));
        let routed = check(&datagram(PEER, Some(64), advert_bytes()), US);
        assert_eq!(routed, Err(DropReason::BadTtl));
        let mut corrupt = advert_bytes();
        corrupt[6] ^= 0xff;
        let bad = check(&datagram(PEER, Some(255), corrupt), US);
        assert_eq!(bad, Err(DropReason::Malformed(ParseError::BadChecksum)));
        assert_eq!(bad.unwrap_err().as_str(), "bad_checksum");
        let short = check(&datagram(PEER, Some(255), vec![0x31, 51]), US);
        assert_eq!(short.unwrap_err().as_str(), "truncated");
        let mut ip_refused = datagram(PEER, Some(255), Vec::new());
        ip_refused.payload = Err(DropReason::NoHopLimit);
        assert_eq!(check(&ip_refused, US), Err(DropReason::NoHopLimit));
    }

    #[test]
    fn peers_admit_only_their_addresses_and_no_list_admits_any() {
        assert_eq!(admits(None, PEER), Ok(()));
        assert_eq!(admits(Some(&[US, PEER]), PEER), Ok(()));
        let third = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 13));
        assert_eq!(
            admits(Some(&[US, PEER]), third),
            Err(DropReason::UnknownPeer)
        );
        assert_eq!(DropReason::UnknownPeer.as_str(), "unknown_peer");
    }

    #[test]
    fn drops_are_counted_by_interface_and_reason() {
        let mut drops = DropCounters::default();
        drops.count("eth0", DropReason::BadTtl);
        drops.count("eth0", DropReason::BadTtl);
        drops.count("eth1", DropReason::UnknownVrid);
        let status = drops.to_status();
        assert_eq!(status["eth0"]["bad_ttl"], 2);
        assert_eq!(status["eth1"]["unknown_vrid"], 1);
    }
}
