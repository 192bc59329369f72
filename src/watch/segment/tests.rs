//! The watcher's view of a segment, driven with made-up time.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::watch::anomaly::AnomalyKind;
use crate::wire::vrrp::ChecksumForm;

const INTERVAL: Duration = Duration::from_millis(100);

fn host(octet: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, octet))
}

fn vip(octet: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50 + octet))
}

/// An advert of VRID 51 from 192.0.2.`octet` with these settings.
fn advert(octet: u8, version: u8, priority: u8, interval: Duration) -> Heard {
    Heard {
        source_mac: [2, 0, 0, 0, 0, octet],
        source: host(octet),
        destination: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
        ttl: 255,
        version,
        vrid: 51,
        priority,
        interval,
        checksum: Checksum::Valid(ChecksumForm::PseudoHeader),
        addresses: vec![vip(0)],
    }
}

fn key() -> VridKey {
    VridKey {
        interface: "eth0".into(),
        ipv6: false,
        vrid: 51,
    }
}

fn raised(changes: &[Change]) -> Vec<AnomalyKind> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Anomaly {
                anomaly,
                raised: true,
                ..
            } => Some(anomaly.kind),
            _ => None,
        })
        .collect()
}

fn cleared(changes: &[Change]) -> Vec<AnomalyKind> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Anomaly {
                anomaly,
                raised: false,
                ..
            } => Some(anomaly.kind),
            _ => None,
        })
        .collect()
}

fn master(segment: &Segment) -> Option<IpAddr> {
    segment.vrids().get(&key()).and_then(|v| v.master)
}

#[test]
fn a_new_router_is_reported_once_and_again_only_when_its_settings_change() {
    let t0 = Instant::now();
    let mut segment = Segment::new(None);
    let first = segment.observe(t0, "eth0", advert(11, 3, 150, INTERVAL));
    assert!(matches!(&first[0], Change::Router { router, .. } if router.priority == 150));
    assert!(first.contains(&Change::Master {
        key: key(),
        master: Some(host(11))
    }));
    let again = segment.observe(t0 + INTERVAL, "eth0", advert(11, 3, 150, INTERVAL));
    assert!(again.is_empty(), "{again:?}");
    let changed = segment.observe(t0 + INTERVAL * 2, "eth0", advert(11, 3, 120, INTERVAL));
    assert!(matches!(&changed[..], [Change::Router { router, .. }] if router.priority == 120));
}

#[test]
fn a_router_silent_past_master_down_interval_is_reported_and_loses_mastership() {
    let t0 = Instant::now();
    let mut segment = Segment::new(None);
    segment.observe(t0, "eth0", advert(11, 3, 150, INTERVAL));
    // RFC 9568 §6.1: Master_Down_Interval = 3 × interval + skew < 4 × interval.
    assert!(segment.tick(t0 + INTERVAL * 3).is_empty());
    let changes = segment.tick(t0 + INTERVAL * 5);
    assert!(changes.contains(&Change::Silent {
        key: key(),
        source: host(11),
        version: 3
    }));
    assert!(changes.contains(&Change::Master {
        key: key(),
        master: None
    }));
    // Forgotten after a long silence.
    segment.tick(t0 + FORGET_AFTER + INTERVAL);
    assert!(segment.vrids().is_empty());
}

