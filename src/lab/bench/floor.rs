//! The benchmark's floor: what the kernel costs to move the agents' packets
//! with no agent logic at all. `twinstar bench-floor send` sends the very
//! adverts a Master of the same virtual routers sends, `bench-floor receive`
//! takes them in as a Backup's socket would, both on the sockets the agent
//! opens ([`open_blocking`]: same options, same multicast joins), and nothing
//! else: no parsing, no state, no event loop.
//!
//! The sender builds each advert once, then every interval sends it with one
//! `sendto`; the routers' phases are spread over the interval in 1 ms ticks
//! ([`PhaseSchedule`]), so a tick carries `routers / (interval / 1 ms)` adverts.
//! The receiver takes one `recv` per datagram into one buffer, in one thread:
//! blocking on a single socket (no `poll` or `epoll` at all), with `poll` and
//! a drain of each readable socket when there are several. Both run until SIGTERM or SIGINT, then print what they
//! counted ([`Report`]) so the benchmark can check that nothing was lost.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{self as nix_socket, MsgFlags};
use socket2::{SockAddr, Socket};

use crate::platform::vrrp_socket::{open_blocking, SocketError, GROUP_V4};
use crate::wire::vrrp::{Addresses, Advertisement, ChecksumForm};

/// The floor sender's time step: the agent's timers are spread no finer.
pub const TICK: Duration = Duration::from_millis(1);

/// Why the floor program could not run.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    /// A `--router` argument is not `INTERFACE,VRID,PRIORITY,VIP`.
    #[error("router `{text}`: {why} (expected INTERFACE,VRID,PRIORITY,VIP, e.g. eth0,51,150,192.0.2.50)")]
    BadRouter {
        /// The argument as given.
        text: String,
        /// Which part is wrong.
        why: &'static str,
    },
    /// The interface does not exist or has no IPv4 address to send from.
    #[error("interface {0}: no such interface or no IPv4 address on it")]
    NoSource(String),
    /// The advert could not be built.
    #[error("building the advert of VRID {vrid}: {detail}")]
    Build {
        /// The VRID.
        vrid: u8,
        /// What the codec said.
        detail: String,
    },
    /// A socket could not be set up.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// Sending or receiving failed for good, or the signals could not be set up.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// One virtual router whose adverts the floor sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloorRouter {
    /// The interface it advertises on.
    pub interface: String,
    /// VRID.
    pub vrid: u8,
    /// Priority carried in the advert.
    pub priority: u8,
    /// Its one virtual IPv4 address, as the agent's advert carries it.
    pub vip: Ipv4Addr,
}

impl FloorRouter {
    /// The command-line form, `INTERFACE,VRID,PRIORITY,VIP`.
    pub fn to_arg(&self) -> String {
        format!(
            "{},{},{},{}",
            self.interface, self.vrid, self.priority, self.vip
        )
    }
}

impl std::str::FromStr for FloorRouter {
    type Err = FloorError;

    fn from_str(text: &str) -> Result<Self, FloorError> {
        let bad = |why| FloorError::BadRouter {
            text: text.to_owned(),
            why,
        };
        let mut parts = text.split(',');
        let interface = parts.next().filter(|i| !i.is_empty());
        let (Some(interface), Some(vrid), Some(priority), Some(vip), None) = (
            interface,
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad("not four comma-separated parts"));
        };
        let vrid = vrid
            .parse::<u8>()
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| bad("VRID is not in 1..=255"))?;
        let priority = priority
            .parse::<u8>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| bad("priority is not in 1..=255"))?;
        let vip = vip
            .parse::<Ipv4Addr>()
            .map_err(|_| bad("VIP is not an IPv4 address"))?;
        Ok(FloorRouter {
            interface: interface.to_owned(),
            vrid,
            priority,
            vip,
        })
    }
}

