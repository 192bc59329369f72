//! Following the kernel's links: carrier changes, deletions and re-creations,
//! from RTNLGRP_LINK notifications, kept whole by reading every link again
//! whenever notifications may have been lost.
//!
//! The kernel drops notifications when a subscriber's receive buffer is full
//! (a burst of link changes, or a process paused for a while). A lost carrier
//! change would otherwise never be noticed, so a loss triggers a full resync
//! ([`super::multicast`] says how it is noticed and why the subscription is
//! drained first): a dump of all links, compared with what was reported
//! before. If the notification socket fails otherwise, the watcher reconnects
//! after a short backoff and resyncs the same way.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, TryStreamExt};
use rtnetlink::packet_route::link::LinkMessage;
use rtnetlink::packet_route::RouteNetlinkMessage;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::multicast::{MulticastSocket, Received};
use super::netlink::Netlink;
use super::netlink::{link_carrier, link_name};
use super::PlatformError;

/// Receive buffer asked for on the notification socket (bytes). The kernel
/// caps it at `net.core.rmem_max`; whatever is lost beyond it is recovered by
/// a resync.
const RECEIVE_BUFFER: usize = 1 << 20;

/// First wait before reconnecting after the notification socket failed.
const RECONNECT_FIRST: Duration = Duration::from_millis(100);

/// Longest wait between reconnection attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// How long to wait before reconnecting: short at first, doubling while the
/// subscription keeps failing, and short again once a resync succeeded.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: RECONNECT_FIRST,
        }
    }
}

impl Backoff {
    /// A subscription failed: the wait before the next one.
    fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(RECONNECT_MAX);
        wait
    }

    /// A subscription works (it resynced).
    fn reset(&mut self) {
        self.next = RECONNECT_FIRST;
    }
}

/// A change of one interface, as the daemon feeds it to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    /// Interface index.
    pub index: u32,
    /// Interface name (empty if the kernel did not say).
    pub name: String,
    /// Carrier present after the change; false when the interface was deleted.
    pub carrier: bool,
    /// The interface was deleted (or was missing from a resync).
    pub removed: bool,
}

/// One link as a dump or a notification describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Carrier present (IFF_LOWER_UP).
    pub carrier: bool,
}

impl LinkState {
    fn from_message(message: &LinkMessage) -> Self {
        LinkState {
            index: message.header.index,
            name: link_name(message).unwrap_or_default(),
            carrier: link_carrier(message),
        }
    }
}

/// What has been reported about each link, so that notifications and resyncs
/// turn into events only for what changed. Pure: no socket here.
#[derive(Debug, Default)]
pub struct LinkTable {
    known: HashMap<u32, (String, bool)>,
}

impl LinkTable {
    /// A notification that the link exists (new or changed): an event if its
    /// name or carrier differ from what was reported.
    pub fn present(&mut self, link: LinkState) -> Option<LinkEvent> {
        let now = (link.name.clone(), link.carrier);
        if self.known.insert(link.index, now) == Some((link.name.clone(), link.carrier)) {
            return None;
        }
        Some(LinkEvent {
            index: link.index,
            name: link.name,
            carrier: link.carrier,
            removed: false,
        })
    }

    /// A notification that the link was deleted.
    pub fn removed(&mut self, index: u32, name: String) -> LinkEvent {
        let known = self.known.remove(&index).map(|(name, _)| name);
        LinkEvent {
            index,
            name: if name.is_empty() {
                known.unwrap_or_default()
            } else {
                name
            },
            carrier: false,
            removed: true,
        }
    }

    /// A full dump: events for every link that is new or changed, and a
    /// removal for every link reported before that the dump no longer has.
    pub fn resync(&mut self, links: Vec<LinkState>) -> Vec<LinkEvent> {
        let mut gone: Vec<u32> = self
            .known
            .keys()
            .filter(|index| !links.iter().any(|l| l.index == **index))
            .copied()
            .collect();
        gone.sort_unstable();
        let mut events: Vec<LinkEvent> = gone
            .into_iter()
            .map(|index| self.removed(index, String::new()))
            .collect();
        events.extend(links.into_iter().filter_map(|link| self.present(link)));
        events
    }
}

