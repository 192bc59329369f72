//! The installed package under a real systemd: tests/package_systemd.sh boots a
//! Debian host with systemd as PID 1 (tests/support/systemd-host.sh), installs
//! the .deb in it and runs this test, which gives the host a peer: a plain
//! `twinstar run` in a network namespace of its own, on a veth pair made
//! directly inside the two namespaces. Then, through systemctl only:
//!
//! - start: `Type=notify` readiness, `STATUS=`, the pair elects the host;
//! - reload: a changed VIP list is applied without a flap;
//! - stop: the VIPs leave the host and the peer takes over;
//! - the journal: twinstar's fields and priorities, hooks' output, scripts run
//!   as the `twinstar` user;
//! - watchdog: a hung agent (SIGSTOP) is killed and restarted by systemd while
//!   the peer serves;
//! - SIGKILL: systemd restarts the agent (`Restart=on-failure`), and the VIP is
//!   never held by both hosts longer than systemd needs to run `ExecStopPost=`.

#[path = "../support/mod.rs"]
mod support;

mod host;
mod peer;
mod vip_sampler;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use host::SystemdHost;
use peer::Peer;
use support::agents::{wait_until, EARLY, MARGIN};
use support::rfc;
use twinstar::lab::Namespace;
use vip_sampler::{AddressProbe, Samples, VipSampler};

const CONFIG: &str = "/etc/twinstar/twinstar.yaml";
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
const SECOND_VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 51);
const VRID: u8 = 77;
const HOST_PRIORITY: u8 = 150;
const PEER_PRIORITY: u8 = 100;
const ADVERT_INTERVAL: Duration = Duration::from_millis(100);
/// How often the sampler looks at both hosts: 500 Hz asked for, at least
/// 100 Hz required (checked on every run).
const SAMPLE_PERIOD: Duration = Duration::from_millis(2);
const MIN_SAMPLE_RATE_HZ: f64 = 100.0;
/// The unit's `RestartSec=`.
const RESTART_SEC: Duration = Duration::from_secs(1);
/// `WatchdogSec=` of the test's drop-in (the unit's 30 s would make the test
/// wait half a minute).
const WATCHDOG_SEC: Duration = Duration::from_secs(3);
/// Upper margin on what systemd does (fork, exec, cgroup, journal) on top of
/// the agent's own time, on two shared and busy cores.
const SYSTEMD_MARGIN: Duration = Duration::from_secs(2);
/// How long systemd may take, after the agent is killed, to notice and run
/// `ExecStopPost=` (`twinstar remove-vips`: fork, exec, read the config, one
/// netlink request per VIP). Tens of milliseconds on an idle machine; the rest
/// is margin for two shared, busy cores.
const EXEC_STOP_POST_ALLOWANCE: Duration = Duration::from_millis(500);

/// The host's configuration: Master by priority; a track script that is up
/// only when it runs as the `twinstar` user (so the instance never becomes
/// Master when scripts run as anyone else); an `on_change` hook that logs to
/// the journal with logger(1); an `on_backup` hook that fails, whose
/// warning must reach the journal with the hook's last line.
fn host_config(vips: &[Ipv4Addr]) -> String {
    format!(
        "instances:
  - name: web
    interface: eth0
    vrid: {VRID}
    priority: {HOST_PRIORITY}
    advert_interval: 100ms
    virtual_ips:
{}    track:
      - name: runs-as-twinstar
        script: 'test \"$(id -un)\" = twinstar'
        interval: 1s
        weight: 0
    hooks:
      on_change: 'logger -t twinstar-hook \"$1 is now $2 (was $3) as $(id -un)\"'
      on_backup: 'echo \"on_backup hook says no\"; exit 3'
",
        vip_lines(vips)
    )
}

/// The peer's configuration: the same virtual router at a lower priority.
fn peer_config(vips: &[Ipv4Addr]) -> String {
    format!(
        "instances:
  - name: web
    interface: eth0
    vrid: {VRID}
    priority: {PEER_PRIORITY}
    advert_interval: 100ms
    virtual_ips:
{}",
        vip_lines(vips)
    )
}

fn vip_lines(vips: &[Ipv4Addr]) -> String {
    vips.iter().map(|v| format!("      - {v}/24\n")).collect()
}

/// The systemd host, its peer and what observes them.
struct Pair {
    host: SystemdHost,
    peer: Peer,
    /// Holds the peer's namespace until the end of the test.
    _peer_ns: Namespace,
}

