//! Writes the imported configuration as commented, readable YAML: every
//! instance, check and sync group says which keepalived.conf line it comes
//! from.

use std::fmt::Write as _;
use std::time::Duration;

use super::out::{CheckKindOut, CommandOut, GroupOut, InstanceOut, Output, TrackOut};
use crate::config::format_duration;

/// The YAML text of `output`, headed by `source` (the file imported).
pub fn yaml(output: &Output, source: &str) -> String {
    let mut y = String::new();
    let _ = writeln!(y, "# twinstar configuration imported from {source}");
    let _ = writeln!(
        y,
        "# by `twinstar import-keepalived`; see twinstar.yaml(5) for every key."
    );
    let _ = writeln!(y, "# Validate it with `twinstar check --config FILE`.");
    if let Some((user, why)) = &output.script_user {
        let _ = writeln!(y, "\n# {why}\nscript_user: {}", scalar(user));
    }
    if let Some(node_id) = &output.node_id {
        let _ = writeln!(
            y,
            "\n# from router_id: this node's name in the quorum store\nnode_id: {}",
            scalar(node_id)
        );
    }
    if !output.checks.is_empty() {
        y.push_str("\nchecks:\n");
        for check in &output.checks {
            let _ = writeln!(y, "  # {} ({})", check.what, check.from);
            let _ = writeln!(y, "  - name: {}", scalar(&check.name));
            match &check.kind {
                CheckKindOut::Script(command) => {
                    let _ = writeln!(y, "    script: {}", command_yaml(command));
                }
                CheckKindOut::File(path) => {
                    let _ = writeln!(y, "    file: {}", scalar(path));
                }
                CheckKindOut::Process { name, min, max } => {
                    let _ = writeln!(y, "    process: {}", scalar(name));
                    opt(&mut y, "    ", "min", min.map(|v| v.to_string()));
                    opt(&mut y, "    ", "max", max.map(|v| v.to_string()));
                }
            }
            opt(&mut y, "    ", "interval", check.interval.map(duration));
            opt(&mut y, "    ", "timeout", check.timeout.map(duration));
            opt(&mut y, "    ", "rise", check.rise.map(|v| v.to_string()));
            opt(&mut y, "    ", "fall", check.fall.map(|v| v.to_string()));
        }
    }
    y.push_str("\ninstances:");
    if output.instances.is_empty() {
        y.push_str(" []\n");
    } else {
        y.push('\n');
    }
    for instance in &output.instances {
        write_instance(&mut y, instance);
    }
    if !output.sync_groups.is_empty() {
        y.push_str("\nsync_groups:\n");
        for group in &output.sync_groups {
            write_group(&mut y, group);
        }
    }
    y
}

fn write_instance(y: &mut String, i: &InstanceOut) {
    let _ = writeln!(y, "  # {} ({})", i.what, i.from);
    let _ = writeln!(y, "  - name: {}", scalar(&i.name));
    let _ = writeln!(y, "    interface: {}", scalar(&i.interface));
    let _ = writeln!(y, "    vrid: {}", i.vrid);
    opt(y, "    ", "priority", i.priority.map(|p| p.to_string()));
    opt(
        y,
        "    ",
        "advert_interval",
        i.advert_interval.map(duration),
    );
    opt(y, "    ", "preempt", i.preempt.map(|p| p.to_string()));
    opt(y, "    ", "preempt_delay", i.preempt_delay.map(duration));
    opt(y, "    ", "accept", i.accept.map(|a| a.to_string()));
    if let Some((version, why)) = i.version {
        let _ = writeln!(y, "    version: {version}   # {why}");
    }
    y.push_str("    virtual_ips:\n");
    for vip in &i.virtual_ips {
        let address = format!("{}/{}", vip.address, vip.prefix);
        match &vip.interface {
            None => {
                let _ = writeln!(y, "      - {address}");
            }
            Some(dev) => {
                let _ = writeln!(
                    y,
                    "      - {{address: {address}, interface: {}}}",
                    scalar(dev)
                );
            }
        }
    }
    if !i.unicast_peers.is_empty() {
        let peers: Vec<String> = i.unicast_peers.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(y, "    unicast_peers: [{}]", peers.join(", "));
    }
    opt(
        y,
        "    ",
        "unicast_source",
        i.unicast_source.map(|a| a.to_string()),
    );
    opt(y, "    ", "vmac", i.vmac.as_deref().map(scalar));
    if !i.garp.is_empty() {
        y.push_str("    garp:\n");
        opt(y, "      ", "count", i.garp.count.map(|c| c.to_string()));
        opt(y, "      ", "interval", i.garp.interval.map(duration));
        opt(y, "      ", "refresh", i.garp.refresh.map(duration));
    }
    if !i.track.is_empty() {
        y.push_str("    track:\n");
        for track in &i.track {
            let _ = match track {
                TrackOut::Check { name, weight } => {
                    writeln!(y, "      - {{check: {}, weight: {weight}}}", scalar(name))
                }
                TrackOut::Interface { name, weight } => {
                    writeln!(
                        y,
                        "      - {{interface: {}, weight: {weight}}}",
                        scalar(name)
                    )
                }
            };
        }
    }
    write_hooks(y, &i.hooks);
}

