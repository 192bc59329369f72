//! What `twinstar watch` knows about the virtual routers on the wire, sans-IO:
//! fed each advert heard with the time it was heard ([`Segment::observe`])
//! and woken now and then ([`Segment::tick`]), it keeps per interface and
//! VRID the routers heard, decides who is Master, and spots what an operator
//! must look at, returning every change as data for the table or the JSON
//! lines. No socket and no clock in here, so it is tested with made-up time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::anomaly::{self, Anomaly};
use super::frame::{Checksum, Heard};

/// A router that stays silent this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(300);

/// One virtual router on one interface (a VRID is per family: RFC 9568 §5.2.3).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VridKey {
    /// The interface it was heard on.
    pub interface: String,
    /// IPv6 rather than IPv4.
    pub ipv6: bool,
    /// The VRID.
    pub vrid: u8,
}

/// One router of a virtual router, per VRRP version it speaks: a router in
/// migration mode, sending both versions, shows as two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// Its IP source address.
    pub source: IpAddr,
    /// The VRRP version of these adverts.
    pub version: u8,
    /// Its Ethernet source address.
    pub mac: [u8; 6],
    /// Priority in its last advert.
    pub priority: u8,
    /// Interval in its last advert.
    pub interval: Duration,
    /// How its last advert's checksum verified.
    pub checksum: Checksum,
    /// The virtual addresses of its last advert, sorted.
    pub addresses: Vec<IpAddr>,
    /// TTL / hop limit of its last advert.
    pub ttl: u8,
    /// When it was last heard.
    pub last_heard: Instant,
    /// Adverts heard from it.
    pub adverts: u64,
    /// Whether it was heard within its silence bound (see [`Router::active`]).
    pub active: bool,
}

impl Router {
    /// What a reader compares: everything but times and counters.
    fn settings(&self) -> (&[u8; 6], u8, Duration, Checksum, &[IpAddr], u8) {
        let r = self;
        (
            &r.mac,
            r.priority,
            r.interval,
            r.checksum,
            &r.addresses,
            r.ttl,
        )
    }

    /// Whether it was heard within Master_Down_Interval of its own interval
    /// (RFC 9568 §6.1: 3 × interval + Skew_Time, Skew_Time below one
    /// interval): a Master is never silent that long, so a router that is
    /// has stopped advertising.
    fn heard_within_bound(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_heard) <= self.interval * 4
    }
}

/// Everything known about one virtual router.
#[derive(Debug, Clone, Default)]
pub struct Vrid {
    /// Its routers, by source address and version.
    pub routers: BTreeMap<(IpAddr, u8), Router>,
    /// The Master: the active router of highest priority (ties to the
    /// higher address, RFC 9568 §6.4.3), resigning ones (priority 0) aside.
    pub master: Option<IpAddr>,
    /// What is wrong with it now.
    pub anomalies: BTreeSet<Anomaly>,
    /// Sources of the recent non-zero-priority adverts, to tell two Masters
    /// (adverts alternating between sources) from a takeover (one switch).
    recent: VecDeque<(Instant, IpAddr, Duration)>,
}

