//! Heartbeat links (an instance's `heartbeat`): extra interfaces on which
//! the Master sends the same adverts and a Backup hears them, so losing one
//! link between the routers causes no failover, as corosync's redundant
//! links do for a cluster. Each link carries ordinary VRRPv3 from our address
//! on that link, so a keepalived there sees a normal advert.
//!
//! A heartbeat link is not where the virtual IPs live: its carrier is never
//! a Fault (losing one of several links is what the links are for); it is
//! shown with the age of the last advert heard on it, so an operator sees a
//! dead link before it matters. Its socket is looked up and opened by the
//! daemon ([`Effect::LookUpHeartbeat`], answered by [`Input::HeartbeatFacts`]),
//! at start, after a reload that adds it, and whenever an interface of that
//! name appears again (a re-created VLAN or veth has a new index). Until then
//! the instance runs on its other links. How a heartbeat advert acts on the
//! state machine is in `vrrp/router/heartbeat.rs`.
//!
//! [`Input::HeartbeatFacts`]: super::Input::HeartbeatFacts

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};

use super::advert::AdvertTemplate;
use super::links::LOOKUP_RETRY;
use super::receive::SocketKey;
use super::{Agent, Effect};
use crate::config;

/// What the daemon found about a heartbeat link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkFacts {
    /// Interface index.
    pub ifindex: u32,
    /// Our address on it, of the instance's family: the source of our adverts
    /// there (IPv4 primary, or IPv6 link-local, as RFC 9568 §5.1 asks).
    pub source: IpAddr,
    /// Whether the interface is up with carrier now.
    pub carrier: bool,
}

impl LinkFacts {
    /// The VRRP socket of this link.
    pub fn socket(&self) -> SocketKey {
        SocketKey {
            ifindex: self.ifindex,
            ipv6: self.source.is_ipv6(),
        }
    }
}

/// An advert built for a link, or why it could not be.
pub type Built = Result<Arc<[u8]>, String>;

/// One heartbeat link of one instance.
#[derive(Debug)]
pub struct HeartbeatLink {
    /// The interface name, as configured.
    pub interface: String,
    /// Its facts, once looked up; `None` while it is missing or unusable.
    pub bound: Option<LinkFacts>,
    /// When an advert of another router was last accepted on it.
    pub last_heard: Option<Instant>,
    /// Adverts accepted on it.
    pub adverts_received: u64,
    /// Adverts that could not be built or sent on it.
    pub send_errors: u64,
    /// The adverts for this link: the checksum covers the source address,
    /// which differs from the interface's, so the bytes are built apart.
    advert: AdvertTemplate,
}

impl HeartbeatLink {
    /// The links of `config`, none bound yet.
    pub fn all_of(config: &config::Instance) -> Vec<HeartbeatLink> {
        config
            .heartbeat
            .iter()
            .map(|interface| HeartbeatLink {
                interface: interface.clone(),
                bound: None,
                last_heard: None,
                adverts_received: 0,
                send_errors: 0,
                advert: AdvertTemplate::new(config),
            })
            .collect()
    }

    /// The links of a reconfigured instance: links kept keep their binding
    /// and counters (a reload never unbinds a working link), new ones start
    /// unbound, removed ones go.
    pub fn reconfigured(old: Vec<HeartbeatLink>, config: &config::Instance) -> Vec<HeartbeatLink> {
        let mut old: BTreeMap<String, HeartbeatLink> = old
            .into_iter()
            .map(|link| (link.interface.clone(), link))
            .collect();
        HeartbeatLink::all_of(config)
            .into_iter()
            .map(|fresh| match old.remove(&fresh.interface) {
                Some(kept) => HeartbeatLink {
                    advert: fresh.advert,
                    ..kept
                },
                None => fresh,
            })
            .collect()
    }

    /// This link's advert with `priority` and `interval`, with its socket,
    /// source and destination (the VRRP group).
    pub fn packet(
        &mut self,
        vrid: u8,
        priority: u8,
        interval: std::time::Duration,
    ) -> Option<(SocketKey, IpAddr, IpAddr, Built)> {
        let facts = self.bound?;
        let group = crate::wire::vrrp_group(facts.source);
        let packet = self
            .advert
            .packet(vrid, priority, interval, facts.source, group);
        Some((facts.socket(), facts.source, group, packet))
    }

    /// Counts an advert that could not be built or sent on this link. Not
    /// fatal: the other links carry on.
    pub fn send_failed(&mut self, instance: &str, error: &str) {
        self.send_errors += 1;
        if self.send_errors.is_power_of_two() {
            warn!(instance, interface = %self.interface, errors = self.send_errors, "sending advert on heartbeat link failed: {error}");
        }
    }
}

/// The lookups of heartbeat links that failed, by (interface, IPv6), with
/// when to try again and what went wrong (logged when it changes).
#[derive(Debug, Default)]
pub struct HeartbeatLookups {
    retries: BTreeMap<(String, bool), (Instant, String)>,
}

impl HeartbeatLookups {
    /// The earliest retry.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.retries.values().map(|(at, _)| *at).min()
    }
}

