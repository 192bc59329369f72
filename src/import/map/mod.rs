//! keepalived's statements mapped to the twinstar configuration, reporting
//! every construct that does not carry over.
//!
//! Three passes, because keepalived resolves names after reading the whole
//! file: `global_defs` and the tracked objects first, then the instances
//! (which refer to tracked objects), then the sync groups (which refer to
//! instances, possibly split in two by address family).

mod garp;
mod hooks;
mod instance;
#[cfg(test)]
mod tests;
mod track;
mod values;
mod vip;

use std::collections::HashMap;

use super::out::{GroupOut, Output};
use super::report::Finding;
use super::tree::Statement;
use garp::garp_setting;
use hooks::{hook, hook_key, Owner};
use instance::Globals;
use track::Declared;
use values::twinstar_name;

/// Top-level blocks that belong to keepalived's LVS or BFD side, which
/// twinstar does not do.
const OTHER_DAEMONS: &[&str] = &[
    "virtual_server",
    "virtual_server_group",
    "bfd_instance",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "linkbeat_interfaces",
    "track_group",
];

/// Maps the statements of a keepalived configuration.
pub fn map(statements: &[Statement], findings: &mut Vec<Finding>) -> Output {
    let mut out = Output::default();
    let globals = global_defs(statements, &mut out, findings);
    let mut declared = Declared::default();
    for s in statements {
        declared.declare(s, &globals.script_user, findings);
    }
    // keepalived instance name -> the twinstar instances it became.
    let mut made: HashMap<String, Vec<String>> = HashMap::new();
    for s in statements.iter().filter(|s| s.keyword == "vrrp_instance") {
        let instances = instance::instance(s, &globals, &mut declared, findings);
        if let Some(name) = s.first_arg() {
            made.insert(
                name.to_owned(),
                instances.iter().map(|i| i.name.clone()).collect(),
            );
        }
        out.instances.extend(instances);
    }
    let mut grouped = Vec::new();
    for s in statements.iter().filter(|s| s.keyword == "vrrp_sync_group") {
        if let Some(group) = sync_group(s, &made, &globals, &mut declared, &mut out, findings) {
            grouped.extend(group.instances.iter().cloned());
            out.sync_groups.push(group);
        }
    }
    // Split instances outside any group move together through a group of their own.
    for names in made.values().filter(|n| n.len() > 1) {
        if names.iter().all(|n| !grouped.contains(n)) {
            let Some(first) = out.instances.iter().find(|i| i.name == names[0]) else {
                continue;
            };
            out.sync_groups.push(GroupOut {
                from: first.from.clone(),
                what: format!("both address families of {}", first.what),
                name: twinstar_name(&format!("{}-families", names[0])),
                instances: names.clone(),
                hooks: Vec::new(),
            });
        }
    }
    out.sync_groups
        .sort_by_key(|g| (g.from.file.to_path_buf(), g.from.line));
    for s in statements {
        let known = matches!(
            s.keyword.as_str(),
            "global_defs"
                | "vrrp_instance"
                | "vrrp_sync_group"
                | "vrrp_script"
                | "vrrp_track_process"
                | "vrrp_track_file"
        ) || (s.keyword == "track_file" && s.block.is_some());
        if !known {
            let why = if OTHER_DAEMONS.contains(&s.keyword.as_str()) {
                "twinstar does only VRRP (no LVS, BFD or static addresses); block left out"
            } else if s.keyword.starts_with('@')
                || s.keyword.starts_with('$')
                || s.keyword.starts_with('~')
            {
                "conditional configuration and parameters are not read; line left out"
            } else {
                "not a keepalived block twinstar knows; left out"
            };
            findings.push(Finding::unmapped(&s.at, &s.keyword, why));
        }
    }
    out.checks = declared.into_checks();
    // Reported by file and line, however the passes found them.
    findings
        .sort_by(|a, b| (a.at.file.as_path(), a.at.line).cmp(&(b.at.file.as_path(), b.at.line)));
    out
}

