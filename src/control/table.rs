//! The human view of the status document: what `twinstar status` prints.
//!
//! The document is the typed [`Status`]; fields a newer agent adds are ignored
//! when it is read. An empty text field and an absent value (no Master heard,
//! no transition yet, no result yet) show as `-`.

use super::status::{AdvertMode, CheckStatus, InstanceStatus, Status};
use crate::agent::{HandoverKind, HandoverOutcome, HandoverRecord};
use crate::vrrp::State;

/// The exit status of `twinstar status` when some instance is in Fault.
pub const EXIT_FAULT: u8 = 3;

/// Two spaces between columns.
const GAP: &str = "  ";

/// How many characters of a check's last output line the table shows.
const OUTPUT_WIDTH: usize = 40;

/// `status`'s exit status for `doc`: [`EXIT_FAULT`] when any instance is in
/// Fault, 0 otherwise.
pub fn exit_code(doc: &Status) -> u8 {
    let fault = doc.instances.iter().any(|i| i.state == State::Fault);
    if fault {
        EXIT_FAULT
    } else {
        0
    }
}

/// The whole view: the instance table, then (when there is something to say)
/// reason lines, checks, sync groups and dropped packets, separated by blank
/// lines. Ends with a newline.
pub fn render(doc: &Status) -> String {
    let table = if doc.instances.is_empty() {
        "no instances configured: this agent holds no virtual IP\n".to_owned()
    } else {
        instance_table(doc, &doc.instances)
    };
    let mut sections = vec![table];
    let reasons = reason_lines(&doc.instances);
    if !reasons.is_empty() {
        sections.push(reasons);
    }
    sections.extend(
        [
            heartbeat_table(doc),
            checks_table(doc),
            sync_groups_table(doc),
            quorum_table(doc),
            dropped_table(doc),
        ]
        .into_iter()
        .flatten(),
    );
    sections.join("\n")
}

/// A duration for people: `0.4s`, `12.3s`, `4m05s`, `2h10m`, `3d04h`.
pub fn human_duration(ms: u64) -> String {
    const MINUTE: u64 = 60_000;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    if ms < MINUTE {
        format!("{}.{}s", ms / 1000, ms % 1000 / 100)
    } else if ms < HOUR {
        let s = ms / 1000;
        format!("{}m{:02}s", s / 60, s % 60)
    } else if ms < DAY {
        let m = ms / MINUTE;
        format!("{}h{:02}m", m / 60, m % 60)
    } else {
        let h = ms / HOUR;
        format!("{}d{:02}h", h / 24, h % 24)
    }
}

/// An advertisement interval: `100ms`, `1s`, `1.5s`, `40.95s`.
pub fn interval(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let fraction = format!("{:03}", ms % 1000);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{}s", ms / 1000)
    } else {
        format!("{}.{fraction}s", ms / 1000)
    }
}

/// Lays out rows under a header: each column as wide as its widest cell,
/// columns two spaces apart, no trailing spaces.
pub fn layout(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str(GAP);
            }
            line.push_str(cell);
            let pad = widths.get(i).copied().unwrap_or(0);
            line.extend(std::iter::repeat_n(
                ' ',
                pad.saturating_sub(cell.chars().count()),
            ));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A text field shown as is, or `-` when empty.
fn cell(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.into()
    }
}

fn instance_table(doc: &Status, instances: &[InstanceStatus]) -> String {
    let header = [
        "INSTANCE", "STATE", "PRIO", "MASTER", "INTERVAL", "VIPS", "SINCE", "ADVERTS", "DROPS",
    ];
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            vec![
                cell(&i.name),
                state(i),
                format!("{}/{}", i.priority, i.base_priority),
                master(i),
                intervals(i),
                vips(i),
                i.since_transition_ms
                    .map_or_else(|| "-".into(), human_duration),
                format!(
                    "{}/{}",
                    i.counters.adverts_received, i.counters.adverts_sent
                ),
                drops(doc, i),
            ]
        })
        .collect();
    layout(&header, &rows)
}

fn state(instance: &InstanceStatus) -> String {
    let state = instance.state.as_str();
    if instance.maintenance {
        format!("{state} (maint)")
    } else {
        state.into()
    }
}

