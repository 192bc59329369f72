//! The daemon's end of the control socket: accepts connections, reads one
//! request each, hands it to the event loop and writes back its response.
//!
//! The event loop owns all state, so a request is answered there, between two
//! events; connections are served by their own tasks, so a slow client never
//! holds up the loop. Every resource a client can hold is bounded: at most
//! [`Limits::connections`] at once (more are refused with an answer), a time
//! to send the request and a time to take the answer. Each state-changing
//! request is logged with the caller's uid and pid (`SO_PEERCRED`), so an
//! operator can tell who moved a virtual IP.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::control::{Request, Response, CONTROL_SOCKET};

/// A request waiting for the event loop, with where its answer goes.
pub type Pending = (Request, oneshot::Sender<Response>);

/// The longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;

/// What one client may hold of the agent.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Connections served at once; more are refused with an answer saying so.
    /// The CLI opens one per command, so this is only reached by a runaway
    /// script or a hostile local user, never by operators.
    connections: usize,
    /// How long a client may take to send its request.
    read: Duration,
    /// How long a client may take to take its answer.
    write: Duration,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        connections: 16,
        read: Duration::from_secs(5),
        write: Duration::from_secs(5),
    };
}

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ControlSocketError {
    /// Binding or setting permissions failed.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configured group does not exist.
    #[error("control.group: no group named {0:?}")]
    NoSuchGroup(String),
}

/// The listening socket and its accept task.
pub struct ControlSocket {
    acceptor: JoinHandle<()>,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `<runtime_dir>/control.sock`, mode 0660, group `group` (else
    /// root's), and gives the runtime directory to `group` too so that its
    /// members can reach the socket; requests arrive on the returned receiver.
    pub fn open(
        runtime_dir: &Path,
        group: Option<&str>,
    ) -> Result<(Self, mpsc::Receiver<Pending>), ControlSocketError> {
        Self::open_with(runtime_dir, group, Limits::DEFAULT)
    }

    fn open_with(
        runtime_dir: &Path,
        group: Option<&str>,
        limits: Limits,
    ) -> Result<(Self, mpsc::Receiver<Pending>), ControlSocketError> {
        let path = runtime_dir.join(CONTROL_SOCKET);
        let io = |source| ControlSocketError::Io {
            path: path.clone(),
            source,
        };
        if path.exists() {
            // A previous run's socket; nobody can be listening on it now, as
            // the runtime directory belongs to this agent.
            std::fs::remove_file(&path).map_err(io)?;
        }
        let gid = match group {
            Some(name) => Some(
                nix::unistd::Group::from_name(name)
                    .ok()
                    .flatten()
                    .ok_or_else(|| ControlSocketError::NoSuchGroup(name.to_owned()))?
                    .gid,
            ),
            None => None,
        };
        let listener = UnixListener::bind(&path).map_err(io)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
        if let Some(gid) = gid {
            nix::unistd::chown(&path, None, Some(gid)).map_err(|e| io(e.into()))?;
            // The group must also get through the directory: systemd creates
            // it root-owned with mode 0750 (RuntimeDirectoryMode=).
            nix::unistd::chown(runtime_dir, None, Some(gid)).map_err(|e| {
                ControlSocketError::Io {
                    path: runtime_dir.to_owned(),
                    source: e.into(),
                }
            })?;
        }
        let (tx, requests) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept(listener, tx, limits));
        Ok((ControlSocket { acceptor, path }, requests))
    }

    /// Stops accepting and removes the socket file.
    pub fn close(self) {
        self.acceptor.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn accept(listener: UnixListener, requests: mpsc::Sender<Pending>, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.connections));
    loop {
        match listener.accept().await {
            Ok((stream, _)) => match slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    tokio::spawn(serve(stream, requests.clone(), limits, slot));
                }
                Err(_) => refuse(&stream, limits.connections),
            },
            Err(e) => {
                warn!("control socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Answers a connection over the cap without serving it: one line, written
/// only if the socket takes it at once, then the connection is closed.
fn refuse(stream: &UnixStream, connections: usize) {
    warn!(
        caller = %caller(stream),
        "control connection refused: {connections} already being served"
    );
    let response = Response::failed(format!(
        "too many control connections ({connections} being served); try again"
    ));
    if let Ok(mut text) = serde_json::to_string(&response) {
        text.push('\n');
        // A fresh socket's send buffer takes one short line; if not, the
        // client learns from the closed connection instead.
        let _ = stream.try_write(text.as_bytes());
    }
}

/// Who is at the other end, from `SO_PEERCRED`: the kernel's word, not the client's.
fn caller(stream: &UnixStream) -> String {
    match stream.peer_cred() {
        Ok(cred) => match cred.pid() {
            Some(pid) => format!("uid {} pid {pid}", cred.uid()),
            None => format!("uid {}", cred.uid()),
        },
        Err(e) => format!("unknown ({e})"),
    }
}

/// Whether `request` changes what the agent does (and so is logged with its caller).
fn changes_state(request: &Request) -> bool {
    match request {
        Request::Status => false,
        Request::Switchover { .. } | Request::Maintenance { .. } | Request::Reload => true,
    }
}

/// Reads one request line, waits for the loop's answer, writes it back;
/// `_slot` is this connection's place under the cap, given back on return.
async fn serve(
    stream: UnixStream,
    requests: mpsc::Sender<Pending>,
    limits: Limits,
    _slot: OwnedSemaphorePermit,
) {
    let caller = caller(&stream);
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
    let read = tokio::time::timeout(limits.read, reader.read_line(&mut line)).await;
    let response = match read {
        Ok(Ok(n)) if n > 0 => match serde_json::from_str::<Request>(&line) {
            Ok(request) => {
                if changes_state(&request) {
                    info!(%caller, ?request, "control request");
                }
                ask(&requests, request).await
            }
            Err(e) => Response::failed(format!("invalid request: {e}")),
        },
        Ok(Ok(_)) => return, // Connected and closed without asking.
        Ok(Err(e)) => Response::failed(format!("reading the request: {e}")),
        Err(_) => Response::failed(format!("no request within {:?}", limits.read)),
    };
    let mut text = serde_json::to_string(&response)
        .unwrap_or_else(|e| format!(r#"{{"ok":false,"error":"encoding the response: {e}"}}"#));
    text.push('\n');
    match tokio::time::timeout(limits.write, write.write_all(text.as_bytes())).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!("control client went away before its answer: {e}"),
        Err(_) => warn!(
            %caller,
            "control client did not take its answer within {:?}; closing",
            limits.write
        ),
    }
}

async fn ask(requests: &mpsc::Sender<Pending>, request: Request) -> Response {
    let (reply, answer) = oneshot::channel();
    if requests.send((request, reply)).await.is_err() {
        return Response::failed("the agent is shutting down");
    }
    answer
        .await
        .unwrap_or_else(|_| Response::failed("the agent is shutting down"))
}

#[cfg(test)]
mod tests;
