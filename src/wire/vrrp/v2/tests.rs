//! Tests of the VRRPv2 half of the codec: keepalived's default advert, the
//! authentication and length checks, and round trips between the versions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use proptest::prelude::*;

use super::super::{
    Addresses, Advertisement, BuildError, ChecksumForm, Packet, ParseError, Version,
};
use super::{AUTH_DATA_LEN, AUTH_TYPE_NONE};

const V4_SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const V4_DST: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
const V6_SRC: IpAddr = IpAddr::V6(Ipv6Addr::new(
    0xfe80, 0, 0, 0, 0x441d, 0xb6ff, 0xfe3b, 0xa91b,
));
const V6_DST: IpAddr = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12));

// keepalived 2.2.7 VRRPv2 (RFC 3768): VRID 53, priority 120, 1 s,
// 192.0.2.53, no authentication (8 zero bytes of auth data).
static V2: [u8; 20] = [
    0x21, 0x35, 0x78, 0x01, 0x00, 0x01, 0xa4, 0x92, 0xc0, 0x00, 0x02, 0x35, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

/// Parses `bytes` as sent from 192.0.2.10 to 224.0.0.18.
fn parse_v4(bytes: &[u8]) -> Result<(Advertisement, ChecksumForm), ParseError> {
    Advertisement::parse(&Packet::new_unchecked(bytes), V4_SRC, V4_DST)
}

use super::super::tests::v4_advert;

fn v6_addresses() -> Addresses {
    Addresses::V6(vec!["2001:db8::50".parse().unwrap()])
}

#[test]
fn deconstructs_a_vrrpv2_advert() {
    let packet = Packet::new_checked(&V2[..]).unwrap();
    assert_eq!(packet.version(), 2);
    assert_eq!(packet.vrid(), 53);
    assert_eq!(packet.priority(), 120);
    assert_eq!(packet.addr_count(), 1);
    assert_eq!(packet.auth_type(), AUTH_TYPE_NONE);
    assert_eq!(packet.adver_int_v2(), Duration::from_secs(1));
    assert_eq!(packet.checksum(), 0xa492);
    assert_eq!(packet.auth_data(), &[0u8; AUTH_DATA_LEN][..]);
}

#[test]
fn parses_and_re_emits_a_vrrpv2_advert() {
    let (advert, form) = parse_v4(&V2).unwrap();
    assert_eq!(advert.version(), Version::V2);
    assert_eq!(form, ChecksumForm::MessageOnly);
    assert_eq!(advert.max_adver_interval(), Duration::from_secs(1));
    let vip = Ipv4Addr::new(192, 0, 2, 53);
    let built = Advertisement::new_v2(53, 120, Duration::from_secs(1), Addresses::V4(vec![vip]));
    assert_eq!(built.as_ref(), Ok(&advert));
    assert_eq!(advert.buffer_len(), V2.len());
    // Whatever form VRRPv3 is configured with, VRRPv2 checksums the message alone.
    for form in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
        assert_eq!(advert.to_bytes(V4_SRC, V4_DST, form).unwrap(), V2);
    }
}

#[test]
fn converts_between_versions() {
    let v3 = v4_advert();
    let v2 = v3.with_version(Version::V2).unwrap();
    assert_eq!(v2.version(), Version::V2);
    assert_eq!(
        (
            v2.vrid(),
            v2.priority(),
            v2.max_adver_interval(),
            v2.addresses()
        ),
        (
            v3.vrid(),
            v3.priority(),
            v3.max_adver_interval(),
            v3.addresses()
        )
    );
    assert_eq!(v2.with_version(Version::V3).unwrap(), v3);
    let fast = Advertisement::new(1, 100, Duration::from_millis(500), v3.addresses().clone());
    assert_eq!(
        fast.unwrap().with_version(Version::V2),
        Err(BuildError::IntervalNotWholeSeconds(Duration::from_millis(
            500
        )))
    );
    let v6 = Advertisement::new(1, 100, Duration::from_secs(1), v6_addresses());
    assert_eq!(
        v6.unwrap().with_version(Version::V2),
        Err(BuildError::V2Ipv6)
    );
}

