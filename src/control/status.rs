//! The status document, typed: what the agent writes to
//! `<runtime-dir>/status.json`, answers to `{"verb":"status"}`, renders as
//! metrics and shows as the `twinstar status` table.
//!
//! One set of types for the writer (the daemon) and every reader (the CLI, the
//! metrics collector) means a renamed or retyped field is a compile error
//! rather than a silently missing metric or a `-` in the table. The JSON keys
//! are the field names; the form of each value is that of its serde
//! implementation (states as their lower-case names, addresses as text).
//!
//! Readers ignore fields they do not know, so an older CLI reads a newer
//! agent's document. A field added later should carry `#[serde(default)]`
//! so that a newer CLI still reads an older agent's document (an upgrade
//! replaces the binary before the agent restarts).

mod pretty;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::vrrp::State;

/// The whole status document: one agent's instances, checks, sync groups and
/// dropped packets at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The agent's process ID, to tell a restarted agent from the old one.
    pub pid: u32,
    /// Every configured instance, in configuration order.
    pub instances: Vec<InstanceStatus>,
    /// Every configured check, by name.
    pub checks: Vec<CheckStatus>,
    /// Every sync group, in configuration order.
    pub sync_groups: Vec<GroupStatus>,
    /// Received VRRP packets dropped before reaching an instance:
    /// interface → reason → count.
    pub dropped: BTreeMap<String, BTreeMap<String, u64>>,
    /// The quorum key of every unit (instance outside sync groups, or sync
    /// group), when `quorum` is configured; empty (and left out of the
    /// document) otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quorum: Vec<QuorumStatus>,
}

/// One unit's quorum key on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumStatus {
    /// The etcd key.
    pub key: String,
    /// `held` (ours), `held-by-other`, `waiting` (being acquired),
    /// `unreachable` (etcd could not be reached) or `off` (not asked for).
    pub state: String,
    /// The node that holds the key when it is not ours, as last reported.
    pub holder: Option<String>,
    /// While held: how long this node may still serve without a renewal.
    pub valid_for_ms: Option<u64>,
    /// How long the last lease renewal took.
    pub last_renewal_latency_ms: Option<u64>,
    /// Requests for mastership denied because another node held the key.
    pub denied: u64,
    /// Times a Master stopped serving because its lease lapsed or was lost.
    pub lost: u64,
    /// Times etcd could not be reached.
    pub unreachable: u64,
}

impl Status {
    /// The document as pretty-printed JSON, as `status.json` holds it and
    /// `twinstar status --json` prints it.
    ///
    /// The keys of every object come out in alphabetical order, as they always
    /// have (the document used to be a `serde_json::Value`, whose maps sort
    /// their keys), so the text does not depend on the order of the fields.
    pub fn to_json_pretty(&self) -> serde_json::Result<String> {
        pretty::to_json_pretty(self)
    }

    /// The text of [`to_json_pretty`](Self::to_json_pretty), written to
    /// `out` as it is made.
    pub fn write_json_pretty(&self, out: impl std::io::Write) -> serde_json::Result<()> {
        pretty::write_json_pretty(self, out)
    }

    /// The same text for this document with `instances` in place of its
    /// own (which are ignored), each written as the iterator yields it: a
    /// writer builds one instance's status at a time.
    pub fn write_json_pretty_with<I>(
        &self,
        instances: I,
        out: impl std::io::Write,
    ) -> serde_json::Result<()>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        pretty::write_json_pretty_with(self, instances, out)
    }
}