impl Pair {
    /// Host 0 is the systemd host, host 1 the peer.
    fn holders(&self, vip: Ipv4Addr) -> [bool; 2] {
        let mut held = [false; 2];
        for (index, netns) in [self.host.netns(), self.peer.netns()].iter().enumerate() {
            let mut probe = AddressProbe::open_in(netns).expect("netlink probe");
            held[index] = probe
                .ipv4_addresses()
                .expect("list addresses")
                .contains(&vip);
        }
        held
    }

    fn sampler(&self, vip: Ipv4Addr) -> VipSampler {
        let probes = [
            AddressProbe::open_in(&self.host.netns()).expect("netlink probe in the host"),
            AddressProbe::open_in(&self.peer.netns()).expect("netlink probe in the peer"),
        ];
        VipSampler::start(probes, vip, SAMPLE_PERIOD)
    }

    /// Waits up to `bound` for `vip` to be held as `expected` ([host, peer]);
    /// returns how long it took, or fails with both sides' logs.
    fn expect_holders(
        &self,
        what: &str,
        vip: Ipv4Addr,
        expected: [bool; 2],
        since: Instant,
        bound: Duration,
    ) -> Duration {
        let held = wait_until(bound.saturating_sub(since.elapsed()), || {
            self.holders(vip) == expected
        });
        let took = since.elapsed();
        assert!(
            held,
            "{what}: {vip} held {:?} after {took:?}, expected {expected:?} within {bound:?}\n{}",
            self.holders(vip),
            self.logs()
        );
        println!("{what}: after {took:?} (bound {bound:?})");
        took
    }

    fn logs(&self) -> String {
        format!(
            "--- journal of twinstar.service in the systemd host:\n{}\n--- peer:\n{}",
            self.host.journal_text(),
            self.peer.log()
        )
    }
}

