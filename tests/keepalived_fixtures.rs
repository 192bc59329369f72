//! Advertisements captured from keepalived (see tests/fixtures/README.md):
//! twinstar must read them field for field and, emitting the same
//! advertisement with the checksum form it detected, reproduce them byte for byte.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use twinstar::wire::{self, Advertisement, ChecksumForm, ParseError, VrrpPacket};

/// The parts of a captured IP packet the VRRP codec needs.
struct Captured {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    protocol: u8,
    vrrp: Vec<u8>,
}

fn load(name: &str) -> Captured {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match bytes.first().map(|b| b >> 4) {
        Some(4) => {
            let d = wire::split_ipv4(&bytes).expect("well-formed IPv4 header");
            Captured {
                src: d.src.into(),
                dst: d.dst.into(),
                ttl: d.ttl,
                protocol: d.protocol,
                vrrp: d.payload.to_vec(),
            }
        }
        Some(6) => {
            // Fixed 40-byte IPv6 header (RFC 8200 §3); keepalived adds no extension headers.
            let (header, payload) = bytes.split_at(40);
            let octets = |r: std::ops::Range<usize>| -> [u8; 16] { header[r].try_into().unwrap() };
            let payload_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
            assert_eq!(payload_len, payload.len(), "{name}: IPv6 payload length");
            Captured {
                src: Ipv6Addr::from(octets(8..24)).into(),
                dst: Ipv6Addr::from(octets(24..40)).into(),
                ttl: header[7],
                protocol: header[6],
                vrrp: payload.to_vec(),
            }
        }
        other => panic!("{name}: not an IP packet (version {other:?})"),
    }
}

/// Parses a fixture, checks it against what keepalived was configured to send,
/// and re-encodes it.
fn check(
    name: &str,
    vrid: u8,
    priority: u8,
    interval: Duration,
    addresses: &[&str],
    form: ChecksumForm,
) {
    let cap = load(name);
    assert_eq!(
        cap.ttl, 255,
        "{name}: VRRP is sent with TTL / hop limit 255"
    );
    assert_eq!(cap.protocol, wire::vrrp::IP_PROTOCOL, "{name}: protocol");
    let packet = VrrpPacket::new_checked(&cap.vrrp[..]).expect("holds the header");
    let (advert, detected) =
        Advertisement::parse(&packet, cap.src, cap.dst).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(advert.vrid(), vrid, "{name}: vrid");
    assert_eq!(advert.priority(), priority, "{name}: priority");
    assert_eq!(advert.max_adver_interval(), interval, "{name}: interval");
    let expected: Vec<IpAddr> = addresses.iter().map(|a| a.parse().unwrap()).collect();
    assert_eq!(
        advert.addresses().iter().collect::<Vec<_>>(),
        expected,
        "{name}: addresses"
    );
    assert_eq!(detected, form, "{name}: checksum form");

    let emitted = advert.to_bytes(cap.src, cap.dst, detected).unwrap();
    assert_eq!(emitted, cap.vrrp, "{name}: re-encoded bytes differ");
}

#[test]
fn keepalived_ipv4_advert_round_trips() {
    check(
        "keepalived_v4.bin",
        51,
        150,
        Duration::from_secs(1),
        &["192.0.2.50", "192.0.2.51"],
        ChecksumForm::PseudoHeader,
    );
    let cap = load("keepalived_v4.bin");
    assert_eq!(cap.src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)));
    assert_eq!(cap.dst, IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)));
}

#[test]
fn keepalived_ipv4_resignation_has_priority_zero() {
    check(
        "keepalived_v4_prio0.bin",
        51,
        0,
        Duration::from_secs(1),
        &["192.0.2.50", "192.0.2.51"],
        ChecksumForm::PseudoHeader,
    );
}

#[test]
fn keepalived_ipv6_advert_round_trips() {
    check(
        "keepalived_v6.bin",
        52,
        100,
        Duration::from_millis(500),
        &["2001:db8::50"],
        ChecksumForm::PseudoHeader,
    );
    let cap = load("keepalived_v6.bin");
    assert!(matches!(cap.src, IpAddr::V6(a) if a.segments()[0] == 0xfe80));
    assert_eq!(cap.dst, "ff02::12".parse::<IpAddr>().unwrap());
}

#[test]
fn keepalived_ipv6_resignation_has_priority_zero() {
    check(
        "keepalived_v6_prio0.bin",
        52,
        0,
        Duration::from_millis(500),
        &["2001:db8::50"],
        ChecksumForm::PseudoHeader,
    );
}

#[test]
fn keepalived_ipv4_advert_in_rfc9568_form_is_also_accepted() {
    // keepalived 2.2.7 cannot send the message-only form, so derive it from
    // the capture: same message, checksum recomputed over the message alone.
    let cap = load("keepalived_v4.bin");
    let mut bytes = cap.vrrp.clone();
    VrrpPacket::new_unchecked(&mut bytes[..])
        .fill_checksum(cap.src, cap.dst, ChecksumForm::MessageOnly)
        .unwrap();
    assert_ne!(bytes, cap.vrrp);
    let (advert, form) =
        Advertisement::parse(&VrrpPacket::new_unchecked(&bytes[..]), cap.src, cap.dst).unwrap();
    assert_eq!(form, ChecksumForm::MessageOnly);
    assert_eq!(advert.vrid(), 51);
    assert_eq!(advert.to_bytes(cap.src, cap.dst, form).unwrap(), bytes);
}

#[test]
fn keepalived_default_vrrpv2_advert_round_trips() {
    // keepalived's default configuration: VRRPv2, no `authentication` block,
    // so Auth Type 0 and eight zero bytes of authentication data.
    check(
        "keepalived_vrrpv2.bin",
        53,
        120,
        Duration::from_secs(1),
        &["192.0.2.53"],
        ChecksumForm::MessageOnly,
    );
    let cap = load("keepalived_vrrpv2.bin");
    let packet = VrrpPacket::new_checked(&cap.vrrp[..]).unwrap();
    assert_eq!(packet.version(), 2);
    assert_eq!(packet.auth_type(), wire::vrrp::AUTH_TYPE_NONE);
    assert_eq!(packet.auth_data(), &[0u8; wire::vrrp::AUTH_DATA_LEN][..]);
    let (advert, _) = Advertisement::parse(&packet, cap.src, cap.dst).unwrap();
    assert_eq!(advert.version(), wire::vrrp::Version::V2);
}

#[test]
fn keepalived_vrrpv2_with_a_password_is_dropped_by_its_own_reason() {
    // What keepalived sends with `authentication { auth_type PASS }`: type 1
    // and the password in the authentication data (RFC 3768 §5.3.6.1 removed it).
    let cap = load("keepalived_vrrpv2.bin");
    let mut bytes = cap.vrrp.clone();
    bytes[4] = 1;
    let auth_start = bytes.len() - wire::vrrp::AUTH_DATA_LEN;
    bytes[auth_start..].copy_from_slice(b"secret\0\0");
    VrrpPacket::new_unchecked(&mut bytes[..])
        .fill_checksum(cap.src, cap.dst, ChecksumForm::MessageOnly)
        .unwrap();
    let err =
        Advertisement::parse(&VrrpPacket::new_unchecked(&bytes[..]), cap.src, cap.dst).unwrap_err();
    assert_eq!(err, ParseError::V2Authentication(1));
    assert_eq!(err.reason(), "v2_authentication");
}
