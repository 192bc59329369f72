//! A dedicated heartbeat network: the adverts go over eth1, a direct link
//! between hosts a and b, while the VIP lives on eth0, the service link
//! where the client is. A failover moves the VIP on eth0 and announces it
//! there with eth0's MAC; losing eth0's carrier on the Master is a Fault
//! although its adverts still flow, so the Backup takes over.

mod support;

use std::time::{Duration, Instant};

use support::agents::{agent, can_run_lab, lab, state_between, wait_until, MARGIN, STARTUP};
use support::netns::{ip, veth_pair, Capture};
use support::rfc::master_down_interval;
use twinstar::lab::{Agent, Lab, Pinger};

const VIP: &str = "192.0.2.50";
const INTERVAL: Duration = Duration::from_millis(100);
/// The heartbeat link's MACs, so they can never be mistaken for eth0's.
const HEARTBEAT_MAC: [&str; 2] = ["02:00:00:00:e1:0a", "02:00:00:00:e1:0b"];

/// Hosts a and b of a two-agent lab (eth0 on the service bridge with the
/// client) joined by a direct link eth1, 198.51.100.11 and .12/24, made
/// inside their namespaces (it goes with them when the lab is dropped).
fn heartbeat_lab(tag: &str) -> Lab {
    let lab = lab(tag, 2);
    let (a, b) = (&lab.hosts[0].ns, &lab.hosts[1].ns);
    veth_pair(a, "eth1", HEARTBEAT_MAC[0], b, "eth1", HEARTBEAT_MAC[1]);
    ip(a, &["addr", "add", "198.51.100.11/24", "dev", "eth1"]);
    ip(b, &["addr", "add", "198.51.100.12/24", "dev", "eth1"]);
    lab
}

/// Instance `web`: adverts on eth1, the VIP on eth0.
fn config(priority: u8) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth1\n    vrid: 71\n    priority: {priority}\n    \
         advert_interval: 100ms\n    virtual_ips:\n      - {{address: {VIP}/24, interface: eth0}}\n"
    )
}

/// Whether `host` has `address` on `interface`.
fn has_on(lab: &Lab, host: usize, interface: &str, address: &str) -> bool {
    let out = ip(
        &lab.hosts[host].ns,
        &["-o", "addr", "show", "dev", interface],
    );
    out.split_whitespace()
        .any(|w| w.split('/').next() == Some(address))
}

fn logs(a: &Agent, b: &Agent) -> String {
    format!("A:\n{}\nB:\n{}", a.log(), b.log())
}

/// A (150) becomes Master, B (100) Backup; only A holds the VIP, on eth0.
fn elect(lab: &Lab, tag: &str) -> (Agent, Agent) {
    let started = Instant::now();
    let a = agent(lab, tag, 0, &config(150));
    let b = agent(lab, tag, 1, &config(100));
    let mdi = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", started, mdi, mdi + STARTUP);
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    assert!(
        wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![true, false]),
        "only A should hold the VIP after election\n{}",
        logs(&a, &b)
    );
    assert!(has_on(lab, 0, "eth0", VIP), "A's VIP is not on eth0");
    assert!(
        !has_on(lab, 0, "eth1", VIP),
        "A's VIP is on the heartbeat link"
    );
    // Status names the VIP's interface, since it is not the adverts'.
    let wanted =
        serde_json::json!({"address": "192.0.2.50/24", "present": true, "interface": "eth0"});
    let vip = || {
        a.status()
            .map(|s| s.0["instances"][0]["virtual_ips"][0].clone())
    };
    assert!(
        wait_until(MARGIN, || vip().as_ref() == Some(&wanted)),
        "status shows {:?}",
        vip()
    );
    (a, b)
}

/// The sender MAC and IPv4 address of a captured ARP frame.
fn arp_sender(frame: &[u8]) -> (String, [u8; 4]) {
    assert!(frame.len() >= 42, "short ARP frame {frame:02x?}");
    assert_eq!(&frame[12..14], &[0x08, 0x06], "not ARP: {frame:02x?}");
    let mac: Vec<String> = frame[22..28].iter().map(|b| format!("{b:02x}")).collect();
    (mac.join(":"), [frame[28], frame[29], frame[30], frame[31]])
}

