//! Accept_Mode (RFC 9568 §6.1, §6.4.3) on real hosts: with `accept: false` a
//! Master that is not the address owner drops what is addressed to its VIPs
//! but still answers ARP and Neighbor Discovery for them; with the default
//! (`accept: true`) it answers. The nftables table that does it exists only
//! while such a Master holds VIPs, and never outlives the agent.

mod support;

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use support::agents::{agent, can_run_lab, config, lab, wait_until, SETTLE};
use twinstar::lab::{Host, Lab};

const VIP: &str = "192.0.2.50";
const VIP6: &str = "2001:db8::50";

/// The table twinstar owns for Accept_Mode (documented for `accept`).
const TABLE: [&str; 2] = ["inet", "twinstar"];

/// How long a probe waits for an answer that a dropping host never sends.
const PROBE: Duration = Duration::from_secs(1);

/// Root for the lab and the `nft` program (tests/run.sh installs both);
/// a skip otherwise, through the one skip helper. Without `nft` a missing
/// table would prove nothing.
fn runnable(test: &str) -> bool {
    if !can_run_lab(test) {
        return false;
    }
    let nft = std::process::Command::new("nft").arg("--version").output();
    if !nft.is_ok_and(|out| out.status.success()) {
        support::skip::skip(test, "the nft program (package nftables) is not installed");
        return false;
    }
    true
}

