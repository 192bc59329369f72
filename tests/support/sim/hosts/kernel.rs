//! The kernel's side of the addresses in the simulated world: notifications
//! of every change (our own jobs' echoes included, arriving late), and
//! changes made behind the agent's back (an admin, `ifup`, another tool).

use std::collections::BTreeSet;
use std::net::IpAddr;

use twinstar::agent::{Input, KernelAddress};

use super::{HostId, Pending, World};

impl World {
    /// Someone deletes `address` from host `id`'s interface, not its agent.
    pub fn delete_address(&mut self, id: HostId, address: IpAddr) {
        if self.hosts[id].addresses.remove(&address) {
            self.schedule_notice(id, address, false);
        }
    }

    /// Someone adds `address` to host `id`'s interface, not its agent.
    pub fn add_address(&mut self, id: HostId, address: IpAddr) {
        if self.hosts[id].addresses.insert(address) {
            self.schedule_notice(id, address, true);
        }
    }

    /// Host `id`'s daemon re-reads every address (after lost notifications,
    /// or its periodic re-read) and tells its agent.
    pub fn reread_addresses(&mut self, id: HostId) {
        let snapshot = self.hosts[id]
            .addresses
            .iter()
            .map(|&address| KernelAddress {
                ifindex: self.hosts[id].ifindex,
                address,
            })
            .collect();
        self.feed(id, Input::AddressSnapshot(snapshot));
    }

    /// The notifications of what an address job changed on host `id`.
    pub(super) fn notify_changes(&mut self, id: HostId, before: &BTreeSet<IpAddr>) {
        let after = self.hosts[id].addresses.clone();
        for &gone in before.difference(&after) {
            self.schedule_notice(id, gone, false);
        }
        for &came in after.difference(before) {
            self.schedule_notice(id, came, true);
        }
    }

    fn schedule_notice(&mut self, id: HostId, address: IpAddr, present: bool) {
        let incarnation = self.hosts[id].incarnation;
        let at = self.now + self.notice_delay;
        self.schedule(
            at,
            Pending::Notice {
                host: id,
                incarnation,
                address,
                present,
            },
        );
    }

    /// A notification reaches the agent it was meant for, if it still runs.
    pub(super) fn deliver_notice(
        &mut self,
        id: HostId,
        incarnation: u32,
        address: IpAddr,
        present: bool,
    ) {
        if self.hosts[id].incarnation != incarnation {
            return;
        }
        let address = KernelAddress {
            ifindex: self.hosts[id].ifindex,
            address,
        };
        self.feed(id, Input::AddressChanged { address, present });
    }
}
