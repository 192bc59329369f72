//! One agent of either kind on a lab host, configured from the same instance
//! list, so both run the very same scenario.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::floor::{FloorRouter, Report};
use crate::config::format_duration;
use crate::control::status::{InstanceCounters, Status};
use crate::lab::keepalived::Keepalived;
use crate::lab::{Agent, Host, LabError};

/// Which agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// keepalived, the Debian package, in VRRPv3 mode.
    Keepalived,
    /// twinstar.
    Twinstar,
    /// The floor: the same packets on the same sockets, no agent logic
    /// ([`super::floor`]); a sender in a Master's place, a receiver in a Backup's.
    Floor,
}

impl Kind {
    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Keepalived => "keepalived",
            Kind::Twinstar => "twinstar",
            Kind::Floor => "floor",
        }
    }
}

/// One virtual router of a scenario.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The interface on the host.
    pub interface: String,
    /// VRID.
    pub vrid: u8,
    /// This node's priority.
    pub priority: u8,
    /// Advertisement interval (a multiple of 10 ms).
    pub interval: Duration,
    /// The VIP with prefix, e.g. `192.0.2.50/32`.
    pub vip: String,
}

/// A running agent of either kind.
pub enum Node {
    /// twinstar, with its files.
    Twinstar(Agent),
    /// keepalived.
    Keepalived(Keepalived),
    /// A floor sender or receiver.
    Floor(FloorProcess),
}

impl Node {
    /// Starts `kind` on `host` with `specs`; `extra` is appended to twinstar's
    /// first instance (track blocks); `program` is the twinstar binary.
    pub fn start(
        kind: Kind,
        host: &Host,
        dir: &Path,
        program: &Path,
        specs: &[Spec],
        extra: &str,
    ) -> Result<Node, LabError> {
        match kind {
            Kind::Twinstar => Ok(Node::Twinstar(Agent::start(
                host,
                program,
                dir,
                &twinstar_config(specs, extra),
            )?)),
            Kind::Keepalived => Ok(Node::Keepalived(Keepalived::start(
                &host.ns,
                dir,
                &keepalived_config(specs),
            )?)),
            Kind::Floor => Err(LabError::Step(
                "the floor has no configuration: start it with Node::floor_sender or \
                 Node::floor_receiver"
                    .into(),
            )),
        }
    }

    /// A floor sender on `host` sending `specs`' adverts, as their Master would.
    pub fn floor_sender(host: &Host, program: &Path, specs: &[Spec]) -> Result<Node, LabError> {
        let interval = specs.first().map_or(Duration::from_secs(1), |s| s.interval);
        let mut args = vec!["send".to_owned(), "--interval".to_owned()];
        args.push(format_duration(interval));
        for spec in specs {
            args.push("--router".into());
            args.push(floor_router(spec)?.to_arg());
        }
        FloorProcess::start(host, program, &args).map(Node::Floor)
    }

    /// A floor receiver on `host`, on each interface of `specs`, as their
    /// Backup's sockets would receive.
    pub fn floor_receiver(host: &Host, program: &Path, specs: &[Spec]) -> Result<Node, LabError> {
        let mut interfaces: Vec<&str> = specs.iter().map(|s| s.interface.as_str()).collect();
        interfaces.sort_unstable();
        interfaces.dedup();
        let mut args = vec!["receive".to_owned()];
        for interface in interfaces {
            args.push("--interface".into());
            args.push(interface.into());
        }
        FloorProcess::start(host, program, &args).map(Node::Floor)
    }

    /// Stops gracefully: a Master resigns with priority 0.
    pub fn stop(&mut self) {
        match self {
            Node::Twinstar(agent) => {
                agent.terminate();
            }
            Node::Keepalived(k) => k.stop(),
            Node::Floor(floor) => {
                let _ = floor.stop();
            }
        }
    }

    /// The processes to measure (keepalived: parent and VRRP child).
    pub fn pids(&self) -> Vec<u32> {
        match self {
            Node::Twinstar(agent) => agent.pid().into_iter().collect(),
            Node::Keepalived(k) => k.pids(),
            Node::Floor(floor) => floor.pid().into_iter().collect(),
        }
    }

    /// Times any of its instances became Master so far.
    pub fn master_transitions(&self) -> u64 {
        match self {
            Node::Twinstar(_) => self.counter(|c| c.master_transitions).unwrap_or(0),
            Node::Keepalived(k) => k.log().matches("Entering MASTER STATE").count() as u64,
            Node::Floor(_) => 0,
        }
    }

