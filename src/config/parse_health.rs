//! The schema of tracked objects: the named `checks:` and an instance's
//! `track:` list. The check definitions themselves are read in
//! `parse_health/check.rs`.

mod check;

use std::collections::HashMap;

use super::model::{defaults, Check, Track};
use super::reader::{concat_keys, int_in, list, name_value, optional, string, Checker, MapReader};
use super::yaml::{Node, Pos};
use check::{check_body, CheckBody, BODY_KEYS};

/// The keys of a check under `checks:`: its name, then those of its body.
pub(super) const CHECK_KEYS: &[&str] = &concat_keys::<16>(&[&["name"], BODY_KEYS]);
/// The keys of a `track:` item: a reference or an inline check, and its weight.
pub(super) const TRACK_KEYS: &[&str] = &concat_keys::<18>(&[&["check", "weight"], CHECK_KEYS]);

/// Every check of the file as it is read: the ones under `checks:` first, then
/// the inline ones as instances declare them, so that names stay unique and
/// `check:` references resolve.
#[derive(Default)]
pub struct CheckSet {
    checks: Vec<Check>,
    /// Names given under `checks:`, in order, including those of checks with
    /// mistakes, so that references to them are not reported as unknown too.
    declared: Vec<String>,
    /// Every name in use, with the line that took it.
    taken: HashMap<String, u64>,
}

impl CheckSet {
    /// The checks read without mistakes.
    pub fn into_checks(self) -> Vec<Check> {
        self.checks
    }

    /// Takes `name` for a check at `pos`; reports it when already in use.
    fn claim(&mut self, ck: &mut Checker, name: &str, pos: Pos) -> bool {
        if let Some(line) = self.taken.get(name) {
            ck.error(
                pos,
                format!("check name `{name}` is already used on line {line}; names must be unique"),
            );
            return false;
        }
        self.taken.insert(name.to_owned(), pos.line);
        true
    }

    /// `<instance>/<kind>`, or with the first free number from 2 appended.
    fn generated_name(&self, instance: &str, kind: &str) -> String {
        let base = format!("{instance}/{kind}");
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains_key(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        name
    }
}

/// A check named by `name`, from a body read without mistakes.
fn named(body: CheckBody, name: String) -> Check {
    Check {
        name,
        kind: body.kind,
        interval: body.interval,
        timeout: body.timeout,
        rise: body.rise,
        fall: body.fall,
    }
}

/// `checks:`: the list of named checks.
pub fn named_checks(ck: &mut Checker, node: &Node, set: &mut CheckSet) {
    let Some(items) = list(ck, "checks", node) else {
        return;
    };
    for item in items {
        let Some(map) = MapReader::new(ck, item, "a check", CHECK_KEYS) else {
            continue;
        };
        let name_node = map.required(ck, "this check", "name", "a unique label such as `haproxy`");
        let name = name_node.and_then(|n| name_value(ck, n));
        let claimed = match (&name, name_node) {
            (Some(name), Some(node)) => {
                set.declared.push(name.clone());
                set.claim(ck, name, node.pos)
            }
            _ => false,
        };
        let body = check_body(ck, &map);
        if let (Some(name), Some(body), true) = (name, body, claimed) {
            set.checks.push(named(body, name));
        }
    }
}

/// An instance's `track:` list; inline checks are added to `set`.
pub fn track(
    ck: &mut Checker,
    node: &Node,
    instance: &str,
    set: &mut CheckSet,
) -> Option<Vec<Track>> {
    let items = list(ck, "track", node)?;
    let mut tracks = Vec::with_capacity(items.len());
    let mut ok = true;
    let mut seen: HashMap<String, u64> = HashMap::new();
    for item in items {
        let Some(map) = MapReader::new(ck, item, "a track item", TRACK_KEYS) else {
            ok = false;
            continue;
        };
        let (lo, hi) = (-defaults::WEIGHT_MAX, defaults::WEIGHT_MAX);
        let weight = optional(map.get("weight"), Some(0), |n| {
            int_in(ck, "weight", n, lo.into(), hi.into()).and_then(|w| i32::try_from(w).ok())
        });
        let check = match map.get("check") {
            Some(reference) => referenced(ck, &map, reference, set),
            None => inline(ck, &map, instance, set),
        };
        if let (Some(check), Some(item_pos)) = (&check, map.get("check").map(|n| n.pos)) {
            if let Some(line) = seen.get(check) {
                ck.error(
                    item_pos,
                    format!("check `{check}` is already tracked by this instance (line {line}); list it once"),
                );
                ok = false;
            }
        }
        match (check, weight) {
            (Some(check), Some(weight)) => {
                seen.entry(check.clone()).or_insert(item.pos.line);
                tracks.push(Track { check, weight });
            }
            _ => ok = false,
        }
    }
    ok.then_some(tracks)
}

/// `check: NAME`: a reference to a check declared under `checks:`.
fn referenced(ck: &mut Checker, map: &MapReader, node: &Node, set: &CheckSet) -> Option<String> {
    let mut ok = true;
    for key in TRACK_KEYS
        .iter()
        .filter(|k| !matches!(**k, "check" | "weight"))
    {
        if let Some(key) = map.key(key) {
            ck.error(
                key.pos,
                format!(
                    "`{}` cannot go with `check:`, which refers to a check declared under \
                     `checks:`; set it there, or drop `check:` to declare the check here",
                    key.text
                ),
            );
            ok = false;
        }
    }
    let name = string(ck, "check", node)?;
    if !set.declared.iter().any(|d| d == name) {
        let known = if set.declared.is_empty() {
            "declare it under the top-level `checks:`".to_owned()
        } else {
            format!(
                "the checks under `checks:` are: {}",
                set.declared.join(", ")
            )
        };
        ck.error(node.pos, format!("no check is named `{name}`; {known}"));
        return None;
    }
    ok.then(|| name.to_owned())
}

/// An inline check: added to `set` under its `name`, or a generated one.
fn inline(ck: &mut Checker, map: &MapReader, instance: &str, set: &mut CheckSet) -> Option<String> {
    let name = match map.get("name") {
        Some(node) => name_value(ck, node)
            .filter(|name| set.claim(ck, name, node.pos))
            .map(Some),
        None => Some(None),
    };
    let body = check_body(ck, map)?;
    let name = match name? {
        Some(name) => name,
        None => {
            let name = set.generated_name(instance, body.kind.key());
            set.taken.insert(name.clone(), map.pos().line);
            name
        }
    };
    set.checks.push(named(body, name.clone()));
    Some(name)
}
