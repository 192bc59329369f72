//! The VRRPv3 advertisement (RFC 9568 §5.1): a checked view over its bytes
//! ([`Packet`]) and an owned representation ([`Advertisement`]).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 IPvX Address(es) (4 or 16 bytes each)         |
//! ```
//!
//! The address family is not in the message: it comes from the IP header, so
//! parsing and emitting take the IP source and destination addresses. The
//! interval is carried in centiseconds on the wire and as a [`Duration`]
//! everywhere else.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use thiserror::Error;

use super::checksum;

/// IP protocol number of VRRP, for the IPv4 protocol / IPv6 next-header field
/// and the checksum pseudo-header (RFC 9568 §5.2.4).
pub const IP_PROTOCOL: u8 = 112;

/// The protocol version this codec speaks (RFC 9568 §5.2.1).
pub const VERSION: u8 = 3;

/// The only message type, ADVERTISEMENT (RFC 9568 §5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// Length of the fixed part of the message, before the addresses.
pub const HEADER_LEN: usize = 8;

/// The wire unit of Max Adver Int (RFC 9568 §5.2.7): one centisecond.
pub const ADVER_INTERVAL_UNIT: Duration = Duration::from_millis(10);

/// The longest interval the 12-bit field holds: 4095 centiseconds (40.95 s).
pub const MAX_ADVER_INTERVAL: Duration = Duration::from_millis(10 * MAX_CENTIS as u64);

/// Largest value of the 12-bit Max Adver Int field.
const MAX_CENTIS: u16 = 0x0fff;

const IPV4_ADDR_LEN: usize = 4;
const IPV6_ADDR_LEN: usize = 16;

/// Byte offsets of the fields, in the smoltcp manner.
mod field {
    use std::ops::{Range, RangeFrom};

    /// Version (high nibble) and Type (low nibble).
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// Reserved (high 4 bits) and Max Adver Int (low 12 bits).
    pub const MAX_ADVER_INT: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const ADDRESSES: RangeFrom<usize> = 8..;
}

/// Which IPv4 checksum a VRRPv3 message carries.
///
/// RFC 9568 §5.2.8 computes the IPv4 checksum over the VRRP message alone,
/// while RFC 5798 was read by keepalived and FRR as including the IPv4
/// pseudo-header, which is what they send by default. A receiver that wants to
/// talk to both must accept either; IPv6 always uses the pseudo-header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumForm {
    /// Message plus pseudo-header: the 12-byte IPv4 one (the form keepalived and
    /// FRR send), or for IPv6 the RFC 8200 §8.1 one.
    PseudoHeader,
    /// The VRRP message alone, as RFC 9568 §5.2.8 specifies for IPv4.
    MessageOnly,
}

/// Why a received message was dropped: one variant per check, so the daemon
/// can count drops by reason (the VRRPv3 MIB keeps such counters, RFC 6527).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Shorter than the 8-byte fixed header.
    #[error("message shorter than the {HEADER_LEN}-byte VRRP header")]
    Truncated,
    /// A VRRPv2 (RFC 3768) advertisement: a known peer speaking the old version.
    #[error("VRRPv2 advertisement; only version 3 is accepted")]
    Version2,
    /// A version other than 2 or 3 (RFC 9568 §7.1: MUST be discarded).
    #[error("VRRP version {0}; only version 3 is accepted")]
    BadVersion(u8),
    /// A type other than ADVERTISEMENT (RFC 9568 §5.2.2).
    #[error("VRRP type {0}; only type 1 (advertisement) exists")]
    BadType(u8),
    /// Count IPvX Addr is zero; an advertisement names at least one address.
    #[error("advertisement carries no addresses")]
    NoAddresses,
    /// The address count does not fill the rest of the message exactly
    /// (RFC 9568 §7.1: the length must match the count).
    #[error("address count {count} does not match {len} bytes of addresses")]
    LengthMismatch {
        /// The Count IPvX Addr field.
        count: u8,
        /// Bytes after the fixed header.
        len: usize,
    },
    /// Max Adver Int is zero, which would make every timer expire at once.
    #[error("max advertisement interval is zero")]
    ZeroInterval,
    /// Neither accepted checksum form verifies (RFC 9568 §7.1).
    #[error("checksum does not verify")]
    BadChecksum,
    /// The IP source and destination are of different families, so the
    /// address size cannot be known.
    #[error("IP source and destination are of different address families")]
    FamilyMismatch,
}

