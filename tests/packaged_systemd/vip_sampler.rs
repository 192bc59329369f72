//! Which of two hosts holds a virtual IP, sampled hundreds of times a second.
//!
//! A failover test needs to know whether both hosts ever held the address at the
//! same time, and for how long. Spawning `ip` per look costs milliseconds per
//! fork; instead each host gets one NETLINK_ROUTE socket, opened on a thread that
//! entered that host's network namespace (a socket stays in the namespace it was
//! made in), and one thread dumps both hosts' IPv4 addresses in turn. The request
//! and the parsing are written here from rtnetlink(7), sharing nothing with the
//! agent's own netlink code.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{
    recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

// rtnetlink(7) and <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_addr.h>.
const NLMSG_HEADER_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const IFADDRMSG_LEN: usize = 8;
const IFA_LOCAL: u16 = 2;
const AF_INET: u8 = 2;

/// A NETLINK_ROUTE socket in one network namespace, to list its IPv4 addresses.
pub struct AddressProbe {
    socket: OwnedFd,
    sequence: u32,
}

impl AddressProbe {
    /// Opens the socket in the network namespace at `netns` (`/run/netns/NAME` or
    /// `/proc/PID/ns/net`); the calling thread stays where it is.
    pub fn open_in(netns: &Path) -> io::Result<AddressProbe> {
        let netns = netns.to_path_buf();
        std::thread::spawn(move || -> io::Result<AddressProbe> {
            let file = std::fs::File::open(&netns)?;
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            let socket = socket(
                AddressFamily::Netlink,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::NetlinkRoute,
            )
            .map_err(io::Error::from)?;
            Ok(AddressProbe {
                socket,
                sequence: 0,
            })
        })
        .join()
        .map_err(|_| io::Error::other("the namespace thread panicked"))?
    }

    /// Every IPv4 address (IFA_LOCAL) configured in the namespace.
    pub fn ipv4_addresses(&mut self) -> io::Result<Vec<Ipv4Addr>> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut request = Vec::with_capacity(NLMSG_HEADER_LEN + IFADDRMSG_LEN);
        request.extend_from_slice(&((NLMSG_HEADER_LEN + IFADDRMSG_LEN) as u32).to_ne_bytes());
        request.extend_from_slice(&RTM_GETADDR.to_ne_bytes());
        request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        request.extend_from_slice(&self.sequence.to_ne_bytes());
        request.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
        request.extend_from_slice(&[AF_INET, 0, 0, 0, 0, 0, 0, 0]); // ifaddrmsg
        let kernel = NetlinkAddr::new(0, 0);
        sendto(
            self.socket.as_raw_fd(),
            &request,
            &kernel,
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;

        let mut found = Vec::new();
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            let n = recv(self.socket.as_raw_fd(), &mut buffer, MsgFlags::empty())
                .map_err(io::Error::from)?;
            if parse_dump(&buffer[..n], self.sequence, &mut found)? {
                return Ok(found);
            }
        }
    }
}

/// Adds the IPv4 addresses of one datagram of an RTM_GETADDR dump to `found`;
/// true once the dump's NLMSG_DONE was seen.
fn parse_dump(datagram: &[u8], sequence: u32, found: &mut Vec<Ipv4Addr>) -> io::Result<bool> {
    let u16_at = |b: &[u8], at: usize| u16::from_ne_bytes([b[at], b[at + 1]]);
    let u32_at = |b: &[u8], at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed netlink message");
    let mut offset = 0;
    while offset + NLMSG_HEADER_LEN <= datagram.len() {
        let length = u32_at(datagram, offset) as usize;
        if length < NLMSG_HEADER_LEN || offset + length > datagram.len() {
            return Err(malformed());
        }
        let kind = u16_at(datagram, offset + 4);
        let message = &datagram[offset..offset + length];
        // Answers to an earlier request (none are left unread, but be sure).
        if u32_at(message, 8) == sequence {
            match kind {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let errno = if message.len() >= 20 {
                        i32::from_ne_bytes([message[16], message[17], message[18], message[19]])
                    } else {
                        0
                    };
                    return Err(io::Error::from_raw_os_error(-errno));
                }
                RTM_NEWADDR if message.len() >= NLMSG_HEADER_LEN + IFADDRMSG_LEN => {
                    let mut at = NLMSG_HEADER_LEN + IFADDRMSG_LEN;
                    // Attributes: u16 length (header included), u16 type, 4-aligned.
                    while at + 4 <= message.len() {
                        let attr_len = u16_at(message, at) as usize;
                        if attr_len < 4 || at + attr_len > message.len() {
                            return Err(malformed());
                        }
                        if u16_at(message, at + 2) == IFA_LOCAL && attr_len == 8 {
                            let a = &message[at + 4..at + 8];
                            found.push(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
                        }
                        at += (attr_len + 3) & !3;
                    }
                }
                _ => {}
            }
        }
        offset += (length + 3) & !3;
    }
    Ok(false)
}

