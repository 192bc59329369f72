//! Starting and reloading: a new configuration, with what the daemon looked up
//! about each instance's interface, applied by its difference — unchanged
//! instances are not touched, changed ones are reconfigured in place unless
//! their identity changed, removed ones resign with a priority-0 advert.

use std::collections::HashMap;
use std::fmt;
use std::mem;
use std::sync::Arc;
use std::time::Instant;

use tracing::{error, info};

use super::groups::GroupCore;
use super::instance::{InstanceCore, InstanceFacts};
use super::{publish_transition, AddressJob, Agent, Effect, EventRecord, InstanceId, SocketInfo};
use crate::config::{self, Config};
use crate::vrrp::Event;

/// A configuration to run, with the host facts it needs.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The validated configuration.
    pub config: Config,
    /// Per instance name: its interface facts, or why they could not be had
    /// (then the instance does not start). Needed for instances that start.
    pub facts: HashMap<String, Result<InstanceFacts, String>>,
    /// Current up-with-carrier state of the interfaces `interface` checks
    /// watch and of those that carry virtual IPs but not adverts.
    pub links: HashMap<String, bool>,
}

/// What a (re)configuration did, for the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Instances left exactly as they were.
    pub unchanged: usize,
    /// Instances changed in place, without leaving their state.
    pub reconfigured: usize,
    /// Instances started.
    pub started: usize,
    /// Instances stopped (removed, or restarted with a new identity).
    pub stopped: usize,
    /// Instances that could not start, each `name: why`.
    pub failed: Vec<String>,
}

impl fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} unchanged, {} reconfigured, {} started, {} stopped",
            self.unchanged, self.reconfigured, self.started, self.stopped
        )?;
        if !self.failed.is_empty() {
            write!(f, "; failed to start: {}", self.failed.join("; "))?;
        }
        Ok(())
    }
}

impl Agent {
    /// Applies `setup` at `now`: the first call starts everything, later ones
    /// apply only what changed.
    pub fn configure(&mut self, now: Instant, setup: Setup) -> ReloadSummary {
        let Setup {
            config: new,
            facts,
            links,
        } = setup;
        for event in self.checks.configure(&new, &links, now) {
            self.out.push(Effect::Event(EventRecord::Check(event)));
        }
        self.vip_links.configure(&new, &links);
        let mut summary = ReloadSummary::default();
        let mut kept = Vec::new();
        for mut instance in mem::take(&mut self.instances) {
            let wanted = new
                .instances
                .iter()
                .find(|c| c.name == instance.config.name);
            match wanted {
                Some(c) if *c == instance.config => {
                    // The same settings: share the new copy, so that the
                    // old one is freed with the old configuration.
                    instance.config = c.clone();
                    kept.push(instance);
                }
                Some(c) if instance.reconfigure(c.clone(), &mut self.out) => {
                    summary.reconfigured += 1;
                    kept.push(instance);
                }
                _ => {
                    info!(instance = %instance.config.name, "reload: stopping instance");
                    for t in instance.handle(now, Event::Shutdown, &mut self.out) {
                        publish_transition(&instance, &t, &mut self.out);
                    }
                    // A removed instance's VIPs go at once: nobody may take them.
                    instance.finish_handover(&mut self.out);
                    summary.stopped += 1;
                    self.retiring.push(instance);
                }
            }
        }
        self.instances = kept;
        // Room for exactly the instances to start: growing by doubling
        // left up to half the table (about a kilobyte an instance) unused.
        self.instances
            .reserve_exact(new.instances.len().saturating_sub(self.instances.len()));
        if new.sync_groups != self.config.sync_groups {
            self.retiring_groups.extend(mem::take(&mut self.groups));
            self.groups = new
                .sync_groups
                .iter()
                .cloned()
                .map(GroupCore::new)
                .collect();
        }
        let starting: Vec<Arc<config::Instance>> = new
            .instances
            .iter()
            .filter(|c| !self.instances.iter().any(|i| i.config.name == c.name))
            .cloned()
            .collect();
        self.config = new;
        // Heartbeat links removed by the reload give their sockets back.
        self.release_sockets();
        self.reindex();
        for key in self.quorum.configure(&self.config) {
            info!(key = %key, "reload: quorum key no longer used, given back");
            self.out
                .push(Effect::Quorum(crate::quorum::QuorumRequest::Release {
                    key,
                }));
        }
        let first_new = self.instances.len();
        for config in starting {
            let name = config.name.clone();
            let added = match facts.get(&name) {
                Some(Ok(facts)) => self.add_instance(now, config, facts.clone()),
                Some(Err(e)) => Err(e.clone()),
                None => Err("its interface was not looked up".to_owned()),
            };
            match added {
                Ok(()) => summary.started += 1,
                Err(e) => {
                    error!(instance = %name, "cannot start instance: {e}");
                    summary.failed.push(format!("{name}: {e}"));
                }
            }
        }
        // Health first, with every new instance present, so that sync-group
        // coupling and checks that have not passed apply before Startup: an
        // instance starts with the priority it will keep, or in Fault.
        self.reassess(now);
        // Gates before Startup: an address owner must not become Master ungated.
        self.sync_gates(now);
        for index in first_new..self.instances.len() {
            let transitions = self.instances[index].handle(now, Event::Startup, &mut self.out);
            self.after_transitions(index, transitions, now);
        }
        self.look_up_heartbeats();
        summary.unchanged = self.instances.len() - summary.started - summary.reconfigured;
        self.refresh_groups();
        // A handover whose instance was stopped or restarted ends here.
        self.settle_handovers(now, now);
        self.out.status_dirty = true;
        self.invalidate_deadlines();
        self.settle(now);
        summary
    }

