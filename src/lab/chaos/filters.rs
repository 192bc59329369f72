//! What the bridge drops during a fault: nftables rules in its forward hook
//! (a partition, or loss by `numgen random`) and `tc netem` loss on the
//! agents' bridge ports where the kernel has it; each removed by a guard.

use super::world::ChaosLab;
use crate::lab::{LabError, Namespace};

/// The nftables table the lab's drop rules live in (bridge namespace).
const TABLE: &str = "twinstar_chaos";

/// How the lab drops a share of the frames between the agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossMethod {
    /// `tc netem` on the agents' bridge ports, for VRRP adverts only.
    Netem,
    /// An nftables `numgen random` drop rule in the bridge's forward hook.
    Nftables,
}

impl LossMethod {
    /// netem when this kernel has everything it takes (the `prio` and `netem`
    /// qdiscs, the `u32` filter), else nftables: the whole setup is tried on
    /// the third host's bridge port, which no measurement goes through.
    pub fn probe(world: &ChaosLab) -> LossMethod {
        let bridge = world.lab.bridge();
        let port = world.lab.hosts[2].port();
        let works = Netem::install(bridge, port, 1).is_ok();
        let _ = bridge.exec("tc", &["qdisc", "del", "dev", port, "root"]);
        if works {
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

/// nftables rules in the bridge namespace's forward hook; the table is deleted
/// when dropped (and goes with the namespace in any case).
pub struct Rules<'a> {
    world: &'a ChaosLab,
    removed: bool,
}

impl<'a> Rules<'a> {
    /// Adds `rules` (nftables rule text after `add rule ... forward`) in a
    /// table of their own.
    pub fn add(world: &'a ChaosLab, rules: &[String]) -> Result<Rules<'a>, LabError> {
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

    /// Deletes the table, reporting a failure (dropping does it silently).
    pub fn remove(mut self) -> Result<(), LabError> {
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
pub enum Lossy<'a> {
    /// nftables `numgen random` drops.
    Nftables(Rules<'a>),
    /// netem on the ports.
    Netem(Netem<'a>),
}

impl<'a> Lossy<'a> {
    /// Starts losing `percent` % of the frames between the agents by `method`.
    pub fn new(
        world: &'a ChaosLab,
        method: LossMethod,
        percent: u8,
    ) -> Result<Lossy<'a>, LabError> {
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

    /// Ends the loss, reporting a failure (dropping does it silently).
    pub fn remove(self) -> Result<(), LabError> {
        match self {
            Lossy::Nftables(rules) => rules.remove(),
            Lossy::Netem(netem) => netem.remove(),
        }
    }
}

/// netem on the bridge ports towards both agents, removed when dropped.
pub struct Netem<'a> {
    world: &'a ChaosLab,
    removed: bool,
}

impl<'a> Netem<'a> {
    fn add(world: &'a ChaosLab, percent: u8) -> Result<Netem<'a>, LabError> {
        let guard = Netem {
            world,
            removed: false,
        };
        for host in &world.lab.hosts[..2] {
            Self::install(world.lab.bridge(), host.port(), percent)?;
        }
        Ok(guard)
    }

    /// Frames leaving the bridge on `port`: a prio qdisc whose third band
    /// (netem, `percent` % loss) takes VRRP (IP protocol 112) only, so that the
    /// agents' answers to the client are never lost.
    fn install(bridge: &Namespace, port: &str, percent: u8) -> Result<(), LabError> {
        let loss = format!("{percent}%");
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
        Ok(())
    }

    /// Removes the qdiscs from both ports (each tried), reporting the first failure.
    fn clear(&self) -> Result<(), LabError> {
        let bridge = self.world.lab.bridge();
        let results: Vec<Result<_, LabError>> = self.world.lab.hosts[..2]
            .iter()
            .map(|host| bridge.exec("tc", &["qdisc", "del", "dev", host.port(), "root"]))
            .collect();
        results
            .into_iter()
            .try_for_each(|result| result.map(|_| ()))
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
