//! The chaos lab, built once per batch and reused by every run: two agents
//! (h1 priority 150, h2 priority 100, 100 ms adverts, one VIP, each other as
//! `peers`), a third host h3 that plays the rogue, and the client; plus how to bring it back to its
//! steady state (h1 Master alone, h2 Backup) when a fault left it elsewhere.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::bounds::Bounds;
use super::sampler::{Probe, Sample};
use crate::lab::{Agent, Lab, LabError};

/// The VIP the agents share.
pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
/// The VRID they share.
pub const VRID: u8 = 51;
/// The agents' priorities: h1 is the one that should be Master.
pub const PRIORITIES: [u8; 2] = [150, 100];
/// The advert interval: short, so a run of several faults takes seconds.
pub const INTERVAL: Duration = Duration::from_millis(100);
/// How long an agent may take to start (`ip netns exec`, config, sockets)
/// before its own timers begin, on a loaded two-core machine.
pub const STARTUP: Duration = Duration::from_secs(2);

/// The kernel lifetime of the agents' VIPs (`vip_lifetime`): what bounds how
/// long a killed or stopped Master keeps answering beside its successor.
pub const VIP_LIFETIME: Duration = Duration::from_secs(2);

/// One agent's configuration, written to its file before every (re)start
/// and reload.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Its priority.
    pub priority: u8,
    /// Announcements on becoming Master; a reload toggles it between 1 and 2
    /// so that the agent has a difference to apply.
    pub garp_count: u8,
    /// The routers it accepts adverts from (`peers`): h1 and h2, so that the
    /// third host's adverts are dropped as a configured pair would drop them.
    pub peers: Vec<Ipv4Addr>,
    /// More instance keys, one YAML line each without indentation, written as given.
    pub extra_keys: Vec<String>,
}

impl AgentConfig {
    /// The YAML text.
    pub fn text(&self) -> String {
        let mut text = format!(
            "instances:\n  - name: web\n    interface: eth0\n    vrid: {VRID}\n    priority: {}\n    \
             advert_interval: {}ms\n    vip_lifetime: {}s\n    garp: {{count: {}}}\n    \
             virtual_ips: [{VIP}/24]\n",
            self.priority,
            INTERVAL.as_millis(),
            VIP_LIFETIME.as_secs(),
            self.garp_count
        );
        if !self.peers.is_empty() {
            let peers: Vec<String> = self.peers.iter().map(Ipv4Addr::to_string).collect();
            let _ = writeln!(text, "    peers: [{}]", peers.join(", "));
        }
        for key in &self.extra_keys {
            let _ = writeln!(text, "    {key}");
        }
        text
    }
}

/// The lab and its running agents.
pub struct ChaosLab {
    /// Agents h1 and h2 (dropped first: they stop before their namespaces go).
    pub agents: Vec<Agent>,
    /// Their configurations.
    pub configs: Vec<AgentConfig>,
    /// Hosts h1, h2 (agents), h3 (the rogue) and the client.
    pub lab: Lab,
    /// The MACs of h1, h2 and h3.
    pub macs: Vec<[u8; 6]>,
    /// The timers' bounds for these agents.
    pub bounds: Bounds,
    /// Every agent process started, with its config path, to prove at the end
    /// that none is left.
    pub started: Vec<(u32, PathBuf)>,
}

impl ChaosLab {
    /// Builds the lab named `prefix` and starts both agents with `extra_keys`
    /// in their instance; files go under `workdir`.
    pub fn build(
        prefix: &str,
        program: &Path,
        workdir: &Path,
        extra_keys: &[String],
    ) -> Result<ChaosLab, LabError> {
        let lab = Lab::build(prefix, 3)?;
        let macs = lab
            .hosts
            .iter()
            .map(|h| h.mac().map(|m| parse_mac(&m)))
            .collect::<Result<Option<Vec<_>>, _>>()?
            .ok_or_else(|| LabError::Step("cannot read the hosts' MAC addresses".into()))?;
        let configs: Vec<AgentConfig> = PRIORITIES
            .iter()
            .map(|&priority| AgentConfig {
                priority,
                garp_count: 1,
                peers: lab.hosts[..PRIORITIES.len()]
                    .iter()
                    .map(|h| h.ipv4)
                    .collect(),
                extra_keys: extra_keys.to_vec(),
            })
            .collect();
        let mut world = ChaosLab {
            agents: Vec::new(),
            configs,
            bounds: Bounds::new(&PRIORITIES, INTERVAL, VIP_LIFETIME),
            lab,
            macs,
            started: Vec::new(),
        };
        for index in 0..PRIORITIES.len() {
            let dir = workdir.join(format!("h{}", index + 1));
            let agent = Agent::start(
                &world.lab.hosts[index],
                program,
                &dir,
                &world.configs[index].text(),
            )?;
            world.note_started(&agent);
            world.agents.push(agent);
        }
        Ok(world)
    }