#[test]
fn failover_moves_the_vip_on_its_own_interface_and_announces_it_there() {
    if !can_run_lab("vip_interface_failover") {
        return;
    }
    let lab = heartbeat_lab("vif");
    let (mut a, b) = elect(&lab, "vif");
    // The client learns the VIP at A's eth0.
    let ping = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(10)).expect("ping");
    assert!(ping.wait_replies(5, MARGIN), "the VIP never answered");
    let a_mac = lab.hosts[0].mac().unwrap();
    assert_eq!(lab.client.neighbour_mac(VIP).unwrap(), a_mac);
    let b_mac = lab.hosts[1].mac().unwrap();
    let garp = Capture::start(
        &lab.client.ns,
        "eth0",
        &format!("arp and ether src {b_mac}"),
    );
    let killed = Instant::now();
    a.kill();
    // B last heard A at most one interval before the kill.
    let mdi = master_down_interval(100, INTERVAL);
    state_between(&b, "web", "master", killed, mdi - INTERVAL, mdi);
    assert!(
        has_on(&lab, 1, "eth0", VIP),
        "B's VIP is not on eth0\n{}",
        b.log()
    );
    assert!(
        !has_on(&lab, 1, "eth1", VIP),
        "B put the VIP on the heartbeat link"
    );
    let (sender_mac, sender_ip) = arp_sender(&garp.frame_after(|| {}));
    assert_eq!(
        sender_mac, b_mac,
        "the GARP claims another MAC than B's eth0"
    );
    assert_ne!(sender_mac, HEARTBEAT_MAC[1]);
    assert_eq!(sender_ip, [192, 0, 2, 50]);
    assert!(
        wait_until(MARGIN, || lab.client.neighbour_mac(VIP).unwrap() == b_mac),
        "client neighbour entry {} is not B's eth0 MAC {b_mac}\n{}",
        lab.client.neighbour_mac(VIP).unwrap(),
        b.log()
    );
    ping.reset();
    assert!(
        ping.wait_replies(5, MARGIN),
        "the VIP did not answer after failover"
    );
}

#[test]
fn carrier_loss_on_the_masters_vip_interface_is_a_fault_and_the_backup_takes_over() {
    if !can_run_lab("vip_interface_carrier_loss") {
        return;
    }
    let lab = heartbeat_lab("vic");
    let (a, b) = elect(&lab, "vic");
    let cut = Instant::now();
    // A's service cable is pulled at the bridge: eth0 has no carrier while
    // eth1 still carries A's adverts to B.
    lab.set_cable(0, false).unwrap();
    a.wait_for_state("web", "fault", MARGIN).unwrap();
    let reasons = a.status().map(|s| {
        let web = s.0["instances"][0].clone();
        web["fault_reasons"].to_string()
    });
    assert!(
        reasons.as_deref().is_some_and(|r| r.contains("eth0")),
        "A's fault reasons do not name eth0: {reasons:?}"
    );
    // A leaving Master sends priority 0 (RFC 9568 §6.4.3), so B takes over
    // within Skew_Time; the bound is Master_Down_Interval in case that
    // advert is lost, plus the link notification's MARGIN.
    let mdi = master_down_interval(100, INTERVAL);
    state_between(&b, "web", "master", cut, Duration::ZERO, mdi);
    assert!(
        wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![false, true]),
        "B alone should hold the VIP\n{}",
        logs(&a, &b)
    );
    assert!(has_on(&lab, 1, "eth0", VIP));
    // Cable back: A leaves Fault and, higher and preempting, takes over.
    lab.set_cable(0, true).unwrap();
    a.wait_for_state("web", "master", mdi + MARGIN).unwrap();
    assert!(
        wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![true, false]),
        "A alone should hold the VIP again\n{}",
        logs(&a, &b)
    );
}

#[test]
fn a_reload_moves_a_vip_between_interfaces_and_leaves_the_others_alone() {
    if !can_run_lab("vip_interface_reload") {
        return;
    }
    let lab = heartbeat_lab("vir");
    let a = agent(
        &lab,
        "vir",
        0,
        &format!("{}      - 192.0.2.60/24\n", config(150)),
    );
    a.wait_for_state(
        "web",
        "master",
        master_down_interval(150, INTERVAL) + STARTUP,
    )
    .unwrap();
    assert!(wait_until(MARGIN, || has_on(&lab, 0, "eth0", VIP)
        && has_on(&lab, 0, "eth1", "192.0.2.60")));
    // 192.0.2.60 stays where it is; the VIP moves from eth0 to eth1.
    let moved = config(150).replace(", interface: eth0}", ", interface: eth1}");
    std::fs::write(a.config_path(), format!("{moved}      - 192.0.2.60/24\n")).unwrap();
    a.reload().unwrap();
    assert!(
        wait_until(MARGIN * 3, || has_on(&lab, 0, "eth1", VIP)
            && !has_on(&lab, 0, "eth0", VIP)),
        "the VIP did not move to eth1\n{}",
        a.log()
    );
    assert!(has_on(&lab, 0, "eth1", "192.0.2.60"));
    assert_eq!(
        a.status().and_then(|s| s.state("web")).as_deref(),
        Some("master")
    );
}

