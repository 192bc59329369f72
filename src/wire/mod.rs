//! Packet formats: checked views over bytes plus owned representations.
//!
//! Each protocol has a view (`Packet<T>`) that proves its buffer is long
//! enough and reads one field per accessor, and an owned representation with
//! `parse`, `buffer_len` and `emit`. Nothing here panics on received bytes:
//! every failure is a typed error whose `reason()` labels a drop counter.

pub mod arp;
pub mod checksum;
pub mod ipv4;
pub mod ndisc;
pub mod vrrp;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The VRRP multicast group for IPv4 (RFC 9568 §5.1.1.2): every advert goes there.
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// The VRRP multicast group for IPv6 (RFC 9568 §5.1.2.2).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// The group an advert sent from `source` goes to: the one of its family.
pub fn vrrp_group(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V4(_) => IpAddr::V4(VRRP_GROUP_V4),
        IpAddr::V6(_) => IpAddr::V6(VRRP_GROUP_V6),
    }
}

pub use ipv4::{split_ipv4, Ipv4Datagram, Ipv4Error, Ipv4Header};
pub use vrrp::{
    Addresses, AdvertHeader, Advertisement, BuildError, ChecksumForm, EmitError,
    Packet as VrrpPacket, ParseError,
};
