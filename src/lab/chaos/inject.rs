//! Carrying out one fault on the chaos lab, from injection to healing, with a
//! guard for everything that must be undone even when a step fails (a stopped
//! agent continued, a cable plugged back, CPU hogs killed, nftables removed).

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::schedule::{Fault, FaultKind, Target};
use super::verdict::FaultWindow;
use super::world::{format_mac, ChaosLab, INTERVAL, STARTUP, VIP, VRID};
use crate::lab::{enter_namespace, LabError};
use crate::wire::vrrp::{Addresses, Advertisement, ChecksumForm};

/// The VRRP multicast group (RFC 9568 §5.1.1.2).
const VRRP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The nftables table the lab's drop rules live in (bridge namespace).
const TABLE: &str = "twinstar_chaos";
/// Adverts a flood sends per millisecond, at most (10 000 a second).
const FLOOD_PER_MS: u32 = 10;

/// How the lab drops a share of the frames between the agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossMethod {
    /// `tc netem` on the agents' bridge ports, for VRRP adverts only.
    Netem,
    /// An nftables `numgen random` drop rule in the bridge's forward hook.
    Nftables,
}

impl LossMethod {
    /// netem when this kernel has it, else nftables: probed on the third host's
    /// bridge port, which no measurement goes through.
    pub fn probe(world: &ChaosLab) -> LossMethod {
        let port = world.lab.hosts[2].port();
        let netem = world.lab.bridge().exec(
            "tc",
            &["qdisc", "add", "dev", port, "root", "netem", "loss", "1%"],
        );
        if netem.is_ok() {
            let _ = world
                .lab
                .bridge()
                .exec("tc", &["qdisc", "del", "dev", port, "root"]);
            LossMethod::Netem
        } else {
            LossMethod::Nftables
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            LossMethod::Netem => "tc netem",
            LossMethod::Nftables => "nftables numgen",
        }
    }
}

/// A timestamped line of what the lab did, for the timeline.
pub type Journal = Vec<(Duration, String)>;

