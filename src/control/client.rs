//! The client side of the control socket, used by the CLI verbs.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::protocol::{Request, Response, CONTROL_SOCKET};

/// How long a request may take; a reload or a switchover that does not wait
/// answers well within it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the agent may take to answer a request that waits for a
/// handover's outcome: the longest Master_Down_Interval there is (RFC 9568
/// §6.1, the longest interval at the lowest priority, about 164 s) on top of
/// [`REQUEST_TIMEOUT`]. The agent answers at its instance's own deadline.
fn answer_timeout(request: &Request) -> Duration {
    match request {
        Request::Switchover { wait: true, .. } | Request::Maintenance { wait: true, .. } => {
            crate::vrrp::master_down_interval(1, crate::vrrp::MAX_ADVER_INTERVAL) + REQUEST_TIMEOUT
        }
        _ => REQUEST_TIMEOUT,
    }
}

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No agent listens at the socket.
    #[error("cannot connect to {path}: {source}; {}", connect_hint(source))]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The connection broke or timed out.
    #[error("talking to the agent at {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The answer was not a response object.
    #[error("the agent's answer is not valid: {0}")]
    BadResponse(String),
}

/// What an operator should check when the socket cannot be reached.
fn connect_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied => "run this as the agent's user, usually root",
        _ => "the agent is not running, or it runs with another --runtime-dir",
    }
}

/// Sends `request` to the agent whose runtime directory is `runtime_dir`.
pub fn request(runtime_dir: &Path, request: &Request) -> Result<Response, ControlError> {
    let path = runtime_dir.join(CONTROL_SOCKET);
    let io = |source| ControlError::Io {
        path: path.clone(),
        source,
    };
    let mut stream = UnixStream::connect(&path).map_err(|source| ControlError::Connect {
        path: path.clone(),
        source,
    })?;
    stream
        .set_read_timeout(Some(answer_timeout(request)))
        .map_err(io)?;
    stream
        .set_write_timeout(Some(REQUEST_TIMEOUT))
        .map_err(io)?;
    let mut line =
        serde_json::to_string(request).map_err(|e| ControlError::BadResponse(e.to_string()))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).map_err(io)?;
    serde_json::from_str(&answer).map_err(|e| ControlError::BadResponse(format!("{e}: {answer:?}")))
}
