//! The quorum lease decisions, sans-IO: per unit (an instance outside sync
//! groups, or a sync group) whether this node holds its etcd key, until when
//! it may serve on it, and what the agent asks the quorum worker next.
//!
//! The book only decides; `mastership.rs` applies its verdicts to the
//! routers. Safety rests on one inequality: a Master stops serving at
//! `sent_at + lease_ttl - margin` by its own clock, where `sent_at` is when it
//! sent the request etcd last answered; etcd counts the lease from when it
//! handled that request, which is later, so the Master is gone before any
//! other node can take the key.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::config::{Config, OnQuorumLoss};
use crate::notify::record::QuorumEvent;
use crate::quorum::{group_key, instance_key, QuorumReport, QuorumRequest};

/// The share of the lease's time to live a Master gives up as a margin: it
/// stops serving `lease_ttl / MARGIN_DIVISOR` before the lease can expire.
/// A quarter covers clock-rate differences between hosts (well under 1 %),
/// the agent's own wake-up latency on a loaded host (tens of milliseconds)
/// and the time the VIP removal takes, even at the shortest 500 ms TTL.
pub const MARGIN_DIVISOR: u32 = 4;

/// What the node knows about one unit's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// Not asked for, or given back.
    Off,
    /// An acquisition is in flight.
    Acquiring,
    /// Ours: we may serve until `valid_until` (our clock, margin included).
    Held {
        /// When a Master on this key must have stopped serving, unless renewed.
        valid_until: Instant,
    },
    /// Another node holds it under a live lease.
    HeldBy(String),
    /// etcd could not be reached for it; with `on_loss: keep` a Master
    /// keeps serving (plain VRRP) while this lasts.
    Unreachable(String),
}

impl LeaseState {
    /// Short name for status, events and metrics labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            LeaseState::Off => "off",
            LeaseState::Acquiring => "waiting",
            LeaseState::Held { .. } => "held",
            LeaseState::HeldBy(_) => "held-by-other",
            LeaseState::Unreachable(_) => "unreachable",
        }
    }
}

/// Counters of one unit, for status and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuorumCounters {
    /// Requests for mastership denied because another node held the key.
    pub denied: u64,
    /// Times a Master stopped serving because its lease lapsed or was lost.
    pub lost: u64,
    /// Times etcd could not be reached (acquisition, release or renewal).
    pub unreachable: u64,
}

/// One unit's key and what we know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The etcd key.
    pub key: String,
    /// Where the lease stands.
    pub state: LeaseState,
    /// The holder last reported when the key was not ours.
    pub holder: Option<String>,
    /// How long the last renewal took.
    pub last_renewal_latency: Option<Duration>,
    /// Counters.
    pub counters: QuorumCounters,
    /// While unreachable under `on_loss: keep`: when to try the key again.
    retry_at: Option<Instant>,
}

impl Unit {
    fn new(key: String) -> Self {
        Unit {
            key,
            state: LeaseState::Off,
            holder: None,
            last_renewal_latency: None,
            counters: QuorumCounters::default(),
            retry_at: None,
        }
    }
}

/// What a report means for the routers of one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Waiting members may become Master.
    Grant(String),
    /// Waiting members stay Backup and ask again later.
    Deny(String),
    /// A Master of the unit must stop serving now.
    StopServing(String),
    /// etcd was unreachable a while ago and a Master serves on (`on_loss:
    /// keep`): try to take the key again.
    Retry(String),
}

/// The lease settings taken from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LeaseSettings {
    prefix: String,
    lease_ttl: Duration,
    on_loss: OnQuorumLoss,
}

/// Every unit's key on this node.
#[derive(Debug, Default)]
pub struct QuorumBook {
    settings: Option<LeaseSettings>,
    /// By key.
    units: BTreeMap<String, Unit>,
    /// Each unit's state as last published on the event stream.
    published: BTreeMap<String, &'static str>,
}

impl QuorumBook {
    /// Applies the `quorum` section of a (re)loaded configuration. Units whose
    /// key stays the same keep their state, so a Master that holds its key
    /// does not flap on reload; returns the keys to give back (their unit
    /// vanished, or the prefix moved, or quorum was turned off).
    pub fn configure(&mut self, config: &Config) -> Vec<String> {
        self.settings = config.quorum.as_ref().map(|q| LeaseSettings {
            prefix: q.etcd.prefix.clone(),
            lease_ttl: q.etcd.lease_ttl,
            on_loss: q.on_loss,
        });
        let wanted: Vec<String> = match &self.settings {
            None => Vec::new(),
            Some(s) => {
                let grouped = config.sync_groups.iter().flat_map(|g| g.instances.iter());
                let grouped: Vec<&String> = grouped.collect();
                config
                    .instances
                    .iter()
                    .filter(|i| !grouped.contains(&&i.name))
                    .map(|i| instance_key(&s.prefix, &i.name))
                    .chain(
                        config
                            .sync_groups
                            .iter()
                            .map(|g| group_key(&s.prefix, &g.name)),
                    )
                    .collect()
            }
        };
        let mut release = Vec::new();
        self.units.retain(|key, unit| {
            let keep = wanted.contains(key);
            if !keep && matches!(unit.state, LeaseState::Held { .. } | LeaseState::Acquiring) {
                release.push(key.clone());
            }
            keep
        });
        for key in wanted {
            self.units
                .entry(key.clone())
                .or_insert_with(|| Unit::new(key));
        }
        release
    }