/// Injects `fault`, waits out its duration, heals it; returns its window
/// (`until` is set by the caller once the lab settled). `master` is the agent
/// answering for the VIP now.
pub fn inject(
    world: &mut ChaosLab,
    fault: &Fault,
    master: usize,
    loss: LossMethod,
    epoch: Instant,
    journal: &mut Journal,
) -> Result<FaultWindow, LabError> {
    let target = match fault.target {
        Target::Master => Some(master),
        Target::Backup => Some(1 - master),
        Target::Segment => None,
    };
    let start = epoch.elapsed();
    let mut note = |what: String| journal.push((epoch.elapsed(), what));
    let index = target.unwrap_or(0);
    let host = format!("h{}", index + 1);
    let mut loss_percent = None;
    match fault.kind {
        FaultKind::Kill => {
            note(format!("SIGKILL {host}"));
            world.agents[index].kill();
            std::thread::sleep(fault.duration);
            world.restart(index)?;
            note(format!("restarted {host}"));
        }
        FaultKind::Stop => {
            let pid = world.agents[index]
                .pid()
                .ok_or_else(|| LabError::Step(format!("the agent on {host} is not running")))?;
            note(format!("SIGSTOP {host}"));
            let stopped = Stopped::new(pid)?;
            std::thread::sleep(fault.duration);
            drop(stopped);
            note(format!("SIGCONT {host}"));
        }
        FaultKind::LinkFlap => {
            note(format!("cable of {host} pulled"));
            let pulled = Unplugged::new(world, index)?;
            std::thread::sleep(fault.duration);
            pulled.plug()?;
            note(format!("cable of {host} plugged"));
        }
        FaultKind::Partition => {
            let (a, b) = (world.lab.hosts[0].port(), world.lab.hosts[1].port());
            note("partition h1 | h2".into());
            let rules = Rules::add(
                world,
                &[
                    format!("iifname \"{a}\" oifname \"{b}\" drop"),
                    format!("iifname \"{b}\" oifname \"{a}\" drop"),
                ],
            )?;
            std::thread::sleep(fault.duration);
            rules.remove()?;
            note("partition healed".into());
        }
        FaultKind::Loss => {
            loss_percent = Some(fault.loss_percent);
            note(format!(
                "{}% loss between the agents ({})",
                fault.loss_percent,
                loss.name()
            ));
            let lossy = Lossy::new(world, loss, fault.loss_percent)?;
            std::thread::sleep(fault.duration);
            lossy.remove()?;
            note("loss ended".into());
        }
        FaultKind::VipDeleted => {
            world.lab.hosts[index]
                .ns
                .ip(&["addr", "del", &format!("{VIP}/24"), "dev", "eth0"])?;
            note(format!("VIP deleted on {host}"));
        }
        FaultKind::InterfaceRecreated => {
            let mac = format_mac(world.macs[index]);
            world.lab.delete_interface(index)?;
            note(format!("eth0 of {host} deleted"));
            std::thread::sleep(fault.duration);
            world.lab.recreate_interface(index, &mac)?;
            note(format!("eth0 of {host} re-created"));
        }
        FaultKind::CpuHog => {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            note(format!("{cores} CPU hogs"));
            let mut hogs = Hogs::start(cores)?;
            std::thread::sleep(fault.duration);
            hogs.stop();
            note("CPU hogs ended".into());
        }
        FaultKind::RogueAdvert | FaultKind::AdvertFlood => {
            let rogue = &world.lab.hosts[2];
            let flood = fault.kind == FaultKind::AdvertFlood;
            note(if flood {
                "advert flood from h3".into()
            } else {
                format!("rogue adverts from h3, priority {}", fault.rogue_priority)
            });
            let sender = Sender::start(
                rogue.ns.name().to_string(),
                rogue.ipv4,
                flood,
                fault.rogue_priority,
            );
            std::thread::sleep(fault.duration);
            let sent = sender.stop()?;
            note(format!("h3 stopped after {sent} adverts"));
        }
        FaultKind::Reload => reload(world, fault, index, &mut note)?,
    }
    Ok(FaultWindow {
        kind: fault.kind,
        target,
        start,
        end: epoch.elapsed(),
        until: epoch.elapsed(),
        loss_percent,
    })
}

/// The Master stops gracefully (a transition begins); the other agent reloads
/// a changed file while it takes over; the Master starts again and both reload
/// while it comes back.
fn reload(
    world: &mut ChaosLab,
    fault: &Fault,
    master: usize,
    note: &mut dyn FnMut(String),
) -> Result<(), LabError> {
    let other = 1 - master;
    let began = Instant::now();
    if let Some(pid) = world.agents[master].pid() {
        signal(pid, Signal::SIGTERM)?;
    }
    note(format!("SIGTERM h{}", master + 1));
    std::thread::sleep(fault.reload_offsets.0);
    sighup(world, other)?;
    note(format!("SIGHUP h{} (garp count changed)", other + 1));
    world.agents[master].terminate();
    std::thread::sleep(fault.duration.saturating_sub(began.elapsed()));
    world.restart(master)?;
    note(format!("restarted h{}", master + 1));
    // SIGHUP before the agent installed its handlers would end it: wait until
    // it wrote its first status.
    let deadline = Instant::now() + STARTUP;
    while world.agents[master].status().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(fault.reload_offsets.1);
    sighup(world, master)?;
    sighup(world, other)?;
    note("SIGHUP h1 and h2 (garp count changed)".into());
    Ok(())
}

/// Rewrites agent `index`'s file with the other garp count and sends SIGHUP.
fn sighup(world: &mut ChaosLab, index: usize) -> Result<(), LabError> {
    let config = &mut world.configs[index];
    config.garp_count = if config.garp_count == 1 { 2 } else { 1 };
    std::fs::write(world.agents[index].config_path(), config.text())?;
    world.agents[index].reload()
}

fn signal(pid: u32, signal: Signal) -> Result<(), LabError> {
    let pid = i32::try_from(pid).map_err(|_| LabError::Step(format!("pid {pid} out of range")))?;
    kill(Pid::from_raw(pid), signal).map_err(|e| LabError::Io(e.into()))
}

