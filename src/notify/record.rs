//! The records of the event stream: one JSON object per line, with `time`
//! (RFC 3339 UTC, milliseconds) and `type` (`transition`, `priority`,
//! `check`, `hook`, `group`, `address`, `handover` or `quorum`) beside the fields
//! of the record.
//!
//! Typed so that the daemon cannot emit a misspelt field, and so that a
//! reader can parse a line with [`serde_json::from_str::<EventRecord>`]
//! (`time` is ignored there). [`EventRecord::to_line`] writes a line.
//! Keys come out in alphabetical order, as they always have (the lines used to
//! be built as `serde_json::Value` maps, which sort their keys).

use serde::{Deserialize, Serialize};

use crate::vrrp::{State, TransitionReason};

/// One event of the stream; the variant is the line's `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventRecord {
    /// An instance changed state.
    Transition(TransitionEvent),
    /// An instance's effective priority changed.
    Priority(PriorityEvent),
    /// A check's result (up/down or a file's value) changed.
    Check(CheckEvent),
    /// A hook ran, or was skipped.
    Hook(HookEvent),
    /// A sync group's state changed.
    Group(GroupEvent),
    /// A virtual IP changed behind the agent's back, and was repaired.
    Address(AddressEvent),
    /// An operator's switchover or maintenance handover has its outcome.
    Handover(HandoverEvent),
    /// A unit's quorum key changed state on this node.
    Quorum(QuorumEvent),
}

/// `type: quorum`: the quorum key of a unit (instance or sync group)
/// changed state on this node: taken, lost, held by another node, etcd
/// unreachable, given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumEvent {
    /// The etcd key.
    pub key: String,
    /// The state left: `off`, `waiting`, `held`, `held-by-other` or `unreachable`.
    pub from: String,
    /// The state entered.
    pub to: String,
    /// The node holding the key, when another one does.
    pub holder: Option<String>,
}

impl EventRecord {
    /// The event as one line of the stream (without the newline), stamped with
    /// `time`, keys in alphabetical order.
    pub fn to_line(&self, time: &str) -> serde_json::Result<String> {
        let line = Line { time, event: self };
        // Through a Value, whose maps sort their keys: the order of the lines
        // since the first release.
        Ok(serde_json::to_value(line)?.to_string())
    }
}

/// A line of the stream: the time, then the record's `type` and fields.
#[derive(Serialize)]
struct Line<'a> {
    time: &'a str,
    #[serde(flatten)]
    event: &'a EventRecord,
}

/// `type: transition`: an instance changed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionEvent {
    /// The instance.
    pub instance: String,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why.
    pub reason: TransitionReason,
    /// The instance's effective priority at the transition.
    pub priority: u8,
}

/// `type: priority`: an instance's effective priority changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityEvent {
    /// The instance.
    pub instance: String,
    /// The new effective priority.
    pub priority: u8,
    /// The configured priority.
    pub base_priority: u8,
    /// Why the two differ, one entry per cause.
    pub reasons: Vec<String>,
}

/// `type: check`: a check's result changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckEvent {
    /// The check's name.
    pub check: String,
    /// Whether it passes now.
    pub up: bool,
    /// A file check's number; 0 for other kinds.
    pub value: i64,
    /// A short description of the result.
    pub detail: String,
    /// The last non-empty output line of a script, if any.
    pub output: Option<String>,
}

/// `type: hook`: a hook ran (or was skipped because the addresses never came
/// on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookEvent {
    /// The instance or sync group whose hook it is.
    pub name: String,
    /// Whether `name` is a sync group.
    pub group: bool,
    /// Which hook.
    pub hook: HookKind,
    /// The state entered.
    pub state: State,
    /// The state left.
    pub old_state: State,
    /// How it ended (`exit status 0`, `timed out`, ...), or `skipped`.
    pub result: String,
    /// Whether it succeeded; false when skipped.
    pub success: bool,
    /// How long it ran; `None` when skipped.
    pub duration_ms: Option<u64>,
    /// Its last non-empty output line, if any.
    pub output: Option<String>,
}

