//! Adverts from the LAN that must cost counting only: from hosts outside
//! `peers`, for VRIDs we do not run, and floods of them.

use super::*;

/// `advert_from_peer`, sent from `source` with `interval`.
fn advert_from(source: IpAddr, vrid: u8, priority: u8, interval: Duration) -> Input {
    let vip = Ipv4Addr::new(192, 0, 2, 50 + vrid);
    let bytes = Advertisement::new(vrid, priority, interval, Addresses::V4(vec![vip]))
        .expect("valid advert")
        .to_bytes(
            source,
            IpAddr::V4(VRRP_GROUP_V4),
            ChecksumForm::PseudoHeader,
        )
        .expect("emits");
    Input::Datagram(Datagram {
        socket: KEY,
        source,
        destination: IpAddr::V4(VRRP_GROUP_V4),
        hop_limit: Some(255),
        payload: Ok(bytes.into()),
    })
}

const THIRD_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 13));
/// The longest interval an advert can carry: 4095 centiseconds.
const LONGEST: Duration = Duration::from_millis(40_950);

#[test]
fn with_peers_a_forged_owner_advert_from_a_third_host_changes_nothing() {
    let t0 = Instant::now();
    let peers = "    peers: [192.0.2.10, 192.0.2.11]\n";
    let mut agent = running(&instances(&[instance("web", 1, 150, peers)]), t0);
    let t1 = agent.poll_timeout().expect("down timer");
    agent.handle(t1, Input::Timeout);
    drain(&mut agent);
    assert_eq!(state(&agent, "web"), State::Master);
    let version = agent.status_version();

    agent.handle(t1 + INTERVAL / 2, advert_from(THIRD_HOST, 1, 255, LONGEST));
    assert!(
        drain(&mut agent).is_empty(),
        "a dropped advert asks for nothing, not even a status rewrite"
    );
    assert_eq!(state(&agent, "web"), State::Master);
    let status = agent.status(t1);
    assert_eq!(status.dropped["eth0"]["unknown_peer"], 1);
    assert_eq!(status.instances[0].master_adver_interval_ms, 100);
    assert_eq!(status.instances[0].counters.adverts_received, 0);
    assert!(agent.status_version() > version, "the counter moved");
    // A listed peer is heard as before.
    agent.handle(t1 + INTERVAL, advert_from(PEER, 1, 200, INTERVAL));
    assert_eq!(state(&agent, "web"), State::Backup);
}

#[test]
fn without_peers_any_source_is_heard() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 150, "")]), t0);
    agent.handle(t0, advert_from(THIRD_HOST, 1, 200, INTERVAL));
    let status = agent.status(t0);
    assert!(status.dropped.is_empty(), "{:?}", status.dropped);
    assert_eq!(status.instances[0].counters.adverts_received, 1);
}

#[test]
fn a_flood_of_unknown_vrids_is_counted_and_asks_for_no_status_rewrite() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 100, "")]), t0);
    for i in 0..10_000u32 {
        let at = t0 + Duration::from_micros(u64::from(i) * 40);
        agent.handle(at, advert_from(THIRD_HOST, 9, 200, INTERVAL));
        assert!(
            agent.poll_effect().is_none(),
            "packet {i} asked for an effect"
        );
    }
    assert_eq!(agent.status(t0).dropped["eth0"]["unknown_vrid"], 10_000);
    assert_eq!(state(&agent, "web"), State::Backup);
}

#[test]
fn a_flood_of_lower_priority_adverts_gets_one_answer_per_interval() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 150, "")]), t0);
    let t1 = agent.poll_timeout().expect("down timer");
    agent.handle(t1, Input::Timeout);
    let effects = drain(&mut agent);
    finish_jobs(&mut agent, t1, &effects);
    drain(&mut agent);
    // 25,000 adverts a second for one second, interleaved with the timers.
    let mut adverts = 0;
    let mut announcements = 0;
    let mut count = |effects: Vec<Effect>| {
        for e in effects {
            match e {
                Effect::SendAdvert { .. } => adverts += 1,
                Effect::Address {
                    job: AddressJob::Announce,
                    ..
                } => announcements += 1,
                _ => {}
            }
        }
    };
    for i in 0..25_000u32 {
        let at = t1 + Duration::from_micros(u64::from(i) * 40);
        count(run_until(&mut agent, at));
        agent.handle(at, advert_from(THIRD_HOST, 1, 100, INTERVAL));
        count(drain(&mut agent));
    }
    assert_eq!(state(&agent, "web"), State::Master);
    // One second is ten intervals: ten regular adverts and ten answers at
    // most (each with its announcements), one more of each at the edges.
    assert!(adverts <= 22, "{adverts} adverts for 25,000 packets in");
    assert!(announcements <= 11, "{announcements} announcements");
    assert!(adverts >= 10, "the Master kept advertising: {adverts}");
}

#[test]
fn interval_mismatches_are_counted_from_peers_only() {
    let t0 = Instant::now();
    let peers = "    peers: [192.0.2.11]\n";
    let mut agent = running(&instances(&[instance("web", 1, 100, peers)]), t0);
    agent.handle(t0, advert_from(PEER, 1, 200, Duration::from_secs(1)));
    agent.handle(t0, advert_from(THIRD_HOST, 1, 200, Duration::from_secs(1)));
    let status = agent.status(t0);
    assert_eq!(status.instances[0].counters.interval_mismatches, 1);
    assert_eq!(status.dropped["eth0"]["unknown_peer"], 1);
}

#[test]
fn a_reload_that_sets_peers_applies_in_place() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 100, "")]), t0);
    let peers = "    peers: [192.0.2.11]\n";
    let summary = agent.configure(t0, setup(&instances(&[instance("web", 1, 100, peers)])));
    assert_eq!(summary.reconfigured, 1, "{summary}");
    agent.handle(t0, advert_from(THIRD_HOST, 1, 200, INTERVAL));
    agent.handle(t0, advert_from(PEER, 1, 200, INTERVAL));
    let status = agent.status(t0);
    assert_eq!(status.dropped["eth0"]["unknown_peer"], 1);
    assert_eq!(status.instances[0].counters.adverts_received, 1);
}
