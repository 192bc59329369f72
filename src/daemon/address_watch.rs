//! Feeds the kernel's view of the host's addresses to the agent, which
//! compares it with what each instance should hold: every address
//! notification as it comes, a full re-read after notifications were lost,
//! and a slow periodic re-read in case one was missed anyway.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::agent::{Input, KernelAddress};
use crate::platform::address_watch::{watch_addresses, AddressNotice};
use crate::platform::netlink::Netlink;
use crate::platform::PlatformError;

/// How often every address is re-read although no notification was lost:
/// a backstop, so slow that its cost does not matter at any scale.
const REREAD_EVERY: Duration = Duration::from_secs(10);

/// The running watcher; dropping it stops it.
pub struct AddressWatcher(JoinHandle<()>);

impl Drop for AddressWatcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Subscribes to address notifications and starts forwarding them as
/// [`Input::AddressChanged`] and [`Input::AddressSnapshot`].
pub fn spawn(inputs: mpsc::UnboundedSender<Input>) -> Result<AddressWatcher, PlatformError> {
    let mut notices = watch_addresses()?;
    Ok(AddressWatcher(tokio::spawn(async move {
        let mut reread = tokio::time::interval(REREAD_EVERY);
        reread.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut subscribed = true;
        loop {
            let input = tokio::select! {
                notice = notices.next(), if subscribed => match notice {
                    Some(AddressNotice::Changed { ifindex, address, present }) => {
                        Input::AddressChanged {
                            address: KernelAddress { ifindex, address },
                            present,
                        }
                    }
                    Some(AddressNotice::Overrun) => {
                        warn!("address notifications were lost; re-reading every address");
                        match snapshot().await {
                            Some(input) => input,
                            None => continue,
                        }
                    }
                    None => {
                        warn!("the address notification socket closed; re-reading every {REREAD_EVERY:?} only");
                        subscribed = false;
                        continue;
                    }
                },
                _ = reread.tick() => match snapshot().await {
                    Some(input) => input,
                    None => continue,
                },
            };
            if inputs.send(input).is_err() {
                break; // The daemon is gone.
            }
        }
    })))
}

/// Every address of the host as an input, or `None` (logged) when the read
/// failed. Read on a netlink connection opened for this read and closed
/// after it: reads come every [`REREAD_EVERY`], and a connection kept
/// between them held its task and a 64 KiB receive buffer.
///
/// The daemon also reads one before the first configuration is applied: an
/// instance whose `unicast_source` is already on its interface then starts
/// as Backup, instead of passing through Fault (and running its fault
/// hooks) until the watcher's first re-read arrives.
pub async fn snapshot() -> Option<Input> {
    let netlink = match Netlink::connect() {
        Ok(netlink) => netlink,
        Err(e) => {
            warn!("{e}");
            return None;
        }
    };
    match netlink.all_addresses().await {
        Ok(all) => Some(Input::AddressSnapshot(
            all.into_iter()
                .map(|(ifindex, a)| KernelAddress {
                    ifindex,
                    address: a.address,
                })
                .collect(),
        )),
        Err(e) => {
            warn!("{e}");
            None
        }
    }
}