fn master(instance: &InstanceStatus) -> String {
    if instance.state == State::Master {
        return "self".into();
    }
    match &instance.master {
        Some(m) => format!("{} ({})", m.address, m.priority),
        None => "-".into(),
    }
}

fn intervals(instance: &InstanceStatus) -> String {
    let own = instance.advert_interval_ms;
    let learned = instance.master_adver_interval_ms;
    if own == learned {
        interval(own)
    } else {
        format!("{}/{}", interval(own), interval(learned))
    }
}

fn vips(instance: &InstanceStatus) -> String {
    let vips: Vec<String> = instance
        .virtual_ips
        .iter()
        .map(|v| {
            let presence = if v.present { "on" } else { "off" };
            match &v.interface {
                Some(on) => format!("{} ({}) {presence}", cell(&v.address), cell(on)),
                None => format!("{} {presence}", cell(&v.address)),
            }
        })
        .collect();
    if vips.is_empty() {
        "-".into()
    } else {
        vips.join(", ")
    }
}

/// Packets dropped on the instance's interface, all reasons together (shared
/// by the instances on that interface).
fn drops(doc: &Status, instance: &InstanceStatus) -> String {
    let total: u64 = doc
        .dropped
        .get(&instance.interface)
        .map(|reasons| reasons.values().sum())
        .unwrap_or(0);
    total.to_string()
}

/// `web: priority 90: web/script down (-60)` and `web: fault: ...` lines.
fn reason_lines(instances: &[InstanceStatus]) -> String {
    let mut out = String::new();
    for i in instances {
        let name = cell(&i.name);
        if !i.priority_reasons.is_empty() {
            out.push_str(&format!(
                "{name}: priority {}: {}\n",
                i.priority,
                i.priority_reasons.join(", ")
            ));
        }
        if !i.fault_reasons.is_empty() {
            out.push_str(&format!("{name}: fault: {}\n", i.fault_reasons.join(", ")));
        }
        if i.mode == AdvertMode::Unicast {
            let peers: Vec<String> = i
                .advert_destinations
                .iter()
                .map(|a| a.to_string())
                .collect();
            out.push_str(&format!(
                "{name}: unicast from {} to {}\n",
                i.source,
                peers.join(", ")
            ));
        }
        match i.vrrp_version.as_str() {
            "2" => out.push_str(&format!("{name}: speaks VRRPv2\n")),
            "both" => out.push_str(&format!("{name}: speaks VRRPv3 and VRRPv2 (migration)\n")),
            _ => {}
        }
        if let Some(cause) = &i.waiting_for_mastership {
            out.push_str(&format!("{name}: waiting for mastership ({cause})\n"));
        }
        if i.counters.fence_failures > 0 {
            out.push_str(&format!(
                "{name}: {} failed fence runs\n",
                i.counters.fence_failures
            ));
        }
        // The routers of a VRID should agree on the interval; say so when not.
        let mismatches = i.counters.interval_mismatches;
        if mismatches > 0 {
            out.push_str(&format!(
                "{name}: {mismatches} adverts with an interval other than ours ({})\n",
                interval(i.advert_interval_ms)
            ));
        }
        if let Some(handover) = &i.last_handover {
            out.push_str(&format!("{name}: {}\n", handover_line(handover)));
        }
    }
    out
}

/// The last switchover or maintenance handover of an instance, in words.
fn handover_line(h: &HandoverRecord) -> String {
    let what = match h.kind {
        HandoverKind::Switchover => "last switchover",
        HandoverKind::Maintenance => "last maintenance handover",
    };
    let took = human_duration(h.elapsed_ms);
    let outcome = match (h.outcome, h.new_master) {
        (HandoverOutcome::Confirmed, Some(master)) => {
            format!("new Master {master} took over after {took}")
        }
        (HandoverOutcome::Confirmed, None) => format!("confirmed after {took}"),
        (HandoverOutcome::StayedMaster, _) => {
            format!("nobody took over within {took}; stayed Master")
        }
        (HandoverOutcome::Released, _) => {
            format!("nobody took over within {took}; virtual IPs released (forced)")
        }
        (HandoverOutcome::Partial, _) => {
            format!("no new Master heard within {took}, though sync-group partners moved")
        }
        (HandoverOutcome::Interrupted, _) => "interrupted before a new Master was heard".into(),
    };
    format!("{what}: {outcome}")
}

