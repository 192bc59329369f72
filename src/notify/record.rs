//! TEMPORARY STUB (replaced by the typed events from the status branch).
use serde::{Deserialize, Serialize};

use crate::vrrp::{State, TransitionReason};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventRecord {
    Transition(TransitionEvent),
    Priority(PriorityEvent),
    Check(CheckEvent),
    Hook(HookEvent),
    Group(GroupEvent),
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionEvent {
    pub instance: String,
    pub from: State,
    pub to: State,
    pub reason: TransitionReason,
    pub priority: u8,
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorityEvent {
    pub instance: String,
    pub priority: u8,
    pub base_priority: u8,
    pub reasons: Vec<String>,
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckEvent {
    pub check: String,
    pub up: bool,
    pub value: i64,
    pub detail: String,
    pub output: Option<String>,
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookEvent {
    pub name: String,
    pub group: bool,
    pub hook: HookKind,
    pub state: State,
    pub old_state: State,
    pub result: String,
    pub success: bool,
    pub duration_ms: Option<u64>,
    pub output: Option<String>,
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupEvent {
    pub group: String,
    pub from: State,
    pub to: State,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    BeforeMaster,
    AfterBackup,
    OnMaster,
    OnBackup,
    OnFault,
    OnStop,
    OnChange,
}
impl HookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::BeforeMaster => "before_master",
            HookKind::AfterBackup => "after_backup",
            HookKind::OnMaster => "on_master",
            HookKind::OnBackup => "on_backup",
            HookKind::OnFault => "on_fault",
            HookKind::OnStop => "on_stop",
            HookKind::OnChange => "on_change",
        }
    }
}
