//! Just enough of the IPv4 header (RFC 791 §3.1) to take apart what a raw
//! IPPROTO 112 socket delivers: on Linux the datagram arrives with its IPv4
//! header, and the receiver needs the source, destination and TTL from it
//! (RFC 9568 §7.1: an advertisement whose TTL is not 255 is discarded).
//!
//! The kernel has already verified the header checksum and reassembled
//! fragments, so neither is checked again here.

use std::net::Ipv4Addr;

use thiserror::Error;

/// Length of an IPv4 header without options.
pub const MIN_HEADER_LEN: usize = 20;

mod field {
    use std::ops::Range;

    /// Version (high nibble) and IHL, the header length in 32-bit words.
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: Range<usize> = 2..4;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Why a buffer is not a well-formed IPv4 datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Ipv4Error {
    /// Shorter than the 20-byte minimum header.
    #[error("buffer shorter than the {MIN_HEADER_LEN}-byte IPv4 header")]
    Truncated,
    /// The version nibble is not 4.
    #[error("IP version {0}, expected 4")]
    NotIpv4(u8),
    /// IHL below 5 words or past the end of the buffer.
    #[error("IPv4 header length {0} bytes is invalid for this buffer")]
    BadHeaderLength(usize),
    /// Total Length shorter than the header or longer than the buffer.
    #[error("IPv4 total length {total} is invalid for a {len}-byte buffer")]
    BadTotalLength {
        /// The Total Length field.
        total: usize,
        /// Bytes in the buffer.
        len: usize,
    },
}

impl Ipv4Error {
    /// A stable, lower-case label for metrics, alongside
    /// [`ParseError::reason`](super::vrrp::ParseError::reason).
    pub fn reason(&self) -> &'static str {
        match self {
            Ipv4Error::Truncated => "ipv4_truncated",
            Ipv4Error::NotIpv4(_) => "ipv4_bad_version",
            Ipv4Error::BadHeaderLength(_) => "ipv4_bad_header_length",
            Ipv4Error::BadTotalLength { .. } => "ipv4_bad_total_length",
        }
    }
}

/// A read-only checked view over an IPv4 datagram, header first.
///
/// [`Ipv4Header::new_checked`] proves that the header, its options and the
/// Total Length all fit the buffer, so the accessors cannot go out of range.
#[derive(Debug, Clone)]
pub struct Ipv4Header<T: AsRef<[u8]>> {
    buffer: T,
    header_len: usize,
    total_len: usize,
}

impl<T: AsRef<[u8]>> Ipv4Header<T> {
    /// Wraps a buffer after checking version, header length and total length.
    pub fn new_checked(buffer: T) -> Result<Ipv4Header<T>, Ipv4Error> {
        let bytes = buffer.as_ref();
        if bytes.len() < MIN_HEADER_LEN {
            return Err(Ipv4Error::Truncated);
        }
        let (Some(&ver_ihl), Some(&[total_hi, total_lo])) =
            (bytes.get(field::VER_IHL), bytes.get(field::TOTAL_LEN))
        else {
            return Err(Ipv4Error::Truncated);
        };
        if ver_ihl >> 4 != 4 {
            return Err(Ipv4Error::NotIpv4(ver_ihl >> 4));
        }
        let header_len = usize::from(ver_ihl & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN || header_len > bytes.len() {
            return Err(Ipv4Error::BadHeaderLength(header_len));
        }
        let total_len = usize::from(u16::from_be_bytes([total_hi, total_lo]));
        if total_len < header_len || total_len > bytes.len() {
            return Err(Ipv4Error::BadTotalLength {
                total: total_len,
                len: bytes.len(),
            });
        }
        Ok(Ipv4Header {
            buffer,
            header_len,
            total_len,
        })
    }

    fn addr(&self, range: std::ops::Range<usize>) -> Ipv4Addr {
        let mut octets = [0u8; 4];
        if let Some(b) = self.buffer.as_ref().get(range) {
            octets.copy_from_slice(b);
        }
        Ipv4Addr::from(octets)
    }

    /// The source address: the sending VRRP router's primary address.
    pub fn src_addr(&self) -> Ipv4Addr {
        self.addr(field::SRC_ADDR)
    }

    /// The destination address: 224.0.0.18, or ours for unicast peers.
    pub fn dst_addr(&self) -> Ipv4Addr {
        self.addr(field::DST_ADDR)
    }

    /// Time to live; VRRP requires 255 so that adverts never cross a router.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref().get(field::TTL).copied().unwrap_or(0)
    }