/// Subscribes to link notifications and reports links as [`LinkEvent`]s: first
/// every link that exists (a dump), then each change. Must be called inside a
/// tokio runtime; the sockets belong to the calling thread's network namespace.
///
/// The stream does not end while it is polled: lost notifications and socket
/// failures are recovered inside it (see the module documentation).
pub fn watch_links() -> Result<LinkWatch, PlatformError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| PlatformError::NoRuntime)?;
    // The first subscription is opened here, so that a host where it cannot
    // work at all fails at start rather than retrying forever.
    let first = Subscription::open()?;
    let (events, receiver) = mpsc::unbounded_channel();
    let task = runtime.spawn(follow_links(Some(first), events));
    Ok(LinkWatch { receiver, task })
}

/// The stream returned by [`watch_links`]; dropping it closes its sockets.
pub struct LinkWatch {
    receiver: mpsc::UnboundedReceiver<LinkEvent>,
    task: JoinHandle<()>,
}

impl Stream for LinkWatch {
    type Item = LinkEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LinkEvent>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for LinkWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why following a subscription stopped.
enum Ended {
    /// Nobody reads the events any more.
    ReceiverGone,
    /// The subscription failed; reconnect.
    Failed(String),
}

/// Runs subscriptions one after the other, forever: each one is resynced
/// first, and a failed one is replaced after a backoff.
async fn follow_links(first: Option<Subscription>, events: mpsc::UnboundedSender<LinkEvent>) {
    let mut table = LinkTable::default();
    let mut backoff = Backoff::default();
    let mut next = first;
    loop {
        let opened = match next.take() {
            Some(subscription) => Ok(subscription),
            None => Subscription::open(),
        };
        let why = match opened {
            Ok(mut subscription) => {
                match subscription.follow(&mut table, &events, &mut backoff).await {
                    Ended::ReceiverGone => return,
                    Ended::Failed(why) => why,
                }
            }
            Err(e) => e.to_string(),
        };
        let wait = backoff.failed();
        warn!("link notifications: {why}; reconnecting in {wait:?}");
        tokio::time::sleep(wait).await;
    }
}

/// One subscription to RTNLGRP_LINK. See [`super::multicast`] for why a
/// resync drains the subscription first.
struct Subscription {
    notifications: MulticastSocket,
}

impl Subscription {
    fn open() -> Result<Self, PlatformError> {
        let notifications = MulticastSocket::open(&[libc::RTNLGRP_LINK], RECEIVE_BUFFER)
            .map_err(PlatformError::WatchLinks)?;
        Ok(Subscription { notifications })
    }

    /// Every link the kernel has now, read on a request connection opened
    /// for this dump and closed after it. Dumps are rare (start-up, lost
    /// notifications), and a connection kept between them held its task
    /// and a 64 KiB receive buffer for nothing.
    async fn dump() -> Result<Vec<LinkState>, String> {
        // Its connection task stops when it is dropped, at the end.
        let netlink = Netlink::connect().map_err(|e| e.to_string())?;
        let mut links = Vec::new();
        let mut stream = netlink.handle().link().get().execute();
        while let Some(message) = stream.try_next().await.map_err(|e| e.to_string())? {
            links.push(LinkState::from_message(&message));
        }
        Ok(links)
    }

