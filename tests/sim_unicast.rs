//! Whole agents with `unicast_peers` on a simulated LAN that drops multicast,
//! as clouds do: unicast adverts still elect one Master and fail over, the
//! same LAN without unicast gives two Masters, and a host outside the peer
//! list is neither sent to nor heard.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use support::rfc;
use support::sim::hosts::World;

const INTERVAL: Duration = Duration::from_millis(100);

fn web() -> IpAddr {
    "192.0.2.50".parse().expect("address")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One instance `web` (VRID 51, 100 ms adverts) at `priority`, with the
/// given extra line.
fn yaml(priority: u8, extra: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    \
         advert_interval: 100ms\n    virtual_ips: [192.0.2.50/24]\n{extra}"
    )
}

/// Hosts 0 (192.0.2.10) and 1 (192.0.2.11) list each other, in one list
/// shared by both.
const PAIR: &str = "    unicast_peers: [192.0.2.10, 192.0.2.11]\n";

/// A LAN that drops multicast with one host a `config`, started in order
/// and settled for two Master_Down_Intervals of the highest priority.
fn lan(configs: &[String]) -> World {
    let mut world = World::new(11);
    world.multicast_dropped = true;
    for config in configs {
        world.add_host(config);
    }
    for id in 0..configs.len() {
        world.start(id);
        world.run_for(ms(5));
    }
    world.run_for(rfc::master_down_interval(200, INTERVAL) * 2);
    world
}

#[test]
fn without_unicast_a_lan_that_drops_multicast_has_two_masters() {
    // The control: on this LAN multicast adverts never arrive.
    let world = lan(&[yaml(200, ""), yaml(100, "")]);
    assert_eq!(world.holders(web()), vec![0, 1]);
}

#[test]
fn unicast_peers_elect_one_master_and_fail_over_where_multicast_is_dropped() {
    let mut world = lan(&[yaml(200, PAIR), yaml(100, PAIR)]);
    assert_eq!(world.holders(web()), vec![0]);
    assert!(
        world
            .adverts
            .iter()
            .all(|a| a.destination == World::address(1 - a.host)),
        "every advert went to the other host only"
    );

    world.crash(0);
    let crashed = world.now();
    // RFC 9568 §6.4.2: the Backup (priority 100) takes over one
    // Master_Down_Interval after the last advert it heard, which was at most
    // one interval before the crash; 2 ms of margin for the simulated jobs.
    let bound = rfc::master_down_interval(100, INTERVAL) + ms(2);
    while world.holders(web()) != [1] {
        assert!(
            world.now() - crashed <= bound,
            "no takeover within {bound:?}"
        );
        world.run_for(ms(1));
    }

    // Host 0 comes back with the higher priority and preempts by unicast.
    world.start(0);
    world.run_for(rfc::master_down_interval(200, INTERVAL) * 2);
    assert_eq!(world.holders(web()), vec![0]);
}

#[test]
fn a_host_outside_the_peer_list_is_not_sent_to_and_not_heard() {
    // Host 2 (192.0.2.12) claims the group with the owner's priority and
    // sends to both; neither lists it.
    let intruder = "    unicast_peers: [192.0.2.10, 192.0.2.11]\n";
    let mut world = lan(&[yaml(200, PAIR), yaml(100, PAIR), yaml(255, intruder)]);
    world.run_for(ms(1000));
    assert_eq!(world.holders(web()), vec![0, 2], "host 2 hears no one");
    let stranger = World::address(2);
    assert!(
        world.adverts.iter().all(|a| a.destination != stranger),
        "nothing is sent to a host outside the list"
    );
    let status = world.status(1).expect("host 1 runs");
    assert_eq!(status.instances[0].state, twinstar::vrrp::State::Backup);
    let master = status.instances[0].master.as_ref().expect("a Master heard");
    assert_eq!(master.address, World::address(0));
    assert!(status.dropped["eth0"]["unknown_peer"] > 0);
}
