//! The readers every part of the schema shares: the error collector, checked
//! mappings, typed scalars, and the value forms that several sections use
//! (names, interface names, commands, absolute paths), so that each `parse*.rs`
//! depends only on this module and the model, and reads like the reference.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::duration;
use super::error::ConfigError;
use super::ifname::InterfaceName;
use super::model::Command;
use super::yaml::{Key, Kind, Node, Pos};

/// Collects errors for one file.
pub struct Checker<'f> {
    pub file: &'f str,
    pub errors: Vec<ConfigError>,
}

impl Checker<'_> {
    /// Records one error at `pos`.
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
        });
    }
}

/// A mapping whose keys have been checked: no duplicates, none unknown.
pub struct MapReader<'n> {
    pos: Pos,
    entries: &'n [(Key, Node)],
}

impl<'n> MapReader<'n> {
    /// Checks that `node` is a mapping of `known` keys, reporting every duplicate
    /// and unknown key; `what` names the mapping in messages.
    pub fn new(ck: &mut Checker, node: &'n Node, what: &str, known: &[&str]) -> Option<Self> {
        let Kind::Map(entries) = &node.kind else {
            ck.error(
                node.pos,
                format!(
                    "{what} must be a mapping of keys to values, found {}",
                    node.kind.type_name()
                ),
            );
            return None;
        };
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        for (key, _) in entries {
            if let Some(first) = seen.get(key.text.as_str()) {
                ck.error(
                    key.pos,
                    format!(
                        "duplicate key `{}` (first on line {}); keep only one",
                        key.text, first.line
                    ),
                );
                continue;
            }
            seen.insert(&key.text, key.pos);
            if !known.contains(&key.text.as_str()) {
                let hint = match nearest(&key.text, known) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("expected one of: {}", known.join(", ")),
                };
                ck.error(
                    key.pos,
                    format!("unknown key `{}` in {what}; {hint}", key.text),
                );
            }
        }
        Some(MapReader {
            pos: node.pos,
            entries,
        })
    }

    /// Where the mapping starts.
    pub fn pos(&self) -> Pos {
        self.pos
    }

    /// The key `key` itself, if present (the first one, when duplicated).
    pub fn key(&self, key: &str) -> Option<&'n Key> {
        self.entries.iter().map(|(k, _)| k).find(|k| k.text == key)
    }

    /// The value of `key`, if present (the first one, when duplicated).
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.text == key)
            .map(|(_, v)| v)
    }

    /// The value of a key that must be present; `about` says what it is.
    pub fn required(
        &self,
        ck: &mut Checker,
        what: &str,
        key: &str,
        about: &str,
    ) -> Option<&'n Node> {
        let value = self.get(key);
        if value.is_none() {
            ck.error(self.pos, format!("{what} is missing `{key}`, {about}"));
        }
        value
    }
}

/// The key lists in `parts` joined, in order, into one of `N` keys, so that a
/// mapping's keys can be built from the lists of its parts at compile time.
/// A wrong `N` fails the build.
pub const fn concat_keys<const N: usize>(parts: &[&[&'static str]]) -> [&'static str; N] {
    let mut keys = [""; N];
    let mut n = 0;
    let mut p = 0;
    while p < parts.len() {
        let mut i = 0;
        while i < parts[p].len() {
            keys[n] = parts[p][i];
            n += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(n == N, "N is not the number of keys in parts");
    keys
}

/// The known key closest to a misspelt one, when it is close enough to be a typo.
fn nearest<'k>(unknown: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The parsed value of an optional key, or its default when the key is absent.
pub fn optional<T>(
    node: Option<&Node>,
    default: Option<T>,
    parse: impl FnOnce(&Node) -> Option<T>,
) -> Option<T> {
    match node {
        Some(n) => parse(n),
        None => default,
    }
}

/// A text value; numbers and other types are errors naming `key`.
pub fn string<'n>(ck: &mut Checker, key: &str, node: &'n Node) -> Option<&'n str> {
    match &node.kind {
        Kind::Str(s) => Some(s),
        Kind::Int(i) => {
            ck.error(
                node.pos,
                format!("{key} must be text; quote the number: \"{i}\""),
            );
            None
        }
        other => {
            ck.error(
                node.pos,
                format!("{key} must be text, found {}", other.type_name()),
            );
            None
        }
    }
}

/// An integer in `lo..=hi`; anything else is an error naming `key` and the range.
pub fn int_in(ck: &mut Checker, key: &str, node: &Node, lo: i128, hi: i128) -> Option<i128> {
    match node.kind {
        Kind::Int(i) if (lo..=hi).contains(&i) => Some(i),
        Kind::Int(i) => {
            ck.error(node.pos, format!("{key} {i} is out of range {lo}..={hi}"));
            None
        }
        ref other => {
            ck.error(
                node.pos,
                format!(
                    "{key} must be a whole number in {lo}..={hi}, found {}",
                    other.type_name()
                ),
            );
            None
        }
    }
}

/// `true` or `false`; YAML 1.1 spellings such as `no` are errors, not booleans.
pub fn boolean(ck: &mut Checker, key: &str, node: &Node) -> Option<bool> {
    match &node.kind {
        Kind::Bool(b) => Some(*b),
        Kind::Str(s) => {
            ck.error(
                node.pos,
                format!("{key} must be true or false, found `{s}`"),
            );
            None
        }
        other => {
            ck.error(
                node.pos,
                format!("{key} must be true or false, found {}", other.type_name()),
            );
            None
        }
    }
}

/// A duration such as `100ms`; a bare number is an error that suggests the unit.
pub fn duration_value(ck: &mut Checker, key: &str, node: &Node) -> Option<Duration> {
    let message = match &node.kind {
        Kind::Str(s) => match duration::parse(s) {
            Ok(d) => return Some(d),
            Err(e) => format!("{key}: {e}"),
        },
        Kind::Int(i) => format!("{key} {i} has no unit; write `{i}s` or `{i}ms`"),
        Kind::Float(f) => format!("{key} {f} has no unit; write `{f}s`"),
        other => format!(
            "{key} must be a duration, {}; found {}",
            duration::FORMS,
            other.type_name()
        ),
    };
    ck.error(node.pos, message);
    None
}

/// A duration within `lo..=hi`.
pub fn duration_in(
    ck: &mut Checker,
    key: &str,
    node: &Node,
    lo: Duration,
    hi: Duration,
) -> Option<Duration> {
    let d = duration_value(ck, key, node)?;
    if d < lo || d > hi {
        let shown = duration::format(d);
        let (lo, hi) = (duration::format(lo), duration::format(hi));
        ck.error(
            node.pos,
            format!("{key} {shown} is out of range {lo}..={hi}"),
        );
        return None;
    }
    Some(d)
}

/// The items of a key whose value must be a list.
pub fn list<'n>(ck: &mut Checker, key: &str, node: &'n Node) -> Option<&'n [Node]> {
    match &node.kind {
        Kind::Seq(items) => Some(items),
        other => {
            ck.error(
                node.pos,
                format!(
                    "{key} must be a list (items start with `- `), found {}",
                    other.type_name()
                ),
            );
            None
        }
    }
}

