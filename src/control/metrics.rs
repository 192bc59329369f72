//! Prometheus metrics: `GET /metrics` in the Prometheus text format (0.0.4).
//!
//! Most metrics are rendered from the status document ([`Status`]) at scrape
//! time, so they always agree with `twinstar status` and `status.json`; the
//! daemon hands each new document to [`Metrics::update`]. What the document does not hold
//! (transitions by from/to, changes of the Master heard on the wire, script
//! and hook durations) lives in families that persist for the life of the
//! process and that the daemon feeds through [`Metrics::transition`],
//! [`Metrics::master_changed`] and [`Metrics::script_duration`].
//!
//! | metric | type | labels | from |
//! |---|---|---|---|
//! | `twinstar_instance_state` | gauge | instance, state | 1 for the current state, 0 for the others |
//! | `twinstar_instance_priority` | gauge | instance | effective priority |
//! | `twinstar_instance_base_priority` | gauge | instance | configured priority |
//! | `twinstar_instance_maintenance` | gauge | instance | 1 in maintenance mode |
//! | `twinstar_adverts_sent_total` | counter | instance | document |
//! | `twinstar_adverts_received_total` | counter | instance | document |
//! | `twinstar_priority_zero_sent_total` | counter | instance | document |
//! | `twinstar_priority_zero_received_total` | counter | instance | document |
//! | `twinstar_advert_interval_mismatches_total` | counter | instance | document |
//! | `twinstar_master_transitions_total` | counter | instance | document: times this host became Master |
//! | `twinstar_advert_send_errors_total` | counter | instance | document |
//! | `twinstar_address_repairs_total` | counter | instance | document: VIPs put back or taken off behind the agent's back |
//! | `twinstar_answers_withheld_total` | counter | instance | document |
//! | `twinstar_packets_dropped_total` | counter | interface, reason | document |
//! | `twinstar_check_up` | gauge | check, kind | 1 up, 0 down; absent before the first result |
//! | `twinstar_check_value` | gauge | check | `file` checks: the number read |
//! | `twinstar_link_last_advert_age_seconds` | gauge | instance, interface | document: interface and heartbeat links |
//! | `twinstar_heartbeat_send_errors_total` | counter | instance, interface | document |
//! | `twinstar_heartbeat_link_up` | gauge | instance, interface | document: carrier of a heartbeat link |
//! | `twinstar_virtual_ip_present` | gauge | instance, address | 1 when the address is on the interface |
//! | `twinstar_transitions_total` | counter | instance, from, to | [`Metrics::transition`] |
//! | `twinstar_master_changes_total` | counter | instance | [`Metrics::master_changed`] |
//! | `twinstar_script_duration_seconds` | histogram | kind, name | [`Metrics::script_duration`] |
//! | `twinstar_fence_failures_total` | counter | instance | document: fence runs that failed (instances with a fence) |
//! | `twinstar_quorum_state` | gauge | key, state | 1 for the key's current state, 0 for the others (with `quorum`) |
//! | `twinstar_quorum_denied_total` | counter | key | document: takeovers denied, the key held by another node |
//! | `twinstar_quorum_lost_total` | counter | key | document: times a Master stopped, its lease lapsed or lost |
//! | `twinstar_quorum_unreachable_total` | counter | key | document: times etcd could not be reached |
//! | `twinstar_quorum_renewal_latency_seconds` | gauge | key | document: how long the last lease renewal took |

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::{Registry, Unit};

use super::status::{InstanceCounters, Status};
use crate::vrrp::State;

/// The `Content-Type` of `GET /metrics`: the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The prefix of every metric name.
const PREFIX: &str = "twinstar";

/// Every state, for the state gauge's one-per-state series.
const STATES: [State; 4] = [
    State::Initialize,
    State::Backup,
    State::Master,
    State::Fault,
];

/// Upper bounds (seconds) of the script and hook duration buckets: checks take
/// milliseconds, hooks such as a database promotion up to minutes.
const DURATION_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    instance: String,
    from: String,
    to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    instance: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScriptLabels {
    kind: String,
    name: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The metrics of one agent: the latest status document and the families
/// that outlive it. Shared between the daemon and the HTTP server.
#[derive(Debug)]
pub struct Metrics {
    /// The latest status document (empty before the first); an `Arc` so that
    /// a scrape takes it without copying and without holding the lock while
    /// encoding.
    status: Mutex<Arc<Status>>,
    transitions: Family<TransitionLabels, Counter>,
    master_changes: Family<InstanceLabels, Counter>,
    script_durations: Family<ScriptLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            status: Mutex::new(Arc::new(Status::default())),
            transitions: Family::default(),
            master_changes: Family::default(),
            script_durations: Family::new_with_constructor(duration_histogram),
        }
    }
}