/// A SIGSTOPped process, continued when dropped.
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Result<Stopped, LabError> {
        signal(pid, Signal::SIGSTOP)?;
        Ok(Stopped(pid))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = signal(self.0, Signal::SIGCONT);
    }
}

/// A pulled cable, plugged back when dropped.
struct Unplugged<'a> {
    world: &'a ChaosLab,
    index: usize,
    plugged: bool,
}

impl<'a> Unplugged<'a> {
    fn new(world: &'a ChaosLab, index: usize) -> Result<Unplugged<'a>, LabError> {
        world.lab.set_cable(index, false)?;
        Ok(Unplugged {
            world,
            index,
            plugged: false,
        })
    }

    fn plug(mut self) -> Result<(), LabError> {
        self.plugged = true;
        self.world.lab.set_cable(self.index, true)
    }
}

impl Drop for Unplugged<'_> {
    fn drop(&mut self) {
        if !self.plugged {
            let _ = self.world.lab.set_cable(self.index, true);
        }
    }
}

/// nftables rules in the bridge namespace's forward hook; the table is deleted
/// when dropped (and goes with the namespace in any case).
struct Rules<'a> {
    world: &'a ChaosLab,
    removed: bool,
}

impl<'a> Rules<'a> {
    fn add(world: &'a ChaosLab, rules: &[String]) -> Result<Rules<'a>, LabError> {
        let bridge = world.lab.bridge();
        bridge.exec("nft", &[&format!("add table bridge {TABLE}")])?;
        let guard = Rules {
            world,
            removed: false,
        };
        bridge.exec(
            "nft",
            &[&format!(
                "add chain bridge {TABLE} forward {{ type filter hook forward priority 0 ; }}"
            )],
        )?;
        for rule in rules {
            bridge.exec("nft", &[&format!("add rule bridge {TABLE} forward {rule}")])?;
        }
        Ok(guard)
    }

    fn remove(mut self) -> Result<(), LabError> {
        self.removed = true;
        self.world
            .lab
            .bridge()
            .exec("nft", &[&format!("delete table bridge {TABLE}")])
            .map(|_| ())
    }
}

impl Drop for Rules<'_> {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self
                .world
                .lab
                .bridge()
                .exec("nft", &[&format!("delete table bridge {TABLE}")]);
        }
    }
}

/// Loss between the two agents, by either method; the client's cable is left
/// alone so that the sampler measures the agents, not the loss.
enum Lossy<'a> {
    Nftables(Rules<'a>),
    Netem(Netem<'a>),
}

impl<'a> Lossy<'a> {
    fn new(world: &'a ChaosLab, method: LossMethod, percent: u8) -> Result<Lossy<'a>, LabError> {
        let (a, b) = (world.lab.hosts[0].port(), world.lab.hosts[1].port());
        match method {
            LossMethod::Nftables => {
                let rules = [
                    format!(
                        "iifname \"{a}\" oifname \"{b}\" numgen random mod 100 < {percent} drop"
                    ),
                    format!(
                        "iifname \"{b}\" oifname \"{a}\" numgen random mod 100 < {percent} drop"
                    ),
                ];
                Ok(Lossy::Nftables(Rules::add(world, &rules)?))
            }
            LossMethod::Netem => Ok(Lossy::Netem(Netem::add(world, percent)?)),
        }
    }

    fn remove(self) -> Result<(), LabError> {
        match self {
            Lossy::Nftables(rules) => rules.remove(),
            Lossy::Netem(netem) => netem.remove(),
        }
    }
}

/// netem on the bridge ports towards both agents, removed when dropped.
struct Netem<'a> {
    world: &'a ChaosLab,
    removed: bool,
}

impl<'a> Netem<'a> {
    fn add(world: &'a ChaosLab, percent: u8) -> Result<Netem<'a>, LabError> {
        let guard = Netem {
            world,
            removed: false,
        };
        let bridge = world.lab.bridge();
        let loss = format!("{percent}%");
        // Frames leaving the bridge towards each agent: a prio qdisc whose third
        // band (netem) takes VRRP (IP protocol 112) only, so that the agents'
        // answers to the client are never lost.
        for host in &world.lab.hosts[..2] {
            let port = host.port();
            bridge.exec(
                "tc",
                &["qdisc", "add", "dev", port, "root", "handle", "1:", "prio"],
            )?;
            bridge.exec(
                "tc",
                &[
                    "qdisc", "add", "dev", port, "parent", "1:3", "handle", "30:", "netem", "loss",
                    &loss,
                ],
            )?;
            bridge.exec(
                "tc",
                &[
                    "filter", "add", "dev", port, "parent", "1:0", "protocol", "ip", "prio", "1",
                    "u32", "match", "ip", "protocol", "112", "0xff", "flowid", "1:3",
                ],
            )?;
        }
        Ok(guard)
    }

    fn clear(&self) -> Result<(), LabError> {
        for host in &self.world.lab.hosts[..2] {
            self.world
                .lab
                .bridge()
                .exec("tc", &["qdisc", "del", "dev", host.port(), "root"])?;
        }
        Ok(())
    }

    fn remove(mut self) -> Result<(), LabError> {
        self.removed = true;
        self.clear()
    }
}

impl Drop for Netem<'_> {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.clear();
        }
    }
}