/// Which routers are due at each 1 ms tick: router `i` at ticks `i mod n`,
/// `i mod n + n`, ... where `n` is the interval in ticks, so that the routers'
/// phases are spread evenly and every tick carries the same share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseSchedule {
    /// `slots[t]`: the routers due at every tick `t + k·slots.len()`.
    slots: Vec<Vec<usize>>,
}

impl PhaseSchedule {
    /// The schedule of `routers` routers advertising every `interval` (at
    /// least one tick).
    pub fn new(routers: usize, interval: Duration) -> Self {
        let ticks = (interval.as_nanos() / TICK.as_nanos()).max(1);
        let ticks = usize::try_from(ticks).unwrap_or(usize::MAX).min(1 << 20);
        let mut slots = vec![Vec::new(); ticks];
        for router in 0..routers {
            slots[router % ticks].push(router);
        }
        PhaseSchedule { slots }
    }

    /// The routers due at `tick` (ticks count from the sender's start).
    pub fn due(&self, tick: u64) -> &[usize] {
        let slot = (tick % self.slots.len() as u64) as usize;
        &self.slots[slot]
    }

    /// The first tick at or after `tick` at which some router is due; `None`
    /// when there are no routers at all.
    pub fn next_busy(&self, tick: u64) -> Option<u64> {
        (0..self.slots.len() as u64)
            .map(|ahead| tick + ahead)
            .find(|t| !self.due(*t).is_empty())
    }
}

/// What a floor program counted, printed on its last line when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    /// Datagrams handed to the kernel (sender) or taken from it (receiver).
    pub datagrams: u64,
    /// Sends the kernel refused (sender only; counted, not retried).
    pub failed: u64,
}

impl Report {
    /// The line the program prints.
    pub fn line(&self) -> String {
        format!("datagrams {} failed {}", self.datagrams, self.failed)
    }

    /// Reads [`line`](Self::line) back from the program's output (its last
    /// such line).
    pub fn parse(output: &str) -> Option<Report> {
        output.lines().rev().find_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["datagrams", datagrams, "failed", failed] => Some(Report {
                    datagrams: datagrams.parse().ok()?,
                    failed: failed.parse().ok()?,
                }),
                _ => None,
            }
        })
    }
}

/// Counters shared between the worker threads and the main thread, and the
/// first fatal error of a worker.
#[derive(Default)]
struct Shared {
    datagrams: AtomicU64,
    failed: AtomicU64,
    /// Set by the main thread once stopped: the sender sends nothing more,
    /// so that the count it reports is every advert that left.
    stopping: AtomicBool,
    fatal: Mutex<Option<io::Error>>,
}

impl Shared {
    /// Records a worker's fatal error and wakes the main thread with SIGTERM.
    fn fail(&self, error: io::Error) {
        if let Ok(mut fatal) = self.fatal.lock() {
            fatal.get_or_insert(error);
        }
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), Signal::SIGTERM);
    }

    fn finish(&self) -> Result<Report, FloorError> {
        if let Some(error) = self.fatal.lock().ok().and_then(|mut f| f.take()) {
            return Err(FloorError::Io(error));
        }
        Ok(Report {
            datagrams: self.datagrams.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        })
    }
}

/// Blocks SIGTERM and SIGINT in this thread (and the workers it spawns after),
/// so that [`wait_for_stop`] takes them synchronously.
fn block_stop_signals() -> Result<SigSet, FloorError> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block().map_err(io::Error::from)?;
    Ok(set)
}

fn wait_for_stop(set: &SigSet) -> Result<(), FloorError> {
    set.wait().map_err(io::Error::from)?;
    Ok(())
}

/// The interface's index and its first IPv4 address (what the agent sends from).
fn interface_source(interface: &str) -> Result<(u32, Ipv4Addr), FloorError> {
    let missing = || FloorError::NoSource(interface.to_owned());
    let index = nix::net::if_::if_nametoindex(interface).map_err(|_| missing())?;
    let address = nix::ifaddrs::getifaddrs()
        .map_err(io::Error::from)?
        .filter(|a| a.interface_name == interface)
        .find_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip()))
        .ok_or_else(missing)?;
    Ok((index, address))
}

