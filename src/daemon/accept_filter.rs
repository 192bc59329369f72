//! The worker that keeps the Accept_Mode table in line with the agent's
//! [`Effect::AcceptFilter`](crate::agent::Effect::AcceptFilter): only the
//! latest set matters, so it is handed over through a `watch` channel and a
//! burst of changes costs one `nft` run. The table of a crashed run is
//! removed at start and ours at stop.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, error, info};

use crate::platform::accept_filter::{self, AcceptFilterError, TABLE};

/// How long a failed `nft` run waits before the latest set is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The running worker; the daemon's loop owns it.
pub struct AcceptFilter {
    wanted: watch::Sender<BTreeSet<IpAddr>>,
    task: JoinHandle<()>,
}

impl AcceptFilter {
    /// Removes a table left by a crashed run, then starts the worker. When
    /// `required` (an instance refuses traffic), a table that cannot be
    /// managed is an error: the agent must not serve VIPs it was told to
    /// refuse traffic to.
    pub async fn start(required: bool) -> Result<Self, AcceptFilterError> {
        match accept_filter::remove().await {
            Ok(()) => {}
            Err(e) if required => return Err(e),
            Err(e) => debug!("no {TABLE} table to clear at start: {e}"),
        }
        let (wanted, mut latest) = watch::channel(BTreeSet::new());
        let task = tokio::spawn(async move {
            while latest.changed().await.is_ok() {
                let refused = latest.borrow_and_update().clone();
                match accept_filter::apply(&refused).await {
                    Ok(()) => info!(refused = ?refused, "accept filter ({TABLE}) applied"),
                    Err(e) => {
                        error!(refused = ?refused, "accept filter ({TABLE}) not applied: {e}");
                        // Try the latest set again unless a newer one comes first.
                        if tokio::time::timeout(RETRY, latest.changed()).await.is_err() {
                            latest.mark_changed();
                        }
                    }
                }
            }
        });
        Ok(AcceptFilter { wanted, task })
    }

    /// The VIPs to refuse traffic to from now on (the whole set).
    pub fn set(&self, refused: BTreeSet<IpAddr>) {
        self.wanted.send_if_modified(|current| {
            let changed = *current != refused;
            *current = refused;
            changed
        });
    }

    /// Lets the worker finish its last run, then removes the table.
    pub async fn close(self) {
        drop(self.wanted);
        let _ = self.task.await;
        if let Err(e) = accept_filter::remove().await {
            error!("cannot remove the {TABLE} table at stop: {e}");
        }
    }
}
