//! `twinstar watch` on a real LAN: a client namespace that runs no agent
//! listens while keepalived (VRRPv3, and VRRPv2 as it speaks by default) and
//! two twinstar routers (one also on IPv6) advertise; each router must show
//! with its version, priority, interval, checksum form and MAC, and a second
//! Master (the path between the two twinstar routers cut at the bridge) must
//! be flagged.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::agents::{agent, can_run_lab, config, dir, lab, wait_until, MARGIN, SETTLE};
use support::rfc::master_down_interval;
use twinstar::lab::keepalived::{self, Keepalived};
use twinstar::lab::{Lab, Namespace};

/// The twinstar routers' advertisement interval.
const INTERVAL: Duration = Duration::from_millis(100);

/// How often the watcher notices silences (its tick).
const WATCH_TICK: Duration = Duration::from_secs(1);

/// The bridge table that cuts the path between the two twinstar routers.
const CUT_TABLE: &str = "twinstar_watch_cut";

/// `twinstar watch eth0 --json` in a namespace, its lines collected as they
/// come; killed when dropped.
struct Watcher {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Watcher {
    fn start(ns: &Namespace) -> Watcher {
        let mut child = ns
            .command(env!("CARGO_BIN_EXE_twinstar"))
            .args(["watch", "eth0", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start twinstar watch");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // A line that is not JSON is kept as a string, for the test to reject.
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock().expect("lines").push(value);
            }
        });
        Watcher { child, lines }
    }

    /// The first line that `matches`, waiting up to `timeout`.
    fn wait_for(&self, timeout: Duration, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        let mut found = None;
        wait_until(timeout, || {
            found = self
                .lines
                .lock()
                .expect("lines")
                .iter()
                .find(|v| matches(v))
                .cloned();
            found.is_some()
        });
        found
    }

    fn dump(&self) -> String {
        let lines = self.lines.lock().expect("lines");
        lines.iter().map(|v| format!("{v}\n")).collect()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runnable(test: &str) -> bool {
    if !can_run_lab(test) {
        return false;
    }
    if !keepalived::available() {
        support::skip::skip(test, "keepalived is not installed");
        return false;
    }
    true
}

/// A `router` line of `vrid` from `source`.
fn router(vrid: u64, source: &str) -> impl Fn(&Value) -> bool + '_ {
    move |v| v["event"] == "router" && v["vrid"] == vrid && v["source"] == source
}

fn anomaly(vrid: u64, kind: &str, raised: bool) -> impl Fn(&Value) -> bool + '_ {
    move |v| {
        v["event"] == "anomaly" && v["vrid"] == vrid && v["kind"] == kind && v["raised"] == raised
    }
}

fn cut_twinstar_routers(lab: &Lab) {
    let (p1, p2) = (lab.hosts[0].port(), lab.hosts[1].port());
    let rules = format!(
        "table bridge {CUT_TABLE} {{\n chain forward {{\n  type filter hook forward priority 0; policy accept;\n  \
         iifname \"{p1}\" oifname \"{p2}\" drop\n  iifname \"{p2}\" oifname \"{p1}\" drop\n }}\n}}\n"
    );
    let path = dir("wtch", 9).with_extension("nft");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("directory");
    std::fs::write(&path, rules).expect("write rules");
    lab.bridge()
        .exec("nft", &["-f", &path.to_string_lossy()])
        .expect("cut the path");
}

fn heal(lab: &Lab) {
    lab.bridge()
        .exec("nft", &["delete", "table", "bridge", CUT_TABLE])
        .expect("heal the path");
}

