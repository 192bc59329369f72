//! keepalived.conf as a tree of statements: a keyword, its arguments, and the
//! block that follows it, if any. Includes are read here, where they appear,
//! so an included file may hold whole blocks or the inside of one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::glob;
use super::lexer::{lex, Line, Location, UnclosedQuote, Word};
use super::report::Finding;

/// How deep includes may nest before the reader assumes a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

/// One statement: `keyword args... [{ block }]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Where the keyword is.
    pub at: Location,
    /// The first word.
    pub keyword: String,
    /// The words after it on its line, up to a `{`.
    pub args: Vec<Word>,
    /// The statements of its block, when a `{` follows.
    pub block: Option<Vec<Statement>>,
}

impl Statement {
    /// The arguments' text.
    pub fn arg_texts(&self) -> Vec<&str> {
        self.args.iter().map(|w| w.text.as_str()).collect()
    }

    /// The first argument, if any.
    pub fn first_arg(&self) -> Option<&str> {
        self.args.first().map(|w| w.text.as_str())
    }

    /// The statements of its block (none without one).
    pub fn children(&self) -> &[Statement] {
        self.block.as_deref().unwrap_or(&[])
    }

    /// Every word of the block, keywords and arguments alike, for blocks that
    /// are plain lists (`group { A B }`).
    pub fn block_words(&self) -> Vec<(&Location, &str)> {
        self.children()
            .iter()
            .flat_map(|s| {
                std::iter::once((&s.at, s.keyword.as_str()))
                    .chain(s.args.iter().map(move |w| (&s.at, w.text.as_str())))
            })
            .collect()
    }
}

/// Why a keepalived configuration could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A file (the given one or an included one) cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A quote left open.
    #[error(transparent)]
    UnclosedQuote(#[from] UnclosedQuote),
    /// A `}` with no block to close.
    #[error("{0}: `}}` closes no block; remove it or add the `{{` it belongs to")]
    StrayClose(Location),
    /// A block still open at the end of the file.
    #[error("{0}: this block is never closed; add its `}}`")]
    Unclosed(Location),
    /// A `{` with no statement before it.
    #[error("{0}: `{{` opens a block for no keyword")]
    StrayOpen(Location),
    /// Includes nested too deep, most likely a file including itself.
    #[error("{0}: includes nest more than {MAX_INCLUDE_DEPTH} deep; does a file include itself?")]
    IncludeLoop(Location),
}

/// Reads `path` and everything it includes into statements, with the
/// includes that matched no file as findings.
pub fn read(path: &Path) -> Result<(Vec<Statement>, Vec<Finding>), ReadError> {
    let mut lines = Vec::new();
    let mut findings = Vec::new();
    read_lines(path, 0, None, &mut lines, &mut findings)?;
    Ok((build(lines)?, findings))
}

/// Builds the statements of `text` as if read from `file`, without following
/// includes (they stay statements): for callers that hold the text already.
pub fn from_text(text: &str, file: &Path) -> Result<Vec<Statement>, ReadError> {
    build(lex(text, &Arc::new(file.to_owned()))?)
}

/// The include keywords of keepalived.conf(5); the variants differ only in
/// which failures keepalived reports.
const INCLUDES: &[&str] = &[
    "include", "includer", "includem", "includew", "includeb", "includea",
];

