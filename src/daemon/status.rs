//! The status file: the typed status as JSON under the runtime directory,
//! rewritten atomically after changes, so operators and tests can see state
//! and counters without a control connection.
//!
//! The event loop may run at real-time priority and must never wait for a
//! disk: it hands each snapshot to a [`StatusWriter`], which serialises and
//! writes it (and renders the metrics) on a blocking thread of normal
//! priority.
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
use std::time::Instant;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::agent::Agent;
use crate::control::metrics::Metrics;
use crate::control::status::Status;

/// From how many instances a snapshot is built on a thread of its own.
const APART_FROM: usize = 32;

/// The agent's status at `now`, built where its blocks cannot split the
/// loop's heap.
///
/// A snapshot is a few small blocks per instance (names, lists, addresses
/// as text): some 7,700 at a thousand instances, allocated once a second
/// because the counters move and freed by the writer a moment later.
/// Allocated by the loop's thread they came from glibc's main heap, among
/// the instances' long-lived blocks, and what the loop allocated while the
/// writer held them settled between them: the freed blocks left pages
/// resident that `malloc_trim` could not give back. A thread of glibc
/// takes its blocks from an arena of its own, so the snapshot is built on
/// a short-lived thread, while the loop waits, as it waited for the build
/// before: its blocks all come from that arena, which is wholly free once
/// the writer has dropped them. Measured in the 4-link, 1000-instance lab
/// (`smaps` 25 s after start, three runs each, alternated): the Master's
/// heap 3412–3480 → 3000–3200 kB, its anonymous PSS 3896–3968 →
/// 3512–3712 kB; the Backup's unchanged. Below [`APART_FROM`] instances a
/// snapshot is too small to matter and a thread a second would cost more
/// than it saves; if no thread can be had, the loop builds it itself.
pub fn snapshot(agent: &Agent, now: Instant) -> Status {
    if agent.config().instances.len() < APART_FROM {
        return agent.status(now);
    }
    std::thread::scope(|scope| {
        let apart = std::thread::Builder::new()
            .name("status".to_owned())
            .spawn_scoped(scope, || agent.status(now));
        match apart {
            Ok(thread) => match thread.join() {
                Ok(status) => status,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(_) => agent.status(now),
        }
    })
}

/// Where the snapshot goes: `<runtime-dir>/status.json`.
pub fn path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("status.json")
}

/// Writes the snapshot atomically (temporary file, then rename).
pub fn write(runtime_dir: &Path, status: &Status) -> io::Result<()> {
    let target = path(runtime_dir);
    let tmp = runtime_dir.join(".status.json.tmp");
    // Streamed through a small buffer: the whole text of a thousand
    // instances, built in memory, kept a megabyte resident in this
    // thread's allocator arena between writes.
    let mut file = io::BufWriter::new(std::fs::File::create(&tmp)?);
    status
        .write_json_pretty(&mut file)
        .map_err(io::Error::other)?;
    io::Write::flush(&mut file)?;
    drop(file);
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
                    if let Some(metrics) = &snapshot.metrics {
                        metrics.update(snapshot.status.clone());
                    }
                    if let Err(e) = write(&runtime_dir, &snapshot.status) {
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

    /// Hands `status` to the thread to be written (and given to `metrics`,
    /// if served). The caller builds it only when [`is_busy`](Self::is_busy)
    /// is false.
    pub fn publish(&self, status: Status, metrics: Option<Arc<Metrics>>) {
        if let Some(snapshots) = &self.snapshots {
            self.busy.store(true, Ordering::Release);
            // The thread ends only once the sender is gone; a send cannot fail
            // before, and a lost snapshot after that is harmless.
            let _ = snapshots.send(Snapshot { status, metrics });
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
    use crate::agent::tests::{instance, instances, setup};
    use crate::control::status::samples;

    /// A snapshot built on its own thread is the one the loop would build.
    #[test]
    fn a_snapshot_built_apart_is_the_agents_status() {
        let t0 = Instant::now();
        let count = APART_FROM + 8;
        let list: Vec<String> = (1..=count)
            .map(|n| instance(&format!("vr{n}"), n as u8, 100, ""))
            .collect();
        let mut agent = Agent::new(std::collections::BTreeSet::new());
        agent.configure(t0, setup(&instances(&list)));
        let now = t0 + std::time::Duration::from_millis(250);
        let apart = snapshot(&agent, now);
        assert_eq!(apart.instances.len(), count);
        assert_eq!(apart, agent.status(now));
    }

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