#[test]
fn remove_vips_takes_each_vip_off_its_own_interface() {
    if !can_run_lab("vip_interface_remove_vips") {
        return;
    }
    let lab = heartbeat_lab("virm");
    let dir = support::agents::dir("virm", 0);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("twinstar.yaml");
    std::fs::write(&path, format!("{}      - 192.0.2.60/24\n", config(150))).unwrap();
    let host = &lab.hosts[0].ns;
    ip(host, &["addr", "add", "192.0.2.50/24", "dev", "eth0"]);
    ip(host, &["addr", "add", "192.0.2.60/24", "dev", "eth1"]);
    let out = host
        .command(env!("CARGO_BIN_EXE_twinstar"))
        .args(["remove-vips", "--config"])
        .arg(&path)
        .output()
        .expect("run remove-vips");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "web: removed 192.0.2.50/24 from eth0\nweb: removed 192.0.2.60/24 from eth1\n"
    );
    assert!(!has_on(&lab, 0, "eth0", VIP));
    assert!(!has_on(&lab, 0, "eth1", "192.0.2.60"));
    assert!(
        has_on(&lab, 0, "eth1", "198.51.100.11"),
        "the host's own address stays"
    );
}

/// The link-local address of `interface` on lab host `host`.
fn link_local(lab: &Lab, host: usize, interface: &str) -> std::net::Ipv6Addr {
    let out = ip(
        &lab.hosts[host].ns,
        &[
            "-o", "-6", "addr", "show", "dev", interface, "scope", "link",
        ],
    );
    out.split_whitespace()
        .find_map(|w| w.split('/').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no link-local on {interface}: {out}"))
}

#[test]
fn an_ipv6_vip_is_announced_from_its_own_interface() {
    if !can_run_lab("vip_interface_ipv6") {
        return;
    }
    let lab = heartbeat_lab("vi6");
    let a_mac = lab.hosts[0].mac().unwrap();
    let na = Capture::start(
        &lab.client.ns,
        "eth0",
        &format!("ether src {a_mac} and icmp6 and ip6[40] == 136"),
    );
    let config = "instances:\n  - name: web\n    interface: eth1\n    vrid: 72\n    \
                  advert_interval: 100ms\n    virtual_ips:\n      \
                  - {address: 2001:db8::50/64, interface: eth0}\n";
    let a = agent(&lab, "vi6", 0, config);
    a.wait_for_state(
        "web",
        "master",
        master_down_interval(100, INTERVAL) + STARTUP,
    )
    .unwrap();
    let frame = na.frame_after(|| {});
    assert!(frame.len() >= 78, "short NA {frame:02x?}");
    let source = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&frame[22..38]).unwrap());
    let target = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&frame[62..78]).unwrap());
    assert_eq!(
        target,
        "2001:db8::50".parse::<std::net::Ipv6Addr>().unwrap()
    );
    assert_eq!(
        source,
        link_local(&lab, 0, "eth0"),
        "NA not from eth0's link-local"
    );
    assert_ne!(source, link_local(&lab, 0, "eth1"));
    assert!(has_on(&lab, 0, "eth0", "2001:db8::50"), "{}", a.log());
}

#[test]
fn a_vip_interface_deleted_and_made_again_is_followed_by_name() {
    if !can_run_lab("vip_interface_recreated") {
        return;
    }
    let lab = heartbeat_lab("vid");
    let (a, b) = elect(&lab, "vid");
    let old_index = support::netns::ifindex(&lab.hosts[0].ns, "eth0");
    let deleted = Instant::now();
    lab.delete_interface(0).unwrap();
    a.wait_for_state("web", "fault", MARGIN).unwrap();
    let mdi = master_down_interval(100, INTERVAL);
    state_between(&b, "web", "master", deleted, Duration::ZERO, mdi);
    // Made again: a new index, the same name. A leaves Fault and, higher
    // and preempting, takes the VIP back onto the new eth0.
    lab.create_interface(0).unwrap();
    assert_ne!(support::netns::ifindex(&lab.hosts[0].ns, "eth0"), old_index);
    a.wait_for_state("web", "master", mdi + MARGIN).unwrap();
    assert!(
        wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![true, false]),
        "A alone should hold the VIP on its new eth0\n{}",
        logs(&a, &b)
    );
}