// Value forms that more than one section of the schema uses.

/// An instance, check or sync group `name`: 1 to 32 letters, digits, `-`, `_` or `.`.
pub fn name_value(ck: &mut Checker, node: &Node) -> Option<String> {
    let name = string(ck, "name", node)?;
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 32 || !name.chars().all(ok_char) {
        ck.error(
            node.pos,
            format!("name `{name}` is not valid; use 1 to 32 letters, digits, `-`, `_` or `.`"),
        );
        return None;
    }
    Some(name.to_owned())
}

/// A Linux network interface name, as `interface:` of an instance or a check.
pub fn interface_value(ck: &mut Checker, node: &Node) -> Option<String> {
    interface_name(ck, node).map(|name| name.as_str().to_owned())
}

/// An interface name as [`interface_value`] checks it, as its value type.
pub fn interface_name(ck: &mut Checker, node: &Node) -> Option<InterfaceName> {
    let ifname = string(ck, "interface", node)?;
    // Linux's rules for interface names, in one place.
    InterfaceName::new(ifname)
        .map_err(|why| ck.error(node.pos, why))
        .ok()
}

/// A command: a string for `/bin/sh -c`, or a list of a program and its arguments.
pub fn command(ck: &mut Checker, key: &str, node: &Node) -> Option<Command> {
    match &node.kind {
        Kind::Str(s) if s.trim().is_empty() => {
            ck.error(
                node.pos,
                format!(
                    "{key} is empty; write a command such as `systemctl is-active --quiet haproxy`"
                ),
            );
            None
        }
        Kind::Str(s) => Some(Command::Shell(s.clone())),
        Kind::Seq(items) if items.is_empty() => {
            ck.error(
                node.pos,
                format!("{key} is an empty list; write the program and its arguments, such as `[/usr/bin/pg_ctl, promote]`"),
            );
            None
        }
        Kind::Seq(items) => {
            let argv: Vec<Option<String>> = items
                .iter()
                .map(|n| string(ck, &format!("each item of {key}"), n).map(str::to_owned))
                .collect();
            if let (Some(Some(program)), Some(first)) = (argv.first(), items.first()) {
                if program.is_empty() {
                    ck.error(
                        first.pos,
                        format!("the program of {key} (its first item) is empty; name the program to run"),
                    );
                    return None;
                }
            }
            argv.into_iter().collect::<Option<_>>().map(Command::Argv)
        }
        other => {
            ck.error(
                node.pos,
                format!(
                    "{key} must be a command: a string run by /bin/sh -c, or a list of the program \
                     and its arguments; found {}",
                    other.type_name()
                ),
            );
            None
        }
    }
}

/// An absolute file system path.
pub fn absolute_path(ck: &mut Checker, key: &str, node: &Node) -> Option<PathBuf> {
    let text = string(ck, key, node)?;
    if !text.starts_with('/') {
        ck.error(
            node.pos,
            format!(
                "{key} `{text}` is not an absolute path; write it from the root, starting with `/`"
            ),
        );
        return None;
    }
    Some(PathBuf::from(text))
}
