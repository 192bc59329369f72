//! A receive-only AF_PACKET socket for `twinstar watch`: every frame of one
//! interface (or of all), outgoing ones included, with the interface it was
//! seen on, so the watcher sees each advert's Ethernet source and TTL as they
//! were on the wire; a socket filter keeps other traffic in the kernel.
//! Opening it needs CAP_NET_RAW. Nothing is ever sent.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::sys::socket::{recvfrom, LinkAddr};
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, SockFilter, Socket, Type};

/// ETH_P_ALL in network byte order, as packet(7) wants the protocol.
fn all_protocols() -> u16 {
    (libc::ETH_P_ALL as u16).to_be()
}

/// A classic BPF program that lets through only what may be VRRP: IPv4 with
/// protocol 112, IPv6 with next header 112, and 802.1Q-tagged frames (left to
/// the decoder), so a busy link costs the watcher no copy of every frame.
/// Offsets are into the Ethernet frame: EtherType at 12, then the IPv4
/// protocol at 14 + 9, the IPv6 next header at 14 + 6.
fn vrrp_only() -> [SockFilter; 10] {
    const LDH_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
    const LDB_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let vrrp = u32::from(crate::wire::vrrp::IP_PROTOCOL);
    [
        SockFilter::new(LDH_ABS, 0, 0, 12),
        SockFilter::new(JEQ, 6, 0, 0x8100), // tagged: accept (8)
        SockFilter::new(JEQ, 0, 2, 0x0800), // IPv4: 3, else 5
        SockFilter::new(LDB_ABS, 0, 0, 14 + 9),
        SockFilter::new(JEQ, 3, 4, vrrp), // accept (8) or reject (9)
        SockFilter::new(JEQ, 0, 3, 0x86dd), // IPv6: 6, else reject (9)
        SockFilter::new(LDB_ABS, 0, 0, 14 + 6),
        SockFilter::new(JEQ, 0, 1, vrrp), // accept (8) or reject (9)
        SockFilter::new(RET, 0, 0, 0x0004_0000),
        SockFilter::new(RET, 0, 0, 0),
    ]
}

/// The capture socket.
#[derive(Debug)]
pub struct PacketCapture {
    socket: Socket,
}

/// One frame received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured {
    /// Its length in the buffer.
    pub len: usize,
    /// The interface it was seen on.
    pub ifindex: u32,
}

impl PacketCapture {
    /// Opens the socket in the calling thread's network namespace, bound to
    /// `ifindex` or, with `None`, receiving from every interface. A receive
    /// waits at most `wait`, so the caller's loop keeps its own pace.
    pub fn open(ifindex: Option<u32>, wait: Duration) -> io::Result<Self> {
        let protocol = Protocol::from(i32::from(all_protocols()));
        let socket = Socket::new(Domain::PACKET, Type::RAW.cloexec(), Some(protocol))?;
        socket.attach_filter(&vrrp_only())?;
        if let Some(ifindex) = ifindex {
            socket.bind(&bind_address(ifindex)?)?;
        }
        socket.set_read_timeout(Some(wait))?;
        Ok(PacketCapture { socket })
    }

    /// Receives one frame into `buffer`; `None` when none came in time.
    pub fn receive(&self, buffer: &mut [u8]) -> io::Result<Option<Captured>> {
        match recvfrom::<LinkAddr>(self.socket.as_raw_fd(), buffer) {
            Ok((len, from)) => {
                let ifindex = from
                    .and_then(|link| u32::try_from(link.ifindex()).ok())
                    .unwrap_or(0);
                Ok(Some(Captured { len, ifindex }))
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => Ok(None),
            Err(errno) => Err(errno.into()),
        }
    }
}

/// A `sockaddr_ll` that binds a packet socket to `ifindex` for every protocol.
fn bind_address(ifindex: u32) -> io::Result<SockAddr> {
    let ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range"))?;
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is one of this platform's socket address types, which is
    // all `view_as` requires; it is smaller than `sockaddr_storage` (checked inside).
    let ll: &mut libc::sockaddr_ll = unsafe { storage.view_as() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_protocol = all_protocols();
    ll.sll_ifindex = ifindex;
    let length = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the storage holds a fully initialised `sockaddr_ll` (the rest is zero)
    // whose family matches it, and `length` is exactly that structure's size.
    Ok(unsafe { SockAddr::new(storage, length) })
}