/// `nft list table inet twinstar` on `host`: the table's text, or `None`
/// when there is no such table.
fn table(host: &Host) -> Option<String> {
    let mut args = vec!["list", "table"];
    args.extend(TABLE);
    host.ns
        .exec("nft", &args)
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `ping` from the client gets any answer from `target`.
fn ping_answers(lab: &Lab, target: &str) -> bool {
    lab.client
        .ns
        .exec("ping", &["-c", "3", "-i", "0.2", "-W", "1", target])
        .is_ok()
}

/// What a TCP connection from the client to port 9 of `target` meets: a
/// host that accepts the packet answers the SYN (refused, as nothing
/// listens); one that drops it lets the connection time out.
fn tcp_probe(lab: &Lab, target: &str) -> ErrorKind {
    let address = SocketAddr::new(target.parse::<IpAddr>().expect("address"), 9);
    lab.client
        .ns
        .run_inside(|| match TcpStream::connect_timeout(&address, PROBE) {
            Ok(_) => ErrorKind::Other,
            Err(e) => e.kind(),
        })
        .expect("enter the client namespace")
}

fn flush_client_neighbours(lab: &Lab) {
    lab.client
        .ns
        .ip(&["neigh", "flush", "dev", "eth0"])
        .expect("flush neighbours");
    lab.client
        .ns
        .ip(&["-6", "neigh", "flush", "dev", "eth0"])
        .expect("flush IPv6 neighbours");
}

#[test]
fn a_master_with_accept_false_drops_traffic_to_its_vip_but_answers_arp() {
    if !runnable("a_master_with_accept_false_drops_traffic_to_its_vip_but_answers_arp") {
        return;
    }
    let lab = lab("acof", 2);
    let refuse = "    accept: false\n";
    let mut master = agent(
        &lab,
        "acof",
        0,
        &config(51, 150, "100ms", "192.0.2.50/24", refuse),
    );
    let backup = agent(
        &lab,
        "acof",
        1,
        &config(51, 100, "100ms", "192.0.2.50/24", refuse),
    );
    master.wait_for_state("web", "master", SETTLE).unwrap();
    backup.wait_for_state("web", "backup", SETTLE).unwrap();
    assert!(
        wait_until(SETTLE, || table(&lab.hosts[0])
            .is_some_and(|t| t.contains(VIP))),
        "no table refusing {VIP} on the Master:\n{}",
        master.log()
    );
    assert_eq!(table(&lab.hosts[1]), None, "a Backup has no rule");

    flush_client_neighbours(&lab);
    assert!(
        !ping_answers(&lab, VIP),
        "the Master answered a ping to {VIP}"
    );
    assert_eq!(tcp_probe(&lab, VIP), ErrorKind::TimedOut, "TCP to {VIP}");
    // ARP is answered all the same: the client resolved the VIP to the Master.
    let master_mac = lab.hosts[0].mac().unwrap();
    assert_eq!(lab.client.neighbour_mac(VIP).unwrap(), master_mac);

    // A graceful stop removes the table; the new Master refuses in its turn.
    master.terminate();
    assert_eq!(table(&lab.hosts[0]), None, "the table outlived the agent");
    backup.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(
        wait_until(SETTLE, || table(&lab.hosts[1])
            .is_some_and(|t| t.contains(VIP))),
        "no table on the new Master:\n{}",
        backup.log()
    );
}

#[test]
fn a_master_with_default_accept_answers_on_its_vip_and_has_no_table() {
    if !runnable("a_master_with_default_accept_answers_on_its_vip_and_has_no_table") {
        return;
    }
    let lab = lab("acon", 1);
    let master = agent(
        &lab,
        "acon",
        0,
        &config(52, 150, "100ms", "192.0.2.50/24", ""),
    );
    master.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(
        wait_until(SETTLE, || lab.hosts[0].has_address(VIP).unwrap_or(false)),
        "the VIP never came on:\n{}",
        master.log()
    );
    assert!(ping_answers(&lab, VIP), "no answer to a ping to {VIP}");
    assert_eq!(tcp_probe(&lab, VIP), ErrorKind::ConnectionRefused);
    assert_eq!(table(&lab.hosts[0]), None);
}

#[test]
fn an_ipv6_master_with_accept_false_drops_pings_but_answers_neighbor_discovery() {
    if !runnable("an_ipv6_master_with_accept_false_drops_pings_but_answers_neighbor_discovery") {
        return;
    }
    let lab = lab("acv6", 1);
    let text = config(53, 150, "100ms", "2001:db8::50/64", "    accept: false\n");
    let master = agent(&lab, "acv6", 0, &text);
    master.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(
        wait_until(SETTLE, || table(&lab.hosts[0])
            .is_some_and(|t| t.contains(VIP6))),
        "no table refusing {VIP6}:\n{}",
        master.log()
    );
    flush_client_neighbours(&lab);
    assert!(
        !ping_answers(&lab, VIP6),
        "the Master answered a ping to {VIP6}"
    );
    assert_eq!(
        lab.client.neighbour_mac(VIP6).unwrap(),
        lab.hosts[0].mac().unwrap(),
        "Neighbor Discovery for {VIP6} went unanswered"
    );
}

#[test]
fn a_table_left_by_a_killed_agent_is_removed_when_the_next_one_starts() {
    if !runnable("a_table_left_by_a_killed_agent_is_removed_when_the_next_one_starts") {
        return;
    }
    let lab = lab("acst", 1);
    let refusing = config(54, 150, "100ms", "192.0.2.50/24", "    accept: false\n");
    let mut crashed = agent(&lab, "acst", 0, &refusing);
    crashed.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(wait_until(SETTLE, || table(&lab.hosts[0]).is_some()));
    crashed.kill();
    assert!(table(&lab.hosts[0]).is_some(), "SIGKILL leaves the table");
    let next = agent(
        &lab,
        "acst",
        0,
        &config(54, 150, "100ms", "192.0.2.50/24", ""),
    );
    next.wait_for_state("web", "master", SETTLE).unwrap();
    assert_eq!(table(&lab.hosts[0]), None, "{}", next.log());
    assert!(ping_answers(&lab, VIP), "no answer to a ping to {VIP}");
}

#[test]
fn remove_vips_after_a_killed_agent_removes_its_table_too() {
    if !runnable("remove_vips_after_a_killed_agent_removes_its_table_too") {
        return;
    }
    let lab = lab("acrv", 1);
    let refusing = config(55, 150, "100ms", "192.0.2.50/24", "    accept: false\n");
    let mut crashed = agent(&lab, "acrv", 0, &refusing);
    crashed.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(wait_until(SETTLE, || table(&lab.hosts[0]).is_some()));
    crashed.kill();
    let out = lab.hosts[0]
        .ns
        .command(env!("CARGO_BIN_EXE_twinstar"))
        .args(["remove-vips", "--config"])
        .arg(crashed.config_path())
        .output()
        .expect("run remove-vips");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(table(&lab.hosts[0]), None);
    assert!(!lab.hosts[0].has_address(VIP).unwrap());
}

#[test]
fn an_agent_that_must_refuse_traffic_does_not_start_without_nft() {
    if !runnable("an_agent_that_must_refuse_traffic_does_not_start_without_nft") {
        return;
    }
    let lab = lab("acnn", 1);
    // A PATH with `ip` (to enter the namespace) and no `nft`.
    let bin = support::agents::dir("acnn", 9);
    std::fs::create_dir_all(&bin).unwrap();
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("ip is installed");
    std::os::unix::fs::symlink(ip, bin.join("ip")).unwrap();
    let path = bin.to_string_lossy().into_owned();
    let text = config(56, 150, "100ms", "192.0.2.50/24", "    accept: false\n");
    let mut refused = twinstar::lab::Agent::start_with_env(
        &lab.hosts[0],
        std::path::Path::new(env!("CARGO_BIN_EXE_twinstar")),
        &support::agents::dir("acnn", 0),
        &text,
        &[("PATH", &path)],
    )
    .expect("start the agent");
    assert!(
        wait_until(SETTLE, || refused.log().contains("nftables package")),
        "{}",
        refused.log()
    );
    let status = refused.terminate().expect("exit status");
    assert!(!status.success(), "{status:?}\n{}", refused.log());
    assert!(!lab.hosts[0].has_address(VIP).unwrap());

    // The same holds for a reload: an agent that accepts traffic runs
    // without nft, and a reload to `accept: false` is rejected, keeping
    // the running configuration and the VIP, rather than serving the VIP
    // it was told to refuse traffic to.
    let accepting = config(56, 150, "100ms", "192.0.2.50/24", "");
    let mut running = twinstar::lab::Agent::start_with_env(
        &lab.hosts[0],
        std::path::Path::new(env!("CARGO_BIN_EXE_twinstar")),
        &support::agents::dir("acnn", 1),
        &accepting,
        &[("PATH", &path)],
    )
    .expect("start the agent");
    assert!(
        wait_until(SETTLE, || lab.hosts[0].has_address(VIP).unwrap_or(false)),
        "{}",
        running.log()
    );
    std::fs::write(running.config_path(), &text).expect("rewrite the config");
    running.reload().expect("SIGHUP");
    assert!(
        wait_until(SETTLE, || running.log().contains("reload rejected")),
        "{}",
        running.log()
    );
    assert!(
        running.log().contains("accept: false needs nftables"),
        "{}",
        running.log()
    );
    assert!(lab.hosts[0].has_address(VIP).unwrap(), "{}", running.log());
    let status = running.terminate().expect("exit status");
    assert!(status.success(), "{status:?}\n{}", running.log());
}
