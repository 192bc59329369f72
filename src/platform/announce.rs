//! Sending gratuitous ARP and unsolicited Neighbor Advertisements.
//!
//! The frames come from [`crate::wire::arp`] and [`crate::wire::ndisc`]; this module
//! only puts them on a link through one AF_PACKET socket. The socket is opened with
//! protocol 0, so the kernel delivers nothing to it: a sender needs no receive path.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use socket2::{Domain, SockAddr, SockAddrStorage, Socket, Type};

use super::PlatformError;
use crate::wire::arp::{gratuitous_arp, BROADCAST_MAC};
use crate::wire::ndisc::{unsolicited_na, ALL_NODES_MAC};

/// Sends the announcements a new Master owes the LAN (RFC 9568 §6.4) on any interface,
/// through one raw AF_PACKET socket. Opening it needs CAP_NET_RAW; sends never block.
#[derive(Debug)]
pub struct Announcer {
    socket: Socket,
}

impl Announcer {
    /// Opens the AF_PACKET socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, PlatformError> {
        let socket = Socket::new(Domain::PACKET, Type::RAW.cloexec(), None)
            .map_err(PlatformError::OpenPacketSocket)?;
        socket
            .set_nonblocking(true)
            .map_err(PlatformError::OpenPacketSocket)?;
        Ok(Announcer { socket })
    }

    /// Broadcasts a gratuitous ARP request for `address` from `mac` on interface `ifindex`.
    pub fn send_garp(
        &self,
        ifindex: u32,
        mac: [u8; 6],
        address: Ipv4Addr,
    ) -> Result<(), PlatformError> {
        let frame = gratuitous_arp(mac, address);
        self.send(ifindex, BROADCAST_MAC, &frame).map_err(|source| {
            PlatformError::SendAnnouncement {
                kind: "gratuitous ARP",
                address: IpAddr::V4(address),
                interface_index: ifindex,
                source,
            }
        })
    }

    /// Sends an unsolicited Neighbor Advertisement for `target` to all nodes (ff02::1)
    /// on interface `ifindex`, from link-local `source` and `mac`; `router` sets the R flag.
    pub fn send_unsolicited_na(
        &self,
        ifindex: u32,
        mac: [u8; 6],
        source: Ipv6Addr,
        target: Ipv6Addr,
        router: bool,
    ) -> Result<(), PlatformError> {
        let frame = unsolicited_na(mac, source, target, router);
        self.send(ifindex, ALL_NODES_MAC, &frame)
            .map_err(|error| PlatformError::SendAnnouncement {
                kind: "unsolicited neighbor advertisement",
                address: IpAddr::V6(target),
                interface_index: ifindex,
                source: error,
            })
    }

    /// Sends one complete Ethernet frame out of `ifindex`.
    fn send(&self, ifindex: u32, destination: [u8; 6], frame: &[u8]) -> io::Result<()> {
        let address = link_layer_address(ifindex, destination)?;
        let sent = self.socket.send_to(frame, &address)?;
        if sent != frame.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", frame.len()),
            ));
        }
        Ok(())
    }
}

/// A `sockaddr_ll` naming the interface and destination MAC for `sendto` on a
/// SOCK_RAW packet socket (packet(7)); the frame already carries its Ethernet header.
fn link_layer_address(ifindex: u32, destination: [u8; 6]) -> io::Result<SockAddr> {
    let ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range"))?;
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is one of this platform's socket address types, which is
    // all `view_as` requires; it is smaller than `sockaddr_storage` (checked inside).
    let ll: &mut libc::sockaddr_ll = unsafe { storage.view_as() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_ifindex = ifindex;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&destination);
    let length = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the storage holds a fully initialised `sockaddr_ll` (the rest is zero)
    // whose family matches it, and `length` is exactly that structure's size.
    Ok(unsafe { SockAddr::new(storage, length) })
}
