//! The receive side of a VRRP socket, on a descriptor of its own.
//!
//! Why its own descriptor: to be woken by arrivals, a descriptor must be
//! registered with tokio (epoll), and every arrival then wakes the thread.
//! A busy reader does better to stop listening and read at its own pace
//! (`daemon::receive`), which means taking the descriptor out of epoll's
//! read interest while senders go on using the socket. Both descriptors
//! name the same socket (`dup`), and only this one is ever registered, so
//! taking it out silences arrivals completely.

use std::cell::RefCell;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::task::{ready, Context, Poll};

use nix::sys::socket::{
    self, ControlMessageOwned, MsgFlags, MultiHeaders, RecvMsg, SockaddrIn, SockaddrIn6,
    SockaddrLike,
};
use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::{Received, RecvDrop, GROUP_V6};
use crate::platform::pages::ZeroedPages;
use crate::wire::ipv4::split_ipv4;

/// Reads one VRRP socket: polled for readiness like any tokio reader, or,
/// once [`VrrpReader::pause`]d, reads only when asked. Owned by the event
/// loop, which reads the socket.
pub struct VrrpReader {
    /// The reader's descriptor; `None` only while [`VrrpReader::arm`] or
    /// [`VrrpReader::pause`] moves it between the two forms.
    fd: Option<Registration>,
    interface: String,
    source: IpAddr,
}

/// Whether arrivals wake the thread.
enum Registration {
    /// Registered with tokio for read readiness (edge-triggered epoll):
    /// the first arrival after the queue was drained wakes the thread.
    Armed(AsyncFd<Socket>),
    /// Not registered: arrivals wake nobody, the queue is read when asked.
    Paused(Socket),
}

/// What one read of the socket's queue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// Datagrams handed over.
    pub count: usize,
    /// The read stopped because the queue was empty, not at the limit.
    pub emptied: bool,
}

impl VrrpReader {
    /// A reader of `socket` (non-blocking, a duplicate of a
    /// [`super::VrrpSocket`]'s descriptor), paused until first awaited.
    pub(super) fn new(socket: Socket, interface: String, source: IpAddr) -> Self {
        VrrpReader {
            fd: Some(Registration::Paused(socket)),
            interface,
            source,
        }
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Our address on the interface (what a datagram dropped before its
    /// source was known is reported from).
    pub fn source(&self) -> IpAddr {
        self.source
    }

    /// The group the socket joined.
    pub fn group(&self) -> IpAddr {
        crate::wire::vrrp_group(self.source)
    }

    /// Once the socket is readable (registering it with tokio again if it
    /// was paused), hands `each` every datagram already queued, up to
    /// `max`, in arrival order; `Err(..)` given to `each` is a datagram
    /// dropped by the IP checks. Ready once at least one was handed over;
    /// pending (the task woken at the next arrival) while none is queued.
    /// A receive error ends the batch: what came before it has been handed
    /// over, then the error is returned.
    pub fn poll_recv_ready(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        mut each: impl FnMut(Result<Received<'_>, RecvDrop>),
    ) -> Poll<io::Result<Batch>> {
        if let Err(e) = self.arm() {
            return Poll::Ready(Err(e));
        }
        let source = self.source;
        let Some(Registration::Armed(fd)) = &self.fd else {
            return Poll::Ready(Err(lost()));
        };
        loop {
            let mut guard = ready!(fd.poll_read_ready(cx))?;
            let batch = read_queued(fd.get_ref().as_raw_fd(), source, max, &mut each)?;
            if batch.emptied {
                // Edge-triggered: only an empty queue re-arms the wake-up.
                guard.clear_ready();
            }
            if batch.count > 0 {
                return Poll::Ready(Ok(batch));
            }
        }
    }

    /// Hands `each` the datagrams queued now, up to `max`, without waiting;
    /// as [`VrrpReader::poll_recv_ready`] otherwise.
    pub fn recv_queued(
        &mut self,
        max: usize,
        mut each: impl FnMut(Result<Received<'_>, RecvDrop>),
    ) -> io::Result<Batch> {
        let fd = match &self.fd {
            Some(Registration::Armed(fd)) => fd.get_ref().as_raw_fd(),
            Some(Registration::Paused(socket)) => socket.as_raw_fd(),
            None => return Err(lost()),
        };
        read_queued(fd, self.source, max, &mut each)
    }

    /// Stops arrivals from waking the thread: takes the descriptor out of
    /// epoll (one `epoll_ctl`) until the next [`VrrpReader::poll_recv_ready`].
    /// Datagrams keep queueing in the socket's buffer meanwhile.
    pub fn pause(&mut self) {
        self.fd = match self.fd.take() {
            Some(Registration::Armed(fd)) => Some(Registration::Paused(fd.into_inner())),
            other => other,
        };
    }

    /// Registers the descriptor for read readiness if it is paused (one
    /// `epoll_ctl`). epoll reports a socket that is already readable at
    /// once, so datagrams that came while paused are not left waiting.
    fn arm(&mut self) -> io::Result<()> {
        self.fd = match self.fd.take() {
            Some(Registration::Paused(socket)) => {
                // SAFETY: the socket owns its descriptor and moves into the
                // AsyncFd, which keeps it open and unchanged until it is
                // dropped or given back by `into_inner` (in `pause`).
                match unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) } {
                    Ok(fd) => Some(Registration::Armed(fd)),
                    Err(e) => {
                        let (socket, cause) = e.into_parts();
                        self.fd = Some(Registration::Paused(socket));
                        return Err(cause);
                    }
                }
            }
            other => other,
        };
        Ok(())
    }
}

/// The error of a reader whose descriptor was lost: only a panic between
/// `take` and the assignment in `arm` or `pause` could cause it.
fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the VRRP reader has no descriptor",
    )
}