/// One virtual router as this agent sees it: state, priorities and why,
/// the Master heard on the wire, timers, virtual IPs and counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
///
/// Fields in alphabetical order: the status file's keys are sorted, and
/// it is written straight from the struct (`control::status::pretty`).
pub struct InstanceStatus {
    /// Where its adverts go: the group, or each unicast peer.
    #[serde(default)]
    pub advert_destinations: Vec<IpAddr>,
    /// The configured advertisement interval.
    pub advert_interval_ms: u64,
    /// The configured priority.
    pub base_priority: u8,
    /// Protocol counters since the agent started.
    pub counters: InstanceCounters,
    /// Why the instance is in Fault, one entry per cause; empty otherwise.
    pub fault_reasons: Vec<String>,
    /// The heartbeat links, in configured order (absent without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heartbeat: Vec<HeartbeatStatus>,
    /// The interface it runs on.
    pub interface: String,
    /// The outcome of the last `switchover` or `maintenance on` that made
    /// this instance resign (`kind`, `outcome`, `new_master`, `elapsed_ms`);
    /// null when there was none since the agent started.
    #[serde(default)]
    pub last_handover: Option<crate::agent::HandoverRecord>,
    /// The other router last heard on this VRID, if any.
    pub last_peer: Option<PeerStatus>,
    /// Whether maintenance mode keeps the instance Backup.
    pub maintenance: bool,
    /// The Master as last heard (this host itself while Master), if any.
    pub master: Option<MasterStatus>,
    /// The interval learned from the Master's advertisements.
    pub master_adver_interval_ms: u64,
    /// How its adverts travel: to the VRRP group, or to unicast peers.
    #[serde(default)]
    pub mode: AdvertMode,
    /// The instance's configured name.
    pub name: String,
    /// The effective priority, after tracking and sync groups.
    pub priority: u8,
    /// Why `priority` differs from `base_priority`, one entry per cause.
    pub priority_reasons: Vec<String>,
    /// Time since the last state transition; `None` before the first.
    pub since_transition_ms: Option<u64>,
    /// The address its advertisements are sent from (`unicast_source`
    /// when set).
    pub source: IpAddr,
    /// Its VRRP state.
    pub state: State,
    /// Whether a switchover keeps this host from preempting for now.
    pub switchover_hold: bool,
    /// The checks the instance tracks, as configured.
    pub track: Vec<TrackStatus>,
    /// The virtual IPs and whether each is on the interface.
    pub virtual_ips: Vec<VipStatus>,
    /// Its virtual router ID.
    pub vrid: u8,
    /// The VRRP versions it speaks, as configured: `3`, `2` or `both`.
    #[serde(default = "default_vrrp_version")]
    pub vrrp_version: String,
    /// While a Backup waits for permission to become Master (quorum key,
    /// fence hook): why it asked, such as `master-silent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for_mastership: Option<String>,
}

/// What a status document from an agent without versions spoke: VRRPv3.
fn default_vrrp_version() -> String {
    "3".to_owned()
}

/// How an instance's adverts travel: `multicast` (to 224.0.0.18 / ff02::12,
/// RFC 9568 §5.1) or `unicast` (to each of `unicast_peers`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvertMode {
    /// To the VRRP group.
    #[default]
    Multicast,
    /// To each unicast peer.
    Unicast,
}

impl AdvertMode {
    /// The word status shows.
    pub fn as_str(self) -> &'static str {
        match self {
            AdvertMode::Multicast => "multicast",
            AdvertMode::Unicast => "unicast",
        }
    }
}

/// One heartbeat link of an instance: whether it is usable and when an
/// advert was last heard on it, so a dead link shows before it matters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
///
/// Fields in alphabetical order: the status file's keys are sorted, and
/// it is written straight from the struct (`control::status::pretty`).
pub struct HeartbeatStatus {
    /// Adverts accepted on it.
    pub adverts_received: u64,
    /// Whether it is up with carrier.
    pub carrier: bool,
    /// The interface.
    pub interface: String,
    /// How long ago another router's advert was last accepted on it.
    pub last_advert_ms_ago: Option<u64>,
    /// Adverts that could not be sent on it.
    pub send_errors: u64,
    /// Our address on it, the source of our adverts there; absent while the
    /// link is missing or has no address of the instance's family.
    pub source: Option<IpAddr>,
}

/// One tracked check of an instance and what it does to the priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
///
/// Fields in alphabetical order: the status file's keys are sorted, and
/// it is written straight from the struct (`control::status::pretty`).
pub struct TrackStatus {
    /// The check's name.
    pub check: String,
    /// Added to the priority while the check is down (0: Fault instead), as
    /// configured.
    pub weight: i32,
}

/// The Master of a virtual router, as heard in its advertisements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
///
/// Fields in alphabetical order: the status file's keys are sorted, and
/// it is written straight from the struct (`control::status::pretty`).
pub struct MasterStatus {
    /// Its primary address (the advertisements' source).
    pub address: IpAddr,
    /// The priority it advertises.
    pub priority: u8,
}

/// The other router last heard on a VRID, so an operator can see that a
/// switchover has somewhere to go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
///
/// Fields in alphabetical order: the status file's keys are sorted, and
/// it is written straight from the struct (`control::status::pretty`).
pub struct PeerStatus {
    /// Its address.
    pub address: IpAddr,
    /// How long ago it was last heard.
    pub seen_ms_ago: u64,
}

