//! The kernel's address notifications (RTNLGRP_IPV4_IFADDR and
//! RTNLGRP_IPV6_IFADDR) on a netlink socket of their own, so that a VIP
//! deleted or added behind the agent's back is noticed at once.
//!
//! The kernel drops notifications when the socket's queue is full and then
//! fails the next read with ENOBUFS; that is reported as
//! [`AddressNotice::Overrun`], after which the reader must re-read every
//! address, since any change may have been lost.

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc::UnboundedReceiver;
use futures::{Stream, StreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::AsyncSocket;
use rtnetlink::MulticastGroup;
use tokio::task::JoinHandle;

use super::netlink::{parse_address, spawn_connection};
use super::PlatformError;

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
    let (mut connection, _handle, messages) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ])
    .map_err(PlatformError::WatchAddresses)?;
    // Each lifetime refresh of a VIP is echoed here: a larger buffer keeps a
    // burst of them (thousands of instances) from overrunning the socket.
    // Should it still overrun, the reader re-reads everything.
    let _ = connection.socket_mut().socket_mut().set_rx_buf_sz(4 << 20);
    let task = spawn_connection(connection)?;
    Ok(AddressWatch { messages, task })
}

/// The stream returned by [`watch_addresses`]. It ends if the netlink socket
/// fails; dropping it closes the socket.
pub struct AddressWatch {
    messages: UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
    task: JoinHandle<()>,
}

/// The notice a notification carries, if it is about an address.
fn notice(message: NetlinkMessage<RouteNetlinkMessage>) -> Option<AddressNotice> {
    let (message, present) = match message.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(m)) => (m, true),
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(m)) => (m, false),
        NetlinkPayload::Overrun(_) => return Some(AddressNotice::Overrun),
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
        loop {
            match self.messages.poll_next_unpin(cx) {
                Poll::Ready(Some((message, _))) => {
                    if let Some(notice) = notice(message) {
                        return Poll::Ready(Some(notice));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for AddressWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use rtnetlink::packet_core::NetlinkHeader;
    use rtnetlink::AddressMessageBuilder;

    use super::*;

    fn message(
        payload: NetlinkPayload<RouteNetlinkMessage>,
    ) -> NetlinkMessage<RouteNetlinkMessage> {
        NetlinkMessage::new(NetlinkHeader::default(), payload)
    }

    #[test]
    fn new_and_deleted_addresses_and_overruns_become_notices() {
        let address = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(7)
            .address(Ipv4Addr::new(192, 0, 2, 50), 24)
            .build();
        let added = message(NetlinkPayload::InnerMessage(
            RouteNetlinkMessage::NewAddress(address.clone()),
        ));
        let removed = message(NetlinkPayload::InnerMessage(
            RouteNetlinkMessage::DelAddress(address),
        ));
        let changed = |present| AddressNotice::Changed {
            ifindex: 7,
            address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50)),
            present,
        };
        assert_eq!(notice(added), Some(changed(true)));
        assert_eq!(notice(removed), Some(changed(false)));
        assert_eq!(
            notice(message(NetlinkPayload::Overrun(Vec::new()))),
            Some(AddressNotice::Overrun)
        );
    }
}