/// Room for one datagram in a batched read, more than any advert needs:
/// an IPv4 datagram comes whole (at most 60 bytes of header, then 8 + 255 ×
/// 4 of VRRP), an IPv6 one as its payload alone (8 + 255 × 16). Anything
/// longer is cut to its slot and dropped as `truncated`.
const SLOT_V4: usize = 2048;
const SLOT_V6: usize = 4096;

/// Datagrams one `recvmmsg` reads at most.
const SLOTS: usize = 32;

/// The bytes of one full batch of IPv4 slots (half one of IPv6 ones).
const RECEIVE_BUFFER: usize = SLOTS * SLOT_V4;

// The buffer is fixed, so that it holds a datagram of either family is
// checked when building rather than at every read.
const _: () = assert!(RECEIVE_BUFFER >= SLOT_V4 && RECEIVE_BUFFER >= SLOT_V6);

thread_local! {
    /// The receive buffer of every reader on this thread. A read fills it
    /// and hands each datagram on (the readers copy payloads out) before it
    /// returns, and nothing awaits in between, so readers can share one:
    /// a buffer per socket was 64 KiB of resident heap each. Its pages are
    /// its own: a Master, which reads little, keeps few of them resident.
    static BUFFER: RefCell<ZeroedPages> = RefCell::new(ZeroedPages::new(RECEIVE_BUFFER));

    /// The message headers of an IPv4 read, shared the same way. Made once,
    /// not at every read: a Backup reads once per advert, and each read
    /// made and freed two blocks. An IPv4 read takes no control data, so
    /// the kernel changes nothing in them that the next read needs.
    static HEADERS_V4: RefCell<MultiHeaders<SockaddrIn>> =
        RefCell::new(MultiHeaders::preallocate(SLOTS, None));
}

/// Non-blocking reads on `fd` until the queue is empty or `max` were handed
/// to `each`. Each read is one `recvmmsg` of up to [`SLOTS`] datagrams into
/// slots of the thread's receive buffer; one that returns fewer than it had
/// room for found the queue empty, so a reader woken for one advert makes
/// one call, not a second to learn that nothing follows.
fn read_queued(
    fd: RawFd,
    source: IpAddr,
    max: usize,
    each: &mut impl FnMut(Result<Received<'_>, RecvDrop>),
) -> io::Result<Batch> {
    BUFFER.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut buffer) => read_into(fd, source, &mut buffer, max, each),
        // Only a reader's `each` reading again could get here.
        Err(_) => Err(io::Error::other("the receive buffer is in use")),
    })
}

