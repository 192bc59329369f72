//! Redundant heartbeat links on the simulated LAN: two whole agents with
//! `heartbeat: [eth1]`, where `eth1` is a second network between them. An
//! advert on either link keeps the Backup; losing every link fails over at
//! Master_Down_Interval (RFC 9568 §6.4.2, bounds from `support::rfc`); the
//! Master heard on two links from two addresses is counted as one Master.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use support::rfc;
use support::sim::hosts::World;

const INTERVAL: Duration = Duration::from_millis(100);

fn web() -> IpAddr {
    "192.0.2.50".parse().expect("address")
}

fn yaml(priority: u8) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    \
         advert_interval: 100ms\n    virtual_ips: [192.0.2.50/24]\n    heartbeat: [eth1]\n"
    )
}

/// Host 0 (priority 150) Master, host 1 (100) Backup, settled.
fn pair() -> World {
    let mut world = World::new(11);
    world.add_host(&yaml(150));
    world.add_host(&yaml(100));
    world.start(0);
    world.run_for(Duration::from_millis(5));
    world.start(1);
    world.run_for(2 * rfc::master_down_interval(150, INTERVAL));
    assert_eq!(world.holders(web()), vec![0], "host 0 is Master first");
    world
}

/// Runs for `span` in steps of 1 ms, failing unless host 0 alone holds the VIP.
fn host_0_holds_throughout(world: &mut World, span: Duration) {
    let end = world.now() + span;
    while world.now() < end {
        world.run_for(Duration::from_millis(1));
        assert_eq!(world.holders(web()), vec![0], "at {:?}", world.now());
    }
}

#[test]
fn cutting_either_link_alone_causes_no_transition_and_no_master_change() {
    let mut world = pair();
    let changes = world.master_changes.get(&1).copied().unwrap_or(0);
    let transitions = world.transitions.len();
    let mdi = rfc::master_down_interval(100, INTERVAL);
    // The service link between the two cut: eth1 carries the adverts.
    world.set_cut(0, 1, true);
    host_0_holds_throughout(&mut world, 10 * mdi);
    world.set_cut(0, 1, false);
    host_0_holds_throughout(&mut world, 2 * mdi);
    // The heartbeat link cut: eth0 carries them, as without heartbeat.
    world.set_heartbeat_link(1, false);
    host_0_holds_throughout(&mut world, 10 * mdi);
    world.set_heartbeat_link(1, true);
    host_0_holds_throughout(&mut world, 2 * mdi);
    assert_eq!(
        world.transitions.len(),
        transitions,
        "{:?}",
        &world.transitions[transitions..]
    );
    assert_eq!(
        world.master_changes.get(&1).copied().unwrap_or(0),
        changes,
        "one Master heard on two links is no change"
    );
    let status = world.status(1).expect("running");
    let link = &status.instances[0].heartbeat[0];
    assert_eq!(link.source, Some(World::heartbeat_address(1, false)));
    assert!(link.adverts_received > 0);
}

#[test]
fn losing_every_link_fails_over_at_master_down_interval() {
    let mut world = pair();
    world.set_cut(0, 1, true);
    world.set_heartbeat_link(0, false);
    let cut_at = world.now();
    // RFC 9568 §6.4.2: the Backup's down timer runs from the last advert it
    // heard, at most one Advertisement_Interval before the cut.
    let mdi = rfc::master_down_interval(100, INTERVAL);
    let earliest = mdi - INTERVAL;
    let latest = mdi;
    while !world.holders(web()).contains(&1) {
        assert!(
            world.now() - cut_at <= latest,
            "no takeover within Master_Down_Interval {mdi:?}"
        );
        world.run_for(Duration::from_millis(1));
    }
    let took = world.now() - cut_at;
    assert!(
        took >= earliest,
        "took over after {took:?}, before Master_Down_Interval - interval {earliest:?}"
    );
}

#[test]
fn a_lossy_service_link_with_a_heartbeat_link_never_fails_over() {
    let mut world = pair();
    let transitions = world.transitions.len();
    // Half of everything on eth0 lost, both ways: without the heartbeat
    // link, three adverts in a row go missing every few seconds.
    world.hosts[0].loss_percent = 50;
    world.hosts[1].loss_percent = 50;
    host_0_holds_throughout(&mut world, Duration::from_secs(30));
    assert_eq!(world.transitions.len(), transitions);
}