#[test]
fn watch_shows_keepalived_and_twinstar_routers_and_flags_a_second_master() {
    let test = "watch_shows_keepalived_and_twinstar_routers_and_flags_a_second_master";
    if !runnable(test) {
        return;
    }
    let lab = lab("wtch", 4);
    let watcher = Watcher::start(&lab.client.ns);
    // twinstar: VRID 60, 192.0.2.11 (150) Master over 192.0.2.12 (100).
    let vip = "192.0.2.60/24";
    // The first one also runs an IPv6 instance, VRID 61.
    let ipv6 = "  - name: web6\n    interface: eth0\n    vrid: 61\n    priority: 150\n    \
                advert_interval: 100ms\n    virtual_ips: [2001:db8::61/64]\n";
    let first = agent(&lab, "wtch", 0, &(config(60, 150, "100ms", vip, "") + ipv6));
    first.wait_for_state("web", "master", SETTLE).unwrap();
    first.wait_for_state("web6", "master", SETTLE).unwrap();
    let second = agent(&lab, "wtch", 1, &config(60, 100, "100ms", vip, ""));
    second.wait_for_state("web", "backup", SETTLE).unwrap();
    // keepalived: VRRPv3 on VRID 51 from .13, its default VRRPv2 on VRID 52 from .14.
    let _v3 = Keepalived::start(
        &lab.hosts[2].ns,
        &dir("wtch", 2),
        &keepalived::config(51, 150, "0.1", "192.0.2.51/24"),
    )
    .expect("start keepalived (VRRPv3)");
    let v2_config =
        keepalived::config(52, 120, "1", "192.0.2.52/24").replace("    vrrp_version 3\n", "");
    let _v2 = Keepalived::start(&lab.hosts[3].ns, &dir("wtch", 3), &v2_config)
        .expect("start keepalived (VRRPv2)");

    let expect = [
        // (vrid, host, version, priority, interval ms, checksum form)
        (60, 0, 3, 150, 100, "pseudo-header"),
        (51, 2, 3, 150, 100, "pseudo-header"),
        (52, 3, 2, 120, 1000, "message-only"),
    ];
    for (vrid, host, version, priority, interval_ms, checksum) in expect {
        let host = &lab.hosts[host];
        let source = host.ipv4.to_string();
        let line = watcher
            .wait_for(SETTLE, router(vrid, &source))
            .unwrap_or_else(|| panic!("no router {source} on VRID {vrid}:\n{}", watcher.dump()));
        assert_eq!(line["version"], version, "{line}");
        assert_eq!(line["priority"], priority, "{line}");
        assert_eq!(line["interval_ms"], interval_ms, "{line}");
        assert_eq!(line["checksum"], checksum, "{line}");
        assert_eq!(line["ttl"], 255, "{line}");
        assert_eq!(line["mac"], host.mac().unwrap(), "{line}");
        assert_eq!(line["interface"], "eth0", "{line}");
        let master = watcher.wait_for(SETTLE, |v| {
            v["event"] == "master" && v["vrid"] == vrid && v["master"] == source.as_str()
        });
        assert!(
            master.is_some(),
            "{source} never Master of VRID {vrid}:\n{}",
            watcher.dump()
        );
    }
    let line = watcher
        .wait_for(SETTLE, |v| v["event"] == "router" && v["vrid"] == 61)
        .unwrap_or_else(|| panic!("no router on VRID 61:\n{}", watcher.dump()));
    assert_eq!(line["family"], "ipv6", "{line}");
    assert!(
        line["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("fe80:")),
        "{line}"
    );
    assert_eq!(line["vips"], serde_json::json!(["2001:db8::61"]), "{line}");
    assert_eq!(line["ttl"], 255, "{line}");
    assert_eq!(line["mac"], lab.hosts[0].mac().unwrap(), "{line}");
    assert!(
        watcher
            .wait_for(Duration::ZERO, anomaly(60, "two_masters", true))
            .is_none(),
        "two Masters flagged before the cut:\n{}",
        watcher.dump()
    );

    // Cut the path between the two twinstar routers: the Backup hears its
    // Master no more and becomes Master within Master_Down_Interval (RFC 9568
    // §6.4.2), while the watcher hears both. Flagged once four adverts have
    // alternated between them.
    let cut = Instant::now();
    cut_twinstar_routers(&lab);
    let bound = master_down_interval(100, INTERVAL) + INTERVAL * 4 + MARGIN;
    let flagged = watcher.wait_for(bound, anomaly(60, "two_masters", true));
    let flagged = flagged.unwrap_or_else(|| {
        panic!(
            "no two_masters after {:?}:\n{}",
            cut.elapsed(),
            watcher.dump()
        )
    });
    assert!(
        flagged["detail"]
            .as_str()
            .is_some_and(|d| d.contains("192.0.2.11") && d.contains("192.0.2.12")),
        "{flagged}"
    );
    println!("two Masters flagged {:?} after the cut", cut.elapsed());
    assert!(
        watcher
            .wait_for(Duration::ZERO, anomaly(51, "two_masters", true))
            .is_none(),
        "a VRID that was not cut is flagged:\n{}",
        watcher.dump()
    );

    // Healed: the lower priority yields at the first advert it hears (RFC 9568
    // §6.4.3), and the flag clears once its last advert is older than the
    // watcher's window (Master_Down_Interval, below four intervals) at its next tick.
    let healed = Instant::now();
    heal(&lab);
    let bound = INTERVAL * 4 + WATCH_TICK + MARGIN;
    assert!(
        watcher
            .wait_for(bound, anomaly(60, "two_masters", false))
            .is_some(),
        "two_masters not cleared {:?} after healing:\n{}",
        healed.elapsed(),
        watcher.dump()
    );
    second.wait_for_state("web", "backup", SETTLE).unwrap();
    let lines = watcher.lines.lock().expect("lines");
    let not_objects: Vec<&Value> = lines.iter().filter(|v| !v.is_object()).collect();
    assert!(
        not_objects.is_empty(),
        "lines that are not JSON objects: {not_objects:?}"
    );
}
