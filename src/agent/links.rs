//! Instances follow their interface by name. An interface that is deleted
//! faults its instances and releases their sockets; one that appears again
//! under the same name (a VLAN or bond rebuilt, a veth re-created) usually has
//! another index, so its facts — index, MAC, addresses, socket — are looked up
//! again and the instances rebound to it in place, keeping their identity,
//! counters and maintenance. Back with carrier, they leave Fault through
//! Initialize as at start (RFC 9568 §6.4.1: Backup, or Master when they own
//! the addresses).
//!
//! Sans-IO like the rest of the agent: it asks for a lookup with
//! [`Effect::LookUpInterface`] and is answered with [`Input::InterfaceFacts`].

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{Agent, Effect, InstanceFacts, InstanceId, SocketKey};
use crate::notify::record::EventRecord;

/// How long to wait before looking an interface up again when its facts
/// could not be had (for example its address is not configured yet).
pub const LOOKUP_RETRY: Duration = Duration::from_secs(1);

/// What the agent knows about the interfaces its instances follow.
#[derive(Debug, Default)]
pub struct LinkBook {
    /// The index each interface name has now, as last reported; `None` once
    /// the interface was deleted or renamed away. Names never reported are
    /// taken to be where the instance's facts say.
    index_of: HashMap<String, Option<u32>>,
    /// Instances whose interface was deleted: their facts and socket are dead
    /// until they are looked up again.
    unbound: HashSet<InstanceId>,
    /// Interfaces whose lookup failed, and when to try again.
    retries: HashMap<String, Instant>,
}

impl LinkBook {
    /// The earliest lookup retry.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.retries.values().min().copied()
    }

    /// An instance starts on `interface`, found at `ifindex` just now: that
    /// is where the name is (whatever was heard of it before).
    pub fn started_on(&mut self, interface: &str, ifindex: u32) {
        self.index_of.insert(interface.to_owned(), Some(ifindex));
    }

    /// The index an interface name has now, when known.
    pub fn current_index(&self, interface: &str) -> Option<u32> {
        self.index_of.get(interface).copied().flatten()
    }

    /// Why the interface an instance was started on cannot be used, if so.
    fn unusable(&self, id: InstanceId, interface: &str, facts: &InstanceFacts) -> Option<String> {
        match self.index_of.get(interface) {
            Some(None) => Some(format!("interface {interface} is gone")),
            Some(Some(index)) if *index != facts.ifindex || self.unbound.contains(&id) => Some(
                format!("interface {interface} was re-created (index {index}); rebinding"),
            ),
            _ if self.unbound.contains(&id) => Some(format!("interface {interface} is gone")),
            _ => None,
        }
    }
}

impl Agent {
    /// Whether instance `index` can use its interface now: the interface it
    /// was bound to still exists under its name, and has carrier.
    pub(super) fn link_up(&self, index: usize) -> bool {
        let instance = &self.instances[index];
        self.link_fault(index).is_none()
            && self
                .carrier
                .get(&instance.facts.ifindex)
                .copied()
                .unwrap_or(false)
    }

    /// Why instance `index`'s interface is unusable beyond its carrier.
    pub(super) fn link_fault(&self, index: usize) -> Option<String> {
        let instance = &self.instances[index];
        self.links
            .unusable(instance.id, &instance.config.interface, &instance.facts)
    }