impl ParseError {
    /// A stable, lower-case label for metrics and logs; never changes once
    /// published, unlike the `Display` text.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::Truncated => "truncated",
            ParseError::Version2 => "vrrpv2",
            ParseError::BadVersion(_) => "bad_version",
            ParseError::BadType(_) => "bad_type",
            ParseError::NoAddresses => "no_addresses",
            ParseError::LengthMismatch { .. } => "length_mismatch",
            ParseError::ZeroInterval => "zero_interval",
            ParseError::BadChecksum => "bad_checksum",
            ParseError::FamilyMismatch => "family_mismatch",
        }
    }
}

/// Why an [`Advertisement`] could not be built: the values do not fit the
/// wire format, and the codec rejects rather than truncates them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BuildError {
    /// The interval is zero (or rounds to nothing on the wire).
    #[error("advertisement interval must be at least 10ms")]
    IntervalZero,
    /// The interval is above the 12-bit limit of 40.95 s (RFC 9568 §5.2.7).
    #[error("advertisement interval {0:?} is above the maximum of 40.95s")]
    IntervalTooLong(Duration),
    /// The interval is not a whole number of centiseconds.
    #[error("advertisement interval {0:?} is not a multiple of 10ms")]
    IntervalNotCentiseconds(Duration),
    /// No addresses given; an advertisement names at least one.
    #[error("an advertisement needs at least one address")]
    NoAddresses,
    /// More addresses than the 8-bit count field holds.
    #[error("{0} addresses; an advertisement holds at most 255")]
    TooManyAddresses(usize),
}

/// Why an [`Advertisement`] could not be written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EmitError {
    /// The buffer is shorter than [`Advertisement::buffer_len`].
    #[error("buffer of {got} bytes is too small for a {needed}-byte advertisement")]
    BufferTooSmall {
        /// Bytes the advertisement needs.
        needed: usize,
        /// Bytes the buffer has.
        got: usize,
    },
    /// The IP source, destination and the advertised addresses are not all of
    /// one family (RFC 9568 §5.2.9: the family follows the IP header).
    #[error("IP source, destination and advertised addresses differ in family")]
    FamilyMismatch,
}

/// Converts an interval to wire centiseconds, refusing what would not survive
/// the trip exactly.
fn centis_from_duration(interval: Duration) -> Result<u16, BuildError> {
    if interval > MAX_ADVER_INTERVAL {
        return Err(BuildError::IntervalTooLong(interval));
    }
    if interval.is_zero() {
        return Err(BuildError::IntervalZero);
    }
    let nanos = interval.as_nanos();
    let unit = ADVER_INTERVAL_UNIT.as_nanos();
    if nanos % unit != 0 {
        return Err(BuildError::IntervalNotCentiseconds(interval));
    }
    // At most 4095 after the range check above.
    u16::try_from(nanos / unit).map_err(|_| BuildError::IntervalTooLong(interval))
}

fn duration_from_centis(centis: u16) -> Duration {
    Duration::from_millis(u64::from(centis) * 10)
}

