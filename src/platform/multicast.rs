//! A subscription to rtnetlink multicast groups that knows when it lost
//! notifications, and can be emptied so that a resync is complete.
//!
//! The kernel drops notifications when a subscriber's receive buffer is full
//! and says so once, with ENOBUFS on the next read. From then on it drops
//! every notification, reporting nothing more, until the subscriber has
//! emptied its receive queue. So whoever keeps state from notifications must,
//! after a loss, [`drain`](MulticastSocket::drain) the queue first and only
//! then read the kernel's state again (a dump); changes after that are
//! notified again. netlink-proto reports the overrun, but before the queue is
//! drained and without a way to drain it, so the groups are read here on a
//! socket of our own.

use std::io;
use std::task::{ready, Context, Poll};

use rtnetlink::packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::protocols::NETLINK_ROUTE;
use rtnetlink::sys::{AsyncSocket, AsyncSocketExt, TokioSocket};

/// What one read brought.
#[derive(Debug)]
pub enum Received {
    /// The messages of one datagram, in order.
    Messages(Vec<RouteNetlinkMessage>),
    /// Notifications were lost (overrun, or a datagram that could not be
    /// parsed): drain, then read the state again.
    Lost,
}

/// A netlink route socket subscribed to some multicast groups, read by the
/// calling task on the current tokio runtime.
pub struct MulticastSocket {
    socket: TokioSocket,
}

impl MulticastSocket {
    /// Subscribes to `groups` (RTNLGRP_* numbers) in the calling thread's
    /// network namespace, asking for a receive buffer of `receive_buffer`
    /// bytes (the kernel caps it at `net.core.rmem_max`).
    pub fn open(groups: &[u32], receive_buffer: usize) -> io::Result<Self> {
        let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
        let raw = socket.socket_mut();
        raw.bind_auto()?;
        for group in groups {
            raw.add_membership(*group)?;
        }
        // Best effort: a smaller buffer only loses more, and losses are
        // recovered by the caller's resync.
        let _ = raw.set_rx_buf_sz(receive_buffer);
        Ok(MulticastSocket { socket })
    }

    /// Reads and discards whatever is queued, until the queue is empty: from
    /// then on the kernel delivers notifications again.
    pub fn drain(&mut self) -> io::Result<()> {
        loop {
            // Into an empty buffer (which `recv` gives a few bytes of
            // room): the datagram is taken off the queue, the rest of it
            // cut, and nothing kept.
            let read = self
                .socket
                .socket_ref()
                .recv(&mut Vec::new(), libc::MSG_DONTWAIT);
            match read {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for the next datagram. An error other than a loss means the
    /// socket failed: open another one.
    ///
    /// The datagram is read whole into a buffer of its own size (its length
    /// peeked first): notifications are rare and mostly small, but a link's
    /// can run to tens of kilobytes (one with many SR-IOV VFs), and a
    /// 64 KiB buffer kept for that was resident in every agent.
    pub async fn next(&mut self) -> io::Result<Received> {
        match self.socket.recv_from_full().await {
            Ok((datagram, _)) => Ok(received(&datagram)),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Received::Lost),
            Err(e) => Err(e),
        }
    }

    /// Like [`next`](Self::next), as a poll, for groups whose datagrams
    /// are small and many (an address's is some hundred bytes): read with
    /// one call into `buffer`, which the caller keeps between reads. A
    /// datagram that filled it may have been cut, and counts as lost.
    pub fn poll_next_within(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<u8>,
    ) -> Poll<io::Result<Received>> {
        buffer.clear();
        Poll::Ready(match ready!(self.socket.poll_recv_from(cx, buffer)) {
            Ok(_) if buffer.len() == buffer.capacity() => Ok(Received::Lost),
            Ok(_) => Ok(received(buffer)),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Received::Lost),
            Err(e) => Err(e),
        })
    }
}

/// What a datagram read whole brought.
fn received(datagram: &[u8]) -> Received {
    parse_datagram(datagram).map_or(Received::Lost, Received::Messages)
}

/// The route messages of one notification datagram, or `None` if any part of
/// it cannot be parsed.
fn parse_datagram(bytes: &[u8]) -> Option<Vec<RouteNetlinkMessage>> {
    let mut messages = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let length = NetlinkBuffer::new_checked(rest).ok()?.length() as usize;
        let message =
            NetlinkMessage::<RouteNetlinkMessage>::deserialize(rest.get(..length)?).ok()?;
        match message.payload {
            NetlinkPayload::InnerMessage(inner) => messages.push(inner),
            NetlinkPayload::Overrun(_) => return None,
            _ => {}
        }
        // Messages are aligned to 4 bytes (NLMSG_ALIGN).
        rest = rest.get(length.next_multiple_of(4)..).unwrap_or_default();
    }
    Some(messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_core::NetlinkHeader;
    use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};

    fn new_link(index: u32, name: &str) -> Vec<u8> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.attributes.push(LinkAttribute::IfName(name.to_owned()));
        let mut message = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)),
        );
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        bytes
    }

    #[test]
    fn a_datagram_of_several_messages_is_read_in_order() {
        let mut datagram = new_link(2, "eth0");
        datagram.extend(new_link(3, "vlan7"));
        let messages = parse_datagram(&datagram).expect("parses");
        let indexes: Vec<u32> = messages
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => Some(link.header.index),
                _ => None,
            })
            .collect();
        assert_eq!(indexes, vec![2, 3]);
    }

    #[test]
    fn a_cut_datagram_counts_as_lost() {
        let mut datagram = new_link(2, "eth0");
        datagram.extend(new_link(3, "vlan7"));
        datagram.truncate(datagram.len() - 5);
        assert!(parse_datagram(&datagram).is_none());
    }
}