fn write_group(y: &mut String, g: &GroupOut) {
    let _ = writeln!(y, "  # {} ({})", g.what, g.from);
    let _ = writeln!(y, "  - name: {}", scalar(&g.name));
    let members: Vec<String> = g.instances.iter().map(|m| scalar(m)).collect();
    let _ = writeln!(y, "    instances: [{}]", members.join(", "));
    write_hooks(y, &g.hooks);
}

fn write_hooks(y: &mut String, hooks: &[(&'static str, CommandOut)]) {
    if hooks.is_empty() {
        return;
    }
    y.push_str("    hooks:\n");
    // The order twinstar runs them in: the state's hook, then on_change.
    const ORDER: [&str; 5] = ["on_master", "on_backup", "on_fault", "on_stop", "on_change"];
    let mut sorted: Vec<&(&'static str, CommandOut)> = hooks.iter().collect();
    sorted.sort_by_key(|(key, _)| ORDER.iter().position(|k| k == key));
    for (key, command) in sorted {
        let _ = writeln!(y, "      {key}: {}", command_yaml(command));
    }
}

fn opt(y: &mut String, indent: &str, key: &str, value: Option<String>) {
    if let Some(value) = value {
        let _ = writeln!(y, "{indent}{key}: {value}");
    }
}

fn duration(d: Duration) -> String {
    format_duration(d)
}

/// A command in YAML: a flow list for argv, a quoted string for a shell line.
fn command_yaml(command: &CommandOut) -> String {
    match command {
        CommandOut::Argv(argv) => {
            let items: Vec<String> = argv.iter().map(|a| scalar(a)).collect();
            format!("[{}]", items.join(", "))
        }
        CommandOut::Shell(line) => quoted(line),
    }
}

/// `text` as a YAML scalar: plain when it cannot be mistaken for anything
/// else, double-quoted otherwise.
pub fn scalar(text: &str) -> String {
    let plain_chars = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./@+%".contains(c));
    let first_ok = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '/' || c == '_');
    let looks_typed = text.parse::<f64>().is_ok()
        || matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain_chars && first_ok && !looks_typed {
        text.to_owned()
    } else {
        quoted(text)
    }
}

/// `text` double-quoted, escaped as JSON (which YAML reads the same).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_plain_only_when_unambiguous() {
        assert_eq!(scalar("VI_1"), "VI_1");
        assert_eq!(scalar("/usr/local/bin/check.sh"), "/usr/local/bin/check.sh");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("150"), "\"150\"");
        assert_eq!(scalar("a b"), "\"a b\"");
        assert_eq!(scalar("-x"), "\"-x\"");
        assert_eq!(scalar("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(scalar(""), "\"\"");
    }
}
