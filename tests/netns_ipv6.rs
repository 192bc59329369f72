//! IPv6 on real sockets: election and host-loss failover for an IPv6 VIP, with the
//! client's neighbour cache moved by unsolicited Neighbor Advertisements.

mod support;

use std::time::{Duration, Instant};

use support::agents::{
    agent, can_run_lab, config, lab, state_between, wait_until, EARLY, MARGIN, STARTUP,
};
use support::rfc::master_down_interval;
use twinstar::lab::Pinger;

const VIP: &str = "2001:db8::50";
const INTERVAL: Duration = Duration::from_millis(100);
/// Extra room for the client's view of an outage: neighbour discovery and
/// echo round trips at 2 ms.
const OUTAGE_SLACK: Duration = Duration::from_millis(100);

#[test]
fn ipv6_vip_is_held_by_the_master_and_fails_over_on_host_loss() {
    if !can_run_lab("ipv6_failover") {
        return;
    }
    let lab = lab("v6", 2);
    let started = Instant::now();
    let a = agent(
        &lab,
        "v6",
        0,
        &config(71, 150, "100ms", "2001:db8::50/64", ""),
    );
    let b = agent(
        &lab,
        "v6",
        1,
        &config(71, 100, "100ms", "2001:db8::50/64", ""),
    );
    let mdi_a = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", started, mdi_a, mdi_a + STARTUP);
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    assert!(
        wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![true, false]),
        "holders {:?}\nA:\n{}\nB:\n{}",
        lab.holders(VIP).unwrap(),
        a.log(),
        b.log()
    );
    let ping = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(2)).expect("ping");
    // The first echo waits for neighbour discovery and DAD on the client.
    assert!(
        ping.wait_replies(20, STARTUP + MARGIN),
        "the IPv6 VIP never answered the client\nA:\n{}",
        a.log()
    );
    let a_mac = lab.hosts[0].mac().unwrap();
    assert_eq!(lab.client.neighbour_mac(VIP).unwrap(), a_mac);

    ping.reset();
    assert!(ping.wait_replies(20, MARGIN));
    // B last heard A at most one interval before the cut.
    let mdi_b = master_down_interval(100, INTERVAL);
    let cut = Instant::now();
    lab.set_cable(0, false).unwrap();
    state_between(&b, "web", "master", cut, mdi_b - INTERVAL, mdi_b);
    assert!(
        lab.hosts[1].has_address(VIP).unwrap(),
        "B is Master without the VIP\n{}",
        b.log()
    );
    assert!(
        ping.wait_replies(50, MARGIN),
        "the IPv6 VIP did not answer after failover\nB:\n{}",
        b.log()
    );
    let b_mac = lab.hosts[1].mac().unwrap();
    assert!(
        wait_until(MARGIN, || lab.client.neighbour_mac(VIP).unwrap() == b_mac),
        "client neighbour entry {} is not B's MAC {b_mac}\nB:\n{}",
        lab.client.neighbour_mac(VIP).unwrap(),
        b.log()
    );
    // The client's outage: from its last reply from A (at the cut at the
    // latest) to B's first, which B cannot send before it takes over.
    let gap = ping.largest_gap();
    let (low, high) = (mdi_b - INTERVAL - EARLY, mdi_b + OUTAGE_SLACK);
    println!("IPv6 host loss: outage {gap:?} (bounds {low:?}..={high:?})");
    assert!(
        (low..=high).contains(&gap),
        "IPv6 host loss: outage {gap:?} outside {low:?}..={high:?}\nB:\n{}",
        b.log()
    );
}
