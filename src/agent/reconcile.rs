//! Desired state, reconciled: each instance knows whether its VIPs should be
//! on the interface, and the kernel's address notifications (or a full
//! re-read) that contradict it make the instance's address worker look at the
//! interface; a VIP found missing while held is put back, one found while not
//! held is taken off. Each repair is counted, logged and published.
//!
//! A notification is only a hint: it may be the echo of one of our own jobs
//! arriving late, or a re-read may have been taken before our last job. So
//! nothing is repaired on a hint alone. A `Verify` job, queued behind every
//! job of the instance, reads the interface; its answer is the truth if no
//! other job was queued after it. While jobs are in flight, a missing or extra
//! address is expected, and the check waits until they are done.
//!
//! The same module times the dead-man switch: while held, VIPs carry a
//! kernel lifetime that is renewed every third of it, so that they leave a
//! host whose agent was killed, stopped or hung.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use tracing::warn;

use super::instance::InstanceCore;
use super::{AddressJob, Agent, Effect, InstanceId, KernelAddress, Out};
use crate::config::VirtualIp;
use crate::notify::record::{AddressEvent, AddressRepair, EventRecord};
use crate::vrrp::Moment;

/// An instance's wanted address state, lifetime refresh and repair count.
/// Which instances (indices into the agent's running instances) carry
/// each VIP. A notification names an address, and a Master of a thousand
/// instances hears one for every renewal of a VIP's lifetime: looking
/// through every instance for each of them was a pass over all of them
/// several thousand times a second.
#[derive(Debug, Default)]
pub(super) struct VipOwners(HashMap<IpAddr, Vec<usize>>);

impl VipOwners {
    /// Indexes `instances` afresh (after a reload or a rebind).
    pub fn rebuild(&mut self, instances: &[InstanceCore]) {
        self.0.clear();
        for (index, instance) in instances.iter().enumerate() {
            self.add(index, instance);
        }
    }

    /// Indexes `instance`, now at `index`.
    pub fn add(&mut self, index: usize, instance: &InstanceCore) {
        for vip in &instance.config.virtual_ips {
            let owners = self.0.entry(vip.addr).or_default();
            if !owners.contains(&index) {
                owners.push(index);
            }
        }
    }

    /// The instances that carry `address`.
    pub fn of(&self, address: IpAddr) -> &[usize] {
        self.0.get(&address).map_or(&[], Vec::as_slice)
    }

    /// Whether the index says what a fresh one would (for debug assertions).
    pub fn agrees_with(&self, instances: &[InstanceCore]) -> bool {
        let mut fresh = VipOwners::default();
        fresh.rebuild(instances);
        fresh.0 == self.0
    }
}

#[derive(Debug, Default)]
pub struct Reconcile {
    /// Whether the VIPs should be on the interface, as of the last job queued:
    /// from `Add` until `Remove`.
    holding: bool,
    /// A hint came while jobs were in flight: verify once they are done.
    verify_wanted: bool,
    /// The `Verify` job in flight, if any.
    verify_seq: Option<u64>,
    /// When the lifetime of the held VIPs is next renewed.
    next_refresh: Moment,
    /// VIPs restored or removed behind our back.
    pub repairs: u64,
}

impl Reconcile {
    /// Notes a job as it is queued: `Add` starts holding, `Remove` ends it.
    pub fn queued(&mut self, job: &AddressJob) {
        match job {
            AddressJob::Add => self.holding = true,
            AddressJob::Remove | AddressJob::RemoveStale => {
                self.holding = false;
                self.next_refresh = Moment::NONE;
            }
            _ => {}
        }
    }

    /// The lifetime changed (a reload): the renewal is timed afresh once the
    /// worker has applied it, so a shorter lifetime never waits for the
    /// longer one's schedule.
    pub fn lifetime_changed(&mut self) {
        self.next_refresh = Moment::NONE;
    }

    /// When the lifetime must next be renewed, if the VIPs are held with one.
    pub fn next_refresh(&self) -> Option<Instant> {
        self.next_refresh.get()
    }

    /// Whether the VIPs should be on the interface, as of the last job
    /// queued: from `Add` until `Remove`.
    pub fn holding(&self) -> bool {
        self.holding
    }

    /// Whether the refresh is due by `horizon`.
    pub fn refresh_due(&self, horizon: Instant) -> bool {
        self.next_refresh.get().is_some_and(|t| t <= horizon)
    }
}

/// When to wake for a refresh due at `refresh`, given the protocol timer's
/// `router` deadline. A wake-up serves every timer due within
/// [`TIMER_SLACK`](super::TIMER_SLACK) after it, so a refresh waking the
/// agent just before an advert would send that advert early; the refresh,
/// which has a third of a lifetime to spare, waits for the advert instead.
pub fn refresh_wake(refresh: Option<Instant>, router: Option<Instant>) -> Option<Instant> {
    let refresh = refresh?;
    Some(match router {
        Some(advert) if advert >= refresh && advert - refresh <= super::TIMER_SLACK => advert,
        _ => refresh,
    })
}

/// How often a lifetime is renewed: every third of it, so that two refreshes
/// in a row may be late or lost before a held VIP lapses.
pub fn refresh_period(lifetime: Duration) -> Duration {
    lifetime / 3
}

impl InstanceCore {
    /// Renews the lifetime of the held VIPs and times the next renewal.
    pub fn refresh_lifetime(&mut self, now: Instant, out: &mut Out) {
        self.reconcile.next_refresh = Moment::NONE;
        if self.reconcile.holding {
            self.queue(AddressJob::Refresh, out);
            self.schedule_refresh(now);
        }
    }

