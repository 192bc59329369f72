//! The status file: the typed status as JSON under the runtime directory,
//! rewritten atomically after changes, so operators and tests can see state
//! and counters without a control connection.
//!
//! The event loop may run at real-time priority and must never wait for a
//! disk: it hands each snapshot to a [`StatusWriter`], which serialises and
//! writes it (and renders the metrics) on a blocking thread of normal
//! priority, skipping snapshots that a newer one has already replaced.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::warn;

use crate::control::metrics::Metrics;
use crate::control::status::Status;

/// Where the snapshot goes: `<runtime-dir>/status.json`.
pub fn path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("status.json")
}

/// Writes the snapshot atomically (temporary file, then rename).
pub fn write(runtime_dir: &Path, status: &Status) -> io::Result<()> {
    let target = path(runtime_dir);
    let tmp = runtime_dir.join(".status.json.tmp");
    let text = status.to_json_pretty().map_err(io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &target)
}

/// One snapshot for the writer: the document, and whether the metrics
/// (served only when configured) want it too.
struct Snapshot {
    status: Status,
    metrics: Option<Arc<Metrics>>,
}

/// Owns the thread that writes status snapshots off the event loop. Dropping
/// it lets the thread finish; [`close`](Self::close) waits for the last write.
pub struct StatusWriter {
    snapshots: Option<mpsc::Sender<Snapshot>>,
    thread: Option<JoinHandle<()>>,
}

impl StatusWriter {
    /// Starts the writer for `runtime_dir` on tokio's blocking pool (whose
    /// threads never inherit the loop's real-time priority:
    /// SCHED_RESET_ON_FORK).
    pub fn start(runtime_dir: PathBuf) -> Self {
        let (snapshots, received) = mpsc::channel::<Snapshot>();
        let thread = tokio::task::spawn_blocking(move || {
            while let Ok(mut snapshot) = received.recv() {
                // Only the newest matters: skip any the loop sent meanwhile.
                while let Ok(newer) = received.try_recv() {
                    snapshot = newer;
                }
                if let Some(metrics) = &snapshot.metrics {
                    metrics.update(snapshot.status.clone());
                }
                if let Err(e) = write(&runtime_dir, &snapshot.status) {
                    warn!("writing {} failed: {e}", path(&runtime_dir).display());
                }
            }
        });
        StatusWriter {
            snapshots: Some(snapshots),
            thread: Some(thread),
        }
    }

    /// Queues `status` to be written (and given to `metrics`, if served).
    pub fn publish(&self, status: Status, metrics: Option<Arc<Metrics>>) {
        if let Some(snapshots) = &self.snapshots {
            // The thread ends only once the sender is gone; a send cannot fail
            // before, and a lost snapshot after that is harmless.
            let _ = snapshots.send(Snapshot { status, metrics });
        }
    }

    /// Stops the writer after the snapshots queued so far are written.
    pub async fn close(mut self) {
        self.snapshots = None;
        if let Some(thread) = self.thread.take() {
            if let Err(e) = thread.await {
                warn!("the status writer failed: {e}");
            }
        }
    }
}
