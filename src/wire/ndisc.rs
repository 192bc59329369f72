//! Unsolicited Neighbor Advertisement: the IPv6 counterpart of gratuitous ARP, sent by
//! a new Master so neighbours update their caches for a virtual IPv6 address
//! (RFC 4861 §7.2.6, RFC 9568 §6.4).
//!
//! The frame is built with pnet's Ethernet, IPv6 and NDP packet types; sending it is
//! the platform layer's job.

use std::net::Ipv6Addr;

use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{
    MutableNeighborAdvertPacket, NdpOption, NdpOptionTypes, NeighborAdvertFlags,
};
use pnet_packet::icmpv6::{self, Icmpv6Code, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::MutableIpv6Packet;

const ETHERNET_HEADER_LEN: usize = 14;
const IPV6_HEADER_LEN: usize = 40;
/// Type, code, checksum, flags and reserved (8 bytes) plus the 16-byte target.
const NA_LEN: usize = 24;
/// Target Link-Layer Address option for Ethernet: type, length (in 8-byte units), MAC.
const TARGET_LL_OPTION_LEN: usize = 8;
const ICMPV6_LEN: usize = NA_LEN + TARGET_LL_OPTION_LEN;

/// Length of an unsolicited NA frame: Ethernet, IPv6, NA and the target link-layer option.
pub const UNSOLICITED_NA_LEN: usize = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + ICMPV6_LEN;

/// All-nodes multicast address ff02::1, the destination of an unsolicited NA.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Ethernet address of ff02::1 (RFC 2464 §7: 33:33 followed by the low 32 bits).
pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01];

/// RFC 4861 §7.1.2: a receiver drops any NA whose hop limit is not 255, which proves
/// it was not forwarded by a router.
const NDP_HOP_LIMIT: u8 = 255;

