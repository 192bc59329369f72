//! Frames made of the keepalived captures in tests/fixtures behind an
//! Ethernet header, as the watcher's AF_PACKET socket delivers them.

use super::*;

const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a];

/// `packet` (a whole IP packet) in an Ethernet frame from [`MAC`].
fn frame(packet: &[u8], ethertype: u16) -> Vec<u8> {
    let mut frame = vec![0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];
    frame.extend(MAC);
    frame.extend(ethertype.to_be_bytes());
    frame.extend(packet);
    frame
}

fn advert(decoded: Decoded) -> Heard {
    match decoded {
        Decoded::Advert(heard) => heard,
        other => panic!("not an advert: {other:?}"),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

#[test]
fn a_keepalived_vrrpv3_ipv4_advert_is_read_field_by_field() {
    let bytes = include_bytes!("../../../tests/fixtures/keepalived_v4.bin");
    let heard = advert(decode(&frame(bytes, ETHERTYPE_IPV4)));
    assert_eq!(heard.source_mac, MAC);
    assert_eq!(heard.source, ip("192.0.2.10"));
    assert_eq!(heard.destination, ip("224.0.0.18"));
    assert_eq!(heard.ttl, 255);
    assert_eq!(heard.version, 3);
    assert_eq!(heard.vrid, 51);
    assert_eq!(heard.priority, 150);
    assert_eq!(heard.interval, Duration::from_secs(1));
    assert_eq!(heard.checksum, Checksum::Valid(ChecksumForm::PseudoHeader));
    assert_eq!(heard.addresses, vec![ip("192.0.2.50"), ip("192.0.2.51")]);
}

#[test]
fn a_keepalived_vrrpv3_ipv6_advert_is_read_with_its_hop_limit() {
    let bytes = include_bytes!("../../../tests/fixtures/keepalived_v6.bin");
    let heard = advert(decode(&frame(bytes, ETHERTYPE_IPV6)));
    assert_eq!(heard.source, ip("fe80::441d:b6ff:fe3b:a91b"));
    assert_eq!(heard.ttl, 255);
    assert_eq!((heard.version, heard.vrid, heard.priority), (3, 52, 100));
    assert_eq!(heard.interval, Duration::from_millis(500));
    assert_eq!(heard.checksum, Checksum::Valid(ChecksumForm::PseudoHeader));
    assert_eq!(heard.addresses, vec![ip("2001:db8::50")]);
}

#[test]
fn a_keepalived_vrrpv2_advert_is_read_from_its_raw_bytes() {
    let bytes = include_bytes!("../../../tests/fixtures/keepalived_vrrpv2.bin");
    let heard = advert(decode(&frame(bytes, ETHERTYPE_IPV4)));
    assert_eq!((heard.version, heard.vrid, heard.priority), (2, 53, 120));
    assert_eq!(heard.interval, Duration::from_secs(1));
    assert_eq!(heard.checksum, Checksum::Valid(ChecksumForm::MessageOnly));
    assert_eq!(heard.addresses, vec![ip("192.0.2.53")]);
}

#[test]
fn a_bad_checksum_and_a_low_ttl_are_reported_not_dropped() {
    let mut bytes = include_bytes!("../../../tests/fixtures/keepalived_v4.bin").to_vec();
    bytes[8] = 64; // TTL (the kernel checks the IP header checksum, not us)
    bytes[26] ^= 0xff; // VRRP checksum
    let heard = advert(decode(&frame(&bytes, ETHERTYPE_IPV4)));
    assert_eq!(heard.ttl, 64);
    assert_eq!(heard.checksum, Checksum::Invalid);
    assert_eq!(heard.vrid, 51);
}

#[test]
fn a_vlan_tag_is_skipped() {
    let bytes = include_bytes!("../../../tests/fixtures/keepalived_v4.bin");
    let mut tagged = frame(&[], ETHERTYPE_VLAN);
    tagged.extend([0x00, 0x0a]);
    tagged.extend(ETHERTYPE_IPV4.to_be_bytes());
    tagged.extend(bytes);
    assert_eq!(advert(decode(&tagged)).vrid, 51);
}

#[test]
fn other_traffic_is_not_vrrp_and_broken_vrrp_is_malformed() {
    let bytes = include_bytes!("../../../tests/fixtures/keepalived_v4.bin");
    let mut udp = bytes.to_vec();
    udp[9] = 17;
    assert_eq!(decode(&frame(&udp, ETHERTYPE_IPV4)), Decoded::NotVrrp);
    assert_eq!(decode(&frame(bytes, 0x0806)), Decoded::NotVrrp);
    assert_eq!(decode(&[0u8; 10]), Decoded::NotVrrp);
    // An address count that does not match the addresses.
    let mut broken = bytes.to_vec();
    broken[23] = 3;
    assert_eq!(
        decode(&frame(&broken, ETHERTYPE_IPV4)),
        Decoded::Malformed {
            source: ip("192.0.2.10"),
            reason: "length_mismatch"
        }
    );
}
