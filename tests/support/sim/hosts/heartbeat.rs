//! Each simulated host's second link, `eth1`, for `heartbeat: [eth1]`: a
//! network of its own between the hosts, cut by its own cable only (the
//! first link's loss, delay and cuts do not apply), never re-created.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use twinstar::agent::{Datagram, Input, LinkFacts, SocketKey};
use twinstar::wire::{VRRP_GROUP_V4, VRRP_GROUP_V6};

use super::{HostId, Pending, World};

/// The index of every host's second link, `eth1`.
pub const HEARTBEAT_IFINDEX: u32 = 100;

impl World {
    /// Host `id`'s addresses on its second link, `eth1`: 198.51.100.(10 +
    /// id) and fe80::1:(10 + id).
    pub fn heartbeat_address(id: HostId, ipv6: bool) -> IpAddr {
        if ipv6 {
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 1, 10 + id as u16))
        } else {
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10 + id as u8))
        }
    }

    /// Plugs (true) or pulls (false) the cable of host `id`'s second link,
    /// `eth1`; the agent hears of it.
    pub fn set_heartbeat_link(&mut self, id: HostId, up: bool) {
        self.hosts[id].heartbeat_up = up;
        let input = Input::Link {
            ifindex: HEARTBEAT_IFINDEX,
            name: "eth1".into(),
            carrier: up,
        };
        self.feed(id, input);
    }

    /// The daemon's lookup of a heartbeat link ends: `eth1` is there, any
    /// other name is not.
    pub(super) fn heartbeat_lookup_done(
        &mut self,
        host: HostId,
        incarnation: u32,
        interface: String,
        ipv6: bool,
    ) {
        if self.hosts[host].incarnation != incarnation {
            return;
        }
        let facts = if interface == "eth1" {
            Ok(LinkFacts {
                ifindex: HEARTBEAT_IFINDEX,
                source: Self::heartbeat_address(host, ipv6),
                carrier: self.hosts[host].heartbeat_up,
            })
        } else {
            Err(format!("no interface named {interface:?}"))
        };
        let input = Input::HeartbeatFacts {
            interface,
            ipv6,
            facts,
        };
        self.feed(host, input);
    }

    /// Multicasts an advert on the second link, `eth1`, to every host whose
    /// cable there is plugged in; loss and cuts of the first link do not
    /// apply (it is another network).
    pub(super) fn broadcast_heartbeat(&mut self, from: HostId, ipv6: bool, packet: &[u8]) {
        if !self.hosts[from].heartbeat_up {
            return;
        }
        let destination = if ipv6 {
            IpAddr::V6(VRRP_GROUP_V6)
        } else {
            IpAddr::V4(VRRP_GROUP_V4)
        };
        for to in 0..self.hosts.len() {
            if !self.hosts[to].heartbeat_up {
                continue;
            }
            let datagram = Datagram {
                socket: SocketKey {
                    ifindex: HEARTBEAT_IFINDEX,
                    ipv6,
                },
                source: Self::heartbeat_address(from, ipv6),
                destination,
                hop_limit: Some(255),
                payload: Ok(packet.to_vec().into()),
            };
            self.schedule(self.now, Pending::Deliver { to, datagram });
        }
    }
}