/// A read/write view over the bytes of a VRRP message, in the smoltcp style.
///
/// Accessors never panic: on a buffer made with [`Packet::new_unchecked`] that
/// is shorter than the header, missing bytes read as zero and writes to them
/// are dropped. Use [`Packet::new_checked`] on anything received.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after proving it holds the fixed header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, ParseError> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the fixed header; the address list is
    /// checked against the family in [`Advertisement::parse`].
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(ParseError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, index: usize) -> u8 {
        self.buffer.as_ref().get(index).copied().unwrap_or(0)
    }

    fn word(&self, index: usize) -> u16 {
        u16::from_be_bytes([self.byte(index), self.byte(index + 1)])
    }

    /// The Version field (RFC 9568 §5.2.1): 3 for VRRPv3, 2 for VRRPv2.
    pub fn version(&self) -> u8 {
        self.byte(field::VER_TYPE) >> 4
    }

    /// The Type field (RFC 9568 §5.2.2): 1 for ADVERTISEMENT.
    pub fn msg_type(&self) -> u8 {
        self.byte(field::VER_TYPE) & 0x0f
    }

    /// The Virtual Rtr ID field (RFC 9568 §5.2.3).
    pub fn vrid(&self) -> u8 {
        self.byte(field::VRID)
    }

    /// The Priority field (RFC 9568 §5.2.4): 255 for the address owner, 0 when
    /// the Active Router resigns.
    pub fn priority(&self) -> u8 {
        self.byte(field::PRIORITY)
    }

    /// The Count IPvX Addr field (RFC 9568 §5.2.5).
    pub fn addr_count(&self) -> u8 {
        self.byte(field::COUNT)
    }

    /// The 4 reserved bits (RFC 9568 §5.2.6): sent as zero, ignored on receipt.
    pub fn reserved(&self) -> u8 {
        self.byte(field::MAX_ADVER_INT.start) >> 4
    }

    /// The Max Adver Int field (RFC 9568 §5.2.7), converted from centiseconds.
    pub fn max_adver_int(&self) -> Duration {
        duration_from_centis(self.word(field::MAX_ADVER_INT.start) & MAX_CENTIS)
    }

    /// The Checksum field as received (RFC 9568 §5.2.8).
    pub fn checksum(&self) -> u16 {
        self.word(field::CHECKSUM.start)
    }

    /// The raw address bytes after the fixed header (empty if there are none).
    pub fn address_bytes(&self) -> &[u8] {
        self.buffer.as_ref().get(field::ADDRESSES).unwrap_or(&[])
    }

    /// The checksum this message should carry when sent from `src` to `dst`
    /// in the given form, ignoring the checksum field's current value.
    ///
    /// Returns `None` when `src` and `dst` differ in family. For IPv6 the form
    /// is ignored: RFC 9568 §5.2.8 always includes the pseudo-header there.
    pub fn compute_checksum(&self, src: IpAddr, dst: IpAddr, form: ChecksumForm) -> Option<u16> {
        let bytes = self.buffer.as_ref();
        // Checksum over the message with the checksum field taken as zero.
        let message = checksum::combine(&[
            checksum::data(bytes.get(..field::CHECKSUM.start).unwrap_or(bytes)),
            checksum::data(bytes.get(field::ADDRESSES).unwrap_or(&[])),
        ]);
        let pseudo = match (src, dst, form) {
            (IpAddr::V4(_), IpAddr::V4(_), ChecksumForm::MessageOnly) => 0,
            (IpAddr::V4(s), IpAddr::V4(d), ChecksumForm::PseudoHeader) => {
                // Deviation from RFC 9568 §5.2.8, which leaves IPv4 out of the
                // pseudo-header: keepalived and FRR include the IPv4 one (their
                // reading of RFC 5798), so we compute it to interoperate.
                // A valid message is at most 8 + 255 * 16 bytes and `parse`
                // rejects longer ones first; saturating only keeps this total.
                let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
                checksum::pseudo_header_v4(s, d, IP_PROTOCOL, len)
            }
            (IpAddr::V6(s), IpAddr::V6(d), _) => {
                let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                checksum::pseudo_header_v6(s, d, IP_PROTOCOL, len)
            }
            _ => return None,
        };
        Some(!checksum::combine(&[message, pseudo]))
    }

    /// Which checksum form the received checksum matches, if any.
    ///
    /// IPv4 tries the pseudo-header form first (what keepalived and FRR send),
    /// then the RFC 9568 message-only form; the rare message valid under both
    /// reports `PseudoHeader`, and re-emitting it in that form gives the same
    /// bytes. IPv6 only knows the pseudo-header form.
    ///
    /// The check recomputes the checksum and compares it with the received
    /// one (rather than summing to 0xffff, which also admits the other
    /// representation of zero), so an accepted message re-encodes exactly.
    pub fn checksum_form(&self, src: IpAddr, dst: IpAddr) -> Option<ChecksumForm> {
        let received = self.checksum();
        // Deviation: RFC 9568 §5.2.8 has one IPv4 form (message only); accept
        // keepalived's and FRR's pseudo-header form as well, tried first.
        [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly]
            .into_iter()
            .take(if src.is_ipv6() { 1 } else { 2 })
            .find(|&form| self.compute_checksum(src, dst, form) == Some(received))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_byte(&mut self, index: usize, value: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(index) {
            *b = value;
        }
    }

    fn set_word(&mut self, index: usize, value: u16) {
        let [hi, lo] = value.to_be_bytes();
        self.set_byte(index, hi);
        self.set_byte(index + 1, lo);
    }

    /// Sets the Version field.
    pub fn set_version(&mut self, version: u8) {
        let b = self.byte(field::VER_TYPE);
        self.set_byte(field::VER_TYPE, (b & 0x0f) | (version << 4));
    }

    /// Sets the Type field.
    pub fn set_msg_type(&mut self, msg_type: u8) {
        let b = self.byte(field::VER_TYPE);
        self.set_byte(field::VER_TYPE, (b & 0xf0) | (msg_type & 0x0f));
    }

    /// Sets the Virtual Rtr ID field.
    pub fn set_vrid(&mut self, vrid: u8) {
        self.set_byte(field::VRID, vrid);
    }

    /// Sets the Priority field.
    pub fn set_priority(&mut self, priority: u8) {
        self.set_byte(field::PRIORITY, priority);
    }

    /// Sets the Count IPvX Addr field.
    pub fn set_addr_count(&mut self, count: u8) {
        self.set_byte(field::COUNT, count);
    }

    /// Sets Max Adver Int and clears the reserved bits (RFC 9568 §5.2.6);
    /// an interval the field cannot hold exactly is refused.
    pub fn set_max_adver_int(&mut self, interval: Duration) -> Result<(), BuildError> {
        let centis = centis_from_duration(interval)?;
        self.set_word(field::MAX_ADVER_INT.start, centis);
        Ok(())
    }

    /// Sets the Checksum field as given; see [`Packet::fill_checksum`].
    pub fn set_checksum(&mut self, value: u16) {
        self.set_word(field::CHECKSUM.start, value);
    }

    /// Computes and stores the checksum for a message sent from `src` to `dst`.
    pub fn fill_checksum(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        form: ChecksumForm,
    ) -> Result<(), EmitError> {
        let value = self
            .compute_checksum(src, dst, form)
            .ok_or(EmitError::FamilyMismatch)?;
        self.set_checksum(value);
        Ok(())
    }

    /// The address bytes after the fixed header, for writing.
    pub fn address_bytes_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(field::ADDRESSES)
            .unwrap_or(&mut [])
    }
}

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

