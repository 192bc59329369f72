//! Tests of the health and notification keys: `checks:`, `track:`, `hooks:`,
//! `sync_groups:`, `events:` and `script_user:`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::tests::errors;
use super::*;

const GOOD: &str = "\
script_user: hooks
events:
  fifo: /run/twinstar/events.fifo
  socket: /run/twinstar/events.sock
checks:
  - name: haproxy
    process: haproxy
    min: 2
    max: 4
    interval: 2s
    timeout: 1s
    rise: 3
    fall: 2
  - name: health
    http: http://127.0.0.1:8404/health?full=1
    status: 204
    body_contains: OK
  - name: health6
    http: http://[2001:db8::1]
  - name: pg
    tcp: 127.0.0.1:5432
  - name: pg6
    tcp: '[2001:db8::5]:5432'
  - name: gw
    ping: 2001:db8::1
  - name: uplink
    interface: eth1
    interval: 1s
    timeout: 5s
  - name: maint
    file: /run/twinstar/maintenance
instances:
  - name: web
    interface: eth0
    vrid: 51
    virtual_ips: [192.0.2.50/24]
    track:
      - check: haproxy
        weight: -60
      - check: health
      - script: [/usr/local/bin/probe, --fast]
        weight: 10
        interval: 500ms
      - script: systemctl is-active --quiet haproxy
        weight: 254
      - ping: 192.0.2.1
        name: gw4
        weight: -254
    hooks:
      on_master: logger master
      on_backup: [/usr/bin/logger, backup]
      on_fault: { command: logger fault, timeout: 2s }
      on_stop: logger stop
      on_change: logger change
      before_master: { command: [/usr/local/lib/twinstar/pg-promote], timeout: 60s }
      after_backup: [/usr/local/lib/twinstar/pg-demote]
      before_master_retry: 1m
  - name: api
    interface: eth1
    vrid: 52
    virtual_ips: [192.0.2.60/24]
    track:
      - check: haproxy
      - tcp: 127.0.0.1:80
sync_groups:
  - name: edge
    instances: [web, api]
    hooks:
      on_master: logger edge master
";

/// A one-instance file (instance `web`, lines 1-5) with `extra` lines added to
/// the instance and `top` lines after it.
fn with(extra: &str, top: &str) -> String {
    format!("instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.50/24]\n{extra}{top}")
}