/// `type: handover`: the outcome of a `switchover` or `maintenance on` of an
/// instance that was Master: its new Master heard, or nobody took over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverEvent {
    /// The instance.
    pub instance: String,
    /// `switchover` or `maintenance`.
    pub kind: crate::agent::HandoverKind,
    /// `confirmed`, `stayed_master`, `released`, `partial` or `interrupted`.
    pub outcome: crate::agent::HandoverOutcome,
    /// The new Master's address, when it was heard.
    pub new_master: Option<std::net::IpAddr>,
    /// From the priority-0 advert to the new Master's first advert, or to the
    /// outcome when none was heard.
    pub elapsed_ms: u64,
}

/// `type: group`: a sync group's state changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEvent {
    /// The group.
    pub group: String,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
}

/// `type: address`: a virtual IP vanished from the Master's interface, or
/// appeared on a host that is not Master, behind the agent's back (an admin,
/// another tool), and the agent put it back or took it off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressEvent {
    /// The instance.
    pub instance: String,
    /// The virtual IP with its prefix length, as configured.
    pub address: String,
    /// What the agent did.
    pub action: AddressRepair,
    /// The instance's repairs so far, this one included.
    pub repairs: u64,
}

/// What the agent did about a virtual IP changed behind its back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressRepair {
    /// `restored`: it had vanished while Master; it was added again.
    Restored,
    /// `removed`: it had appeared while not Master; it was removed.
    Removed,
}

/// Which hook ran; its name is the config key, in logs, events and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    /// `before_master`
    BeforeMaster,
    /// `after_backup`
    AfterBackup,
    /// `on_master`
    OnMaster,
    /// `on_backup`
    OnBackup,
    /// `on_fault`
    OnFault,
    /// `on_stop`
    OnStop,
    /// `on_change`
    OnChange,
    /// `fence`
    Fence,
}

impl HookKind {
    /// The config key, as used in logs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::BeforeMaster => "before_master",
            HookKind::AfterBackup => "after_backup",
            HookKind::OnMaster => "on_master",
            HookKind::OnBackup => "on_backup",
            HookKind::OnFault => "on_fault",
            HookKind::OnStop => "on_stop",
            HookKind::OnChange => "on_change",
            HookKind::Fence => "fence",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIME: &str = "2026-11-25T01:02:03.456Z";

    /// One record of each kind and its line, exactly.
    fn examples() -> Vec<(EventRecord, &'static str)> {
        vec![
            (
                EventRecord::Quorum(QuorumEvent {
                    key: "/p/instance/web".into(),
                    from: "waiting".into(),
                    to: "held-by-other".into(),
                    holder: Some("b".into()),
                }),
                r#"{"from":"waiting","holder":"b","key":"/p/instance/web","time":"2026-11-25T01:02:03.456Z","to":"held-by-other","type":"quorum"}"#,
            ),
            (
                EventRecord::Transition(TransitionEvent {
                    instance: "web".into(),
                    from: State::Backup,
                    to: State::Master,
                    reason: TransitionReason::MasterDownTimerExpired,
                    priority: 150,
                }),
                r#"{"from":"backup","instance":"web","priority":150,"reason":"master-down-timer-expired","time":"2026-11-25T01:02:03.456Z","to":"master","type":"transition"}"#,
            ),
            (
                EventRecord::Priority(PriorityEvent {
                    instance: "web".into(),
                    priority: 90,
                    base_priority: 150,
                    reasons: vec!["web/script down (-60)".into()],
                }),
                r#"{"base_priority":150,"instance":"web","priority":90,"reasons":["web/script down (-60)"],"time":"2026-11-25T01:02:03.456Z","type":"priority"}"#,
            ),
            (
                EventRecord::Check(CheckEvent {
                    check: "web/script".into(),
                    up: false,
                    value: 0,
                    detail: "exit status 2 after 12 ms".into(),
                    output: None,
                }),
                r#"{"check":"web/script","detail":"exit status 2 after 12 ms","output":null,"time":"2026-11-25T01:02:03.456Z","type":"check","up":false,"value":0}"#,
            ),
            (
                EventRecord::Hook(HookEvent {
                    name: "web".into(),
                    group: false,
                    hook: HookKind::OnMaster,
                    state: State::Master,
                    old_state: State::Backup,
                    result: "exit status 0".into(),
                    success: true,
                    duration_ms: Some(35),
                    output: Some("promoted".into()),
                }),
                r#"{"duration_ms":35,"group":false,"hook":"on_master","name":"web","old_state":"backup","output":"promoted","result":"exit status 0","state":"master","success":true,"time":"2026-11-25T01:02:03.456Z","type":"hook"}"#,
            ),
            (
                EventRecord::Group(GroupEvent {
                    group: "edge".into(),
                    from: State::Master,
                    to: State::Fault,
                }),
                r#"{"from":"master","group":"edge","time":"2026-11-25T01:02:03.456Z","to":"fault","type":"group"}"#,
            ),
        ]
    }

