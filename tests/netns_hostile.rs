//! Hostile packets from a third host on the segment: adverts with a routed TTL
//! or a bad checksum, truncated and garbage messages and VRRPv2 adverts (to
//! VRRPv3 instances) must be dropped and counted without disturbing the
//! election.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use support::agents::{agent, can_run_lab, config, lab, wait_until, MARGIN, STARTUP};
use support::rfc::master_down_interval;
use twinstar::wire::vrrp::{Addresses, Advertisement, ChecksumForm};

const VRRP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const VRRP_PROTOCOL: i32 = 112;
const VIP: &str = "192.0.2.50";

/// The packets the attacker sends, each with the TTL it goes out with.
fn hostile_packets(attacker: Ipv4Addr) -> Vec<(&'static str, u32, Vec<u8>)> {
    let advert = Advertisement::new(
        51,
        254,
        Duration::from_millis(100),
        Addresses::V4(vec![VIP.parse().unwrap()]),
    )
    .unwrap()
    .to_bytes(
        IpAddr::V4(attacker),
        IpAddr::V4(VRRP_GROUP),
        ChecksumForm::PseudoHeader,
    )
    .unwrap();
    let mut bad_checksum = advert.clone();
    bad_checksum[6] ^= 0x5a;
    bad_checksum[7] ^= 0xa5;
    let truncated = advert[..4].to_vec();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let garbage = (0..36)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    // A VRRPv2 advert (keepalived's default protocol) that would win the
    // election if a VRRPv3 instance heard it.
    let vrrpv2 = Advertisement::new_v2(
        51,
        254,
        Duration::from_secs(1),
        Addresses::V4(vec![VIP.parse().unwrap()]),
    )
    .unwrap()
    .to_bytes(
        IpAddr::V4(attacker),
        IpAddr::V4(VRRP_GROUP),
        ChecksumForm::MessageOnly,
    )
    .unwrap();
    vec![
        ("ttl_64", 64, advert),
        ("bad_checksum", 255, bad_checksum),
        ("truncated", 255, truncated),
        ("garbage", 255, garbage),
        ("version_mismatch", 255, vrrpv2),
    ]
}

/// Sends the hostile packets from inside namespace `ns`, a round of one of each
/// every 20 ms, until `stop` is set; returns the number of whole rounds sent.
fn attack(ns: String, attacker: Ipv4Addr, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        // Only this thread enters the attacker's network namespace.
        twinstar::lab::enter_namespace(&ns).unwrap();
        let socket =
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(VRRP_PROTOCOL))).unwrap();
        socket.bind_device(Some(b"eth0")).unwrap();
        socket.set_multicast_if_v4(&attacker).unwrap();
        socket.set_multicast_loop_v4(false).unwrap();
        let to = SockAddr::from(SocketAddrV4::new(VRRP_GROUP, 0));
        let packets = hostile_packets(attacker);
        let mut rounds = 0;
        while !stop.load(Ordering::Relaxed) {
            for (_, ttl, bytes) in &packets {
                socket.set_ttl_v4(*ttl).unwrap();
                socket.set_multicast_ttl_v4(*ttl).unwrap();
                let sent = socket.send_to(bytes, &to).unwrap();
                assert_eq!(sent, bytes.len(), "short send");
            }
            rounds += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        rounds
    })
}

#[test]
fn hostile_packets_are_dropped_and_counted() {
    if !can_run_lab("hostile_packets_are_dropped_and_counted") {
        return;
    }
    let lab = lab("hos", 3);
    let master = agent(
        &lab,
        "hos",
        0,
        &config(51, 150, "100ms", "192.0.2.50/24", ""),
    );
    let backup = agent(
        &lab,
        "hos",
        1,
        &config(51, 100, "100ms", "192.0.2.50/24", ""),
    );
    let mdi = master_down_interval(150, std::time::Duration::from_millis(100));
    master
        .wait_for_state("web", "master", mdi + STARTUP + MARGIN)
        .unwrap();
    backup.wait_for_state("web", "backup", MARGIN).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let counters =
        |a: &twinstar::lab::Agent, name: &str| a.status().expect("status").counter("web", name);
    let transitions_before = [
        counters(&master, "master_transitions"),
        counters(&backup, "master_transitions"),
    ];
    let heard_before = counters(&backup, "adverts_received");

    let stop = Arc::new(AtomicBool::new(false));
    let sender = attack(
        lab.hosts[2].ns.name().to_string(),
        lab.hosts[2].ipv4,
        stop.clone(),
    );
    let until = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < until {
        let state = |a: &twinstar::lab::Agent| a.status().and_then(|s| s.state("web"));
        assert_eq!(
            state(&master).as_deref(),
            Some("master"),
            "{:?}",
            master.status()
        );
        assert_eq!(
            state(&backup).as_deref(),
            Some("backup"),
            "{:?}",
            backup.status()
        );
        assert!(
            lab.hosts[0].has_address(VIP).unwrap(),
            "Master lost the VIP"
        );
        assert!(
            !lab.hosts[1].has_address(VIP).unwrap(),
            "Backup took the VIP"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = sender.join().unwrap();
    assert!(rounds >= 100, "only {rounds} rounds in 3 s");

    // Every hostile packet reaches both agents once (the socket's buffer is
    // 4 MiB, the segment lossless), and each is counted once under its reason.
    // The garbage's (seeded, fixed) first byte is 0xad: version 10, so
    // bad_version. Nothing else may be counted: five drops per round.
    let reasons = [
        "bad_ttl",
        "bad_checksum",
        "truncated",
        "bad_version",
        "version_mismatch",
    ];
    for (name, agent) in [("h1", &master), ("h2", &backup)] {
        let counts = || {
            let status = agent.status().expect("status");
            let all: u64 = status.0["dropped"]["eth0"]
                .as_object()
                .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
                .unwrap_or(0);
            let each: Vec<u64> = reasons.iter().map(|r| status.dropped("eth0", r)).collect();
            (each, all)
        };
        // The status file is rewritten every second when only counters change.
        wait_until(Duration::from_secs(1) + MARGIN, || {
            let (each, all) = counts();
            each.iter().all(|n| *n >= rounds) && all >= rounds * 5
        });
        let (each, all) = counts();
        let status = agent.status().expect("status");
        eprintln!(
            "{name} dropped after {rounds} rounds: {}",
            status.0["dropped"]
        );
        for (reason, count) in reasons.iter().zip(&each) {
            assert_eq!(
                *count, rounds,
                "{name}: {reason} counted {count} times for {rounds} sent: {}",
                status.0["dropped"]
            );
        }
        assert_eq!(
            all,
            rounds * 5,
            "{name}: {all} drops for {} hostile packets: {}",
            rounds * 5,
            status.0["dropped"]
        );
    }
    // Nothing moved: no transition on either side, and the Backup kept
    // hearing the real Master throughout (ten adverts a second).
    assert_eq!(
        [
            counters(&master, "master_transitions"),
            counters(&backup, "master_transitions"),
        ],
        transitions_before,
        "a hostile packet caused a transition\n{}\n{}",
        master.log(),
        backup.log()
    );
    let heard = counters(&backup, "adverts_received") - heard_before;
    assert!(
        heard >= 25,
        "the Backup heard only {heard} adverts in over 3 s\n{}",
        backup.log()
    );
    assert_eq!(
        master.status().unwrap().state("web").as_deref(),
        Some("master")
    );
    assert_eq!(
        backup.status().unwrap().state("web").as_deref(),
        Some("backup")
    );
}
