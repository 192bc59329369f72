//! The schema of who hears about state changes: `hooks:` of instances and
//! sync groups, `sync_groups:`, `events:` and `script_user:`.

use std::collections::HashMap;

use super::model::{defaults, EventSinks, Hook, Hooks, SyncGroup};
use super::reader::{
    absolute_path, command, duration_in, list, name_value, optional, string, Checker, MapReader,
};
use super::yaml::{Kind, Node};

pub(super) const HOOK_KEYS: &[&str] = &[
    "on_master",
    "on_backup",
    "on_fault",
    "on_stop",
    "on_change",
    "before_master",
    "after_backup",
    "before_master_retry",
    "fence",
];
/// Hook keys that make sense for one instance only, not for a sync group.
pub(super) const INSTANCE_ONLY_HOOK_KEYS: &[&str] = &[
    "before_master",
    "after_backup",
    "before_master_retry",
    "fence",
];
pub(super) const SYNC_GROUP_KEYS: &[&str] = &["name", "instances", "hooks"];
pub(super) const EVENTS_KEYS: &[&str] = &["fifo", "socket"];
/// The keys of a hook written as a mapping rather than as a command.
pub(super) const HOOK_FORM_KEYS: &[&str] = &["command", "timeout"];

/// Who a `hooks:` mapping belongs to: some hooks exist per instance only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum HookOwner {
    Instance,
    SyncGroup,
}

/// `hooks:` of an instance or a sync group.
pub fn hooks(ck: &mut Checker, node: &Node, owner: HookOwner) -> Option<Hooks> {
    let map = MapReader::new(ck, node, "hooks", HOOK_KEYS)?;
    let mut ok = true;
    if owner == HookOwner::SyncGroup {
        for key in INSTANCE_ONLY_HOOK_KEYS.iter().filter_map(|k| map.key(k)) {
            ck.error(
                key.pos,
                format!(
                    "`{}` is per instance; put it in the hooks of each member instance instead \
                     of the sync group",
                    key.text
                ),
            );
            ok = false;
        }
    }
    let mut hook = |key: &str| {
        optional(map.get(key), Some(None), |n| {
            hook(ck, &format!("hooks.{key}"), n).map(Some)
        })
    };
    let (on_master, on_backup, on_fault) = (hook("on_master"), hook("on_backup"), hook("on_fault"));
    let (on_stop, on_change) = (hook("on_stop"), hook("on_change"));
    let (before_master, after_backup) = (hook("before_master"), hook("after_backup"));
    let fence = hook("fence");
    let (lo, hi) = (
        defaults::BEFORE_MASTER_RETRY_MIN,
        defaults::BEFORE_MASTER_RETRY_MAX,
    );
    let before_master_retry = optional(
        map.get("before_master_retry"),
        Some(defaults::BEFORE_MASTER_RETRY),
        |n| duration_in(ck, "hooks.before_master_retry", n, lo, hi),
    );
    let hooks = Hooks {
        on_master: on_master?,
        on_backup: on_backup?,
        on_fault: on_fault?,
        on_stop: on_stop?,
        on_change: on_change?,
        before_master: before_master?,
        after_backup: after_backup?,
        fence: fence?,
        before_master_retry: before_master_retry?,
    };
    ok.then_some(hooks)
}

/// One hook: a command, or `{command: ..., timeout: DURATION}`.
fn hook(ck: &mut Checker, key: &str, node: &Node) -> Option<Hook> {
    if !matches!(node.kind, Kind::Map(_)) {
        let command = command(ck, key, node)?;
        return Some(Hook {
            command,
            timeout: defaults::HOOK_TIMEOUT,
        });
    }
    let map = MapReader::new(ck, node, key, HOOK_FORM_KEYS)?;
    let command = map
        .required(
            ck,
            key,
            "command",
            "what to run, such as `[/usr/local/bin/notify, master]`",
        )
        .and_then(|n| command(ck, &format!("{key}.command"), n));
    let (lo, hi) = (defaults::CHECK_INTERVAL_MIN, defaults::CHECK_INTERVAL_MAX);
    let timeout = optional(map.get("timeout"), Some(defaults::HOOK_TIMEOUT), |n| {
        duration_in(ck, &format!("{key}.timeout"), n, lo, hi)
    });
    Some(Hook {
        command: command?,
        timeout: timeout?,
    })
}

