//! A generic YAML tree in which every node remembers where it was written.
//!
//! serde stops at the first error, but operators want every mistake reported at
//! once. So the text is first read into this tree (only YAML syntax can fail
//! here), and the schema walker in `parse.rs` then checks it and collects errors.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based line and column in the configuration text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Line number, starting at 1.
    pub line: u64,
    /// Column number, starting at 1.
    pub col: u64,
}

impl From<serde_saphyr::Location> for Pos {
    fn from(loc: serde_saphyr::Location) -> Self {
        Pos {
            line: loc.line(),
            col: loc.column(),
        }
    }
}

/// One YAML node and the position of its first character.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub kind: Kind,
    /// Where the node starts.
    pub pos: Pos,
}

/// A mapping key: its text (scalars of any type, as written) and its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// The key's text.
    pub text: String,
    /// Where the key starts.
    pub pos: Pos,
}

/// The shape and value of a [`Node`], as YAML's core schema resolved it.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A mapping, in document order; duplicate keys are kept for the walker to report.
    Map(Vec<(Key, Node)>),
    /// A sequence.
    Seq(Vec<Node>),
    /// A string scalar.
    Str(String),
    /// An integer scalar.
    Int(i128),
    /// A floating-point scalar.
    Float(f64),
    /// A boolean scalar.
    Bool(bool),
    /// `null`, `~` or an empty value.
    Null,
}

impl Kind {
    /// A short name of the node's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Map(_) => "a mapping",
            Kind::Seq(_) => "a list",
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Bool(_) => "a boolean",
            Kind::Null => "nothing",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Kind>::deserialize(deserializer)?;
        Ok(Node {
            kind: spanned.value,
            pos: spanned.referenced.into(),
        })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
        Ok(Kind::Int(v.into()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Kind, E> {
        // Beyond every range we accept; saturate so the range check reports it.
        Ok(Kind::Int(i128::try_from(v).unwrap_or(i128::MAX)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        Kind::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Kind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Node>()?;
            let key = Key {
                text: key.value.0,
                pos: key.referenced.into(),
            };
            entries.push((key, value));
        }
        Ok(Kind::Map(entries))
    }
}

/// A mapping key of any scalar type, kept as text.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Kind::deserialize(deserializer)? {
            Kind::Str(s) => Ok(KeyText(s)),
            Kind::Int(i) => Ok(KeyText(i.to_string())),
            Kind::Float(f) => Ok(KeyText(f.to_string())),
            Kind::Bool(b) => Ok(KeyText(b.to_string())),
            Kind::Null => Ok(KeyText("null".to_owned())),
            Kind::Map(_) | Kind::Seq(_) => Err(de::Error::custom(
                "a mapping key must be a plain word, not a list or mapping",
            )),
        }
    }
}

/// Why the text could not be read as YAML at all, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    /// Where the parser stopped, when it knows.
    pub pos: Option<Pos>,
    /// The parser's description.
    pub message: String,
}

/// Reads YAML text into a located tree; only syntax errors fail here.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        // Duplicate keys reach the walker, which reports all of them at once.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        // `no` and `off` stay strings, so `preempt: no` is not silently false.
        strict_booleans: true,
        with_snippet: false,
    };
    let lines = LineMap::new(text);
    match serde_saphyr::from_str_with_options::<Node>(text, options) {
        Ok(mut root) => {
            lines.relocate_tree(&mut root);
            Ok(root)
        }
        Err(e) => Err(SyntaxError {
            pos: e.location().map(|loc| lines.relocate(Pos::from(loc))),
            message: e.to_string(),
        }),
    }
}

/// Translates the parser's positions into the lines an operator's tools count.
///
/// YAML counts a lone carriage return as a line break, so the parser does;
/// editors, `grep -n` and `sed -n` count only line feeds. A file with a stray
/// `\r` would otherwise be reported at a line it does not have.
struct LineMap {
    /// Character offset at which each of the parser's lines starts.
    yaml_starts: Vec<usize>,
    /// Character offset at which each line-feed-separated line starts.
    starts: Vec<usize>,
    /// The text's length in characters.
    len: usize,
}

