//! Tests of the advertisement codec: keepalived captures, checksum forms,
//! malformed input, and round-trip properties.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use proptest::prelude::*;

const V4_SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const V4_DST: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
const V6_SRC: IpAddr = IpAddr::V6(Ipv6Addr::new(
    0xfe80, 0, 0, 0, 0x441d, 0xb6ff, 0xfe3b, 0xa91b,
));
const V6_DST: IpAddr = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12));

// keepalived 2.2.7, 192.0.2.10 -> 224.0.0.18: VRID 51, priority 150,
// interval 100 cs, 192.0.2.50 and 192.0.2.51, IPv4 pseudo-header checksum.
static V4_PSEUDO: [u8; 16] = [
    0x31, 0x33, 0x96, 0x02, 0x00, 0x64, 0x11, 0x62, 0xc0, 0x00, 0x02, 0x32, 0xc0, 0x00, 0x02, 0x33,
];

// The same message with the RFC 9568 checksum over the message only.
static V4_MESSAGE_ONLY: [u8; 16] = [
    0x31, 0x33, 0x96, 0x02, 0x00, 0x64, 0xb3, 0xff, 0xc0, 0x00, 0x02, 0x32, 0xc0, 0x00, 0x02, 0x33,
];

// keepalived 2.2.7, fe80::441d:b6ff:fe3b:a91b -> ff02::12: VRID 52,
// priority 100, interval 50 cs, 2001:db8::50.
static V6: [u8; 24] = [
    0x31, 0x34, 0x64, 0x01, 0x00, 0x32, 0x9b, 0xfc, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50,
];

/// A VRRPv3 advert for 192.0.2.50 and .51, VRID 51, priority 150, 1 s.
pub(super) fn v4_advert() -> Advertisement {
    Advertisement::new(
        51,
        150,
        Duration::from_secs(1),
        Addresses::V4(vec![
            Ipv4Addr::new(192, 0, 2, 50),
            Ipv4Addr::new(192, 0, 2, 51),
        ]),
    )
    .unwrap()
}

fn v6_advert() -> Advertisement {
    Advertisement::new(
        52,
        100,
        Duration::from_millis(500),
        Addresses::V6(vec!["2001:db8::50".parse().unwrap()]),
    )
    .unwrap()
}

/// Parses `bytes` as sent from 192.0.2.10 to 224.0.0.18.
fn parse_v4(bytes: &[u8]) -> Result<(Advertisement, ChecksumForm), ParseError> {
    Advertisement::parse(&Packet::new_unchecked(bytes), V4_SRC, V4_DST)
}

/// Recomputes the pseudo-header checksum after a test edits a field.
fn refill(bytes: &mut [u8]) {
    Packet::new_unchecked(bytes)
        .fill_checksum(V4_SRC, V4_DST, ChecksumForm::PseudoHeader)
        .unwrap();
}

#[test]
fn deconstructs_every_field() {
    let packet = Packet::new_checked(&V4_PSEUDO[..]).unwrap();
    assert_eq!(packet.version(), 3);
    assert_eq!(packet.msg_type(), 1);
    assert_eq!(packet.vrid(), 51);
    assert_eq!(packet.priority(), 150);
    assert_eq!(packet.addr_count(), 2);
    assert_eq!(packet.reserved(), 0);
    assert_eq!(packet.max_adver_int(), Duration::from_secs(1));
    assert_eq!(packet.checksum(), 0x1162);
    assert_eq!(packet.address_bytes(), &V4_PSEUDO[8..]);
}

#[test]
fn constructs_with_setters() {
    let mut bytes = [0xa5u8; 16];
    let mut packet = Packet::new_unchecked(&mut bytes[..]);
    packet.set_version(3);
    packet.set_msg_type(1);
    packet.set_vrid(51);
    packet.set_priority(150);
    packet.set_addr_count(2);
    packet.set_max_adver_int(Duration::from_secs(1)).unwrap();
    packet
        .address_bytes_mut()
        .copy_from_slice(&[192, 0, 2, 50, 192, 0, 2, 51]);
    packet
        .fill_checksum(V4_SRC, V4_DST, ChecksumForm::PseudoHeader)
        .unwrap();
    assert_eq!(bytes, V4_PSEUDO);
}

