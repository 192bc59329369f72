//! Feeds arbitrary bytes to the VRRP advertisement parser (VRRPv3 and VRRPv2)
//! with IP addresses taken from the input. Parsing must never panic, and
//! whatever parses must emit and parse back to the same advertisement and
//! checksum form, and convert to the other version when that version can
//! carry it.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use twinstar::wire::vrrp::Version;
use twinstar::wire::{split_ipv4, Advertisement, VrrpPacket};

/// Splits `n` bytes off the front of `data`, zero-padded when short.
fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = data.len().min(N);
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    // First byte: low two bits pick the family of source and destination
    // (mixed families are allowed, to reach that error too).
    let [mode] = take::<1>(&mut data);
    let src = if mode & 1 == 0 {
        IpAddr::V4(Ipv4Addr::from(take::<4>(&mut data)))
    } else {
        IpAddr::V6(Ipv6Addr::from(take::<16>(&mut data)))
    };
    let dst = if mode & 2 == 0 {
        IpAddr::V4(Ipv4Addr::from(take::<4>(&mut data)))
    } else {
        IpAddr::V6(Ipv6Addr::from(take::<16>(&mut data)))
    };

    // The raw-socket path: the whole input as an IPv4 datagram.
    if let Ok(datagram) = split_ipv4(input) {
        let packet = VrrpPacket::new_unchecked(datagram.payload);
        let _ = Advertisement::parse(&packet, datagram.src.into(), datagram.dst.into());
    }

    let packet = VrrpPacket::new_unchecked(data);
    let _ = (
        packet.version(),
        packet.max_adver_int(),
        packet.address_bytes(),
        packet.auth_type(),
        packet.adver_int_v2(),
        packet.auth_data(),
    );
    let Ok((advert, form)) = Advertisement::parse(&packet, src, dst) else {
        return;
    };
    let bytes = advert
        .to_bytes(src, dst, form)
        .expect("a parsed advertisement always emits for its own addresses");
    assert_eq!(bytes.len(), advert.buffer_len());
    // Bits the receiver ignores (VRRPv3's reserved bits, VRRPv2's type-0
    // authentication data) are sent as zero, so only inputs with them zero
    // re-encode exactly.
    let ignored_bits_zero = match advert.version() {
        Version::V3 => packet.reserved() == 0,
        Version::V2 => packet.auth_data().iter().all(|&b| b == 0),
    };
    if ignored_bits_zero {
        assert_eq!(bytes, data, "re-encoding must reproduce the input");
    }
    let other = match advert.version() {
        Version::V3 => Version::V2,
        Version::V2 => Version::V3,
    };
    if let Ok(converted) = advert.with_version(other) {
        let bytes = converted
            .to_bytes(src, dst, form)
            .expect("a converted advertisement emits for the same addresses");
        let (back, _) = Advertisement::parse(&VrrpPacket::new_unchecked(&bytes[..]), src, dst)
            .expect("a converted advertisement parses");
        assert_eq!(back, converted);
    }
    let again = Advertisement::parse(&VrrpPacket::new_unchecked(&bytes[..]), src, dst)
        .expect("emitted advertisement parses");
    assert_eq!(again, (advert, form));
});