    /// An interface exists with this index and carrier.
    pub(super) fn on_link(&mut self, now: Instant, ifindex: u32, name: &str, carrier: bool) {
        let previous = self.carrier.insert(ifindex, carrier);
        self.vip_links.on_link(ifindex, name, carrier);
        // A rename takes the index away from its old name.
        for (other, index) in self.links.index_of.iter_mut() {
            if other != name && *index == Some(ifindex) {
                info!(interface = %other, "interface renamed to {name}");
                *index = None;
            }
        }
        // Only the names instances follow are kept: a host whose containers
        // make and delete interfaces all day must not grow this table.
        if self.follows(name) {
            self.links.index_of.insert(name.to_owned(), Some(ifindex));
        }
        for event in self.checks.on_link(name, carrier, now) {
            self.out.push(Effect::Event(EventRecord::Check(event)));
        }
        if previous.is_some() && previous != Some(carrier) {
            info!(interface = %name, carrier, "link changed");
        }
        if self.follows_heartbeat(name) {
            self.heartbeat_link_seen(name, ifindex);
        }
        if self.needs_rebind(name) {
            info!(interface = %name, ifindex, "interface is back: looking it up");
            self.links.retries.remove(name);
            self.out.push(Effect::LookUpInterface {
                interface: name.to_owned(),
            });
        }
        self.reassess(now);
    }

    /// An interface was deleted: its instances fault and their sockets go.
    pub(super) fn on_link_removed(&mut self, now: Instant, ifindex: u32, name: &str) {
        self.carrier.remove(&ifindex);
        self.vip_links.on_link_removed(ifindex, name);
        // A late deletion of an index the name no longer has (it was made
        // again meanwhile) leaves the name alone.
        let is_current = match self.links.index_of.get(name) {
            Some(Some(index)) => *index == ifindex,
            Some(None) => false,
            None => true,
        };
        for index in self.links.index_of.values_mut() {
            if *index == Some(ifindex) {
                *index = None;
            }
        }
        if !name.is_empty() && is_current {
            if self.follows(name) {
                self.links.index_of.insert(name.to_owned(), None);
            }
            self.links.retries.remove(name);
            for event in self.checks.on_link(name, false, now) {
                self.out.push(Effect::Event(EventRecord::Check(event)));
            }
        }
        self.heartbeat_link_removed(ifindex);
        // A virtual MAC interface deleted under a running instance is made
        // again by looking its interface up (the daemon makes what is missing).
        let lost_vmac: Vec<String> = self
            .instances
            .iter()
            .filter(|i| i.facts.vmac.as_ref().is_some_and(|v| v.ifindex == ifindex))
            .map(|i| i.config.interface.clone())
            .collect();
        for interface in lost_vmac {
            // Unless the interface below went too: then it is looked up
            // when it comes back.
            if self.links.index_of.get(&interface) != Some(&None) {
                warn!(%interface, "the virtual MAC interface on it was deleted: making it again");
                self.out.push(Effect::LookUpInterface { interface });
            }
        }
        for instance in &self.instances {
            if instance.facts.ifindex == ifindex && self.links.unbound.insert(instance.id) {
                warn!(instance = %instance.config.name, "interface {} was deleted", instance.config.interface);
            }
        }
        self.release_sockets();
        self.reassess(now);
    }

    /// The daemon's answer to [`Effect::LookUpInterface`]: rebinds the
    /// instances on `interface` whose facts are for its current index.
    pub(super) fn on_interface_facts(
        &mut self,
        now: Instant,
        interface: &str,
        facts: &HashMap<String, Result<InstanceFacts, String>>,
    ) {
        let current = self.links.index_of.get(interface).copied().flatten();
        let mut failure = None;
        for index in 0..self.instances.len() {
            let instance = &self.instances[index];
            if instance.config.interface != interface {
                continue;
            }
            match facts.get(&instance.config.name) {
                Some(Ok(found)) if Some(found.ifindex) == current => {
                    let stale = self.links.unbound.contains(&instance.id)
                        || found.ifindex != instance.facts.ifindex
                        || found.vmac != instance.facts.vmac;
                    if stale {
                        self.rebind(index, found.clone());
                    }
                }
                // For an index that is gone again: a later lookup follows.
                Some(Ok(_)) => {}
                Some(Err(why)) => failure = Some(why.clone()),
                None => failure = Some("it was not looked up".to_owned()),
            }
        }
        // Sockets opened for facts that were not used are closed again.
        let mut unused: Vec<SocketKey> = facts
            .values()
            .filter_map(|f| f.as_ref().ok())
            .flat_map(|f| [f.socket(), f.send_socket()])
            .filter(|key| !self.sockets.contains_key(key))
            .collect();
        unused.sort_unstable();
        unused.dedup();
        self.release_sockets();
        for key in unused {
            self.out.push(Effect::CloseSocket(key));
        }
        match failure {
            Some(why) if current.is_some() && self.needs_rebind(interface) => {
                warn!(
                    interface,
                    "looking the interface up failed, retrying in {LOOKUP_RETRY:?}: {why}"
                );
                self.links
                    .retries
                    .insert(interface.to_owned(), now + LOOKUP_RETRY);
            }
            _ => {
                self.links.retries.remove(interface);
            }
        }
        self.reassess(now);
    }

