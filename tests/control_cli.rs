//! The operator verbs (`status`, `switchover`, `maintenance`, `reload`) and
//! `run --log-format` as an operator runs them: the built binary.
//!
//! The success paths talk to a stand-in agent: a Unix socket in a temporary
//! directory that answers one canned response per connection, following the
//! documented control protocol (one JSON request line, one JSON response line).
//! It records the request so that the tests also check what the CLI sends.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::JoinHandle;

use serde_json::{json, Value};

mod support;

fn twinstar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twinstar"))
        .args(args)
        .output()
        .expect("run twinstar")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A directory in the target directory, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temporary directory");
        TempDir(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("temporary path is UTF-8")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A stand-in agent answering one connection with `response`.
struct FakeAgent {
    dir: TempDir,
    server: Option<JoinHandle<String>>,
}

impl FakeAgent {
    fn start(name: &str, response: Value) -> Self {
        let dir = TempDir::new(name);
        let listener = UnixListener::bind(dir.0.join("control.sock")).expect("bind socket");
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut request = String::new();
            BufReader::new(&stream)
                .read_line(&mut request)
                .expect("read request");
            (&stream)
                .write_all(format!("{response}\n").as_bytes())
                .expect("write response");
            request
        });
        FakeAgent {
            dir,
            server: Some(server),
        }
    }

    /// Runs `twinstar VERB --runtime-dir DIR ARGS...`; returns its output and
    /// the request the agent received.
    fn run(mut self, verb: &str, args: &[&str]) -> (Output, Value) {
        let mut all = vec![verb, "--runtime-dir", self.dir.arg()];
        all.extend_from_slice(args);
        let out = twinstar(&all);
        let server = self.server.take().expect("one run per agent");
        if !server.is_finished() {
            // The CLI never connected: unblock accept() so the test fails instead of hanging.
            let _ = UnixStream::connect(self.dir.0.join("control.sock"));
        }
        let request = server.join().expect("fake agent thread");
        let request = serde_json::from_str(&request).unwrap_or_else(|e| {
            panic!(
                "request {request:?} is not JSON ({e}); twinstar said: {}",
                stderr(&out)
            )
        });
        (out, request)
    }
}

/// An instance's counters: `received` adverts received, the rest 0.
fn counters(received: u64) -> Value {
    json!({
        "adverts_received": received, "adverts_sent": 0,
        "priority_zero_received": 0, "priority_zero_sent": 0,
        "interval_mismatches": 0, "master_transitions": 0, "send_errors": 0,
        "address_repairs": 0, "answers_withheld": 0
    })
}

/// A complete status document (the CLI reads it typed, so every field the
/// agent writes is here).
fn status_document(web_state: &str) -> Value {
    json!({
        "pid": 99,
        "instances": [
            {
                "name": "web", "interface": "eth0", "vrid": 51, "state": web_state,
                "priority": 150, "base_priority": 150,
                "priority_reasons": [], "fault_reasons": ["interface eth0 is down"],
                "source": "192.0.2.1", "last_peer": null,
                "mode": "multicast", "advert_destinations": ["224.0.0.18"], "vrrp_version": "3",
                "maintenance": false, "switchover_hold": false, "master": null,
                "advert_interval_ms": 100, "master_adver_interval_ms": 100,
                "since_transition_ms": 1500,
                "virtual_ips": [{"address": "192.0.2.50/24", "present": false}],
                "track": [], "counters": counters(0), "last_handover": null
            },
            {
                "name": "api", "interface": "eth0", "vrid": 52, "state": "backup",
                "priority": 100, "base_priority": 100,
                "priority_reasons": [], "fault_reasons": [],
                "source": "192.0.2.1",
                "mode": "unicast", "advert_destinations": ["192.0.2.2"], "vrrp_version": "2",
                "last_peer": {"address": "192.0.2.2", "seen_ms_ago": 40},
                "maintenance": false, "switchover_hold": false,
                "master": {"address": "192.0.2.2", "priority": 200},
                "advert_interval_ms": 100, "master_adver_interval_ms": 100,
                "since_transition_ms": 90_000,
                "virtual_ips": [{"address": "192.0.2.60/24", "present": false}],
                "track": [], "counters": counters(900), "last_handover": null
            }
        ],
        "checks": [],
        "sync_groups": [],
        "dropped": {}
    })
}

