//! The Internet one's-complement checksum (RFC 1071) and the pseudo-header sums
//! that VRRP folds into it.
//!
//! Every function here returns a *folded sum*, not yet complemented, so that
//! partial sums over separate pieces (pseudo-header, message) can be combined
//! with [`combine`] before the final complement is taken.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Folds a wide accumulator into 16 bits with end-around carry (RFC 1071 §2).
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop leaves at most 16 significant bits.
    acc as u16
}

/// One's-complement sum of `data` taken as big-endian 16-bit words; an odd
/// trailing byte is padded with a zero byte on the right (RFC 1071 §4.1).
pub fn data(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        acc += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    fold(acc)
}

/// One's-complement sum of several partial sums, so a checksum can be built
/// from a pseudo-header and a message without copying them together.
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// Sum of the 12-byte IPv4 pseudo-header: source, destination, a zero byte,
/// the protocol and the 16-bit upper-layer length (as used by UDP/TCP, RFC 768).
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let mut header = [0u8; 12];
    header[0..4].copy_from_slice(&src.octets());
    header[4..8].copy_from_slice(&dst.octets());
    header[9] = protocol;
    header[10..12].copy_from_slice(&length.to_be_bytes());
    data(&header)
}

/// Sum of the IPv6 pseudo-header of RFC 8200 §8.1: source, destination, the
/// 32-bit upper-layer length, three zero bytes and the next-header value.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u16 {
    let mut header = [0u8; 40];
    header[0..16].copy_from_slice(&src.octets());
    header[16..32].copy_from_slice(&dst.octets());
    header[32..36].copy_from_slice(&length.to_be_bytes());
    header[39] = next_header;
    data(&header)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn sums_rfc1071_example() {
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn pads_odd_trailing_byte_with_zero() {
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(data(&[]), 0);
    }

    #[test]
    fn carries_wrap_around() {
        assert_eq!(data(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
        assert_eq!(combine(&[0xffff, 0x0002]), 0x0002);
        assert_eq!(combine(&[]), 0);
    }

    #[test]
    fn split_sums_combine_to_whole_sum() {
        let bytes: Vec<u8> = (0u8..=200).collect();
        let (a, b) = bytes.split_at(100); // split on an even boundary
        assert_eq!(combine(&[data(a), data(b)]), data(&bytes));
    }

    #[test]
    fn ipv4_pseudo_header_layout() {
        let src = Ipv4Addr::new(192, 0, 2, 10);
        let dst = Ipv4Addr::new(224, 0, 0, 18);
        let bytes = [192, 0, 2, 10, 224, 0, 0, 18, 0, 112, 0, 16];
        assert_eq!(pseudo_header_v4(src, dst, 112, 16), data(&bytes));
    }

    #[test]
    fn ipv6_pseudo_header_layout() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::12".parse().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&[0, 0, 0, 24, 0, 0, 0, 112]);
        assert_eq!(pseudo_header_v6(src, dst, 112, 24), data(&bytes));
    }
}