    #[test]
    fn each_record_is_one_line_of_the_documented_shape() {
        for (record, line) in examples() {
            assert_eq!(record.to_line(TIME).unwrap(), line);
        }
    }

    #[test]
    fn lines_and_records_round_trip() {
        for (record, line) in examples() {
            let parsed: EventRecord = serde_json::from_str(line).unwrap();
            assert_eq!(parsed, record);
            let text = serde_json::to_string(&record).unwrap();
            assert_eq!(serde_json::from_str::<EventRecord>(&text).unwrap(), record);
        }
    }

    #[test]
    fn the_readme_lists_the_fields_of_every_type() {
        let readme = include_str!("../../README.md");
        let start = readme.find("- **Events**").unwrap();
        let end = start + readme[start..].find("\n\n").unwrap();
        let text = readme[start..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for (record, _) in examples() {
            let serde_json::Value::Object(map) = serde_json::to_value(&record).unwrap() else {
                panic!("{record:?} is not an object");
            };
            let kind = map["type"].as_str().unwrap();
            let after = format!("`{kind}` (");
            let at = text
                .find(&after)
                .unwrap_or_else(|| panic!("README: no {after}"))
                + after.len();
            let listed = &text[at..at + text[at..].find(')').unwrap()];
            let mut listed: Vec<&str> = listed.split(", ").collect();
            listed.sort_unstable();
            let fields: Vec<&str> = map
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "type")
                .collect();
            assert_eq!(listed, fields, "README's fields of `{kind}` events");
        }
    }

    #[test]
    fn a_skipped_hook_has_nulls() {
        let record = EventRecord::Hook(HookEvent {
            name: "edge".into(),
            group: true,
            hook: HookKind::BeforeMaster,
            state: State::Master,
            old_state: State::Backup,
            result: "skipped".into(),
            success: false,
            duration_ms: None,
            output: None,
        });
        let line = record.to_line(TIME).unwrap();
        assert!(line.contains(r#""duration_ms":null"#), "{line}");
        assert!(line.contains(r#""hook":"before_master""#), "{line}");
        assert_eq!(serde_json::from_str::<EventRecord>(&line).unwrap(), record);
    }

    #[test]
    fn hook_kinds_serialise_as_their_names() {
        use HookKind::*;
        let all = [
            BeforeMaster,
            AfterBackup,
            OnMaster,
            OnBackup,
            OnFault,
            OnStop,
            OnChange,
            Fence,
        ];
        // Stops compiling when a kind is added, as a reminder to list it.
        for kind in all {
            match kind {
                BeforeMaster | AfterBackup | OnMaster | OnBackup | OnFault | OnStop | OnChange
                | Fence => {}
            }
        }
        for kind in all {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert_eq!(serde_json::from_value::<HookKind>(json).unwrap(), kind);
        }
    }
}