    /// Resyncs, then reports notifications until the subscription fails or
    /// nobody listens; lost notifications resync again.
    async fn follow(
        &mut self,
        table: &mut LinkTable,
        events: &mpsc::UnboundedSender<LinkEvent>,
        backoff: &mut Backoff,
    ) -> Ended {
        loop {
            if let Err(e) = self.notifications.drain() {
                return Ended::Failed(format!("reading notifications failed: {e}"));
            }
            let links = match Self::dump().await {
                Ok(links) => links,
                Err(e) => return Ended::Failed(format!("reading the links failed: {e}")),
            };
            backoff.reset();
            for event in table.resync(links) {
                if events.send(event).is_err() {
                    return Ended::ReceiverGone;
                }
            }
            loop {
                let messages = match self.notifications.next().await {
                    Ok(Received::Messages(messages)) => messages,
                    Ok(Received::Lost) => {
                        info!("link notifications were lost (receive buffer full): reading every link again");
                        break;
                    }
                    Err(e) => return Ended::Failed(format!("reading notifications failed: {e}")),
                };
                for message in messages {
                    let event = match message {
                        RouteNetlinkMessage::NewLink(link) => {
                            table.present(LinkState::from_message(&link))
                        }
                        RouteNetlinkMessage::DelLink(link) => Some(
                            table.removed(link.header.index, link_name(&link).unwrap_or_default()),
                        ),
                        _ => None,
                    };
                    if let Some(event) = event {
                        if events.send(event).is_err() {
                            return Ended::ReceiverGone;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, carrier: bool) -> LinkState {
        LinkState {
            index,
            name: name.to_owned(),
            carrier,
        }
    }

    fn event(index: u32, name: &str, carrier: bool, removed: bool) -> LinkEvent {
        LinkEvent {
            index,
            name: name.to_owned(),
            carrier,
            removed,
        }
    }

    #[test]
    fn reconnecting_waits_longer_while_failing_and_short_again_once_resynced() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..7)
            .map(|_| backoff.failed().as_millis() as u64)
            .collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1600, 2000, 2000]);
        backoff.reset();
        assert_eq!(backoff.failed(), RECONNECT_FIRST);
    }

    #[test]
    fn a_notification_is_reported_only_when_name_or_carrier_changed() {
        let mut table = LinkTable::default();
        assert_eq!(
            table.present(link(2, "eth0", true)),
            Some(event(2, "eth0", true, false))
        );
        assert_eq!(table.present(link(2, "eth0", true)), None);
        assert_eq!(
            table.present(link(2, "eth0", false)),
            Some(event(2, "eth0", false, false))
        );
        assert_eq!(
            table.present(link(2, "wan", false)),
            Some(event(2, "wan", false, false)),
            "a rename is a change"
        );
    }

    #[test]
    fn a_deletion_without_a_name_is_reported_with_the_name_known() {
        let mut table = LinkTable::default();
        table.present(link(7, "vlan7", true));
        assert_eq!(
            table.removed(7, String::new()),
            event(7, "vlan7", false, true)
        );
        assert_eq!(
            table.present(link(7, "vlan7", true)),
            Some(event(7, "vlan7", true, false)),
            "a link seen again after its deletion is new"
        );
    }

    #[test]
    fn a_resync_reports_changes_new_links_and_links_that_vanished() {
        let mut table = LinkTable::default();
        table.resync(vec![link(1, "lo", true), link(2, "eth0", true)]);
        // While notifications were lost: eth0 was deleted and re-created as
        // index 9 without carrier, and lo is unchanged.
        let events = table.resync(vec![link(1, "lo", true), link(9, "eth0", false)]);
        assert_eq!(
            events,
            vec![
                event(2, "eth0", false, true),
                event(9, "eth0", false, false)
            ]
        );
        assert!(
            table
                .resync(vec![link(1, "lo", true), link(9, "eth0", false)])
                .is_empty(),
            "nothing changed since"
        );
    }

    #[test]
    fn a_resync_reports_a_carrier_change_that_no_notification_told() {
        let mut table = LinkTable::default();
        table.resync(vec![link(2, "eth0", true)]);
        assert_eq!(
            table.resync(vec![link(2, "eth0", false)]),
            vec![event(2, "eth0", false, false)]
        );
    }
}
