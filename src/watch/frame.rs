//! One captured Ethernet frame, taken apart into the VRRP advertisement it
//! carries as `twinstar watch` reports it: who sent it (MAC and IP), with
//! which TTL / hop limit, and every field an operator compares between
//! routers. Unlike the agent's receive path, nothing is dropped for being
//! odd: a bad checksum or TTL is exactly what the watcher must show, so only
//! a message too broken to name its virtual router is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::wire::split_ipv4;
use crate::wire::vrrp::{ChecksumForm, Packet, IP_PROTOCOL};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPV6_HEADER_LEN: usize = 40;

/// How the advert's checksum verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Checksum {
    /// It verifies in this form.
    Valid(ChecksumForm),
    /// It verifies in no form this version knows.
    Invalid,
}

impl Checksum {
    /// The label shown in the table and the JSON lines.
    pub fn as_str(&self) -> &'static str {
        match self {
            Checksum::Valid(ChecksumForm::PseudoHeader) => "pseudo-header",
            Checksum::Valid(ChecksumForm::MessageOnly) => "message-only",
            Checksum::Invalid => "invalid",
        }
    }
}

/// A VRRP advertisement as heard on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// The Ethernet source address.
    pub source_mac: [u8; 6],
    /// The IP source: the router's primary address (IPv6: its link-local).
    pub source: IpAddr,
    /// The IP destination: the VRRP group, or a unicast peer.
    pub destination: IpAddr,
    /// IPv4 TTL or IPv6 hop limit; RFC 9568 §7.1 requires 255.
    pub ttl: u8,
    /// The VRRP version: 2 (RFC 3768) or 3 (RFC 9568).
    pub version: u8,
    /// The virtual router.
    pub vrid: u8,
    /// The sender's priority; 0 is a Master resigning.
    pub priority: u8,
    /// The advertisement interval it announces.
    pub interval: Duration,
    /// Which checksum form verified.
    pub checksum: Checksum,
    /// The virtual addresses it lists, in its order.
    pub addresses: Vec<IpAddr>,
}

/// What a frame turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Not VRRP (the capture sees every frame of the link).
    NotVrrp,
    /// A VRRP advertisement.
    Advert(Heard),
    /// VRRP, but too broken to tell its virtual router's settings.
    Malformed {
        /// The IP source.
        source: IpAddr,
        /// What is wrong, as a short label.
        reason: &'static str,
    },
}

/// Decodes one Ethernet frame (one 802.1Q tag is skipped).
pub fn decode(frame: &[u8]) -> Decoded {
    let Some(source_mac) = frame.get(6..12).and_then(|m| <[u8; 6]>::try_from(m).ok()) else {
        return Decoded::NotVrrp;
    };
    let mut offset = 12;
    let mut ethertype = word(frame, offset);
    if ethertype == Some(ETHERTYPE_VLAN) {
        offset += 4;
        ethertype = word(frame, offset);
    }
    let Some(ip) = frame.get(offset + 2..) else {
        return Decoded::NotVrrp;
    };
    let (source, destination, ttl, payload) = match ethertype {
        Some(ETHERTYPE_IPV4) => match split_ipv4(ip) {
            Ok(d) if d.protocol == IP_PROTOCOL => {
                (IpAddr::V4(d.src), IpAddr::V4(d.dst), d.ttl, d.payload)
            }
            _ => return Decoded::NotVrrp,
        },
        Some(ETHERTYPE_IPV6) => match split_ipv6(ip) {
            Some((src, dst, hop_limit, payload)) => {
                (IpAddr::V6(src), IpAddr::V6(dst), hop_limit, payload)
            }
            None => return Decoded::NotVrrp,
        },
        _ => return Decoded::NotVrrp,
    };
    let fields = match payload.first().map(|b| b >> 4) {
        Some(3) => read_v3(payload, source, destination),
        Some(2) => read_v2(payload, source, destination),
        Some(_) => Err("bad_version"),
        None => Err("truncated"),
    };
    match fields {
        Ok(f) => Decoded::Advert(Heard {
            source_mac,
            source,
            destination,
            ttl,
            version: f.version,
            vrid: f.vrid,
            priority: f.priority,
            interval: f.interval,
            checksum: f.checksum,
            addresses: f.addresses,
        }),
        Err(reason) => Decoded::Malformed { source, reason },
    }
}