/// [`read_queued`] into `buf`.
fn read_into(
    fd: RawFd,
    source: IpAddr,
    buf: &mut [u8],
    max: usize,
    each: &mut impl FnMut(Result<Received<'_>, RecvDrop>),
) -> io::Result<Batch> {
    let slot = match source {
        IpAddr::V4(_) => SLOT_V4,
        IpAddr::V6(_) => SLOT_V6,
    };
    let room = (buf.len() / slot).min(SLOTS);
    let mut count = 0;
    while count < max {
        let want = (max - count).min(room);
        let mut metas = [None; SLOTS];
        let read = match source {
            IpAddr::V4(_) => recv_many_v4(fd, buf, want, &mut metas),
            IpAddr::V6(_) => recv_many_v6(fd, buf, want, &mut metas),
        };
        match read {
            Ok(read) => {
                for (meta, datagram) in metas.iter().take(read).zip(buf.chunks(slot)) {
                    if let Some(meta) = meta {
                        each(meta.into_received(datagram));
                    }
                }
                count += read;
                if read < want {
                    return Ok(Batch {
                        count,
                        emptied: true,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok(Batch {
                    count,
                    emptied: true,
                })
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Batch {
        count,
        emptied: false,
    })
}

/// What a receive call learned, before borrowing the payload out of the buffer.
#[derive(Debug, Clone, Copy)]
enum Meta {
    V4 {
        len: usize,
    },
    V6 {
        len: usize,
        source: Ipv6Addr,
        destination: Option<Ipv6Addr>,
        hop_limit: Option<u8>,
    },
    /// Longer than its slot: no advert is.
    Truncated,
    /// An IPv6 datagram the kernel gave no source address for.
    Unaddressed,
}

impl Meta {
    fn into_received(self, buf: &[u8]) -> Result<Received<'_>, RecvDrop> {
        match self {
            Meta::V4 { len } => {
                let datagram = buf.get(..len).unwrap_or_default();
                let ip = split_ipv4(datagram).map_err(|e| RecvDrop::BadIpHeader(e.reason()))?;
                Ok(Received {
                    source: IpAddr::V4(ip.src),
                    destination: IpAddr::V4(ip.dst),
                    hop_limit: Some(ip.ttl),
                    payload: ip.payload,
                })
            }
            Meta::V6 {
                len,
                source,
                destination,
                hop_limit,
            } => {
                if hop_limit.is_none() {
                    return Err(RecvDrop::NoHopLimit);
                }
                Ok(Received {
                    source: IpAddr::V6(source),
                    destination: IpAddr::V6(destination.unwrap_or(GROUP_V6)),
                    hop_limit,
                    payload: buf.get(..len).unwrap_or_default(),
                })
            }
            Meta::Truncated => Err(RecvDrop::BadIpHeader("truncated")),
            Meta::Unaddressed => Err(RecvDrop::BadIpHeader("no_source_address")),
        }
    }
}

/// `buf` cut into `slot`-sized receive buffers, one per datagram of a
/// batch (the last ones empty should `buf` hold fewer than [`SLOTS`]).
fn slots(buf: &mut [u8], slot: usize) -> [[IoSliceMut<'_>; 1]; SLOTS] {
    let mut chunks = buf.chunks_mut(slot);
    std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())])
}

/// Up to `want` datagrams from an IPv4 raw socket, which hands each over
/// whole, header included: TTL and addresses come from it.
fn recv_many_v4(
    fd: RawFd,
    buf: &mut [u8],
    want: usize,
    metas: &mut [Option<Meta>; SLOTS],
) -> io::Result<usize> {
    HEADERS_V4.with(|headers| match headers.try_borrow_mut() {
        Ok(mut headers) => recv_many(fd, buf, SLOT_V4, want, &mut headers, metas, |msg| {
            Ok(Meta::V4 { len: msg.bytes })
        }),
        // Only a reader's `each` reading again could get here.
        Err(_) => Err(io::Error::other("the receive headers are in use")),
    })
}

/// Up to `want` datagrams from an IPv6 raw socket, which hands over only
/// the payload: hop limit and destination come as control messages
/// (IPV6_HOPLIMIT, IPV6_PKTINFO).
fn recv_many_v6(
    fd: RawFd,
    buf: &mut [u8],
    want: usize,
    metas: &mut [Option<Meta>; SLOTS],
) -> io::Result<usize> {
    // Made for each read, unlike IPv4's: the kernel writes back into each
    // header how much control data it delivered, and nix offers no way to
    // give a reused header its full room again.
    let control = nix::cmsg_space!(libc::c_int, libc::in6_pktinfo);
    let mut headers = MultiHeaders::<SockaddrIn6>::preallocate(want, Some(control));
    recv_many(fd, buf, SLOT_V6, want, &mut headers, metas, |msg| {
        let Some(source) = msg.address.map(|a| a.ip()) else {
            // A raw socket always names the sender; without one, the
            // datagram cannot be checked, as without a hop limit.
            return Ok(Meta::Unaddressed);
        };
        let mut hop_limit = None;
        let mut destination = None;
        for cmsg in msg.cmsgs()? {
            match cmsg {
                ControlMessageOwned::Ipv6HopLimit(limit) => hop_limit = u8::try_from(limit).ok(),
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    destination = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                }
                _ => {}
            }
        }
        Ok(Meta::V6 {
            len: msg.bytes,
            source,
            destination,
            hop_limit,
        })
    })
}

/// One `recvmmsg` of up to `want` datagrams into `slot`-sized parts of
/// `buf`, with `headers` for each datagram; `describe` tells what each one
/// that was not cut short is. Returns how many were read, their [`Meta`] in
/// `metas`.
fn recv_many<S: SockaddrLike + Copy + 'static>(
    fd: RawFd,
    buf: &mut [u8],
    slot: usize,
    want: usize,
    headers: &mut MultiHeaders<S>,
    metas: &mut [Option<Meta>; SLOTS],
    mut describe: impl FnMut(&RecvMsg<'_, '_, S>) -> io::Result<Meta>,
) -> io::Result<usize> {
    let mut iovs = slots(buf, slot);
    let results = socket::recvmmsg(
        fd,
        headers,
        iovs.iter_mut().take(want),
        MsgFlags::MSG_DONTWAIT,
        None,
    )?;
    let mut read = 0;
    for (msg, meta) in results.zip(metas.iter_mut()) {
        *meta = Some(if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            Meta::Truncated
        } else {
            describe(&msg)?
        });
        read += 1;
    }
    Ok(read)
}
