//! The release binary keeps the code the agent runs in steady state in one
//! block (build.rs, `layout/hot-functions.txt`): the kernel maps code 64 KiB
//! around every page that faults, so only then does the running loop keep
//! little of the binary resident.
//!
//! Reads the release binary's symbol table with `nm`; `tests/run.sh` builds
//! that binary before the tests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

/// The kernel's fault-around window on x86_64 (`fault_around_bytes`).
const WINDOW: u64 = 64 * 1024;

fn release_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("release").join("twinstar")
}

/// The listed functions, in order.
fn hot_functions() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("layout/hot-functions.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Address and size of each function the binary defines (the first, when a
/// name occurs twice).
fn functions_of(binary: &PathBuf) -> HashMap<String, (u64, u64)> {
    let output = Command::new("nm")
        .args(["--defined-only", "-S"])
        .arg(binary)
        .output()
        .unwrap_or_else(|e| panic!("cannot run nm (binutils): {e}"));
    assert!(output.status.success(), "nm failed on {}", binary.display());
    let mut functions = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [address, size, kind, name] = fields[..] else {
            continue;
        };
        if !matches!(kind, "t" | "T") {
            continue;
        }
        let (Ok(address), Ok(size)) = (
            u64::from_str_radix(address, 16),
            u64::from_str_radix(size, 16),
        ) else {
            continue;
        };
        functions.entry(name.to_owned()).or_insert((address, size));
    }
    functions
}

#[test]
fn the_release_binary_keeps_the_steady_loops_functions_in_one_block() {
    let binary = release_binary();
    assert!(
        binary.exists(),
        "{} is missing: build it first (cargo build --release; tests/run.sh does)",
        binary.display()
    );
    let listed = hot_functions();
    let functions = functions_of(&binary);
    let found: Vec<(u64, u64)> = listed
        .iter()
        .filter_map(|name| functions.get(name).copied())
        .collect();
    // A change renames or inlines a few; most must still be there, or the
    // list no longer describes this code.
    assert!(
        found.len() * 5 >= listed.len() * 4,
        "only {} of the {} functions of layout/hot-functions.txt are in {}: \
         regenerate it (sudo bash benches/code-layout.sh, twice)",
        found.len(),
        listed.len(),
        binary.display()
    );
    let code: u64 = found.iter().map(|(_, size)| size).sum();
    let start = found.iter().map(|(address, _)| *address).min().unwrap_or(0);
    let end = found
        .iter()
        .map(|(address, size)| address + size)
        .max()
        .unwrap_or(0);
    let span = end - start;
    // Laid out together, they span their own size plus alignment padding;
    // strewn over the binary, several times it.
    assert!(
        span <= code + code / 4 + WINDOW,
        "the {} listed functions ({} KiB of code) span {} KiB of {}: the \
         release link did not lay them out together (see build.rs)",
        found.len(),
        code / 1024,
        span / 1024,
        binary.display()
    );
}
