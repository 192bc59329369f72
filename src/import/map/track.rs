//! keepalived's tracked objects: `vrrp_script`, `track_file` and
//! `vrrp_track_process` become twinstar checks, and an instance's
//! `track_script`, `track_file`, `track_process` and `track_interface`
//! become its `track` items. The weight semantics are the same: 0 puts the
//! instance in Fault while the object is down, a negative weight is added
//! while it is down, a positive one while it is up.

use std::collections::HashMap;

use super::super::out::{CheckKindOut, CheckOut, CommandOut, TrackOut};
use super::super::report::Finding;
use super::super::tree::Statement;
use super::hooks::check_user;
use super::values::{seconds, split_command, twinstar_name};

/// A declared tracked object: its check and the weight instances inherit.
#[derive(Debug)]
pub struct Tracked {
    /// The check it becomes.
    pub check: CheckOut,
    /// Its default weight.
    pub weight: i32,
    /// Whether an instance tracks it (only those are written).
    pub used: bool,
}

/// The declared objects by keepalived kind and name.
#[derive(Debug, Default)]
pub struct Declared {
    /// By (block keyword, keepalived name).
    pub objects: HashMap<(&'static str, String), Tracked>,
    /// Declaration order, for stable output.
    pub order: Vec<(&'static str, String)>,
}

impl Declared {
    /// Reads one declaring block (`vrrp_script`, `track_file`,
    /// `vrrp_track_file`, `vrrp_track_process`); false if `s` is none.
    pub fn declare(
        &mut self,
        s: &Statement,
        script_user: &str,
        findings: &mut Vec<Finding>,
    ) -> bool {
        let kind = match s.keyword.as_str() {
            "vrrp_script" => "script",
            "track_file" | "vrrp_track_file" if s.block.is_some() => "file",
            "vrrp_track_process" => "process",
            _ => return false,
        };
        let Some(name) = s.first_arg() else {
            findings.push(Finding::unmapped(
                &s.at,
                &s.keyword,
                "has no name; left out",
            ));
            return true;
        };
        let mut check = CheckOut {
            from: s.at.clone(),
            what: format!("{} {name}", s.keyword),
            name: self.unique_name(name, kind),
            kind: CheckKindOut::File(String::new()),
            interval: None,
            timeout: None,
            rise: None,
            fall: None,
        };
        // keepalived.conf(5): a track_file's and a track_process's weight
        // defaults to 1, a vrrp_script's to 0.
        let mut weight = if kind == "script" { 0 } else { 1 };
        let mut kind_value = None;
        // Set when the object cannot be imported with its meaning intact: it
        // is left out, and so are the track items that refer to it.
        let mut drop = false;
        let (mut min, mut max) = (None, None);
        for item in s.children() {
            let arg = item.first_arg();
            let key = item.keyword.as_str();
            match (kind, key) {
                ("script", "script") => {
                    let line: Vec<&str> = item.arg_texts();
                    kind_value = Some(CheckKindOut::Script(CommandOut::Argv(split_command(
                        &line.join(" "),
                    ))));
                }
                ("file", "file") => kind_value = arg.map(|p| CheckKindOut::File(p.to_owned())),
                ("process", "process") => {
                    if item.args.len() > 1 {
                        findings.push(Finding::unmapped(
                            &item.at,
                            key,
                            "twinstar matches the process name only, not its parameters",
                        ));
                    }
                    kind_value = arg.map(|p| {
                        let base = p.rsplit('/').next().unwrap_or(p);
                        if base != p {
                            findings.push(Finding::note(
                                &item.at,
                                key,
                                format!("twinstar matches the process name `{base}`, not its path"),
                            ));
                        }
                        CheckKindOut::Process {
                            name: base.to_owned(),
                            min: None,
                            max: None,
                        }
                    });
                }
                (_, "weight") => match arg.and_then(|w| w.parse::<i32>().ok()) {
                    Some(w) if item.args.len() == 1 => weight = w,
                    _ => {
                        drop = true;
                        findings.push(Finding::unmapped(
                            &item.at,
                            key,
                            format!(
                                "`{}`: twinstar has no `reverse`; {} left out",
                                item.arg_texts().join(" "),
                                s.keyword
                            ),
                        ));
                    }
                },
                ("script", "interval") => set_seconds(&mut check.interval, item, findings),
                ("script", "timeout") => set_seconds(&mut check.timeout, item, findings),
                ("script", "rise") => set_count(&mut check.rise, item, findings),
                ("script", "fall") => set_count(&mut check.fall, item, findings),
                ("script", "user") => check_user(&item.at, key, arg, script_user, findings),
                ("process", "quorum") => min = arg.and_then(|v| v.parse().ok()),
                ("process", "quorum_max") => max = arg.and_then(|v| v.parse().ok()),
                _ => findings.push(Finding::unmapped(
                    &item.at,
                    key,
                    format!("no twinstar equivalent in a check ({kind})"),
                )),
            }
        }
        if let Some(CheckKindOut::Process { min: m, max: x, .. }) = &mut kind_value {
            (*m, *x) = (min, max);
            if max == Some(0) {
                drop = true;
                findings.push(Finding::unmapped(
                    &s.at,
                    &s.keyword,
                    "quorum_max 0 (up while not running) has no twinstar equivalent; left out",
                ));
            }
        }
        match kind_value {
            Some(_) if drop => {}
            Some(CheckKindOut::File(path)) if !path.starts_with('/') => {
                findings.push(Finding::unmapped(
                    &s.at,
                    &s.keyword,
                    format!("file `{path}` is not an absolute path; left out"),
                ));
            }
            Some(value) => {
                check.kind = value;
                let key = (kind, name.to_owned());
                self.order.push(key.clone());
                self.objects.insert(
                    key,
                    Tracked {
                        check,
                        weight,
                        used: false,
                    },
                );
            }
            None => findings.push(Finding::unmapped(
                &s.at,
                &s.keyword,
                format!("has no `{kind}`; left out"),
            )),
        }
        true
    }

    /// A check name not taken yet, from keepalived's `name`.
    fn unique_name(&self, name: &str, kind: &str) -> String {
        let base = twinstar_name(name);
        let taken = |n: &str| self.objects.values().any(|t| t.check.name == n);
        if !taken(&base) {
            return base;
        }
        let with_kind = twinstar_name(&format!("{base}-{kind}"));
        (1..)
            .map(|i| {
                if i == 1 {
                    with_kind.clone()
                } else {
                    format!("{with_kind}{i}")
                }
            })
            .find(|n| !taken(n))
            .unwrap_or(with_kind)
    }

    /// The `track` items of one instance block `s` (`track_script`,
    /// `track_file`, `track_process` or `track_interface`), or `None` when
    /// `s` is not one.
    pub fn track(&mut self, s: &Statement, findings: &mut Vec<Finding>) -> Option<Vec<TrackOut>> {
        let kind = match s.keyword.as_str() {
            "track_script" => "script",
            "track_file" => "file",
            "track_process" => "process",
            "track_interface" => "interface",
            _ => return None,
        };
        let mut items = Vec::new();
        for item in s.children() {
            let name = item.keyword.as_str();
            let weight = match item.arg_texts().as_slice() {
                [] => None,
                ["weight", w] => match w.parse::<i32>() {
                    Ok(w) => Some(w),
                    Err(_) => {
                        findings.push(Finding::unmapped(
                            &item.at,
                            &s.keyword,
                            format!("weight `{w}` is not a number; `{name}` left out"),
                        ));
                        continue;
                    }
                },
                _ => {
                    findings.push(Finding::unmapped(
                        &item.at,
                        &s.keyword,
                        format!(
                            "`{}` has options twinstar lacks (`reverse`?); `{name}` left out",
                            item.arg_texts().join(" ")
                        ),
                    ));
                    continue;
                }
            };
            if kind == "interface" {
                items.push(TrackOut::Interface {
                    name: name.to_owned(),
                    weight: weight.unwrap_or(0),
                });
                continue;
            }
            match self.objects.get_mut(&(kind, name.to_owned())) {
                Some(tracked) => {
                    tracked.used = true;
                    let weight = weight.unwrap_or(tracked.weight);
                    // twinstar's weights are -254..=254; a track_file's may be larger in keepalived.
                    let kept = weight.clamp(-254, 254);
                    if kept != weight {
                        findings.push(Finding::unmapped(
                            &item.at,
                            &s.keyword,
                            format!(
                                "weight {weight} of `{name}` is outside -254..=254; {kept} is used"
                            ),
                        ));
                    }
                    items.push(TrackOut::Check {
                        name: tracked.check.name.clone(),
                        weight: kept,
                    });
                }
                None => findings.push(Finding::unmapped(
                    &item.at,
                    &s.keyword,
                    format!("no {kind} named `{name}` was imported; left out"),
                )),
            }
        }
        Some(items)
    }

    /// The checks some instance tracks, in declaration order.
    pub fn into_checks(mut self) -> Vec<CheckOut> {
        self.order
            .iter()
            .filter_map(|key| self.objects.remove(key))
            .filter(|t| t.used)
            .map(|t| t.check)
            .collect()
    }
}

fn set_seconds(
    slot: &mut Option<std::time::Duration>,
    item: &Statement,
    findings: &mut Vec<Finding>,
) {
    match item.first_arg().and_then(seconds) {
        Some(d) if !d.is_zero() => *slot = Some(d.max(std::time::Duration::from_millis(10))),
        _ => findings.push(Finding::unmapped(
            &item.at,
            &item.keyword,
            "not a number of seconds above 0; left at twinstar's default",
        )),
    }
}

fn set_count(slot: &mut Option<u32>, item: &Statement, findings: &mut Vec<Finding>) {
    match item.first_arg().and_then(|v| v.parse::<u32>().ok()) {
        Some(n @ 1..=1000) => *slot = Some(n),
        _ => findings.push(Finding::unmapped(
            &item.at,
            &item.keyword,
            "not a count in 1..=1000; left at twinstar's default",
        )),
    }
}