#[test]
fn a_takeover_is_not_two_masters_but_alternating_masters_are() {
    let t0 = Instant::now();
    let mut segment = Segment::new(None);
    let mut t = t0;
    let mut all = Vec::new();
    // 11 is Master, then falls silent; 12 takes over.
    for _ in 0..5 {
        all.extend(segment.observe(t, "eth0", advert(11, 3, 150, INTERVAL)));
        t += INTERVAL;
    }
    t += INTERVAL * 3;
    for _ in 0..5 {
        all.extend(segment.observe(t, "eth0", advert(12, 3, 100, INTERVAL)));
        t += INTERVAL;
    }
    assert!(raised(&all).is_empty(), "{all:?}");
    assert_eq!(master(&segment), Some(host(12)));
    // 11 comes back and preempts: 12 may get one advert out after it.
    let mut preempt = segment.observe(t, "eth0", advert(11, 3, 150, INTERVAL));
    preempt.extend(segment.observe(t + INTERVAL / 2, "eth0", advert(12, 3, 100, INTERVAL)));
    for i in 1..5 {
        preempt.extend(segment.observe(t + INTERVAL * i, "eth0", advert(11, 3, 150, INTERVAL)));
    }
    assert!(
        !raised(&preempt).contains(&AnomalyKind::TwoMasters),
        "{preempt:?}"
    );
    assert_eq!(master(&segment), Some(host(11)));
    // Now both keep advertising: two Masters.
    let t = t + INTERVAL * 5;
    let mut split = Vec::new();
    for i in 0..4 {
        split.extend(segment.observe(t + INTERVAL * i, "eth0", advert(11, 3, 150, INTERVAL)));
        split.extend(segment.observe(
            t + INTERVAL * i + INTERVAL / 2,
            "eth0",
            advert(12, 3, 100, INTERVAL),
        ));
    }
    assert_eq!(raised(&split), vec![AnomalyKind::TwoMasters]);
    // The split heals: 12 goes quiet and the anomaly clears.
    let healed = segment.tick(t + INTERVAL * 20);
    assert!(
        cleared(&healed).contains(&AnomalyKind::TwoMasters),
        "{healed:?}"
    );
}

#[test]
fn mismatched_intervals_vips_ttl_and_checksums_are_flagged() {
    let t0 = Instant::now();
    let mut segment = Segment::new(None);
    segment.observe(t0, "eth0", advert(11, 3, 150, INTERVAL));
    let mut other = advert(12, 3, 0, INTERVAL * 2);
    other.addresses = vec![vip(1)];
    other.ttl = 64;
    other.checksum = Checksum::Invalid;
    let mut kinds = raised(&segment.observe(t0 + INTERVAL / 2, "eth0", other));
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            AnomalyKind::IntervalMismatch,
            AnomalyKind::VipMismatch,
            AnomalyKind::Ttl,
            AnomalyKind::BadChecksum
        ]
    );
}

#[test]
fn v2_only_and_v3_only_routers_are_mixed_versions_but_a_router_speaking_both_is_not() {
    let t0 = Instant::now();
    let second = Duration::from_secs(1);
    let mut segment = Segment::new(None);
    segment.observe(t0, "eth0", advert(11, 3, 150, second));
    segment.observe(t0, "eth0", advert(11, 2, 150, second));
    let both = segment.observe(t0, "eth0", advert(12, 2, 0, second));
    assert!(raised(&both).is_empty(), "{both:?}");
    // 11 stops sending VRRPv2: only 12 speaks it now.
    let t1 = t0 + second * 5;
    segment.observe(t1, "eth0", advert(11, 3, 150, second));
    let mixed = segment.observe(t1, "eth0", advert(12, 2, 100, second));
    assert!(
        raised(&mixed).contains(&AnomalyKind::MixedVersions),
        "{mixed:?}"
    );
    // Both rows of 11 stay listed, the VRRPv2 one silent.
    let vrid = &segment.vrids()[&key()];
    assert!(!vrid.routers[&(host(11), 2)].active);
    assert!(vrid.routers[&(host(11), 3)].active);
}

#[test]
fn a_router_outside_the_peers_is_an_unknown_peer() {
    let t0 = Instant::now();
    let mut segment = Segment::new(Some(BTreeSet::from([host(11)])));
    assert!(raised(&segment.observe(t0, "eth0", advert(11, 3, 150, INTERVAL))).is_empty());
    assert_eq!(
        raised(&segment.observe(t0, "eth0", advert(13, 3, 0, INTERVAL))),
        vec![AnomalyKind::UnknownPeer]
    );
}

#[test]
fn the_master_is_the_highest_priority_then_the_highest_address() {
    let t0 = Instant::now();
    let mut segment = Segment::new(None);
    segment.observe(t0, "eth0", advert(12, 3, 100, INTERVAL));
    segment.observe(t0, "eth0", advert(11, 3, 100, INTERVAL));
    assert_eq!(master(&segment), Some(host(12)));
    segment.observe(t0, "eth0", advert(11, 3, 101, INTERVAL));
    assert_eq!(master(&segment), Some(host(11)));
    // A resigning Master (priority 0) is Master no more.
    segment.observe(t0, "eth0", advert(11, 3, 0, INTERVAL));
    assert_eq!(master(&segment), Some(host(12)));
}
