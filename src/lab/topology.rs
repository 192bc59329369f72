//! The lab's shape: a bridge namespace, agent hosts and one client, each host wired
//! to the bridge by a veth pair whose bridge end can be cut like a pulled cable.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::netns::{LabError, Namespace};

/// One host on the lab segment.
#[derive(Debug)]
pub struct Host {
    /// The host's namespace.
    pub ns: Namespace,
    /// Its interface on the segment (always `eth0`).
    pub interface: String,
    /// Its own IPv4 address (/24).
    pub ipv4: Ipv4Addr,
    /// Its own IPv6 address (/64).
    pub ipv6: Ipv6Addr,
    /// The bridge-side port name of its cable.
    port: String,
}

impl Host {
    /// The bridge-side port name of the host's cable, for nftables rules that
    /// match `iifname` / `oifname` in the bridge namespace.
    pub fn port(&self) -> &str {
        &self.port
    }

    /// The MAC address of the host's interface, as `ip` prints it.
    pub fn mac(&self) -> Result<String, LabError> {
        let out = self
            .ns
            .ip(&["-br", "link", "show", "dev", &self.interface])?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string())
    }

    /// The link-layer address in this host's neighbour table for `address` (IPv4
    /// or IPv6); empty when there is no entry.
    pub fn neighbour_mac(&self, address: &str) -> Result<String, LabError> {
        let out = self.ns.ip(&["neigh", "show", address])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        Ok(words
            .find(|w| *w == "lladdr")
            .and(words.next())
            .unwrap_or_default()
            .to_string())
    }

    /// Whether `address` (no prefix) is configured on the host's interface.
    pub fn has_address(&self, address: &str) -> Result<bool, LabError> {
        let out = self
            .ns
            .ip(&["-o", "addr", "show", "dev", &self.interface])?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(address)))
    }
}

/// The whole lab; dropping it removes every namespace it made.
#[derive(Debug)]
pub struct Lab {
    /// Agent hosts, `192.0.2.11`, `.12`, ... and `2001:db8::11`, ...
    pub hosts: Vec<Host>,
    /// The client, `192.0.2.100` / `2001:db8::100`.
    pub client: Host,
    /// Declared last so it is dropped last: the bridge outlives the cables.
    bridge: Namespace,
}

impl Lab {
    /// Builds a lab named `prefix` (unique per run) with `agents` agent hosts.
    pub fn build(prefix: &str, agents: usize) -> Result<Lab, LabError> {
        let bridge = Namespace::create(&format!("{prefix}-br"))?;
        bridge.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        bridge.ip(&["link", "set", "br0", "up"])?;
        let mut hosts = Vec::new();
        for i in 0..agents {
            let octet = 11 + i as u8;
            hosts.push(Self::host(
                &bridge,
                &format!("{prefix}-h{}", i + 1),
                &format!("p{}", i + 1),
                octet,
            )?);
        }
        let client = Self::host(&bridge, &format!("{prefix}-cl"), "pc", 100)?;
        Ok(Lab {
            hosts,
            client,
            bridge,
        })
    }

    fn host(bridge: &Namespace, name: &str, port: &str, octet: u8) -> Result<Host, LabError> {
        let ns = Namespace::create(name)?;
        // No duplicate address detection: the lab's addresses are unique by
        // construction, and a tentative link-local would delay IPv6 adverts.
        ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        let host = Host {
            ns,
            interface: "eth0".into(),
            ipv4: Ipv4Addr::new(192, 0, 2, octet),
            ipv6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(octet)),
            port: port.into(),
        };
        Self::cable(bridge, &host, None)?;
        // Loopback too, as on any host: local services and checks use it.
        host.ns.ip(&["link", "set", "lo", "up"])?;
        Ok(host)
    }

    /// Makes `host`'s cable: a veth pair from the bridge to its `eth0` (with
    /// `mac` on the host end, if given), with the host's addresses, up. The
    /// addresses come before the link is up, as an interface's configuration
    /// usually does.
    fn cable(bridge: &Namespace, host: &Host, mac: Option<&str>) -> Result<(), LabError> {
        let (port, name) = (host.port.as_str(), host.ns.name());
        let mut add = vec!["link", "add", port, "type", "veth", "peer", "name", "eth0"];
        if let Some(mac) = mac {
            add.extend(["address", mac]);
        }
        add.extend(["netns", name]);
        bridge.ip(&add)?;
        bridge.ip(&["link", "set", port, "master", "br0"])?;
        bridge.ip(&["link", "set", port, "up"])?;
        let ns = &host.ns;
        ns.ip(&["addr", "add", &format!("{}/24", host.ipv4), "dev", "eth0"])?;
        let ipv6 = format!("{}/64", host.ipv6);
        ns.ip(&["addr", "add", &ipv6, "dev", "eth0", "nodad"])?;
        ns.ip(&["link", "set", "eth0", "up"])?;
        Ok(())
    }

    /// Deletes host `index`'s interface (`ip link del eth0`; the bridge end of
    /// the veth pair goes with it), as an operator rebuilding a link does.
    pub fn delete_interface(&self, index: usize) -> Result<(), LabError> {
        let host = &self.hosts[index];
        host.ns.ip(&["link", "del", &host.interface]).map(|_| ())
    }

    /// Makes host `index`'s interface again after [`delete_interface`]
    /// (Self::delete_interface): same name and addresses, a new index and MAC.
    pub fn create_interface(&self, index: usize) -> Result<(), LabError> {
        Self::cable(&self.bridge, &self.hosts[index], None)
    }

    /// Like [`create_interface`](Self::create_interface), with the MAC the
    /// interface had (`mac`), as a re-created NIC or a configured one keeps it.
    pub fn recreate_interface(&self, index: usize, mac: &str) -> Result<(), LabError> {
        Self::cable(&self.bridge, &self.hosts[index], Some(mac))
    }

    /// Pulls (`false`) or plugs back (`true`) host `index`'s cable at the bridge.
    pub fn set_cable(&self, index: usize, connected: bool) -> Result<(), LabError> {
        let state = if connected { "up" } else { "down" };
        self.bridge
            .ip(&["link", "set", &self.hosts[index].port, state])
            .map(|_| ())
    }

    /// Which agent hosts hold `address` right now, in host order.
    pub fn holders(&self, address: &str) -> Result<Vec<bool>, LabError> {
        self.hosts.iter().map(|h| h.has_address(address)).collect()
    }

    /// The bridge namespace (for nftables loss rules).
    pub fn bridge(&self) -> &Namespace {
        &self.bridge
    }
}
