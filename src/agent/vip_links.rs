//! The interfaces that carry virtual IPs but not the adverts (a dedicated
//! heartbeat network carries those): their carrier decides an instance's
//! health as much as the advert interface's does, since a Master whose VIP
//! interface lost carrier serves nobody while its adverts still keep every
//! Backup quiet. Losing it is therefore a Fault of the instance, so that a
//! Backup takes over.
//!
//! They are followed by name, as the advert interface is: a deletion is a
//! loss of carrier, and the interface made again under the same name (any
//! index) is used once it has carrier. The address worker looks the name up
//! whenever it needs the index, so nothing has to be rebound here.

use std::collections::HashMap;

use tracing::info;

use super::Agent;
use crate::config::Config;

/// What is known of one interface that carries VIPs only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct VipLink {
    /// Its index, once a link report named it; `None` before, and once it
    /// was deleted or renamed away.
    ifindex: Option<u32>,
    /// Up with carrier.
    up: bool,
}

/// The VIP-only interfaces of every instance, by name.
#[derive(Debug, Default)]
pub struct VipLinks {
    by_name: HashMap<String, VipLink>,
}

impl VipLinks {
    /// Follows the VIP-only interfaces of `config`: new ones start from
    /// `links` (the up-with-carrier state read with the configuration),
    /// those already followed keep what the link reports said since, and
    /// those no instance uses any more are forgotten.
    pub fn configure(&mut self, config: &Config, links: &HashMap<String, bool>) {
        let mut next = HashMap::new();
        for instance in &config.instances {
            for name in instance.vip_only_interfaces() {
                let known = self.by_name.get(name).copied().unwrap_or(VipLink {
                    ifindex: None,
                    up: links.get(name).copied().unwrap_or(false),
                });
                next.insert(name.to_owned(), known);
            }
        }
        self.by_name = next;
    }

    /// A link report: `name` is at `ifindex`, with or without carrier. A
    /// name that had this index before and is not `name` was renamed away.
    /// Returns whether anything followed changed.
    pub fn on_link(&mut self, ifindex: u32, name: &str, carrier: bool) -> bool {
        let mut changed = false;
        for (other, link) in &mut self.by_name {
            if other != name && link.ifindex == Some(ifindex) {
                *link = VipLink::default();
                changed = true;
            }
        }
        if let Some(link) = self.by_name.get_mut(name) {
            let now = VipLink {
                ifindex: Some(ifindex),
                up: carrier,
            };
            if *link != now {
                if link.up != carrier {
                    info!(interface = %name, carrier, "virtual IP interface changed");
                }
                *link = now;
                changed = true;
            }
        }
        changed
    }

    /// An interface was deleted (its name may be unknown): it carries
    /// nothing until it is reported again.
    pub fn on_link_removed(&mut self, ifindex: u32, name: &str) -> bool {
        let mut changed = false;
        for (other, link) in &mut self.by_name {
            let this_one = link.ifindex == Some(ifindex)
                || (other == name && link.ifindex.is_none_or(|i| i == ifindex));
            if this_one && *link != VipLink::default() {
                *link = VipLink::default();
                changed = true;
            }
        }
        changed
    }

    /// Whether `name` is up with carrier, as last reported.
    pub fn is_up(&self, name: &str) -> bool {
        self.by_name.get(name).is_some_and(|l| l.up)
    }

    /// The index `name` has now, when a link report said so.
    pub fn ifindex(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).and_then(|l| l.ifindex)
    }
}

impl Agent {
    /// Why instance `index` must be in Fault because of an interface that
    /// carries its VIPs (not its adverts): one reason per interface down.
    pub(super) fn vip_link_faults(&self, index: usize) -> Vec<String> {
        self.instances[index]
            .config
            .vip_only_interfaces()
            .into_iter()
            .filter(|name| !self.vip_links.is_up(name))
            .map(|name| format!("interface {name} of the virtual IPs is down"))
            .collect()
    }

    /// The index of the interface `vip` of instance `index` lives on, when
    /// known: the instance's virtual MAC interface or its own for a VIP on
    /// the advert interface.
    pub(super) fn vip_ifindex(&self, index: usize, vip: &crate::config::VirtualIp) -> Option<u32> {
        let instance = &self.instances[index];
        match &vip.interface {
            None => Some(
                instance
                    .facts
                    .vmac
                    .as_ref()
                    .map_or(instance.facts.ifindex, |vmac| vmac.ifindex),
            ),
            Some(name) => self.vip_links.ifindex(name.as_str()),
        }
    }
}

#[cfg(test)]
mod tests;
