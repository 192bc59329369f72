//! The status file: a JSON snapshot of every instance under the runtime directory,
//! rewritten atomically after changes, so operators and tests can see state and
//! counters without a control connection.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::instance::InstanceRuntime;
use super::receive::DropCounters;
use crate::control::status::{
    InstanceCounters, InstanceStatus, MasterStatus, PeerStatus, Status, TrackStatus, VipStatus,
};

/// Where the snapshot goes: `<runtime-dir>/status.json`.
pub fn path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("status.json")
}

/// Builds the snapshot of the instances and dropped packets; `checks` and
/// `sync_groups` are left empty for the caller, which owns them.
///
/// `present(ifindex, address, applied)` says whether a VIP is on its interface,
/// given whether the address worker applied it.
pub fn snapshot<'a>(
    instances: impl Iterator<Item = &'a InstanceRuntime>,
    drops: &DropCounters,
    now: Instant,
    present: &dyn Fn(u32, IpAddr, bool) -> bool,
) -> Status {
    let instances: Vec<InstanceStatus> = instances
        .map(|i| {
            let router = &i.router;
            let stats = router.stats();
            let applied = i.present.lock().map(|p| p.clone()).unwrap_or_default();
            let virtual_ips: Vec<VipStatus> = i
                .config
                .virtual_ips
                .iter()
                .map(|v| VipStatus {
                    address: v.to_string(),
                    present: present(i.ifindex, v.addr, applied.contains(v)),
                })
                .collect();
            InstanceStatus {
                name: i.config.name.clone(),
                interface: i.config.interface.clone(),
                vrid: i.config.vrid,
                state: router.state(),
                priority: router.priority(),
                base_priority: i.config.priority.get(),
                priority_reasons: i.health.priority_reasons.clone(),
                fault_reasons: i.health.fault_reasons.clone(),
                track: i
                    .config
                    .track
                    .iter()
                    .map(|t| TrackStatus {
                        check: t.check.clone(),
                        weight: t.weight,
                    })
                    .collect(),
                source: i.socket.source(),
                master: router.current_master().map(|m| MasterStatus {
                    address: m.source,
                    priority: m.priority,
                }),
                advert_interval_ms: i.config.advert_interval.as_millis() as u64,
                master_adver_interval_ms: router.master_adver_interval().as_millis() as u64,
                since_transition_ms: router
                    .last_transition()
                    .map(|t| now.saturating_duration_since(t).as_millis() as u64),
                maintenance: router.maintenance(),
                switchover_hold: router.preempt_held(),
                last_peer: router.last_peer().map(|(address, at)| PeerStatus {
                    address,
                    seen_ms_ago: now.saturating_duration_since(at).as_millis() as u64,
                }),
                virtual_ips,
                counters: InstanceCounters {
                    adverts_received: stats.adverts_received,
                    adverts_sent: stats.adverts_sent,
                    priority_zero_received: stats.priority_zero_received,
                    priority_zero_sent: stats.priority_zero_sent,
                    interval_mismatches: stats.interval_mismatches,
                    master_transitions: stats.master_transitions,
                    send_errors: i.send_errors,
                },
            }
        })
        .collect();
    let dropped = drops
        .by_interface
        .iter()
        .map(|(interface, reasons)| {
            let reasons = reasons
                .iter()
                .map(|(reason, count)| ((*reason).to_owned(), *count))
                .collect();
            (interface.clone(), reasons)
        })
        .collect();
    Status {
        pid: std::process::id(),
        instances,
        checks: Vec::new(),
        sync_groups: Vec::new(),
        dropped,
    }
}

/// Writes the snapshot atomically (temporary file, then rename).
pub fn write(runtime_dir: &Path, snapshot: &Status) -> io::Result<()> {
    let target = path(runtime_dir);
    let tmp = runtime_dir.join(".status.json.tmp");
    let text = snapshot.to_json_pretty().map_err(io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &target)
}