    fn schedule_refresh(&mut self, now: Instant) {
        self.reconcile.next_refresh = match self.config.address_lifetime() {
            Some(lifetime) if self.reconcile.holding => Moment::at(now + refresh_period(lifetime)),
            _ => Moment::NONE,
        };
    }

    /// A hint that the interface differs from what we want (or a new
    /// interface that may): verify now, or once the jobs in flight are done.
    pub(super) fn want_verify(&mut self, out: &mut Out) {
        if self.reconcile.verify_seq.is_some() {
            return;
        }
        if self.addresses_settled() {
            self.reconcile.verify_wanted = false;
            self.reconcile.verify_seq = Some(self.queue(AddressJob::Verify, out));
        } else {
            self.reconcile.verify_wanted = true;
        }
    }

    /// Whether `on_interface` (the VIPs present) contradicts what we want.
    fn differs(&self, on_interface: impl Fn(&VirtualIp) -> bool) -> bool {
        let holding = self.reconcile.holding;
        self.config
            .virtual_ips
            .iter()
            .any(|vip| on_interface(vip) != holding)
    }

    /// A `Verify` found `present` on the interface, and nothing was queued
    /// since: put back what is missing, take off what should not be there.
    fn repair(&mut self, present: &[VirtualIp], out: &mut Out) {
        let holding = self.reconcile.holding;
        let wrong: Vec<VirtualIp> = self
            .config
            .virtual_ips
            .iter()
            .filter(|vip| present.contains(vip) != holding)
            .copied()
            .collect();
        if wrong.is_empty() {
            return;
        }
        let action = if holding {
            AddressRepair::Restored
        } else {
            AddressRepair::Removed
        };
        for vip in &wrong {
            self.reconcile.repairs += 1;
            let repairs = self.reconcile.repairs;
            // Rate-limited: the first repair, then each power of two.
            if repairs.is_power_of_two() {
                warn!(
                    instance = %self.config.name,
                    repairs,
                    "{vip} {} on {} behind our back: {}",
                    if holding { "vanished" } else { "appeared" },
                    self.config.interface,
                    if holding { "putting it back" } else { "removing it" },
                );
            }
            out.push(Effect::Event(EventRecord::Address(AddressEvent {
                instance: self.config.name.clone(),
                address: vip.to_string(),
                action,
                repairs,
            })));
        }
        out.status_dirty = true;
        let job = if holding {
            AddressJob::Restore(wrong)
        } else {
            AddressJob::Evict(wrong)
        };
        self.queue(job, out);
    }
}

impl Agent {
    /// An address job of `instance` is done: note it, act on a `Verify`'s
    /// answer, keep the lifetime refresh timed, and verify what was hinted
    /// while the job ran. `index` is where it runs; `None` looks among the
    /// retired instances.
    pub(super) fn on_addresses_done(
        &mut self,
        now: Instant,
        index: Option<usize>,
        instance: InstanceId,
        seq: u64,
        present: Vec<VirtualIp>,
    ) {
        let out = &mut self.out;
        let found = match index {
            Some(index) => self.instances.get_mut(index),
            None => self.retiring.iter_mut().find(|i| i.id == instance),
        };
        let Some(i) = found else {
            return;
        };
        i.done_seq = i.done_seq.max(seq);
        if i.reconcile.verify_seq == Some(seq) {
            i.reconcile.verify_seq = None;
            if i.addresses_settled() {
                i.repair(&present, out);
            } else {
                // Something was queued after the Verify: its answer is stale.
                i.reconcile.verify_wanted = true;
            }
        }
        // What a reader sees changes only with the VIPs present (or a repair).
        if i.present != present {
            i.present = present;
            out.status_dirty = true;
        }
        let lifetime = i.config.address_lifetime();
        match (i.reconcile.next_refresh.get(), lifetime) {
            (None, Some(_)) if i.reconcile.holding => i.schedule_refresh(now),
            (Some(_), None) => i.reconcile.next_refresh = Moment::NONE,
            _ => {}
        }
        if i.reconcile.verify_wanted && i.addresses_settled() {
            i.want_verify(out);
        }
    }

    /// The kernel says `address` was added or removed: verify every instance
    /// it contradicts.
    /// A VIP's interface index not known yet (no link report named it)
    /// matches any: a needless `Verify` is cheap, a missed repair is not.
    /// Returns whether it contradicted any.
    pub(super) fn on_address_changed(&mut self, address: KernelAddress, present: bool) -> bool {
        debug_assert!(
            self.vip_owners.agrees_with(&self.instances),
            "an instance's VIPs changed without telling the owner index"
        );
        let mut contradicted = false;
        for &index in self.vip_owners.of(address.address) {
            let i = &self.instances[index];
            let contradicts = present != i.reconcile.holding
                && i.config.virtual_ips.iter().any(|vip| {
                    vip.addr == address.address
                        && self
                            .vip_ifindex(index, vip)
                            .is_none_or(|ifindex| ifindex == address.ifindex)
                });
            if contradicts {
                self.instances[index].want_verify(&mut self.out);
                contradicted = true;
            }
        }
        contradicted
    }

    /// Every address on the host: verify every instance it contradicts.
    pub(super) fn on_address_snapshot(&mut self, addresses: &[KernelAddress]) {
        let on: HashSet<(u32, IpAddr)> = addresses.iter().map(|a| (a.ifindex, a.address)).collect();
        let anywhere: HashSet<IpAddr> = addresses.iter().map(|a| a.address).collect();
        for index in 0..self.instances.len() {
            let i = &self.instances[index];
            let differs = i.differs(|vip| match self.vip_ifindex(index, vip) {
                Some(ifindex) => on.contains(&(ifindex, vip.addr)),
                None => anywhere.contains(&vip.addr),
            });
            if differs {
                self.instances[index].want_verify(&mut self.out);
            }
        }
    }
}

#[cfg(test)]
mod tests;
