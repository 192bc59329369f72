//! TEMPORARY STUB (replaced by the typed status from the status branch).
use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::vrrp::State;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub instances: Vec<InstanceStatus>,
    pub checks: Vec<CheckStatus>,
    pub sync_groups: Vec<GroupStatus>,
    pub dropped: BTreeMap<String, BTreeMap<String, u64>>,
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub state: State,
    pub priority: u8,
    pub base_priority: u8,
    pub priority_reasons: Vec<String>,
    pub fault_reasons: Vec<String>,
    pub track: Vec<TrackStatus>,
    pub source: IpAddr,
    pub master: Option<MasterStatus>,
    pub advert_interval_ms: u64,
    pub master_adver_interval_ms: u64,
    pub since_transition_ms: Option<u64>,
    pub maintenance: bool,
    pub switchover_hold: bool,
    pub last_peer: Option<PeerStatus>,
    pub virtual_ips: Vec<VipStatus>,
    pub counters: InstanceCounters,
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackStatus {
    pub check: String,
    pub weight: i32,
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterStatus {
    pub address: IpAddr,
    pub priority: u8,
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub address: IpAddr,
    pub seen_ms_ago: u64,
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VipStatus {
    pub address: String,
    pub present: bool,
}
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceCounters {
    pub adverts_received: u64,
    pub adverts_sent: u64,
    pub priority_zero_received: u64,
    pub priority_zero_sent: u64,
    pub interval_mismatches: u64,
    pub master_transitions: u64,
    pub send_errors: u64,
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckStatus {
    pub name: String,
    pub kind: String,
    pub target: String,
    pub up: Option<bool>,
    pub value: i64,
    pub detail: String,
    pub last_output: Option<String>,
    pub since_change_ms: Option<u64>,
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStatus {
    pub name: String,
    pub state: State,
    pub instances: Vec<String>,
}