#[test]
fn parses_keepalived_ipv4_with_pseudo_header() {
    assert_eq!(
        parse_v4(&V4_PSEUDO),
        Ok((v4_advert(), ChecksumForm::PseudoHeader))
    );
}

#[test]
fn parses_rfc9568_message_only_ipv4() {
    assert_eq!(
        parse_v4(&V4_MESSAGE_ONLY),
        Ok((v4_advert(), ChecksumForm::MessageOnly))
    );
}

#[test]
fn emits_both_ipv4_checksum_forms() {
    let advert = v4_advert();
    assert_eq!(advert.buffer_len(), 16);
    let pseudo = advert
        .to_bytes(V4_SRC, V4_DST, ChecksumForm::PseudoHeader)
        .unwrap();
    assert_eq!(pseudo, V4_PSEUDO);
    let message_only = advert
        .to_bytes(V4_SRC, V4_DST, ChecksumForm::MessageOnly)
        .unwrap();
    assert_eq!(message_only, V4_MESSAGE_ONLY);
}

#[test]
fn pseudo_header_checksum_depends_on_ip_addresses() {
    let other_src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    let packet = Packet::new_unchecked(&V4_PSEUDO[..]);
    assert_eq!(packet.checksum_form(other_src, V4_DST), None);
    assert_eq!(
        Advertisement::parse(&packet, other_src, V4_DST),
        Err(ParseError::BadChecksum)
    );
}

#[test]
fn parses_and_emits_ipv6() {
    let packet = Packet::new_checked(&V6[..]).unwrap();
    assert_eq!(
        Advertisement::parse(&packet, V6_SRC, V6_DST),
        Ok((v6_advert(), ChecksumForm::PseudoHeader))
    );
    let advert = v6_advert();
    assert_eq!(advert.buffer_len(), 24);
    for form in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
        assert_eq!(advert.to_bytes(V6_SRC, V6_DST, form).unwrap(), V6);
    }
}

#[test]
fn ipv6_message_only_checksum_is_rejected() {
    let mut bytes = V6;
    let sum = checksum::combine(&[checksum::data(&bytes[..6]), checksum::data(&bytes[8..])]);
    bytes[6..8].copy_from_slice(&(!sum).to_be_bytes());
    let packet = Packet::new_unchecked(&bytes[..]);
    assert_eq!(
        Advertisement::parse(&packet, V6_SRC, V6_DST),
        Err(ParseError::BadChecksum)
    );
}

#[test]
fn reserved_bits_are_ignored_on_receipt_and_cleared_on_send() {
    let mut bytes = V4_PSEUDO;
    bytes[4] |= 0xf0;
    refill(&mut bytes);
    let (advert, _) = parse_v4(&bytes).unwrap();
    assert_eq!(advert, v4_advert());
    let out = advert
        .to_bytes(V4_SRC, V4_DST, ChecksumForm::PseudoHeader)
        .unwrap();
    assert_eq!(out, V4_PSEUDO);
}

#[test]
fn rejects_truncated() {
    for len in 0..HEADER_LEN {
        assert_eq!(parse_v4(&V4_PSEUDO[..len]), Err(ParseError::Truncated));
        assert!(Packet::new_checked(&V4_PSEUDO[..len]).is_err());
    }
}

#[test]
fn rejects_other_versions_and_types() {
    let mut bytes = V4_PSEUDO;
    bytes[0] = 0x41;
    assert_eq!(parse_v4(&bytes), Err(ParseError::BadVersion(4)));
    bytes[0] = 0x01;
    assert_eq!(parse_v4(&bytes), Err(ParseError::BadVersion(0)));
    bytes[0] = 0x32;
    assert_eq!(parse_v4(&bytes), Err(ParseError::BadType(2)));
}