impl LineMap {
    fn new(text: &str) -> Self {
        let mut yaml_starts = vec![0];
        let mut starts = vec![0];
        let mut chars = text.chars().enumerate().peekable();
        let mut len = 0;
        while let Some((i, c)) = chars.next() {
            len = i + 1;
            match c {
                '\n' => {
                    yaml_starts.push(i + 1);
                    starts.push(i + 1);
                }
                '\r' if chars.peek().map(|&(_, next)| next) != Some('\n') => {
                    yaml_starts.push(i + 1);
                }
                _ => {}
            }
        }
        LineMap {
            yaml_starts,
            starts,
            len,
        }
    }

    /// The operator's line and column of the parser's `pos`.
    fn relocate(&self, pos: Pos) -> Pos {
        let line_index = usize::try_from(pos.line.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(&line_start) = self.yaml_starts.get(line_index) else {
            // Past the last line: the end of the text.
            return self.at_offset(self.len);
        };
        let col = usize::try_from(pos.col.saturating_sub(1)).unwrap_or(usize::MAX);
        self.at_offset(line_start.saturating_add(col).min(self.len))
    }

    fn at_offset(&self, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts[line.saturating_sub(1)];
        Pos {
            line: line as u64,
            col: (offset - start + 1) as u64,
        }
    }

    fn relocate_tree(&self, node: &mut Node) {
        node.pos = self.relocate(node.pos);
        match &mut node.kind {
            Kind::Map(entries) => {
                for (key, value) in entries {
                    key.pos = self.relocate(key.pos);
                    self.relocate_tree(value);
                }
            }
            Kind::Seq(items) => items.iter_mut().for_each(|item| self.relocate_tree(item)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u64, col: u64) -> Pos {
        Pos { line, col }
    }

    #[test]
    fn nested_nodes_carry_their_own_positions() {
        let text =
            "instances:\n  - name: web\n    vrid: 51\n    virtual_ips:\n      - 192.0.2.50/24\n";
        let root = parse(text).unwrap();
        let Kind::Map(top) = &root.kind else {
            panic!("{root:?}")
        };
        assert_eq!(top[0].0.text, "instances");
        assert_eq!(top[0].0.pos, at(1, 1));
        let Kind::Seq(items) = &top[0].1.kind else {
            panic!()
        };
        let Kind::Map(inst) = &items[0].kind else {
            panic!()
        };
        assert_eq!(items[0].pos, at(2, 5));
        assert_eq!(inst[0].0.pos, at(2, 5));
        assert_eq!(
            inst[0].1,
            Node {
                kind: Kind::Str("web".into()),
                pos: at(2, 11)
            }
        );
        assert_eq!(
            inst[1].1,
            Node {
                kind: Kind::Int(51),
                pos: at(3, 11)
            }
        );
        let Kind::Seq(vips) = &inst[2].1.kind else {
            panic!()
        };
        assert_eq!(
            vips[0],
            Node {
                kind: Kind::Str("192.0.2.50/24".into()),
                pos: at(5, 9)
            }
        );
    }

    #[test]
    fn duplicate_keys_are_kept() {
        let root = parse("a: 1\na: 2\n").unwrap();
        let Kind::Map(m) = root.kind else { panic!() };
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].0.pos, at(2, 1));
    }

    #[test]
    fn a_lone_carriage_return_does_not_start_a_line() {
        // The parser sees four lines here; grep, sed and editors see one.
        let err = parse("a: 1\rb: 2\r\rc: \u{2}").unwrap_err();
        assert_eq!(err.pos, Some(at(1, 15)));
        let root = parse("a: 1\r\nb: 2\rc: 3\n").unwrap();
        let Kind::Map(m) = root.kind else { panic!() };
        assert_eq!(m[1].0.pos, at(2, 1));
        assert_eq!(m[2].0.pos, at(2, 6));
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.is_some(), "{err:?}");
    }
}
