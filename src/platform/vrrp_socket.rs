//! Raw IP protocol 112 sockets: one per interface and address family, shared by every
//! virtual router on that interface (they are told apart by VRID).
//!
//! RFC 9568 §5.1: adverts go to 224.0.0.18 / ff02::12 with TTL / hop limit 255 and
//! are only accepted with TTL / hop limit 255, which proves they were not routed.
//! The source address is pinned per packet (IP_PKTINFO / IPV6_PKTINFO) because the
//! checksum covers it: a kernel choice that differed from ours would corrupt it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{self, sockopt, SockaddrIn6};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
mod reader;
mod send;

pub use reader::{Batch, VrrpReader};

/// IP protocol number of VRRP (RFC 9568 §5.1.1.4).
pub const IPPROTO_VRRP: i32 = 112;

/// The VRRP multicast group for IPv4 (RFC 9568 §5.1.1.2).
pub const GROUP_V4: Ipv4Addr = crate::wire::VRRP_GROUP_V4;

/// The VRRP multicast group for IPv6 (RFC 9568 §5.1.2.2).
pub const GROUP_V6: Ipv6Addr = crate::wire::VRRP_GROUP_V6;

/// Why a VRRP socket could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the VRRP socket on {interface} ({step}): {source}")]
pub struct SocketError {
    /// The interface the socket was for.
    pub interface: String,
    /// Which setup step failed.
    pub step: &'static str,
    /// What the kernel said.
    #[source]
    pub source: io::Error,
}

/// One received datagram, with the IP facts the receive checks need.
#[derive(Debug)]
pub struct Received<'a> {
    /// IP source address: the sender's primary address.
    pub source: IpAddr,
    /// IP destination address (the group, or us for unicast).
    pub destination: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6); RFC 9568 §7.1 requires 255.
    pub hop_limit: Option<u8>,
    /// The VRRP message.
    pub payload: &'a [u8],
}

/// Why a datagram was dropped before the VRRP parser saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvDrop {
    /// The IP datagram was malformed, cut short of its length, or (IPv6)
    /// came without a source address; the reason is the counter's key.
    BadIpHeader(&'static str),
    /// The kernel gave no hop limit for an IPv6 packet.
    NoHopLimit,
}

/// Receive buffer asked for on every VRRP socket (bytes; the kernel doubles it).
const RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

/// The VRRP socket of one interface and family, shared by everything that
/// sends on it. It is not registered with tokio: sends never wait (see
/// [`VrrpSocket::send_to`]), and receiving is the job of a [`VrrpReader`] on
/// a descriptor of its own ([`VrrpSocket::reader`]), so that the reader alone
/// decides when the thread is woken by arrivals.
pub struct VrrpSocket {
    socket: Socket,
    interface: String,
    ifindex: u32,
    source: IpAddr,
}

impl VrrpSocket {
    /// Opens the socket on `interface` (index `ifindex`), joins the VRRP group there,
    /// and sends from `source`: the primary IPv4 address or the IPv6 link-local.
    pub fn open(interface: &str, ifindex: u32, source: IpAddr) -> Result<Self, SocketError> {
        let socket = open_blocking(interface, ifindex, source)?;
        Self::register(socket, interface, ifindex, source)
    }

    /// Opens a socket that only sends, on the virtual MAC interface
    /// `interface` (index `ifindex`): RFC 9568 §7.3 has the Master send its
    /// adverts from the virtual router MAC, which the kernel uses as the
    /// Ethernet source of whatever leaves that macvlan. The IP source stays
    /// `source`, our address on the interface below (what peers know us by).
    /// Adverts are still received on the interface below, by its own socket:
    /// this one drops everything it is given (a filter that accepts nothing),
    /// so nothing is counted twice.
    pub fn open_sender(interface: &str, ifindex: u32, source: IpAddr) -> Result<Self, SocketError> {
        let step = |step| failed(interface, step);
        let socket = raw_socket(interface, source)?;
        // BPF "ret #0": accept no byte of any packet.
        let drop_all = [socket2::SockFilter::new(0x06, 0, 0, 0)];
        socket
            .attach_filter(&drop_all)
            .map_err(step("SO_ATTACH_FILTER"))?;
        socket
            .bind_device(Some(interface.as_bytes()))
            .map_err(step("SO_BINDTODEVICE"))?;
        set_send_options(&socket, interface, ifindex, source)?;
        Self::register(socket, interface, ifindex, source)
    }

    /// Makes `socket` non-blocking: sends must never wait, and the reader's
    /// duplicate shares the flag.
    fn register(
        socket: Socket,
        interface: &str,
        ifindex: u32,
        source: IpAddr,
    ) -> Result<Self, SocketError> {
        socket
            .set_nonblocking(true)
            .map_err(failed(interface, "O_NONBLOCK"))?;
        Ok(VrrpSocket {
            socket,
            interface: interface.to_string(),
            ifindex,
            source,
        })
    }

    /// A reader of this socket on a duplicate of its descriptor (`dup`),
    /// which the reader may take in and out of tokio's readiness on its own
    /// while senders keep this one. Only one reader per socket: datagrams
    /// are not copied between them.
    pub fn reader(&self) -> Result<VrrpReader, SocketError> {
        let socket = self
            .socket
            .try_clone()
            .map_err(failed(&self.interface, "dup"))?;
        Ok(VrrpReader::new(socket, self.interface.clone(), self.source))
    }

