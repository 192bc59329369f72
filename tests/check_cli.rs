//! `twinstar check` as an operator runs it: the built binary on real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn check(config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twinstar"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .expect("run twinstar")
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// A file in the target directory that is removed when the test ends, even on failure.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join(format!("{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write temporary config");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn examples_pass_check_with_a_summary() {
    let expected = [
        (
            "two-node-a.yaml",
            "OK, 2 instances (web: eth0 vrid 51 IPv4, api: eth0 vrid 52 IPv6)",
        ),
        (
            "two-node-b.yaml",
            "OK, 2 instances (web: eth0 vrid 51 IPv4, api: eth0 vrid 52 IPv6)",
        ),
    ];
    for (name, summary) in expected {
        let path = example(name);
        let out = check(&path);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout, format!("{}: {summary}\n", path.display()));
        assert!(out.stderr.is_empty());
    }
}

/// Every file in examples/, including ones added later, is a valid configuration.
#[test]
fn every_example_passes_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read examples/")
        .map(|entry| entry.expect("read examples/").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 8, "examples missing: {paths:?}");
    for path in paths {
        let out = check(&path);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with(&format!("{}: OK, ", path.display())),
            "{stdout}"
        );
        assert!(out.stderr.is_empty());
    }
}

#[test]
fn check_prints_every_mistake_with_its_location() {
    let text = "\
instances:
  - name: web
    interface: eth0
    vrid: 300
    priorty: 150
    advert_interval: 15ms
    virtual_ips:
      - 192.0.2.50/24
      - 2001:db8::51/64
  - name: api
    interface: eth0
    vrid: 52
    virtual_ips:
      - 2001:db8::50
";
    let file = TempFile::new("five-mistakes.yaml", text);
    let out = check(&file.0);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let f = file.0.display();
    let expected = [
        format!("{f}:4:11: vrid 300 is out of range 1..=255"),
        format!("{f}:5:5: unknown key `priorty` in an instance; did you mean `priority`?"),
        format!("{f}:6:22: advert_interval 15ms is not a multiple of 10ms; VRRP carries it in centiseconds"),
        format!(
            "{f}:9:9: 2001:db8::51/64 is IPv6 but 192.0.2.50/24 is IPv4; an instance serves one \
             address family, so put IPv6 addresses in a second instance (it may use the same vrid)"
        ),
        format!(
            "{f}:14:9: virtual IP 2001:db8::50 has no prefix length; write 2001:db8::50/64 \
             (a /128 gives no on-link route)"
        ),
    ];
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn check_reports_an_unreadable_file() {
    let out = check(Path::new("/nonexistent/twinstar.yaml"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("/nonexistent/twinstar.yaml: cannot read the configuration: "),
        "{stderr}"
    );
}

/// The packaged /etc/twinstar/twinstar.yaml is valid and configures nothing, so
/// installing the package moves no address.
#[test]
fn packaged_configuration_passes_check_with_no_instance() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/twinstar.yaml");
    let out = check(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{}: OK, 0 instances (the agent holds no virtual IP)\n",
            path.display()
        )
    );
}

/// The commented-out example in the packaged file is itself a valid
/// configuration once its `# ` prefixes are removed.
#[test]
fn packaged_example_passes_check_once_uncommented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/twinstar.yaml");
    let text = std::fs::read_to_string(&path).expect("read packaging/twinstar.yaml");
    let (_, example) = text
        .split_once("# Example:")
        .expect("the packaged file has an example");
    let uncommented: String = example
        .lines()
        .skip(2) // the rest of the heading and its rule
        .filter(|l| *l != "instances: []")
        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = TempFile::new("packaged-example.yaml", &uncommented);
    let out = check(&file.0);
    assert!(
        out.status.success(),
        "{uncommented}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.ends_with("OK, 1 instance (web: eth0 vrid 51 IPv4)\n"),
        "{stdout}"
    );
}
