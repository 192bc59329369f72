//! The metrics endpoint's bounds against a real TCP socket: the connection
//! cap, the header-read timeout, the header size and the connection time.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

/// How long a test waits for something that should happen at once (or
/// within a bound of a few hundred milliseconds).
const PROMPTLY: Duration = Duration::from_secs(3);

const REQUEST: &str = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Serves with `limits` on a loopback port; the task ends with the test's runtime.
async fn start(limits: HttpLimits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(serve_with(listener, Arc::new(Metrics::new()), limits));
    addr
}

/// Everything the server sends until it closes, or `None` if it does not
/// close within [`PROMPTLY`].
async fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut response = Vec::new();
    match tokio::time::timeout(PROMPTLY, stream.read_to_end(&mut response)).await {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&response).into_owned()),
        // A reset is a close too.
        Ok(Err(_)) => Some(String::from_utf8_lossy(&response).into_owned()),
        Err(_) => None,
    }
}

fn generous() -> HttpLimits {
    HttpLimits {
        connections: 16,
        header_read: Duration::from_secs(60),
        max_header_bytes: 16 * 1024,
        request: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_unanswered_and_the_others_served() {
    let addr = start(HttpLimits {
        connections: 2,
        ..generous()
    })
    .await;
    let mut first = TcpStream::connect(addr).await.expect("connect");
    let _second = TcpStream::connect(addr).await.expect("connect");
    let mut third = TcpStream::connect(addr).await.expect("connect");
    // The third may be closed before or after it writes.
    let _ = third.write_all(REQUEST.as_bytes()).await;
    let refused = until_closed(&mut third)
        .await
        .expect("the connection over the cap is closed at once");
    assert_eq!(refused, "", "closed unanswered");
    first.write_all(REQUEST.as_bytes()).await.expect("send");
    let served = until_closed(&mut first).await.expect("answered and closed");
    assert!(served.starts_with("HTTP/1.1 200 OK\r\n"), "{served}");
    // Its slot is free again.
    let mut next = TcpStream::connect(addr).await.expect("connect");
    next.write_all(REQUEST.as_bytes()).await.expect("send");
    let served = until_closed(&mut next).await.expect("answered and closed");
    assert!(served.starts_with("HTTP/1.1 200 OK\r\n"), "{served}");
}

#[tokio::test]
async fn a_client_that_does_not_finish_its_headers_is_let_go_after_the_header_timeout() {
    let addr = start(HttpLimits {
        header_read: Duration::from_millis(200),
        ..generous()
    })
    .await;
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: loc")
        .await
        .expect("send");
    let started = tokio::time::Instant::now();
    let answer = until_closed(&mut slow)
        .await
        .expect("closed once the header timeout passes");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "not before it: {:?}",
        started.elapsed()
    );
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn a_request_head_over_the_limit_is_refused() {
    let addr = start(generous()).await;
    let mut big = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Padding: {}\r\n\r\n",
        "x".repeat(32 * 1024)
    );
    // The server may close before it has read all of it.
    let _ = big.write_all(request.as_bytes()).await;
    let answer = until_closed(&mut big).await.expect("refused and closed");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn a_connection_is_closed_after_the_request_timeout() {
    let addr = start(HttpLimits {
        request: Duration::from_millis(300),
        ..generous()
    })
    .await;
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    let started = tokio::time::Instant::now();
    let answer = until_closed(&mut idle)
        .await
        .expect("closed once the connection time passes");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "not before it: {:?}",
        started.elapsed()
    );
    assert_eq!(answer, "");
}