/// A file whose first line is `checks:` followed by `items`, then one instance.
fn checks(items: &str) -> String {
    format!("checks:\n{items}instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.50/24]\n")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn check(name: &str, kind: CheckKind) -> Check {
    Check {
        name: name.into(),
        kind,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        rise: 1,
        fall: 1,
    }
}

fn hook(command: Command, secs: u64) -> Option<Hook> {
    Some(Hook {
        command,
        timeout: Duration::from_secs(secs),
    })
}

fn shell(s: &str) -> Command {
    Command::Shell(s.into())
}

fn argv(v: &[&str]) -> Command {
    Command::Argv(v.iter().map(|s| s.to_string()).collect())
}

#[test]
fn good_config_reads_every_health_key() {
    let c = parse_str(GOOD, "config.yaml").unwrap();
    assert_eq!(c.script_user, "hooks");
    assert_eq!(
        c.events,
        EventSinks {
            fifo: Some(PathBuf::from("/run/twinstar/events.fifo")),
            socket: Some(PathBuf::from("/run/twinstar/events.sock")),
        }
    );
    let expected = vec![
        Check {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            rise: 3,
            fall: 2,
            ..check(
                "haproxy",
                CheckKind::Process {
                    name: "haproxy".into(),
                    min: 2,
                    max: Some(4),
                },
            )
        },
        check(
            "health",
            CheckKind::Http(HttpCheck {
                url: "http://127.0.0.1:8404/health?full=1".into(),
                addr: addr("127.0.0.1:8404"),
                host_header: "127.0.0.1:8404".into(),
                path: "/health?full=1".into(),
                status: 204,
                body_contains: Some("OK".into()),
            }),
        ),
        check(
            "health6",
            CheckKind::Http(HttpCheck {
                url: "http://[2001:db8::1]".into(),
                addr: addr("[2001:db8::1]:80"),
                host_header: "[2001:db8::1]".into(),
                path: "/".into(),
                status: 200,
                body_contains: None,
            }),
        ),
        check("pg", CheckKind::Tcp(addr("127.0.0.1:5432"))),
        check("pg6", CheckKind::Tcp(addr("[2001:db8::5]:5432"))),
        check("gw", CheckKind::Ping("2001:db8::1".parse().unwrap())),
        Check {
            timeout: Duration::from_secs(5),
            ..check("uplink", CheckKind::Interface("eth1".into()))
        },
        check("maint", CheckKind::File("/run/twinstar/maintenance".into())),
        Check {
            interval: Duration::from_millis(500),
            timeout: Duration::from_millis(500),
            ..check(
                "web/script",
                CheckKind::Script(argv(&["/usr/local/bin/probe", "--fast"])),
            )
        },
        check(
            "web/script2",
            CheckKind::Script(shell("systemctl is-active --quiet haproxy")),
        ),
        check("gw4", CheckKind::Ping("192.0.2.1".parse().unwrap())),
        check("api/tcp", CheckKind::Tcp(addr("127.0.0.1:80"))),
    ];
    assert_eq!(c.checks, expected);
    let track = |check: &str, weight| Track {
        check: check.into(),
        weight,
    };
    let web = &c.instances[0];
    assert_eq!(
        *web.track,
        [
            track("haproxy", -60),
            track("health", 0),
            track("web/script", 10),
            track("web/script2", 254),
            track("gw4", -254),
        ]
    );
    assert_eq!(
        *web.hooks,
        Hooks {
            on_master: hook(shell("logger master"), 10),
            on_backup: hook(argv(&["/usr/bin/logger", "backup"]), 10),
            on_fault: hook(shell("logger fault"), 2),
            on_stop: hook(shell("logger stop"), 10),
            on_change: hook(shell("logger change"), 10),
            before_master: hook(argv(&["/usr/local/lib/twinstar/pg-promote"]), 60),
            after_backup: hook(argv(&["/usr/local/lib/twinstar/pg-demote"]), 10),
            fence: None,
            before_master_retry: Duration::from_secs(60),
        }
    );
    let api = &c.instances[1];
    assert_eq!(*api.track, [track("haproxy", 0), track("api/tcp", 0)]);
    assert_eq!(*api.hooks, Hooks::default());
    assert_eq!(
        c.sync_groups,
        [SyncGroup {
            name: "edge".into(),
            instances: vec!["web".into(), "api".into()],
            hooks: Hooks {
                on_master: hook(shell("logger edge master"), 10),
                ..Hooks::default()
            },
        }]
    );
    assert_eq!(
        c.sync_group_of("api").map(|g| g.name.as_str()),
        Some("edge")
    );
    assert_eq!(c.check("web/script2"), Some(&expected[9]));
    assert_eq!(parse_str(GOOD, "other.yaml").unwrap(), c);
}

#[test]
fn omitted_health_keys_take_their_defaults() {
    let c = parse_str(&with("", ""), "c").unwrap();
    assert!(c.checks.is_empty() && c.sync_groups.is_empty());
    assert_eq!(c.events, EventSinks::default());
    assert_eq!(c.script_user, defaults::SCRIPT_USER);
    assert!(c.instances[0].track.is_empty());
    assert_eq!(
        *c.instances[0].hooks,
        Hooks {
            on_master: None,
            on_backup: None,
            on_fault: None,
            on_stop: None,
            on_change: None,
            before_master: None,
            after_backup: None,
            fence: None,
            before_master_retry: Duration::from_secs(30),
        }
    );
    let c = parse_str(
        &checks("  - name: p\n    process: haproxy\n  - name: h\n    http: http://192.0.2.7:8080\n    timeout: 300ms\n"),
        "c",
    )
    .unwrap();
    let process = CheckKind::Process {
        name: "haproxy".into(),
        min: 1,
        max: None,
    };
    assert_eq!(c.checks[0], check("p", process));
    assert_eq!(c.checks[1].timeout, Duration::from_millis(300));
    assert_eq!(c.checks[1].interval, Duration::from_secs(1));
    let CheckKind::Http(h) = &c.checks[1].kind else {
        panic!("{:?}", c.checks[1])
    };
    assert_eq!((h.status, h.path.as_str()), (200, "/"));
    assert_eq!(h.addr, addr("192.0.2.7:8080"));
    let c = parse_str(&with("    hooks: {}\n", "events: {}\n"), "c").unwrap();
    assert_eq!(*c.instances[0].hooks, Hooks::default());
    assert_eq!(c.events, EventSinks::default());
}

#[test]
fn instances_without_hooks_share_one_empty_set_and_others_keep_their_own() {
    let mut text = String::from("instances:\n");
    for n in 1..=3 {
        text += &format!(
            "  - name: vr{n}\n    interface: eth0\n    vrid: {n}\n    priority: 100\n    virtual_ips: [192.0.2.{n}/32]\n"
        );
    }
    text += "    hooks: {on_master: logger master}\n";
    let c = parse_str(&text, "c").unwrap();
    let [a, b, hooked] = &c.instances[..] else {
        panic!("{:?}", c.instances)
    };
    assert!(std::sync::Arc::ptr_eq(&a.hooks, &b.hooks));
    assert_eq!(*a.hooks, Hooks::default());
    assert!(!std::sync::Arc::ptr_eq(&a.hooks, &hooked.hooks));
    assert_eq!(hooked.hooks.on_master, hook(shell("logger master"), 10));
}

#[test]
fn a_check_has_exactly_one_kind_and_only_its_options() {
    let text = checks(
        "  - name: a\n    interval: 1s\n  - name: b\n    tcp: 127.0.0.1:80\n    http: http://127.0.0.1/\n    min: 1\n  - process: x\n  - name: a\n    ping: 192.0.2.1\n    status: 200\n",
    );
    assert_eq!(
        errors(&text),
        [
            "2:5: this check says nothing to check; give exactly one of `script`, `interface`, \
             `file`, `process`, `tcp`, `http` or `ping`",
            "6:5: this check already has `tcp` (line 5); a check has exactly one of `script`, \
             `interface`, `file`, `process`, `tcp`, `http` or `ping`, so make `http` a check of its own",
            "7:5: `min` applies only to `process` checks; remove it from this `tcp` check",
            "8:5: this check is missing `name`, a unique label such as `haproxy`",
            "9:11: check name `a` is already used on line 2; names must be unique",
            "11:5: `status` applies only to `http` checks; remove it from this `ping` check",
        ]
    );
}

#[test]
fn check_targets_are_checked() {
    let text = checks(
        "  - name: a\n    tcp: localhost:80\n  - name: b\n    tcp: 127.0.0.1\n  - name: c\n    tcp: 2001:db8::1:80\n  - name: d\n    tcp: 127.0.0.1:0\n  - name: e\n    tcp: 127.0.0.1:65536\n  - name: f\n    ping: gw\n  - name: g\n    file: run/x\n  - name: h\n    interface: eth0:1\n  - name: i\n    process: /usr/sbin/haproxy\n",
    );
    assert_eq!(
        errors(&text),
        [
            "3:10: tcp `localhost:80` has host `localhost`, which is not an IP address; write one \
             such as 127.0.0.1 or [2001:db8::1] (names are not resolved)",
            "5:10: tcp `127.0.0.1` has no port; write it as 127.0.0.1:PORT",
            "7:10: tcp `2001:db8::1:80` has an IPv6 address without brackets; write it as \
             [ADDRESS]:PORT, such as [2001:db8::1]:80",
            "9:10: tcp `127.0.0.1:0` has port `0`, not a number in 1..=65535",
            "11:10: tcp `127.0.0.1:65536` has port `65536`, not a number in 1..=65535",
            "13:11: ping `gw` is not an IP address; write one such as 192.0.2.1 or 2001:db8::1 \
             (names are not resolved)",
            "15:11: file `run/x` is not an absolute path; write it from the root, starting with `/`",
            "17:16: interface `eth0:1` is not a valid Linux interface name; use 1 to 15 characters \
             without `/`, `:` or spaces",
            "19:14: process `/usr/sbin/haproxy` is not a process name; write the program's name \
             without a path, such as `haproxy`",
        ]
    );
}

#[test]
fn http_checks_take_plain_http_urls_to_ip_literals() {
    let text = checks(
        "  - name: a\n    http: https://127.0.0.1/\n  - name: b\n    http: ftp://127.0.0.1/\n  - name: c\n    http: http://example.com/\n    status: 700\n  - name: d\n    http: http:///x\n    body_contains: ''\n  - name: e\n    http: 'http://[2001:db8::1/'\n  - name: f\n    http: http://127.0.0.1:99999/\n  - name: g\n    process: x\n    min: 3\n    max: 2\n",
    );
    assert_eq!(
        errors(&text),
        [
            "3:11: http `https://127.0.0.1/`: https is not supported; check a plain-HTTP port",
            "5:11: http `ftp://127.0.0.1/` is not a plain-HTTP URL; write one such as \
             http://127.0.0.1:8404/health",
            "7:11: http `http://example.com/` has host `example.com`, which is not an IP address; \
             write one such as 127.0.0.1 or [2001:db8::1] (names are not resolved)",
            "8:13: status 700 is out of range 100..=599",
            "10:11: http `http:///x` has no host; write one such as http://127.0.0.1:8404/health",
            "11:20: body_contains is empty; give the text the body must hold, or remove it",
            "13:11: http `http://[2001:db8::1/` has no `]` after the IPv6 address",
            "15:11: http `http://127.0.0.1:99999/` has port `99999`, not a number in 1..=65535",
            "19:10: max 2 is below min 3; the check is up with min..=max processes",
        ]
    );
}

#[test]
fn commands_and_timing_are_checked() {
    let text = checks(
        "  - name: a\n    script: ''\n  - name: b\n    script: []\n  - name: c\n    script: ['', x]\n  - name: d\n    script: [sleep, 5]\n  - name: e\n    script: { run: x }\n  - name: f\n    ping: 192.0.2.1\n    interval: 1s\n    timeout: 2s\n  - name: g\n    script: x\n    timeout: 5ms\n    rise: 0\n    fall: 1001\n  - name: h\n    interface: eth0\n    timeout: 2s\n",
    );
    assert_eq!(
        errors(&text),
        [
            "3:13: script is empty; write a command such as `systemctl is-active --quiet haproxy`",
            "5:13: script is an empty list; write the program and its arguments, such as \
             `[/usr/bin/pg_ctl, promote]`",
            "7:14: the program of script (its first item) is empty; name the program to run",
            "9:21: each item of script must be text; quote the number: \"5\"",
            "11:13: script must be a command: a string run by /bin/sh -c, or a list of the program \
             and its arguments; found a mapping",
            "18:14: timeout 5ms is out of range 10ms..=60m",
            "19:11: rise 0 is out of range 1..=1000",
            "20:11: fall 1001 is out of range 1..=1000",
        ]
    );
}

#[test]
fn a_timeout_longer_than_the_interval_is_accepted_as_keepalived_accepts_it() {
    let text = checks(
        "  - name: slow\n    script: /usr/local/bin/check_db\n    interval: 2s\n    timeout: 10s\n",
    );
    let config = parse_str(&text, "config.yaml").unwrap();
    assert_eq!(
        config.checks,
        [Check {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            ..check(
                "slow",
                CheckKind::Script(Command::Shell("/usr/local/bin/check_db".into()))
            )
        }]
    );
}

#[test]
fn track_items_refer_to_declared_checks_once() {
    let text = with(
        "    track:\n      - check: nope\n        weight: 255\n      - check: a\n        tcp: 127.0.0.1:80\n        interval: 2s\n      - check: a\n      - check: a\n      - tcp: 127.0.0.1:81\n        name: a\n",
        "checks:\n  - name: a\n    tcp: 127.0.0.1:80\n",
    );
    let refers = "cannot go with `check:`, which refers to a check declared under `checks:`; \
                  set it there, or drop `check:` to declare the check here";
    assert_eq!(
        errors(&text),
        [
            "7:16: no check is named `nope`; the checks under `checks:` are: a".to_owned(),
            "8:17: weight 255 is out of range -254..=254".to_owned(),
            format!("10:9: `tcp` {refers}"),
            format!("11:9: `interval` {refers}"),
            "13:16: check `a` is already tracked by this instance (line 12); list it once"
                .to_owned(),
            "15:15: check name `a` is already used on line 17; names must be unique".to_owned(),
        ]
    );
    assert_eq!(
        errors(&with("    track:\n      - check: nope\n", "")),
        ["7:16: no check is named `nope`; declare it under the top-level `checks:`"]
    );
}

#[test]
fn generated_names_skip_taken_ones() {
    let track =
        "    track:\n      - ping: 192.0.2.1\n      - ping: 192.0.2.2\n      - ping: 192.0.2.3\n";
    let c = parse_str(&with(track, ""), "c").unwrap();
    let names: Vec<&str> = c.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["web/ping", "web/ping2", "web/ping3"]);
    let names: Vec<&str> = c.instances[0]
        .track
        .iter()
        .map(|t| t.check.as_str())
        .collect();
    assert_eq!(names, ["web/ping", "web/ping2", "web/ping3"]);
}