#[test]
fn rejects_zero_address_count() {
    let mut bytes = V4_PSEUDO;
    bytes[3] = 0;
    assert_eq!(parse_v4(&bytes), Err(ParseError::NoAddresses));
}

#[test]
fn rejects_count_length_mismatch() {
    let mut bytes = V4_PSEUDO;
    bytes[3] = 3;
    assert_eq!(
        parse_v4(&bytes),
        Err(ParseError::LengthMismatch { count: 3, len: 8 })
    );
    let mut trailing = V4_PSEUDO.to_vec();
    trailing.push(0);
    assert_eq!(
        parse_v4(&trailing),
        Err(ParseError::LengthMismatch { count: 2, len: 9 })
    );
    // 16 bytes of addresses are one IPv6 address but four IPv4 ones.
    let packet = Packet::new_unchecked(&V6[..]);
    assert_eq!(
        Advertisement::parse(&packet, V4_SRC, V4_DST),
        Err(ParseError::LengthMismatch { count: 1, len: 16 })
    );
}

#[test]
fn rejects_zero_interval() {
    let mut bytes = V4_PSEUDO;
    bytes[4] = 0xf0; // reserved bits set, interval zero
    bytes[5] = 0;
    refill(&mut bytes);
    assert_eq!(parse_v4(&bytes), Err(ParseError::ZeroInterval));
}

#[test]
fn rejects_bad_checksum() {
    let mut bytes = V4_PSEUDO;
    bytes[7] ^= 1;
    assert_eq!(parse_v4(&bytes), Err(ParseError::BadChecksum));
    let mut bytes = V4_PSEUDO;
    bytes[2] = 151; // priority changed, checksum not
    assert_eq!(parse_v4(&bytes), Err(ParseError::BadChecksum));
}

#[test]
fn rejects_mixed_families() {
    let packet = Packet::new_unchecked(&V4_PSEUDO[..]);
    assert_eq!(
        Advertisement::parse(&packet, V4_SRC, V6_DST),
        Err(ParseError::FamilyMismatch)
    );
    assert_eq!(
        Advertisement::parse(&packet, V6_SRC, V4_DST),
        Err(ParseError::FamilyMismatch)
    );
}

#[test]
fn reasons_are_distinct_labels() {
    let errors = [
        ParseError::Truncated,
        ParseError::V2Authentication(1),
        ParseError::V2OverIpv6,
        ParseError::BadVersion(4),
        ParseError::BadType(2),
        ParseError::NoAddresses,
        ParseError::LengthMismatch { count: 1, len: 0 },
        ParseError::ZeroInterval,
        ParseError::BadChecksum,
        ParseError::FamilyMismatch,
    ];
    let mut reasons: Vec<_> = errors.iter().map(ParseError::reason).collect();
    assert_eq!(reasons[0], "truncated");
    assert_eq!(reasons[1], "v2_authentication");
    assert_eq!(reasons[8], "bad_checksum");
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), errors.len());
}

#[test]
fn builder_rejects_intervals_the_wire_cannot_carry() {
    let addrs = || Addresses::V4(vec![Ipv4Addr::new(192, 0, 2, 50)]);
    let build = |d| Advertisement::new(1, 100, d, addrs());
    assert_eq!(build(Duration::ZERO), Err(BuildError::IntervalZero));
    assert_eq!(
        build(Duration::from_millis(40_960)),
        Err(BuildError::IntervalTooLong(Duration::from_millis(40_960)))
    );
    assert_eq!(
        build(Duration::from_secs(u64::MAX)),
        Err(BuildError::IntervalTooLong(Duration::from_secs(u64::MAX)))
    );
    assert_eq!(
        build(Duration::from_millis(15)),
        Err(BuildError::IntervalNotCentiseconds(Duration::from_millis(
            15
        )))
    );
    assert_eq!(
        build(Duration::from_micros(5)),
        Err(BuildError::IntervalNotCentiseconds(Duration::from_micros(
            5
        )))
    );
    let shortest = build(ADVER_INTERVAL_UNIT).unwrap();
    assert_eq!(shortest.max_adver_interval(), Duration::from_millis(10));
    let longest = build(MAX_ADVER_INTERVAL).unwrap();
    assert_eq!(longest.max_adver_interval(), Duration::from_millis(40_950));
    let bytes = longest
        .to_bytes(V4_SRC, V4_DST, ChecksumForm::PseudoHeader)
        .unwrap();
    assert_eq!(&bytes[4..6], &[0x0f, 0xff]);
}

