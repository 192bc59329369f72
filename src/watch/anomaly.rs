//! What `twinstar watch` flags on a virtual router: the misconfigurations
//! and faults that make VRRP misbehave, each decided from the routers heard
//! within their silence bound.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::frame::Checksum;
use super::segment::Router;

/// Source switches among recent adverts that only two routers advertising
/// at once explain: a takeover switches once; a preemption at most three
/// times (the old Master's last adverts in the window, the new one's first,
/// one of the old one's still in flight, then the new one's again); two
/// Masters switch with every advert.
const TWO_MASTERS_SWITCHES: usize = 4;

/// The TTL / hop limit RFC 9568 §7.1 requires of an advert.
const REQUIRED_TTL: u8 = 255;

/// The kinds of anomaly, in the order they are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnomalyKind {
    /// Two routers advertise with non-zero priority at the same time: each
    /// believes it is Master (split brain, or they cannot hear each other).
    TwoMasters,
    /// Routers advertise different intervals.
    IntervalMismatch,
    /// Routers list different virtual addresses.
    VipMismatch,
    /// A router speaks only VRRPv2 and another only VRRPv3: they ignore
    /// each other's adverts.
    MixedVersions,
    /// An advert's TTL / hop limit is not 255 (RFC 9568 §7.1: discarded).
    Ttl,
    /// An advert's checksum verifies in no known form.
    BadChecksum,
    /// A router not in `--peers`.
    UnknownPeer,
}

impl AnomalyKind {
    /// The stable label of the JSON lines.
    pub fn as_str(&self) -> &'static str {
        match self {
            AnomalyKind::TwoMasters => "two_masters",
            AnomalyKind::IntervalMismatch => "interval_mismatch",
            AnomalyKind::VipMismatch => "vip_mismatch",
            AnomalyKind::MixedVersions => "mixed_versions",
            AnomalyKind::Ttl => "ttl",
            AnomalyKind::BadChecksum => "bad_checksum",
            AnomalyKind::UnknownPeer => "unknown_peer",
        }
    }
}

/// One anomaly: its kind and what exactly (which routers, which values).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Anomaly {
    /// What kind.
    pub kind: AnomalyKind,
    /// The routers and values concerned, for a reader.
    pub detail: String,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)
    }
}

/// The anomalies of a virtual router whose `active` routers are those heard
/// within their bound, `recent` the sources of its recent non-zero-priority
/// adverts in arrival order, and `peers` the expected routers, if given.
pub fn find(
    active: &[&Router],
    recent: &[IpAddr],
    peers: Option<&BTreeSet<IpAddr>>,
) -> BTreeSet<Anomaly> {
    let mut found = BTreeSet::new();
    let mut add = |kind, detail: String| {
        found.insert(Anomaly { kind, detail });
    };
    let switches = recent.windows(2).filter(|w| w[0] != w[1]).count();
    if switches >= TWO_MASTERS_SWITCHES {
        let sources: BTreeSet<IpAddr> = recent.iter().copied().collect();
        add(
            AnomalyKind::TwoMasters,
            format!("{} advertise at once", list(&sources)),
        );
    }
    let intervals: BTreeMap<IpAddr, Duration> =
        active.iter().map(|r| (r.source, r.interval)).collect();
    if intervals.values().collect::<BTreeSet<_>>().len() > 1 {
        let each: Vec<String> = intervals
            .iter()
            .map(|(source, interval)| format!("{source} {interval:?}"))
            .collect();
        add(AnomalyKind::IntervalMismatch, each.join(", "));
    }
    let lists: BTreeMap<IpAddr, &[IpAddr]> = active
        .iter()
        .map(|r| (r.source, r.addresses.as_slice()))
        .collect();
    if lists.values().collect::<BTreeSet<_>>().len() > 1 {
        let each: Vec<String> = lists
            .iter()
            .map(|(source, vips)| format!("{source} [{}]", list(vips.iter())))
            .collect();
        add(AnomalyKind::VipMismatch, each.join(", "));
    }
    let mut versions: BTreeMap<IpAddr, BTreeSet<u8>> = BTreeMap::new();
    for r in active {
        versions.entry(r.source).or_default().insert(r.version);
    }
    let only = |v: u8| -> BTreeSet<IpAddr> {
        let single = BTreeSet::from([v]);
        versions
            .iter()
            .filter(|(_, speaks)| **speaks == single)
            .map(|(source, _)| *source)
            .collect()
    };
    let (v2, v3) = (only(2), only(3));
    if !v2.is_empty() && !v3.is_empty() {
        add(
            AnomalyKind::MixedVersions,
            format!("VRRPv2 only: {}; VRRPv3 only: {}", list(&v2), list(&v3)),
        );
    }
    for r in active {
        if r.ttl != REQUIRED_TTL {
            add(
                AnomalyKind::Ttl,
                format!("{} (v{}) sends with TTL {}", r.source, r.version, r.ttl),
            );
        }
        if r.checksum == Checksum::Invalid {
            add(
                AnomalyKind::BadChecksum,
                format!("{} (v{})", r.source, r.version),
            );
        }
        if peers.is_some_and(|p| !p.contains(&r.source)) {
            add(AnomalyKind::UnknownPeer, r.source.to_string());
        }
    }
    found
}

/// Addresses joined with ", ".
fn list<'a>(addresses: impl IntoIterator<Item = &'a IpAddr>) -> String {
    addresses
        .into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
