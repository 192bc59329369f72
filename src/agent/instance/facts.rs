//! What the daemon looks up about an instance's interface before the
//! instance starts (or is rebound): the facts the pure agent cannot know.

use std::net::{IpAddr, Ipv6Addr};

use crate::agent::receive::SocketKey;

/// What only the host knows about an instance's interface, looked up by the
/// daemon before the instance starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFacts {
    /// Interface index.
    pub ifindex: u32,
    /// Interface MAC: the link-layer address the announcements claim.
    pub mac: [u8; 6],
    /// IPv6 link-local address, the source of Neighbor Advertisements.
    pub link_local: Option<Ipv6Addr>,
    /// The advert source and tie-breaker: IPv4 primary or IPv6 link-local.
    pub source: IpAddr,
    /// Whether the interface is up with carrier now.
    pub carrier: bool,
    /// The instance's virtual MAC interface (`vmac`), made or adopted by the
    /// daemon on `interface` before these facts were reported. Boxed: few
    /// instances have one, and inline it made every instance 32 bytes larger.
    pub vmac: Option<Box<VirtualMacFacts>>,
}

/// The macvlan that carries an instance's virtual MAC (RFC 9568 §7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMacFacts {
    /// Its name.
    pub interface: String,
    /// Its index.
    pub ifindex: u32,
    /// The virtual router MAC: 00-00-5E-00-01-{vrid} (IPv6 -02-).
    pub mac: [u8; 6],
}

impl InstanceFacts {
    /// The socket this instance receives on (and sends on without a
    /// virtual MAC).
    pub fn socket(&self) -> SocketKey {
        SocketKey {
            ifindex: self.ifindex,
            ipv6: self.source.is_ipv6(),
        }
    }

    /// The socket this instance sends its adverts on: with a virtual MAC,
    /// the send-only socket on the macvlan, so that the adverts leave from
    /// the virtual router MAC (RFC 9568 §7.3) and teach the switches where
    /// it is; else the interface's.
    pub fn send_socket(&self) -> SocketKey {
        match &self.vmac {
            Some(vmac) => SocketKey {
                ifindex: vmac.ifindex,
                ipv6: self.source.is_ipv6(),
            },
            None => self.socket(),
        }
    }
}
