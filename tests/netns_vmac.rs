//! The virtual MAC (`vmac`, RFC 9568 §7.3, keepalived's `use_vmac`): the
//! VIPs live on a macvlan with MAC 00-00-5E-00-01-{VRID}, so the client's
//! neighbour entry names the same MAC whoever is Master, and a failover needs
//! no gratuitous ARP at all; the agent makes and removes the macvlan and
//! restores the ARP settings it changed. Also with keepalived `use_vmac`.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::agents::{
    agent, can_run_keepalived_lab, can_run_lab, config, dir, holds_for, lab, wait_until, MARGIN,
    SETTLE,
};
use support::rfc;
use twinstar::lab::keepalived::Keepalived;
use twinstar::lab::Pinger;
use twinstar::lab::{Host, Lab};

const VRID: u8 = 51;
const VIP: &str = "192.0.2.50";
const VMAC: &str = "vrrp.51";
/// 00-00-5E-00-01-{VRID}, as `ip` prints it.
const VIRTUAL_MAC: &str = "00:00:5e:00:01:33";
const INTERVAL: Duration = Duration::from_millis(100);

/// The table of this file's bridge rules in the lab's bridge namespace.
const TABLE: &str = "twinstar_vmac";

/// `vmac: true` and the fewest announcements the configuration allows.
const VMAC_EXTRA: &str = "    vmac: true\n    garp:\n      count: 1\n";

/// The MAC of `interface` on `host`; `None` when there is no such interface.
fn link_mac(host: &Host, interface: &str) -> Option<String> {
    let out = host
        .ns
        .ip(&["-br", "link", "show", "dev", interface])
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace().nth(2).map(str::to_owned)
}

