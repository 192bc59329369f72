//! Probes done inside the agent: TCP connect, HTTP GET and ICMP echo.
//!
//! Forking a process per check every second is costly and fragile; these
//! probes are a socket each, bounded by the check's timeout, and report a short
//! human-readable detail for status and logs.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::socket::SockaddrStorage;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::config::{format_duration, HttpCheck};

/// Most body bytes searched for `body_contains`.
const BODY_LIMIT: usize = 64 * 1024;
/// Longest response header accepted.
const HEADER_LIMIT: usize = 16 * 1024;

/// The result of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Whether the object counts as healthy for this run.
    pub ok: bool,
    /// What happened, short: "connected in 0.3 ms", "connection refused".
    pub detail: String,
}

impl Probe {
    fn ok(detail: String) -> Probe {
        Probe { ok: true, detail }
    }

    fn fail(detail: String) -> Probe {
        Probe { ok: false, detail }
    }
}

/// Up when a TCP connection to `addr` is established within `timeout`.
pub async fn tcp(addr: SocketAddr, timeout: Duration) -> Probe {
    let started = Instant::now();
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => Probe::ok(format!("connected in {}", millis(started.elapsed()))),
        Ok(Err(e)) => Probe::fail(short_error(&e)),
        Err(_) => Probe::fail(format!("no connection within {}", format_duration(timeout))),
    }
}

/// Up when a plain-HTTP GET of the check's URL answers with the expected
/// status (and, if set, a body whose first 64 KiB hold the substring), the
/// whole exchange within `timeout`.
pub async fn http(check: &HttpCheck, timeout: Duration) -> Probe {
    let started = Instant::now();
    let response = match tokio::time::timeout(timeout, exchange(check)).await {
        Ok(Ok(response)) => response,
        Ok(Err(detail)) => return Probe::fail(detail),
        Err(_) => {
            return Probe::fail(format!(
                "no complete answer within {}",
                format_duration(timeout)
            ))
        }
    };
    if response.status != check.status {
        return Probe::fail(format!(
            "status {}, expected {}",
            response.status, check.status
        ));
    }
    if let Some(needle) = &check.body_contains {
        if !contains(&response.body, needle.as_bytes()) {
            return Probe::fail(format!(
                "status {} but the body lacks {needle:?}",
                response.status
            ));
        }
    }
    Probe::ok(format!(
        "status {} in {}",
        response.status,
        millis(started.elapsed())
    ))
}

struct Response {
    status: u16,
    /// Empty unless the check looks at the body.
    body: Vec<u8>,
}

