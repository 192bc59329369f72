//! The fence hook on the simulated LAN: a Backup fences a Master that went
//! silent before it takes over, stays Backup while the fence fails, and
//! does not fence a Master that resigned. Bounds come from RFC 9568
//! (`support::rfc`).

mod support;

use std::net::IpAddr;
use std::time::Duration;

use support::rfc;
use support::sim::hosts::{HookPlan, World};
use twinstar::notify::record::HookKind;

const WEB: &str = "192.0.2.50";
const INTERVAL: Duration = Duration::from_millis(100);
/// How long the simulated fence command runs.
const FENCE_TAKES: Duration = Duration::from_millis(50);
/// Address jobs and timer slack on top of the protocol bounds.
const SLACK: Duration = Duration::from_millis(30);

fn web() -> IpAddr {
    WEB.parse().expect("address")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn host(priority: u8, quorum: Option<&str>) -> String {
    let mut text = format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    \
         advert_interval: {}ms\n    virtual_ips: [{WEB}/24]\n    \
         hooks:\n      fence: {{command: fence, timeout: 1s}}\n",
        INTERVAL.as_millis()
    );
    if let Some(node) = quorum {
        text += &format!(
            "quorum:\n  etcd:\n    endpoints: [http://203.0.113.1:2379]\n    lease_ttl: 1s\n\
             node_id: {node}\n"
        );
    }
    text
}

/// The Backup's Master_Down_Interval (priority 100).
fn backup_down() -> Duration {
    rfc::master_down_interval(100, INTERVAL)
}

/// Host 0 (150) Master, host 1 (100) Backup, both with a fence hook whose
/// exit status is `fence_exit` on host 1.
fn pair(fence_exit: i32, quorum: bool) -> World {
    let mut world = World::new(5);
    world.add_host(&host(150, quorum.then_some("a")));
    world.add_host(&host(100, quorum.then_some("b")));
    world.hosts[1]
        .hooks
        .insert("fence".to_owned(), HookPlan::Exit(fence_exit, FENCE_TAKES));
    world.observe(|w| {
        assert!(w.holders(web()).len() <= 1, "two holders at {:?}", w.now());
    });
    world.start(0);
    world.run_for(ms(5));
    world.start(1);
    world.run_for(rfc::master_down_interval(150, INTERVAL) * 2 + SLACK);
    assert_eq!(world.holders(web()), vec![0]);
    world
}

fn fences(world: &World) -> Vec<(Duration, Option<IpAddr>)> {
    world
        .hook_log
        .iter()
        .filter(|h| h.host == 1 && h.kind == HookKind::Fence && !h.skipped)
        .map(|h| (h.at, h.peer))
        .collect()
}

/// Runs until host `holder` holds the VIP or `limit` passes; returns when.
fn until_held(world: &mut World, holder: usize, limit: Duration) -> Duration {
    let start = world.now();
    while world.now() - start <= limit {
        if world.holders(web()) == [holder] {
            return world.now() - start;
        }
        world.run_for(ms(1));
    }
    panic!("host {holder} does not hold the VIP {limit:?} after {start:?}");
}

#[test]
fn a_failing_fence_keeps_the_backup_from_taking_over_and_is_retried() {
    let mut world = pair(1, false);
    let crashed = world.now();
    world.crash(0);
    let span = backup_down() * 6;
    let end = world.now() + span;
    while world.now() < end {
        world.run_for(ms(1));
        assert!(world.holders(web()).is_empty(), "took over without fencing");
    }
    let runs = fences(&world);
    // One try per Master_Down_Interval plus the fence's own run time.
    let tries = (span.as_nanos() / (backup_down() + FENCE_TAKES).as_nanos()) as usize;
    assert!(
        runs.len() >= tries - 1,
        "{} fence runs in {span:?}",
        runs.len()
    );
    assert!(
        runs.iter()
            .all(|(_, peer)| *peer == Some(World::address(0))),
        "{runs:?}"
    );
    assert!(
        runs[0].0 - crashed <= backup_down() + SLACK,
        "first fence at {:?}",
        runs[0].0
    );
    let status = world.status(1).expect("host 1 runs");
    // Every run failed; the last may still be running.
    let failures = status.instances[0].counters.fence_failures;
    assert!(
        (runs.len() as u64 - 1..=runs.len() as u64).contains(&failures),
        "{failures} failures, {} runs",
        runs.len()
    );

    // The fence works now: the next try takes over.
    world.hosts[1]
        .hooks
        .insert("fence".to_owned(), HookPlan::Exit(0, FENCE_TAKES));
    until_held(&mut world, 1, backup_down() + FENCE_TAKES * 2 + SLACK);
}

#[test]
fn a_succeeding_fence_is_given_the_old_masters_address_before_the_takeover() {
    let mut world = pair(0, false);
    world.crash(0);
    let took = until_held(&mut world, 1, backup_down() + FENCE_TAKES + SLACK);
    assert!(
        took >= FENCE_TAKES,
        "took over {took:?} after the crash, before the fence ended"
    );
    assert_eq!(fences(&world).len(), 1);
    assert_eq!(fences(&world)[0].1, Some(World::address(0)));
}

#[test]
fn a_master_that_resigns_is_not_fenced() {
    let mut world = pair(1, false);
    // Make-before-break: both hold the VIP for a moment during a handover.
    world.observe(|_| {});
    world.stop(0);
    until_held(&mut world, 1, backup_down() + SLACK);
    assert!(fences(&world).is_empty(), "{:?}", fences(&world));
}

#[test]
fn with_quorum_the_fence_runs_only_after_the_key_is_ours() {
    let mut world = pair(0, true);
    world.crash(0);
    let key = "/twinstar/instance/web";
    let mut fenced_at_holder = None;
    let end = world.now() + ms(1000) + backup_down() * 2 + FENCE_TAKES + SLACK;
    while world.now() < end && world.holders(web()) != [1] {
        world.run_for(ms(1));
        if fenced_at_holder.is_none() && !fences(&world).is_empty() {
            fenced_at_holder = Some(world.etcd_holder(key));
        }
    }
    assert_eq!(world.holders(web()), vec![1]);
    assert_eq!(fenced_at_holder, Some(Some("b".to_owned())));
}

#[test]
fn a_fence_that_outlasts_the_lease_does_not_let_the_backup_serve_without_it() {
    let mut world = pair(0, true);
    // The fence runs longer than the lease lives without renewal (3/4 TTL).
    world.hosts[1]
        .hooks
        .insert("fence".to_owned(), HookPlan::Exit(0, ms(950)));
    world.crash(0);
    let end = world.now() + ms(1000) + backup_down() * 3;
    while world.now() < end && fences(&world).is_empty() {
        world.run_for(ms(1));
    }
    assert_eq!(fences(&world).len(), 1, "the fence started");
    // etcd goes away while the fence runs: the lease lapses before it ends.
    world.set_etcd_reachable(1, false);
    let end = world.now() + ms(3000);
    while world.now() < end {
        world.run_for(ms(1));
        assert!(world.holders(web()).is_empty(), "served without the lease");
    }
    world.set_etcd_reachable(1, true);
    until_held(
        &mut world,
        1,
        ms(1000) + backup_down() * 2 + ms(950) + SLACK,
    );
}
