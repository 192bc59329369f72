//! RFC 9568 Accept_Mode, decided as data: which virtual IPs this host must
//! refuse traffic to right now. A Master that is not the address owner
//! (priority below 255) with Accept_Mode False "MUST NOT accept packets
//! addressed to the IPvX address(es) associated with the Virtual Router"
//! (§6.4.3), yet must still answer ARP and Neighbor Discovery for them. The
//! agent hands the daemon the whole set each time it changes
//! ([`Effect::AcceptFilter`]), so applying it twice, or after a lost one, is
//! harmless; the daemon enforces it with a firewall table of its own.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::instance::InstanceCore;
use super::{Agent, Effect};
use crate::config;

/// The priority of the address owner (RFC 9568 §6.1), which always accepts.
const OWNER_PRIORITY: u8 = 255;

/// Whether an instance's VIPs must be refused while it holds them: it is not
/// their owner and its `accept` is false. An owner answers on its own
/// addresses whatever `accept` says (RFC 9568 §6.1, Accept_Mode).
pub fn refuses_traffic(config: &config::Instance) -> bool {
    !config.accept && config.priority.get() != OWNER_PRIORITY
}

/// The VIPs to refuse: those of every instance that holds them now (from the
/// moment they are asked on until they are asked off, handovers included)
/// and [`refuses_traffic`]. A Backup holds none, so it has no rule.
pub fn refused_vips<'a>(instances: impl IntoIterator<Item = &'a InstanceCore>) -> BTreeSet<IpAddr> {
    instances
        .into_iter()
        .filter(|i| i.reconcile.holding() && refuses_traffic(&i.config))
        .flat_map(|i| i.config.virtual_ips.iter().map(|vip| vip.addr))
        .collect()
}

impl Agent {
    /// Hands the daemon the set of refused VIPs when it changed since the
    /// last one handed out.
    pub(super) fn settle_accept_filter(&mut self) {
        let refused = refused_vips(self.instances.iter().chain(self.retiring.iter()));
        if refused != self.accept_filter {
            self.accept_filter = refused.clone();
            self.out.push(Effect::AcceptFilter(refused));
        }
    }
}