/// Gives the systemd host and a new peer namespace a veth pair (`eth0` on both
/// sides, made directly inside the two namespaces) and addresses.
fn wire(host: &SystemdHost) -> Namespace {
    let ns = Namespace::create(&format!("tssdpeer{}", std::process::id())).expect("peer netns");
    let pid = host.pid().to_string();
    let out = std::process::Command::new("ip")
        .args(["link", "add", "eth0", "netns", &pid, "type", "veth"])
        .args(["peer", "name", "eth0", "netns", ns.name()])
        .output()
        .expect("ip link add");
    assert!(
        out.status.success(),
        "veth pair: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    host.ip(&["addr", "add", "192.0.2.1/24", "dev", "eth0"]);
    host.ip(&["link", "set", "eth0", "up"]);
    ns.ip(&["addr", "add", "192.0.2.2/24", "dev", "eth0"])
        .expect("peer address");
    ns.ip(&["link", "set", "eth0", "up"]).expect("peer link up");
    ns
}

#[test]
#[ignore = "needs a systemd host with the package installed; tests/package_systemd.sh runs it"]
fn packaged_service_under_systemd() {
    let host = SystemdHost::from_env();
    let peer_ns = wire(&host);
    let program = Path::new(env!("CARGO_BIN_EXE_twinstar"));
    let peer_dir = support::agents::dir("sdpeer", 0);
    let peer = Peer::start(&peer_ns, program, &peer_dir, &peer_config(&[VIP]));
    let pair = Pair {
        host,
        peer,
        _peer_ns: peer_ns,
    };
    // Alone on the link, the peer becomes Master after Master_Down_Interval
    // (RFC 9568 §6.4.2); the host then has to preempt it.
    let mdi_peer = rfc::master_down_interval(PEER_PRIORITY, ADVERT_INTERVAL);
    pair.expect_holders(
        "the peer alone holds the VIP",
        VIP,
        [false, true],
        Instant::now(),
        mdi_peer + support::agents::STARTUP + MARGIN,
    );

    start_elects_the_host(&pair);
    reload_applies_the_vip_list_without_a_flap(&pair);
    stop_hands_over_to_the_peer(&pair);
    start_elects_the_host(&pair);
    journal_has_twinstar_fields_and_hook_output(&pair);
    watchdog_restarts_a_hung_agent(&pair);
    sigkill_restarts_without_a_duplicate_vip(&pair);
}

/// `systemctl start` returns once the agent sent READY=1; the unit is active
/// with the agent's summary as status, and the host preempts the peer within
/// its own Master_Down_Interval (RFC 9568 §6.4.2: a higher-priority Backup
/// with preempt ignores lower-priority adverts until its timer fires).
fn start_elects_the_host(pair: &Pair) {
    pair.host.write(CONFIG, &host_config(&[VIP]));
    let started = Instant::now();
    pair.host.systemctl(&["start", "twinstar.service"]);
    println!("systemctl start returned after {:?}", started.elapsed());
    assert_eq!(pair.host.is_active(), "active", "{}", pair.logs());
    let mdi_host = rfc::master_down_interval(HOST_PRIORITY, ADVERT_INTERVAL);
    let ready = Instant::now();
    pair.expect_holders(
        "start: the host preempts the peer",
        VIP,
        [true, false],
        ready,
        mdi_host + MARGIN,
    );
    let status_bound = MARGIN;
    assert!(
        poll_systemd(status_bound, || pair.host.property("StatusText")
            == "web master"),
        "StatusText is {:?}, expected \"web master\" within {status_bound:?} of the VIP\n{}",
        pair.host.property("StatusText"),
        pair.logs()
    );
    assert_eq!(pair.host.property("Type"), "notify");
}

/// A reload that adds a VIP adds it on the Master and leaves the first one
/// where it is: no sample may see it leave the host or reach the peer, and
/// the agent logs no state change.
fn reload_applies_the_vip_list_without_a_flap(pair: &Pair) {
    let both = [VIP, SECOND_VIP];
    pair.peer.reload(&peer_config(&both));
    let cursor = pair.host.journal_cursor();
    let sampler = pair.sampler(VIP);
    std::thread::sleep(10 * SAMPLE_PERIOD);
    pair.host.write(CONFIG, &host_config(&both));
    let reloaded = Instant::now();
    pair.host.systemctl(&["reload", "twinstar.service"]);
    println!("systemctl reload returned after {:?}", reloaded.elapsed());
    pair.expect_holders(
        "reload: the added VIP is on the host",
        SECOND_VIP,
        [true, false],
        reloaded,
        MARGIN,
    );
    // Two advert intervals more, in which a flap would show.
    std::thread::sleep(2 * ADVERT_INTERVAL);
    let samples = sampler.finish().expect("sampler");
    check_rate(&samples);
    assert!(
        samples.always(0) && samples.never(1),
        "reload: {VIP} moved while reloading:\n{}\n{}",
        samples.timeline(),
        pair.logs()
    );
    assert_eq!(pair.host.is_active(), "active");
    assert_eq!(pair.host.property("StatusText"), "web master");
    let changes: Vec<String> = pair
        .host
        .journal(cursor.as_deref())
        .iter()
        .filter(|e| {
            e["MESSAGE"]
                .as_str()
                .is_some_and(|m| m.contains("state changed"))
        })
        .map(|e| e["MESSAGE"].to_string())
        .collect();
    assert!(
        changes.is_empty(),
        "reload: state changes logged: {changes:?}"
    );
    println!(
        "reload: {VIP} stayed on the host in {} samples ({:.0} Hz)",
        samples.0.len(),
        samples.rate_hz()
    );
}

/// `systemctl stop` returns after the agent removed its VIPs; the peer takes
/// over Skew_Time after the priority-0 advert the host sent before (RFC 9568
/// §6.4.2), which was before stop returned.
fn stop_hands_over_to_the_peer(pair: &Pair) {
    pair.host.systemctl(&["stop", "twinstar.service"]);
    let stopped = Instant::now();
    for vip in [VIP, SECOND_VIP] {
        assert!(
            !pair.holders(vip)[0],
            "stop: {vip} is still on the host after systemctl stop returned\n{}",
            pair.logs()
        );
    }
    assert_eq!(pair.host.is_active(), "inactive");
    let skew = rfc::skew_time(PEER_PRIORITY, ADVERT_INTERVAL);
    for vip in [VIP, SECOND_VIP] {
        pair.expect_holders(
            "stop: the peer takes over",
            vip,
            [false, true],
            stopped,
            skew + MARGIN,
        );
    }
    // The second VIP leaves the configuration again for what follows.
    pair.peer.reload(&peer_config(&[VIP]));
}

/// twinstar's own entries carry SYSLOG_IDENTIFIER=twinstar, their tracing
/// fields (the instance name) and the right PRIORITY; a hook's logger(1)
/// output lands in the unit's journal, written as the `twinstar` user; a
/// failing hook is a warning (PRIORITY 4) quoting its last line.
fn journal_has_twinstar_fields_and_hook_output(pair: &Pair) {
    let uid = pair
        .host
        .run_ok("id", &["-u", "twinstar"])
        .trim()
        .to_owned();
    // Hooks run after the transition and logger(1) goes through the syslog
    // socket: an entry may reach the journal a little after the VIP moved.
    let find = |what: &str, matches: &dyn Fn(&serde_json::Value) -> bool| {
        let mut found = None;
        poll_systemd(MARGIN, || {
            found = pair.host.journal(None).into_iter().find(|e| matches(e));
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "journal: no entry with {what} within {MARGIN:?}\n{}",
                pair.logs()
            )
        })
    };
    let text =
        |e: &serde_json::Value, field: &str| e[field].as_str().unwrap_or_default().to_owned();

    let change = find("MESSAGE \"state changed\" to master", &|e| {
        text(e, "SYSLOG_IDENTIFIER") == "twinstar"
            && text(e, "MESSAGE").contains("state changed")
            && text(e, "F_TO") == "master"
    });
    // tracing-journald writes INFO as notice (5); either way below a warning.
    assert!(
        ["5", "6"].contains(&text(&change, "PRIORITY").as_str()),
        "info entries have PRIORITY 5 (notice) or 6 (info): {change}"
    );
    assert_eq!(
        text(&change, "_CAP_EFFECTIVE"),
        format!("{:x}", unit_capabilities(&pair.host)),
        "the agent runs with exactly the unit's CapabilityBoundingSet: {change}"
    );
    // tracing-journald's fields, upper-cased behind an `F_` prefix: what
    // `journalctl -u twinstar F_INSTANCE=web` selects.
    assert_eq!(
        text(&change, "F_INSTANCE"),
        "web",
        "the instance name: {change}"
    );
    assert_eq!(text(&change, "F_FROM"), "backup", "{change}");

    let warning = find("a warning for the failing on_backup hook", &|e| {
        text(e, "SYSLOG_IDENTIFIER") == "twinstar" && text(e, "MESSAGE").contains("hook failed")
    });
    assert_eq!(
        text(&warning, "PRIORITY"),
        "4",
        "warnings have PRIORITY 4: {warning}"
    );
    assert!(
        text(&warning, "MESSAGE").contains("on_backup hook says no"),
        "the warning quotes the hook's last line: {warning}"
    );

    // logger(1) sends one datagram and exits; journald attributes a line to
    // the sender's unit only if the sender still lives when the line is read,
    // so a hook's line is looked up by its tag (`journalctl -t`), not `-u`.
    let mut hook_lines = Vec::new();
    poll_systemd(MARGIN, || {
        hook_lines = pair.host.journal_tagged("twinstar-hook");
        hook_lines
            .iter()
            .any(|e| text(e, "MESSAGE").contains("web is now master"))
    });
    let hook = hook_lines
        .iter()
        .find(|e| text(e, "MESSAGE").contains("web is now master"))
        .unwrap_or_else(|| {
            panic!(
                "journal: no \"web is now master\" line from the on_change hook (tag \
                 twinstar-hook) within {MARGIN:?}; lines: {hook_lines:?}\n{}",
                pair.logs()
            )
        });
    for line in &hook_lines {
        assert!(
            text(line, "MESSAGE").ends_with("as twinstar") && text(line, "_UID") == uid,
            "hooks run as the twinstar user (uid {uid}): {line}"
        );
    }
    let in_unit = hook_lines
        .iter()
        .filter(|e| text(e, "_SYSTEMD_UNIT") == "twinstar.service")
        .count();
    println!(
        "journal: F_INSTANCE=web, PRIORITY {} for info and 4 for warnings; hook line {:?} \
         (uid {uid}); {in_unit} of {} hook lines attributed to twinstar.service",
        text(&change, "PRIORITY"),
        text(hook, "MESSAGE"),
        hook_lines.len()
    );
}