/// The agent's socket on `interface`, and the address it sends from.
fn socket_on(interface: &str) -> Result<(Socket, Ipv4Addr), FloorError> {
    let (index, source) = interface_source(interface)?;
    Ok((open_blocking(interface, index, IpAddr::V4(source))?, source))
}

/// Sends `routers`' adverts every `interval` until SIGTERM; returns the count.
pub fn send(routers: &[FloorRouter], interval: Duration) -> Result<Report, FloorError> {
    let signals = block_stop_signals()?;
    let mut interfaces: Vec<&str> = routers.iter().map(|r| r.interface.as_str()).collect();
    interfaces.sort_unstable();
    interfaces.dedup();
    let mut sockets = Vec::new();
    let mut sources = Vec::new();
    for interface in &interfaces {
        let (socket, source) = socket_on(interface)?;
        sockets.push(socket);
        sources.push(source);
    }
    let mut adverts = Vec::with_capacity(routers.len());
    for router in routers {
        let socket = interfaces
            .iter()
            .position(|i| *i == router.interface)
            .unwrap_or_default();
        let built = |e: String| FloorError::Build {
            vrid: router.vrid,
            detail: e,
        };
        let bytes = Advertisement::new(
            router.vrid,
            router.priority,
            interval,
            Addresses::V4(vec![router.vip]),
        )
        .map_err(|e| built(e.to_string()))?
        .to_bytes(
            IpAddr::V4(sources[socket]),
            IpAddr::V4(GROUP_V4),
            ChecksumForm::PseudoHeader,
        )
        .map_err(|e| built(e.to_string()))?;
        adverts.push((socket, bytes));
    }
    let schedule = PhaseSchedule::new(routers.len(), interval);
    let shared = Arc::new(Shared::default());
    let worker = shared.clone();
    let sender = std::thread::spawn(move || {
        let group = SockAddr::from(SocketAddrV4::new(GROUP_V4, 0));
        let start = Instant::now();
        let mut tick = schedule.next_busy(0);
        while let Some(due_tick) = tick {
            let at = start + TICK * u32::try_from(due_tick).unwrap_or(u32::MAX);
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            for &router in schedule.due(due_tick) {
                if worker.stopping.load(Ordering::Relaxed) {
                    return;
                }
                let (socket, bytes) = &adverts[router];
                let counter = match sockets[*socket].send_to(bytes, &group) {
                    Ok(_) => &worker.datagrams,
                    Err(_) => &worker.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            tick = schedule.next_busy(due_tick + 1);
        }
    });
    wait_for_stop(&signals)?;
    // Counted only once the sender has stopped: a count read while it went
    // on sending left adverts out that the receiver counted.
    shared.stopping.store(true, Ordering::Relaxed);
    let _ = sender.join();
    shared.finish()
}

/// Receives on the agent's socket of each of `interfaces` until SIGTERM, one
/// `recv` per datagram, in one thread as the agent does; returns how many
/// arrived.
pub fn receive(interfaces: &[String]) -> Result<Report, FloorError> {
    let signals = block_stop_signals()?;
    let mut sockets = Vec::new();
    for interface in interfaces {
        sockets.push(socket_on(interface)?.0);
    }
    let shared = Arc::new(Shared::default());
    let worker = shared.clone();
    std::thread::spawn(move || {
        let outcome = match sockets.as_slice() {
            [socket] => receive_blocking(socket, &worker.datagrams),
            _ => receive_polling(&sockets, &worker.datagrams),
        };
        if let Err(error) = outcome {
            worker.fail(error);
        }
    });
    wait_for_stop(&signals)?;
    shared.finish()
}

/// Large enough for any IPv4 datagram an interface can carry.
const BUFFER: usize = 65_536;

/// One socket: a blocking `recv` per datagram, the fewest system calls there are.
fn receive_blocking(socket: &Socket, count: &AtomicU64) -> io::Result<()> {
    let mut buffer = vec![0u8; BUFFER];
    loop {
        match nix_socket::recv(socket.as_raw_fd(), &mut buffer, MsgFlags::empty()) {
            Ok(_) => {
                count.fetch_add(1, Ordering::Relaxed);
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Several sockets in one thread: wait until any is readable, then drain each
/// readable one (a `recv` per datagram until it would block). One thread per
/// socket would cost a context switch between threads for datagrams that
/// arrive together on different links, which one event loop does not pay.
fn receive_polling(sockets: &[Socket], count: &AtomicU64) -> io::Result<()> {
    let mut buffer = vec![0u8; BUFFER];
    for socket in sockets {
        socket.set_nonblocking(true)?;
    }
    let mut ready: Vec<libc::pollfd> = sockets
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let len = libc::nfds_t::try_from(ready.len()).unwrap_or(libc::nfds_t::MAX);
    loop {
        // SAFETY: `ready` holds `len` initialised pollfds and outlives the call.
        if unsafe { libc::poll(ready.as_mut_ptr(), len, -1) } < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        for entry in ready.iter().filter(|e| e.revents != 0) {
            loop {
                match nix_socket::recv(entry.fd, &mut buffer, MsgFlags::MSG_DONTWAIT) {
                    Ok(_) => {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(nix::errno::Errno::EAGAIN) => break,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_spread_evenly_over_the_interval() {
        // 100 routers every 10 ms: 10 per 1 ms tick, each router once per interval.
        let schedule = PhaseSchedule::new(100, Duration::from_millis(10));
        for tick in 0..10 {
            assert_eq!(schedule.due(tick).len(), 10, "tick {tick}");
            assert_eq!(schedule.due(tick), schedule.due(tick + 10));
        }
        let mut seen: Vec<usize> = (0..10).flat_map(|t| schedule.due(t).to_vec()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        // 1000 every 100 ms: also 10 per tick.
        let schedule = PhaseSchedule::new(1000, Duration::from_millis(100));
        assert!((0..100).all(|t| schedule.due(t).len() == 10));
    }

    #[test]
    fn a_lone_router_skips_the_idle_ticks() {
        let schedule = PhaseSchedule::new(1, Duration::from_millis(10));
        assert_eq!(schedule.next_busy(0), Some(0));
        assert_eq!(schedule.next_busy(1), Some(10));
        assert_eq!(schedule.next_busy(10), Some(10));
        assert_eq!(schedule.next_busy(11), Some(20));
        assert_eq!(PhaseSchedule::new(0, TICK).next_busy(0), None);
    }

    #[test]
    fn router_arguments_round_trip_and_bad_ones_say_why() {
        let router: FloorRouter = "v2,51,150,192.0.2.50".parse().unwrap();
        assert_eq!(
            router,
            FloorRouter {
                interface: "v2".into(),
                vrid: 51,
                priority: 150,
                vip: Ipv4Addr::new(192, 0, 2, 50),
            }
        );
        assert_eq!(router.to_arg().parse::<FloorRouter>().unwrap(), router);
        for (text, why) in [
            ("eth0,51,150", "four"),
            ("eth0,0,150,192.0.2.1", "VRID"),
            ("eth0,51,256,192.0.2.1", "priority"),
            ("eth0,51,150,2001:db8::1", "IPv4"),
            (",51,150,192.0.2.1", "four"),
        ] {
            let error = text.parse::<FloorRouter>().unwrap_err().to_string();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn report_line_is_read_back() {
        let report = Report {
            datagrams: 12_345,
            failed: 2,
        };
        let output = format!("something else\n{}\n", report.line());
        assert_eq!(Report::parse(&output), Some(report));
        assert_eq!(Report::parse("datagrams x failed 0"), None);
        assert_eq!(Report::parse(""), None);
    }
}
