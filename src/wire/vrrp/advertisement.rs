//! The owned advertisement ([`Advertisement`]) and its address list
//! ([`Addresses`]): values that always fit the wire, built by hand, parsed from
//! a [`Packet`] view, or emitted into a buffer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::{
    centis_from_duration, duration_from_centis, field, v2, BuildError, ChecksumForm, EmitError,
    Packet, ParseError, Version, HEADER_LEN, IPV4_ADDR_LEN, IPV6_ADDR_LEN, MAX_CENTIS,
    TYPE_ADVERTISEMENT, VERSION, VERSION_2,
};

/// The virtual addresses of one advertisement: all of one family, because the
/// family is that of the IP header that carries them (RFC 9568 §5.2.9).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addresses {
    /// IPv4 virtual addresses, 4 bytes each on the wire.
    V4(Vec<Ipv4Addr>),
    /// IPv6 virtual addresses, 16 bytes each on the wire.
    V6(Vec<Ipv6Addr>),
}

impl Addresses {
    /// Number of addresses.
    pub fn len(&self) -> usize {
        match self {
            Addresses::V4(a) => a.len(),
            Addresses::V6(a) => a.len(),
        }
    }

    /// True when there are no addresses (never the case in an
    /// [`Advertisement`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for IPv6 addresses.
    pub fn is_ipv6(&self) -> bool {
        matches!(self, Addresses::V6(_))
    }

    /// The addresses as `IpAddr`, for callers that handle both families alike.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let (v4, v6) = match self {
            Addresses::V4(a) => (&a[..], &[][..]),
            Addresses::V6(a) => (&[][..], &a[..]),
        };
        v4.iter()
            .map(|&a| IpAddr::V4(a))
            .chain(v6.iter().map(|&a| IpAddr::V6(a)))
    }

    fn wire_len(&self) -> usize {
        match self {
            Addresses::V4(a) => a.len() * IPV4_ADDR_LEN,
            Addresses::V6(a) => a.len() * IPV6_ADDR_LEN,
        }
    }
}

/// What a checked advertisement says besides its address list
/// ([`Advertisement::check`]); the fields of every [`Advertisement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AdvertHeader {
    /// Which protocol version the advertisement is.
    pub version: Version,
    /// The virtual router it speaks for (RFC 9568 §5.2.3).
    pub vrid: u8,
    /// The sender's priority (RFC 9568 §5.2.4); 0 means it is resigning.
    pub priority: u8,
    /// Max Adver Int in centiseconds, 1 to 4095 (a VRRPv2 message's
    /// seconds times 100).
    pub max_adver_int_centis: u16,
}

impl AdvertHeader {
    /// The sender's advertisement interval, from which a Backup derives its
    /// Master_Down_Interval (RFC 9568 §6.1; for VRRPv2 the seconds of RFC
    /// 3768 §5.3.7, translated as RFC 9568 §8.4.2 asks).
    pub fn max_adver_interval(&self) -> Duration {
        duration_from_centis(self.max_adver_int_centis)
    }
}

/// An owned advertisement: VRRPv3 (RFC 9568 §5.1) or VRRPv2 (RFC 3768 §5.1).
///
/// Its fields are private so that every value is one the wire can carry: built
/// through [`Advertisement::new`], [`Advertisement::new_v2`] or
/// [`Advertisement::parse`], it always emits and parses back to itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advertisement {
    header: AdvertHeader,
    addresses: Addresses,
}

impl Advertisement {
    /// Builds an advertisement, refusing an interval that is zero, above
    /// 40.95 s or not a whole number of centiseconds, and an address list that
    /// is empty or longer than 255.
    pub fn new(
        vrid: u8,
        priority: u8,
        max_adver_interval: Duration,
        addresses: Addresses,
    ) -> Result<Advertisement, BuildError> {
        let max_adver_int_centis = centis_from_duration(max_adver_interval)?;
        match addresses.len() {
            0 => return Err(BuildError::NoAddresses),
            n if n > usize::from(u8::MAX) => return Err(BuildError::TooManyAddresses(n)),
            _ => {}
        }
        Ok(Advertisement {
            header: AdvertHeader {
                version: Version::V3,
                vrid,
                priority,
                max_adver_int_centis,
            },
            addresses,
        })
    }