/// Whether `address` is on `interface` of `host`.
fn holds_on(host: &Host, interface: &str, address: &str) -> bool {
    let Ok(out) = host.ns.ip(&["-o", "addr", "show", "dev", interface]) else {
        return false;
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .any(|w| w.split('/').next() == Some(address))
}

/// A per-interface IPv4 setting of `host`, read inside its namespace.
fn setting(host: &Host, interface: &str, key: &str) -> String {
    let path = format!("/proc/sys/net/ipv4/conf/{interface}/{key}");
    let out = host.ns.exec("cat", &[&path]).expect("read setting");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The base interface's ARP settings the agent changes.
fn arp_settings(host: &Host) -> [String; 3] {
    ["arp_ignore", "arp_filter", "arp_announce"].map(|key| setting(host, "eth0", key))
}

/// Drops every ARP frame host `index` sends about the VIP where its cable
/// enters the bridge, before the bridge learns anything from it: its
/// gratuitous ARPs (and answers for the VIP) never reach the client nor
/// teach the bridge where the virtual MAC is, while its own questions (for
/// the client's MAC) still go through.
fn drop_arp_from(lab: &Lab, index: usize) {
    let port = lab.hosts[index].port().to_owned();
    let nft = |command: String| {
        lab.bridge()
            .exec("nft", &[&command])
            .unwrap_or_else(|e| panic!("nft {command}: {e}"));
    };
    nft(format!("add table netdev {TABLE}"));
    nft(format!(
        "add chain netdev {TABLE} ingress {{ type filter hook ingress device \"{port}\" priority 0 ; }}"
    ));
    nft(format!(
        "add rule netdev {TABLE} ingress arp saddr ip {VIP} counter drop"
    ));
}

/// The bridge port the lab's bridge has learned `mac` on, if any.
fn fdb_port(lab: &Lab, mac: &str) -> Option<String> {
    let out = lab
        .bridge()
        .exec("bridge", &["fdb", "show", "br", "br0"])
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text.lines().find(|l| l.starts_with(mac))?;
    let mut words = line.split_whitespace();
    words
        .find(|w| *w == "dev")
        .and(words.next())
        .map(str::to_owned)
}

/// How many ARP frames the rule of [`drop_arp_from`] dropped.
fn arp_dropped(lab: &Lab) -> u64 {
    let out = lab
        .bridge()
        .exec("nft", &["list", "table", "netdev", TABLE])
        .expect("list the table");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut words = text.split_whitespace();
    words
        .find(|w| *w == "packets")
        .and(words.next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn allow_arp(lab: &Lab) {
    let delete = format!("delete table netdev {TABLE}");
    lab.bridge()
        .exec("nft", &[&delete])
        .unwrap_or_else(|e| panic!("nft {delete}: {e}"));
}

/// `twinstar remove-vips` (systemd's ExecStopPost) on `host` with `config`.
fn remove_vips(host: &Host, config: &std::path::Path) -> String {
    let program = PathBuf::from(env!("CARGO_BIN_EXE_twinstar"));
    let program = program.to_string_lossy().to_string();
    let config = config.to_string_lossy().to_string();
    let out = host
        .ns
        .exec(&program, &["remove-vips", "--config", &config])
        .expect("remove-vips");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_client_keeps_the_virtual_mac_across_a_failover_without_any_arp() {
    let test = "the_client_keeps_the_virtual_mac_across_a_failover_without_any_arp";
    if !can_run_lab(test) {
        return;
    }
    let tag = "vmfo";
    let lab = lab(tag, 2);
    let before = arp_settings(&lab.hosts[1]);
    let mut a = agent(
        &lab,
        tag,
        0,
        &config(VRID, 200, "100ms", "192.0.2.50/24", VMAC_EXTRA),
    );
    let mut b = agent(
        &lab,
        tag,
        1,
        &config(VRID, 100, "100ms", "192.0.2.50/24", VMAC_EXTRA),
    );
    a.wait_for_state("web", "master", SETTLE).unwrap();
    b.wait_for_state("web", "backup", SETTLE).unwrap();

    // Both routers have the macvlan, up, with the virtual router MAC; the
    // Master's holds the VIP, and the interface below holds nothing.
    for host in &lab.hosts {
        assert_eq!(
            link_mac(host, VMAC).as_deref(),
            Some(VIRTUAL_MAC),
            "{}",
            a.log()
        );
        assert_eq!(setting(host, VMAC, "arp_ignore"), "1");
        assert_eq!(arp_settings(host), ["1", "1", "2"].map(str::to_owned));
    }
    assert!(
        wait_until(SETTLE, || holds_on(&lab.hosts[0], VMAC, VIP)),
        "the Master's macvlan never held the VIP:\n{}",
        a.log()
    );
    assert!(!holds_on(&lab.hosts[0], "eth0", VIP));
    assert!(!holds_on(&lab.hosts[1], VMAC, VIP));
    // The subnet keeps its one route, through eth0: the host's own traffic
    // never leaves from the virtual MAC.
    let routes = lab.hosts[0]
        .ns
        .ip(&["-4", "route", "show", "dev", VMAC])
        .unwrap();
    assert!(
        routes.stdout.is_empty(),
        "routes through the macvlan: {}",
        String::from_utf8_lossy(&routes.stdout)
    );

    let pinger = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(20)).unwrap();
    assert!(
        pinger.wait_replies(5, SETTLE),
        "the client never reached the VIP:\n{}",
        a.log()
    );
    assert_eq!(lab.client.neighbour_mac(VIP).unwrap(), VIRTUAL_MAC);

    // From here on, nothing the new Master sends as ARP reaches the client.
    drop_arp_from(&lab, 1);
    let killed = Instant::now();
    a.kill();
    // RFC 9568 §6.4.2: the Backup takes over Master_Down_Interval after the
    // last advert it heard.
    let takeover = rfc::master_down_interval(100, INTERVAL);
    assert!(
        wait_until(takeover + MARGIN, || holds_on(&lab.hosts[1], VMAC, VIP)),
        "the Backup did not take the VIP within {takeover:?} + {MARGIN:?}:\n{}",
        b.log()
    );
    println!("takeover after {:?}", killed.elapsed());
    // The new Master's adverts leave from the virtual MAC (RFC 9568 §7.3):
    // the bridge learns it on the new Master's port.
    let port = lab.hosts[1].port().to_owned();
    assert!(
        wait_until(MARGIN, || fdb_port(&lab, VIRTUAL_MAC).as_deref()
            == Some(port.as_str())),
        "the bridge does not see the virtual MAC on {port}: {:?}",
        fdb_port(&lab, VIRTUAL_MAC)
    );
    // The killed Master's VIP leaves its host when its kernel lifetime ends
    // (vip_lifetime: 4 intervals, at least 2s, counted in whole seconds).
    let lifetime = Duration::from_secs(2) + Duration::from_secs(1);
    assert!(
        wait_until(lifetime + MARGIN, || !holds_on(&lab.hosts[0], VMAC, VIP)),
        "the killed Master's VIP stayed"
    );
    // Only the new Master answers now, and the client reaches it with the
    // neighbour entry it had: same MAC, no ARP from the new Master seen.
    pinger.reset();
    assert!(
        pinger.wait_replies(10, SETTLE),
        "the client lost the VIP after the failover:\n{}",
        b.log()
    );
    holds_for(
        "the client's neighbour entry for the VIP changed",
        Duration::from_millis(500),
        || lab.client.neighbour_mac(VIP).unwrap_or_default() == VIRTUAL_MAC,
        || b.log(),
    );
    assert!(
        arp_dropped(&lab) >= 1,
        "the new Master sent no ARP at all, so the test proved nothing"
    );
    println!(
        "ARP frames of the new Master dropped: {}",
        arp_dropped(&lab)
    );
    allow_arp(&lab);

    // A restart after the crash adopts the macvlan the killed agent left.
    a.restart().unwrap();
    a.wait_for_state("web", "master", SETTLE).unwrap();
    b.wait_for_state("web", "backup", SETTLE).unwrap();
    assert!(wait_until(SETTLE, || holds_on(&lab.hosts[0], VMAC, VIP)));
    pinger.reset();
    assert!(pinger.wait_replies(5, SETTLE), "{}", a.log());
    assert_eq!(lab.client.neighbour_mac(VIP).unwrap(), VIRTUAL_MAC);

    // A clean stop deletes the macvlan and restores the settings.
    assert!(b.terminate().is_some_and(|s| s.success()), "{}", b.log());
    assert_eq!(link_mac(&lab.hosts[1], VMAC), None, "{}", b.log());
    assert_eq!(arp_settings(&lab.hosts[1]), before);

    // After a crash, remove-vips (ExecStopPost) deletes it.
    a.kill();
    assert!(link_mac(&lab.hosts[0], VMAC).is_some());
    let report = remove_vips(&lab.hosts[0], &a.config_path());
    assert!(
        report.contains("deleted the virtual MAC interface"),
        "{report}"
    );
    assert_eq!(link_mac(&lab.hosts[0], VMAC), None);
}

#[test]
fn ipv6_clients_keep_the_virtual_mac_across_a_failover() {
    let test = "ipv6_clients_keep_the_virtual_mac_across_a_failover";
    if !can_run_lab(test) {
        return;
    }
    const VIP6: &str = "2001:db8::50";
    const VMAC6: &str = "vrrp6.51";
    const VIRTUAL_MAC6: &str = "00:00:5e:00:02:33";
    let tag = "vm6";
    let lab = lab(tag, 2);
    let mut a = agent(
        &lab,
        tag,
        0,
        &config(VRID, 200, "100ms", "2001:db8::50/64", VMAC_EXTRA),
    );
    let b = agent(
        &lab,
        tag,
        1,
        &config(VRID, 100, "100ms", "2001:db8::50/64", VMAC_EXTRA),
    );
    a.wait_for_state("web", "master", SETTLE).unwrap();
    b.wait_for_state("web", "backup", SETTLE).unwrap();
    for host in &lab.hosts {
        assert_eq!(
            link_mac(host, VMAC6).as_deref(),
            Some(VIRTUAL_MAC6),
            "{}",
            a.log()
        );
    }
    assert!(
        wait_until(SETTLE, || holds_on(&lab.hosts[0], VMAC6, VIP6)),
        "{}",
        a.log()
    );
    // The Master's adverts, sent from the macvlan, reach the Backup.
    holds_for(
        "the Backup left Backup behind an IPv6 virtual MAC Master",
        Duration::from_secs(1),
        || b.status().and_then(|s| s.state("web")).as_deref() == Some("backup"),
        || b.log(),
    );
    let pinger = Pinger::start(&lab.client.ns, VIP6, Duration::from_millis(20)).unwrap();
    assert!(pinger.wait_replies(5, SETTLE), "{}", a.log());
    assert_eq!(lab.client.neighbour_mac(VIP6).unwrap(), VIRTUAL_MAC6);

    a.kill();
    let takeover = rfc::master_down_interval(100, INTERVAL);
    assert!(
        wait_until(takeover + MARGIN, || holds_on(&lab.hosts[1], VMAC6, VIP6)),
        "the Backup did not take the VIP within {takeover:?} + {MARGIN:?}:\n{}",
        b.log()
    );
    // The new Master's adverts leave from the virtual MAC.
    let port = lab.hosts[1].port().to_owned();
    assert!(
        wait_until(MARGIN, || fdb_port(&lab, VIRTUAL_MAC6).as_deref()
            == Some(port.as_str())),
        "the bridge does not see the virtual MAC on {port}: {:?}",
        fdb_port(&lab, VIRTUAL_MAC6)
    );
    let lifetime = Duration::from_secs(2) + Duration::from_secs(1);
    assert!(wait_until(lifetime + MARGIN, || !holds_on(
        &lab.hosts[0],
        VMAC6,
        VIP6
    )));
    pinger.reset();
    assert!(pinger.wait_replies(10, SETTLE), "{}", b.log());
    assert_eq!(lab.client.neighbour_mac(VIP6).unwrap(), VIRTUAL_MAC6);
}

#[test]
fn a_re_created_interface_gets_its_virtual_mac_back() {
    let test = "a_re_created_interface_gets_its_virtual_mac_back";
    if !can_run_lab(test) {
        return;
    }
    let tag = "vmre";
    let lab = lab(tag, 1);
    let a = agent(
        &lab,
        tag,
        0,
        &config(VRID, 200, "100ms", "192.0.2.50/24", VMAC_EXTRA),
    );
    a.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(wait_until(SETTLE, || holds_on(&lab.hosts[0], VMAC, VIP)));
    // Deleting the interface takes the macvlan with it.
    lab.delete_interface(0).unwrap();
    assert_eq!(link_mac(&lab.hosts[0], VMAC), None);
    lab.create_interface(0).unwrap();
    assert!(
        wait_until(SETTLE, || holds_on(&lab.hosts[0], VMAC, VIP)),
        "the macvlan and its VIP did not come back:\n{}",
        a.log()
    );
    assert_eq!(link_mac(&lab.hosts[0], VMAC).as_deref(), Some(VIRTUAL_MAC));
    // Deleted on its own, it is made again too.
    lab.hosts[0].ns.ip(&["link", "del", VMAC]).unwrap();
    assert!(
        wait_until(SETTLE, || holds_on(&lab.hosts[0], VMAC, VIP)),
        "the deleted macvlan was not made again:\n{}",
        a.log()
    );
    let pinger = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(20)).unwrap();
    assert!(pinger.wait_replies(5, SETTLE), "{}", a.log());
    assert_eq!(lab.client.neighbour_mac(VIP).unwrap(), VIRTUAL_MAC);
    // A VIP taken off the macvlan by hand is put back on the kernel's
    // notification, as on any interface: within the margin, well before the
    // full re-read of every address (every 10 s) would notice.
    lab.hosts[0]
        .ns
        .ip(&["addr", "del", "192.0.2.50/24", "dev", VMAC])
        .unwrap();
    assert!(
        wait_until(MARGIN, || holds_on(&lab.hosts[0], VMAC, VIP)),
        "the VIP removed from the macvlan was not put back:\n{}",
        a.log()
    );
}

#[test]
fn a_reload_moves_the_vips_onto_the_virtual_mac_and_back() {
    let test = "a_reload_moves_the_vips_onto_the_virtual_mac_and_back";
    if !can_run_lab(test) {
        return;
    }
    let tag = "vmrl";
    let lab = lab(tag, 1);
    let host = &lab.hosts[0];
    let before = arp_settings(host);
    let plain = config(VRID, 200, "100ms", "192.0.2.50/24", "");
    let a = agent(&lab, tag, 0, &plain);
    a.wait_for_state("web", "master", SETTLE).unwrap();
    assert!(wait_until(SETTLE, || holds_on(host, "eth0", VIP)));
    assert_eq!(link_mac(host, VMAC), None);

    let with_vmac = config(VRID, 200, "100ms", "192.0.2.50/24", VMAC_EXTRA);
    std::fs::write(a.config_path(), &with_vmac).unwrap();
    a.reload().unwrap();
    assert!(
        wait_until(SETTLE, || holds_on(host, VMAC, VIP)
            && !holds_on(host, "eth0", VIP)),
        "the VIP did not move onto the macvlan:\n{}",
        a.log()
    );
    assert_eq!(link_mac(host, VMAC).as_deref(), Some(VIRTUAL_MAC));
    a.wait_for_state("web", "master", SETTLE).unwrap();
    // `twinstar status` reads the VIP where it lives: on the macvlan.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twinstar"))
        .args(["status", "--json", "--runtime-dir"])
        .arg(a.runtime_dir())
        .output()
        .expect("run twinstar status");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(
        status["instances"][0]["virtual_ips"][0]["present"],
        serde_json::Value::Bool(true),
        "{status}"
    );

    std::fs::write(a.config_path(), &plain).unwrap();
    a.reload().unwrap();
    assert!(
        wait_until(SETTLE, || holds_on(host, "eth0", VIP)
            && link_mac(host, VMAC).is_none()),
        "the macvlan stayed or the VIP did not come back to eth0:\n{}",
        a.log()
    );
    assert!(
        wait_until(SETTLE, || arp_settings(host) == before),
        "{}",
        a.log()
    );
}

#[test]
fn a_name_taken_by_another_interface_is_refused_and_left_alone() {
    let test = "a_name_taken_by_another_interface_is_refused_and_left_alone";
    if !can_run_lab(test) {
        return;
    }
    let tag = "vmnt";
    let lab = lab(tag, 1);
    let host = &lab.hosts[0];
    host.ns
        .ip(&[
            "link", "add", "svc0", "type", "veth", "peer", "name", "svc1",
        ])
        .unwrap();
    let before = link_mac(host, "svc0");
    let extra = "    vmac: svc0\n";
    let a = agent(
        &lab,
        tag,
        0,
        &config(VRID, 200, "100ms", "192.0.2.50/24", extra),
    );
    assert!(
        wait_until(SETTLE, || a
            .log()
            .contains("svc0 exists and is not a virtual MAC interface")),
        "no error names the taken interface:\n{}",
        a.log()
    );
    assert_eq!(link_mac(host, "svc0"), before, "svc0 was changed");
    assert!(!holds_on(host, "svc0", VIP) && !holds_on(host, "eth0", VIP));
}

/// keepalived's default protocol with `use_vmac` (its macvlan is `vrrp.51`).
fn keepalived_vmac(priority: u8) -> String {
    format!(
        "global_defs {{\n    vrrp_version 3\n    router_id twinstar_lab\n}}\n\
         vrrp_instance VI {{\n    state BACKUP\n    interface eth0\n    use_vmac\n    \
         virtual_router_id {VRID}\n    priority {priority}\n    advert_int 0.1\n    \
         virtual_ipaddress {{\n        192.0.2.50/24\n    }}\n}}\n"
    )
}

fn start_keepalived(lab: &Lab, tag: &str, index: usize, priority: u8) -> Keepalived {
    Keepalived::start(
        &lab.hosts[index].ns,
        &dir(tag, index),
        &keepalived_vmac(priority),
    )
    .expect("start keepalived")
}

/// How long the survivor may take once the Master's cable is pulled: RFC
/// 9568's Master_Down_Interval for the lower priority (100) plus the margin.
fn takeover_bound() -> Duration {
    rfc::master_down_interval(100, INTERVAL) + MARGIN
}

#[test]
fn twinstar_takes_over_from_a_keepalived_vmac_master() {
    let test = "twinstar_takes_over_from_a_keepalived_vmac_master";
    if !can_run_keepalived_lab(test) {
        return;
    }
    let tag = "vmka";
    let lab = lab(tag, 2);
    let theirs = start_keepalived(&lab, tag, 0, 200);
    let ours = agent(
        &lab,
        tag,
        1,
        &config(VRID, 100, "100ms", "192.0.2.50/24", VMAC_EXTRA),
    );
    assert!(
        wait_until(SETTLE, || holds_on(&lab.hosts[0], VMAC, VIP)),
        "keepalived never took the VIP:\n{}",
        theirs.log()
    );
    ours.wait_for_state("web", "backup", SETTLE).unwrap();
    assert_eq!(link_mac(&lab.hosts[0], VMAC).as_deref(), Some(VIRTUAL_MAC));
    // Backup for a while: keepalived's adverts (from the virtual MAC) arrive.
    holds_for(
        "twinstar left Backup behind a keepalived Master",
        Duration::from_secs(1),
        || ours.status().and_then(|s| s.state("web")).as_deref() == Some("backup"),
        || format!("{}\n{}", ours.log(), theirs.log()),
    );
    // (The client's neighbour entry is not checked while keepalived is
    // Master: its host answers the client from the VIP through eth0 without
    // `arp_announce`, and the ARP question that needs carries the VIP with
    // eth0's MAC; see src/daemon/vmac.rs.)
    let pinger = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(20)).unwrap();
    assert!(pinger.wait_replies(5, SETTLE), "{}", theirs.log());

    lab.set_cable(0, false).unwrap();
    assert!(
        wait_until(takeover_bound(), || holds_on(&lab.hosts[1], VMAC, VIP)),
        "twinstar did not take the VIP:\n{}",
        ours.log()
    );
    pinger.reset();
    assert!(pinger.wait_replies(5, SETTLE), "{}", ours.log());
    assert!(
        wait_until(SETTLE, || lab.client.neighbour_mac(VIP).unwrap_or_default()
            == VIRTUAL_MAC),
        "the client does not use the virtual MAC: {:?}",
        lab.client.neighbour_mac(VIP)
    );
}

#[test]
fn keepalived_vmac_takes_over_from_twinstar() {
    let test = "keepalived_vmac_takes_over_from_twinstar";
    if !can_run_keepalived_lab(test) {
        return;
    }
    let tag = "vmtk";
    let lab = lab(tag, 2);
    let ours = agent(
        &lab,
        tag,
        0,
        &config(VRID, 200, "100ms", "192.0.2.50/24", VMAC_EXTRA),
    );
    ours.wait_for_state("web", "master", SETTLE).unwrap();
    let theirs = start_keepalived(&lab, tag, 1, 100);
    // keepalived hears our adverts (sent from the virtual MAC) and stays Backup.
    assert!(wait_until(SETTLE, || link_mac(&lab.hosts[1], VMAC).is_some()));
    holds_for(
        "keepalived took the VIP from a twinstar Master",
        Duration::from_secs(2),
        || holds_on(&lab.hosts[0], VMAC, VIP) && !holds_on(&lab.hosts[1], VMAC, VIP),
        || format!("{}\n{}", ours.log(), theirs.log()),
    );
    let pinger = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(20)).unwrap();
    assert!(pinger.wait_replies(5, SETTLE), "{}", ours.log());
    assert_eq!(lab.client.neighbour_mac(VIP).unwrap(), VIRTUAL_MAC);

    lab.set_cable(0, false).unwrap();
    assert!(
        wait_until(takeover_bound(), || holds_on(&lab.hosts[1], VMAC, VIP)),
        "keepalived did not take the VIP:\n{}",
        theirs.log()
    );
    pinger.reset();
    assert!(pinger.wait_replies(5, SETTLE), "{}", theirs.log());
    assert_eq!(link_mac(&lab.hosts[1], VMAC).as_deref(), Some(VIRTUAL_MAC));
}