#[test]
fn hooks_are_checked() {
    let text = with(
        "    hooks:\n      on_master: 5\n      on_backup: { timeout: 1s }\n      on_fault: { command: x, timeout: 2h, extra: 1 }\n      before_master_retry: 500ms\n      on_stopp: x\n",
        "",
    );
    assert_eq!(
        errors(&text),
        [
            "7:18: hooks.on_master must be a command: a string run by /bin/sh -c, or a list of the \
             program and its arguments; found an integer",
            "8:18: hooks.on_backup is missing `command`, what to run, such as \
             `[/usr/local/bin/notify, master]`",
            "9:40: hooks.on_fault.timeout: `2h` is not a duration; write a number with a unit ms, \
             s or m, such as `100ms`, `2s`, `1.5s` or `1m`",
            "9:44: unknown key `extra` in hooks.on_fault; expected one of: command, timeout",
            "10:28: hooks.before_master_retry 500ms is out of range 1s..=1440m",
            "11:7: unknown key `on_stopp` in hooks; did you mean `on_stop`?",
        ]
    );
    assert_eq!(
        errors(&with(
            "    hooks:\n      on_stop: { command: x, timeout: 61m }\n",
            ""
        )),
        ["7:39: hooks.on_stop.timeout 61m is out of range 10ms..=60m"]
    );
}