/// One look at both hosts: when, and whether each held the address.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When the look started.
    pub at: Instant,
    /// Whether host 0 and host 1 held the address.
    pub held: [bool; 2],
}

/// Samples which of two hosts holds `address` on a thread of its own until
/// [`finish`](Self::finish).
pub struct VipSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<Vec<Sample>>>,
}

impl VipSampler {
    /// Starts sampling `address` on both probes every `period` (the time a look
    /// takes comes on top).
    pub fn start(mut probes: [AddressProbe; 2], address: Ipv4Addr, period: Duration) -> VipSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let at = Instant::now();
                let mut held = [false; 2];
                for (probe, held) in probes.iter_mut().zip(held.iter_mut()) {
                    *held = probe.ipv4_addresses()?.contains(&address);
                }
                samples.push(Sample { at, held });
                std::thread::sleep(period);
            }
            Ok(samples)
        });
        VipSampler { stop, thread }
    }

    /// Stops sampling and returns what was seen.
    pub fn finish(self) -> io::Result<Samples> {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self
            .thread
            .join()
            .map_err(|_| io::Error::other("the sampling thread panicked"))??;
        Ok(Samples(samples))
    }
}

/// What a [`VipSampler`] saw, in time order.
#[derive(Debug)]
pub struct Samples(pub Vec<Sample>);

impl Samples {
    /// Mean samples per second over the whole run.
    pub fn rate_hz(&self) -> f64 {
        match (self.0.first(), self.0.last()) {
            (Some(first), Some(last)) if self.0.len() > 1 => {
                (self.0.len() - 1) as f64 / (last.at - first.at).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// The longest time between two consecutive samples: nothing shorter than
    /// this can be told apart from nothing at all.
    pub fn largest_gap(&self) -> Duration {
        self.0
            .windows(2)
            .map(|w| w[1].at - w[0].at)
            .max()
            .unwrap_or_default()
    }

    /// An upper bound on how long both hosts held the address at once between
    /// `from` and `to`: every interval between two samples of which either saw
    /// both holding counts whole.
    pub fn overlap_between(&self, from: Instant, to: Instant) -> Duration {
        self.0
            .windows(2)
            .filter(|w| w[1].at >= from && w[0].at <= to)
            .filter(|w| w[0].held == [true, true] || w[1].held == [true, true])
            .map(|w| w[1].at - w[0].at)
            .sum()
    }

    /// The first sample at or after `since` where host `index` held the address
    /// (`held`) or did not.
    pub fn first(&self, since: Instant, index: usize, held: bool) -> Option<Instant> {
        self.0
            .iter()
            .find(|s| s.at >= since && s.held[index] == held)
            .map(|s| s.at)
    }

    /// Whether host `index` held the address in every sample.
    pub fn always(&self, index: usize) -> bool {
        self.0.iter().all(|s| s.held[index])
    }

    /// Whether host `index` held the address in no sample.
    pub fn never(&self, index: usize) -> bool {
        self.0.iter().all(|s| !s.held[index])
    }

    /// A compact timeline for failure messages: one line per change.
    pub fn timeline(&self) -> String {
        let Some(start) = self.0.first().map(|s| s.at) else {
            return "no samples".into();
        };
        let mut lines = Vec::new();
        let mut last = None;
        for sample in &self.0 {
            if last != Some(sample.held) {
                lines.push(format!(
                    "  {:>8.1} ms  held {:?}",
                    (sample.at - start).as_secs_f64() * 1000.0,
                    sample.held
                ));
                last = Some(sample.held);
            }
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, sequence: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&sequence.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn a_dump_yields_the_local_addresses_until_done() {
        // ifaddrmsg, IFA_ADDRESS 192.0.2.9, IFA_LOCAL 192.0.2.50, IFA_LABEL "eth0\0" (padded).
        let mut body = vec![AF_INET, 24, 0, 0, 2, 0, 0, 0];
        body.extend_from_slice(&[8, 0, 1, 0, 192, 0, 2, 9]);
        body.extend_from_slice(&[8, 0, 2, 0, 192, 0, 2, 50]);
        body.extend_from_slice(&[9, 0, 3, 0, b'e', b't', b'h', b'0', 0, 0, 0, 0]);
        let mut datagram = message(RTM_NEWADDR, 7, &body);
        let mut found = Vec::new();
        assert!(!parse_dump(&datagram, 7, &mut found).unwrap());
        assert_eq!(found, vec![Ipv4Addr::new(192, 0, 2, 50)]);
        datagram.extend(message(NLMSG_DONE, 7, &[0, 0, 0, 0]));
        found.clear();
        assert!(parse_dump(&datagram, 7, &mut found).unwrap());
        assert_eq!(found.len(), 1);
    }
}
