//! Redundant heartbeat links on real sockets: hosts A and B share the
//! service link (`eth0`, through the lab's bridge) and a second link (`eth1`,
//! a veth pair made directly between their namespaces), and run `web` with
//! `heartbeat: [eth1]`. Cutting either link alone causes no transition;
//! cutting both fails over within Master_Down_Interval; the adverts on `eth1`
//! are plain VRRPv3; a re-created `eth1` is used again, and reloads that
//! remove or add it neither move the Master nor starve the watchdog.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use support::agents::{agent, can_run_lab, config, holds_for, lab, state_between, SETTLE, STARTUP};
use support::netns::{ip, veth_pair, Capture};
use support::rfc::master_down_interval;
use twinstar::lab::{Agent, Lab};
use twinstar::wire::vrrp::{Advertisement, Packet};

const VIP: &str = "192.0.2.50";
/// Longer than the other lab tests' 100 ms: the holds below must not see a
/// takeover caused by nothing but a starved agent on a shared machine.
const INTERVAL: Duration = Duration::from_millis(200);
const A_ON_ETH1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);
const B_ON_ETH1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 12);
/// The table of the cut's nftables rules in the lab's bridge namespace.
const CUT_TABLE: &str = "heartbeat_cut";

fn logs(a: &Agent, b: &Agent) -> String {
    format!("A:\n{}\nB:\n{}", a.log(), b.log())
}

/// Adds the second link, `eth1`, between hosts A and B, with their addresses.
fn second_link(lab: &Lab) {
    let (a, b) = (&lab.hosts[0].ns, &lab.hosts[1].ns);
    veth_pair(
        a,
        "eth1",
        "02:00:00:00:01:11",
        b,
        "eth1",
        "02:00:00:00:01:12",
    );
    ip(
        a,
        &["addr", "add", &format!("{A_ON_ETH1}/24"), "dev", "eth1"],
    );
    ip(
        b,
        &["addr", "add", &format!("{B_ON_ETH1}/24"), "dev", "eth1"],
    );
}

/// A (150) Master and B (100) Backup of VRID `vrid`, both with eth1 as a
/// heartbeat link.
fn elect(lab: &Lab, tag: &str, vrid: u8) -> (Agent, Agent) {
    let started = Instant::now();
    let extra = "    heartbeat: [eth1]\n";
    let a = agent(
        lab,
        tag,
        0,
        &config(vrid, 150, "200ms", "192.0.2.50/24", extra),
    );
    let b = agent(
        lab,
        tag,
        1,
        &config(vrid, 100, "200ms", "192.0.2.50/24", extra),
    );
    let mdi = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", started, mdi, mdi + STARTUP);
    b.wait_for_state("web", "backup", STARTUP).unwrap();
    (a, b)
}

/// Cuts the service link between A and B only (both keep carrier and the
/// client), with bridge-family rules on their ports.
fn cut_service_link(lab: &Lab) {
    let bridge = lab.bridge();
    let (pa, pb) = (lab.hosts[0].port(), lab.hosts[1].port());
    let nft = |command: String| {
        bridge
            .exec("nft", &[&command])
            .unwrap_or_else(|e| panic!("nft {command}: {e}"));
    };
    nft(format!("add table bridge {CUT_TABLE}"));
    nft(format!(
        "add chain bridge {CUT_TABLE} forward {{ type filter hook forward priority 0 ; }}"
    ));
    nft(format!(
        "add rule bridge {CUT_TABLE} forward iifname \"{pa}\" oifname \"{pb}\" drop"
    ));
    nft(format!(
        "add rule bridge {CUT_TABLE} forward iifname \"{pb}\" oifname \"{pa}\" drop"
    ));
}

fn heal_service_link(lab: &Lab) {
    let delete = format!("delete table bridge {CUT_TABLE}");
    lab.bridge()
        .exec("nft", &[&delete])
        .unwrap_or_else(|e| panic!("nft {delete}: {e}"));
}

/// Asserts for `span` that A alone is Master and holds the VIP, and B stays
/// Backup (not Fault: a heartbeat link is never one).
fn no_transition(lab: &Lab, a: &Agent, b: &Agent, span: Duration, what: &str) {
    let state = |agent: &Agent| agent.status().and_then(|s| s.state("web"));
    holds_for(
        what,
        span,
        || {
            state(a).as_deref() == Some("master")
                && state(b).as_deref() == Some("backup")
                && lab.holders(VIP).unwrap() == vec![true, false]
        },
        || logs(a, b),
    );
}

