//! The twinstar configuration being built, before it is written as YAML: only
//! what the import sets, each part with the keepalived line it comes from.

use std::net::IpAddr;
use std::time::Duration;

use super::lexer::Location;

/// The whole twinstar file.
#[derive(Debug, Default)]
pub struct Output {
    /// `script_user`, with a comment saying where it comes from.
    pub script_user: Option<(String, String)>,
    /// `node_id` (from `router_id`).
    pub node_id: Option<String>,
    /// `checks`: keepalived's `vrrp_script`, `track_file` and `vrrp_track_process`.
    pub checks: Vec<CheckOut>,
    /// `instances`.
    pub instances: Vec<InstanceOut>,
    /// `sync_groups`.
    pub sync_groups: Vec<GroupOut>,
}

/// A command, as twinstar's list form: the program and its arguments, or a
/// shell line when keepalived's arguments must be rearranged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandOut {
    /// `[program, arg...]`.
    Argv(Vec<String>),
    /// A line for `/bin/sh -c`.
    Shell(String),
}

/// One named check.
#[derive(Debug)]
pub struct CheckOut {
    /// Where it is declared.
    pub from: Location,
    /// The keepalived block it comes from (`vrrp_script NAME`).
    pub what: String,
    /// Its twinstar name.
    pub name: String,
    /// Its kind key and value.
    pub kind: CheckKindOut,
    /// `interval`, when keepalived set one.
    pub interval: Option<Duration>,
    /// `timeout`, when keepalived set one.
    pub timeout: Option<Duration>,
    /// `rise`.
    pub rise: Option<u32>,
    /// `fall`.
    pub fall: Option<u32>,
}

/// The kind of a check.
#[derive(Debug)]
pub enum CheckKindOut {
    /// `script`.
    Script(CommandOut),
    /// `file`.
    File(String),
    /// `process` with `min` and `max`.
    Process {
        /// The process name.
        name: String,
        /// `min`.
        min: Option<u32>,
        /// `max`.
        max: Option<u32>,
    },
}

/// One `track` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackOut {
    /// `{check: NAME, weight: W}`.
    Check {
        /// The check's twinstar name.
        name: String,
        /// The weight.
        weight: i32,
    },
    /// `{interface: NAME, weight: W}`, inline.
    Interface {
        /// The interface.
        name: String,
        /// The weight.
        weight: i32,
    },
}

/// One virtual IP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipOut {
    /// Address with prefix length.
    pub address: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// The interface, when not the instance's.
    pub interface: Option<String>,
}

/// `garp` of an instance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GarpOut {
    /// `count`.
    pub count: Option<u32>,
    /// `interval`.
    pub interval: Option<Duration>,
    /// `refresh`.
    pub refresh: Option<Duration>,
}

impl GarpOut {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == GarpOut::default()
    }
}

/// One instance.
#[derive(Clone, Debug)]
pub struct InstanceOut {
    /// Where its `vrrp_instance` is.
    pub from: Location,
    /// What it comes from (`vrrp_instance VI_1`, or a note on a split).
    pub what: String,
    /// `name`.
    pub name: String,
    /// `interface`.
    pub interface: String,
    /// `vrid`.
    pub vrid: u8,
    /// `priority`.
    pub priority: Option<u8>,
    /// `advert_interval`.
    pub advert_interval: Option<Duration>,
    /// `preempt`.
    pub preempt: Option<bool>,
    /// `preempt_delay`.
    pub preempt_delay: Option<Duration>,
    /// `accept`.
    pub accept: Option<bool>,
    /// `version`, with the reason as a comment.
    pub version: Option<(&'static str, &'static str)>,
    /// `virtual_ips`.
    pub virtual_ips: Vec<VipOut>,
    /// `unicast_peers`.
    pub unicast_peers: Vec<IpAddr>,
    /// `unicast_source`.
    pub unicast_source: Option<IpAddr>,
    /// `vmac`: `true` or a name.
    pub vmac: Option<String>,
    /// `garp`.
    pub garp: GarpOut,
    /// `track`.
    pub track: Vec<TrackOut>,
    /// `hooks`: key and command.
    pub hooks: Vec<(&'static str, CommandOut)>,
}

/// One sync group.
#[derive(Debug)]
pub struct GroupOut {
    /// Where it comes from.
    pub from: Location,
    /// What it comes from.
    pub what: String,
    /// `name`.
    pub name: String,
    /// `instances`.
    pub instances: Vec<String>,
    /// `hooks`.
    pub hooks: Vec<(&'static str, CommandOut)>,
}
