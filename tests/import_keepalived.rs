//! `twinstar import-keepalived` as an operator runs it: the built binary on a
//! corpus of keepalived configurations in the styles operators write
//! (tests/fixtures/keepalived/*.conf). Each must import, and its result must
//! pass `twinstar check`; what it cannot map is listed in NAME.unmapped, and
//! the exit status says whether there is any.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keepalived")
}

/// Runs `twinstar ARGS` in the corpus directory, so reported paths are relative.
fn twinstar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twinstar"))
        .args(args)
        .current_dir(corpus())
        .output()
        .expect("run twinstar")
}

/// A scratch directory removed when the test ends, even on failure.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The report lines of unmapped constructs (`FILE:LINE: keyword: why`, not notes).
fn unmapped(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains(".conf:") && !l.contains(": note: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_corpus_config_imports_to_a_file_that_passes_check() {
    let scratch = Scratch::new("import-corpus");
    let mut configs: Vec<String> = std::fs::read_dir(corpus())
        .expect("read the corpus")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".conf"))
        .collect();
    configs.sort();
    assert!(
        configs.len() >= 20,
        "the corpus has only {} configs",
        configs.len()
    );
    let mut failures = Vec::new();
    for config in &configs {
        let stem = config.trim_end_matches(".conf");
        let out = scratch.0.join(format!("{stem}.yaml"));
        let out_arg = out.to_str().expect("UTF-8 path");
        let import = twinstar(&["import-keepalived", config, "--out", out_arg]);
        let expected: Vec<String> =
            std::fs::read_to_string(corpus().join(format!("{stem}.unmapped")))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect();
        let reported = unmapped(&import.stderr);
        if reported != expected {
            failures.push(format!(
                "{config}: reported\n  {}\nexpected\n  {}",
                reported.join("\n  "),
                expected.join("\n  ")
            ));
        }
        let code = if expected.is_empty() { 0 } else { 2 };
        if import.status.code() != Some(code) {
            failures.push(format!(
                "{config}: exit {:?}, expected {code}: {}",
                import.status.code(),
                String::from_utf8_lossy(&import.stderr)
            ));
        }
        let check = twinstar(&["check", "--config", out_arg]);
        if !check.status.success() {
            failures.push(format!(
                "{config}: twinstar check failed: {}",
                String::from_utf8_lossy(&check.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn without_out_the_yaml_goes_to_stdout_commented_with_its_source_lines() {
    let import = twinstar(&["import-keepalived", "02-haproxy-backup.conf"]);
    assert_eq!(
        import.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let yaml = String::from_utf8_lossy(&import.stdout);
    for expected in [
        "# vrrp_instance VI_1 (02-haproxy-backup.conf:16)",
        "  - name: VI_1\n    interface: eth0\n    vrid: 51\n    priority: 100\n",
        "version: 2   # keepalived's default protocol (no vrrp_version): VRRPv2",
        "script: [/usr/bin/systemctl, is-active, \"--quiet\", haproxy]",
        "track:\n      - {check: chk_haproxy, weight: -50}",
        "node_id: lb02",
    ] {
        assert!(yaml.contains(expected), "no {expected:?} in\n{yaml}");
    }
}

#[test]
fn a_sync_group_keeps_its_members_and_notify_keeps_keepalived_arguments() {
    let import = twinstar(&["import-keepalived", "05-sync-group.conf"]);
    let yaml = String::from_utf8_lossy(&import.stdout);
    assert!(
        yaml.contains("  - name: FW\n    instances: [OUTSIDE, INSIDE]\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("on_master: [/etc/keepalived/fw-master.sh]"),
        "{yaml}"
    );
    assert!(
        yaml.contains("exec '/etc/keepalived/fw-notify.sh' GROUP \\\"$1\\\" \\\"$s\\\" \\\"$4\\\""),
        "{yaml}"
    );
}

#[test]
fn includes_are_read_relative_to_the_including_file() {
    let import = twinstar(&["import-keepalived", "08-includes.conf"]);
    let yaml = String::from_utf8_lossy(&import.stdout);
    assert!(
        yaml.contains("# vrrp_instance WEB (conf.d/20-web.conf:1)"),
        "{yaml}"
    );
    assert!(
        yaml.contains("# vrrp_script chk_nginx (conf.d/10-scripts.conf:1)"),
        "{yaml}"
    );
}

#[test]
fn nopreempt_unicast_and_both_families_map_to_their_twinstar_keys() {
    let pg = String::from_utf8_lossy(
        &twinstar(&["import-keepalived", "03-postgres-notify.conf"]).stdout,
    )
    .into_owned();
    assert!(pg.contains("preempt: false"), "{pg}");
    assert!(pg.contains("timeout: 10s"), "{pg}");
    let cloud =
        String::from_utf8_lossy(&twinstar(&["import-keepalived", "04-unicast-cloud.conf"]).stdout)
            .into_owned();
    assert!(
        cloud.contains(
            "unicast_peers: [203.0.113.12, 203.0.113.13]\n    unicast_source: 203.0.113.11"
        ),
        "{cloud}"
    );
    assert!(cloud.contains("version: 3"), "{cloud}");
    let dual =
        String::from_utf8_lossy(&twinstar(&["import-keepalived", "11-mixed-family.conf"]).stdout)
            .into_owned();
    assert!(dual.contains("  - name: DUAL-v6\n"), "{dual}");
    assert!(dual.contains("instances: [DUAL, DUAL-v6]"), "{dual}");
}

#[test]
fn a_file_that_cannot_be_read_or_parsed_exits_1_naming_the_line() {
    let missing = twinstar(&["import-keepalived", "no-such.conf"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("no-such.conf: cannot read"));
    let scratch = Scratch::new("import-broken");
    let broken = scratch.0.join("broken.conf");
    std::fs::write(&broken, "vrrp_instance VI_1 {\n  interface eth0\n").expect("write");
    let import = twinstar(&["import-keepalived", broken.to_str().expect("UTF-8")]);
    assert_eq!(import.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(
        stderr.contains("broken.conf:1: this block is never closed"),
        "{stderr}"
    );
    assert!(import.stdout.is_empty());
}
