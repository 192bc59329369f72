//! keepalived.conf's words, line by line, as keepalived splits them.
//!
//! keepalived.conf(5): comments start with `#` or `!` anywhere in a line and
//! run to its end; `{` and `}` delimit blocks; `"` and `'` quote, and quotes
//! only group (`ab" c "d` is the one word `ab c d`); inside quotes a backslash
//! escapes the next character (`\n`, `\t` and friends as in C). There are no
//! line continuations: every statement ends with its line.

use std::path::PathBuf;
use std::sync::Arc;

/// Where a statement came from: the file (after includes) and its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, as it was opened (the including file's directory applied).
    pub file: Arc<PathBuf>,
    /// 1-based line number.
    pub line: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One word of a line, quotes removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The text, quotes removed and escapes applied.
    pub text: String,
    /// Whether any part of it was quoted, so a quoted `{` is text, not a block.
    pub quoted: bool,
}

impl Word {
    /// Whether this word opens a block.
    pub fn is_open(&self) -> bool {
        !self.quoted && self.text == "{"
    }
    /// Whether this word closes a block.
    pub fn is_close(&self) -> bool {
        !self.quoted && self.text == "}"
    }
}

/// The words of one line that has any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Where the line is.
    pub at: Location,
    /// Its words, in order.
    pub words: Vec<Word>,
}

/// A line the lexer cannot split.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{at}: a quote opened here is never closed; close it on the same line")]
pub struct UnclosedQuote {
    /// The line with the quote.
    pub at: Location,
}

/// Splits `text`, read from `file`, into its non-empty lines of words.
pub fn lex(text: &str, file: &Arc<PathBuf>) -> Result<Vec<Line>, UnclosedQuote> {
    let mut lines = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let at = Location {
            file: Arc::clone(file),
            line: u32::try_from(index + 1).unwrap_or(u32::MAX),
        };
        let Some(words) = split_line(raw) else {
            return Err(UnclosedQuote { at });
        };
        if !words.is_empty() {
            lines.push(Line { at, words });
        }
    }
    Ok(lines)
}

/// The words of one line, or `None` when a quote is left open.
fn split_line(raw: &str) -> Option<Vec<Word>> {
    let mut words = Vec::new();
    let mut current: Option<Word> = None;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '#' | '!' => break,
            '{' | '}' => {
                words.extend(current.take());
                words.push(Word {
                    text: c.to_string(),
                    quoted: false,
                });
            }
            '"' | '\'' => {
                let word = current.get_or_insert_with(empty_quoted);
                word.quoted = true;
                read_quoted(&mut chars, c, &mut word.text)?;
            }
            c if c.is_whitespace() => words.extend(current.take()),
            c => current.get_or_insert_with(empty).text.push(c),
        }
    }
    words.extend(current);
    Some(words)
}

fn empty() -> Word {
    Word {
        text: String::new(),
        quoted: false,
    }
}

fn empty_quoted() -> Word {
    Word {
        text: String::new(),
        quoted: true,
    }
}

/// Reads up to the closing `quote`, applying backslash escapes; `None` if the
/// line ends first.
fn read_quoted(chars: &mut std::str::Chars<'_>, quote: char, out: &mut String) -> Option<()> {
    loop {
        match chars.next()? {
            c if c == quote => return Some(()),
            '\\' => out.push(match chars.next()? {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                'a' => '\u{7}',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'v' => '\u{b}',
                'E' => '\u{1b}',
                other => other,
            }),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split_line(line)
            .unwrap()
            .into_iter()
            .map(|w| w.text)
            .collect()
    }

    #[test]
    fn comments_start_anywhere_with_hash_or_bang() {
        assert_eq!(words("priority 150 # host A"), ["priority", "150"]);
        assert_eq!(words("  ! whole line"), Vec::<String>::new());
        assert_eq!(words("nopreempt!no space"), ["nopreempt"]);
    }

    #[test]
    fn braces_are_words_of_their_own() {
        assert_eq!(words("vrrp_instance VI_1{"), ["vrrp_instance", "VI_1", "{"]);
        assert_eq!(
            words("group {VI_1 VI_2}"),
            ["group", "{", "VI_1", "VI_2", "}"]
        );
    }

    #[test]
    fn quotes_group_and_hide_comment_and_brace_characters() {
        assert_eq!(
            words("script \"/usr/bin/killall -0 haproxy # x\""),
            ["script", "/usr/bin/killall -0 haproxy # x"]
        );
        assert_eq!(words("ab\" c \"d e"), ["ab c d", "e"]);
        assert_eq!(words("x '{'"), ["x", "{"]);
        assert!(!split_line("x '{'").unwrap()[1].is_open());
        assert_eq!(words(r#"s "a\"b\tc""#), ["s", "a\"b\tc"]);
        assert_eq!(words(r#"s "it's""#), ["s", "it's"]);
    }

    #[test]
    fn tabs_and_odd_spacing_separate_words() {
        assert_eq!(
            words("\tvirtual_router_id\t\t51   "),
            ["virtual_router_id", "51"]
        );
    }

    #[test]
    fn an_unclosed_quote_names_its_line() {
        let file = Arc::new(PathBuf::from("k.conf"));
        let err = lex("a\nscript \"/bin/x\n", &file).unwrap_err();
        assert_eq!(err.at.line, 2);
        assert_eq!(
            err.to_string(),
            "k.conf:2: a quote opened here is never closed; close it on the same line"
        );
    }

    #[test]
    fn lines_keep_their_numbers_and_skip_empty_ones() {
        let file = Arc::new(PathBuf::from("k.conf"));
        let lines = lex("# c\n\nglobal_defs {\n}\n", &file).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].at.line, 3);
        assert_eq!(lines[1].at.line, 4);
    }
}