fn read_lines(
    path: &Path,
    depth: usize,
    from: Option<&Location>,
    out: &mut Vec<Line>,
    findings: &mut Vec<Finding>,
) -> Result<(), ReadError> {
    if depth > MAX_INCLUDE_DEPTH {
        if let Some(at) = from {
            return Err(ReadError::IncludeLoop(at.clone()));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let file = Arc::new(path.to_owned());
    for line in lex(&text, &file)? {
        let keyword = line.words[0].text.as_str();
        if line.words[0].quoted || !INCLUDES.contains(&keyword) || line.words.len() < 2 {
            out.push(line);
            continue;
        }
        // keepalived.conf(5): a relative include is relative to the directory
        // of the file that includes it.
        let dir = path.parent().unwrap_or(Path::new(""));
        let pattern = dir.join(&line.words[1].text);
        let matched = glob::expand(&pattern);
        if matched.is_empty() {
            findings.push(Finding::unmapped(
                &line.at,
                keyword,
                format!(
                    "`{}` matches no file; nothing was included",
                    pattern.display()
                ),
            ));
        }
        for included in matched {
            read_lines(&included, depth + 1, Some(&line.at), out, findings)?;
        }
    }
    Ok(())
}

/// Builds the statement tree from lines, keepalived's way: a statement is a
/// line's words; a `{` opens a block (also on a line of its own after its
/// keyword) and the words after it on that line start the block.
fn build(lines: Vec<Line>) -> Result<Vec<Statement>, ReadError> {
    // The open blocks, innermost last; the bottom one is the file itself.
    let mut stack: Vec<(Option<Statement>, Vec<Statement>)> = vec![(None, Vec::new())];
    for line in lines {
        let mut words = line.words.into_iter().peekable();
        while let Some(word) = words.next() {
            if word.is_close() {
                let (parent, block) = pop(&mut stack, &line.at)?;
                close(&mut stack, parent, block);
                continue;
            }
            if word.is_open() {
                // `{` on a line of its own: the block of the statement before it.
                let Some(top) = stack.last_mut() else {
                    return Err(ReadError::StrayOpen(line.at.clone()));
                };
                let Some(parent) = top.1.pop().filter(|s| s.block.is_none()) else {
                    return Err(ReadError::StrayOpen(line.at.clone()));
                };
                stack.push((Some(parent), Vec::new()));
                continue;
            }
            let mut statement = Statement {
                at: line.at.clone(),
                keyword: word.text,
                args: Vec::new(),
                block: None,
            };
            let mut opens = false;
            // The words up to a `}` (left for the outer loop) or a `{`.
            while let Some(next) = words.next_if(|w| !w.is_close()) {
                if next.is_open() {
                    opens = true;
                    break;
                }
                statement.args.push(next);
            }
            if opens {
                stack.push((Some(statement), Vec::new()));
            } else if let Some(top) = stack.last_mut() {
                top.1.push(statement);
            }
        }
    }
    // Only the file level may be left: anything above it is a block never closed.
    match stack.pop() {
        Some((Some(open), _)) => Err(ReadError::Unclosed(open.at)),
        Some((None, statements)) => Ok(statements),
        None => Ok(Vec::new()),
    }
}

fn pop(
    stack: &mut Vec<(Option<Statement>, Vec<Statement>)>,
    at: &Location,
) -> Result<(Statement, Vec<Statement>), ReadError> {
    if stack.len() < 2 {
        return Err(ReadError::StrayClose(at.clone()));
    }
    match stack.pop() {
        Some((Some(parent), block)) => Ok((parent, block)),
        _ => Err(ReadError::StrayClose(at.clone())),
    }
}

fn close(
    stack: &mut [(Option<Statement>, Vec<Statement>)],
    mut parent: Statement,
    block: Vec<Statement>,
) {
    parent.block = Some(block);
    if let Some(top) = stack.last_mut() {
        top.1.push(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Result<Vec<Statement>, ReadError> {
        let file = Arc::new(PathBuf::from("k.conf"));
        build(lex(text, &file)?)
    }

    #[test]
    fn blocks_nest_and_keep_their_lines() {
        let t = tree(
            "vrrp_instance VI_1 {\n  state MASTER\n  virtual_ipaddress {\n    \
            192.0.2.10/24 dev eth0\n  }\n}\n",
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].keyword, "vrrp_instance");
        assert_eq!(t[0].arg_texts(), ["VI_1"]);
        let inner = t[0].children();
        assert_eq!(inner[0].keyword, "state");
        assert_eq!(inner[1].children()[0].keyword, "192.0.2.10/24");
        assert_eq!(inner[1].children()[0].arg_texts(), ["dev", "eth0"]);
        assert_eq!(inner[1].children()[0].at.line, 4);
    }

    #[test]
    fn one_line_blocks_and_braces_on_their_own_line() {
        let t = tree("vrrp_sync_group G\n{\n group { VI_1 VI_2 }\n}\n").unwrap();
        let group = &t[0].children()[0];
        assert_eq!(group.keyword, "group");
        let members: Vec<&str> = group.block_words().into_iter().map(|(_, w)| w).collect();
        assert_eq!(members, ["VI_1", "VI_2"]);
    }

    #[test]
    fn unbalanced_braces_are_errors_with_their_line() {
        assert!(matches!(tree("a {\n"), Err(ReadError::Unclosed(at)) if at.line == 1));
        assert!(matches!(tree("a\n}\n"), Err(ReadError::StrayClose(at)) if at.line == 2));
        assert!(matches!(tree("{\n"), Err(ReadError::StrayOpen(_))));
    }

    #[test]
    fn includes_are_read_where_they_stand_relative_to_the_including_file() {
        let dir = std::env::temp_dir().join(format!("twinstar-include-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(
            dir.join("main.conf"),
            "global_defs {\n include conf.d/*.conf\n}\ninclude missing/*.conf\n",
        )
        .unwrap();
        std::fs::write(dir.join("conf.d/a.conf"), "router_id a\n").unwrap();
        std::fs::write(dir.join("conf.d/b.conf"), "script_user nobody\n").unwrap();
        let read = read(&dir.join("main.conf"));
        std::fs::remove_dir_all(&dir).unwrap();
        let (statements, findings) = read.unwrap();
        let inner: Vec<&str> = statements[0]
            .children()
            .iter()
            .map(|s| s.keyword.as_str())
            .collect();
        assert_eq!(inner, ["router_id", "script_user"]);
        assert_eq!(
            statements[0].children()[1].at.file.file_name().unwrap(),
            "b.conf"
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].keyword, "include");
    }
}