impl Agent {
    /// Asks for the facts of every heartbeat link not bound yet (at start,
    /// after a reload), unless a retry is already scheduled for it.
    pub(super) fn look_up_heartbeats(&mut self) {
        let mut wanted: Vec<(String, bool)> = self
            .instances
            .iter()
            .flat_map(|i| {
                let ipv6 = i.facts.source.is_ipv6();
                i.heartbeat
                    .iter()
                    .filter(|l| l.bound.is_none())
                    .map(move |l| (l.interface.clone(), ipv6))
            })
            .filter(|key| !self.heartbeat_lookups.retries.contains_key(key))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        for (interface, ipv6) in wanted {
            self.out.push(Effect::LookUpHeartbeat { interface, ipv6 });
        }
    }

    /// Whether some instance has `name` as a heartbeat link.
    pub(super) fn follows_heartbeat(&self, name: &str) -> bool {
        self.instances
            .iter()
            .any(|i| i.heartbeat.iter().any(|l| l.interface == name))
    }

    /// An interface called `name` exists at `ifindex`: heartbeat links of
    /// that name bound elsewhere or not at all are looked up (again).
    pub(super) fn heartbeat_link_seen(&mut self, name: &str, ifindex: u32) {
        let mut families: Vec<bool> = self
            .instances
            .iter()
            .flat_map(|i| {
                let ipv6 = i.facts.source.is_ipv6();
                i.heartbeat
                    .iter()
                    .filter(|l| l.interface == name)
                    .filter(|l| l.bound.is_none_or(|f| f.ifindex != ifindex))
                    .map(move |_| ipv6)
            })
            .collect();
        families.sort_unstable();
        families.dedup();
        for ipv6 in families {
            self.heartbeat_lookups
                .retries
                .remove(&(name.to_owned(), ipv6));
            self.out.push(Effect::LookUpHeartbeat {
                interface: name.to_owned(),
                ipv6,
            });
        }
    }

    /// The interface at `ifindex` was deleted: heartbeat links on it are
    /// unbound (the caller releases their sockets). Not a Fault.
    pub(super) fn heartbeat_link_removed(&mut self, ifindex: u32) {
        for instance in &mut self.instances {
            for link in &mut instance.heartbeat {
                if link.bound.is_some_and(|f| f.ifindex == ifindex) {
                    warn!(instance = %instance.config.name, interface = %link.interface, "heartbeat link was deleted");
                    link.bound = None;
                }
            }
        }
    }

    /// The daemon's answer to [`Effect::LookUpHeartbeat`].
    pub(super) fn on_heartbeat_facts(
        &mut self,
        now: Instant,
        interface: &str,
        ipv6: bool,
        facts: Result<LinkFacts, String>,
    ) {
        let key = (interface.to_owned(), ipv6);
        let facts = match facts {
            Ok(facts) if facts.source.is_ipv6() == ipv6 => facts,
            Ok(facts) => {
                // Not what was asked: nothing binds to it.
                self.out.push(Effect::CloseSocket(facts.socket()));
                return;
            }
            Err(why) => {
                if !self.follows_heartbeat(interface) {
                    self.heartbeat_lookups.retries.remove(&key);
                    return;
                }
                let changed = self
                    .heartbeat_lookups
                    .retries
                    .get(&key)
                    .is_none_or(|(_, last)| *last != why);
                if changed {
                    warn!(
                        interface,
                        "heartbeat link unusable, retrying every {LOOKUP_RETRY:?}: {why}"
                    );
                }
                self.heartbeat_lookups
                    .retries
                    .insert(key, (now + LOOKUP_RETRY, why));
                return;
            }
        };
        self.heartbeat_lookups.retries.remove(&key);
        // A late answer for an index the name no longer has is dropped: the
        // lookup the newer index asked for follows.
        let current = self.links.current_index(interface);
        if current.is_some_and(|index| index != facts.ifindex) {
            self.release_sockets();
            if !self.sockets.contains_key(&facts.socket()) {
                self.out.push(Effect::CloseSocket(facts.socket()));
            }
            return;
        }
        self.carrier.entry(facts.ifindex).or_insert(facts.carrier);
        for instance in &mut self.instances {
            if instance.facts.source.is_ipv6() != ipv6 {
                continue;
            }
            for link in &mut instance.heartbeat {
                if link.interface == interface && link.bound != Some(facts) {
                    info!(instance = %instance.config.name, interface, ifindex = facts.ifindex, source = %facts.source, "heartbeat link bound");
                    link.bound = Some(facts);
                }
            }
        }
        self.release_sockets();
        if !self.sockets.contains_key(&facts.socket()) {
            self.out.push(Effect::CloseSocket(facts.socket()));
        }
        self.out.status_dirty = true;
    }

    /// Asks again for the heartbeat links whose retry is due.
    pub(super) fn retry_heartbeat_lookups(&mut self, now: Instant) {
        let due: Vec<(String, bool)> = self
            .heartbeat_lookups
            .retries
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for (interface, ipv6) in due {
            // Kept until the answer, so the error is logged only when it changes.
            if let Some((at, _)) = self
                .heartbeat_lookups
                .retries
                .get_mut(&(interface.clone(), ipv6))
            {
                *at = now + LOOKUP_RETRY;
            }
            if self.follows_heartbeat(&interface) {
                self.out.push(Effect::LookUpHeartbeat { interface, ipv6 });
            } else {
                self.heartbeat_lookups.retries.remove(&(interface, ipv6));
            }
        }
    }
}

#[cfg(test)]
mod tests;
