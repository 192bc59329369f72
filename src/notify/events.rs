//! The event stream: every transition, priority change, tracked-object change,
//! hook result and sync-group change as one JSON line
//! ([`crate::notify::record::EventRecord`]), written to the configured sinks
//! (a FIFO and/or a Unix socket).
//!
//! Writing never blocks the event loop: lines go into a broadcast channel, and one
//! task per sink (per connected client for the socket) writes them out. A client
//! too slow to keep up loses lines and is told how many; with no reader on the
//! FIFO, lines are dropped, as a FIFO has nobody to deliver them to.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::config::EventSinks;
use crate::notify::record::EventRecord;

/// Lines a slow subscriber may fall behind before it loses some.
const BACKLOG: usize = 4096;

/// Why a sink could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EventSinkError {
    /// The FIFO could not be created, or the path is something else.
    #[error("event FIFO {path}: {reason}")]
    Fifo {
        /// The configured path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The socket could not be bound.
    #[error("event socket {path}: {source}")]
    Socket {
        /// The configured path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The publishing side of the event stream, owned by the event loop.
pub struct EventStream {
    /// The lines, with a sink configured only: the channel's ring of
    /// [`BACKLOG`] slots is 160 KiB, written through when it is made.
    lines: Option<broadcast::Sender<Arc<str>>>,
    fifo_writer: Option<JoinHandle<()>>,
    acceptor: Option<JoinHandle<()>>,
    /// One clone per connected client task: close waits for them to drain.
    clients: Arc<()>,
    socket_path: Option<PathBuf>,
}

impl EventStream {
    /// Opens the configured sinks; with none configured, events cost one check.
    pub fn open(config: &EventSinks) -> Result<Self, EventSinkError> {
        let wanted = config.fifo.is_some() || config.socket.is_some();
        let mut stream = EventStream {
            lines: wanted.then(|| broadcast::channel(BACKLOG).0),
            fifo_writer: None,
            acceptor: None,
            clients: Arc::new(()),
            socket_path: None,
        };
        if let (Some(path), Some(lines)) = (&config.fifo, &stream.lines) {
            create_fifo(path)?;
            let rx = lines.subscribe();
            stream.fifo_writer = Some(tokio::spawn(write_fifo(path.clone(), rx)));
        }
        if let (Some(path), Some(lines)) = (&config.socket, &stream.lines) {
            let listener = bind(path).map_err(|source| EventSinkError::Socket {
                path: path.clone(),
                source,
            })?;
            // Weak, so that dropping the stream closes every client's feed.
            let lines = lines.downgrade();
            let clients = stream.clients.clone();
            stream.acceptor = Some(tokio::spawn(accept(listener, lines, clients)));
            stream.socket_path = Some(path.clone());
        }
        Ok(stream)
    }

    /// Publishes one event as a line stamped with the current `time`.
    pub fn emit(&self, event: &EventRecord) {
        let Some(lines) = &self.lines else {
            return;
        };
        let line = match event.to_line(&rfc3339_now()) {
            Ok(line) => line + "\n",
            Err(e) => {
                warn!("event not published: {e}");
                return;
            }
        };
        // An error means no subscriber right now (no FIFO reader, no client).
        let _ = lines.send(Arc::from(line));
    }

    /// Stops accepting clients and lets the FIFO writer drain what was published
    /// (up to `grace`); connected clients get the rest and then end of stream.
    pub async fn close(self, grace: Duration) {
        if let Some(acceptor) = self.acceptor {
            acceptor.abort();
        }
        drop(self.lines);
        let deadline = tokio::time::Instant::now() + grace;
        if let Some(writer) = self.fifo_writer {
            let abort = writer.abort_handle();
            if tokio::time::timeout_at(deadline, writer).await.is_err() {
                abort.abort();
            }
        }
        while Arc::strong_count(&self.clients) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if let Some(path) = self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Makes `path` a FIFO (mode 0600) unless it already is one.
fn create_fifo(path: &Path) -> Result<(), EventSinkError> {
    let fail = |reason: String| EventSinkError::Fifo {
        path: path.to_owned(),
        reason,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_fifo() => Ok(()),
        Ok(_) => Err(fail("exists and is not a FIFO".into())),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(|e| fail(format!("cannot create: {e}")))
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Writes every line to the FIFO while a reader has it open; drops lines otherwise.
async fn write_fifo(path: PathBuf, mut lines: broadcast::Receiver<Arc<str>>) {
    let mut fifo: Option<std::fs::File> = None;
    loop {
        let line = match lines.recv().await {
            Ok(line) => line,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                debug!("event FIFO fell behind by {n} lines");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if fifo.is_none() {
            // O_NONBLOCK: opening fails with ENXIO at once when nobody reads.
            fifo = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .ok();
        }
        if let Some(file) = &mut fifo {
            match file.write(line.as_bytes()) {
                Ok(n) if n == line.len() => {}
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    debug!("event FIFO full; reader too slow, line dropped");
                }
                Err(_) => fifo = None, // The reader went away (EPIPE).
            }
        }
    }
}

/// Binds the socket (replacing a stale one from a previous run), mode 0600.
fn bind(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(std::io::Error::new(
                ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ))
        }
        Err(_) => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn accept(listener: UnixListener, lines: broadcast::WeakSender<Arc<str>>, clients: Arc<()>) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                let Some(lines) = lines.upgrade() else { return };
                let token = clients.clone();
                tokio::spawn(serve_client(client, lines.subscribe(), token));
            }
            Err(e) => {
                warn!("event socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Streams lines to one client until it disconnects or the stream closes.
async fn serve_client(
    mut client: UnixStream,
    mut lines: broadcast::Receiver<Arc<str>>,
    _token: Arc<()>,
) {
    loop {
        let line: Arc<str> = match lines.recv().await {
            Ok(line) => line,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                Arc::from(format!("{{\"type\":\"lagged\",\"missed\":{missed}}}\n"))
            }
            Err(broadcast::error::RecvError::Closed) => {
                let _ = client.shutdown().await;
                return;
            }
        };
        if client.write_all(line.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Now as RFC 3339 UTC with milliseconds, e.g. `2026-11-25T01:02:03.456Z`.
pub fn rfc3339_now() -> String {
    rfc3339(SystemTime::now())
}

/// `at` as RFC 3339 UTC with milliseconds.
pub fn rfc3339(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::record::GroupEvent;
    use crate::vrrp::State;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let at = UNIX_EPOCH + Duration::from_millis(1_795_568_523_456);
        assert_eq!(rfc3339(at), "2026-11-25T01:02:03.456Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[tokio::test]
    async fn socket_clients_receive_every_line_in_order() {
        let dir = std::env::temp_dir().join(format!("twinstar-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.sock");
        let sinks = EventSinks {
            fifo: None,
            socket: Some(path.clone()),
        };
        let stream = EventStream::open(&sinks).unwrap();
        let client = tokio::net::UnixStream::connect(&path).await.unwrap();
        // Let the accept loop subscribe the client before publishing.
        while stream.lines.as_ref().unwrap().receiver_count() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for n in 0..100 {
            stream.emit(&EventRecord::Group(GroupEvent {
                group: format!("g{n}"),
                from: State::Backup,
                to: State::Master,
            }));
        }
        stream.close(Duration::from_secs(2)).await;
        let mut text = String::new();
        let mut client = client;
        tokio::io::AsyncReadExt::read_to_string(&mut client, &mut text)
            .await
            .unwrap();
        let groups: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["type"], "group");
                assert!(v["time"].is_string(), "{l}");
                v["group"].as_str().unwrap().to_owned()
            })
            .collect();
        let want: Vec<String> = (0..100).map(|n| format!("g{n}")).collect();
        assert_eq!(groups, want);
        assert!(!path.exists(), "close removes the socket");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
