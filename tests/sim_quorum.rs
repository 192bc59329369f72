//! The quorum lease on the simulated LAN with a simulated etcd: whole agents,
//! deterministic, with "never two VIP holders" checked after every step of
//! the world. Bounds come from RFC 9568 (`support::rfc`) and the lease's time
//! to live, never from the code under test.

mod support;

use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use support::rfc;
use support::sim::hosts::World;

const WEB: &str = "192.0.2.50";
const INTERVAL: Duration = Duration::from_millis(100);
const TTL: Duration = Duration::from_secs(1);
/// What an address job, the simulated etcd round trips and the agent's
/// timer slack add on top of the protocol and lease bounds, with room to spare.
const SLACK: Duration = Duration::from_millis(30);

fn web() -> IpAddr {
    WEB.parse().expect("address")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn host(node: &str, priority: u8, on_loss: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    \
         advert_interval: {}ms\n    virtual_ips: [{WEB}/24]\n\
         quorum:\n  etcd:\n    endpoints: [http://203.0.113.1:2379]\n    prefix: /site\n    \
         lease_ttl: {}ms\n  on_loss: {on_loss}\nnode_id: {node}\n",
        INTERVAL.as_millis(),
        TTL.as_millis()
    )
}

const KEY: &str = "/site/instance/web";

/// The Backup's Master_Down_Interval (priority 100).
fn backup_down() -> Duration {
    rfc::master_down_interval(100, INTERVAL)
}

/// Host 0 (priority 150, node `a`) and host 1 (100, `b`), host 0 started
/// first; settled with host 0 Master and holding the key. Every step of the
/// world is checked: at most one host holds the VIP.
fn pair(on_loss: &str) -> World {
    let mut world = World::new(11);
    world.add_host(&host("a", 150, on_loss));
    world.add_host(&host("b", 100, on_loss));
    world.observe(|w| {
        let holders = w.holders(web());
        assert!(
            holders.len() <= 1,
            "two VIP holders {holders:?} at {:?}",
            w.now()
        );
    });
    world.start(0);
    world.run_for(ms(5));
    world.start(1);
    world.run_for(rfc::master_down_interval(150, INTERVAL) * 2 + SLACK);
    assert_eq!(world.holders(web()), vec![0], "host 0 is Master first");
    assert_eq!(world.etcd_holder(KEY).as_deref(), Some("a"));
    world
}

/// Runs until `vip` is held by exactly `holders` or `limit` passes; returns when.
fn until_held(world: &mut World, holders: &[usize], limit: Duration) -> Duration {
    let start = world.now();
    while world.now() - start <= limit {
        if world.holders(web()) == holders {
            return world.now() - start;
        }
        world.run_for(ms(1));
    }
    panic!(
        "VIP held by {:?}, not {holders:?}, {limit:?} after {start:?}",
        world.holders(web())
    );
}

#[test]
fn master_holding_the_key_keeps_serving_when_only_the_agents_link_is_cut() {
    let mut world = pair("release");
    let requests_before = world.etcd.requests;
    world.set_cut(0, 1, true);
    // The Backup's requests are denied while host 0's lease is live; host 0
    // never stops serving, so the VIP is never off.
    let end = world.now() + TTL * 5;
    while world.now() < end {
        world.run_for(ms(1));
        assert_eq!(world.holders(web()), vec![0], "at {:?}", world.now());
    }
    assert_eq!(world.etcd_holder(KEY).as_deref(), Some("a"));
    let asked = world.etcd.requests - requests_before;
    assert!(asked >= 5, "the Backup kept asking: {asked} requests");
    let status = world.status(1).expect("host 1 runs");
    let json = serde_json::to_value(&status).expect("status");
    let unit = &json["quorum"][0];
    assert_eq!(unit["state"], "held-by-other", "{unit}");
    assert_eq!(unit["holder"], "a", "{unit}");
    assert!(unit["denied"].as_u64().unwrap_or(0) >= 4, "{unit}");
}

#[test]
fn isolated_master_drops_the_vip_before_the_backup_takes_the_key() {
    let mut world = pair("release");
    let dropped: Rc<Cell<Option<Duration>>> = Rc::default();
    let taken: Rc<Cell<Option<Duration>>> = Rc::default();
    {
        let (dropped, taken) = (dropped.clone(), taken.clone());
        world.observe(move |w| {
            let holders = w.holders(web());
            assert!(holders.len() <= 1, "two VIP holders at {:?}", w.now());
            if dropped.get().is_none() && !holders.contains(&0) {
                dropped.set(Some(w.now()));
            }
            if taken.get().is_none() && w.etcd_holder(KEY).as_deref() == Some("b") {
                taken.set(Some(w.now()));
            }
        });
    }
    let cut = world.now();
    world.set_cut(0, 1, true);
    world.set_etcd_reachable(0, false);
    // The lease was renewed at most TTL/3 before the cut and expires at etcd
    // TTL after that renewal arrived; the Backup then takes it at its next
    // try, one Master_Down_Interval apart (plus the round trip).
    let bound = TTL + backup_down() * 2 + SLACK;
    let took = until_held(&mut world, &[1], bound);
    let (Some(dropped), Some(taken)) = (dropped.get(), taken.get()) else {
        panic!("dropped {:?}, taken {:?}", dropped.get(), taken.get());
    };
    assert!(
        dropped < taken,
        "host 0 dropped the VIP at {dropped:?}, after b took the key at {taken:?}"
    );
    // Host 0 stops a quarter TTL before its lease can expire: at most
    // 3/4 TTL after its last renewal was sent, which was before the cut.
    assert!(
        dropped - cut <= TTL * 3 / 4 + SLACK,
        "dropped {:?} after the cut",
        dropped - cut
    );
    // ... and no earlier than its renewals allow: the last one was sent at
    // most TTL/3 before the cut.
    assert!(dropped - cut >= TTL * 3 / 4 - TTL / 3 - SLACK);
    println!(
        "isolated Master: VIP off after {:?}, Backup serves after {took:?} (outage {:?})",
        dropped - cut,
        took - (dropped - cut)
    );
}

#[test]
fn crashed_master_is_replaced_once_its_lease_expires_and_not_before() {
    let mut world = pair("release");
    world.crash(0);
    let took = until_held(&mut world, &[1], TTL + backup_down() * 2 + SLACK);
    // The last renewal was at most TTL/3 before the crash; the key stays
    // host 0's for TTL after it.
    assert!(took >= TTL * 2 / 3 - SLACK, "took over after only {took:?}");
    assert_eq!(world.etcd_holder(KEY).as_deref(), Some("b"));
    println!("crashed Master: Backup serves after {took:?}");
}

#[test]
fn with_release_nobody_serves_while_etcd_is_unreachable() {
    let mut world = pair("release");
    world.set_etcd_reachable(0, false);
    world.set_etcd_reachable(1, false);
    // The Master stops at most 3/4 TTL after its last renewal (sent before
    // the fault); the Backup's requests are denied as unreachable.
    until_held(&mut world, &[], TTL * 3 / 4 + SLACK);
    let end = world.now() + TTL * 3;
    while world.now() < end {
        world.run_for(ms(1));
        assert!(world.holders(web()).is_empty(), "served without the lease");
    }
    // etcd back: a host takes the key and serves again.
    world.set_etcd_reachable(0, true);
    world.set_etcd_reachable(1, true);
    until_held(&mut world, &[0], TTL + backup_down() * 2 + SLACK);
}

#[test]
fn with_keep_plain_vrrp_runs_while_etcd_is_unreachable() {
    let mut world = pair("keep");
    world.set_etcd_reachable(0, false);
    world.set_etcd_reachable(1, false);
    // The Master keeps serving past its lease: only unreachable renewals.
    let end = world.now() + TTL * 3;
    while world.now() < end {
        world.run_for(ms(1));
        assert_eq!(world.holders(web()), vec![0], "at {:?}", world.now());
    }
    // Plain VRRP: the Backup takes over from a crashed Master without the key.
    world.crash(0);
    // The request is answered Unreachable after the worker's timeout.
    let bound = backup_down() + world.etcd.timeout + SLACK;
    let took = until_held(&mut world, &[1], bound);
    println!("keep: Backup serves {took:?} after the Master crashed, etcd unreachable");
}

#[test]
fn switchover_hands_the_key_to_the_new_master_at_once() {
    let mut world = pair("release");
    // Make-before-break: both hold the VIP for a moment during a handover.
    world.observe(|_| {});
    assert!(world.switchover(0, "web"));
    let took = until_held(
        &mut world,
        &[1],
        rfc::skew_time(100, INTERVAL) + INTERVAL * 2 + SLACK,
    );
    assert_eq!(world.etcd_holder(KEY).as_deref(), Some("b"));
    assert!(took < TTL / 2, "waited for the lease: {took:?}");
}

/// Without `quorum`: the same instance, plain VRRP.
fn plain(priority: u8) -> String {
    let text = host("x", priority, "release");
    text[..text.find("quorum:").expect("quorum section")].to_owned()
}

#[test]
fn a_reload_that_adds_quorum_keeps_the_master_serving_and_takes_its_key() {
    let mut world = World::new(13);
    world.add_host(&plain(150));
    world.add_host(&plain(100));
    world.start(0);
    world.run_for(ms(5));
    world.start(1);
    world.run_for(rfc::master_down_interval(150, INTERVAL) * 2 + SLACK);
    assert_eq!(world.holders(web()), vec![0]);
    let masters_before = world.transitions.len();
    world.reload(1, &host("b", 100, "release"));
    world.reload(0, &host("a", 150, "release"));
    let end = world.now() + TTL * 3;
    while world.now() < end {
        world.run_for(ms(1));
        assert_eq!(world.holders(web()), vec![0], "at {:?}", world.now());
    }
    assert_eq!(world.etcd_holder(KEY).as_deref(), Some("a"));
    assert_eq!(
        world.transitions.len(),
        masters_before,
        "no transition on reload"
    );

    // Removing quorum gives the key back.
    world.reload(0, &plain(150));
    world.run_for(ms(20));
    assert_eq!(world.etcd_holder(KEY), None);
    assert_eq!(world.holders(web()), vec![0]);
}

#[test]
fn a_sync_group_takes_one_key_for_all_its_members() {
    let group = |node: &str, priority: u8| {
        format!(
            "instances:\n  - {{name: web, interface: eth0, vrid: 51, priority: {priority}, \
             advert_interval: 100ms, virtual_ips: [{WEB}/24]}}\n  \
             - {{name: db, interface: eth0, vrid: 52, priority: {priority}, \
             advert_interval: 100ms, virtual_ips: [192.0.2.60/24]}}\n\
             sync_groups:\n  - {{name: pair, instances: [web, db]}}\n\
             quorum:\n  etcd: {{endpoints: [http://203.0.113.1:2379], prefix: /site, lease_ttl: 1s}}\n\
             node_id: {node}\n"
        )
    };
    let db: IpAddr = "192.0.2.60".parse().expect("address");
    let mut world = World::new(17);
    world.add_host(&group("a", 150));
    world.add_host(&group("b", 100));
    world.observe(move |w| {
        for vip in [web(), db] {
            assert!(
                w.holders(vip).len() <= 1,
                "two holders of {vip} at {:?}",
                w.now()
            );
        }
    });
    world.start(0);
    world.run_for(ms(5));
    world.start(1);
    world.run_for(rfc::master_down_interval(150, INTERVAL) * 2 + SLACK);
    assert_eq!(
        (world.holders(web()), world.holders(db)),
        (vec![0], vec![0])
    );
    assert_eq!(world.etcd_holder("/site/group/pair").as_deref(), Some("a"));
    assert_eq!(world.etcd_holder("/site/instance/web"), None);
    world.crash(0);
    until_held(&mut world, &[1], TTL + backup_down() * 2 + SLACK);
    world.run_for(SLACK);
    assert_eq!(world.holders(db), vec![1]);
    assert_eq!(world.etcd_holder("/site/group/pair").as_deref(), Some("b"));
}

#[test]
fn a_higher_priority_backup_does_not_preempt_the_lease_holder() {
    let mut world = World::new(19);
    world.add_host(&host("a", 100, "release"));
    world.add_host(&host("b", 200, "release"));
    world.observe(|w| assert!(w.holders(web()).len() <= 1, "two holders at {:?}", w.now()));
    world.start(0);
    world.run_for(rfc::master_down_interval(100, INTERVAL) * 2 + SLACK);
    assert_eq!(world.holders(web()), vec![0]);
    world.start(1);
    // RFC 9568 would have host 1 preempt within its Master_Down_Interval;
    // under quorum it is denied while host 0 holds the key.
    let end = world.now() + TTL * 4;
    while world.now() < end {
        world.run_for(ms(1));
        assert_eq!(world.holders(web()), vec![0], "at {:?}", world.now());
    }
    assert_eq!(world.etcd_holder(KEY).as_deref(), Some("a"));
    // The holder hands over by switchover: the better host takes the key.
    world.observe(|_| {});
    assert!(world.switchover(0, "web"));
    until_held(
        &mut world,
        &[1],
        rfc::master_down_interval(200, INTERVAL) + SLACK,
    );
    assert_eq!(world.etcd_holder(KEY).as_deref(), Some("b"));
}
