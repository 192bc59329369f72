//! The VRRPv2 fields of the advertisement view (RFC 3768 §5.1), and the
//! VRRPv2 halves of parsing and emitting an [`Advertisement`].
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Adver Int   |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address(es)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (1)                   |
//! |                     Authentication Data (2)                   |
//! ```

use std::net::IpAddr;
use std::time::Duration;

use super::{
    Addresses, AdvertHeader, Advertisement, BuildError, ChecksumForm, EmitError, Packet,
    ParseError, Version, HEADER_LEN, IPV4_ADDR_LEN, TYPE_ADVERTISEMENT, VERSION_2,
};

/// Authentication Type 0, "No Authentication" (RFC 3768 §5.3.6): the only
/// type accepted and sent. keepalived sends it when its configuration has no
/// `authentication` block.
pub const AUTH_TYPE_NONE: u8 = 0;

/// Length of the Authentication Data after the addresses (RFC 3768 §5.3.10).
pub const AUTH_DATA_LEN: usize = 8;

/// The longest VRRPv2 interval: one octet of seconds (RFC 3768 §5.3.7).
pub const V2_MAX_ADVER_INTERVAL: Duration = Duration::from_secs(255);

/// Byte offsets of the fields that differ from VRRPv3.
mod field {
    /// Auth Type: where VRRPv3 has the reserved bits and the high bits of
    /// Max Adver Int.
    pub const AUTH_TYPE: usize = 4;
    /// Adver Int, in seconds.
    pub const ADVER_INT: usize = 5;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// The Auth Type field of a VRRPv2 message (RFC 3768 §5.3.6).
    pub fn auth_type(&self) -> u8 {
        self.byte(field::AUTH_TYPE)
    }

    /// The Adver Int field of a VRRPv2 message (RFC 3768 §5.3.7), in whole
    /// seconds on the wire.
    pub fn adver_int_v2(&self) -> Duration {
        Duration::from_secs(u64::from(self.byte(field::ADVER_INT)))
    }

    /// The last 8 bytes of a VRRPv2 message: its Authentication Data (RFC 3768
    /// §5.3.10), zero for type 0. Empty when the message is shorter.
    pub fn auth_data(&self) -> &[u8] {
        let bytes = self.address_bytes();
        bytes
            .len()
            .checked_sub(AUTH_DATA_LEN)
            .and_then(|start| bytes.get(start..))
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Auth Type field of a VRRPv2 message.
    pub fn set_auth_type(&mut self, auth_type: u8) {
        self.set_byte(field::AUTH_TYPE, auth_type);
    }

    /// Sets the Adver Int field of a VRRPv2 message, refusing what is not
    /// 1 to 255 whole seconds.
    pub fn set_adver_int_v2(&mut self, interval: Duration) -> Result<(), BuildError> {
        let seconds = seconds_from_duration(interval)?;
        self.set_byte(field::ADVER_INT, seconds);
        Ok(())
    }
}

/// Converts an interval to the VRRPv2 octet of seconds, refusing zero,
/// fractions and more than 255 s.
pub(super) fn seconds_from_duration(interval: Duration) -> Result<u8, BuildError> {
    if interval.subsec_nanos() != 0 || interval.is_zero() || interval > V2_MAX_ADVER_INTERVAL {
        return Err(BuildError::IntervalNotWholeSeconds(interval));
    }
    u8::try_from(interval.as_secs()).map_err(|_| BuildError::IntervalNotWholeSeconds(interval))
}

/// Checks the VRRPv2 message in `packet`, whose version the caller checked,
/// sent from `src` to `dst`, for [`Advertisement::check`]. The checks
/// follow RFC 3768 §7.1: type, address count against the length,
/// authentication type, interval, then the checksum, which covers the
/// message alone (RFC 3768 §5.3.8).
pub(super) fn check<T: AsRef<[u8]>>(
    packet: &Packet<T>,
    src: IpAddr,
    dst: IpAddr,
) -> Result<(AdvertHeader, ChecksumForm), ParseError> {
    match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => {}
        (IpAddr::V6(_), IpAddr::V6(_)) => return Err(ParseError::V2OverIpv6),
        _ => return Err(ParseError::FamilyMismatch),
    }
    if packet.msg_type() != TYPE_ADVERTISEMENT {
        return Err(ParseError::BadType(packet.msg_type()));
    }
    let count = packet.addr_count();
    if count == 0 {
        return Err(ParseError::NoAddresses);
    }
    let bytes = packet.address_bytes();
    if bytes.len() != usize::from(count) * IPV4_ADDR_LEN + AUTH_DATA_LEN {
        return Err(ParseError::LengthMismatch {
            count,
            len: bytes.len(),
        });
    }
    if packet.auth_type() != AUTH_TYPE_NONE {
        return Err(ParseError::V2Authentication(packet.auth_type()));
    }
    let seconds = packet.byte(field::ADVER_INT);
    if seconds == 0 {
        return Err(ParseError::ZeroInterval);
    }
    if packet.compute_checksum(src, dst, ChecksumForm::MessageOnly) != Some(packet.checksum()) {
        return Err(ParseError::BadChecksum);
    }
    let header = AdvertHeader {
        version: Version::V2,
        vrid: packet.vrid(),
        priority: packet.priority(),
        // As `Advertisement::new_v2` keeps it: 1..=255 s is 100..=25500 cs.
        max_adver_int_centis: u16::from(seconds) * 100,
    };
    Ok((header, ChecksumForm::MessageOnly))
}

/// Writes `advert` as a VRRPv2 message into `buf` (exactly its length) with
/// type-0 authentication: zero Auth Type and zero Authentication Data (RFC
/// 3768 §5.3.6.1), and the checksum over the message alone whatever `form`
/// the caller configured for VRRPv3 (RFC 3768 §5.3.8 has no other).
pub(super) fn emit(
    advert: &Advertisement,
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
) -> Result<(), EmitError> {
    let Addresses::V4(addrs) = advert.addresses() else {
        return Err(EmitError::FamilyMismatch);
    };
    let mut packet = Packet::new_unchecked(buf);
    packet.set_version(VERSION_2);
    packet.set_msg_type(TYPE_ADVERTISEMENT);
    packet.set_vrid(advert.vrid());
    packet.set_priority(advert.priority());
    // `new_v2` keeps the count within 1..=255.
    packet.set_addr_count(u8::try_from(addrs.len()).unwrap_or(u8::MAX));
    packet.set_auth_type(AUTH_TYPE_NONE);
    // `new_v2` and `parse` keep the interval within 1..=255 whole seconds.
    let seconds = seconds_from_duration(advert.max_adver_interval()).unwrap_or(u8::MAX);
    packet.set_byte(field::ADVER_INT, seconds);
    packet.set_checksum(0);
    let out = packet.address_bytes_mut();
    out.fill(0);
    for (chunk, addr) in out.chunks_exact_mut(IPV4_ADDR_LEN).zip(addrs) {
        chunk.copy_from_slice(&addr.octets());
    }
    packet.fill_checksum(src, dst, ChecksumForm::MessageOnly)
}

/// Bytes a VRRPv2 message with `count` addresses takes.
pub(super) fn buffer_len(count: usize) -> usize {
    HEADER_LEN + count * IPV4_ADDR_LEN + AUTH_DATA_LEN
}

#[cfg(test)]
mod tests;
