//! The status document as pretty JSON text, keys in alphabetical order,
//! without holding the whole document as a `serde_json::Value`.
//!
//! A `Value` tree of a thousand instances is some 5 MiB of small maps
//! (heaptrack), built once a second for the status file: only one
//! instance's tree is alive at a time here, and the text is the same.

use std::cell::Cell;

use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::Status;

/// The text of `status`, exactly as `to_string_pretty(&to_value(status))`.
pub fn to_json_pretty(status: &Status) -> serde_json::Result<String> {
    let mut text = Vec::new();
    write_json_pretty(status, &mut text)?;
    String::from_utf8(text).map_err(serde_json::Error::custom)
}

/// Writes the text of [`to_json_pretty`] to `out` as it is made, so that a
/// writer need not hold the whole document (some 1 MiB at a thousand
/// instances) in memory.
pub fn write_json_pretty(status: &Status, out: impl std::io::Write) -> serde_json::Result<()> {
    write_json_pretty_with(status, status.instances.iter(), out)
}

/// Writes the text of a document whose instances come one by one from
/// `instances` (those of `rest` are ignored), so that a writer can build
/// each instance's status only to write it: at a thousand instances the
/// whole list is some 0.9 MB in about 8,000 small blocks, and built once a
/// second it kept as much of the heap resident between the blocks that
/// live on.
pub fn write_json_pretty_with<I>(
    rest: &Status,
    instances: I,
    out: impl std::io::Write,
) -> serde_json::Result<()>
where
    I: IntoIterator,
    I::Item: Serialize,
{
    // Everything but the instances, as a sorted map; the instances are
    // written in their place one by one. A field added to `Status` must be
    // named here (the literal lists them all), so none can go missing.
    let rest = Status {
        pid: rest.pid,
        instances: Vec::new(),
        checks: rest.checks.clone(),
        sync_groups: rest.sync_groups.clone(),
        dropped: rest.dropped.clone(),
        quorum: rest.quorum.clone(),
    };
    let Value::Object(rest) = serde_json::to_value(&rest)? else {
        return Err(serde_json::Error::custom("the status is not a JSON object"));
    };
    let instances = EachInTurn(Cell::new(Some(instances.into_iter())));
    let mut serializer = serde_json::Serializer::pretty(out);
    let mut map = serializer.serialize_map(Some(rest.len()))?;
    for (key, value) in &rest {
        if key == "instances" {
            map.serialize_entry(key, &instances)?;
        } else {
            map.serialize_entry(key, value)?;
        }
    }
    map.end()
}

/// The instances, written straight from their structs as the iterator
/// yields them: `InstanceStatus` and every struct in it declare their
/// fields in alphabetical order, so the keys come out sorted with no
/// `Value` tree (whose maps, built for a thousand instances once a second,
/// were a tenth of a large Backup's time). [`tests`] holds them to it.
/// Serialising takes the iterator, so it can be done once.
struct EachInTurn<I>(Cell<Option<I>>);

impl<I> Serialize for EachInTurn<I>
where
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.take() {
            Some(instances) => serializer.collect_seq(instances),
            None => Err(S::Error::custom("the instances were written already")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::agent::{HandoverKind, HandoverOutcome, HandoverRecord};
    use crate::control::status::{
        samples, HeartbeatStatus, InstanceStatus, MasterStatus, PeerStatus, TrackStatus, VipStatus,
    };
    use crate::vrrp::State;

    /// Every optional part present, every counter set.
    fn everything() -> InstanceStatus {
        let mut i = samples::instance("web", State::Master);
        let address = IpAddr::from([192, 0, 2, 2]);
        i.priority_reasons = vec!["check x".into()];
        i.fault_reasons = vec!["link".into()];
        i.track = vec![TrackStatus {
            check: "x".into(),
            weight: -10,
        }];
        i.master = Some(MasterStatus {
            address,
            priority: 200,
        });
        i.since_transition_ms = Some(5);
        i.last_peer = Some(PeerStatus {
            address,
            seen_ms_ago: 7,
        });
        i.virtual_ips = vec![VipStatus {
            address: "192.0.2.50/24".into(),
            interface: Some("eth1".into()),
            present: true,
        }];
        i.counters.fence_failures = 3;
        i.counters.address_repairs = 1;
        i.heartbeat = vec![HeartbeatStatus {
            adverts_received: 4,
            carrier: true,
            interface: "eth2".into(),
            last_advert_ms_ago: Some(9),
            send_errors: 0,
            source: Some(address),
        }];
        i.last_handover = Some(HandoverRecord {
            elapsed_ms: 12,
            kind: HandoverKind::Switchover,
            new_master: Some(address),
            outcome: HandoverOutcome::Confirmed,
        });
        i.waiting_for_mastership = Some("quorum".into());
        i
    }

    #[test]
    fn an_instance_written_straight_has_its_keys_sorted_at_every_level() {
        for instance in [everything(), samples::instance("db", State::Backup)] {
            let straight = serde_json::to_string_pretty(&instance).unwrap();
            let sorted = serde_json::to_string_pretty(&serde_json::to_value(&instance).unwrap());
            assert_eq!(
                straight,
                sorted.unwrap(),
                "a field out of alphabetical order"
            );
        }
    }
}