#[test]
fn view_setter_rejects_out_of_range_interval() {
    let mut bytes = V4_PSEUDO;
    let mut packet = Packet::new_unchecked(&mut bytes[..]);
    assert!(packet.set_max_adver_int(Duration::from_secs(41)).is_err());
    assert_eq!(packet.max_adver_int(), Duration::from_secs(1));
}

#[test]
fn builder_rejects_empty_and_oversized_address_lists() {
    let secs = Duration::from_secs(1);
    assert_eq!(
        Advertisement::new(1, 100, secs, Addresses::V6(vec![])),
        Err(BuildError::NoAddresses)
    );
    let many = Addresses::V4(vec![Ipv4Addr::new(192, 0, 2, 1); 256]);
    assert_eq!(
        Advertisement::new(1, 100, secs, many),
        Err(BuildError::TooManyAddresses(256))
    );
    let most = Addresses::V6(vec![Ipv6Addr::LOCALHOST; 255]);
    let advert = Advertisement::new(1, 100, secs, most).unwrap();
    let bytes = advert
        .to_bytes(V6_SRC, V6_DST, ChecksumForm::PseudoHeader)
        .unwrap();
    assert_eq!(bytes.len(), HEADER_LEN + 255 * 16);
    let packet = Packet::new_unchecked(&bytes[..]);
    assert_eq!(
        Advertisement::parse(&packet, V6_SRC, V6_DST).unwrap().0,
        advert
    );
}

#[test]
fn emit_rejects_small_buffer_and_wrong_family() {
    let advert = v4_advert();
    let mut buf = [0u8; 15];
    assert_eq!(
        advert.emit(&mut buf, V4_SRC, V4_DST, ChecksumForm::PseudoHeader),
        Err(EmitError::BufferTooSmall {
            needed: 16,
            got: 15
        })
    );
    let mut buf = [0u8; 64];
    assert_eq!(
        advert.emit(&mut buf, V6_SRC, V6_DST, ChecksumForm::PseudoHeader),
        Err(EmitError::FamilyMismatch)
    );
    assert_eq!(
        advert.emit(&mut buf, V4_SRC, V6_DST, ChecksumForm::PseudoHeader),
        Err(EmitError::FamilyMismatch)
    );
    assert_eq!(
        advert.emit(&mut buf, V4_SRC, V4_DST, ChecksumForm::PseudoHeader),
        Ok(16)
    );
    assert_eq!(&buf[..16], &V4_PSEUDO);
    assert!(buf[16..].iter().all(|&b| b == 0));
}

#[test]
fn unchecked_view_on_short_buffer_does_not_panic() {
    let mut short = [0x31u8, 7];
    let mut packet = Packet::new_unchecked(&mut short[..]);
    assert_eq!(packet.vrid(), 7);
    assert_eq!(packet.checksum(), 0);
    assert!(packet.address_bytes().is_empty());
    packet.set_checksum(0xffff);
    packet
        .fill_checksum(V4_SRC, V4_DST, ChecksumForm::MessageOnly)
        .unwrap();
    assert!(packet.address_bytes_mut().is_empty());
    assert_eq!(short, [0x31, 7]);
}

#[test]
fn addresses_iterate_as_ip_addrs() {
    let advert = v4_advert();
    let addrs: Vec<IpAddr> = advert.addresses().iter().collect();
    assert_eq!(
        addrs,
        vec![
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 51))
        ]
    );
    assert!(!advert.addresses().is_ipv6());
    assert!(v6_advert().addresses().is_ipv6());
}