    /// What the sampler needs to know.
    pub fn probe(&self) -> Result<Probe<'_>, LabError> {
        let client_mac = parse_mac(&self.lab.client.mac()?)
            .ok_or_else(|| LabError::Step("cannot read the client's MAC address".into()))?;
        Ok(Probe {
            client: &self.lab.client.ns,
            client_mac,
            client_ip: self.lab.client.ipv4,
            host_macs: self.macs.clone(),
            agents: self.lab.hosts[..2].iter().map(|h| &h.ns).collect(),
            bridge: self.lab.bridge(),
            vip: VIP,
        })
    }

    /// Records a (re)started agent's pid.
    pub fn note_started(&mut self, agent: &Agent) {
        if let Some(pid) = agent.pid() {
            self.started.push((pid, agent.config_path()));
        }
    }

    /// Restarts agent `index` (SIGKILL if still running, then start).
    pub fn restart(&mut self, index: usize) -> Result<(), LabError> {
        std::fs::write(self.agents[index].config_path(), self.configs[index].text())?;
        self.agents[index].restart()?;
        let pid = self.agents[index].pid();
        if let Some(pid) = pid {
            self.started.push((pid, self.agents[index].config_path()));
        }
        Ok(())
    }

    /// The state agent `index` reports for its instance, if it reports one.
    pub fn state(&self, index: usize) -> Option<String> {
        self.agents[index].status().and_then(|s| s.state("web"))
    }

    /// Whether the lab is in its steady state in these recent samples: h1 alone
    /// answers and holds the VIP, h1 reports Master and h2 Backup.
    pub fn settled(&self, recent: &[Sample]) -> bool {
        recent.len() >= 3
            && recent
                .iter()
                .all(|s| s.answering == 1 && !s.stranger && s.holders == 1)
            && self.state(0).as_deref() == Some("master")
            && self.state(1).as_deref() == Some("backup")
    }

    /// Which agent answers for the VIP now (the last sample), if exactly one.
    pub fn master(recent: &[Sample]) -> Option<usize> {
        let last = recent.last()?;
        (last.answering.count_ones() == 1 && last.answering < 4)
            .then(|| last.answering.trailing_zeros() as usize)
    }

    /// Brings the lab back to its steady state by force: both agents stopped,
    /// the VIP removed wherever it is left, both started again. Returns when
    /// `settled` says so, or fails after `STARTUP` and two settle times.
    pub fn repair(&mut self, settled: &dyn Fn(&ChaosLab) -> bool) -> Result<(), LabError> {
        for agent in &mut self.agents {
            agent.kill();
        }
        for host in &self.lab.hosts[..2] {
            let _ = host
                .ns
                .ip(&["addr", "del", &format!("{VIP}/24"), "dev", "eth0"]);
        }
        for index in 0..self.agents.len() {
            self.restart(index)?;
        }
        let deadline = Instant::now() + STARTUP + self.bounds.settle() * 2;
        while Instant::now() < deadline {
            if settled(self) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(LabError::Timeout(format!(
            "the lab to settle after a repair (h1 Master alone, h2 Backup)\nh1 log:\n{}\nh2 log:\n{}",
            tail(&self.agents[0].log()),
            tail(&self.agents[1].log())
        )))
    }

    /// The pids of agents started in this lab that still exist.
    pub fn survivors(started: &[(u32, PathBuf)]) -> Vec<u32> {
        started
            .iter()
            .filter(|(pid, config)| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|cmdline| {
                        String::from_utf8_lossy(&cmdline).contains(&*config.to_string_lossy())
                    })
                    .unwrap_or(false)
            })
            .map(|(pid, _)| *pid)
            .collect()
    }
}

/// Whether process `pid` has ended (it is gone, or a zombie not yet reaped).
pub fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// The last lines of a log, for error messages.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// `aa:bb:cc:dd:ee:ff` as bytes.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|part| u8::from_str_radix(part, 16).ok())
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}

/// Bytes as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_round_trip() {
        let mac = parse_mac("02:ab:00:10:ff:01").unwrap();
        assert_eq!(mac, [2, 0xab, 0, 0x10, 0xff, 1]);
        assert_eq!(format_mac(mac), "02:ab:00:10:ff:01");
        assert_eq!(parse_mac("02:ab"), None);
        assert_eq!(parse_mac("zz:ab:00:10:ff:01"), None);
    }

    #[test]
    fn the_config_is_one_instance_with_the_extra_keys() {
        let config = AgentConfig {
            priority: 150,
            garp_count: 2,
            peers: vec![Ipv4Addr::new(192, 0, 2, 11), Ipv4Addr::new(192, 0, 2, 12)],
            extra_keys: vec!["accept: false".into()],
        };
        let text = config.text();
        assert!(
            text.contains("    peers: [192.0.2.11, 192.0.2.12]\n"),
            "{text}"
        );
        assert!(text.contains("priority: 150\n"), "{text}");
        assert!(text.contains("advert_interval: 100ms\n"), "{text}");
        assert!(text.contains("garp: {count: 2}\n"), "{text}");
        assert!(text.ends_with("    accept: false\n"), "{text}");
        let parsed = crate::config::parse_str(&text, "chaos.yaml");
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn a_missing_process_has_exited() {
        assert!(!exited(std::process::id()));
        assert!(exited(u32::MAX));
    }
}