    /// Adverts sent by all instances (twinstar only).
    pub fn adverts_sent(&self) -> Option<u64> {
        self.counter(|c| c.adverts_sent)
    }

    /// Adverts received by all instances (twinstar only; keepalived has no counter).
    pub fn adverts_received(&self) -> Option<u64> {
        self.counter(|c| c.adverts_received)
    }

    /// One counter summed over the instances (twinstar only).
    fn counter(&self, read: fn(&InstanceCounters) -> u64) -> Option<u64> {
        match self {
            Node::Twinstar(agent) => {
                live_status(agent).map(|s| s.instances.iter().map(|i| read(&i.counters)).sum())
            }
            Node::Keepalived(_) | Node::Floor(_) => None,
        }
    }

    /// The twinstar agent, for control verbs.
    pub fn agent(&self) -> Option<&Agent> {
        match self {
            Node::Twinstar(agent) => Some(agent),
            Node::Keepalived(_) | Node::Floor(_) => None,
        }
    }
}

/// The floor's form of a scenario's router: its VIP without the prefix.
fn floor_router(spec: &Spec) -> Result<FloorRouter, LabError> {
    let vip = spec.vip.split('/').next().unwrap_or_default();
    format!("{},{},{},{vip}", spec.interface, spec.vrid, spec.priority)
        .parse()
        .map_err(|e: super::floor::FloorError| LabError::Step(e.to_string()))
}

/// A `twinstar bench-floor` process in a lab host; killed when dropped.
pub struct FloorProcess {
    child: Option<Child>,
}

impl FloorProcess {
    /// Starts `program bench-floor ARGS` in `host`'s namespace (`ip netns
    /// exec` execs it, so the pid is the floor's own).
    fn start(host: &Host, program: &Path, args: &[String]) -> Result<Self, LabError> {
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", host.ns.name()])
            .arg(program)
            .arg("bench-floor")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        Ok(FloorProcess { child: Some(child) })
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops it (SIGTERM) and returns what it counted; an error when it had
    /// failed or printed no count.
    pub fn stop(&mut self) -> Result<Report, LabError> {
        let Some(child) = self.child.take() else {
            return Err(LabError::Step("the floor was already stopped".into()));
        };
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let _ = kill(pid, Signal::SIGTERM);
        let output = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        match Report::parse(&stdout) {
            Some(report) if output.status.success() => Ok(report),
            _ => Err(LabError::Step(format!(
                "twinstar bench-floor ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))),
        }
    }
}

impl Drop for FloorProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The status document straight from the agent (the file lags up to a second).
fn live_status(agent: &Agent) -> Option<Status> {
    let request = crate::control::Request::Status;
    match crate::control::client::request(&agent.runtime_dir(), &request) {
        Ok(response) => response.status,
        Err(_) => agent
            .status()
            .and_then(|s| serde_json::from_value(s.0).ok()),
    }
}

fn twinstar_config(specs: &[Spec], extra: &str) -> String {
    let mut text = String::from("instances:\n");
    for (n, s) in specs.iter().enumerate() {
        let _ = write!(
            text,
            "  - name: vr{n}\n    interface: {}\n    vrid: {}\n    priority: {}\n    \
             advert_interval: {}\n    garp: {{count: 1}}\n    virtual_ips: [{}]\n",
            s.interface,
            s.vrid,
            s.priority,
            format_duration(s.interval),
            s.vip
        );
        if n == 0 {
            text.push_str(extra);
        }
    }
    text
}

/// keepalived in VRRPv3 mode with the same instances: BACKUP start state and
/// preemption (its defaults), one gratuitous ARP like twinstar's `count: 1`.
fn keepalived_config(specs: &[Spec]) -> String {
    let mut text = String::from(
        "global_defs {\n    vrrp_version 3\n    router_id twinstar_bench\n    \
         vrrp_garp_master_repeat 1\n    vrrp_garp_master_delay 0\n}\n",
    );
    for (n, s) in specs.iter().enumerate() {
        let _ = write!(
            text,
            "vrrp_instance VR{n} {{\n    state BACKUP\n    interface {}\n    virtual_router_id {}\n    \
             priority {}\n    advert_int {}\n    virtual_ipaddress {{\n        {}\n    }}\n}}\n",
            s.interface,
            s.vrid,
            s.priority,
            s.interval.as_secs_f64(),
            s.vip
        );
    }
    text
}

/// A scratch directory per node.
pub fn node_dir(root: &Path, scenario: &str, kind: Kind, host: usize, run: usize) -> PathBuf {
    root.join(format!("{scenario}-{}-h{host}-r{run}", kind.name()))
}
