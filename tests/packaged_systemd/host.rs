//! The systemd host the package is installed in (booted by
//! tests/support/systemd-host.sh), seen from the test: commands run inside it,
//! files written into its root, its network namespace, its journal.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A booted systemd host, addressed through the PID of its systemd.
pub struct SystemdHost {
    pid: u32,
}

impl SystemdHost {
    /// The host named by `TWINSTAR_SYSTEMD_HOST`, which must be up. Panics (the
    /// test fails) when it is not: this test never skips.
    pub fn from_env() -> SystemdHost {
        let name = std::env::var("TWINSTAR_SYSTEMD_HOST").unwrap_or_else(|_| {
            panic!(
                "TWINSTAR_SYSTEMD_HOST is not set: run this test through tests/package_systemd.sh, \
                 which boots the systemd host and installs the package in it"
            )
        });
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/systemd-host.sh");
        let out = Command::new("bash")
            .arg(&script)
            .args(["pid", &name])
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
        let pid = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                panic!(
                    "systemd host {name} is not up: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        SystemdHost { pid }
    }

    /// The PID of the host's systemd as this machine sees it (for `ip link … netns`).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The host's network namespace, for sockets opened from outside.
    pub fn netns(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid))
    }

    /// Runs `program args` inside the host (all its namespaces, its root).
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.pid.to_string(), "-a", "-r", "-w", program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("nsenter {program}: {e}"))
    }

    /// Like [`run`](Self::run), and its stdout; panics with stderr when it fails.
    pub fn run_ok(&self, program: &str, args: &[&str]) -> String {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "in the systemd host: {program} {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `systemctl args` in the host; panics when it fails.
    pub fn systemctl(&self, args: &[&str]) -> String {
        self.run_ok("systemctl", args)
    }

    /// One property of `twinstar.service` (`systemctl show -p NAME --value`).
    pub fn property(&self, name: &str) -> String {
        self.systemctl(&["show", "-p", name, "--value", "twinstar.service"])
            .trim()
            .to_owned()
    }

    /// `systemctl is-active twinstar` (which exits non-zero unless active).
    pub fn is_active(&self) -> String {
        let out = self.run("systemctl", &["is-active", "twinstar.service"]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs `ip args` in the host's network namespace only (this machine's `ip`:
    /// the minimal root has none).
    pub fn ip(&self, args: &[&str]) {
        let out = Command::new("nsenter")
            .args(["-t", &self.pid.to_string(), "-n", "ip"])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("nsenter ip: {e}"));
        assert!(
            out.status.success(),
            "in the systemd host: ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Writes `text` to `path` (absolute, inside the host's root).
    pub fn write(&self, path: &str, text: &str) {
        let outside = self.outside(path);
        if let Some(parent) = outside.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        std::fs::write(&outside, text).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }

    fn outside(&self, path: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.pid)).join(path.trim_start_matches('/'))
    }

    /// Entries of the unit's journal since `cursor` (all if `None`), as JSON
    /// objects (`journalctl -u twinstar -o json`).
    pub fn journal(&self, cursor: Option<&str>) -> Vec<Value> {
        let after = cursor.map(|c| format!("--after-cursor={c}"));
        let mut args = vec!["-u", "twinstar.service"];
        args.extend(after.as_deref());
        self.journal_json(&args)
    }

    /// Entries of the whole journal with this SYSLOG_IDENTIFIER (`journalctl
    /// -t TAG -o json`), whichever unit journald attributed them to.
    pub fn journal_tagged(&self, tag: &str) -> Vec<Value> {
        self.journal_json(&["-t", tag])
    }

    fn journal_json(&self, filter: &[&str]) -> Vec<Value> {
        let mut args = vec!["-o", "json", "--no-pager"];
        args.extend_from_slice(filter);
        self.run_ok("journalctl", &args)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The cursor of the newest journal entry, to read only what comes after.
    pub fn journal_cursor(&self) -> Option<String> {
        let text = self.run_ok("journalctl", &["-n", "1", "-o", "json", "--no-pager"]);
        let entry: Value = serde_json::from_str(text.lines().next()?).ok()?;
        entry["__CURSOR"].as_str().map(str::to_owned)
    }

    /// The unit's journal as text, for failure messages.
    pub fn journal_text(&self) -> String {
        let out = self.run(
            "journalctl",
            &[
                "-u",
                "twinstar.service",
                "-o",
                "short-precise",
                "--no-pager",
            ],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