/// Builds an unsolicited Neighbor Advertisement announcing that `target` is at `mac`.
///
/// `source` is the interface's link-local address, the one its IPv6 adverts come from
/// (RFC 4861 §4.4 allows any address of the interface). The Override flag is set so caches
/// replace the old Master's MAC, Solicited is clear (RFC 4861 §7.2.6), and Router is
/// `router`, which an address owner that routes should set.
pub fn unsolicited_na(mac: [u8; 6], source: Ipv6Addr, target: Ipv6Addr, router: bool) -> Vec<u8> {
    let mut frame = vec![0u8; UNSOLICITED_NA_LEN];
    let (ethernet_header, rest) = frame.split_at_mut(ETHERNET_HEADER_LEN);
    let (ip_header, icmp) = rest.split_at_mut(IPV6_HEADER_LEN);

    // Every buffer below has exactly the length its view needs, so `new` cannot return
    // None; the `if let`s only keep this path free of panics.
    if let Some(mut na) = MutableNeighborAdvertPacket::new(icmp) {
        na.set_icmpv6_type(Icmpv6Types::NeighborAdvert);
        na.set_icmpv6_code(Icmpv6Code(0));
        let router_flag = if router {
            NeighborAdvertFlags::Router
        } else {
            0
        };
        na.set_flags(router_flag | NeighborAdvertFlags::Override);
        na.set_target_addr(target);
        na.set_options(&[NdpOption {
            option_type: NdpOptionTypes::TargetLLAddr,
            length: 1,
            data: mac.to_vec(),
        }]);
    }
    if let Some(packet) = Icmpv6Packet::new(icmp) {
        // The checksum covers the IPv6 pseudo-header (RFC 4443 §2.3); the checksum
        // field is still zero here, as the computation requires.
        let checksum = icmpv6::checksum(&packet, &source, &ALL_NODES);
        icmp[2..4].copy_from_slice(&checksum.to_be_bytes());
    }
    if let Some(mut ip) = MutableIpv6Packet::new(ip_header) {
        ip.set_version(6);
        ip.set_payload_length(ICMPV6_LEN as u16);
        ip.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ip.set_hop_limit(NDP_HOP_LIMIT);
        ip.set_source(source);
        ip.set_destination(ALL_NODES);
    }
    if let Some(mut ethernet) = MutableEthernetPacket::new(ethernet_header) {
        ethernet.set_destination(ALL_NODES_MAC.into());
        ethernet.set_source(mac.into());
        ethernet.set_ethertype(EtherTypes::Ipv6);
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::ethernet::EthernetPacket;
    use pnet_packet::icmpv6::ndp::NeighborAdvertPacket;
    use pnet_packet::ipv6::Ipv6Packet;
    use pnet_packet::Packet;

    const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];

    fn source() -> Ipv6Addr {
        "fe80::5eff:fe10:2030".parse().unwrap()
    }

    fn target() -> Ipv6Addr {
        "2001:db8::50".parse().unwrap()
    }

    // An unsolicited NA for 2001:db8::50 from fe80::5eff:fe10:2030 at 02:00:5e:10:20:30
    // with O set; the checksum 0x2c95 was computed independently of pnet (one's
    // complement sum over the pseudo-header and message, see `reference_checksum`).
    #[rustfmt::skip]
    const FRAME: [u8; 86] = [
        // Ethernet: 33:33:00:00:00:01, source MAC, ethertype IPv6
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01,
        0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,
        0x86, 0xdd,
        // IPv6: version 6, payload length 32, next header 58, hop limit 255
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
        // source fe80::5eff:fe10:2030
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x5e, 0xff, 0xfe, 0x10, 0x20, 0x30,
        // destination ff02::1
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        // ICMPv6: type 136, code 0, checksum, flags R=0 S=0 O=1, reserved
        0x88, 0x00, 0x2c, 0x95, 0x20, 0x00, 0x00, 0x00,
        // target 2001:db8::50
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50,
        // option: Target Link-Layer Address, length 1, MAC
        0x02, 0x01, 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,
    ];

    /// RFC 4443 §2.3 checksum written out by hand: pseudo-header (source, destination,
    /// upper-layer length, next header) followed by the ICMPv6 message.
    fn reference_checksum(source: Ipv6Addr, destination: Ipv6Addr, message: &[u8]) -> u16 {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&source.octets());
        bytes.extend_from_slice(&destination.octets());
        bytes.extend_from_slice(&(message.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        bytes.extend_from_slice(message);
        let mut sum: u32 = bytes
            .chunks(2)
            .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn unsolicited_na_matches_reference_bytes() {
        assert_eq!(unsolicited_na(MAC, source(), target(), false), FRAME);
    }

    #[test]
    fn reference_checksum_agrees_with_the_frame() {
        let mut message = FRAME[54..].to_vec();
        message[2] = 0;
        message[3] = 0;
        assert_eq!(reference_checksum(source(), ALL_NODES, &message), 0x2c95);
    }

    #[test]
    fn unsolicited_na_parses_back_with_override_and_target_option() {
        let frame = unsolicited_na(MAC, source(), target(), false);
        let ethernet = EthernetPacket::new(&frame).unwrap();
        assert!(ethernet.get_destination() == ALL_NODES_MAC);
        assert!(ethernet.get_source() == MAC);
        assert_eq!(ethernet.get_ethertype(), EtherTypes::Ipv6);
        let ip = Ipv6Packet::new(ethernet.payload()).unwrap();
        assert_eq!(ip.get_hop_limit(), 255);
        assert_eq!(ip.get_next_header(), IpNextHeaderProtocols::Icmpv6);
        assert_eq!(ip.get_source(), source());
        assert_eq!(ip.get_destination(), ALL_NODES);
        assert_eq!(usize::from(ip.get_payload_length()), ip.payload().len());
        let na = NeighborAdvertPacket::new(ip.payload()).unwrap();
        assert_eq!(na.get_icmpv6_type(), Icmpv6Types::NeighborAdvert);
        assert_eq!(na.get_flags(), NeighborAdvertFlags::Override);
        assert_eq!(na.get_target_addr(), target());
        let options = na.get_options();
        assert_eq!(options.len(), 1);
        assert_eq!(options[0].option_type, NdpOptionTypes::TargetLLAddr);
        assert_eq!(options[0].data, MAC);
        // A correct checksum makes the sum over pseudo-header and message zero.
        assert_eq!(reference_checksum(source(), ALL_NODES, ip.payload()), 0);
    }

    #[test]
    fn router_flag_is_set_on_request_and_checksum_follows() {
        let frame = unsolicited_na(MAC, source(), target(), true);
        let icmp = &frame[54..];
        assert_eq!(
            icmp[4],
            NeighborAdvertFlags::Router | NeighborAdvertFlags::Override
        );
        assert_eq!(reference_checksum(source(), ALL_NODES, icmp), 0);
    }
}