#[test]
fn status_without_an_agent_names_the_socket_and_exits_1() {
    let dir = TempDir::new("no-agent");
    let out = twinstar(&["status", "--runtime-dir", dir.arg()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    let socket = dir.0.join("control.sock");
    assert!(err.contains(&socket.display().to_string()), "{err}");
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn maintenance_without_instance_or_all_is_a_usage_error() {
    let out = twinstar(&["maintenance", "on"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("<INSTANCE|--all>"),
        "{}",
        stderr(&out)
    );
    let out = twinstar(&["maintenance", "on", "web", "--all"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn switchover_help_mentions_force() {
    let out = twinstar(&["switchover", "--help"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("--force"), "{}", stdout(&out));
}

#[test]
fn status_prints_the_table_and_exits_3_with_an_instance_in_fault() {
    let response = json!({"ok": true, "status": status_document("fault")});
    let (out, request) = FakeAgent::start("status-fault", response).run("status", &[]);
    assert_eq!(request, json!({"verb": "status"}));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let expected = "\
INSTANCE  STATE   PRIO     MASTER           INTERVAL  VIPS               SINCE  ADVERTS  DROPS
web       fault   150/150  -                100ms     192.0.2.50/24 off  1.5s   0/0      0
api       backup  100/100  192.0.2.2 (200)  100ms     192.0.2.60/24 off  1m30s  900/0    0

web: fault: interface eth0 is down
api: unicast from 192.0.2.1 to 192.0.2.2
api: speaks VRRPv2
";
    assert_eq!(stdout(&out), expected);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

#[test]
fn status_of_a_healthy_instance_exits_0() {
    let response = json!({"ok": true, "status": status_document("fault")});
    let (out, _) = FakeAgent::start("status-one", response).run("status", &["api"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("\napi "), "{}", stdout(&out));
    assert!(!stdout(&out).contains("web"), "{}", stdout(&out));
}

#[test]
fn status_json_prints_the_document() {
    let document = status_document("master");
    let response = json!({"ok": true, "status": document});
    let (out, _) = FakeAgent::start("status-json", response).run("status", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed: Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    assert_eq!(printed, document);
}

#[test]
fn reload_failure_prints_every_error_and_exits_1() {
    let response = json!({
        "ok": false,
        "error": "the configuration has 2 errors; nothing changed",
        "errors": ["/etc/twinstar.yaml:4:11: vrid must be 1..=255", "/etc/twinstar.yaml:9:3: unknown key"]
    });
    let (out, request) = FakeAgent::start("reload-fail", response).run("reload", &[]);
    assert_eq!(request, json!({"verb": "reload"}));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        "twinstar reload: the configuration has 2 errors; nothing changed\n\
         /etc/twinstar.yaml:4:11: vrid must be 1..=255\n\
         /etc/twinstar.yaml:9:3: unknown key\n"
    );
}

#[test]
fn switchover_waits_for_the_outcome_and_prints_the_new_master() {
    let message = "web: new Master 192.0.2.2 took over 0.25s after the resignation";
    let response = json!({"ok": true, "message": message});
    let (out, request) = FakeAgent::start("switchover", response).run("switchover", &["web"]);
    assert_eq!(
        request,
        json!({"verb": "switchover", "instance": "web", "wait": true})
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), format!("{message}\n"));
}

#[test]
fn switchover_no_wait_and_its_former_spelling_force_do_not_wait() {
    for flag in ["--no-wait", "--force"] {
        let response = json!({"ok": true, "message": "switchover: web resigned"});
        let (out, request) = FakeAgent::start(&format!("switchover{flag}"), response)
            .run("switchover", &["web", flag]);
        assert_eq!(
            request,
            json!({"verb": "switchover", "instance": "web", "wait": false}),
            "{flag}"
        );
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn maintenance_on_waits_unless_told_and_passes_force() {
    let response = json!({"ok": true, "message": "maintenance on: web"});
    let (_, request) =
        FakeAgent::start("maintenance-wait", response.clone()).run("maintenance", &["on", "web"]);
    assert_eq!(
        (request["wait"].clone(), request["force"].clone()),
        (json!(true), json!(false))
    );
    let (_, request) = FakeAgent::start("maintenance-force", response)
        .run("maintenance", &["on", "web", "--force", "--no-wait"]);
    assert_eq!(
        (request["wait"].clone(), request["force"].clone()),
        (json!(false), json!(true))
    );
}

#[test]
fn refused_switchover_exits_1_with_the_error() {
    let response = json!({"ok": false, "error": "web is not Master here (backup)"});
    let (out, _) = FakeAgent::start("switchover-no", response).run("switchover", &["web"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "twinstar switchover: web is not Master here (backup)\n"
    );
}

#[test]
fn maintenance_all_sends_no_instance() {
    let response = json!({"ok": true, "message": "maintenance on: web, api"});
    let (out, request) =
        FakeAgent::start("maintenance", response).run("maintenance", &["on", "--all"]);
    assert_eq!(request["verb"], "maintenance");
    assert_eq!(request["on"], true);
    assert!(request["instance"].is_null(), "{request}");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "maintenance on: web, api\n");
}

/// A missing configuration makes `run` log one error and stop, which is enough
/// to see the log format.
#[test]
fn run_logs_json_lines_with_log_format_json() {
    let dir = TempDir::new("log-json");
    let out = twinstar(&[
        "run",
        "--config",
        "/nonexistent/twinstar.yaml",
        "--runtime-dir",
        dir.arg(),
        "--log-format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let line = err.lines().next().expect("a log line");
    let event: Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(event["level"], "ERROR", "{event}");
    assert!(
        event["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/nonexistent/twinstar.yaml")),
        "{event}"
    );
}

/// Where journald listens; the fallback test hides it when it is there.
const JOURNAL_DIR: &str = "/run/systemd/journal";

/// `unshare` arguments for a private mount namespace (with a user namespace
/// when not root) in which an empty tmpfs covers [`JOURNAL_DIR`].
fn without_journald() -> Command {
    let mut command = Command::new("unshare");
    if !nix::unistd::geteuid().is_root() {
        command.arg("--map-root-user");
    }
    command.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &format!("mount -t tmpfs tmpfs {JOURNAL_DIR} && exec \"$@\""),
        "sh",
    ]);
    command
}

/// With `JOURNAL_STREAM` naming stderr, `run` wants journald; where there is
/// none, it says so and logs text to stderr. Where journald runs, the binary
/// runs in a mount namespace of its own with journald's socket hidden.
#[test]
fn run_falls_back_to_stderr_without_journald() {
    let test = "run_falls_back_to_stderr_without_journald";
    let journald = Path::new(JOURNAL_DIR).join("socket").exists();
    let mut command = if journald {
        let probe = without_journald()
            .args(["test", "!", "-e", &format!("{JOURNAL_DIR}/socket")])
            .output();
        if !probe.as_ref().is_ok_and(|o| o.status.success()) {
            support::skip::skip(
                test,
                &format!("journald runs here and its socket cannot be hidden: {probe:?}"),
            );
            return;
        }
        let mut command = without_journald();
        command.arg(env!("CARGO_BIN_EXE_twinstar"));
        command
    } else {
        Command::new(env!("CARGO_BIN_EXE_twinstar"))
    };
    let dir = TempDir::new("log-journal");
    let log = dir.0.join("stderr.log");
    let file = std::fs::File::create(&log).expect("create stderr file");
    let stat = nix::sys::stat::fstat(&file).expect("fstat");
    let status = command
        .args(["run", "--config", "/nonexistent/twinstar.yaml"])
        .arg("--runtime-dir")
        .arg(&dir.0)
        .env("JOURNAL_STREAM", format!("{}:{}", stat.st_dev, stat.st_ino))
        .stderr(file)
        .status()
        .expect("run twinstar");
    assert_eq!(status.code(), Some(1));
    let err = std::fs::read_to_string(&log).expect("read stderr");
    assert!(err.contains("cannot log to journald"), "{err}");
    assert!(err.contains("ERROR"), "{err}");
    assert!(err.contains("/nonexistent/twinstar.yaml"), "{err}");
}