/// The capability mask of the installed unit's `CapabilityBoundingSet=`, as
/// the journal's `_CAP_EFFECTIVE` shows it (capability numbers from
/// <linux/capability.h>).
fn unit_capabilities(host: &SystemdHost) -> u64 {
    let unit = host.run_ok("cat", &["/usr/lib/systemd/system/twinstar.service"]);
    let names = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit has a CapabilityBoundingSet=");
    names
        .split_whitespace()
        .map(|name| match name {
            "CAP_CHOWN" => 0,
            "CAP_DAC_OVERRIDE" => 1,
            "CAP_KILL" => 5,
            "CAP_SETGID" => 6,
            "CAP_SETUID" => 7,
            "CAP_NET_BIND_SERVICE" => 10,
            "CAP_NET_ADMIN" => 12,
            "CAP_NET_RAW" => 13,
            "CAP_SYS_NICE" => 23,
            other => panic!("unexpected capability {other} in the unit"),
        })
        .fold(0, |mask, bit| mask | 1u64 << bit)
}

/// With WatchdogSec lowered by a drop-in, a stopped (hung) agent misses its
/// keep-alives; systemd kills it within WatchdogSec of the last one (sent at
/// most WatchdogSec/2 before the stop) and restarts it RestartSec later. The
/// peer takes over Master_Down_Interval after the host's last advert.
fn watchdog_restarts_a_hung_agent(pair: &Pair) {
    let dropin = "/etc/systemd/system/twinstar.service.d/50-test-watchdog.conf";
    pair.host.write(
        dropin,
        &format!("[Service]\nWatchdogSec={}s\n", WATCHDOG_SEC.as_secs()),
    );
    pair.host.systemctl(&["daemon-reload"]);
    pair.host.systemctl(&["restart", "twinstar.service"]);
    let restarted = Instant::now();
    let mdi_host = rfc::master_down_interval(HOST_PRIORITY, ADVERT_INTERVAL);
    pair.expect_holders(
        "watchdog: the host is Master again after the restart",
        VIP,
        [true, false],
        restarted,
        mdi_host + MARGIN,
    );
    assert_eq!(
        pair.host.property("WatchdogUSec"),
        format!("{}s", WATCHDOG_SEC.as_secs())
    );
    let restarts = restart_count(pair);
    let pid = pair.host.property("MainPID");

    let cursor = pair.host.journal_cursor();
    let sampler = pair.sampler(VIP);
    std::thread::sleep(10 * SAMPLE_PERIOD);
    let hung = Instant::now();
    pair.host
        .systemctl(&["kill", "-s", "SIGSTOP", "twinstar.service"]);
    let earliest = WATCHDOG_SEC / 2 + RESTART_SEC;
    let latest = WATCHDOG_SEC + RESTART_SEC + SYSTEMD_MARGIN;
    let took = wait_restarted(pair, restarts, &pid, hung, latest);
    let restarted = hung + took;
    println!("watchdog: restarted {took:?} after SIGSTOP (window {earliest:?}..={latest:?})");
    assert!(
        took + EARLY >= earliest,
        "watchdog: restarted after {took:?}, before WatchdogSec/2 + RestartSec = {earliest:?}\n{}",
        pair.logs()
    );
    let timeout = pair.host.journal(cursor.as_deref()).into_iter().find(|e| {
        e["MESSAGE"]
            .as_str()
            .is_some_and(|m| m.contains("Watchdog timeout"))
    });
    assert!(
        timeout.is_some(),
        "watchdog: systemd logged no \"Watchdog timeout\" for twinstar.service\n{}",
        pair.logs()
    );
    let back = Instant::now();
    pair.expect_holders(
        "watchdog: the restarted host preempts the peer",
        VIP,
        [true, false],
        back,
        mdi_host + MARGIN,
    );
    let samples = sampler.finish().expect("sampler");
    check_rate(&samples);
    // The peer's Master_Down_Timer was last reset by the host's last advert,
    // at most one interval before the stop.
    let mdi_peer = rfc::master_down_interval(PEER_PRIORITY, ADVERT_INTERVAL);
    let taken = samples
        .first(hung, 1, true)
        .map(|at| at - hung)
        .unwrap_or_else(|| {
            panic!(
                "watchdog: the peer never took over\n{}\n{}",
                samples.timeline(),
                pair.logs()
            )
        });
    println!(
        "watchdog: the peer took over {taken:?} after SIGSTOP (RFC window {:?}..={mdi_peer:?}); \
         both held the VIP for {:?} (the hung agent cannot remove it)",
        mdi_peer - ADVERT_INTERVAL,
        samples.overlap_between(hung, restarted)
    );
    assert!(
        taken <= mdi_peer + MARGIN && taken + EARLY + ADVERT_INTERVAL >= mdi_peer,
        "watchdog: the peer took over {taken:?} after SIGSTOP, outside {:?}..={:?}\n{}",
        mdi_peer - ADVERT_INTERVAL,
        mdi_peer + MARGIN,
        samples.timeline()
    );
}

