//! The typed configuration of what decides health and who hears about it:
//! tracked objects (`checks:` and `track:`), notify hooks (`hooks:`), sync
//! groups (`sync_groups:`), the event stream (`events:`) and `script_user`.
//!
//! As in `model.rs`, the doc comment on each field is the reference for its key.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// A tracked object: something checked periodically (or watched) whose result
/// moves the priority of the instances that track it, or puts them in Fault.
///
/// Declared once under the top-level `checks:` (with a `name`, reusable by any
/// instance) or inline in an instance's `track:` list. A check referenced by
/// several instances runs once; every instance sees the same result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// `name` (required under `checks:`; inline items default to
    /// `<instance>/<kind>`, then `<instance>/<kind>2`, ...): unique among checks,
    /// shown in status, metrics and events. Same character rules as instance names.
    pub name: String,
    /// What is checked: exactly one of the keys `script`, `interface`, `file`,
    /// `process`, `tcp`, `http`, `ping`.
    pub kind: CheckKind,
    /// `interval` (10ms..=1h, default `1s`): time between the starts of two runs.
    /// Ignored for `interface`, which follows link events as they happen.
    pub interval: Duration,
    /// `timeout` (10ms..=1h, default `interval`, at most `interval` for native
    /// checks): a run not finished by then fails; a script's whole process group
    /// is killed.
    pub timeout: Duration,
    /// `rise` (1..=1000, default 1): consecutive successes before a failing object
    /// counts as up again.
    pub rise: u32,
    /// `fall` (1..=1000, default 1): consecutive failures before an up object
    /// counts as down.
    pub fall: u32,
}

/// The kinds of tracked object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// `script: COMMAND`: success is exit status 0. A command that cannot be
    /// executed (missing, not executable, bad interpreter) is a failure.
    Script(Command),
    /// `interface: NAME`: up while the interface is up with carrier.
    Interface(String),
    /// `file: PATH`: the file holds an integer (keepalived `track_file`
    /// semantics): with `weight: 0` any non-zero value is a failure; otherwise the
    /// value times the weight is added to the priority. A missing or unreadable
    /// file reads as a failure with `weight: 0` and as 0 otherwise.
    File(PathBuf),
    /// `process: NAME` (with optional `min`, default 1, and `max`): up while the
    /// number of processes whose name (`/proc/PID/comm`, or argv[0]'s file name)
    /// equals NAME is within min..=max.
    Process {
        /// The process name to count.
        name: String,
        /// `min` (default 1): fewest matching processes that count as up.
        min: u32,
        /// `max` (default none): most matching processes that count as up.
        max: Option<u32>,
    },
    /// `tcp: HOST:PORT`: up when a TCP connection is established within the timeout.
    Tcp(SocketAddr),
    /// `http: URL` (with optional `status`, default 200, and `body_contains`):
    /// up when a GET of the URL answers with that status (and body substring).
    Http(HttpCheck),
    /// `ping: ADDRESS`: up when an ICMP / ICMPv6 echo is answered within the timeout.
    Ping(IpAddr),
}

impl CheckKind {
    /// The YAML key of this kind, used in default names and messages.
    pub fn key(&self) -> &'static str {
        match self {
            CheckKind::Script(_) => "script",
            CheckKind::Interface(_) => "interface",
            CheckKind::File(_) => "file",
            CheckKind::Process { .. } => "process",
            CheckKind::Tcp(_) => "tcp",
            CheckKind::Http(_) => "http",
            CheckKind::Ping(_) => "ping",
        }
    }
}

/// An HTTP health check: a plain-HTTP GET (no TLS; check a local port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    /// The URL as written, for messages.
    pub url: String,
    /// Where to connect: the URL's host (an IP literal) and port (default 80).
    pub addr: SocketAddr,
    /// The `Host:` header value: the URL's authority as written.
    pub host_header: String,
    /// The path and query, `/` when the URL has none.
    pub path: String,
    /// `status` (100..=599, default 200): the expected response status.
    pub status: u16,
    /// `body_contains` (default none): a substring the first 64 KiB of the body must hold.
    pub body_contains: Option<String>,
}

/// A command to run: a string is given to `/bin/sh -c`, a list is run directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `"systemctl is-active haproxy"`: run by `/bin/sh -c`.
    Shell(String),
    /// `[/usr/bin/pg_ctl, promote]`: program and arguments, no shell.
    Argv(Vec<String>),
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Shell(s) => f.write_str(s),
            Command::Argv(v) => f.write_str(&v.join(" ")),
        }
    }
}