fn arb_addresses() -> impl Strategy<Value = Addresses> {
    prop_oneof![
        prop::collection::vec(any::<u32>().prop_map(Ipv4Addr::from), 1..=255)
            .prop_map(Addresses::V4),
        prop::collection::vec(any::<u128>().prop_map(Ipv6Addr::from), 1..=255)
            .prop_map(Addresses::V6),
    ]
}

fn arb_advert() -> impl Strategy<Value = Advertisement> {
    (any::<u8>(), any::<u8>(), 1..=MAX_CENTIS, arb_addresses()).prop_map(
        |(vrid, priority, centis, addresses)| {
            let interval = ADVER_INTERVAL_UNIT * u32::from(centis);
            Advertisement::new(vrid, priority, interval, addresses).unwrap()
        },
    )
}

fn ip_pair(v6: bool, src: u128, dst: u128) -> (IpAddr, IpAddr) {
    if v6 {
        (
            IpAddr::V6(Ipv6Addr::from(src)),
            IpAddr::V6(Ipv6Addr::from(dst)),
        )
    } else {
        // Truncating to the low 32 bits is the intent: any IPv4 address will do.
        (
            IpAddr::V4(Ipv4Addr::from(src as u32)),
            IpAddr::V4(Ipv4Addr::from(dst as u32)),
        )
    }
}

proptest! {
    #[test]
    fn any_advert_round_trips(
        advert in arb_advert(),
        src in any::<u128>(),
        dst in any::<u128>(),
        message_only in any::<bool>(),
    ) {
        let (src, dst) = ip_pair(advert.addresses().is_ipv6(), src, dst);
        let form = if message_only { ChecksumForm::MessageOnly } else { ChecksumForm::PseudoHeader };
        let bytes = advert.to_bytes(src, dst, form).unwrap();
        prop_assert_eq!(bytes.len(), advert.buffer_len());
        let (parsed, parsed_form) =
            Advertisement::parse(&Packet::new_unchecked(&bytes[..]), src, dst).unwrap();
        prop_assert_eq!(&parsed, &advert);
        // The reported form may differ only when both forms give the same bytes.
        prop_assert_eq!(parsed.to_bytes(src, dst, parsed_form).unwrap(), bytes);
        if src.is_ipv4() && parsed_form != form {
            prop_assert_eq!(parsed_form, ChecksumForm::PseudoHeader);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        v6 in any::<bool>(),
        mixed in any::<bool>(),
        src in any::<u128>(),
        dst in any::<u128>(),
    ) {
        let (src, mut dst) = ip_pair(v6, src, dst);
        if mixed {
            dst = ip_pair(!v6, 0, 0).1;
        }
        let packet = Packet::new_unchecked(&bytes[..]);
        let _ = (packet.version(), packet.max_adver_int(), packet.address_bytes());
        if let Ok((advert, form)) = Advertisement::parse(&packet, src, dst) {
            let again = advert.to_bytes(src, dst, form).unwrap();
            if packet.reserved() == 0 {
                prop_assert_eq!(again, bytes);
            }
        }
    }

    #[test]
    fn valid_checksum_makes_header_fields_decide(
        advert in arb_advert(),
        byte in 0usize..8,
        value in any::<u8>(),
    ) {
        // Corrupt one header byte, refill the checksum, and parse must
        // either succeed or name the field that was broken.
        let (src, dst) = if advert.addresses().is_ipv6() { (V6_SRC, V6_DST) } else { (V4_SRC, V4_DST) };
        let mut bytes = advert.to_bytes(src, dst, ChecksumForm::PseudoHeader).unwrap();
        if let Some(b) = bytes.get_mut(byte) { *b = value; }
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.fill_checksum(src, dst, ChecksumForm::PseudoHeader).unwrap();
        match Advertisement::parse(&packet, src, dst) {
            Ok(_) | Err(ParseError::BadVersion(_)) | Err(ParseError::V2OverIpv6)
            | Err(ParseError::V2Authentication(_))
            | Err(ParseError::BadType(_)) | Err(ParseError::NoAddresses)
            | Err(ParseError::LengthMismatch { .. }) | Err(ParseError::ZeroInterval) => {}
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