    /// Adds one instance, not yet started: address worker, stale-VIP
    /// cleanup, maintenance kept from before.
    fn add_instance(
        &mut self,
        now: Instant,
        config: Arc<config::Instance>,
        facts: InstanceFacts,
    ) -> Result<(), String> {
        self.next_instance += 1;
        let id = InstanceId(self.next_instance);
        let mut instance = InstanceCore::new(id, config, facts).map_err(|e| e.to_string())?;
        self.out
            .push(Effect::StartInstance(Box::new(instance.address_target())));
        instance.queue(AddressJob::RemoveStale, &mut self.out);
        self.carrier
            .insert(instance.facts.ifindex, instance.facts.carrier);
        self.links
            .started_on(&instance.config.interface, instance.facts.ifindex);
        if !instance.facts.carrier {
            tracing::warn!(instance = %instance.config.name, "interface {} has no carrier", instance.config.interface);
        }
        if self.maintenance.contains(&instance.config.name) {
            info!(instance = %instance.config.name, "maintenance mode is on (kept from before)");
            instance.handle(now, Event::Maintenance(true), &mut self.out);
        }
        self.instances.push(instance);
        let index = self.instances.len() - 1;
        self.vip_owners.add(index, &self.instances[index]);
        self.reindex_one(index);
        Ok(())
    }

    /// Rebuilds the (socket, vrid) index and the socket table.
    pub(super) fn reindex(&mut self) {
        self.vip_owners.rebuild(&self.instances);
        self.by_vrid.clear();
        self.heartbeat_by_vrid.clear();
        self.sockets.clear();
        for index in 0..self.instances.len() {
            self.reindex_one(index);
        }
    }

    fn reindex_one(&mut self, index: usize) {
        let instance = &self.instances[index];
        if !self.is_bound(instance.id) {
            // Its socket died with its interface.
            return;
        }
        let key = instance.facts.socket();
        self.by_vrid.insert((key, instance.config.vrid), index);
        self.sockets.entry(key).or_insert_with(|| SocketInfo {
            interface: instance.config.interface.clone(),
            source: instance.facts.source,
        });
        // The virtual MAC's send-only socket: kept open while used.
        if let Some(vmac) = &instance.facts.vmac {
            let send = instance.facts.send_socket();
            if send != key {
                self.sockets.entry(send).or_insert_with(|| SocketInfo {
                    interface: vmac.interface.clone(),
                    source: instance.facts.source,
                });
            }
        }
        // A heartbeat link's socket may be another instance's interface's
        // (same index and family): configuration gives each vrid one user.
        for (link_index, link) in instance.heartbeat.iter().enumerate() {
            let Some(facts) = link.bound else {
                continue;
            };
            let key = facts.socket();
            self.heartbeat_by_vrid
                .insert((key, instance.config.vrid), (index, link_index));
            self.sockets.entry(key).or_insert_with(|| SocketInfo {
                interface: link.interface.clone(),
                source: facts.source,
            });
        }
    }
}