/// A change worth a line of `--json` output (or a redraw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A router was heard for the first time, or its settings changed.
    Router {
        /// The virtual router.
        key: VridKey,
        /// The router now.
        router: Router,
    },
    /// A router stopped advertising (silent past its bound).
    Silent {
        /// The virtual router.
        key: VridKey,
        /// Its address.
        source: IpAddr,
        /// The version it spoke.
        version: u8,
    },
    /// The Master changed (`None`: no router advertises any more).
    Master {
        /// The virtual router.
        key: VridKey,
        /// The new Master.
        master: Option<IpAddr>,
    },
    /// An anomaly appeared (`raised`) or went away.
    Anomaly {
        /// The virtual router.
        key: VridKey,
        /// What.
        anomaly: Anomaly,
        /// Appeared rather than went away.
        raised: bool,
    },
    /// A VRRP message too broken to read.
    Malformed {
        /// The interface.
        interface: String,
        /// The sender.
        source: IpAddr,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Every virtual router heard on the watched interfaces.
#[derive(Debug, Clone, Default)]
pub struct Segment {
    /// The expected routers (`--peers`); `None`: any router is expected.
    peers: Option<BTreeSet<IpAddr>>,
    vrids: BTreeMap<VridKey, Vrid>,
}

impl Segment {
    /// An empty segment; routers outside `peers`, if given, are anomalies.
    pub fn new(peers: Option<BTreeSet<IpAddr>>) -> Self {
        Segment {
            peers,
            vrids: BTreeMap::new(),
        }
    }

    /// The virtual routers known, in order.
    pub fn vrids(&self) -> &BTreeMap<VridKey, Vrid> {
        &self.vrids
    }

    /// An advert heard on `interface` at `now`.
    pub fn observe(&mut self, now: Instant, interface: &str, heard: Heard) -> Vec<Change> {
        let key = VridKey {
            interface: interface.to_owned(),
            ipv6: heard.source.is_ipv6(),
            vrid: heard.vrid,
        };
        let vrid = self.vrids.entry(key.clone()).or_default();
        let mut addresses = heard.addresses;
        addresses.sort();
        let mut router = Router {
            source: heard.source,
            version: heard.version,
            mac: heard.source_mac,
            priority: heard.priority,
            interval: heard.interval,
            checksum: heard.checksum,
            addresses,
            ttl: heard.ttl,
            last_heard: now,
            adverts: 1,
            active: true,
        };
        let mut changes = Vec::new();
        match vrid.routers.get_mut(&(heard.source, heard.version)) {
            Some(known) => {
                router.adverts = known.adverts + 1;
                let changed = known.settings() != router.settings() || !known.active;
                *known = router.clone();
                if changed {
                    changes.push(Change::Router {
                        key: key.clone(),
                        router,
                    });
                }
            }
            None => {
                vrid.routers
                    .insert((heard.source, heard.version), router.clone());
                changes.push(Change::Router {
                    key: key.clone(),
                    router,
                });
            }
        }
        if heard.priority > 0 {
            vrid.recent.push_back((now, heard.source, heard.interval));
        }
        changes.extend(reassess(&key, vrid, now, self.peers.as_ref()));
        changes
    }

    /// A VRRP message on `interface` that could not be read.
    pub fn malformed(&self, interface: &str, source: IpAddr, reason: &'static str) -> Change {
        Change::Malformed {
            interface: interface.to_owned(),
            source,
            reason,
        }
    }

    /// Time passed: routers fall silent, Masters and anomalies follow, and
    /// routers silent for [`FORGET_AFTER`] are forgotten.
    pub fn tick(&mut self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        for (key, vrid) in &mut self.vrids {
            changes.extend(reassess(key, vrid, now, self.peers.as_ref()));
            vrid.routers
                .retain(|_, r| now.saturating_duration_since(r.last_heard) < FORGET_AFTER);
        }
        self.vrids.retain(|_, v| !v.routers.is_empty());
        changes
    }
}

/// Brings a virtual router's activity, Master and anomalies up to `now`,
/// returning what changed.
fn reassess(
    key: &VridKey,
    vrid: &mut Vrid,
    now: Instant,
    peers: Option<&BTreeSet<IpAddr>>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for router in vrid.routers.values_mut() {
        let active = router.heard_within_bound(now);
        if router.active && !active {
            changes.push(Change::Silent {
                key: key.clone(),
                source: router.source,
                version: router.version,
            });
        }
        router.active = active;
    }
    while vrid
        .recent
        .front()
        .is_some_and(|(at, _, interval)| now.saturating_duration_since(*at) > *interval * 4)
    {
        vrid.recent.pop_front();
    }
    let master = vrid
        .routers
        .values()
        .filter(|r| r.active && r.priority > 0)
        .max_by_key(|r| (r.priority, r.source))
        .map(|r| r.source);
    if master != vrid.master {
        vrid.master = master;
        changes.push(Change::Master {
            key: key.clone(),
            master,
        });
    }
    let recent: Vec<IpAddr> = vrid.recent.iter().map(|(_, source, _)| *source).collect();
    let active: Vec<&Router> = vrid.routers.values().filter(|r| r.active).collect();
    let anomalies = anomaly::find(&active, &recent, peers);
    for gone in vrid.anomalies.difference(&anomalies) {
        changes.push(Change::Anomaly {
            key: key.clone(),
            anomaly: gone.clone(),
            raised: false,
        });
    }
    for new in anomalies.difference(&vrid.anomalies) {
        changes.push(Change::Anomaly {
            key: key.clone(),
            anomaly: new.clone(),
            raised: true,
        });
    }
    vrid.anomalies = anomalies;
    changes
}

#[cfg(test)]
mod tests;