/// How long ago B heard an advert on its heartbeat link, from its status.
fn heard_on_eth1_ms_ago(b: &Agent) -> Option<u64> {
    let status = b.status()?;
    status.0["instances"][0]["heartbeat"][0]["last_advert_ms_ago"].as_u64()
}

#[test]
fn cutting_one_link_causes_no_transition_and_eth1_carries_plain_vrrpv3() {
    if !can_run_lab("heartbeat_one_link") {
        return;
    }
    let lab = lab("hb1", 2);
    second_link(&lab);
    let (a, b) = elect(&lab, "hb1", 71);

    // An advert on eth1 as a keepalived there would see it: from A's address
    // on eth1, TTL 255, to 224.0.0.18, a valid VRRPv3 message.
    let capture = Capture::start(&lab.hosts[1].ns, "eth1", "ip proto 112");
    let frame = capture.frame_after(|| {});
    let ip_header = &frame[14..];
    let header_len = usize::from(ip_header[0] & 0x0f) * 4;
    assert_eq!(ip_header[8], 255, "TTL");
    let source = Ipv4Addr::new(ip_header[12], ip_header[13], ip_header[14], ip_header[15]);
    let destination = Ipv4Addr::new(ip_header[16], ip_header[17], ip_header[18], ip_header[19]);
    assert_eq!(source, A_ON_ETH1);
    assert_eq!(destination, Ipv4Addr::new(224, 0, 0, 18));
    let packet = Packet::new_checked(&ip_header[header_len..]).expect("a whole VRRP message");
    let (advert, _form) =
        Advertisement::parse(&packet, IpAddr::V4(source), IpAddr::V4(destination))
            .expect("plain VRRPv3");
    assert_eq!((advert.vrid(), advert.priority()), (71, 150));
    assert_eq!(advert.max_adver_interval(), INTERVAL);

    // RFC 9568 §6.4.2: B takes over once it hears nothing for its
    // Master_Down_Interval; holding for five of them shows eth1 kept it.
    let mdi = master_down_interval(100, INTERVAL);
    cut_service_link(&lab);
    no_transition(
        &lab,
        &a,
        &b,
        5 * mdi,
        "service link cut: eth1 carries the adverts",
    );
    let ago = heard_on_eth1_ms_ago(&b).expect("B hears A on eth1");
    assert!(
        ago < mdi.as_millis() as u64,
        "last heard on eth1 {ago} ms ago"
    );
    heal_service_link(&lab);

    // The heartbeat link down at B: a dead heartbeat link, no Fault.
    ip(&lab.hosts[1].ns, &["link", "set", "eth1", "down"]);
    no_transition(&lab, &a, &b, 5 * mdi, "eth1 down: eth0 carries the adverts");
    let status = b.status().expect("status");
    let link = &status.0["instances"][0]["heartbeat"][0];
    assert_eq!(link["carrier"], false, "{link}");
    assert!(link["last_advert_ms_ago"].as_u64() >= Some(5 * mdi.as_millis() as u64 - 500));
    ip(&lab.hosts[1].ns, &["link", "set", "eth1", "up"]);

    // Reloads that remove and add the heartbeat link never move the Master.
    let with_link = std::fs::read_to_string(a.config_path()).expect("A's config");
    let without = with_link.replace("    heartbeat: [eth1]\n", "");
    assert_ne!(with_link, without, "the heartbeat line is in A's config");
    let links = |agent: &Agent| {
        let status = agent.status().expect("status");
        status.0["instances"][0]["heartbeat"]
            .as_array()
            .map_or(0, Vec::len)
    };
    for (text, count, what) in [
        (&without, 0, "heartbeat link removed"),
        (&with_link, 1, "added back"),
    ] {
        std::fs::write(a.config_path(), text).expect("write A's config");
        a.reload().expect("SIGHUP");
        assert!(
            support::agents::wait_until(mdi, || links(&a) == count),
            "{what}: reload not applied\n{}",
            logs(&a, &b)
        );
        no_transition(&lab, &a, &b, 2 * mdi, what);
    }
    let has_link = |agent: &Agent| {
        let status = agent.status().expect("status");
        status.0["instances"][0]["heartbeat"][0]["source"] == A_ON_ETH1.to_string()
    };
    assert!(
        support::agents::wait_until(mdi, || has_link(&a)),
        "A's eth1 bound again after the reload\n{}",
        logs(&a, &b)
    );
}