/// An owned VRRPv3 advertisement (RFC 9568 §5.1).
///
/// Its fields are private so that every value is one the wire can carry: built
/// through [`Advertisement::new`] or [`Advertisement::parse`], it always emits
/// and parses back to itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advertisement {
    vrid: u8,
    priority: u8,
    max_adver_int_centis: u16,
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
            vrid,
            priority,
            max_adver_int_centis,
            addresses,
        })
    }

    /// The virtual router this advertisement speaks for (RFC 9568 §5.2.3).
    pub fn vrid(&self) -> u8 {
        self.vrid
    }

    /// The sender's priority (RFC 9568 §5.2.4); 0 means it is resigning.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The sender's advertisement interval, from which a Backup derives its
    /// Master_Down_Interval (RFC 9568 §6.1).
    pub fn max_adver_interval(&self) -> Duration {
        duration_from_centis(self.max_adver_int_centis)
    }

    /// The virtual addresses advertised.
    pub fn addresses(&self) -> &Addresses {
        &self.addresses
    }

    /// Parses and validates a received message sent from `src` to `dst` (the
    /// IP header's addresses), reporting which checksum form it carried.
    ///
    /// The checks follow RFC 9568 §7.1 in order: length, version, type,
    /// address count, interval, checksum. Reserved bits are ignored.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(Advertisement, ChecksumForm), ParseError> {
        let addr_len = match (src, dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => IPV4_ADDR_LEN,
            (IpAddr::V6(_), IpAddr::V6(_)) => IPV6_ADDR_LEN,
            _ => return Err(ParseError::FamilyMismatch),
        };
        packet.check_len()?;
        match packet.version() {
            VERSION => {}
            2 => return Err(ParseError::Version2),
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
        let addresses = if addr_len == IPV4_ADDR_LEN {
            Addresses::V4(
                bytes
                    .chunks_exact(IPV4_ADDR_LEN)
                    .filter_map(|c| <[u8; 4]>::try_from(c).ok())
                    .map(Ipv4Addr::from)
                    .collect(),
            )
        } else {
            Addresses::V6(
                bytes
                    .chunks_exact(IPV6_ADDR_LEN)
                    .filter_map(|c| <[u8; 16]>::try_from(c).ok())
                    .map(Ipv6Addr::from)
                    .collect(),
            )
        };
        let advert = Advertisement {
            vrid: packet.vrid(),
            priority: packet.priority(),
            max_adver_int_centis,
            addresses,
        };
        Ok((advert, form))
    }

    /// Number of bytes [`Advertisement::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.addresses.wire_len()
    }

    /// Writes the message into the start of `buf` with its checksum for
    /// `src` → `dst` in the given form, and returns the bytes written.
    ///
    /// `form` matters for IPv4 only; IPv6 always uses the pseudo-header. Use
    /// [`ChecksumForm::PseudoHeader`] to be understood by keepalived and FRR.
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
        let mut packet = Packet::new_unchecked(buf);
        packet.set_version(VERSION);
        packet.set_msg_type(TYPE_ADVERTISEMENT);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        // `new` and `parse` keep the count within 1..=255.
        packet.set_addr_count(u8::try_from(self.addresses.len()).unwrap_or(u8::MAX));
        // Reserved bits zero (RFC 9568 §5.2.6); the value fits 12 bits by construction.
        packet.set_word(field::MAX_ADVER_INT.start, self.max_adver_int_centis);
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

