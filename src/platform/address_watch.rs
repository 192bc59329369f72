//! The kernel's address notifications (RTNLGRP_IPV4_IFADDR and
//! RTNLGRP_IPV6_IFADDR) on a netlink socket of their own, so that a VIP
//! deleted or added behind the agent's back is noticed at once.
//!
//! The kernel drops notifications when the socket's queue is full and then
//! fails the next read with ENOBUFS; the queue is then emptied (see
//! [`super::multicast`]: until it is, the kernel drops every notification)
//! and that is reported as [`AddressNotice::Overrun`], after which the
//! reader must re-read every address, since any change may have been lost.
//!
//! The socket is read here, not through a netlink-proto connection: that
//! kept a task, a channel, and 72 KiB of read and write buffers resident for
//! notifications of some hundred bytes, and reported an overrun without
//! emptying the queue, so a re-read could still miss what followed. Each
//! notification is read with one call into a page kept for it.

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use rtnetlink::packet_route::RouteNetlinkMessage;
use tracing::warn;

use super::multicast::{MulticastSocket, Received};
use super::netlink::parse_address;
use super::PlatformError;

/// Receive buffer asked for (bytes; the kernel caps it at
/// `net.core.rmem_max`). Each lifetime renewal of a VIP is echoed here: a
/// larger buffer keeps a burst of them (thousands of instances renewing
/// together) from overrunning the socket. Should it still overrun, the
/// reader re-reads everything.
const RECEIVE_BUFFER: usize = 4 << 20;

/// The room one notification is read into: an address's is some hundred
/// bytes, a few together some more. One that fills it counts as lost.
const DATAGRAM_ROOM: usize = 4096;

/// What the kernel told about addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressNotice {
    /// An address was added or updated (`present`), or removed.
    Changed {
        /// Interface index.
        ifindex: u32,
        /// The address.
        address: IpAddr,
        /// Added or updated rather than removed.
        present: bool,
    },
    /// Notifications were lost (ENOBUFS): re-read every address.
    Overrun,
}

/// Subscribes to the IPv4 and IPv6 address notifications of the calling
/// thread's network namespace. Must be called inside a tokio runtime.
pub fn watch_addresses() -> Result<AddressWatch, PlatformError> {
    watch_addresses_buffered(RECEIVE_BUFFER)
}

/// [`watch_addresses`] with a receive buffer of `bytes` (the kernel keeps
/// it between its floor and `net.core.rmem_max`): a small one overruns
/// sooner, as a test of the overrun needs.
pub fn watch_addresses_buffered(bytes: usize) -> Result<AddressWatch, PlatformError> {
    let groups = [libc::RTNLGRP_IPV4_IFADDR, libc::RTNLGRP_IPV6_IFADDR];
    let socket = MulticastSocket::open(&groups, bytes).map_err(PlatformError::WatchAddresses)?;
    Ok(AddressWatch {
        socket: Some(socket),
        buffer: Vec::with_capacity(DATAGRAM_ROOM),
        datagram: Vec::new().into_iter(),
    })
}

/// The stream returned by [`watch_addresses`]. It ends if the netlink socket
/// fails; dropping it closes the socket.
pub struct AddressWatch {
    /// `None` once it failed.
    socket: Option<MulticastSocket>,
    /// Each datagram is read into this, kept from one read to the next.
    buffer: Vec<u8>,
    /// The messages of the last datagram not yet looked at (one nearly
    /// always; the kernel may send several together).
    datagram: std::vec::IntoIter<RouteNetlinkMessage>,
}

/// The notice a notification carries, if it is about an address.
fn notice(message: RouteNetlinkMessage) -> Option<AddressNotice> {
    let (message, present) = match message {
        RouteNetlinkMessage::NewAddress(m) => (m, true),
        RouteNetlinkMessage::DelAddress(m) => (m, false),
        _ => return None,
    };
    let raw = parse_address(&message)?;
    Some(AddressNotice::Changed {
        ifindex: message.header.index,
        address: raw.address.address,
        present,
    })
}

impl Stream for AddressWatch {
    type Item = AddressNotice;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AddressNotice>> {
        let this = &mut *self;
        loop {
            for message in this.datagram.by_ref() {
                if let Some(notice) = notice(message) {
                    return Poll::Ready(Some(notice));
                }
            }
            let Some(socket) = this.socket.as_mut() else {
                return Poll::Ready(None);
            };
            let failed = match socket.poll_next_within(cx, &mut this.buffer) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(Received::Messages(messages))) => {
                    this.datagram = messages.into_iter();
                    continue;
                }
                // Emptied first, so that the re-read that follows misses
                // nothing notified after it.
                Poll::Ready(Ok(Received::Lost)) => match socket.drain() {
                    Ok(()) => return Poll::Ready(Some(AddressNotice::Overrun)),
                    Err(e) => e,
                },
                Poll::Ready(Err(e)) => e,
            };
            warn!("reading address notifications failed: {failed}");
            this.socket = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use rtnetlink::packet_route::link::LinkMessage;
    use rtnetlink::AddressMessageBuilder;

    use super::*;

    #[test]
    fn new_and_deleted_addresses_become_notices_and_other_messages_none() {
        let address = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(7)
            .address(Ipv4Addr::new(192, 0, 2, 50), 24)
            .build();
        let changed = |present| AddressNotice::Changed {
            ifindex: 7,
            address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50)),
            present,
        };
        assert_eq!(
            notice(RouteNetlinkMessage::NewAddress(address.clone())),
            Some(changed(true))
        );
        assert_eq!(
            notice(RouteNetlinkMessage::DelAddress(address)),
            Some(changed(false))
        );
        assert_eq!(
            notice(RouteNetlinkMessage::NewLink(LinkMessage::default())),
            None
        );
    }
}