fn checks_table(doc: &Status) -> Option<String> {
    if doc.checks.is_empty() {
        return None;
    }
    let header = [
        "CHECK", "KIND", "TARGET", "STATE", "DETAIL", "SINCE", "OUTPUT",
    ];
    let rows: Vec<Vec<String>> = doc
        .checks
        .iter()
        .map(|c| {
            let state = match c.up {
                Some(true) => "up",
                Some(false) => "down",
                None => "pending",
            };
            let mut detail = cell(&c.detail);
            if c.kind == "file" {
                detail = format!("value {}; {detail}", c.value);
            }
            vec![
                cell(&c.name),
                cell(&c.kind),
                cell(&c.target),
                state.into(),
                detail,
                c.since_change_ms.map_or_else(|| "-".into(), human_duration),
                output(c),
            ]
        })
        .collect();
    Some(layout(&header, &rows))
}

/// A check's last output line, shortened to fit the table.
fn output(check: &CheckStatus) -> String {
    let Some(line) = check
        .last_output
        .as_deref()
        .and_then(|o| o.lines().rfind(|l| !l.is_empty()))
    else {
        return "-".into();
    };
    let line = line.trim();
    if line.chars().count() > OUTPUT_WIDTH {
        let short: String = line.chars().take(OUTPUT_WIDTH - 1).collect();
        format!("{short}…")
    } else {
        line.into()
    }
}

fn sync_groups_table(doc: &Status) -> Option<String> {
    if doc.sync_groups.is_empty() {
        return None;
    }
    let rows: Vec<Vec<String>> = doc
        .sync_groups
        .iter()
        .map(|g| {
            vec![
                cell(&g.name),
                g.state.as_str().into(),
                if g.instances.is_empty() {
                    "-".into()
                } else {
                    g.instances.join(", ")
                },
            ]
        })
        .collect();
    Some(layout(&["SYNC GROUP", "STATE", "INSTANCES"], &rows))
}

/// The heartbeat links: a dead one shows here (no carrier, adverts long
/// unheard) before losing the other link would make it matter.
fn heartbeat_table(doc: &Status) -> Option<String> {
    let rows: Vec<Vec<String>> = doc
        .instances
        .iter()
        .flat_map(|i| {
            i.heartbeat.iter().map(|l| {
                vec![
                    cell(&i.name),
                    cell(&l.interface),
                    l.source.map_or("-".into(), |a| a.to_string()),
                    if l.carrier { "up" } else { "down" }.into(),
                    l.last_advert_ms_ago
                        .map_or("-".into(), |ms| format!("{} ago", human_duration(ms))),
                    l.send_errors.to_string(),
                ]
            })
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let header = [
        "INSTANCE",
        "HEARTBEAT",
        "SOURCE",
        "LINK",
        "LAST ADVERT",
        "SEND ERRORS",
    ];
    Some(layout(&header, &rows))
}

/// Each unit's quorum key: state, holder, renewal latency and counters.
fn quorum_table(doc: &Status) -> Option<String> {
    if doc.quorum.is_empty() {
        return None;
    }
    let rows: Vec<Vec<String>> = doc
        .quorum
        .iter()
        .map(|q| {
            let holder = match (&q.holder, q.state.as_str()) {
                (Some(holder), _) => cell(holder),
                (None, "held") => "self".into(),
                (None, _) => "-".into(),
            };
            vec![
                cell(&q.key),
                q.state.clone(),
                holder,
                q.last_renewal_latency_ms
                    .map_or("-".into(), |ms| format!("{ms}ms")),
                format!("{}/{}/{}", q.denied, q.lost, q.unreachable),
            ]
        })
        .collect();
    Some(layout(
        &[
            "QUORUM KEY",
            "STATE",
            "HOLDER",
            "RENEWAL",
            "DENIED/LOST/UNREACHABLE",
        ],
        &rows,
    ))
}

fn dropped_table(doc: &Status) -> Option<String> {
    let mut rows = Vec::new();
    for (interface, reasons) in &doc.dropped {
        for (reason, count) in reasons {
            rows.push(vec![interface.clone(), reason.clone(), count.to_string()]);
        }
    }
    if rows.is_empty() {
        return None;
    }
    Some(layout(&["INTERFACE", "DROPPED", "COUNT"], &rows))
}

#[cfg(test)]
mod tests;
