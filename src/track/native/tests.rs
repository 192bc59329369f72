use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

use super::*;

const LIMIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn tcp_succeeds_on_a_listening_port_and_fails_on_a_closed_one() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap();
    let probe = tcp(open, LIMIT).await;
    assert!(probe.ok, "{probe:?}");
    assert!(
        probe.detail.starts_with("connected in "),
        "{}",
        probe.detail
    );

    let closed = {
        let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
        gone.local_addr().unwrap()
    };
    let probe = tcp(closed, LIMIT).await;
    assert_eq!(
        probe,
        Probe {
            ok: false,
            detail: "connection refused".into()
        }
    );
}

/// A one-response-per-connection HTTP server; returns its address and the
/// requests it received.
async fn serve(response: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while find(&request, b"\r\n\r\n").is_none() {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&request).into_owned());
            if response.is_empty() {
                // Never answer: keep the connection open.
                tokio::time::sleep(LIMIT).await;
            }
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (addr, requests)
}

fn check(addr: SocketAddr, status: u16, body_contains: Option<&str>) -> HttpCheck {
    HttpCheck {
        url: format!("http://{addr}/health?full=1"),
        addr,
        host_header: format!("{addr}"),
        path: "/health?full=1".into(),
        status,
        body_contains: body_contains.map(str::to_owned),
    }
}

const OK_RESPONSE: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 12\r\n\r\nall is well\nIGNORED";

#[tokio::test]
async fn http_checks_status_and_body() {
    let (addr, requests) = serve(OK_RESPONSE).await;
    let probe = http(&check(addr, 200, None), LIMIT).await;
    assert!(probe.ok, "{probe:?}");
    assert!(
        probe.detail.starts_with("status 200 in "),
        "{}",
        probe.detail
    );
    let request = requests.lock().unwrap()[0].clone();
    assert!(
        request.starts_with("GET /health?full=1 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nHost: {addr}\r\n")),
        "{request}"
    );
    assert!(request.contains("\r\nConnection: close\r\n"), "{request}");

    assert!(http(&check(addr, 200, Some("is well")), LIMIT).await.ok);
    // Bytes past Content-Length are not part of the body.
    let probe = http(&check(addr, 200, Some("IGNORED")), LIMIT).await;
    assert_eq!(probe.detail, "status 200 but the body lacks \"IGNORED\"");
    assert!(!probe.ok);
    let probe = http(&check(addr, 204, None), LIMIT).await;
    assert_eq!(probe.detail, "status 200, expected 204");
}

#[tokio::test]
async fn http_fails_on_an_unexpected_status() {
    let (addr, _) = serve("HTTP/1.0 503 Service Unavailable\r\n\r\ndown").await;
    let probe = http(&check(addr, 200, None), LIMIT).await;
    assert_eq!(
        probe,
        Probe {
            ok: false,
            detail: "status 503, expected 200".into()
        }
    );
    // The body until EOF when there is no Content-Length.
    assert!(http(&check(addr, 503, Some("down")), LIMIT).await.ok);
}

#[tokio::test]
async fn http_searches_chunked_bodies_raw() {
    let (addr, _) =
        serve("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nready\r\n0\r\n\r\n").await;
    assert!(http(&check(addr, 200, Some("ready")), LIMIT).await.ok);
    assert!(!http(&check(addr, 200, Some("steady")), LIMIT).await.ok);
}

#[tokio::test]
async fn http_is_bounded_by_the_timeout_and_rejects_garbage() {
    let (silent, _) = serve("").await;
    let started = Instant::now();
    let probe = http(&check(silent, 200, None), Duration::from_millis(200)).await;
    assert_eq!(probe.detail, "no complete answer within 200ms");
    assert!(started.elapsed() < Duration::from_secs(2));

    let (garbage, _) = serve("SSH-2.0-OpenSSH\r\n\r\n").await;
    let probe = http(&check(garbage, 200, None), LIMIT).await;
    assert_eq!(probe.detail, "not an HTTP response: \"SSH-2.0-OpenSSH\"");

    let closed = {
        let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
        gone.local_addr().unwrap()
    };
    assert_eq!(
        http(&check(closed, 200, None), LIMIT).await.detail,
        "connection refused"
    );
}

fn can_open_raw_sockets() -> bool {
    if Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).is_err() {
        eprintln!("skipped: no CAP_NET_RAW");
        return false;
    }
    true
}

#[tokio::test]
async fn ping_loopback_v4() {
    if !can_open_raw_sockets() {
        return;
    }
    let probe = ping(IpAddr::V4(Ipv4Addr::LOCALHOST), LIMIT).await;
    assert!(probe.ok, "{probe:?}");
    assert!(probe.detail.starts_with("reply in "), "{}", probe.detail);
    // Concurrent probes each get their own reply.
    let (a, b) = tokio::join!(
        ping(IpAddr::V4(Ipv4Addr::LOCALHOST), LIMIT),
        ping(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), LIMIT)
    );
    assert!(a.ok && b.ok, "{a:?} {b:?}");
}

#[tokio::test]
async fn ping_loopback_v6() {
    if !can_open_raw_sockets() {
        return;
    }
    // Skip where IPv6 loopback is not configured.
    if std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        eprintln!("skipped: no ::1");
        return;
    }
    let probe = ping(IpAddr::V6(Ipv6Addr::LOCALHOST), LIMIT).await;
    assert!(probe.ok, "{probe:?}");
}

#[test]
fn checksum_matches_rfc_1071() {
    assert_eq!(
        checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        0x220d
    );
    // An odd length is padded with a zero byte.
    assert_eq!(checksum(&[0x00, 0x01, 0xf2]), !0xf201);
    // A packet carrying its checksum sums to zero.
    let packet = echo_request(true, 0x1234, 7);
    assert_eq!(checksum(&packet), 0);
}

#[test]
fn only_our_echo_reply_matches() {
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut reply = vec![0x45u8; 1];
    reply.extend_from_slice(&[0; 19]);
    reply.extend_from_slice(&[ICMP_ECHO_REPLY, 0, 0, 0, 0x12, 0x34, 0, 7]);
    assert!(is_reply(v4, &reply, 0x1234, 7));
    assert!(!is_reply(v4, &reply, 0x1235, 7));
    assert!(!is_reply(v4, &reply, 0x1234, 8));
    // Our own request, seen by the raw socket on loopback, is not a reply.
    reply[20] = ICMP_ECHO_REQUEST;
    assert!(!is_reply(v4, &reply, 0x1234, 7));
    assert!(!is_reply(v4, &reply[..24], 0x1234, 7));
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert!(is_reply(
        v6,
        &[ICMPV6_ECHO_REPLY, 0, 9, 9, 0x12, 0x34, 0, 7],
        0x1234,
        7
    ));
    assert!(!is_reply(
        v6,
        &[ICMPV6_ECHO_REQUEST, 0, 9, 9, 0x12, 0x34, 0, 7],
        0x1234,
        7
    ));
}

#[test]
fn parses_status_lines_and_lengths() {
    assert_eq!(parse_status("HTTP/1.1 404 Not Found\r\n"), Some(404));
    assert_eq!(parse_status("HTTP/1.0 200\r\n"), Some(200));
    assert_eq!(parse_status("HTTP/1.1 2000 OK\r\n"), None);
    assert_eq!(parse_status("ICY 200 OK\r\n"), None);
    assert_eq!(
        content_length("HTTP/1.1 200 OK\r\nContent-Length:  42 \r\n\r\n"),
        Some(42)
    );
    assert_eq!(content_length("HTTP/1.1 200 OK\r\n\r\n"), None);
}
