//! `version`: which VRRP versions an instance sends and hears, and the
//! `both` mode of RFC 9568 §8.4.2 that migrates a VRRPv2 pair.

use super::*;
use crate::wire::vrrp::{Packet, Version};

const SECOND: Duration = Duration::from_secs(1);

/// One IPv4 instance `web`, VRID 1, 1 s adverts, speaking `version`.
fn config(version: &str, priority: u8) -> String {
    instances(&[format!(
        "  - name: web\n    interface: eth0\n    vrid: 1\n    priority: {priority}\n    \
         advert_interval: 1s\n    version: {version}\n    virtual_ips: [192.0.2.51/24]\n"
    )])
}

/// An advert from PEER for VRID 1 in `version`.
fn advert(version: Version, priority: u8, interval: Duration) -> Input {
    let vip = Ipv4Addr::new(192, 0, 2, 51);
    let addresses = Addresses::V4(vec![vip]);
    let advert = match version {
        Version::V3 => Advertisement::new(1, priority, interval, addresses),
        Version::V2 => Advertisement::new_v2(1, priority, interval, addresses),
    };
    datagram_from_peer(advert.expect("valid advert"))
}

/// The (version, priority) of every advert among `effects`, in order.
fn sent(effects: &[Effect]) -> Vec<(Version, u8)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendAdvert {
                packet,
                source,
                destination,
                ..
            } => {
                let packet = Packet::new_checked(&packet[..]).expect("header");
                let (advert, _) =
                    Advertisement::parse(&packet, *source, *destination).expect("valid advert");
                Some((advert.version(), advert.priority()))
            }
            _ => None,
        })
        .collect()
}

/// An agent running `version` that has become Master; returns the effects
/// of the first three seconds as Master too.
fn master(version: &str) -> (Agent, Instant, Vec<Effect>) {
    let t0 = Instant::now();
    let mut agent = running(&config(version, 150), t0);
    let became = agent.poll_timeout().expect("down timer");
    agent.handle(became, Input::Timeout);
    let mut effects = drain(&mut agent);
    assert_eq!(state(&agent, "web"), State::Master);
    effects.extend(run_until(&mut agent, became + SECOND * 3));
    (agent, became + SECOND * 3, effects)
}

fn dropped(agent: &Agent, at: Instant, reason: &str) -> u64 {
    let status = agent.status(at);
    status
        .dropped
        .get("eth0")
        .and_then(|r| r.get(reason))
        .copied()
        .unwrap_or(0)
}

#[test]
fn a_both_master_sends_every_advert_as_vrrpv3_then_vrrpv2() {
    let (_, _, effects) = master("both");
    let adverts = sent(&effects);
    assert!(adverts.len() >= 8, "four rounds of two: {adverts:?}");
    for pair in adverts.chunks(2) {
        assert_eq!(pair, [(Version::V3, 150), (Version::V2, 150)]);
    }
}

#[test]
fn a_version_2_master_sends_vrrpv2_only_and_a_version_3_one_vrrpv3_only() {
    for (version, wire) in [("2", Version::V2), ("3", Version::V3)] {
        let (_, _, effects) = master(version);
        let adverts = sent(&effects);
        assert!(adverts.len() >= 4, "version {version}: {adverts:?}");
        assert!(
            adverts.iter().all(|&(v, p)| v == wire && p == 150),
            "version {version}: {adverts:?}"
        );
    }
}

#[test]
fn a_resigning_both_master_sends_priority_zero_in_both_versions() {
    let (mut agent, at, _) = master("both");
    agent.shutdown(at);
    let adverts = sent(&drain(&mut agent));
    assert_eq!(adverts, [(Version::V3, 0), (Version::V2, 0)]);
}

#[test]
fn a_version_the_instance_does_not_speak_is_dropped_as_version_mismatch() {
    for (version, foreign) in [("3", Version::V2), ("2", Version::V3)] {
        let (mut agent, at, _) = master(version);
        // A higher priority in the foreign version would take over if heard.
        agent.handle(at, advert(foreign, 250, SECOND));
        assert_eq!(state(&agent, "web"), State::Master, "version {version}");
        assert_eq!(dropped(&agent, at, "version_mismatch"), 1);
        let status = agent.status(at);
        assert_eq!(status.instances[0].counters.adverts_received, 0);
    }
}

#[test]
fn a_version_2_backup_follows_a_vrrpv2_master_and_learns_its_interval_in_seconds() {
    let t0 = Instant::now();
    let mut agent = running(&config("2", 100), t0);
    // RFC 9568 §8.4.2: the VRRPv2 interval (seconds) becomes Master_Adver_Interval.
    agent.handle(t0, advert(Version::V2, 150, SECOND * 3));
    assert_eq!(state(&agent, "web"), State::Backup);
    let status = agent.status(t0);
    assert_eq!(status.instances[0].master_adver_interval_ms, 3000);
    // RFC 3768 §6.1: Master_Down_Interval = 3 × 3 s + Skew_Time, and
    // Skew_Time = (256 − 100) / 256 s, whatever the interval.
    let skew = SECOND * (256 - 100) / 256;
    let down = t0 + SECOND * 9 + skew;
    run_until(&mut agent, down - Duration::from_millis(10));
    assert_eq!(state(&agent, "web"), State::Backup);
    run_until(&mut agent, down + Duration::from_millis(10));
    assert_eq!(state(&agent, "web"), State::Master);
}

#[test]
fn a_both_backup_reacts_once_to_each_pair_and_still_hears_a_vrrpv2_only_master() {
    let t0 = Instant::now();
    let mut agent = running(&config("both", 100), t0);
    for round in 0..3 {
        let at = t0 + SECOND * round;
        agent.handle(at, advert(Version::V3, 150, SECOND));
        agent.handle(at, advert(Version::V2, 150, SECOND));
        drain(&mut agent);
    }
    let status = agent.status(t0);
    assert_eq!(state(&agent, "web"), State::Backup);
    assert_eq!(
        status.instances[0].counters.adverts_received, 3,
        "one per pair"
    );
    assert_eq!(dropped(&agent, t0, "version_mismatch"), 0);
    // The Master stops speaking VRRPv3 (keepalived, say): after the shadow of
    // its last VRRPv3 advert passes, its VRRPv2 adverts keep us Backup.
    for round in 3..12 {
        let at = t0 + SECOND * round;
        run_until(&mut agent, at);
        agent.handle(at, advert(Version::V2, 150, SECOND));
        drain(&mut agent);
        assert_eq!(state(&agent, "web"), State::Backup, "second {round}");
    }
    let status = agent.status(t0);
    assert!(status.instances[0].counters.adverts_received >= 3 + 8);
}