/// One virtual IP of an instance and whether it is on the interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
///
/// Fields in alphabetical order: the status file's keys are sorted, and
/// it is written straight from the struct (`control::status::pretty`).
pub struct VipStatus {
    /// The address with its prefix length, as configured, e.g. `192.0.2.50/24`.
    pub address: String,
    /// The interface it lives on, when not the instance's advert interface
    /// (a dedicated heartbeat network); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Whether the address is on its interface on this host.
    pub present: bool,
}

/// An instance's protocol counters, named after the VRRPv3 MIB (RFC 6527).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
///
/// Fields in alphabetical order: the status file's keys are sorted, and
/// it is written straight from the struct (`control::status::pretty`).
pub struct InstanceCounters {
    /// Virtual IPs put back after they vanished while Master, or taken off
    /// after they appeared while not Master, behind the agent's back.
    #[serde(default)]
    pub address_repairs: u64,
    /// Advertisements received and accepted.
    pub adverts_received: u64,
    /// Advertisements sent, priority 0 ones included.
    pub adverts_sent: u64,
    /// Answers a Master withheld because it had answered another router's
    /// advert less than one advert interval before: a sign of a flood.
    #[serde(default)]
    pub answers_withheld: u64,
    /// Fence hook runs that failed or timed out (the Backup stayed Backup).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fence_failures: u64,
    /// Advertisements accepted whose interval differs from the configured one.
    pub interval_mismatches: u64,
    /// Times the instance became Master.
    pub master_transitions: u64,
    /// Priority-0 advertisements (a Master resigning) received.
    pub priority_zero_received: u64,
    /// Priority-0 advertisements (this host resigning) sent.
    pub priority_zero_sent: u64,
    /// Advertisements the instance failed to send.
    pub send_errors: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One check: what it looks at and its latest result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStatus {
    /// The check's name.
    pub name: String,
    /// Its kind, as the configuration key: `script`, `file`, `interface`, ...
    pub kind: String,
    /// What it looks at: a command, path, interface, address or URL.
    pub target: String,
    /// Whether it passes; `None` before its first result.
    pub up: Option<bool>,
    /// A file check's number; 0 for other kinds.
    pub value: i64,
    /// A short description of the last result.
    pub detail: String,
    /// The last non-empty output line of a script, if any.
    pub last_output: Option<String>,
    /// Time since `up` (or a file's value) last changed; `None` before the
    /// first result.
    pub since_change_ms: Option<u64>,
}

/// One sync group: its members and the state they share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStatus {
    /// The group's name.
    pub name: String,
    /// Master when all members are, Fault when any is, Backup otherwise.
    pub state: State,
    /// The member instances, as configured.
    pub instances: Vec<String>,
}

/// Sample documents shared by the tests of the readers.
#[cfg(test)]
pub(crate) mod samples {
    use super::*;

    /// An instance with only `name` and `state` of interest: no VIPs, no
    /// Master heard, no transition yet, zero counters.
    pub(crate) fn instance(name: &str, state: State) -> InstanceStatus {
        InstanceStatus {
            name: name.into(),
            interface: "eth0".into(),
            vrid: 51,
            state,
            priority: 100,
            base_priority: 100,
            priority_reasons: Vec::new(),
            fault_reasons: Vec::new(),
            track: Vec::new(),
            source: IpAddr::from([192, 0, 2, 1]),
            mode: AdvertMode::Multicast,
            advert_destinations: vec![IpAddr::from([224, 0, 0, 18])],
            vrrp_version: "3".to_owned(),
            master: None,
            advert_interval_ms: 1000,
            master_adver_interval_ms: 1000,
            since_transition_ms: None,
            maintenance: false,
            switchover_hold: false,
            last_peer: None,
            virtual_ips: Vec::new(),
            counters: InstanceCounters::default(),
            heartbeat: Vec::new(),
            last_handover: None,
            waiting_for_mastership: None,
        }
    }