impl Metrics {
    /// Metrics with no status document yet: only the persistent families render.
    pub fn new() -> Self {
        Metrics::default()
    }

    /// Replaces the status document the next scrape renders from.
    pub fn update(&self, status: Status) {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(status);
    }

    /// Counts one state transition of `instance`.
    pub fn transition(&self, instance: &str, from: State, to: State) {
        self.transitions
            .get_or_create(&TransitionLabels {
                instance: instance.to_owned(),
                from: from.as_str().to_owned(),
                to: to.as_str().to_owned(),
            })
            .inc();
    }

    /// Counts one change of the Master address heard on `instance`'s link.
    pub fn master_changed(&self, instance: &str) {
        self.master_changes
            .get_or_create(&InstanceLabels {
                instance: instance.to_owned(),
            })
            .inc();
    }

    /// Records how long one run of a script took: `kind` is `check` or `hook`,
    /// `name` the check's name or the hook's owner and key.
    pub fn script_duration(&self, kind: &str, name: &str, seconds: f64) {
        self.script_durations
            .get_or_create(&ScriptLabels {
                kind: kind.to_owned(),
                name: name.to_owned(),
            })
            // A clock step can make a measured duration negative; NaN.max is 0 too.
            .observe(seconds.max(0.0));
    }

    /// The exposition text in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        match self.encode() {
            Ok(text) => text,
            Err(fmt::Error) => {
                tracing::error!("encoding the metrics failed");
                String::new()
            }
        }
    }

    fn encode(&self) -> Result<String, fmt::Error> {
        let status = Arc::clone(&self.status.lock().unwrap_or_else(PoisonError::into_inner));
        let mut registry = Registry::with_prefix(PREFIX);
        // The registry ends each help it is given with a full stop.
        registry.register_collector(Box::new(StatusCollector(status)));
        registry.register(
            "transitions",
            "State transitions of each instance, by the state left and the state entered",
            self.transitions.clone(),
        );
        registry.register(
            "master_changes",
            "Changes of the Master address heard in advertisements on the instance's link",
            self.master_changes.clone(),
        );
        registry.register_with_unit(
            "script_duration",
            "How long check scripts (kind=check) and hooks (kind=hook) ran",
            Unit::Seconds,
            self.script_durations.clone(),
        );
        let mut text = String::new();
        prometheus_text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

/// Renders the metrics that come from one status document.
#[derive(Debug)]
struct StatusCollector(Arc<Status>);

/// A counter of an instance: (metric name, how to read it, help).
type CounterOf = fn(&InstanceCounters) -> u64;

/// The document's counters of an instance, as metrics.
const INSTANCE_COUNTERS: [(&str, CounterOf, &str); 9] = [
    (
        "adverts_sent",
        |c| c.adverts_sent,
        "VRRP advertisements sent by the instance, priority 0 ones included.",
    ),
    (
        "adverts_received",
        |c| c.adverts_received,
        "VRRP advertisements received for the instance and accepted.",
    ),
    (
        "priority_zero_sent",
        |c| c.priority_zero_sent,
        "Advertisements with priority 0 (Master resigning) sent.",
    ),
    (
        "priority_zero_received",
        |c| c.priority_zero_received,
        "Advertisements with priority 0 (Master resigning) received.",
    ),
    (
        "advert_interval_mismatches",
        |c| c.interval_mismatches,
        "Advertisements accepted whose interval differs from the configured one.",
    ),
    (
        "master_transitions",
        |c| c.master_transitions,
        "Times the instance became Master.",
    ),
    (
        "advert_send_errors",
        |c| c.send_errors,
        "Advertisements the instance failed to send.",
    ),
    (
        "address_repairs",
        |c| c.address_repairs,
        "Virtual IPs put back after they vanished while Master, or taken off after they appeared while not Master.",
    ),
    (
        "answers_withheld",
        |c| c.answers_withheld,
        "Answers to other routers' adverts a Master withheld, having answered one within the advert interval.",
    ),
];

impl Collector for StatusCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let doc = &*self.0;
        let named = || doc.instances.iter().map(|i| (i.name.as_str(), i));

        let state = named().flat_map(|(name, i)| {
            STATES.iter().map(move |s| {
                let labels = [("instance", name), ("state", s.as_str())];
                (labels, gauge(i.state == *s))
            })
        });
        family(
            &mut encoder,
            "instance_state",
            "The instance's VRRP state: 1 for the current state, 0 for the others.",
            state,
        )?;
        let priority = named().map(|(name, i)| {
            let value = i64::from(i.priority);
            ([("instance", name)], ConstGauge::new(value))
        });
        family(
            &mut encoder,
            "instance_priority",
            "The instance's effective priority, after tracking.",
            priority,
        )?;
        let base_priority = named().map(|(name, i)| {
            let value = i64::from(i.base_priority);
            ([("instance", name)], ConstGauge::new(value))
        });
        family(
            &mut encoder,
            "instance_base_priority",
            "The instance's configured priority.",
            base_priority,
        )?;
        let maintenance = named().map(|(name, i)| ([("instance", name)], gauge(i.maintenance)));
        family(
            &mut encoder,
            "instance_maintenance",
            "1 while the instance is in maintenance mode (stays Backup), else 0.",
            maintenance,
        )?;
        for (metric, read, help) in INSTANCE_COUNTERS {
            let samples = named().map(|(name, i)| {
                let value = read(&i.counters);
                ([("instance", name)], ConstCounter::new(value))
            });
            family(&mut encoder, metric, help, samples)?;
        }
        let dropped = doc.dropped.iter().flat_map(|(interface, reasons)| {
            reasons.iter().map(move |(reason, count)| {
                let labels = [
                    ("interface", interface.as_str()),
                    ("reason", reason.as_str()),
                ];
                (labels, ConstCounter::new(*count))
            })
        });
        family(
            &mut encoder,
            "packets_dropped",
            "Received VRRP packets dropped before reaching an instance, by interface and reason.",
            dropped,
        )?;

        // No series before a check's first result, rather than a misleading 0.
        let checks = || {
            doc.checks
                .iter()
                .filter_map(|c| Some((c.name.as_str(), c, c.up?)))
        };
        let up = checks().map(|(name, c, up)| {
            let labels = [("check", name), ("kind", c.kind.as_str())];
            (labels, gauge(up))
        });
        family(
            &mut encoder,
            "check_up",
            "1 while the check passes, 0 while it fails; absent before its first result.",
            up,
        )?;
        let value = checks().filter_map(|(name, c, _)| {
            let is_file = c.kind == "file";
            is_file.then_some(([("check", name)], ConstGauge::new(c.value)))
        });
        family(
            &mut encoder,
            "check_value",
            "The number a file check last read (0 while it is down).",
            value,
        )?;

        // Per link: the interface (the last peer heard there) and each
        // heartbeat link; no series for a link that never heard one.
        let heard = named().flat_map(|(name, i)| {
            let interface = i
                .last_peer
                .as_ref()
                .map(|p| (i.interface.as_str(), p.seen_ms_ago));
            let links = i
                .heartbeat
                .iter()
                .filter_map(|l| l.last_advert_ms_ago.map(|ago| (l.interface.as_str(), ago)));
            interface.into_iter().chain(links).map(move |(link, ago)| {
                let labels = [("instance", name), ("interface", link)];
                (labels, ConstGauge::new(ago as f64 / 1000.0))
            })
        });
        family(
            &mut encoder,
            "link_last_advert_age_seconds",
            "Seconds since another router's advert was last heard on the link (the instance's interface or a heartbeat link), as of the last status refresh.",
            heard,
        )?;
        let heartbeat_errors = named().flat_map(|(name, i)| {
            i.heartbeat.iter().map(move |l| {
                let labels = [("instance", name), ("interface", l.interface.as_str())];
                (labels, ConstCounter::new(l.send_errors))
            })
        });
        family(
            &mut encoder,
            "heartbeat_send_errors",
            "Adverts that could not be sent on a heartbeat link.",
            heartbeat_errors,
        )?;
        let heartbeat_carrier = named().flat_map(|(name, i)| {
            i.heartbeat.iter().map(move |l| {
                let labels = [("instance", name), ("interface", l.interface.as_str())];
                (labels, gauge(l.carrier))
            })
        });
        family(
            &mut encoder,
            "heartbeat_link_up",
            "1 while the heartbeat link is up with carrier, else 0 (never a Fault).",
            heartbeat_carrier,
        )?;
        let present = named().flat_map(|(name, i)| {
            i.virtual_ips.iter().map(move |v| {
                let labels = [("instance", name), ("address", v.address.as_str())];
                (labels, gauge(v.present))
            })
        });
        family(
            &mut encoder,
            "virtual_ip_present",
            "1 while the virtual IP is on its interface on this host, else 0.",
            present,
        )?;
        quorum::encode(doc, &mut encoder)
    }
}

fn gauge(on: bool) -> ConstGauge {
    ConstGauge::new(i64::from(on))
}

/// Writes one metric family: HELP and TYPE, then one sample per label set.
/// A family without samples is left out, as the registry does for its own.
fn family<L, M>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, M)>,
) -> Result<(), fmt::Error>
where
    L: EncodeLabelSet,
    M: EncodeMetric + TypedMetric,
{
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, M::TYPE)?;
    for (labels, value) in samples {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

mod http;
mod quorum;

pub use http::serve;

#[cfg(test)]
mod tests;
