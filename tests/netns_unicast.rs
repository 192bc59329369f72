//! `unicast_peers` on real sockets, on a LAN whose bridge drops every
//! multicast VRRP advert (224.0.0.18, ff02::12), as clouds do, so that only
//! unicast adverts can elect a Master: two twinstar agents, keepalived
//! (`unicast_peer`, VRRPv3) and twinstar each way, IPv4 and IPv6. Failover
//! bounds come from RFC 9568 (`support::rfc`) plus the lab's stated margin.

mod support;

use std::time::{Duration, Instant};

use support::agents::{
    agent, can_run_keepalived_lab, can_run_lab, config, dir, lab, state_between, wait_until, SETTLE,
};
use support::agents::{happens_between, holds_for};
use support::rfc::{master_down_interval, skew_time};
use twinstar::lab::keepalived::Keepalived;
use twinstar::lab::{Agent, Lab};

const VIP: &str = "192.0.2.50";
const VIP6: &str = "2001:db8::50";
const INTERVAL: Duration = Duration::from_millis(100);
/// The nftables table (bridge family, in the lab's bridge namespace) that
/// drops multicast VRRP; it goes with the namespace.
const NO_MULTICAST: &str = "twinstar_lab_no_multicast";

/// Root for the lab, and keepalived when the test needs it (tests/run.sh
/// installs it); a skip otherwise, through the one skip helper.
fn runnable(test: &str, with_keepalived: bool) -> bool {
    if with_keepalived {
        can_run_keepalived_lab(test)
    } else {
        can_run_lab(test)
    }
}

