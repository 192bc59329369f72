//! `twinstar generate --out DIR` as packaging runs it: every file is written,
//! the manual pages render, and the completions know every command.

use std::path::{Path, PathBuf};
use std::process::Command;

use twinstar::config::reference;

mod support;

/// The commands twinstar(8) and the completions must cover.
const COMMANDS: &[&str] = &[
    "check",
    "run",
    "status",
    "switchover",
    "maintenance",
    "reload",
    "remove-vips",
    "import-keepalived",
    "watch",
    "lab",
];

/// A directory in the target directory, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn generate(out: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_twinstar"))
        .args(["generate", "--out"])
        .arg(out)
        .output()
        .expect("run twinstar generate");
    assert!(
        output.status.success(),
        "twinstar generate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The page as `man -l` renders it 80 columns wide, with hyphenation undone;
/// `None` when there is no `man` to run.
fn render(page: &Path) -> Option<String> {
    let output = match Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env_remove("MAN_KEEP_FORMATTING")
        .output()
    {
        Ok(output) => output,
        Err(e) => {
            support::skip::skip(
                "generate_writes_every_file_and_the_pages_render",
                &format!(
                    "cannot render {}: no man ({e}); tests/run.sh installs man-db",
                    page.display()
                ),
            );
            return None;
        }
    };
    assert!(
        output.status.success(),
        "man -l {} failed: {}",
        page.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    // Undo overstrike (bold as `X\bX`) and words hyphenated across lines.
    let mut plain = String::new();
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    let mut joined = String::new();
    let mut lines = plain.lines().peekable();
    while let Some(line) = lines.next() {
        match line.strip_suffix(['\u{2010}', '-']) {
            Some(head) if lines.peek().is_some() => {
                joined.push_str(head);
                if let Some(next) = lines.next() {
                    joined.push_str(next.trim_start());
                }
                joined.push('\n');
            }
            _ => {
                joined.push_str(line);
                joined.push('\n');
            }
        }
    }
    Some(joined)
}

#[test]
fn generate_writes_every_file_and_the_pages_render() {
    let dir = TempDir::new("generate");
    generate(&dir.0);
    let out = &dir.0;
    for file in [
        "man/twinstar.8",
        "man/twinstar.yaml.5",
        "completions/twinstar.bash",
        "completions/_twinstar",
        "completions/twinstar.fish",
        "configuration.md",
    ] {
        let text = read(&out.join(file));
        assert!(!text.trim().is_empty(), "{file} is empty");
    }
    assert_eq!(read(&out.join("configuration.md")), reference::markdown());

    let cli_page = read(&out.join("man/twinstar.8"));
    assert!(cli_page.contains(".TH TWINSTAR 8 "), "title: {cli_page}");
    let yaml_page = read(&out.join("man/twinstar.yaml.5"));
    assert!(yaml_page.contains(".TH TWINSTAR.YAML 5 "), "title");

    for shell in ["twinstar.bash", "_twinstar", "twinstar.fish"] {
        let text = read(&out.join("completions").join(shell));
        for command in COMMANDS {
            assert!(text.contains(command), "{shell} lacks `{command}`");
        }
        assert!(
            !text.contains("generate"),
            "{shell} offers the hidden `generate`"
        );
    }

    if let Some(text) = render(&out.join("man/twinstar.8")) {
        for command in COMMANDS {
            assert!(
                text.contains(&format!("twinstar {command}")),
                "twinstar.8 does not describe `{command}`:\n{text}"
            );
        }
        for section in ["EXIT STATUS", "FILES", "SEE ALSO", "twinstar.yaml(5)"] {
            assert!(text.contains(section), "twinstar.8 lacks {section}");
        }
    }
    if let Some(text) = render(&out.join("man/twinstar.yaml.5")) {
        let top_level = reference::KEYS
            .iter()
            .filter(|k| !k.key.contains(['.', '[']));
        let mut count = 0;
        for key in top_level {
            count += 1;
            assert!(
                text.contains(key.key),
                "twinstar.yaml.5 lacks `{}`:\n{text}",
                key.key
            );
        }
        assert!(count >= 7, "only {count} top-level keys documented");
        for section in ["EXAMPLES", "FILES", "SEE ALSO", "twinstar(8)"] {
            assert!(text.contains(section), "twinstar.yaml.5 lacks {section}");
        }
    }
}

#[test]
fn generate_reports_an_unwritable_directory() {
    let dir = TempDir::new("generate-blocked");
    std::fs::write(&dir.0, "a file, not a directory").expect("write blocker");
    let output = Command::new(env!("CARGO_BIN_EXE_twinstar"))
        .args(["generate", "--out"])
        .arg(&dir.0)
        .output()
        .expect("run twinstar generate");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("twinstar generate: "), "{stderr}");
    let _ = std::fs::remove_file(&dir.0);
}