/// One entry of an instance's `track:` list: a check and what its result does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// The check's name in [`crate::config::Config::checks`]: `check: NAME` for a
    /// named check, or the generated name of an inline one.
    pub check: String,
    /// `weight` (-254..=254, default 0): 0 puts the instance in Fault while the
    /// check fails; a negative weight is added to the priority while it fails, a
    /// positive one while it succeeds. The result is clamped to 1..=254, and an
    /// address owner (priority 255) is never moved by weights.
    pub weight: i32,
}

/// A hook: a command run on an event, with a time limit.
///
/// Written as a command (string or list) or as `{command: ..., timeout: 10s}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// `command`: what to run (see [`Command`]).
    pub command: Command,
    /// `timeout` (10ms..=1h, default `10s`): the process group is killed after it.
    pub timeout: Duration,
}

/// Notify hooks, run as `script_user` with a clean environment.
///
/// Every hook gets the arguments `INSTANCE NEW_STATE OLD_STATE PRIORITY` and
/// the same values as `TWINSTAR_INSTANCE`, `TWINSTAR_STATE`,
/// `TWINSTAR_OLD_STATE`, `TWINSTAR_PRIORITY` (for a sync group, INSTANCE is the
/// group's name and `TWINSTAR_GROUP` is set). Per instance, hooks run one at a
/// time in the order of the transitions; a slow hook delays the next hook, never
/// the protocol. Hooks of a transition superseded before they started are
/// dropped; `before_master` never waits behind another hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hooks {
    /// `on_master`: after becoming Master (after the virtual IPs are added).
    pub on_master: Option<Hook>,
    /// `on_backup`: after becoming Backup.
    pub on_backup: Option<Hook>,
    /// `on_fault`: after entering Fault.
    pub on_fault: Option<Hook>,
    /// `on_stop`: after the instance stops (agent shutdown or removal on reload).
    pub on_stop: Option<Hook>,
    /// `on_change`: after every transition, after the state-specific hook.
    pub on_change: Option<Hook>,
    /// `before_master` (instances only): must exit 0 within its timeout before
    /// the virtual IPs are added; otherwise the instance goes to Fault for
    /// `before_master_retry`, and the virtual IPs stay off.
    pub before_master: Option<Hook>,
    /// `after_backup` (instances only): runs once the virtual IPs have been
    /// removed after leaving Master; skipped when the instance is Master again
    /// before a handover removed them.
    pub after_backup: Option<Hook>,
    /// `fence` (instances only): runs on a Backup before it takes over from
    /// a Master that went silent, with that Master's address; the virtual
    /// IPs are added only after it exits 0 (STONITH). Otherwise the Backup
    /// stays Backup and tries again one Master_Down_Interval later.
    pub fence: Option<Hook>,
    /// `before_master_retry` (1s..=1d, default `30s`): how long an instance whose
    /// `before_master` failed stays in Fault before it may try again.
    pub before_master_retry: Duration,
}

impl Hooks {
    /// `hooks` behind an `Arc`: the one empty set every instance without
    /// hooks shares when there are none, a set of its own otherwise.
    pub fn shared(hooks: Hooks) -> std::sync::Arc<Hooks> {
        static NONE: std::sync::LazyLock<std::sync::Arc<Hooks>> =
            std::sync::LazyLock::new(|| std::sync::Arc::new(Hooks::default()));
        if hooks == **NONE {
            NONE.clone()
        } else {
            std::sync::Arc::new(hooks)
        }
    }
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            on_master: None,
            on_backup: None,
            on_fault: None,
            on_stop: None,
            on_change: None,
            before_master: None,
            after_backup: None,
            fence: None,
            before_master_retry: super::model::defaults::BEFORE_MASTER_RETRY,
        }
    }
}

/// `sync_groups` entries: instances that are Master together or not at all.
///
/// A Fault in any member puts every member in Fault; a member becoming Master
/// makes the others on the host take over too, and a member leaving Master
/// makes them resign; members share the lowest effective priority among them,
/// so both hosts decide every member the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroup {
    /// `name` (required): unique among sync groups; same rules as instance names.
    pub name: String,
    /// `instances` (required, at least two): member instance names; an instance
    /// belongs to at most one group.
    pub instances: Vec<String>,
    /// `hooks`: notify hooks for the group's state (Master when every member is
    /// Master, Fault when any is, Backup otherwise). `before_master` and
    /// `after_backup` are per instance only.
    pub hooks: Hooks,
}

/// `events`: where the JSON-lines event stream is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventSinks {
    /// `events.fifo` (default none): a FIFO the agent creates (mode 0600) if
    /// missing and writes every event to while a reader has it open.
    pub fifo: Option<PathBuf>,
    /// `events.socket` (default none): a Unix stream socket; every connected
    /// client receives every event from the time it connects.
    pub socket: Option<PathBuf>,
}