#[test]
fn sync_groups_events_and_script_user_are_checked() {
    let text = with(
        "",
        "sync_groups:\n  - name: g\n    instances: [web]\n    hooks:\n      before_master: x\n      after_backup: y\n      before_master_retry: 1s\n  - name: g\n    instances: [web, web, nope]\n  - instances: web\nevents:\n  fifo: /run/x\n  socket: /run/x\nscript_user: 'a b'\n",
    );
    let per_instance = "is per instance; put it in the hooks of each member instance instead of \
                        the sync group";
    assert_eq!(
        errors(&text),
        [
            "8:16: a sync group needs at least two instances, this one lists 1; a single instance \
             needs no group"
                .to_owned(),
            format!("10:7: `before_master` {per_instance}"),
            format!("11:7: `after_backup` {per_instance}"),
            format!("12:7: `before_master_retry` {per_instance}"),
            "13:11: sync group name `g` is already used on line 7; names must be unique".to_owned(),
            "14:17: instance `web` is already in sync group `g` (line 8); an instance belongs to \
             at most one group"
                .to_owned(),
            "14:22: instance `web` is listed twice in this group (first on line 14)".to_owned(),
            "14:27: no instance is named `nope`; the instances are: web".to_owned(),
            "15:5: this sync group is missing `name`, a unique label such as `edge`".to_owned(),
            "15:16: instances must be a list (items start with `- `), found a string".to_owned(),
            "18:11: events.socket is the same path as events.fifo; give each its own path"
                .to_owned(),
            "19:14: script_user `a b` is not a user name; name one such as `twinstar`".to_owned(),
        ]
    );
}

#[test]
fn errors_from_every_section_are_reported_together() {
    let text = with(
        "    vrid: 0\n    track: { check: a }\n    hooks: [x]\n",
        "checks: {}\nsync_groups: 3\nevents:\n  fifo: run/x\n  sock: /x\nscript_user: 5\n",
    );
    assert_eq!(
        errors(&text),
        [
            "6:5: duplicate key `vrid` (first on line 4); keep only one",
            "7:12: track must be a list (items start with `- `), found a mapping",
            "8:12: hooks must be a mapping of keys to values, found a list",
            "9:9: checks must be a list (items start with `- `), found a mapping",
            "10:14: sync_groups must be a list (items start with `- `), found an integer",
            "12:9: events.fifo `run/x` is not an absolute path; write it from the root, starting \
             with `/`",
            "13:3: unknown key `sock` in events; did you mean `socket`?",
            "14:14: script_user must be text; quote the number: \"5\"",
        ]
    );
}