/// Reads `global_defs`, setting the script user and node id on `out`.
fn global_defs(statements: &[Statement], out: &mut Output, findings: &mut Vec<Finding>) -> Globals {
    let mut globals = Globals::default();
    let mut user = None;
    let mut security = None;
    for item in statements
        .iter()
        .filter(|s| s.keyword == "global_defs")
        .flat_map(Statement::children)
    {
        let key = item.keyword.as_str();
        let arg = item.first_arg();
        match key {
            "router_id" => match arg {
                Some(id)
                    if !id.is_empty()
                        && id.len() <= 64
                        && id
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
                {
                    out.node_id = Some(id.to_owned())
                }
                _ => findings.push(Finding::unmapped(
                    &item.at,
                    key,
                    "not a valid node_id (1 to 64 letters, digits, -, _ or .); left out",
                )),
            },
            "script_user" => {
                user = arg.map(str::to_owned);
                if item.args.len() > 1 {
                    findings.push(Finding::unmapped(
                        &item.at,
                        key,
                        "twinstar runs scripts with the user's own groups; the group \
                        given is ignored",
                    ));
                }
            }
            "enable_script_security" => security = Some(item),
            "vrrp_version" => match arg {
                Some("2") => globals.version = Some(2),
                Some("3") => globals.version = Some(3),
                _ => findings.push(Finding::unmapped(&item.at, key, "not 2 or 3; left out")),
            },
            "vrrp_strict" => {
                globals.strict = true;
                findings.push(Finding::note(
                    &item.at,
                    key,
                    "instances get `accept: false` (no_accept); twinstar's other \
                    strict checks are always on",
                ));
            }
            "vrrp_garp_master_delay"
            | "vrrp_garp_master_repeat"
            | "vrrp_garp_master_refresh"
            | "vrrp_garp_master_refresh_repeat"
            | "vrrp_garp_interval" => {
                garp_setting(&mut globals.garp_v4, item, findings);
                if key != "vrrp_garp_interval" {
                    // Reported once, above.
                    garp_setting(&mut globals.garp_v6, item, &mut Vec::new());
                }
            }
            "vrrp_gna_interval" => garp_setting(&mut globals.garp_v6, item, findings),
            _ => findings.push(Finding::unmapped(&item.at, key, "no twinstar equivalent")),
        }
    }
    let (user, why) = match user {
        Some(user) => (user, "from script_user".to_owned()),
        None => (
            "root".to_owned(),
            "keepalived runs scripts as root when no script_user is set (and \
                no keepalived_script user exists); a dedicated user is safer"
                .to_owned(),
        ),
    };
    if user == "root" {
        let at = security
            .map(|s| s.at.clone())
            .or_else(|| statements.first().map(|s| s.at.clone()));
        if let Some(at) = at {
            findings.push(Finding::note(
                &at,
                "script_user",
                "scripts run as root: twinstar refuses a root script that another \
                user can modify, as keepalived does with enable_script_security",
            ));
        }
    }
    globals.script_user = user.clone();
    out.script_user = Some((user, why));
    globals
}

/// One `vrrp_sync_group`.
fn sync_group(
    s: &Statement,
    made: &HashMap<String, Vec<String>>,
    globals: &Globals,
    declared: &mut Declared,
    out: &mut Output,
    findings: &mut Vec<Finding>,
) -> Option<GroupOut> {
    let keepalived_name = s.first_arg().unwrap_or("unnamed");
    let mut group = GroupOut {
        from: s.at.clone(),
        what: format!("vrrp_sync_group {keepalived_name}"),
        name: twinstar_name(keepalived_name),
        instances: Vec::new(),
        hooks: Vec::new(),
    };
    let mut tracks = Vec::new();
    for item in s.children() {
        let key = item.keyword.as_str();
        if key == "group" {
            for (at, member) in item.block_words() {
                match made.get(member) {
                    Some(names) => group.instances.extend(names.iter().cloned()),
                    None => findings.push(Finding::unmapped(
                        at,
                        key,
                        format!("no instance `{member}` was imported; left out of the group"),
                    )),
                }
            }
        } else if hook_key(key).is_some() {
            if let Some(h) = hook(item, Owner::Group, &globals.script_user, findings) {
                hooks::set_hook(&mut group.hooks, h, item, findings);
            }
        } else if let Some(items) = declared.track(item, findings) {
            tracks.extend(items);
        } else {
            findings.push(Finding::unmapped(
                &item.at,
                key,
                "no twinstar equivalent in a sync group",
            ));
        }
    }
    // A group's tracked objects act on every member, as keepalived does.
    for instance in out
        .instances
        .iter_mut()
        .filter(|i| group.instances.contains(&i.name))
    {
        for item in &tracks {
            if !instance.track.contains(item) {
                instance.track.push(item.clone());
            }
        }
    }
    if group.instances.len() < 2 {
        findings.push(Finding::unmapped(
            &s.at,
            &s.keyword,
            "a sync group needs two instances or more; left out",
        ));
        return None;
    }
    Some(group)
}