/// `sync_groups:`; `instances` holds the instance names, when they could be read.
pub fn sync_groups(
    ck: &mut Checker,
    node: &Node,
    instances: Option<&[String]>,
) -> Option<Vec<SyncGroup>> {
    let items = list(ck, "sync_groups", node)?;
    let mut groups = Vec::with_capacity(items.len());
    let mut ok = true;
    let mut names: HashMap<String, u64> = HashMap::new();
    // Instance name -> (group name, line) of the group it already belongs to.
    let mut member_of: HashMap<String, (String, u64)> = HashMap::new();
    for item in items {
        let Some(map) = MapReader::new(ck, item, "a sync group", SYNC_GROUP_KEYS) else {
            ok = false;
            continue;
        };
        const WHAT: &str = "this sync group";
        let name = map
            .required(ck, WHAT, "name", "a unique label such as `edge`")
            .and_then(|n| Some((name_value(ck, n)?, n.pos)));
        if let Some((name, pos)) = &name {
            if let Some(line) = names.get(name) {
                ck.error(
                    *pos,
                    format!("sync group name `{name}` is already used on line {line}; names must be unique"),
                );
                ok = false;
            }
            names.entry(name.clone()).or_insert(pos.line);
        }
        let group_name = name.as_ref().map_or("", |(n, _)| n.as_str());
        let members = map
            .required(ck, WHAT, "instances", "the list of its member instances")
            .and_then(|n| members(ck, n, group_name, instances, &mut member_of));
        let hooks = optional(map.get("hooks"), Some(Hooks::default()), |n| {
            hooks(ck, n, HookOwner::SyncGroup)
        });
        match (name, members, hooks) {
            (Some((name, _)), Some(instances), Some(hooks)) => groups.push(SyncGroup {
                name,
                instances,
                hooks,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(groups)
}

/// A sync group's `instances:` list.
fn members(
    ck: &mut Checker,
    node: &Node,
    group: &str,
    instances: Option<&[String]>,
    member_of: &mut HashMap<String, (String, u64)>,
) -> Option<Vec<String>> {
    let items = list(ck, "instances", node)?;
    let mut ok = true;
    if items.len() < 2 {
        ck.error(
            node.pos,
            format!(
                "a sync group needs at least two instances, this one lists {}; \
                 a single instance needs no group",
                items.len()
            ),
        );
        ok = false;
    }
    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        let Some(name) = string(ck, "a member instance name", item) else {
            ok = false;
            continue;
        };
        let problem = if let Some(line) = seen.get(name) {
            Some(format!(
                "instance `{name}` is listed twice in this group (first on line {line})"
            ))
        } else if let Some(known) = instances.filter(|known| !known.iter().any(|k| k == name)) {
            Some(format!(
                "no instance is named `{name}`; the instances are: {}",
                known.join(", ")
            ))
        } else if let Some((other, line)) = member_of.get(name) {
            Some(format!(
                "instance `{name}` is already in sync group `{other}` (line {line}); an instance \
                 belongs to at most one group"
            ))
        } else {
            None
        };
        match problem {
            Some(message) => {
                ck.error(item.pos, message);
                ok = false;
            }
            None => {
                member_of.insert(name.to_owned(), (group.to_owned(), item.pos.line));
                names.push(name.to_owned());
            }
        }
        seen.entry(name).or_insert(item.pos.line);
    }
    ok.then_some(names)
}

/// `events:`: where the event stream goes.
pub fn events(ck: &mut Checker, node: &Node) -> Option<EventSinks> {
    let map = MapReader::new(ck, node, "events", EVENTS_KEYS)?;
    let fifo = optional(map.get("fifo"), Some(None), |n| {
        absolute_path(ck, "events.fifo", n).map(Some)
    });
    let socket = optional(map.get("socket"), Some(None), |n| {
        absolute_path(ck, "events.socket", n).map(Some)
    });
    if let (Some(Some(f)), Some(Some(s)), Some(node)) = (&fifo, &socket, map.get("socket")) {
        if f == s {
            ck.error(
                node.pos,
                "events.socket is the same path as events.fifo; give each its own path",
            );
            return None;
        }
    }
    Some(EventSinks {
        fifo: fifo?,
        socket: socket?,
    })
}

/// `script_user:`: a user name; whether such a user exists is not checked here.
pub fn script_user(ck: &mut Checker, node: &Node) -> Option<String> {
    let user = string(ck, "script_user", node)?;
    if user.is_empty() || user.contains(|c: char| c == ':' || c.is_whitespace()) {
        ck.error(
            node.pos,
            format!(
                "script_user `{user}` is not a user name; name one such as `{}`",
                defaults::SCRIPT_USER
            ),
        );
        return None;
    }
    Some(user.to_owned())
}
