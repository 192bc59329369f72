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

pub use ipv4::{split_ipv4, Ipv4Datagram, Ipv4Error, Ipv4Header};
pub use vrrp::{
    Addresses, Advertisement, BuildError, ChecksumForm, EmitError, Packet as VrrpPacket, ParseError,
};