    /// Builds a VRRPv2 advertisement (RFC 3768): IPv4 addresses only, and an
    /// interval of 1 to 255 whole seconds, which is all its one-octet field
    /// carries.
    pub fn new_v2(
        vrid: u8,
        priority: u8,
        adver_interval: Duration,
        addresses: Addresses,
    ) -> Result<Advertisement, BuildError> {
        let seconds = v2::seconds_from_duration(adver_interval)?;
        if addresses.is_ipv6() {
            return Err(BuildError::V2Ipv6);
        }
        match addresses.len() {
            0 => return Err(BuildError::NoAddresses),
            n if n > usize::from(u8::MAX) => return Err(BuildError::TooManyAddresses(n)),
            _ => {}
        }
        Ok(Advertisement {
            header: AdvertHeader {
                version: Version::V2,
                vrid,
                priority,
                max_adver_int_centis: u16::from(seconds) * 100,
            },
            addresses,
        })
    }

    /// The same advertisement in the other `version`, as a router speaking
    /// both sends it (RFC 9568 §8.4); fails when VRRPv2 cannot carry it.
    pub fn with_version(&self, version: Version) -> Result<Advertisement, BuildError> {
        let (vrid, priority, interval) = (self.vrid(), self.priority(), self.max_adver_interval());
        match version {
            Version::V3 => Advertisement::new(vrid, priority, interval, self.addresses.clone()),
            Version::V2 => Advertisement::new_v2(vrid, priority, interval, self.addresses.clone()),
        }
    }

    /// Which protocol version this advertisement is.
    pub fn version(&self) -> Version {
        self.header.version
    }

    /// The virtual router this advertisement speaks for (RFC 9568 §5.2.3).
    pub fn vrid(&self) -> u8 {
        self.header.vrid
    }

    /// The sender's priority (RFC 9568 §5.2.4); 0 means it is resigning.
    pub fn priority(&self) -> u8 {
        self.header.priority
    }

    /// See [`AdvertHeader::max_adver_interval`].
    pub fn max_adver_interval(&self) -> Duration {
        self.header.max_adver_interval()
    }

    /// The virtual addresses advertised.
    pub fn addresses(&self) -> &Addresses {
        &self.addresses
    }