#[cfg(test)]
mod tests {
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
        0x31, 0x33, 0x96, 0x02, 0x00, 0x64, 0x11, 0x62, 0xc0, 0x00, 0x02, 0x32, 0xc0, 0x00, 0x02,
        0x33,
    ];

    // The same message with the RFC 9568 checksum over the message only.
    static V4_MESSAGE_ONLY: [u8; 16] = [
        0x31, 0x33, 0x96, 0x02, 0x00, 0x64, 0xb3, 0xff, 0xc0, 0x00, 0x02, 0x32, 0xc0, 0x00, 0x02,
        0x33,
    ];

    // keepalived 2.2.7, fe80::441d:b6ff:fe3b:a91b -> ff02::12: VRID 52,
    // priority 100, interval 50 cs, 2001:db8::50.
    static V6: [u8; 24] = [
        0x31, 0x34, 0x64, 0x01, 0x00, 0x32, 0x9b, 0xfc, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50,
    ];

    // keepalived 2.2.7 VRRPv2 (RFC 3768): VRID 53, priority 120, 1 s,
    // 192.0.2.53, no authentication (8 zero bytes of auth data).
    static V2: [u8; 20] = [
        0x21, 0x35, 0x78, 0x01, 0x00, 0x01, 0xa4, 0x92, 0xc0, 0x00, 0x02, 0x35, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    fn v4_advert() -> Advertisement {
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
    fn recognises_vrrpv2() {
        assert_eq!(parse_v4(&V2), Err(ParseError::Version2));
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
            ParseError::Version2,
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
        assert_eq!(reasons[1], "vrrpv2");
        assert_eq!(reasons[7], "bad_checksum");
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
                Ok(_) | Err(ParseError::Version2) | Err(ParseError::BadVersion(_))
                | Err(ParseError::BadType(_)) | Err(ParseError::NoAddresses)
                | Err(ParseError::LengthMismatch { .. }) | Err(ParseError::ZeroInterval) => {}
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