    /// The address our adverts carry as IP source.
    pub fn source(&self) -> IpAddr {
        self.source
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The group this socket sends to.
    pub fn group(&self) -> IpAddr {
        crate::wire::vrrp_group(self.source)
    }

    /// Sends one VRRP message to the group, from the socket's source.
    pub fn send(&self, message: &[u8]) -> io::Result<()> {
        self.send_to(message, self.source, self.group())
    }

    /// Sends one VRRP message from `source` to `destination`: the group, or
    /// a unicast peer. The source is pinned (IP_PKTINFO / IPV6_PKTINFO)
    /// because the checksum covers it.
    ///
    /// Non-blocking: a full send buffer is an error the caller counts, never a wait
    /// that would delay other routers' timers.
    pub fn send_to(&self, message: &[u8], source: IpAddr, destination: IpAddr) -> io::Result<()> {
        let fd = self.socket.as_raw_fd();
        match (source, destination) {
            (IpAddr::V4(source), IpAddr::V4(destination)) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: self.ifindex as i32,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(source).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let to = socket::SockaddrIn::from(SocketAddrV4::new(destination, 0));
                send::send_with_control(
                    fd,
                    message,
                    &to,
                    libc::IPPROTO_IP,
                    libc::IP_PKTINFO,
                    &info,
                )?;
            }
            (IpAddr::V6(source), IpAddr::V6(destination)) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: source.octets(),
                    },
                    ipi6_ifindex: self.ifindex,
                };
                // A link-local or group destination needs the interface as its scope.
                let to = SockaddrIn6::from(SocketAddrV6::new(destination, 0, 0, self.ifindex));
                send::send_with_control(
                    fd,
                    message,
                    &to,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_PKTINFO,
                    &info,
                )?;
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot send from {source} to {destination}: mixed address families"),
                ))
            }
        }
        Ok(())
    }
}

/// The receive-and-send socket of [`VrrpSocket::open`] before it is made
/// non-blocking: bound to `interface`, joined to the group, with every send option.
/// The benchmark's floor program uses it as it is, so that the floor pays for
/// exactly the sockets the agent uses.
pub fn open_blocking(interface: &str, ifindex: u32, source: IpAddr) -> Result<Socket, SocketError> {
    let step = |step| failed(interface, step);
    let socket = raw_socket(interface, source)?;
    socket
        .bind_device(Some(interface.as_bytes()))
        .map_err(step("SO_BINDTODEVICE"))?;
    // A Backup of many virtual routers takes thousands of adverts a second on
    // one socket; the default buffer (~200 KiB) overflows during any pause of
    // the event loop. As root, force a larger one; otherwise keep the default.
    let _ = socket::setsockopt(&socket, sockopt::RcvBufForce, &RECEIVE_BUFFER);
    match source {
        IpAddr::V4(addr) => {
            socket
                .join_multicast_v4_n(&GROUP_V4, &InterfaceIndexOrAddress::Index(ifindex))
                .map_err(step("join 224.0.0.18"))?;
            socket
                .set_multicast_if_v4(&addr)
                .map_err(step("IP_MULTICAST_IF"))?;
        }
        IpAddr::V6(_) => {
            socket
                .join_multicast_v6(&GROUP_V6, ifindex)
                .map_err(step("join ff02::12"))?;
            socket::setsockopt(&socket, sockopt::Ipv6RecvHopLimit, &true)
                .map_err(|e| step("IPV6_RECVHOPLIMIT")(io::Error::from(e)))?;
            socket::setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)
                .map_err(|e| step("IPV6_RECVPKTINFO")(io::Error::from(e)))?;
        }
    }
    set_send_options(&socket, interface, ifindex, source)?;
    Ok(socket)
}

/// The error of setup step `step` on `interface`.
fn failed(interface: &str, step: &'static str) -> impl FnOnce(io::Error) -> SocketError {
    let interface = interface.to_string();
    move |source| SocketError {
        interface,
        step,
        source,
    }
}

/// A raw IP socket for protocol 112 of `source`'s family.
fn raw_socket(interface: &str, source: IpAddr) -> Result<Socket, SocketError> {
    let domain = if source.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))
        .map_err(failed(interface, "socket"))
}

/// What every VRRP sender needs (RFC 9568 §5.1): TTL / hop limit 255 for the
/// group and for unicast peers, our own multicast not looped back, and for
/// IPv6 the interface the group is reached on.
fn set_send_options(
    socket: &Socket,
    interface: &str,
    ifindex: u32,
    source: IpAddr,
) -> Result<(), SocketError> {
    let step = |step| failed(interface, step);
    match source {
        IpAddr::V4(_) => {
            socket
                .set_multicast_ttl_v4(255)
                .map_err(step("IP_MULTICAST_TTL"))?;
            socket.set_ttl_v4(255).map_err(step("IP_TTL"))?;
            socket
                .set_multicast_loop_v4(false)
                .map_err(step("IP_MULTICAST_LOOP"))?;
        }
        IpAddr::V6(_) => {
            socket
                .set_multicast_if_v6(ifindex)
                .map_err(step("IPV6_MULTICAST_IF"))?;
            socket
                .set_multicast_hops_v6(255)
                .map_err(step("IPV6_MULTICAST_HOPS"))?;
            socket
                .set_unicast_hops_v6(255)
                .map_err(step("IPV6_UNICAST_HOPS"))?;
            socket
                .set_multicast_loop_v6(false)
                .map_err(step("IPV6_MULTICAST_LOOP"))?;
        }
    }
    Ok(())
}
