//! Gratuitous ARP: the frame a new Master sends so the LAN learns where a virtual
//! IPv4 address now lives (RFC 9568 §6.4: on becoming Master, "broadcast a gratuitous ARP request").
//!
//! The frame is built with pnet's Ethernet and ARP packet types; sending it is the
//! platform layer's job.

use std::net::Ipv4Addr;

use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};

/// Length of an Ethernet header (no VLAN tag).
const ETHERNET_HEADER_LEN: usize = 14;
/// Length of an ARP body for IPv4 over Ethernet.
const ARP_LEN: usize = 28;

/// Length of a gratuitous ARP frame: 14 bytes of Ethernet header and 28 of ARP.
/// The NIC pads it to the 60-byte Ethernet minimum on the wire.
pub const GRATUITOUS_ARP_LEN: usize = ETHERNET_HEADER_LEN + ARP_LEN;

/// The Ethernet broadcast address, the destination of a gratuitous ARP.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// Builds a gratuitous ARP in request form for `address`, sent from `mac`.
///
/// Request form (op 1, sender IP = target IP = the VIP, target MAC zero) is what
/// keepalived sends and what every ARP implementation updates its cache from
/// (RFC 5227 §3 discusses why requests are the safer choice over replies).
pub fn gratuitous_arp(mac: [u8; 6], address: Ipv4Addr) -> [u8; GRATUITOUS_ARP_LEN] {
    let mut frame = [0u8; GRATUITOUS_ARP_LEN];
    let (header, body) = frame.split_at_mut(ETHERNET_HEADER_LEN);
    // Both buffers have exactly the minimum length these views need, so `new`
    // cannot return None; the fallbacks only keep this path free of panics.
    if let Some(mut ethernet) = MutableEthernetPacket::new(header) {
        ethernet.set_destination(BROADCAST_MAC.into());
        ethernet.set_source(mac.into());
        ethernet.set_ethertype(EtherTypes::Arp);
    }
    if let Some(mut arp) = MutableArpPacket::new(body) {
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(ArpOperations::Request);
        arp.set_sender_hw_addr(mac.into());
        arp.set_sender_proto_addr(address);
        arp.set_target_hw_addr([0u8; 6].into());
        arp.set_target_proto_addr(address);
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::arp::ArpPacket;
    use pnet_packet::ethernet::EthernetPacket;
    use pnet_packet::Packet;

    const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];

    // A gratuitous ARP request for 192.0.2.50 from 02:00:5e:10:20:30, byte for byte
    // as tcpdump -xx shows it.
    #[rustfmt::skip]
    const FRAME: [u8; 42] = [
        // Ethernet: broadcast destination, source MAC, ethertype ARP
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,
        0x08, 0x06,
        // ARP: htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request)
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
        // sender MAC, sender IP 192.0.2.50
        0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, 0xc0, 0x00, 0x02, 0x32,
        // target MAC zero, target IP 192.0.2.50
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x32,
    ];

    #[test]
    fn gratuitous_arp_matches_reference_bytes() {
        assert_eq!(gratuitous_arp(MAC, Ipv4Addr::new(192, 0, 2, 50)), FRAME);
    }

    #[test]
    fn gratuitous_arp_parses_back_as_request_for_the_vip() {
        let vip = Ipv4Addr::new(192, 0, 2, 50);
        let frame = gratuitous_arp(MAC, vip);
        let ethernet = EthernetPacket::new(&frame).unwrap();
        assert!(ethernet.get_destination() == BROADCAST_MAC);
        assert!(ethernet.get_source() == MAC);
        assert_eq!(ethernet.get_ethertype(), EtherTypes::Arp);
        let arp = ArpPacket::new(ethernet.payload()).unwrap();
        assert_eq!(arp.get_hardware_type(), ArpHardwareTypes::Ethernet);
        assert_eq!(arp.get_protocol_type(), EtherTypes::Ipv4);
        assert_eq!(arp.get_operation(), ArpOperations::Request);
        assert!(arp.get_sender_hw_addr() == MAC);
        assert_eq!(arp.get_sender_proto_addr(), vip);
        assert!(arp.get_target_hw_addr() == [0u8; 6]);
        assert_eq!(arp.get_target_proto_addr(), vip);
    }
}
