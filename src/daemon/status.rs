//! The status file: the typed status as JSON under the runtime directory,
//! rewritten atomically after changes, so operators and tests can see state
//! and counters without a control connection.
//!
//! The event loop may run at real-time priority and must never wait for a
//! disk: it hands each snapshot to a [`StatusWriter`], which writes it (and
//! gives it to the metrics) on a blocking thread of normal priority. The
//! snapshot is the document's text, made by the loop one instance at a
//! time, or, when the metrics are served (they render each scrape from the
//! document), the document itself.
//!
//! A snapshot is built only when the writer can take it: while one is being
//! written, changes only mark the status pending, and the loop builds the
//! newest snapshot once the writer says it is free ([`StatusWriter::ready`]).
//! With a thousand instances a snapshot is some 90 KiB, and an instance
//! start-up changes state hundreds of times a second: snapshots queued
//! behind a slow disk once held over 100 MiB at the peak.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::Notify;
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
    // Streamed through a small buffer: the whole text of a thousand
    // instances, built in memory, kept a megabyte resident in this
    // thread's allocator arena between writes.
    replace(runtime_dir, |file| {
        let mut file = io::BufWriter::new(file);
        status
            .write_json_pretty(&mut file)
            .map_err(io::Error::other)?;
        io::Write::flush(&mut file)
    })
}

/// Writes `text`, a document's text already made, atomically.
pub fn write_text(runtime_dir: &Path, text: &[u8]) -> io::Result<()> {
    replace(runtime_dir, |mut file| {
        io::Write::write_all(&mut file, text)
    })
}

/// Replaces the status file with what `fill` writes to a temporary file,
/// renamed over it once written.
fn replace(
    runtime_dir: &Path,
    fill: impl FnOnce(std::fs::File) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = runtime_dir.join(".status.json.tmp");
    fill(std::fs::File::create(&tmp)?)?;
    std::fs::rename(&tmp, path(runtime_dir))
}

/// One snapshot for the writer.
pub enum Snapshot {
    /// The document's text, made by the loop (see [`Shell`]'s status
    /// text): all the writer has to do is write it.
    ///
    /// [`Shell`]: super::shell::Shell
    Text(Vec<u8>),
    /// The document itself, for the metrics (served only when configured,
    /// and rendered from the document at each scrape) and the file.
    Document {
        /// The status.
        status: Status,
        /// The metrics to hand it to.
        metrics: Arc<Metrics>,
    },
}

/// Owns the thread that writes status snapshots off the event loop. Dropping
/// it lets the thread finish; [`close`](Self::close) waits for the last write.
pub struct StatusWriter {
    snapshots: Option<mpsc::Sender<Snapshot>>,
    thread: Option<JoinHandle<()>>,
    /// True from a [`publish`](Self::publish) until its snapshot is written.
    busy: Arc<AtomicBool>,
    /// Told each time the thread has finished a snapshot.
    ready: Arc<Notify>,
}

impl StatusWriter {
    /// Starts the writer for `runtime_dir` on tokio's blocking pool (whose
    /// threads never inherit the loop's real-time priority:
    /// SCHED_RESET_ON_FORK).
    pub fn start(runtime_dir: PathBuf) -> Self {
        let (snapshots, received) = mpsc::channel::<Snapshot>();
        let busy = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(Notify::new());
        let thread = {
            let (busy, ready) = (busy.clone(), ready.clone());
            tokio::task::spawn_blocking(move || {
                while let Ok(snapshot) = received.recv() {
                    let written = match &snapshot {
                        Snapshot::Text(text) => write_text(&runtime_dir, text),
                        Snapshot::Document { status, metrics } => {
                            metrics.update(status.clone());
                            write(&runtime_dir, status)
                        }
                    };
                    if let Err(e) = written {
                        warn!("writing {} failed: {e}", path(&runtime_dir).display());
                    }
                    // Freed before the loop is told, so that at most one
                    // snapshot is alive while the next is built.
                    drop(snapshot);
                    busy.store(false, Ordering::Release);
                    ready.notify_one();
                }
            })
        };
        StatusWriter {
            snapshots: Some(snapshots),
            thread: Some(thread),
            busy,
            ready,
        }
    }

    /// Whether a snapshot handed over is still being written (the next one
    /// waits for [`ready`](Self::ready)).
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// What the thread tells when it has finished a snapshot; the loop
    /// waits on it while a newer status is pending.
    pub fn ready(&self) -> Arc<Notify> {
        self.ready.clone()
    }

    /// Hands `snapshot` to the thread to be written. The caller builds it
    /// only when [`is_busy`](Self::is_busy) is false.
    pub fn publish(&self, snapshot: Snapshot) {
        if let Some(snapshots) = &self.snapshots {
            self.busy.store(true, Ordering::Release);
            // The thread ends only once the sender is gone; a send cannot fail
            // before, and a lost snapshot after that is harmless.
            let _ = snapshots.send(snapshot);
        }
    }

    /// Waits until the snapshot handed over last is written.
    pub async fn idle(&self) {
        while self.is_busy() {
            self.ready.notified().await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::status::samples;

    /// The file holds exactly the document's text, streamed, and replaces
    /// an older one whole.
    #[test]
    fn writes_the_document_text_in_place_of_the_old_file() {
        let dir = std::env::temp_dir().join(format!("twinstar-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        std::fs::write(path(&dir), "x".repeat(100_000)).expect("old file");
        let status = samples::sample();
        let written = write(&dir, &status).and_then(|()| std::fs::read_to_string(path(&dir)));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            written.expect("written and read back"),
            status.to_json_pretty().expect("serialisable")
        );
    }
}