/// `systemctl kill -s SIGKILL`: systemd restarts the agent RestartSec later
/// (`Restart=on-failure`), and runs `ExecStopPost=` right after the kill,
/// which removes the dead agent's VIPs. The peer can add the VIP no earlier
/// than Master_Down_Interval after the host's last advert, itself at most one
/// advert interval before the kill; so both hold it only when systemd takes
/// longer than that to run `ExecStopPost=`. The bound: the allowance for
/// systemd, less that head start, plus two sampling gaps (the overlap is
/// counted in whole sampling intervals).
fn sigkill_restarts_without_a_duplicate_vip(pair: &Pair) {
    let restarts = restart_count(pair);
    let pid = pair.host.property("MainPID");
    let sampler = pair.sampler(VIP);
    std::thread::sleep(10 * SAMPLE_PERIOD);
    let killed = Instant::now();
    pair.host
        .systemctl(&["kill", "-s", "SIGKILL", "twinstar.service"]);
    let latest = RESTART_SEC + SYSTEMD_MARGIN;
    let took = wait_restarted(pair, restarts, &pid, killed, latest);
    // Up to the restart: the preemption that follows is a handover of its own.
    let restarted = killed + took;
    println!("SIGKILL: restarted {took:?} after the kill (RestartSec {RESTART_SEC:?})");
    assert!(
        took + EARLY >= RESTART_SEC,
        "SIGKILL: restarted after {took:?}, before RestartSec\n{}",
        pair.logs()
    );
    let mdi_host = rfc::master_down_interval(HOST_PRIORITY, ADVERT_INTERVAL);
    pair.expect_holders(
        "SIGKILL: the restarted host preempts the peer",
        VIP,
        [true, false],
        Instant::now(),
        mdi_host + MARGIN,
    );
    let samples = sampler.finish().expect("sampler");
    check_rate(&samples);
    let removed = samples.first(killed, 0, false).map(|at| at - killed);
    let taken = samples.first(killed, 1, true).map(|at| at - killed);
    let head_start = rfc::master_down_interval(PEER_PRIORITY, ADVERT_INTERVAL) - ADVERT_INTERVAL;
    let bound = EXEC_STOP_POST_ALLOWANCE.saturating_sub(head_start) + 2 * samples.largest_gap();
    let overlap = samples.overlap_between(killed, restarted);
    println!(
        "SIGKILL: VIP off the host after {removed:?}, on the peer after {taken:?}; \
         both held it for {overlap:?} (bound {bound:?}); {} samples at {:.0} Hz, largest gap {:?}",
        samples.0.len(),
        samples.rate_hz(),
        samples.largest_gap()
    );
    assert!(
        taken.is_some(),
        "SIGKILL: the peer never took over\n{}",
        samples.timeline()
    );
    assert!(
        overlap <= bound,
        "SIGKILL: both hosts held {VIP} for {overlap:?}, more than {bound:?} \
         (ExecStopPost= allowance {EXEC_STOP_POST_ALLOWANCE:?} less the peer's earliest takeover \
         {head_start:?}); timeline:\n{}\n{}",
        samples.timeline(),
        pair.logs()
    );
}

