//! The split-brain guard's metrics: the quorum key of every unit and the
//! fence hook's failures, from the status document. Nothing is rendered for
//! an agent without `quorum` or fence hooks.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::{family, gauge};
use crate::control::status::{QuorumStatus, Status};

/// Every state a key can be in, for the one-per-state series.
const STATES: [&str; 5] = ["off", "waiting", "held", "held-by-other", "unreachable"];

/// A counter of a key: (metric name, how to read it, help).
type CounterOf = fn(&QuorumStatus) -> u64;

const COUNTERS: [(&str, CounterOf, &str); 3] = [
    (
        "quorum_denied",
        |q| q.denied,
        "Takeovers denied because another node held the quorum key.",
    ),
    (
        "quorum_lost",
        |q| q.lost,
        "Times a Master stopped serving because its quorum lease lapsed or was lost.",
    ),
    (
        "quorum_unreachable",
        |q| q.unreachable,
        "Times etcd could not be reached for the quorum key or the lease.",
    ),
];

/// Writes the quorum and fence families of `doc`.
pub(super) fn encode(doc: &Status, encoder: &mut DescriptorEncoder) -> Result<(), fmt::Error> {
    let fenced = doc
        .instances
        .iter()
        .filter(|i| i.counters.fence_failures > 0)
        .map(|i| {
            let labels = [("instance", i.name.as_str())];
            (labels, ConstCounter::new(i.counters.fence_failures))
        });
    family(
        encoder,
        "fence_failures",
        "Fence hook runs that failed or timed out, keeping the Backup from taking over.",
        fenced,
    )?;
    let state = doc.quorum.iter().flat_map(|q| {
        STATES.iter().map(move |s| {
            let labels = [("key", q.key.as_str()), ("state", *s)];
            (labels, gauge(q.state == *s))
        })
    });
    family(
        encoder,
        "quorum_state",
        "The quorum key's state on this node: 1 for the current state, 0 for the others.",
        state,
    )?;
    for (metric, read, help) in COUNTERS {
        let samples = doc.quorum.iter().map(|q| {
            let labels = [("key", q.key.as_str())];
            (labels, ConstCounter::new(read(q)))
        });
        family(encoder, metric, help, samples)?;
    }
    let latency = doc.quorum.iter().filter_map(|q| {
        let ms = q.last_renewal_latency_ms?;
        let labels = [("key", q.key.as_str())];
        Some((labels, ConstGauge::new(ms as f64 / 1000.0)))
    });
    family(
        encoder,
        "quorum_renewal_latency_seconds",
        "How long the last renewal of this node's quorum lease took.",
        latency,
    )
}