/// The version-specific part of an advert.
struct Fields {
    version: u8,
    vrid: u8,
    priority: u8,
    interval: Duration,
    checksum: Checksum,
    addresses: Vec<IpAddr>,
}

/// A VRRPv3 message, through the wire codec's checked view (RFC 9568 §5.2).
fn read_v3(payload: &[u8], source: IpAddr, destination: IpAddr) -> Result<Fields, &'static str> {
    let packet = Packet::new_checked(payload).map_err(|e| e.reason())?;
    let addresses = addresses(packet.address_bytes(), source.is_ipv6())
        .filter(|a| a.len() == usize::from(packet.addr_count()))
        .ok_or("length_mismatch")?;
    let checksum = packet
        .checksum_form(source, destination)
        .map_or(Checksum::Invalid, Checksum::Valid);
    Ok(Fields {
        version: 3,
        vrid: packet.vrid(),
        priority: packet.priority(),
        interval: packet.max_adver_int(),
        checksum,
        addresses,
    })
}

/// A VRRPv2 message (RFC 3768 §5.3), through the wire codec's checked view:
/// IPv4 only, the interval in whole seconds, the addresses followed by 8
/// bytes of authentication data, the checksum over the message alone.
fn read_v2(payload: &[u8], source: IpAddr, destination: IpAddr) -> Result<Fields, &'static str> {
    if source.is_ipv6() {
        return Err("vrrpv2_over_ipv6");
    }
    let packet = Packet::new_checked(payload).map_err(|e| e.reason())?;
    let count = usize::from(packet.addr_count());
    let listed = packet
        .address_bytes()
        .get(..4 * count)
        .ok_or("length_mismatch")?;
    let addresses = addresses(listed, false).ok_or("length_mismatch")?;
    let form = ChecksumForm::MessageOnly;
    let checksum = if packet.compute_checksum(source, destination, form) == Some(packet.checksum())
    {
        Checksum::Valid(form)
    } else {
        Checksum::Invalid
    };
    Ok(Fields {
        version: 2,
        vrid: packet.vrid(),
        priority: packet.priority(),
        interval: packet.adver_int_v2(),
        checksum,
        addresses,
    })
}

/// The addresses in `bytes`, 4 or 16 bytes each; `None` when they do not
/// divide evenly.
fn addresses(bytes: &[u8], ipv6: bool) -> Option<Vec<IpAddr>> {
    let size = if ipv6 { 16 } else { 4 };
    if bytes.len() % size != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(size)
            .filter_map(|c| {
                if ipv6 {
                    <[u8; 16]>::try_from(c)
                        .ok()
                        .map(|o| IpAddr::V6(Ipv6Addr::from(o)))
                } else {
                    <[u8; 4]>::try_from(c)
                        .ok()
                        .map(|o| IpAddr::V4(Ipv4Addr::from(o)))
                }
            })
            .collect(),
    )
}

/// The fixed IPv6 header (RFC 8200 §3) of a datagram whose next header is
/// VRRP: source, destination, hop limit and payload. VRRP adverts carry no
/// extension headers, so any other next header is not VRRP.
fn split_ipv6(ip: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr, u8, &[u8])> {
    let header = ip.get(..IPV6_HEADER_LEN)?;
    if header[0] >> 4 != 6 || header[6] != IP_PROTOCOL {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let payload = ip.get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + length)?;
    let src = <[u8; 16]>::try_from(&header[8..24]).ok()?;
    let dst = <[u8; 16]>::try_from(&header[24..40]).ok()?;
    Some((Ipv6Addr::from(src), Ipv6Addr::from(dst), header[7], payload))
}

fn word(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([pair[0], pair[1]]))
}

#[cfg(test)]
mod tests;