#[test]
fn a_re_created_heartbeat_link_is_used_again_and_cutting_every_link_fails_over() {
    if !can_run_lab("heartbeat_all_links") {
        return;
    }
    let lab = lab("hb2", 2);
    second_link(&lab);
    let (a, b) = elect(&lab, "hb2", 72);
    let mdi = master_down_interval(100, INTERVAL);
    let fresh = |b: &Agent| {
        heard_on_eth1_ms_ago(b).is_some_and(|ago| ago < INTERVAL.as_millis() as u64 * 2)
    };
    assert!(
        support::agents::wait_until(mdi, || fresh(&b)),
        "B hears A on eth1\n{}",
        logs(&a, &b)
    );
    // eth1 deleted (both ends of the pair go) and made again, with new
    // indexes: both agents look it up again and use it, nothing moves.
    ip(&lab.hosts[0].ns, &["link", "del", "eth1"]);
    no_transition(&lab, &a, &b, 2 * mdi, "eth1 deleted");
    assert!(!fresh(&b), "nothing heard on a deleted link");
    second_link(&lab);
    assert!(
        support::agents::wait_until(SETTLE, || fresh(&b)),
        "B hears A on the re-created eth1\n{}",
        logs(&a, &b)
    );
    // Both links carry adverts before the cut.
    ip(&lab.hosts[1].ns, &["link", "set", "eth1", "down"]);
    // Read before the cut: the drop rule takes hold somewhere inside the `nft`
    // commands, so only an instant read before them bounds the takeover from
    // below; the upper bound's margin covers how long the commands take.
    let cut = Instant::now();
    cut_service_link(&lab);
    // RFC 9568 §6.4.2: B's down timer ran from A's last advert, at most one
    // Advertisement_Interval before the cut.
    state_between(&b, "web", "master", cut, mdi - INTERVAL, mdi);
    // A still serves its side: the service link between them is what was cut.
    assert_eq!(
        a.status().and_then(|s| s.state("web")).as_deref(),
        Some("master"),
        "{}",
        logs(&a, &b)
    );
}

#[test]
fn a_heartbeat_link_removed_by_reload_does_not_stop_the_watchdog() {
    if !can_run_lab("heartbeat_watchdog") {
        return;
    }
    let lab = lab("hb3", 2);
    second_link(&lab);
    let dir = support::agents::dir("hb3", 0);
    std::fs::create_dir_all(&dir).expect("test directory");
    let path = dir.join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let notify = path.display().to_string();
    let program = std::path::PathBuf::from(env!("CARGO_BIN_EXE_twinstar"));
    let extra = "    heartbeat: [eth1]\n";
    let a = Agent::start_with_env(
        &lab.hosts[0],
        &program,
        &dir,
        &config(73, 150, "200ms", "192.0.2.50/24", extra),
        &[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "400000")],
    )
    .expect("start agent");
    a.wait_for_state(
        "web",
        "master",
        STARTUP + master_down_interval(150, INTERVAL),
    )
    .expect("Master");
    let with_link = std::fs::read_to_string(a.config_path()).expect("config");
    let without = with_link.replace(extra, "");
    assert_ne!(with_link, without);
    std::fs::write(a.config_path(), &without).expect("write config");
    a.reload().expect("SIGHUP");
    // The socket of eth1 is closed with its reader; keep-alives go on, every
    // half watchdog period (200 ms), for two seconds after the reload.
    let mut buf = [0u8; 4096];
    let mut after_ready = 0;
    let mut reloaded = false;
    let deadline = Instant::now() + Duration::from_secs(8);
    while after_ready < 10 {
        assert!(
            Instant::now() < deadline,
            "{after_ready} keep-alives after the reload\n{}",
            a.log()
        );
        if let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]);
            reloaded |= message.contains("RELOADING=1");
            if reloaded && message.trim_end() == "WATCHDOG=1" {
                after_ready += 1;
            }
        }
    }
    assert!(!a.log().contains("withholding"), "{}", a.log());
}
