//! A third host on the lab segment that sends forged VRRP adverts with a raw
//! socket, and what the tests measure of its effect: frames the agents send,
//! counted by nftables in the bridge, and status-file rewrites, counted by
//! inotify.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use twinstar::lab::Namespace;
use twinstar::wire::vrrp::{Addresses, Advertisement, ChecksumForm};

const VRRP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const VRRP_PROTOCOL: i32 = 112;

/// A valid VRRPv3 advert from `source` for `vrid` with `priority` and
/// `interval`, claiming `vip`.
pub fn advert(source: Ipv4Addr, vrid: u8, priority: u8, interval: Duration, vip: &str) -> Vec<u8> {
    Advertisement::new(
        vrid,
        priority,
        interval,
        Addresses::V4(vec![vip.parse().expect("an IPv4 VIP")]),
    )
    .expect("a valid advert")
    .to_bytes(
        IpAddr::V4(source),
        IpAddr::V4(VRRP_GROUP),
        ChecksumForm::PseudoHeader,
    )
    .expect("emits")
}

/// Sends `packet` from namespace `ns` (address `source`, interface eth0) to
/// the VRRP group with TTL 255, `per_second` times a second for `span` (once
/// at least), on a thread of its own; the thread returns how many it sent.
pub fn send(
    ns: &str,
    source: Ipv4Addr,
    packet: Vec<u8>,
    per_second: u32,
    span: Duration,
) -> JoinHandle<u64> {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        // Only this thread enters the attacker's network namespace.
        twinstar::lab::enter_namespace(&ns).expect("enter the attacker's namespace");
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(VRRP_PROTOCOL)))
            .expect("raw socket");
        socket.bind_device(Some(b"eth0")).expect("bind eth0");
        socket
            .set_multicast_if_v4(&source)
            .expect("multicast interface");
        socket.set_multicast_loop_v4(false).expect("no loop");
        socket.set_multicast_ttl_v4(255).expect("TTL 255");
        let to = SockAddr::from(SocketAddrV4::new(VRRP_GROUP, 0));
        let start = Instant::now();
        let mut sent = 0u64;
        loop {
            // Paced: catch up to the rate every millisecond.
            let elapsed = start.elapsed().min(span);
            let due = (elapsed.as_secs_f64() * f64::from(per_second)) as u64 + 1;
            while sent < due {
                let n = socket.send_to(&packet, &to).expect("send");
                assert_eq!(n, packet.len(), "short send");
                sent += 1;
            }
            if start.elapsed() >= span {
                return sent;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

/// nftables counters in the lab's bridge namespace of the frames one host
/// sends (by its bridge port): VRRP adverts, and ARP frames for one address.
/// Counted at the bridge's prerouting hook, so a frame flooded to every port
/// counts once, and nothing a user-space capture could miss is missed.
pub struct FrameCounter<'a> {
    bridge: &'a Namespace,
}

const TABLE: &str = "twinstar_frames";

impl<'a> FrameCounter<'a> {
    /// Counts what enters the bridge on `port`: adverts and ARP frames whose
    /// sender address is `announced`.
    pub fn start(bridge: &'a Namespace, port: &str, announced: &str) -> Self {
        let script = format!(
            "table bridge {TABLE} {{\n\
               counter adverts {{}}\n\
               counter arps {{}}\n\
               chain count {{\n\
                 type filter hook prerouting priority 0; policy accept;\n\
                 iifname \"{port}\" ether type ip ip protocol 112 counter name adverts\n\
                 iifname \"{port}\" ether type arp arp saddr ip {announced} counter name arps\n\
               }}\n\
             }}\n"
        );
        let path = std::env::temp_dir().join(format!(
            "twinstar-frames-{}-{}.nft",
            bridge.name(),
            std::process::id()
        ));
        std::fs::write(&path, script).expect("write the nft script");
        let path_text = path.to_string_lossy().into_owned();
        let out = bridge.exec("nft", &["-f", &path_text]).expect("run nft");
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "nft: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        FrameCounter { bridge }
    }

    fn read(&self, counter: &str) -> u64 {
        let out = self
            .bridge
            .exec("nft", &["list", "counter", "bridge", TABLE, counter])
            .expect("run nft");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        words
            .find(|w| *w == "packets")
            .and(words.next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no packet count in {text:?}"))
    }

    /// (adverts, ARP frames) counted so far.
    pub fn frames(&self) -> (u64, u64) {
        (self.read("adverts"), self.read("arps"))
    }
}

impl Drop for FrameCounter<'_> {
    fn drop(&mut self) {
        let _ = self
            .bridge
            .exec("nft", &["delete", "table", "bridge", TABLE]);
    }
}

/// Counts the times a file in a directory is replaced by a rename (how the
/// agent rewrites status.json), exactly: every rename is an inotify event.
pub struct RewriteCounter {
    inotify: Inotify,
    name: String,
}

impl RewriteCounter {
    /// Watches `dir` for renames onto `name`.
    pub fn start(dir: &Path, name: &str) -> Self {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK).expect("inotify");
        // Renames away from the temporary file too: inotify merges an unread
        // event into the one before it when both are alike (cookies aside),
        // so back-to-back IN_MOVED_TO events alone would count as one.
        inotify
            .add_watch(
                dir,
                AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_MOVED_FROM,
            )
            .expect("watch the runtime directory");
        RewriteCounter {
            inotify,
            name: name.to_owned(),
        }
    }

    /// Rewrites since the last call.
    pub fn take(&self) -> u64 {
        let mut count = 0;
        while let Ok(events) = self.inotify.read_events() {
            if events.is_empty() {
                break;
            }
            count += events
                .iter()
                .filter(|e| e.mask.contains(AddWatchFlags::IN_MOVED_TO))
                .filter(|e| e.name.as_deref().and_then(|n| n.to_str()) == Some(self.name.as_str()))
                .count() as u64;
        }
        count
    }
}

/// CPU time a process has used (user + system), from /proc; for printing.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).ok().filter(|n| *n > 0)?;
    Some(Duration::from_millis(ticks * 1000 / per_second))
}