    /// Whether quorum is configured.
    pub fn enabled(&self) -> bool {
        self.settings.is_some()
    }

    /// The key guarding `instance` (a member of `group`, if any).
    pub fn key_of(&self, instance: &str, group: Option<&str>) -> Option<String> {
        let s = self.settings.as_ref()?;
        Some(match group {
            Some(g) => group_key(&s.prefix, g),
            None => instance_key(&s.prefix, instance),
        })
    }

    /// The units, by key.
    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.units.values()
    }

    /// The unit of `key`.
    pub fn unit(&self, key: &str) -> Option<&Unit> {
        self.units.get(key)
    }

    /// A member of the unit asks for mastership. Returns whether it may go
    /// ahead now (the key is ours and valid) and the request to send, if one
    /// must be sent (none while an acquisition is already in flight).
    pub fn request(&mut self, key: &str, now: Instant) -> (bool, Option<QuorumRequest>) {
        let Some(unit) = self.units.get_mut(key) else {
            return (false, None);
        };
        match unit.state {
            LeaseState::Held { valid_until } if now < valid_until => (true, None),
            LeaseState::Acquiring => (false, None),
            _ => {
                unit.state = LeaseState::Acquiring;
                (
                    false,
                    Some(QuorumRequest::Acquire {
                        key: key.to_owned(),
                    }),
                )
            }
        }
    }

    /// A Master of the unit serves without having asked (quorum was turned
    /// on by a reload): make sure the key is ours, without stopping it first.
    pub fn confirm(&mut self, key: &str) -> Option<QuorumRequest> {
        let unit = self.units.get_mut(key)?;
        match unit.state {
            LeaseState::Held { .. } | LeaseState::Acquiring => None,
            _ => {
                unit.state = LeaseState::Acquiring;
                Some(QuorumRequest::Acquire {
                    key: key.to_owned(),
                })
            }
        }
    }

    /// No member of the unit serves or waits any more: give the key back at
    /// once (a resignation's new Master then takes it without waiting for
    /// the lease to expire). Returns the request, if there is anything to
    /// give back.
    pub fn release(&mut self, key: &str) -> Option<QuorumRequest> {
        let unit = self.units.get_mut(key)?;
        match unit.state {
            LeaseState::Held { .. } | LeaseState::Acquiring => {
                unit.state = LeaseState::Off;
                unit.retry_at = None;
                Some(QuorumRequest::Release {
                    key: key.to_owned(),
                })
            }
            _ => None,
        }
    }

    /// Whether the unit's key is ours or being acquired (a Master may serve
    /// on it, or will be told).
    pub fn holds_or_acquires(&self, key: &str) -> bool {
        self.units
            .get(key)
            .is_some_and(|u| matches!(u.state, LeaseState::Held { .. } | LeaseState::Acquiring))
    }

    /// Applies a report of the quorum worker; returns what it means for the
    /// routers, unit by unit.
    pub fn on_report(&mut self, now: Instant, report: QuorumReport) -> Vec<Verdict> {
        let Some(settings) = self.settings.clone() else {
            return Vec::new();
        };
        let valid =
            |sent_at: Instant| sent_at + settings.lease_ttl - settings.lease_ttl / MARGIN_DIVISOR;
        match report {
            QuorumReport::Acquired { key, sent_at } => {
                let Some(unit) = self.units.get_mut(&key) else {
                    return Vec::new();
                };
                if unit.state != LeaseState::Acquiring
                    && !matches!(unit.state, LeaseState::Held { .. })
                {
                    // Given back meanwhile: the release that follows wins.
                    return Vec::new();
                }
                if valid(sent_at) <= now {
                    // The answer took longer than the lease may be trusted:
                    // ours at etcd, but not to serve on. Give it back (the
                    // lapsed Held makes `release` send it) and ask again.
                    unit.state = LeaseState::Held {
                        valid_until: valid(sent_at),
                    };
                    return vec![Verdict::Deny(key.clone()), Verdict::StopServing(key)];
                }
                unit.state = LeaseState::Held {
                    valid_until: valid(sent_at),
                };
                unit.retry_at = None;
                unit.holder = None;
                vec![Verdict::Grant(key)]
            }
            QuorumReport::HeldBy { key, holder } => {
                let Some(unit) = self.units.get_mut(&key) else {
                    return Vec::new();
                };
                let was_ours = matches!(unit.state, LeaseState::Held { .. });
                unit.state = LeaseState::HeldBy(holder.clone());
                unit.holder = Some(holder);
                unit.counters.denied += 1;
                if was_ours {
                    unit.counters.lost += 1;
                }
                // Waiting members are denied; a Master (reload confirmation,
                // or a key taken over) must stop.
                vec![Verdict::Deny(key.clone()), Verdict::StopServing(key)]
            }
            QuorumReport::Released { key } => {
                if let Some(unit) = self.units.get_mut(&key) {
                    if !matches!(unit.state, LeaseState::Acquiring | LeaseState::Held { .. }) {
                        unit.state = LeaseState::Off;
                    }
                }
                Vec::new()
            }
            QuorumReport::Renewed { sent_at, latency } => {
                for unit in self.units.values_mut() {
                    unit.last_renewal_latency = Some(latency);
                    if let LeaseState::Held { valid_until } = &mut unit.state {
                        *valid_until = (*valid_until).max(valid(sent_at));
                    }
                }
                Vec::new()
            }
            QuorumReport::LeaseLost => {
                let mut verdicts = Vec::new();
                for unit in self.units.values_mut() {
                    if matches!(unit.state, LeaseState::Held { .. } | LeaseState::Acquiring) {
                        unit.counters.lost += 1;
                        unit.state = LeaseState::Off;
                        verdicts.push(Verdict::Deny(unit.key.clone()));
                        verdicts.push(Verdict::StopServing(unit.key.clone()));
                    }
                }
                verdicts
            }
            QuorumReport::Unreachable {
                key: Some(key),
                error,
            } => {
                let Some(unit) = self.units.get_mut(&key) else {
                    return Vec::new();
                };
                unit.counters.unreachable += 1;
                if unit.state != LeaseState::Acquiring {
                    // A release that did not get through: the lease expires.
                    return Vec::new();
                }
                unit.state = LeaseState::Unreachable(error);
                match settings.on_loss {
                    OnQuorumLoss::Release => {
                        vec![Verdict::Deny(key.clone()), Verdict::StopServing(key)]
                    }
                    OnQuorumLoss::Keep => {
                        unit.retry_at = Some(now + settings.lease_ttl);
                        vec![Verdict::Grant(key)]
                    }
                }
            }
            QuorumReport::Unreachable { key: None, .. } => {
                for unit in self.units.values_mut() {
                    if matches!(unit.state, LeaseState::Held { .. }) {
                        unit.counters.unreachable += 1;
                    }
                }
                Vec::new()
            }
        }
    }

    /// The units whose state changed since the last call, as events.
    pub fn changes(&mut self) -> Vec<QuorumEvent> {
        let mut events = Vec::new();
        self.published.retain(|key, _| self.units.contains_key(key));
        for unit in self.units.values() {
            let now = unit.state.as_str();
            let was = self
                .published
                .insert(unit.key.clone(), now)
                .unwrap_or("off");
            if was != now {
                events.push(QuorumEvent {
                    key: unit.key.clone(),
                    from: was.to_owned(),
                    to: now.to_owned(),
                    holder: match &unit.state {
                        LeaseState::HeldBy(holder) => Some(holder.clone()),
                        _ => None,
                    },
                });
            }
        }
        events
    }

    /// The earliest instant a held key lapses or an unreachable one is
    /// tried again, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.units
            .values()
            .filter_map(|u| match u.state {
                LeaseState::Held { valid_until } => Some(valid_until),
                _ => u.retry_at,
            })
            .min()
    }

    /// Keys whose lease lapsed by `now` without renewal: their Masters stop
    /// serving. With `on_loss: keep` a lapse means etcd did not answer (had
    /// it answered, the lease would be renewed, or reported lost or taken,
    /// which stop a Master at once): the unit is marked unreachable, keeps
    /// serving as plain VRRP, and tries the key again one TTL later.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Verdict> {
        let Some(settings) = &self.settings else {
            return Vec::new();
        };
        let mut verdicts = Vec::new();
        for unit in self.units.values_mut() {
            if unit.retry_at.is_some_and(|t| t <= now) {
                unit.retry_at = None;
                verdicts.push(Verdict::Retry(unit.key.clone()));
            }
            let LeaseState::Held { valid_until } = unit.state else {
                continue;
            };
            if now < valid_until {
                continue;
            }
            if settings.on_loss == OnQuorumLoss::Keep {
                // Plain VRRP while etcd is away; the key is tried again later.
                unit.state = LeaseState::Unreachable("renewals unreachable".to_owned());
                unit.retry_at = Some(now + settings.lease_ttl);
                continue;
            }
            // Left Held (lapsed) so that stopping gives the key back.
            unit.counters.lost += 1;
            verdicts.push(Verdict::StopServing(unit.key.clone()));
        }
        verdicts
    }
}

#[cfg(test)]
mod tests;
