//! The split-brain lab: the two agent hosts and the client of a [`Lab`] on
//! the service link (192.0.2.0/24, adverts and the VIP), plus a management
//! link (198.51.100.0/24, a bridge of its own) joining the two agent hosts
//! and a third, small host, the witness; each of the three runs an etcd
//! member, so the agents' quorum store survives the loss of any one host —
//! the two-node-plus-witness layout the README recommends.
//!
//! Faults: the service link between the two agents alone (an nftables rule
//! on the service bridge, the client still reaches both), a host's whole
//! connectivity (both cables), a host's management cable, an etcd member.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::etcd::{wait_for_leader, EtcdMember, MemberSpec};
use super::netns::{LabError, Namespace};
use super::topology::Lab;

/// Index of the witness among the etcd members (agents are 0 and 1).
pub const WITNESS: usize = 2;

/// The nftables table the agent-link cut lives in, on the service bridge.
const CUT_TABLE: &str = "quorumcut";
/// The nftables table that isolates a host.
const ISOLATE_TABLE: &str = "quorumisolate";

/// How long a fresh cluster may take to elect its first leader on a loaded
/// machine.
const CLUSTER_START: Duration = Duration::from_secs(30);

/// The split-brain lab; dropping it stops the members, then removes the
/// namespaces.
pub struct QuorumLab {
    /// The etcd members of hosts 1, 2 and the witness, by index. Declared
    /// first: dropped (killed) before their namespaces go.
    pub members: Vec<EtcdMember>,
    /// The service link: agent hosts 0 and 1 and the client.
    pub lab: Lab,
    /// The witness host.
    pub witness: Namespace,
    /// The management bridge.
    mgmt: Namespace,
    /// Where the members keep their data and logs.
    dir: PathBuf,
}

impl QuorumLab {
    /// Builds the lab named `prefix` (unique per run) and starts the etcd
    /// cluster, with member files under `dir`; returns once it has a leader.
    pub fn build(prefix: &str, dir: &Path) -> Result<QuorumLab, LabError> {
        let lab = Lab::build(prefix, 2)?;
        let mgmt = Namespace::create(&format!("{prefix}-mg"))?;
        mgmt.ip(&["link", "add", "mg0", "type", "bridge"])?;
        mgmt.ip(&["link", "set", "mg0", "up"])?;
        let witness = Namespace::create(&format!("{prefix}-w"))?;
        witness.ip(&["link", "set", "lo", "up"])?;
        let hosts: [&Namespace; 3] = [&lab.hosts[0].ns, &lab.hosts[1].ns, &witness];
        let specs: Vec<MemberSpec> = ["a", "b", "w"]
            .iter()
            .enumerate()
            .map(|(i, name)| MemberSpec {
                name: (*name).to_owned(),
                address: Self::mgmt_address(i),
            })
            .collect();
        for (i, ns) in hosts.iter().enumerate() {
            let port = Self::mgmt_port(i);
            mgmt.ip(&[
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                "mgmt0",
                "netns",
                ns.name(),
            ])?;
            mgmt.ip(&["link", "set", &port, "master", "mg0"])?;
            mgmt.ip(&["link", "set", &port, "up"])?;
            let address = format!("{}/24", specs[i].address);
            ns.ip(&["addr", "add", &address, "dev", "mgmt0"])?;
            ns.ip(&["link", "set", "mgmt0", "up"])?;
        }
        let mut members = Vec::new();
        for (i, ns) in hosts.iter().enumerate() {
            members.push(EtcdMember::start(ns, &specs[i], &specs, prefix, dir)?);
        }
        let quorum = QuorumLab {
            members,
            lab,
            witness,
            mgmt,
            dir: dir.to_path_buf(),
        };
        let endpoints = quorum.endpoints();
        if let Err(e) = wait_for_leader(&quorum.lab.hosts[0].ns, &endpoints, CLUSTER_START) {
            return Err(LabError::Step(format!("{e}\n{}", quorum.member_logs())));
        }
        Ok(quorum)
    }