/// Busy loops, killed by their pids when stopped or dropped.
struct Hogs(Vec<Child>);

impl Hogs {
    fn start(count: usize) -> Result<Hogs, LabError> {
        let mut hogs = Hogs(Vec::new());
        for _ in 0..count {
            hogs.0.push(
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdin(Stdio::null())
                    .spawn()?,
            );
        }
        Ok(hogs)
    }

    fn stop(&mut self) {
        for mut child in self.0.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Adverts from the third host: a rogue advertising the VRID with a higher
/// priority every interval, or a flood of lower-priority adverts and adverts
/// for other VRIDs; stopped (and joined) when dropped.
struct Sender {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<u64, LabError>>>,
}

impl Sender {
    fn start(namespace: String, source: Ipv4Addr, flood: bool, priority: u8) -> Sender {
        let stop = Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        let thread = std::thread::spawn(move || {
            enter_namespace(&namespace)?;
            let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112)))?;
            socket.bind_device(Some(b"eth0"))?;
            socket.set_multicast_if_v4(&source)?;
            socket.set_multicast_loop_v4(false)?;
            socket.set_multicast_ttl_v4(255)?;
            let to = SockAddr::from(SocketAddrV4::new(VRRP_GROUP, 0));
            let advert = |vrid: u8, priority: u8| -> Result<Vec<u8>, LabError> {
                let built = |e: String| LabError::Step(format!("building an advert: {e}"));
                Advertisement::new(vrid, priority, INTERVAL, Addresses::V4(vec![VIP]))
                    .map_err(|e| built(e.to_string()))?
                    .to_bytes(
                        IpAddr::V4(source),
                        IpAddr::V4(VRRP_GROUP),
                        ChecksumForm::PseudoHeader,
                    )
                    .map_err(|e| built(e.to_string()))
            };
            let packets = if flood {
                // Lower priorities on the lab's VRID, and every other VRID.
                let mut packets = Vec::new();
                for n in 1..=255u8 {
                    if n != VRID {
                        packets.push(advert(n, 100)?);
                    }
                    if n < 100 {
                        packets.push(advert(VRID, n)?);
                    }
                }
                packets
            } else {
                vec![advert(VRID, priority)?]
            };
            let mut sent = 0u64;
            while !done.load(Ordering::Relaxed) {
                if flood {
                    for _ in 0..FLOOD_PER_MS {
                        let packet = &packets[sent as usize % packets.len()];
                        socket.send_to(packet, &to)?;
                        sent += 1;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                } else {
                    socket.send_to(&packets[0], &to)?;
                    sent += 1;
                    std::thread::sleep(INTERVAL);
                }
            }
            Ok(sent)
        });
        Sender {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Result<u64, LabError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(LabError::Step("the advert sender panicked".into())),
            None => Ok(0),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
