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
//!
//! VRRPv2 (RFC 3768 §5.1) shares the first four bytes; it carries an
//! Authentication Type and a whole-second Advertisement Interval where VRRPv3
//! has Max Adver Int, checksums the message alone, and ends with 8 bytes of
//! authentication data. [`Version`] says which of the two a message is; the
//! VRRPv2 fields are in `vrrp/v2.rs`.
//!
//! This file holds the wire constants, the errors and the [`Packet`] view; the
//! owned form is in `vrrp/advertisement.rs` and the tests in `vrrp/tests.rs`.

use std::net::IpAddr;
use std::time::Duration;

use thiserror::Error;

use super::checksum;

mod advertisement;
mod v2;

pub use advertisement::{Addresses, AdvertHeader, Advertisement};
pub use v2::{AUTH_DATA_LEN, AUTH_TYPE_NONE, V2_MAX_ADVER_INTERVAL};

/// IP protocol number of VRRP, for the IPv4 protocol / IPv6 next-header field
/// and the checksum pseudo-header (RFC 9568 §5.2.4).
pub const IP_PROTOCOL: u8 = 112;

/// The Version field of a VRRPv3 message (RFC 9568 §5.2.1).
pub const VERSION: u8 = 3;

/// The Version field of a VRRPv2 message (RFC 3768 §5.3.1).
pub const VERSION_2: u8 = 2;

/// Which protocol version an advertisement is: VRRPv3 (RFC 9568) or VRRPv2
/// (RFC 3768), the version keepalived sends unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// VRRPv3: interval in centiseconds, IPv4 or IPv6.
    V3,
    /// VRRPv2: interval in whole seconds, IPv4 only, 8 bytes of
    /// authentication data after the addresses.
    V2,
}

impl Version {
    /// The value of the Version field.
    pub fn number(self) -> u8 {
        match self {
            Version::V3 => VERSION,
            Version::V2 => VERSION_2,
        }
    }
}

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
    /// A version other than 2 or 3 (RFC 9568 §7.1: MUST be discarded).
    #[error("VRRP version {0}; only versions 3 and 2 exist")]
    BadVersion(u8),
    /// A VRRPv2 advert with an Authentication Type other than 0 (none).
    /// RFC 3768 §5.3.6.1 removed the simple-password type (1) and type 2 was
    /// removed before it, so only type 0 is accepted; a keepalived peer with an
    /// `authentication` block must drop it.
    #[error(
        "VRRPv2 authentication type {0}; only type 0 (none) is accepted: remove the \
         `authentication` block from the peer's configuration"
    )]
    V2Authentication(u8),
    /// A VRRPv2 advert over IPv6, which RFC 3768 does not define.
    #[error("VRRPv2 advertisement over IPv6; VRRPv2 is IPv4 only")]
    V2OverIpv6,
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
            ParseError::BadVersion(_) => "bad_version",
            ParseError::V2Authentication(_) => "v2_authentication",
            ParseError::V2OverIpv6 => "v2_over_ipv6",
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
    /// A VRRPv2 interval that is not 1 to 255 whole seconds (RFC 3768 §5.3.7).
    #[error("VRRPv2 carries the interval in whole seconds, 1s to 255s; {0:?} is not")]
    IntervalNotWholeSeconds(Duration),
    /// VRRPv2 asked for IPv6 addresses (RFC 3768 is IPv4 only).
    #[error("VRRPv2 is IPv4 only")]
    V2Ipv6,
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

    /// The Max Adver Int field of VRRPv3 (RFC 9568 §5.2.7), converted from
    /// centiseconds; a VRRPv2 message keeps its interval in
    /// [`Packet::adver_int_v2`] instead.
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

#[cfg(test)]
mod tests;