#[test]
fn vrrpv2_with_authentication_is_refused_by_its_own_reason() {
    for auth_type in [1, 2, 7] {
        let mut bytes = V2;
        bytes[4] = auth_type;
        Packet::new_unchecked(&mut bytes[..])
            .fill_checksum(V4_SRC, V4_DST, ChecksumForm::MessageOnly)
            .unwrap();
        let err = parse_v4(&bytes).unwrap_err();
        assert_eq!(err, ParseError::V2Authentication(auth_type));
        assert_eq!(err.reason(), "v2_authentication");
    }
}

#[test]
fn vrrpv2_checks_length_interval_checksum_and_family() {
    // The checksum covers the message alone: the pseudo-header form fails.
    let mut pseudo = V2;
    Packet::new_unchecked(&mut pseudo[..])
        .fill_checksum(V4_SRC, V4_DST, ChecksumForm::PseudoHeader)
        .unwrap();
    assert_eq!(parse_v4(&pseudo), Err(ParseError::BadChecksum));
    // Without its authentication data the length no longer matches the count.
    assert_eq!(
        parse_v4(&V2[..12]),
        Err(ParseError::LengthMismatch { count: 1, len: 4 })
    );
    let mut zero = V2;
    zero[5] = 0;
    Packet::new_unchecked(&mut zero[..])
        .fill_checksum(V4_SRC, V4_DST, ChecksumForm::MessageOnly)
        .unwrap();
    assert_eq!(parse_v4(&zero), Err(ParseError::ZeroInterval));
    let packet = Packet::new_unchecked(&V2[..]);
    assert_eq!(
        Advertisement::parse(&packet, V6_SRC, V6_DST),
        Err(ParseError::V2OverIpv6)
    );
}

#[test]
fn vrrpv2_builder_takes_whole_seconds_up_to_255() {
    let addrs = || Addresses::V4(vec![Ipv4Addr::new(192, 0, 2, 50)]);
    let build = |d| Advertisement::new_v2(1, 100, d, addrs());
    assert!(build(Duration::from_secs(255)).is_ok());
    for bad in [
        Duration::ZERO,
        Duration::from_millis(1500),
        Duration::from_secs(256),
    ] {
        assert_eq!(build(bad), Err(BuildError::IntervalNotWholeSeconds(bad)));
    }
    let v6 = Addresses::V6(vec!["2001:db8::50".parse().unwrap()]);
    assert_eq!(
        Advertisement::new_v2(1, 100, Duration::from_secs(1), v6),
        Err(BuildError::V2Ipv6)
    );
}

fn arb_v2_advert() -> impl Strategy<Value = Advertisement> {
    let addresses = prop::collection::vec(any::<u32>().prop_map(Ipv4Addr::from), 1..=255);
    (any::<u8>(), any::<u8>(), 1..=255u64, addresses).prop_map(
        |(vrid, priority, seconds, addresses)| {
            let interval = Duration::from_secs(seconds);
            Advertisement::new_v2(vrid, priority, interval, Addresses::V4(addresses)).unwrap()
        },
    )
}

proptest! {
    #[test]
    fn any_vrrpv2_advert_round_trips(advert in arb_v2_advert(), src in any::<u32>(), dst in any::<u32>()) {
        let (src, dst) = (IpAddr::V4(src.into()), IpAddr::V4(dst.into()));
        let bytes = advert.to_bytes(src, dst, ChecksumForm::PseudoHeader).unwrap();
        prop_assert_eq!(bytes.len(), advert.buffer_len());
        let parsed = Advertisement::parse(&Packet::new_unchecked(&bytes[..]), src, dst);
        prop_assert_eq!(parsed, Ok((advert, ChecksumForm::MessageOnly)));
    }
}
