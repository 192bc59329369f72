//! The human view of the status document: what `twinstar status` prints.
//!
//! The document is read leniently as JSON, so that a newer agent's extra fields
//! are ignored and a missing field shows as `-` instead of failing the view.
//! Both forms of `virtual_ips` are understood: plain strings (older agents) and
//! `{"address": ..., "present": ...}` objects.

use serde_json::Value;

/// The exit status of `twinstar status` when some instance is in Fault.
pub const EXIT_FAULT: u8 = 3;

/// Two spaces between columns.
const GAP: &str = "  ";

/// How many characters of a check's last output line the table shows.
const OUTPUT_WIDTH: usize = 40;

/// `status`'s exit status for `doc`: [`EXIT_FAULT`] when any instance is in
/// Fault, 0 otherwise.
pub fn exit_code(doc: &Value) -> u8 {
    let fault = instances(doc)
        .iter()
        .any(|i| text(i, "state") == Some("fault"));
    if fault {
        EXIT_FAULT
    } else {
        0
    }
}

/// The whole view: the instance table, then (when there is something to say)
/// reason lines, checks, sync groups and dropped packets, separated by blank
/// lines. Ends with a newline.
pub fn render(doc: &Value) -> String {
    let table = if instances(doc).is_empty() {
        "no instances configured: this agent holds no virtual IP\n".to_owned()
    } else {
        instance_table(doc, instances(doc))
    };
    let mut sections = vec![table];
    let reasons = reason_lines(instances(doc));
    if !reasons.is_empty() {
        sections.push(reasons);
    }
    sections.extend(
        [
            checks_table(doc),
            sync_groups_table(doc),
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

fn instances(doc: &Value) -> &[Value] {
    list(doc, "instances")
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn number(value: &Value, key: &str) -> Option<u64> {
    value.get(key).and_then(Value::as_u64)
}

/// A field shown as is: strings without quotes, numbers as numbers, missing or
/// null as `-`.
fn cell(value: &Value, key: &str) -> String {
    match value.get(key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn instance_table(doc: &Value, instances: &[Value]) -> String {
    let header = [
        "INSTANCE", "STATE", "PRIO", "MASTER", "INTERVAL", "VIPS", "SINCE", "ADVERTS", "DROPS",
    ];
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            vec![
                cell(i, "name"),
                state(i),
                format!("{}/{}", cell(i, "priority"), cell(i, "base_priority")),
                master(i),
                intervals(i),
                vips(i),
                number(i, "since_transition_ms").map_or_else(|| "-".into(), human_duration),
                adverts(i),
                drops(doc, i),
            ]
        })
        .collect();
    layout(&header, &rows)
}

fn state(instance: &Value) -> String {
    let state = cell(instance, "state");
    if instance.get("maintenance").and_then(Value::as_bool) == Some(true) {
        format!("{state} (maint)")
    } else {
        state
    }
}

fn master(instance: &Value) -> String {
    if text(instance, "state") == Some("master") {
        return "self".into();
    }
    match instance.get("master") {
        Some(m) if m.is_object() => format!("{} ({})", cell(m, "address"), cell(m, "priority")),
        _ => "-".into(),
    }
}

fn intervals(instance: &Value) -> String {
    let own = number(instance, "advert_interval_ms");
    let learned = number(instance, "master_adver_interval_ms");
    match (own, learned) {
        (Some(own), Some(learned)) if own != learned => {
            format!("{}/{}", interval(own), interval(learned))
        }
        (Some(own), _) => interval(own),
        (None, Some(learned)) => format!("-/{}", interval(learned)),
        (None, None) => "-".into(),
    }
}

fn vips(instance: &Value) -> String {
    let vips: Vec<String> = list(instance, "virtual_ips")
        .iter()
        .map(|v| match v {
            Value::String(address) => address.clone(),
            other => {
                let presence = match other.get("present").and_then(Value::as_bool) {
                    Some(true) => " on",
                    Some(false) => " off",
                    None => "",
                };
                format!("{}{presence}", cell(other, "address"))
            }
        })
        .collect();
    if vips.is_empty() {
        "-".into()
    } else {
        vips.join(", ")
    }
}

fn adverts(instance: &Value) -> String {
    match instance.get("counters") {
        Some(c) => format!(
            "{}/{}",
            cell(c, "adverts_received"),
            cell(c, "adverts_sent")
        ),
        None => "-".into(),
    }
}

/// Packets dropped on the instance's interface, all reasons together (shared
/// by the instances on that interface).
fn drops(doc: &Value, instance: &Value) -> String {
    let Some(interface) = text(instance, "interface") else {
        return "-".into();
    };
    let total: u64 = doc
        .get("dropped")
        .and_then(|d| d.get(interface))
        .and_then(Value::as_object)
        .map(|reasons| reasons.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    total.to_string()
}

fn strings(value: &Value, key: &str) -> Vec<String> {
    list(value, key)
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// `web: priority 90: web/script down (-60)` and `web: fault: ...` lines.
fn reason_lines(instances: &[Value]) -> String {
    let mut out = String::new();
    for i in instances {
        let name = cell(i, "name");
        let priority = strings(i, "priority_reasons");
        if !priority.is_empty() {
            out.push_str(&format!(
                "{name}: priority {}: {}\n",
                cell(i, "priority"),
                priority.join(", ")
            ));
        }
        let fault = strings(i, "fault_reasons");
        if !fault.is_empty() {
            out.push_str(&format!("{name}: fault: {}\n", fault.join(", ")));
        }
    }
    out
}

fn checks_table(doc: &Value) -> Option<String> {
    let checks = list(doc, "checks");
    if checks.is_empty() {
        return None;
    }
    let header = [
        "CHECK", "KIND", "TARGET", "STATE", "DETAIL", "SINCE", "OUTPUT",
    ];
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            let state = match c.get("up").and_then(Value::as_bool) {
                Some(true) => "up",
                Some(false) => "down",
                None => "pending",
            };
            let mut detail = cell(c, "detail");
            if text(c, "kind") == Some("file") {
                detail = format!("value {}; {detail}", cell(c, "value"));
            }
            vec![
                cell(c, "name"),
                cell(c, "kind"),
                cell(c, "target"),
                state.into(),
                detail,
                number(c, "since_change_ms").map_or_else(|| "-".into(), human_duration),
                output(c),
            ]
        })
        .collect();
    Some(layout(&header, &rows))
}

/// A check's last output line, shortened to fit the table.
fn output(check: &Value) -> String {
    let Some(line) = text(check, "last_output").and_then(|o| o.lines().rfind(|l| !l.is_empty()))
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

fn sync_groups_table(doc: &Value) -> Option<String> {
    let groups = list(doc, "sync_groups");
    if groups.is_empty() {
        return None;
    }
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let members = strings(g, "instances");
            vec![
                cell(g, "name"),
                cell(g, "state"),
                if members.is_empty() {
                    "-".into()
                } else {
                    members.join(", ")
                },
            ]
        })
        .collect();
    Some(layout(&["SYNC GROUP", "STATE", "INSTANCES"], &rows))
}

fn dropped_table(doc: &Value) -> Option<String> {
    let interfaces = doc.get("dropped").and_then(Value::as_object)?;
    let mut rows = Vec::new();
    for (interface, reasons) in interfaces {
        for (reason, count) in reasons.as_object().into_iter().flatten() {
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
