//! The file names an `include` pattern matches, as glob(3) finds them:
//! `*`, `?` and `[...]` in any path component, results sorted, dot files
//! matched only by a pattern that starts with a dot.

use std::path::{Component, Path, PathBuf};

/// Every existing path matching `pattern`, sorted; a pattern without
/// wildcards yields itself when it exists.
pub fn expand(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = match component {
            Component::Normal(part) => part.to_string_lossy().into_owned(),
            other => {
                for path in &mut found {
                    path.push(other.as_os_str());
                }
                continue;
            }
        };
        if !has_wildcard(&part) {
            for path in &mut found {
                path.push(&part);
            }
            found.retain(|path| path.symlink_metadata().is_ok());
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let listed = if dir.as_os_str().is_empty() {
                std::fs::read_dir(".")
            } else {
                std::fs::read_dir(dir)
            };
            let Ok(entries) = listed else { continue };
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| matches(&part, name))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|name| dir.join(name)));
        }
        found = next;
    }
    found
}

fn has_wildcard(part: &str) -> bool {
    part.contains(['*', '?', '['])
}

/// Whether `name` matches the one-component `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    match_from(&pattern, &name)
}

fn match_from(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| match_from(rest, &name[skip..])),
        Some(('?', rest)) => !name.is_empty() && match_from(rest, &name[1..]),
        Some(('[', rest)) => match (name.split_first(), class(rest)) {
            (Some((c, name_rest)), Some((set, negated, after))) => {
                set.contains(c) != negated && match_from(after, name_rest)
            }
            // An unclosed `[` is an ordinary character.
            (Some((c, name_rest)), None) => *c == '[' && match_from(rest, name_rest),
            (None, _) => false,
        },
        Some((p, rest)) => name.first() == Some(p) && match_from(rest, &name[1..]),
    }
}

/// A `[...]` class after its `[`: the characters it holds, whether it is
/// negated (`[!...]` or `[^...]`), and the pattern after its `]`.
fn class(pattern: &[char]) -> Option<(Vec<char>, bool, &[char])> {
    let (negated, body) = match pattern.first() {
        Some('!' | '^') => (true, &pattern[1..]),
        _ => (false, pattern),
    };
    // A `]` first in the class is a member, not its end.
    let end = body.iter().skip(1).position(|c| *c == ']')? + 1;
    let mut set = Vec::new();
    let mut i = 0;
    while i < end {
        if i + 2 < end && body[i + 1] == '-' {
            let (lo, hi) = (body[i], body[i + 2]);
            set.extend((lo..=hi).filter(|c| *c <= hi));
            i += 3;
        } else {
            set.push(body[i]);
            i += 1;
        }
    }
    Some((set, negated, &body[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_glob_does() {
        assert!(matches("*.conf", "web.conf"));
        assert!(!matches("*.conf", "web.conf.bak"));
        assert!(!matches("*.conf", ".hidden.conf"));
        assert!(matches("vi_?.conf", "vi_1.conf"));
        assert!(matches("vi_[0-9].conf", "vi_7.conf"));
        assert!(!matches("vi_[!0-9].conf", "vi_7.conf"));
        assert!(matches("a[", "a["));
    }

    #[test]
    fn expand_lists_matching_files_sorted() {
        let dir = std::env::temp_dir().join(format!("twinstar-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        for name in ["b.conf", "a.conf", "c.txt"] {
            std::fs::write(dir.join("conf.d").join(name), "").unwrap();
        }
        let found = expand(&dir.join("conf.d/*.conf"));
        let plain = expand(&dir.join("conf.d/c.txt"));
        let missing = expand(&dir.join("conf.d/none.conf"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            found,
            [dir.join("conf.d/a.conf"), dir.join("conf.d/b.conf")]
        );
        assert_eq!(plain, [dir.join("conf.d/c.txt")]);
        assert!(missing.is_empty());
    }
}
