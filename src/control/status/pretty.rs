//! The status document as pretty JSON text, keys in alphabetical order,
//! without holding the whole document as a `serde_json::Value`.
//!
//! A `Value` tree of a thousand instances is some 5 MiB of small maps
//! (heaptrack), built once a second for the status file: only one
//! instance's tree is alive at a time here, and the text is the same.

use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::{InstanceStatus, Status};

/// The text of `status`, exactly as `to_string_pretty(&to_value(status))`.
pub fn to_json_pretty(status: &Status) -> serde_json::Result<String> {
    // Everything but the instances, as a sorted map; the instances are
    // written in their place one by one. A field added to `Status` must be
    // named here (the literal lists them all), so none can go missing.
    let rest = Status {
        pid: status.pid,
        instances: Vec::new(),
        checks: status.checks.clone(),
        sync_groups: status.sync_groups.clone(),
        dropped: status.dropped.clone(),
        quorum: status.quorum.clone(),
    };
    let Value::Object(rest) = serde_json::to_value(&rest)? else {
        return Err(serde_json::Error::custom("the status is not a JSON object"));
    };
    let mut text = Vec::new();
    let mut serializer = serde_json::Serializer::pretty(&mut text);
    let mut map = serializer.serialize_map(Some(rest.len()))?;
    for (key, value) in &rest {
        if key == "instances" {
            map.serialize_entry(key, &EachSorted(&status.instances))?;
        } else {
            map.serialize_entry(key, value)?;
        }
    }
    map.end()?;
    String::from_utf8(text).map_err(serde_json::Error::custom)
}

/// The instances, each through its own `Value` so its keys come out sorted.
struct EachSorted<'a>(&'a [InstanceStatus]);

impl Serialize for EachSorted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Sorted))
    }
}

/// One instance through a `Value`.
struct Sorted<'a>(&'a InstanceStatus);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::to_value(self.0)
            .map_err(S::Error::custom)?
            .serialize(serializer)
    }
}