    /// The protocol number of the payload (112 for VRRP).
    pub fn protocol(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::PROTOCOL)
            .copied()
            .unwrap_or(0)
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The payload after the header and options, up to Total Length (any
    /// link-layer padding beyond it is left out).
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.header_len..self.total_len)
            .unwrap_or(&[])
    }
}

/// The parts of a received IPv4 datagram that VRRP reception needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Datagram<'a> {
    /// Source address, passed on to the advertisement parser and checksum.
    pub src: Ipv4Addr,
    /// Destination address, likewise.
    pub dst: Ipv4Addr,
    /// Time to live, to be checked against 255 (RFC 9568 §7.1).
    pub ttl: u8,
    /// Protocol number; 112 for VRRP.
    pub protocol: u8,
    /// The bytes after the header: the VRRP message.
    pub payload: &'a [u8],
}

/// Splits a datagram as a raw IPv4 socket delivers it (header included) into
/// its addresses, TTL, protocol and payload.
pub fn split_ipv4(datagram: &[u8]) -> Result<Ipv4Datagram<'_>, Ipv4Error> {
    let header = Ipv4Header::new_checked(datagram)?;
    Ok(Ipv4Datagram {
        src: header.src_addr(),
        dst: header.dst_addr(),
        ttl: header.ttl(),
        protocol: header.protocol(),
        payload: datagram
            .get(header.header_len..header.total_len)
            .unwrap_or(&[]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // An IPv4 VRRPv3 advertisement as keepalived sends it: TTL 255, protocol
    // 112, 192.0.2.10 -> 224.0.0.18, 16-byte payload.
    const DATAGRAM: [u8; 36] = [
        0x45, 0xc0, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x8c, 0xc0, 0x00, 0x02,
        0x0a, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0x96, 0x02, 0x00, 0x64, 0x11, 0x62, 0xc0, 0x00,
        0x02, 0x32, 0xc0, 0x00, 0x02, 0x33,
    ];

    #[test]
    fn splits_header_fields_and_payload() {
        let d = split_ipv4(&DATAGRAM).unwrap();
        assert_eq!(d.src, Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(d.dst, Ipv4Addr::new(224, 0, 0, 18));
        assert_eq!(d.ttl, 255);
        assert_eq!(d.protocol, 112);
        assert_eq!(d.payload, &DATAGRAM[20..]);
    }

    #[test]
    fn honours_options_and_ignores_trailing_padding() {
        // IHL 6 (one 4-byte option word), total length 28, then 2 padding bytes.
        let mut bytes = DATAGRAM[..20].to_vec();
        bytes[0] = 0x46;
        bytes[3] = 28;
        bytes.extend_from_slice(&[1, 1, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0]);
        let d = split_ipv4(&bytes).unwrap();
        assert_eq!(d.payload, &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(Ipv4Header::new_checked(&bytes).unwrap().header_len(), 24);
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(split_ipv4(&DATAGRAM[..19]), Err(Ipv4Error::Truncated));
        assert_eq!(split_ipv4(&[]), Err(Ipv4Error::Truncated));
        let mut v6 = DATAGRAM;
        v6[0] = 0x65;
        assert_eq!(split_ipv4(&v6), Err(Ipv4Error::NotIpv4(6)));
        let mut short_ihl = DATAGRAM;
        short_ihl[0] = 0x44;
        assert_eq!(split_ipv4(&short_ihl), Err(Ipv4Error::BadHeaderLength(16)));
        let mut long_ihl = DATAGRAM;
        long_ihl[0] = 0x4f;
        assert_eq!(split_ipv4(&long_ihl), Err(Ipv4Error::BadHeaderLength(60)));
        let mut long_total = DATAGRAM;
        long_total[3] = 37;
        assert_eq!(
            split_ipv4(&long_total),
            Err(Ipv4Error::BadTotalLength { total: 37, len: 36 })
        );
        let mut short_total = DATAGRAM;
        short_total[3] = 19;
        assert!(matches!(
            split_ipv4(&short_total),
            Err(Ipv4Error::BadTotalLength { total: 19, .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            if let Ok(d) = split_ipv4(&bytes) {
                proptest::prop_assert!(d.payload.len() + MIN_HEADER_LEN <= bytes.len());
            }
        }
    }
}
