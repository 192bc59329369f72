//! The status file: a JSON snapshot of every instance under the runtime directory,
//! rewritten atomically after changes, so operators and tests can see state and
//! counters without a control connection.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

use super::instance::InstanceRuntime;
use super::receive::DropCounters;

/// Where the snapshot goes: `<runtime-dir>/status.json`.
pub fn path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("status.json")
}

/// Builds the snapshot.
///
/// `present(ifindex, address, applied)` says whether a VIP is on its interface,
/// given whether the address worker applied it.
pub fn snapshot<'a>(
    instances: impl Iterator<Item = &'a InstanceRuntime>,
    drops: &DropCounters,
    now: Instant,
    present: &dyn Fn(u32, IpAddr, bool) -> bool,
) -> Value {
    let instances: Vec<Value> = instances
        .map(|i| {
            let router = &i.router;
            let stats = router.stats();
            let applied = i.present.lock().map(|p| p.clone()).unwrap_or_default();
            let virtual_ips: Vec<Value> = i
                .config
                .virtual_ips
                .iter()
                .map(|v| {
                    json!({
                        "address": v.to_string(),
                        "present": present(i.ifindex, v.addr, applied.contains(v)),
                    })
                })
                .collect();
            json!({
                "name": i.config.name,
                "interface": i.config.interface,
                "vrid": i.config.vrid,
                "state": router.state().as_str(),
                "priority": router.priority(),
                "base_priority": i.config.priority.get(),
                "priority_reasons": i.health.priority_reasons,
                "fault_reasons": i.health.fault_reasons,
                "track": i.config.track.iter().map(|t| json!({
                    "check": t.check,
                    "weight": t.weight,
                })).collect::<Vec<_>>(),
                "source": i.socket.source().to_string(),
                "master": router.current_master().map(|m| json!({
                    "address": m.source.to_string(),
                    "priority": m.priority,
                })),
                "advert_interval_ms": i.config.advert_interval.as_millis() as u64,
                "master_adver_interval_ms": router.master_adver_interval().as_millis() as u64,
                "since_transition_ms": router.last_transition()
                    .map(|t| now.saturating_duration_since(t).as_millis() as u64),
                "maintenance": router.maintenance(),
                "switchover_hold": router.preempt_held(),
                "last_peer": router.last_peer().map(|(address, at)| json!({
                    "address": address.to_string(),
                    "seen_ms_ago": now.saturating_duration_since(at).as_millis() as u64,
                })),
                "virtual_ips": virtual_ips,
                "counters": {
                    "adverts_received": stats.adverts_received,
                    "adverts_sent": stats.adverts_sent,
                    "priority_zero_received": stats.priority_zero_received,
                    "priority_zero_sent": stats.priority_zero_sent,
                    "interval_mismatches": stats.interval_mismatches,
                    "master_transitions": stats.master_transitions,
                    "send_errors": i.send_errors,
                },
            })
        })
        .collect();
    json!({
        "pid": std::process::id(),
        "instances": instances,
        "dropped": drops.by_interface,
    })
}

/// Writes the snapshot atomically (temporary file, then rename).
pub fn write(runtime_dir: &Path, snapshot: &Value) -> io::Result<()> {
    let target = path(runtime_dir);
    let tmp = runtime_dir.join(".status.json.tmp");
    let text = serde_json::to_string_pretty(snapshot).map_err(io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &target)
}
