//! The control socket's bounds against a real socket: the connection cap,
//! the read and write timeouts, and the caller in the log.

use std::sync::Mutex;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::*;

/// How long a test waits for something that should happen at once.
const PROMPTLY: Duration = Duration::from_secs(3);

/// A fresh directory for one test's socket, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("twinstar-control-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create directory");
        TempDir(dir)
    }

    fn socket(&self) -> PathBuf {
        self.0.join(CONTROL_SOCKET)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn connect(dir: &TempDir) -> UnixStream {
    UnixStream::connect(dir.socket()).await.expect("connect")
}

async fn send(stream: &mut UnixStream, request: &Request) {
    let mut line = serde_json::to_string(request).expect("encode");
    line.push('\n');
    stream.write_all(line.as_bytes()).await.expect("send");
}

/// The one answer line, or `None` when none came within [`PROMPTLY`].
async fn answer(stream: &mut UnixStream) -> Option<Response> {
    let mut line = String::new();
    let mut reader = BufReader::new(stream);
    match tokio::time::timeout(PROMPTLY, reader.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => Some(serde_json::from_str(&line).expect("a response line")),
        _ => None,
    }
}

/// Plays the event loop for one request: answers it with `response`.
async fn answer_one(requests: &mut mpsc::Receiver<Pending>, response: Response) -> Request {
    let (request, reply) = tokio::time::timeout(PROMPTLY, requests.recv())
        .await
        .expect("a request reaches the loop")
        .expect("the socket is open");
    let _ = reply.send(response);
    request
}

fn ok() -> Response {
    Response {
        ok: true,
        ..Response::default()
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_at_once_and_the_others_served() {
    let dir = TempDir::new("cap");
    let limits = Limits {
        connections: 2,
        read: Duration::from_secs(60),
        write: Duration::from_secs(60),
    };
    let (socket, mut requests) = ControlSocket::open_with(&dir.0, None, limits).expect("open");
    let mut first = connect(&dir).await;
    let _second = connect(&dir).await;
    let mut third = connect(&dir).await;
    let refused = answer(&mut third)
        .await
        .expect("the connection over the cap is answered at once");
    assert!(!refused.ok);
    assert!(
        refused
            .error
            .as_deref()
            .is_some_and(|e| e.contains("too many control connections")),
        "{refused:?}"
    );
    send(&mut first, &Request::Status).await;
    answer_one(&mut requests, ok()).await;
    assert_eq!(answer(&mut first).await.map(|r| r.ok), Some(true));
    drop(first);
    // Its slot is free again.
    let mut fourth = connect(&dir).await;
    send(&mut fourth, &Request::Status).await;
    answer_one(&mut requests, ok()).await;
    assert_eq!(answer(&mut fourth).await.map(|r| r.ok), Some(true));
    socket.close();
}

#[tokio::test]
async fn a_silent_client_is_answered_and_let_go_after_the_read_timeout() {
    let dir = TempDir::new("read");
    let limits = Limits {
        connections: 1,
        read: Duration::from_millis(200),
        write: Duration::from_secs(60),
    };
    let (socket, mut requests) = ControlSocket::open_with(&dir.0, None, limits).expect("open");
    let mut silent = connect(&dir).await;
    let answered = answer(&mut silent).await.expect("told why it is let go");
    assert!(
        answered
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no request within")),
        "{answered:?}"
    );
    let mut next = connect(&dir).await;
    send(&mut next, &Request::Status).await;
    answer_one(&mut requests, ok()).await;
    assert_eq!(answer(&mut next).await.map(|r| r.ok), Some(true));
    drop(silent);
    socket.close();
}

#[tokio::test]
async fn a_client_that_does_not_take_its_answer_is_let_go_after_the_write_timeout() {
    let dir = TempDir::new("write");
    let limits = Limits {
        connections: 1,
        read: Duration::from_secs(60),
        write: Duration::from_millis(200),
    };
    let (socket, mut requests) = ControlSocket::open_with(&dir.0, None, limits).expect("open");
    let mut stuck = connect(&dir).await;
    send(&mut stuck, &Request::Status).await;
    // An answer far larger than the socket buffers, which the client never reads.
    let huge = Response {
        ok: true,
        message: Some("x".repeat(16 << 20)),
        ..Response::default()
    };
    answer_one(&mut requests, huge).await;
    // After the write timeout its slot is free: the next client is served,
    // not refused. Poll, as the timeout runs on its own.
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    loop {
        let mut next = connect(&dir).await;
        send(&mut next, &Request::Status).await;
        if let Ok(Some((_, reply))) =
            tokio::time::timeout(Duration::from_millis(100), requests.recv()).await
        {
            let _ = reply.send(ok());
            assert_eq!(answer(&mut next).await.map(|r| r.ok), Some(true));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stuck client still holds the only slot"
        );
    }
    drop(stuck);
    socket.close();
}

/// Log lines, as the fmt subscriber writes them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("not poisoned")).into_owned()
    }
}

#[tokio::test]
async fn state_changing_requests_are_logged_with_the_callers_uid_and_pid() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // This runtime has one thread, so every task logs to this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = TempDir::new("peercred");
    let (socket, mut requests) = ControlSocket::open(&dir.0, None).expect("open");
    let caller = format!(
        "uid {} pid {}",
        nix::unistd::getuid().as_raw(),
        std::process::id()
    );
    for request in [
        Request::Status,
        Request::Switchover {
            instance: "web".into(),
            wait: true,
        },
        Request::Maintenance {
            on: true,
            instance: None,
            wait: true,
            force: false,
        },
        Request::Reload,
    ] {
        let mut client = connect(&dir).await;
        send(&mut client, &request).await;
        answer_one(&mut requests, ok()).await;
        assert!(answer(&mut client).await.is_some());
    }
    let text = log.text();
    let logged: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("control request"))
        .collect();
    assert_eq!(
        logged.len(),
        3,
        "switchover, maintenance and reload:\n{text}"
    );
    for (line, what) in logged.iter().zip(["Switchover", "Maintenance", "Reload"]) {
        assert!(
            line.contains(&caller) && line.contains(what),
            "{line:?} names {what} and {caller}"
        );
    }
    socket.close();
}

#[tokio::test]
async fn a_switchover_waiting_for_its_outcome_holds_up_no_other_client() {
    let dir = TempDir::new("waiting");
    let (socket, mut requests) = ControlSocket::open(&dir.0, None).expect("open");
    let mut waiting = connect(&dir).await;
    send(
        &mut waiting,
        &Request::Switchover {
            instance: "web".into(),
            wait: true,
        },
    )
    .await;
    // The loop takes the request and keeps its reply for later, as the
    // daemon does until the agent's answer for its ticket.
    let (request, later) = tokio::time::timeout(PROMPTLY, requests.recv())
        .await
        .expect("a request reaches the loop")
        .expect("the socket is open");
    assert!(matches!(request, Request::Switchover { wait: true, .. }));
    let mut other = connect(&dir).await;
    send(&mut other, &Request::Status).await;
    answer_one(&mut requests, ok()).await;
    assert_eq!(answer(&mut other).await, Some(ok()), "served meanwhile");
    let outcome = Response::done("web: new Master 192.0.2.12 took over 0.06s");
    let _ = later.send(outcome.clone());
    assert_eq!(answer(&mut waiting).await, Some(outcome));
    socket.close();
}
