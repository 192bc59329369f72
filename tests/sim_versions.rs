//! Whole agents speaking different VRRP versions on the simulated LAN: a
//! VRRPv2 host (keepalived's default protocol), a host in `both` mode and a
//! VRRPv3 host, as during the rolling migration of a keepalived pair. Bounds
//! come from RFC 9568 §6.1 and RFC 3768 §6.1 (`support::rfc`).

mod support;

use std::net::IpAddr;
use std::time::Duration;

use support::rfc;
use support::sim::hosts::World;

const VIP: &str = "192.0.2.50";
const SECOND: Duration = Duration::from_secs(1);
/// What the simulation adds to a takeover: the VIP's address job and the
/// 1 ms step `until_held` polls at (as in tests/sim_agents.rs).
const SIM_STEP: Duration = Duration::from_millis(2);

fn vip() -> IpAddr {
    VIP.parse().expect("address")
}

/// One instance `web`, VRID 51, 1 s adverts (VRRPv2 counts whole seconds).
fn host(version: &str, priority: u8) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    \
         priority: {priority}\n    advert_interval: 1s\n    version: {version}\n    \
         virtual_ips: [{VIP}/24]\n"
    )
}

/// A world with one host per `(version, priority)`, host 0 started first
/// and settled as Master before the others start.
fn world(hosts: &[(&str, u8)]) -> World {
    let mut world = World::new(11);
    for (version, priority) in hosts {
        world.add_host(&host(version, *priority));
    }
    world.start(0);
    world.run_for(rfc::master_down_interval(hosts[0].1, SECOND) + SECOND);
    for id in 1..hosts.len() {
        world.start(id);
    }
    world.run_for(SECOND * 2);
    assert_eq!(world.holders(vip()), vec![0], "host 0 is Master first");
    world
}

/// Runs for `span`, failing at the first moment `vip` is not held by `holders`.
fn held_throughout(world: &mut World, holders: &[usize], span: Duration) {
    let end = world.now() + span;
    while world.now() < end {
        world.run_for(Duration::from_millis(10));
        assert_eq!(world.holders(vip()), holders, "at {:?}", world.now());
    }
}

/// Runs until `vip` is held by `holders` (within `limit`); returns how long it took.
fn until_held(world: &mut World, holders: &[usize], limit: Duration) -> Duration {
    let start = world.now();
    while world.now() - start <= limit {
        if world.holders(vip()) == holders {
            return world.now() - start;
        }
        world.run_for(Duration::from_millis(1));
    }
    panic!(
        "{:?} not {holders:?} within {limit:?}",
        world.holders(vip())
    );
}

fn counter(world: &World, id: usize, reason: &str) -> u64 {
    let status = world.status(id).expect("running");
    status
        .dropped
        .get("eth0")
        .and_then(|r| r.get(reason))
        .copied()
        .unwrap_or(0)
}

/// The versions of the adverts host `id` sent from `since` on, in order.
fn versions_sent(world: &World, id: usize, since: Duration) -> Vec<u8> {
    world
        .adverts
        .iter()
        .filter(|a| a.host == id && a.at >= since)
        .map(|a| a.version)
        .collect()
}

fn adverts_received(world: &World, id: usize) -> u64 {
    world.status(id).expect("running").instances[0]
        .counters
        .adverts_received
}

#[test]
fn a_both_master_holds_a_vrrpv2_and_a_vrrpv3_backup() {
    let mut world = world(&[("both", 200), ("2", 150), ("3", 100)]);
    let heard = [adverts_received(&world, 1), adverts_received(&world, 2)];
    held_throughout(&mut world, &[0], SECOND * 10);
    // Each Backup hears one advert a second from the Master, in its version,
    // and drops the other version's copy.
    for (id, before) in [(1, heard[0]), (2, heard[1])] {
        let got = adverts_received(&world, id) - before;
        assert!((9..=11).contains(&got), "host {id} heard {got} in 10 s");
        assert!(counter(&world, id, "version_mismatch") >= 9, "host {id}");
        let status = world.status(id).expect("running");
        assert_eq!(status.instances[0].master_adver_interval_ms, 1000);
    }
}

#[test]
fn a_vrrpv2_backup_replaces_a_crashed_both_master_within_rfc_3768s_bound() {
    let mut world = world(&[("both", 200), ("2", 150)]);
    // The VRRPv2 Backup hears the VRRPv2 copy of each advert and drops the
    // VRRPv3 one.
    assert!(counter(&world, 1, "version_mismatch") >= 2);
    world.crash(0);
    let crashed = world.now();
    let took = until_held(&mut world, &[1], SECOND * 5);
    let sent = versions_sent(&world, 1, crashed);
    assert!(!sent.is_empty() && sent.iter().all(|&v| v == 2), "{sent:?}");
    // RFC 3768 §6.1, counted from the last advert, at most one interval
    // before the crash.
    let bound = rfc::master_down_interval_v2(150, 1);
    assert!(took <= bound + SIM_STEP, "took {took:?}, bound {bound:?}");
    assert!(
        took + SECOND >= bound,
        "took {took:?}: sooner than {bound:?}"
    );
}

#[test]
fn a_both_backup_replaces_a_crashed_vrrpv2_master_and_a_both_pair_counts_each_pair_once() {
    // keepalived A (VRRPv2) is Master, twinstar B in `both` mode its Backup:
    // step 1 of the rolling migration.
    let mut world = world(&[("2", 150), ("both", 100)]);
    let since = world.now();
    held_throughout(&mut world, &[0], SECOND * 5);
    let sent = versions_sent(&world, 0, since);
    assert!(sent.len() >= 4 && sent.iter().all(|&v| v == 2), "{sent:?}");
    assert_eq!(counter(&world, 1, "version_mismatch"), 0);
    world.crash(0);
    let crashed = world.now();
    let took = until_held(&mut world, &[1], SECOND * 5);
    let bound = rfc::master_down_interval_v2(100, 1);
    assert!(took <= bound + SIM_STEP, "took {took:?}, bound {bound:?}");
    // The new Master sends each advert as VRRPv3, then VRRPv2.
    world.run_for(SECOND * 3);
    let sent = versions_sent(&world, 1, crashed);
    assert!(sent.len() >= 6, "{sent:?}");
    assert!(sent.chunks(2).all(|pair| pair == [3, 2]), "{sent:?}");

    // Both hosts in `both` mode: the Backup reacts once per VRRPv3/VRRPv2 pair.
    let mut world = world_of_two_both();
    let before = adverts_received(&world, 1);
    held_throughout(&mut world, &[0], SECOND * 10);
    let got = adverts_received(&world, 1) - before;
    assert!((9..=11).contains(&got), "heard {got} in 10 s: one per pair");
    assert_eq!(counter(&world, 1, "version_mismatch"), 0);
}

fn world_of_two_both() -> World {
    world(&[("both", 150), ("both", 100)])
}

#[test]
fn without_a_both_router_vrrpv2_and_vrrpv3_routers_cannot_hear_each_other() {
    // Why the migration needs `both`: a VRRPv3 router drops a VRRPv2 Master's
    // adverts as version_mismatch and, after its Master_Down_Interval, takes
    // the VIP too.
    let mut world = world(&[("2", 150), ("3", 100)]);
    let bound = rfc::master_down_interval(100, SECOND);
    let took = until_held(&mut world, &[0, 1], bound + SECOND);
    assert!(took <= bound + SIM_STEP, "took {took:?}, bound {bound:?}");
    assert!(counter(&world, 1, "version_mismatch") >= 3);
}