    /// The management address of member `index` (0, 1: agent hosts; 2: witness).
    pub fn mgmt_address(index: usize) -> Ipv4Addr {
        Ipv4Addr::new(198, 51, 100, 11 + index as u8)
    }

    fn mgmt_port(index: usize) -> String {
        format!("m{}", index + 1)
    }

    /// Every member's client URL.
    pub fn endpoints(&self) -> Vec<String> {
        (0..3)
            .map(|i| {
                format!(
                    "http://{}:{}",
                    Self::mgmt_address(i),
                    super::etcd::CLIENT_PORT
                )
            })
            .collect()
    }

    /// The `quorum:` and `node_id:` keys of agent host `index`'s
    /// configuration, for a lease of `lease_ttl` and `on_loss`
    /// (`release` or `keep`).
    pub fn quorum_keys(&self, index: usize, lease_ttl: Duration, on_loss: &str) -> String {
        let endpoints = self.endpoints().join(", ");
        format!(
            "quorum:\n  etcd:\n    endpoints: [{endpoints}]\n    prefix: /twinstar/lab\n    lease_ttl: {}ms\n  on_loss: {on_loss}\nnode_id: {}\n",
            lease_ttl.as_millis(),
            ["a", "b"][index]
        )
    }

    /// Cuts (`true`) or mends the service link between the two agents only:
    /// the bridge drops frames between their ports, each still reaches the
    /// client, and both still reach the witness over the management link.
    pub fn cut_agents_link(&self, cut: bool) -> Result<(), LabError> {
        let bridge = self.lab.bridge();
        let _ = bridge.exec("nft", &["delete", "table", "bridge", CUT_TABLE]);
        if !cut {
            return Ok(());
        }
        let (p1, p2) = (self.lab.hosts[0].port(), self.lab.hosts[1].port());
        let rules = format!(
            "table bridge {CUT_TABLE} {{\n chain forward {{\n  type filter hook forward priority 0; policy accept;\n  iifname \"{p1}\" oifname \"{p2}\" drop\n  iifname \"{p2}\" oifname \"{p1}\" drop\n }}\n}}\n"
        );
        let path = self.dir.join("cut.nft");
        std::fs::write(&path, rules)?;
        let path = path.to_string_lossy().into_owned();
        bridge.exec("nft", &["-f", &path]).map(|_| ())
    }

    /// Plugs (`true`) or pulls member `index`'s management cable.
    pub fn set_mgmt_cable(&self, index: usize, connected: bool) -> Result<(), LabError> {
        let state = if connected { "up" } else { "down" };
        self.mgmt
            .ip(&["link", "set", &Self::mgmt_port(index), state])
            .map(|_| ())
    }

    /// Cuts agent host `index` off completely (service and management
    /// links), as a switch that stops forwarding its ports would: the bridges
    /// drop every frame to and from the host, and its carrier stays up, so
    /// nothing but the silence tells it. (Pulling its cables instead would
    /// put it in Fault at once, which proves nothing about the lease.)
    pub fn isolate(&self, index: usize) -> Result<(), LabError> {
        let service = self.lab.hosts[index].port().to_owned();
        drop_port(self.lab.bridge(), &self.dir, "service", &service)?;
        drop_port(&self.mgmt, &self.dir, "mgmt", &Self::mgmt_port(index))
    }

    /// Every member's log, for failure messages.
    pub fn member_logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("--- etcd {} ---\n{}", m.spec().name, m.log()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Makes the bridge in `bridge` drop every frame in or out of `port`.
fn drop_port(bridge: &Namespace, dir: &Path, tag: &str, port: &str) -> Result<(), LabError> {
    let rules = format!(
        "table bridge {ISOLATE_TABLE} {{\n chain forward {{\n  type filter hook forward priority 0; policy accept;\n  iifname \"{port}\" drop\n  oifname \"{port}\" drop\n }}\n}}\n"
    );
    let path = dir.join(format!("isolate-{tag}.nft"));
    std::fs::write(&path, rules)?;
    let path = path.to_string_lossy().into_owned();
    bridge.exec("nft", &["-f", &path]).map(|_| ())
}
