//! IPv6 on real sockets: election and host-loss failover for an IPv6 VIP, with the
//! client's neighbour cache moved by unsolicited Neighbor Advertisements.

mod support;

use std::time::Duration;

use support::agents::{agent, can_run_lab, config, lab, wait_until, SETTLE};
use twinstar::lab::Pinger;

const VIP: &str = "2001:db8::50";

#[test]
fn ipv6_vip_is_held_by_the_master_and_fails_over_on_host_loss() {
    if !can_run_lab("ipv6_failover") {
        return;
    }
    let lab = lab("v6", 2);
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
    a.wait_for_state("web", "master", SETTLE).unwrap();
    b.wait_for_state("web", "backup", SETTLE).unwrap();
    assert!(
        wait_until(SETTLE, || lab.holders(VIP).unwrap() == vec![true, false]),
        "holders {:?}\nA:\n{}\nB:\n{}",
        lab.holders(VIP).unwrap(),
        a.log(),
        b.log()
    );
    let ping = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(2)).expect("ping");
    assert!(
        ping.wait_replies(20, SETTLE),
        "the IPv6 VIP never answered the client\nA:\n{}",
        a.log()
    );
    let a_mac = lab.hosts[0].mac().unwrap();
    assert_eq!(lab.client.neighbour_mac(VIP).unwrap(), a_mac);

    ping.reset();
    assert!(ping.wait_replies(20, SETTLE));
    lab.set_cable(0, false).unwrap();
    b.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(
        lab.hosts[1].has_address(VIP).unwrap(),
        "B is Master without the VIP\n{}",
        b.log()
    );
    assert!(
        ping.wait_replies(50, SETTLE),
        "the IPv6 VIP did not answer after failover\nB:\n{}",
        b.log()
    );
    let b_mac = lab.hosts[1].mac().unwrap();
    assert!(
        wait_until(SETTLE, || lab.client.neighbour_mac(VIP).unwrap() == b_mac),
        "client neighbour entry {} is not B's MAC {b_mac}\nB:\n{}",
        lab.client.neighbour_mac(VIP).unwrap(),
        b.log()
    );
    println!("IPv6 host loss: outage {:?}", ping.largest_gap());
}