async fn exchange(check: &HttpCheck) -> Result<Response, String> {
    let mut stream = TcpStream::connect(check.addr)
        .await
        .map_err(|e| short_error(&e))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: twinstar\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        check.path, check.host_header
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request failed: {}", short_error(&e)))?;
    let mut data = Vec::with_capacity(4096);
    let header_end = loop {
        if let Some(end) = find(&data, b"\r\n\r\n") {
            break end + 4;
        }
        if data.len() > HEADER_LIMIT {
            return Err("response header too long".to_owned());
        }
        if read_some(&mut stream, &mut data).await? == 0 {
            return Err(if data.is_empty() {
                "connection closed without a response".to_owned()
            } else {
                "connection closed in the middle of the response header".to_owned()
            });
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).into_owned();
    let status = parse_status(&head)
        .ok_or_else(|| format!("not an HTTP response: {:?}", first_line(&head)))?;
    if check.body_contains.is_none() {
        return Ok(Response {
            status,
            body: Vec::new(),
        });
    }
    let wanted = content_length(&head).map_or(BODY_LIMIT, |n| n.min(BODY_LIMIT));
    let mut body = data.split_off(header_end);
    while body.len() < wanted {
        if read_some(&mut stream, &mut body).await? == 0 {
            break;
        }
    }
    body.truncate(wanted);
    Ok(Response { status, body })
}

async fn read_some(stream: &mut TcpStream, into: &mut Vec<u8>) -> Result<usize, String> {
    let mut buf = [0u8; 4096];
    let n = stream
        .read(&mut buf)
        .await
        .map_err(|e| format!("reading the response failed: {}", short_error(&e)))?;
    into.extend_from_slice(&buf[..n]);
    Ok(n)
}

/// The status code of an `HTTP/1.x NNN reason` status line.
fn parse_status(head: &str) -> Option<u16> {
    let mut words = first_line(head).split(' ');
    let version = words.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

fn first_line(head: &str) -> &str {
    head.split("\r\n").next().unwrap_or("")
}

fn content_length(head: &str) -> Option<usize> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            value.trim().parse().ok()
        } else {
            None
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || find(haystack, needle).is_some()
}

/// Up when `addr` answers an ICMP (or ICMPv6) echo request within `timeout`.
///
/// Uses a raw socket, so the agent needs CAP_NET_RAW (it has it as root).
/// Every probe has its own identifier, and only an echo reply from `addr`
/// with that identifier and sequence number counts; other ICMP traffic seen by
/// the raw socket is ignored.
pub async fn ping(addr: IpAddr, timeout: Duration) -> Probe {
    let started = Instant::now();
    match tokio::time::timeout(timeout, echo(addr)).await {
        Ok(Ok(())) => Probe::ok(format!("reply in {}", millis(started.elapsed()))),
        Ok(Err(detail)) => Probe::fail(detail),
        Err(_) => Probe::fail(format!("no reply within {}", format_duration(timeout))),
    }
}

const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;

async fn echo(addr: IpAddr) -> Result<(), String> {
    let (domain, protocol) = match addr {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let socket = Socket::new(domain, Type::RAW, Some(protocol))
        .and_then(|s| s.set_nonblocking(true).map(|()| s))
        .map_err(|e| format!("cannot open an ICMP socket: {}", short_error(&e)))?;
    // SAFETY: the Socket owns its descriptor, which stays open and the same
    // until the AsyncFd (which owns the Socket) is dropped.
    let socket = unsafe { AsyncFd::register(socket) }
        .map_err(io::Error::from)
        .map_err(|e| format!("cannot watch the ICMP socket: {}", short_error(&e)))?;
    let (ident, seq) = next_ident();
    let request = echo_request(addr.is_ipv4(), ident, seq);
    let dest = SockAddr::from(SocketAddr::new(addr, 0));
    socket
        .async_io(Interest::WRITABLE, |s| s.send_to(&request, &dest))
        .await
        .map_err(|e| short_error(&e))?;
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = socket
            .async_io(Interest::READABLE, |s| {
                nix::sys::socket::recvfrom::<SockaddrStorage>(s.as_raw_fd(), &mut buf)
                    .map_err(io::Error::from)
            })
            .await
            .map_err(|e| format!("receiving failed: {}", short_error(&e)))?;
        if from.and_then(|f| source_ip(&f)) == Some(addr) && is_reply(addr, &buf[..n], ident, seq) {
            return Ok(());
        }
    }
}

/// A fresh (identifier, sequence) for each probe, distinct between the
/// probes of this agent and, through the pid, likely from other pingers.
fn next_ident() -> (u16, u16) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let ident = (std::process::id() as u16).wrapping_add(n as u16);
    let seq = (n >> 16) as u16 ^ 0x7473;
    (ident, seq)
}

fn echo_request(v4: bool, ident: u16, seq: u16) -> Vec<u8> {
    let kind = if v4 {
        ICMP_ECHO_REQUEST
    } else {
        ICMPV6_ECHO_REQUEST
    };
    let mut packet = vec![kind, 0, 0, 0];
    packet.extend_from_slice(&ident.to_be_bytes());
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(b"twinstar-probe..");
    if v4 {
        // The kernel fills in the ICMPv6 checksum (it covers a pseudo-header),
        // but not the ICMPv4 one.
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn source_ip(from: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = from.as_sockaddr_in() {
        Some(IpAddr::V4(v4.ip()))
    } else {
        from.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
    }
}

/// Whether `data` (an IPv4 packet for ICMPv4 raw sockets, the bare message
/// for ICMPv6) is our echo reply.
fn is_reply(addr: IpAddr, data: &[u8], ident: u16, seq: u16) -> bool {
    let (message, reply_type) = match addr {
        IpAddr::V4(_) => {
            let Some(&first) = data.first() else {
                return false;
            };
            let header_len = usize::from(first & 0x0f) * 4;
            (data.get(header_len..).unwrap_or(&[]), ICMP_ECHO_REPLY)
        }
        IpAddr::V6(_) => (data, ICMPV6_ECHO_REPLY),
    };
    message.len() >= 8
        && message[0] == reply_type
        && message[1] == 0
        && message[4..6] == ident.to_be_bytes()
        && message[6..8] == seq.to_be_bytes()
}

/// "0.3 ms": enough precision for a local check.
fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// An I/O error as a short lower-case phrase: "connection refused".
fn short_error(e: &io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_owned(),
        None => e.to_string(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests;