/// A lab of two hosts (192.0.2.11 / 2001:db8::b and 192.0.2.12 / 2001:db8::c) whose
/// bridge forwards no multicast VRRP advert.
fn lab_without_multicast(tag: &str) -> Lab {
    let lab = lab(tag, 2);
    let nft = |command: String| {
        let out = lab
            .bridge()
            .exec("nft", &[&command])
            .unwrap_or_else(|e| panic!("nft {command}: {e}"));
        assert!(
            out.status.success(),
            "nft {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    nft(format!("add table bridge {NO_MULTICAST}"));
    nft(format!(
        "add chain bridge {NO_MULTICAST} forward {{ type filter hook forward priority 0 ; policy accept ; }}"
    ));
    nft(format!(
        "add rule bridge {NO_MULTICAST} forward ip daddr 224.0.0.18 counter drop"
    ));
    nft(format!(
        "add rule bridge {NO_MULTICAST} forward ip6 daddr ff02::12 counter drop"
    ));
    lab
}

/// twinstar's `web` (VRID 51, 100 ms) at `priority` for `vip`, with `extra`.
fn twinstar(lab: &Lab, tag: &str, host: usize, priority: u8, vip: &str, extra: &str) -> Agent {
    agent(lab, tag, host, &config(51, priority, "100ms", vip, extra))
}

/// A keepalived VRRPv3 instance (VRID 51, 0.1 s adverts) sending unicast
/// from `source` to `peer` only.
fn keepalived_unicast(priority: u8, vip: &str, source: &str, peer: &str) -> String {
    format!(
        "global_defs {{\n    vrrp_version 3\n    router_id twinstar_lab\n}}\n\
         vrrp_instance VI {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int 0.1\n    unicast_src_ip {source}\n    \
         unicast_peer {{\n        {peer}\n    }}\n    \
         virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
    )
}

fn start_keepalived(lab: &Lab, tag: &str, host: usize, config: &str) -> Keepalived {
    Keepalived::start(&lab.hosts[host].ns, &dir(tag, host), config).expect("start keepalived")
}

/// `agent`'s `web` sends unicast to exactly `peers` (the status says so).
fn assert_unicast_to(agent: &Agent, peers: &[&str]) {
    let status = agent.status().expect("status");
    let web = &status.0["instances"][0];
    assert_eq!(web["mode"], "unicast", "{web}");
    let destinations: Vec<&str> = web["advert_destinations"]
        .as_array()
        .map(|list| list.iter().filter_map(|a| a.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(destinations, peers, "{web}");
}

/// The bridge's drop counters: how many multicast adverts it refused.
fn multicast_dropped(lab: &Lab) -> String {
    let out = lab
        .bridge()
        .exec("nft", &["list", "table", "bridge", NO_MULTICAST])
        .expect("nft list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn multicast_adverts_do_not_cross_the_unicast_lab() {
    // The control for the tests below: on this LAN two multicast routers
    // never hear each other, so both become Master.
    if !runnable("multicast_adverts_do_not_cross_the_unicast_lab", false) {
        return;
    }
    let lab = lab_without_multicast("ucmc");
    let a = twinstar(&lab, "ucmc", 0, 200, "192.0.2.50/24", "");
    let b = twinstar(&lab, "ucmc", 1, 100, "192.0.2.50/24", "");
    a.wait_for_state("web", "master", SETTLE).unwrap();
    b.wait_for_state("web", "master", SETTLE).unwrap();
    let status = b.status().expect("status");
    assert_eq!(status.counter("web", "adverts_received"), 0, "{status:?}");
    let counters = multicast_dropped(&lab);
    let ipv4_rule = counters.lines().find(|l| l.contains("224.0.0.18"));
    assert!(
        ipv4_rule.is_some_and(|rule| !rule.contains("packets 0 ")),
        "the bridge dropped no advert:\n{counters}"
    );
}

/// Two twinstar agents listing both hosts (one shared list), 200 over 100.
fn twinstar_pair(lab: &Lab, tag: &str, vip: &str, lines: [&str; 2]) -> (Agent, Agent) {
    let a = twinstar(lab, tag, 0, 200, vip, lines[0]);
    a.wait_for_state("web", "master", SETTLE).unwrap();
    let b = twinstar(lab, tag, 1, 100, vip, lines[1]);
    b.wait_for_state("web", "backup", SETTLE).unwrap();
    (a, b)
}

/// Kills the Master `a` (SIGKILL: no priority-0 advert) and asserts that `b`
/// becomes Master within RFC 9568 §6.4.2's window: Master_Down_Interval
/// after the last advert it heard, which was at most one interval before.
fn kill_and_take_over(a: &mut Agent, b: &Agent) {
    // Let the Backup hear a few adverts first: its timers are the Master's.
    let heard = wait_until(SETTLE, || {
        b.status()
            .is_some_and(|s| s.counter("web", "adverts_received") >= 3)
    });
    assert!(heard, "the Backup heard no unicast advert\n{}", b.log());
    let killed = Instant::now();
    a.kill();
    let mdi = master_down_interval(100, INTERVAL);
    state_between(b, "web", "master", killed, mdi - INTERVAL, mdi);
}

#[test]
fn two_twinstar_agents_elect_and_fail_over_by_unicast() {
    if !runnable("two_twinstar_agents_elect_and_fail_over_by_unicast", false) {
        return;
    }
    let lab = lab_without_multicast("ucts");
    let peers = "    unicast_peers: [192.0.2.11, 192.0.2.12]\n";
    let (mut a, b) = twinstar_pair(&lab, "ucts", "192.0.2.50/24", [peers, peers]);
    assert_unicast_to(&a, &["192.0.2.12"]);
    assert_unicast_to(&b, &["192.0.2.11"]);
    holds_for(
        "one Master holds the VIP",
        Duration::from_secs(1),
        || lab.holders(VIP).unwrap() == [true, false],
        || format!("{}\n{}", a.log(), b.log()),
    );
    kill_and_take_over(&mut a, &b);
    assert!(lab.hosts[1].has_address(VIP).unwrap());
}

#[test]
fn two_twinstar_agents_fail_over_by_ipv6_unicast_between_global_addresses() {
    if !runnable(
        "two_twinstar_agents_fail_over_by_ipv6_unicast_between_global_addresses",
        false,
    ) {
        return;
    }
    let lab = lab_without_multicast("uct6");
    let [h1, h2] = Family::V6.hosts(&lab);
    let (mut a, b) = twinstar_pair(
        &lab,
        "uct6",
        "2001:db8::50/64",
        [
            &Family::V6.twinstar_lines(&h1, &h2),
            &Family::V6.twinstar_lines(&h2, &h1),
        ],
    );
    assert_unicast_to(&a, &[&h2]);
    assert!(lab.hosts[0].has_address(VIP6).unwrap());
    assert!(!lab.hosts[1].has_address(VIP6).unwrap());
    kill_and_take_over(&mut a, &b);
}

/// Host `index`'s IPv6 link-local address on eth0 (made from its MAC).
fn link_local(lab: &Lab, index: usize) -> String {
    let out = lab.hosts[index]
        .ns
        .ip(&["-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"])
        .expect("ip addr");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find_map(|word| word.strip_suffix("/64").filter(|a| a.starts_with("fe80:")))
        .unwrap_or_else(|| panic!("no link-local address on eth0: {text}"))
        .to_string()
}

#[test]
fn link_local_ipv6_peers_need_no_source_and_hear_the_resignation() {
    if !runnable(
        "link_local_ipv6_peers_need_no_source_and_hear_the_resignation",
        false,
    ) {
        return;
    }
    let lab = lab_without_multicast("ucll");
    let (h1, h2) = (link_local(&lab, 0), link_local(&lab, 1));
    let lines = format!("    unicast_peers: [{h1}, {h2}]\n");
    let (mut a, b) = twinstar_pair(&lab, "ucll", "2001:db8::50/64", [&lines, &lines]);
    assert_unicast_to(&a, &[&h2]);
    let status = a.status().expect("status");
    assert_eq!(
        status.0["instances"][0]["source"],
        h1.as_str(),
        "{status:?}"
    );
    let heard = wait_until(SETTLE, || {
        b.status()
            .is_some_and(|s| s.counter("web", "adverts_received") >= 3)
    });
    assert!(heard, "the Backup heard no unicast advert\n{}", b.log());
    // A graceful stop sends priority 0 to the peer (RFC 9568 §6.4.3): the
    // Backup takes over within its Skew_Time instead of Master_Down_Interval.
    let stopped = Instant::now();
    a.terminate();
    let skew = skew_time(100, INTERVAL);
    state_between(&b, "web", "master", stopped, Duration::ZERO, skew);
    let status = b.status().expect("status");
    assert_eq!(
        status.counter("web", "priority_zero_received"),
        1,
        "{status:?}"
    );
}

#[test]
fn a_unicast_source_not_on_the_interface_is_a_fault_until_it_is_added() {
    if !runnable(
        "a_unicast_source_not_on_the_interface_is_a_fault_until_it_is_added",
        false,
    ) {
        return;
    }
    let lab = lab_without_multicast("ucsr");
    let lines = "    unicast_peers: [192.0.2.12]\n    unicast_source: 192.0.2.21\n";
    let a = twinstar(&lab, "ucsr", 0, 200, "192.0.2.50/24", lines);
    a.wait_for_state("web", "fault", SETTLE).unwrap();
    let status = a.status().expect("status");
    let reasons = status.0["instances"][0]["fault_reasons"].to_string();
    assert!(
        reasons.contains("unicast_source 192.0.2.21 is not on eth0"),
        "{reasons}"
    );
    holds_for(
        "no advert from a missing source",
        Duration::from_secs(1),
        || {
            a.status()
                .is_some_and(|s| s.counter("web", "adverts_sent") == 0)
        },
        || a.log(),
    );
    let ns = &lab.hosts[0].ns;
    ns.ip(&["addr", "add", "192.0.2.21/24", "dev", "eth0"])
        .unwrap();
    a.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(a
        .status()
        .is_some_and(|s| s.counter("web", "adverts_sent") > 0));
}

/// keepalived (200) on h1 Master over twinstar (100) on h2, by unicast.
fn keepalived_over_twinstar(lab: &Lab, tag: &str, family: Family) -> (Keepalived, Agent) {
    let [h1, h2] = family.hosts(lab);
    let vip = family.vip();
    let theirs = keepalived_unicast(200, &family.prefixed(vip), &h1, &h2);
    let keepalived = start_keepalived(lab, tag, 0, &theirs);
    let took = wait_until(SETTLE, || lab.hosts[0].has_address(vip).unwrap());
    assert!(took, "keepalived never took the VIP:\n{}", keepalived.log());
    let lines = family.twinstar_lines(&h2, &h1);
    let agent = twinstar(lab, tag, 1, 100, &family.prefixed(vip), &lines);
    agent.wait_for_state("web", "backup", SETTLE).unwrap();
    (keepalived, agent)
}

/// twinstar (200) on h1 Master over keepalived (100) on h2, by unicast.
fn twinstar_over_keepalived(lab: &Lab, tag: &str, family: Family) -> (Agent, Keepalived) {
    let [h1, h2] = family.hosts(lab);
    let vip = family.vip();
    let lines = family.twinstar_lines(&h1, &h2);
    let agent = twinstar(lab, tag, 0, 200, &family.prefixed(vip), &lines);
    agent.wait_for_state("web", "master", SETTLE).unwrap();
    let theirs = keepalived_unicast(100, &family.prefixed(vip), &h2, &h1);
    let keepalived = start_keepalived(lab, tag, 1, &theirs);
    (agent, keepalived)
}

/// The addresses a mixed pair uses, per family.
#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
}

impl Family {
    /// The two hosts' own addresses of this family.
    fn hosts(self, lab: &Lab) -> [String; 2] {
        [0, 1].map(|i| match self {
            Family::V4 => lab.hosts[i].ipv4.to_string(),
            Family::V6 => lab.hosts[i].ipv6.to_string(),
        })
    }

    fn vip(self) -> &'static str {
        match self {
            Family::V4 => VIP,
            Family::V6 => VIP6,
        }
    }

    fn prefixed(self, vip: &str) -> String {
        match self {
            Family::V4 => format!("{vip}/24"),
            Family::V6 => format!("{vip}/64"),
        }
    }

    /// twinstar's lines: from `source` to `peer` only.
    fn twinstar_lines(self, source: &str, peer: &str) -> String {
        format!("    unicast_peers: [{peer}]\n    unicast_source: {source}\n")
    }
}

/// twinstar, Backup of a keepalived Master heard by unicast, takes over when
/// keepalived is killed, within RFC 9568's window for keepalived's interval.
/// keepalived (2.2) sends IPv6 unicast adverts with hop limit 64, the
/// kernel's default, and IPv4 ones with TTL 255: both must be heard.
fn twinstar_takes_over_from_keepalived(tag: &str, family: Family) {
    let lab = lab_without_multicast(tag);
    let (mut theirs, ours) = keepalived_over_twinstar(&lab, tag, family);
    let vip = family.vip();
    let heard = wait_until(SETTLE, || {
        ours.status()
            .is_some_and(|s| s.counter("web", "adverts_received") >= 3)
    });
    assert!(
        heard,
        "twinstar heard no keepalived advert\n{}\n{}",
        ours.log(),
        theirs.log()
    );
    let status = ours.status().expect("status");
    assert_eq!(status.state("web").as_deref(), Some("backup"), "{status:?}");
    assert_eq!(status.dropped("eth0", "bad_checksum"), 0, "{status:?}");
    assert_eq!(status.dropped("eth0", "unknown_peer"), 0, "{status:?}");
    assert_eq!(status.dropped("eth0", "bad_ttl"), 0, "{status:?}");
    assert!(!lab.hosts[1].has_address(vip).unwrap());
    let killed = Instant::now();
    theirs.kill();
    let mdi = master_down_interval(100, INTERVAL);
    state_between(&ours, "web", "master", killed, mdi - INTERVAL, mdi);
    assert!(lab.hosts[1].has_address(vip).unwrap());
}

/// keepalived, Backup of a twinstar Master heard by unicast, takes over when
/// twinstar is killed, within RFC 9568's window for its priority (100).
fn keepalived_takes_over_from_twinstar(tag: &str, family: Family) {
    let lab = lab_without_multicast(tag);
    let (mut ours, theirs) = twinstar_over_keepalived(&lab, tag, family);
    let vip = family.vip();
    // keepalived stays Backup: it hears our unicast adverts.
    holds_for(
        "keepalived stays Backup behind twinstar",
        Duration::from_secs(2),
        || !lab.hosts[1].has_address(vip).unwrap(),
        || theirs.log(),
    );
    assert!(lab.hosts[0].has_address(vip).unwrap());
    let killed = Instant::now();
    ours.kill();
    let mdi = master_down_interval(100, INTERVAL);
    happens_between(
        "keepalived holds the VIP",
        killed,
        mdi - INTERVAL,
        mdi,
        || lab.hosts[1].has_address(vip).unwrap_or(false),
        || theirs.log(),
    );
}

#[test]
fn twinstar_takes_over_from_a_keepalived_unicast_master() {
    if !runnable("twinstar_takes_over_from_a_keepalived_unicast_master", true) {
        return;
    }
    twinstar_takes_over_from_keepalived("ucka", Family::V4);
}

#[test]
fn keepalived_takes_over_from_a_twinstar_unicast_master() {
    if !runnable("keepalived_takes_over_from_a_twinstar_unicast_master", true) {
        return;
    }
    keepalived_takes_over_from_twinstar("uckb", Family::V4);
}

#[test]
fn twinstar_takes_over_from_a_keepalived_ipv6_unicast_master() {
    if !runnable(
        "twinstar_takes_over_from_a_keepalived_ipv6_unicast_master",
        true,
    ) {
        return;
    }
    twinstar_takes_over_from_keepalived("uck6", Family::V6);
}

#[test]
fn keepalived_takes_over_from_a_twinstar_ipv6_unicast_master() {
    if !runnable(
        "keepalived_takes_over_from_a_twinstar_ipv6_unicast_master",
        true,
    ) {
        return;
    }
    keepalived_takes_over_from_twinstar("ucl6", Family::V6);
}