    /// Parses and validates a received message sent from `src` to `dst` (the
    /// IP header's addresses), reporting which checksum form it carried:
    /// [`check`](Self::check), then the address list.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(Advertisement, ChecksumForm), ParseError> {
        let (header, form) = Self::check(packet, src, dst)?;
        // The check made the address bytes hold exactly `count` addresses of
        // the IP header's family (a VRRPv2 message's authentication data
        // after them).
        let count = usize::from(packet.addr_count());
        let bytes = packet.address_bytes();
        let addresses = if src.is_ipv4() {
            Addresses::V4(first_addresses::<IPV4_ADDR_LEN, Ipv4Addr>(bytes, count))
        } else {
            Addresses::V6(first_addresses::<IPV6_ADDR_LEN, Ipv6Addr>(bytes, count))
        };
        let advert = Advertisement { header, addresses };
        Ok((advert, form))
    }

    /// Validates a received message sent from `src` to `dst` as
    /// [`parse`](Self::parse) does, and returns all it says but the address
    /// list, which stays in the packet: what a receiver needs of every
    /// advert, at no allocation.
    ///
    /// The checks follow RFC 9568 §7.1 in order: length, version, type,
    /// address count, interval, checksum. Reserved bits are ignored. A
    /// VRRPv2 message is checked as RFC 3768 §7.1 says (see `v2.rs`); its
    /// checksum form is always [`ChecksumForm::MessageOnly`].
    pub fn check<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(AdvertHeader, ChecksumForm), ParseError> {
        let addr_len = match (src, dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => IPV4_ADDR_LEN,
            (IpAddr::V6(_), IpAddr::V6(_)) => IPV6_ADDR_LEN,
            _ => return Err(ParseError::FamilyMismatch),
        };
        packet.check_len()?;
        match packet.version() {
            VERSION => {}
            VERSION_2 => return v2::check(packet, src, dst),
            other => return Err(ParseError::BadVersion(other)),
        }
        if packet.msg_type() != TYPE_ADVERTISEMENT {
            return Err(ParseError::BadType(packet.msg_type()));
        }
        let count = packet.addr_count();
        if count == 0 {
            return Err(ParseError::NoAddresses);
        }
        let bytes = packet.address_bytes();
        if bytes.len() != usize::from(count) * addr_len {
            return Err(ParseError::LengthMismatch {
                count,
                len: bytes.len(),
            });
        }
        let max_adver_int_centis = packet.word(field::MAX_ADVER_INT.start) & MAX_CENTIS;
        if max_adver_int_centis == 0 {
            return Err(ParseError::ZeroInterval);
        }
        let form = packet
            .checksum_form(src, dst)
            .ok_or(ParseError::BadChecksum)?;
        let header = AdvertHeader {
            version: Version::V3,
            vrid: packet.vrid(),
            priority: packet.priority(),
            max_adver_int_centis,
        };
        Ok((header, form))
    }

    /// Number of bytes [`Advertisement::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        match self.header.version {
            Version::V3 => HEADER_LEN + self.addresses.wire_len(),
            Version::V2 => v2::buffer_len(self.addresses.len()),
        }
    }

    /// Writes the message into the start of `buf` with its checksum for
    /// `src` → `dst` in the given form, and returns the bytes written.
    ///
    /// `form` matters for VRRPv3 over IPv4 only; IPv6 always uses the
    /// pseudo-header and VRRPv2 never does. Use [`ChecksumForm::PseudoHeader`]
    /// to be understood by keepalived and FRR.
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        form: ChecksumForm,
    ) -> Result<usize, EmitError> {
        let same_family =
            src.is_ipv6() == self.addresses.is_ipv6() && dst.is_ipv6() == self.addresses.is_ipv6();
        if !same_family {
            return Err(EmitError::FamilyMismatch);
        }
        let needed = self.buffer_len();
        let got = buf.len();
        let buf = buf
            .get_mut(..needed)
            .ok_or(EmitError::BufferTooSmall { needed, got })?;
        if self.header.version == Version::V2 {
            v2::emit(self, buf, src, dst)?;
            return Ok(needed);
        }
        let mut packet = Packet::new_unchecked(buf);
        packet.set_version(VERSION);
        packet.set_msg_type(TYPE_ADVERTISEMENT);
        packet.set_vrid(self.header.vrid);
        packet.set_priority(self.header.priority);
        // `new` and `parse` keep the count within 1..=255.
        packet.set_addr_count(u8::try_from(self.addresses.len()).unwrap_or(u8::MAX));
        // Reserved bits zero (RFC 9568 §5.2.6); the value fits 12 bits by construction.
        packet.set_word(field::MAX_ADVER_INT.start, self.header.max_adver_int_centis);
        packet.set_checksum(0);
        let out = packet.address_bytes_mut();
        match &self.addresses {
            Addresses::V4(addrs) => {
                for (chunk, addr) in out.chunks_exact_mut(IPV4_ADDR_LEN).zip(addrs) {
                    chunk.copy_from_slice(&addr.octets());
                }
            }
            Addresses::V6(addrs) => {
                for (chunk, addr) in out.chunks_exact_mut(IPV6_ADDR_LEN).zip(addrs) {
                    chunk.copy_from_slice(&addr.octets());
                }
            }
        }
        packet.fill_checksum(src, dst, form)?;
        Ok(needed)
    }

    /// Emits into a new vector of exactly [`Advertisement::buffer_len`] bytes.
    pub fn to_bytes(
        &self,
        src: IpAddr,
        dst: IpAddr,
        form: ChecksumForm,
    ) -> Result<Vec<u8>, EmitError> {
        let mut buf = vec![0; self.buffer_len()];
        self.emit(&mut buf, src, dst, form)?;
        Ok(buf)
    }
}

/// The first `count` addresses of `LEN` bytes each in `bytes`.
fn first_addresses<const LEN: usize, A: From<[u8; LEN]>>(bytes: &[u8], count: usize) -> Vec<A> {
    bytes
        .chunks_exact(LEN)
        .take(count)
        .filter_map(|chunk| <[u8; LEN]>::try_from(chunk).ok())
        .map(A::from)
        .collect()
}