/// Waits until systemd restarted the agent (NRestarts above `restarts`, a new
/// MainPID, active again); returns how long after `since`, or fails at `bound`.
fn wait_restarted(
    pair: &Pair,
    restarts: u32,
    old_pid: &str,
    since: Instant,
    bound: Duration,
) -> Duration {
    let restarted = poll_systemd(bound.saturating_sub(since.elapsed()), || {
        restart_count(pair) > restarts
            && pair.host.property("MainPID") != old_pid
            && pair.host.is_active() == "active"
    });
    let took = since.elapsed();
    assert!(
        restarted,
        "not restarted within {bound:?}: NRestarts {}, MainPID {}, {}\n{}",
        pair.host.property("NRestarts"),
        pair.host.property("MainPID"),
        pair.host.is_active(),
        pair.logs()
    );
    took
}

/// Like `wait_until`, but looking every 50 ms: each look runs systemctl or
/// journalctl in the host, and a tighter loop would take the CPU the agents
/// and the sampler need. Bounds here are seconds, so 50 ms costs nothing.
fn poll_systemd(bound: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}

/// The unit's NRestarts.
fn restart_count(pair: &Pair) -> u32 {
    pair.host.property("NRestarts").parse().unwrap_or(0)
}

fn check_rate(samples: &Samples) {
    assert!(
        samples.rate_hz() >= MIN_SAMPLE_RATE_HZ,
        "the sampler ran at {:.0} Hz (largest gap {:?}), below {MIN_SAMPLE_RATE_HZ} Hz",
        samples.rate_hz(),
        samples.largest_gap()
    );
}