    /// A Master (`web`, one tracked script down, one of two VIPs on) and a
    /// Backup in maintenance (`api`, IPv6, learned interval differs); a check
    /// that is down and one without a result yet; a sync group of both; and
    /// drops on `api`'s interface.
    pub(crate) fn sample() -> Status {
        Status {
            pid: 4242,
            instances: vec![
                InstanceStatus {
                    name: "web".into(),
                    interface: "eth0".into(),
                    vrid: 51,
                    state: State::Master,
                    priority: 90,
                    base_priority: 150,
                    priority_reasons: vec!["web/script down (-60)".into()],
                    fault_reasons: Vec::new(),
                    track: vec![TrackStatus {
                        check: "web/script".into(),
                        weight: -60,
                    }],
                    source: IpAddr::from([192, 0, 2, 1]),
                    mode: AdvertMode::Multicast,
                    advert_destinations: vec![IpAddr::from([224, 0, 0, 18])],
                    vrrp_version: "3".to_owned(),
                    master: Some(MasterStatus {
                        address: IpAddr::from([192, 0, 2, 1]),
                        priority: 90,
                    }),
                    advert_interval_ms: 100,
                    master_adver_interval_ms: 100,
                    since_transition_ms: Some(12_345),
                    maintenance: false,
                    switchover_hold: false,
                    last_peer: Some(PeerStatus {
                        address: IpAddr::from([192, 0, 2, 2]),
                        seen_ms_ago: 40,
                    }),
                    virtual_ips: vec![
                        VipStatus {
                            address: "192.0.2.50/24".into(),
                            present: true,
                            interface: None,
                        },
                        VipStatus {
                            address: "192.0.2.51/24".into(),
                            present: false,
                            interface: Some("eth0".into()),
                        },
                    ],
                    counters: InstanceCounters {
                        adverts_received: 3,
                        adverts_sent: 1200,
                        priority_zero_received: 0,
                        priority_zero_sent: 1,
                        interval_mismatches: 2,
                        master_transitions: 4,
                        send_errors: 5,
                        address_repairs: 6,
                        answers_withheld: 9,
                        fence_failures: 0,
                    },
                    heartbeat: Vec::new(),
                    last_handover: None,
                    waiting_for_mastership: None,
                },
                InstanceStatus {
                    name: "api".into(),
                    interface: "eth1".into(),
                    vrid: 52,
                    state: State::Backup,
                    priority: 100,
                    base_priority: 100,
                    priority_reasons: Vec::new(),
                    fault_reasons: Vec::new(),
                    track: Vec::new(),
                    source: "fe80::2".parse().unwrap(),
                    mode: AdvertMode::Unicast,
                    advert_destinations: vec!["fe80::1".parse().unwrap()],
                    vrrp_version: "both".to_owned(),
                    master: Some(MasterStatus {
                        address: "fe80::1".parse().unwrap(),
                        priority: 200,
                    }),
                    advert_interval_ms: 100,
                    master_adver_interval_ms: 1000,
                    since_transition_ms: Some(245_000),
                    maintenance: true,
                    switchover_hold: false,
                    last_peer: None,
                    virtual_ips: vec![VipStatus {
                        address: "2001:db8::50/64".into(),
                        present: false,
                        interface: None,
                    }],
                    counters: InstanceCounters {
                        adverts_received: 880,
                        priority_zero_received: 1,
                        ..InstanceCounters::default()
                    },
                    heartbeat: Vec::new(),
                    last_handover: Some(crate::agent::HandoverRecord {
                        kind: crate::agent::HandoverKind::Maintenance,
                        outcome: crate::agent::HandoverOutcome::Confirmed,
                        new_master: Some("fe80::1".parse().unwrap()),
                        elapsed_ms: 240,
                    }),
                    waiting_for_mastership: None,
                },
            ],
            checks: vec![
                CheckStatus {
                    name: "web/script".into(),
                    kind: "script".into(),
                    target: "/usr/local/bin/check-web".into(),
                    up: Some(false),
                    value: 0,
                    detail: "exit status 2".into(),
                    last_output: Some("starting\nbackend timeout\n".into()),
                    since_change_ms: Some(7_800_000),
                },
                CheckStatus {
                    name: "uplink".into(),
                    kind: "interface".into(),
                    target: "eth2".into(),
                    up: None,
                    value: 0,
                    detail: "no result yet".into(),
                    last_output: None,
                    since_change_ms: None,
                },
            ],
            sync_groups: vec![GroupStatus {
                name: "edge".into(),
                state: State::Master,
                instances: vec!["web".into(), "api".into()],
            }],
            dropped: BTreeMap::from([(
                "eth1".into(),
                BTreeMap::from([("bad-ttl".into(), 2), ("wrong-vrid".into(), 5)]),
            )]),
            quorum: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::samples::sample;
    use super::*;

    /// The JSON form of `sample()`, written out as the daemon wrote the
    /// document before it was typed.
    fn sample_json() -> Value {
        json!({
            "pid": 4242,
            "instances": [
                {
                    "name": "web", "interface": "eth0", "vrid": 51, "state": "master",
                    "priority": 90, "base_priority": 150,
                    "priority_reasons": ["web/script down (-60)"], "fault_reasons": [],
                    "track": [{"check": "web/script", "weight": -60}],
                    "source": "192.0.2.1",
                    "mode": "multicast", "advert_destinations": ["224.0.0.18"], "vrrp_version": "3",
                    "master": {"address": "192.0.2.1", "priority": 90},
                    "advert_interval_ms": 100, "master_adver_interval_ms": 100,
                    "since_transition_ms": 12_345,
                    "maintenance": false, "switchover_hold": false,
                    "last_peer": {"address": "192.0.2.2", "seen_ms_ago": 40},
                    "virtual_ips": [
                        {"address": "192.0.2.50/24", "present": true},
                        {"address": "192.0.2.51/24", "present": false, "interface": "eth0"},
                    ],
                    "counters": {
                        "adverts_received": 3, "adverts_sent": 1200,
                        "priority_zero_received": 0, "priority_zero_sent": 1,
                        "interval_mismatches": 2, "master_transitions": 4,
                        "send_errors": 5, "address_repairs": 6, "answers_withheld": 9,
                    },
                    "last_handover": null,
                },
                {
                    "name": "api", "interface": "eth1", "vrid": 52, "state": "backup",
                    "priority": 100, "base_priority": 100,
                    "priority_reasons": [], "fault_reasons": [], "track": [],
                    "source": "fe80::2",
                    "mode": "unicast", "advert_destinations": ["fe80::1"], "vrrp_version": "both",
                    "master": {"address": "fe80::1", "priority": 200},
                    "advert_interval_ms": 100, "master_adver_interval_ms": 1000,
                    "since_transition_ms": 245_000,
                    "maintenance": true, "switchover_hold": false, "last_peer": null,
                    "virtual_ips": [{"address": "2001:db8::50/64", "present": false}],
                    "counters": {
                        "adverts_received": 880, "adverts_sent": 0,
                        "priority_zero_received": 1, "priority_zero_sent": 0,
                        "interval_mismatches": 0, "master_transitions": 0,
                        "send_errors": 0, "address_repairs": 0, "answers_withheld": 0,
                    },
                    "last_handover": {
                        "kind": "maintenance", "outcome": "confirmed",
                        "new_master": "fe80::1", "elapsed_ms": 240,
                    },
                },
            ],
            "checks": [
                {"name": "web/script", "kind": "script", "target": "/usr/local/bin/check-web",
                 "up": false, "value": 0, "detail": "exit status 2",
                 "last_output": "starting\nbackend timeout\n", "since_change_ms": 7_800_000},
                {"name": "uplink", "kind": "interface", "target": "eth2", "up": null,
                 "value": 0, "detail": "no result yet", "last_output": null,
                 "since_change_ms": null},
            ],
            "sync_groups": [{"name": "edge", "state": "master", "instances": ["web", "api"]}],
            "dropped": {"eth1": {"bad-ttl": 2, "wrong-vrid": 5}},
        })
    }

    #[test]
    fn the_document_has_the_keys_and_value_forms_of_the_untyped_one() {
        assert_eq!(serde_json::to_value(sample()).unwrap(), sample_json());
        let parsed: Status = serde_json::from_value(sample_json()).unwrap();
        assert_eq!(parsed, sample());
    }

    #[test]
    fn pretty_text_is_the_untyped_documents_text() {
        let text = sample().to_json_pretty().unwrap();
        assert_eq!(text, serde_json::to_string_pretty(&sample_json()).unwrap());
        assert!(text.starts_with("{\n  \"checks\": [\n"), "{text}");
        let parsed: Status = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, sample());
    }

    #[test]
    fn fields_a_newer_agent_adds_are_ignored() {
        let mut newer = sample_json();
        newer["uptime_ms"] = json!(5);
        newer["instances"][0]["colour"] = json!("green");
        let parsed: Status = serde_json::from_value(newer).unwrap();
        assert_eq!(parsed, sample());
    }

    /// Every key of the document, at any depth (but not the interface and
    /// reason names under `dropped`, which are data).
    fn keys(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    out.push(key.clone());
                    if key != "dropped" {
                        keys(inner, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| keys(i, out)),
            _ => {}
        }
    }

    #[test]
    fn the_protocol_documentation_names_every_key() {
        let doc: String = include_str!("protocol.rs")
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut all = Vec::new();
        keys(&sample_json(), &mut all);
        for key in all {
            assert!(
                doc.contains(&format!("`{key}`")),
                "the module documentation of control/protocol.rs does not name `{key}`"
            );
        }
    }
}