    /// Asks again for the interfaces whose retry is due.
    pub(super) fn retry_lookups(&mut self, now: Instant) {
        let due: Vec<String> = self
            .links
            .retries
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(name, _)| name.clone())
            .collect();
        for interface in due {
            self.links.retries.remove(&interface);
            if self.needs_rebind(&interface) {
                self.out.push(Effect::LookUpInterface { interface });
            }
        }
    }

    /// Whether an instance runs on the interface called `name`, or has it
    /// as a heartbeat link.
    fn follows(&self, name: &str) -> bool {
        !name.is_empty()
            && (self.instances.iter().any(|i| i.config.interface == name)
                || self.follows_heartbeat(name))
    }

    /// Whether an instance on `interface` is not bound to its current index.
    fn needs_rebind(&self, interface: &str) -> bool {
        let Some(Some(current)) = self.links.index_of.get(interface) else {
            return false;
        };
        self.instances.iter().any(|i| {
            i.config.interface == interface
                && (i.facts.ifindex != *current || self.links.unbound.contains(&i.id))
        })
    }

    /// Moves instance `index` to the interface described by `facts`: new
    /// advert source, a new address worker for the new index and MAC, and the
    /// new socket in the receive index.
    fn rebind(&mut self, index: usize, facts: InstanceFacts) {
        let instance = &mut self.instances[index];
        let mut settings = instance.router.settings().clone();
        settings.primary_address = super::unicast::advert_source(&instance.config, facts.source);
        if let Err(e) = instance.router.update_settings(settings) {
            warn!(instance = %instance.config.name, "keeping the old advert source: {e}");
        }
        info!(
            instance = %instance.config.name,
            interface = %instance.config.interface,
            ifindex = facts.ifindex,
            "bound to the re-created interface"
        );
        self.carrier.entry(facts.ifindex).or_insert(facts.carrier);
        instance.facts = facts;
        self.links.unbound.remove(&instance.id);
        // The old worker finishes what it was given and stops; the new one
        // manages the VIPs on the new interface.
        self.out
            .push(Effect::StartInstance(Box::new(instance.address_target())));
        // What the new interface holds was never compared with what the
        // instance wants (a notification may have named its index before
        // the instance knew it): the new worker looks.
        instance.want_verify(&mut self.out);
        self.release_sockets();
    }

    /// Rebuilds the receive index from the bound instances, and closes the
    /// sockets none of them uses any more.
    pub(super) fn release_sockets(&mut self) {
        let before: Vec<SocketKey> = self.sockets.keys().copied().collect();
        self.reindex();
        let mut released: Vec<SocketKey> = before
            .into_iter()
            .filter(|key| !self.sockets.contains_key(key))
            .collect();
        released.sort_unstable();
        for key in released {
            self.out.push(Effect::CloseSocket(key));
        }
    }

    /// Whether instance `id` is bound to a live interface (its socket is in
    /// the receive index).
    pub(super) fn is_bound(&self, id: InstanceId) -> bool {
        !self.links.unbound.contains(&id)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vmac_tests;
