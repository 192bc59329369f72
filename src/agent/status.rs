//! The typed status document, built from the agent's state: the one source of
//! `twinstar status`, `status --json`, `status.json`, the table and the metrics.

use std::time::Instant;

use super::instance::InstanceCore;
use super::quorum::LeaseState;
use super::Agent;
use crate::control::status::{
    AdvertMode, GroupStatus, HeartbeatStatus, InstanceCounters, InstanceStatus, MasterStatus,
    PeerStatus, QuorumStatus, Status, TrackStatus, VipStatus,
};

impl Agent {
    /// The status at `now`. VIP presence is what the address workers reported;
    /// `pid` is left 0 for the daemon to fill in.
    pub fn status(&self, now: Instant) -> Status {
        let mut status = self.status_without_instances(now);
        status.instances = self
            .instances
            .iter()
            .map(|i| self.instance_status(i, now))
            .collect();
        status
    }

    /// The status at `now` as `status.json` holds it, written to `out` with
    /// each instance's status built only while it is written (see
    /// [`Status::write_json_pretty_with`]).
    pub fn write_status_json(
        &self,
        now: Instant,
        pid: u32,
        out: impl std::io::Write,
    ) -> serde_json::Result<()> {
        let mut rest = self.status_without_instances(now);
        rest.pid = pid;
        let instances = self.instances.iter().map(|i| self.instance_status(i, now));
        rest.write_json_pretty_with(instances, out)
    }

    /// One instance's part of the status.
    fn instance_status(&self, i: &InstanceCore, now: Instant) -> InstanceStatus {
        let ms = |t: Instant| now.saturating_duration_since(t).as_millis() as u64;
        let router = &i.router;
        let stats = router.stats();
        InstanceStatus {
            name: i.config.name.clone(),
            interface: i.config.interface.clone(),
            vrid: i.config.vrid,
            state: router.state(),
            priority: router.priority(),
            base_priority: i.config.priority.get(),
            priority_reasons: i.health.priority_reasons().to_vec(),
            fault_reasons: i.health.fault_reasons().to_vec(),
            track: i
                .config
                .track
                .iter()
                .map(|t| TrackStatus {
                    check: t.check.clone(),
                    weight: t.weight,
                })
                .collect(),
            source: i.advert_source(),
            mode: if i.config.unicast_peers.is_empty() {
                AdvertMode::Multicast
            } else {
                AdvertMode::Unicast
            },
            advert_destinations: super::unicast::destinations(&i.config, i.advert_source())
                .collect(),
            vrrp_version: i.config.version.as_str().to_owned(),
            master: router.current_master().map(|m| MasterStatus {
                address: m.source,
                priority: m.priority,
            }),
            advert_interval_ms: i.config.advert_interval.as_millis() as u64,
            master_adver_interval_ms: router.master_adver_interval().as_millis() as u64,
            since_transition_ms: router.last_transition().map(ms),
            maintenance: router.maintenance(),
            switchover_hold: router.preempt_held(),
            last_peer: router.last_peer().map(|(address, at)| PeerStatus {
                address,
                seen_ms_ago: ms(at),
            }),
            virtual_ips: i
                .config
                .virtual_ips
                .iter()
                .map(|v| VipStatus {
                    address: v.to_string(),
                    present: i.present.contains(v),
                    interface: v.interface.map(|name| name.to_string()),
                })
                .collect(),
            counters: InstanceCounters {
                adverts_received: stats.adverts_received,
                adverts_sent: stats.adverts_sent,
                priority_zero_received: stats.priority_zero_received,
                priority_zero_sent: stats.priority_zero_sent,
                interval_mismatches: stats.interval_mismatches,
                master_transitions: stats.master_transitions,
                send_errors: i.send_errors(),
                address_repairs: i.reconcile.repairs,
                answers_withheld: stats.answers_withheld,
                fence_failures: i.fence_failures(),
            },
            heartbeat: i
                .heartbeat
                .iter()
                .map(|l| HeartbeatStatus {
                    interface: l.interface.clone(),
                    source: l.bound.map(|f| f.source),
                    carrier: l
                        .bound
                        .and_then(|f| self.carrier.get(&f.ifindex).copied())
                        .unwrap_or(false),
                    last_advert_ms_ago: l.last_heard.map(ms),
                    adverts_received: l.adverts_received,
                    send_errors: l.send_errors,
                })
                .collect(),
            last_handover: self.last_handover.get(&i.config.name).cloned(),
            waiting_for_mastership: router.awaiting_mastership().map(|c| c.as_str().to_owned()),
        }
    }

    /// Everything in the status but the instances (left empty).
    fn status_without_instances(&self, now: Instant) -> Status {
        Status {
            pid: 0,
            instances: Vec::new(),
            checks: self.checks.status(now),
            sync_groups: self
                .groups
                .iter()
                .map(|g| GroupStatus {
                    name: g.config.name.clone(),
                    state: g.state,
                    instances: g.config.instances.clone(),
                })
                .collect(),
            dropped: self.drops.to_status(),
            quorum: self
                .quorum
                .units()
                .map(|u| QuorumStatus {
                    key: u.key.clone(),
                    state: u.state.as_str().to_owned(),
                    holder: match &u.state {
                        LeaseState::HeldBy(holder) => Some(holder.clone()),
                        _ => None,
                    },
                    valid_for_ms: match u.state {
                        LeaseState::Held { valid_until } => {
                            Some(valid_until.saturating_duration_since(now).as_millis() as u64)
                        }
                        _ => None,
                    },
                    last_renewal_latency_ms: u.last_renewal_latency.map(|l| l.as_millis() as u64),
                    denied: u.counters.denied,
                    lost: u.counters.lost,
                    unreachable: u.counters.unreachable,
                })
                .collect(),
        }
    }
}
