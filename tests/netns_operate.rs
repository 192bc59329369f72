//! Operating a running pair through the CLI and the control socket: status,
//! switchover, maintenance across a restart, and reload without a lost ping.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::agents::{
    agent, can_run_lab, config, holds_for, lab, state_between, wait_until, EARLY, MARGIN, STARTUP,
};
use support::rfc::{master_down_interval, skew_time};
use twinstar::lab::{Agent, Lab, Pinger};

const VIP: &str = "192.0.2.50";
const INTERVAL: Duration = Duration::from_millis(100);

/// Runs `twinstar ARGS --runtime-dir DIR`.
fn cli(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_twinstar"))
        .args(args)
        .arg("--runtime-dir")
        .arg(dir)
        .output()
        .expect("run twinstar")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `twinstar status --json`, parsed.
fn status_json(agent: &Agent) -> Value {
    let out = cli(&agent.runtime_dir(), &["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json: {e}\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// A counter of `web` from the agent itself (the status file is written
/// off the agent's loop, so it may lag an answer just received).
fn live_counter(agent: &Agent, name: &str) -> u64 {
    status_json(agent)["instances"][0]["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name}"))
}

fn state(agent: &Agent) -> Option<String> {
    agent.status().and_then(|s| s.state("web"))
}

/// B (100) first, then A (150), so A takes over from B and has heard it: B
/// after its Master_Down_Interval alone, A after its own (it ignores the lower
/// B and preempts).
fn pair_heard(lab: &Lab, tag: &str, vrid: u8) -> (Agent, Agent) {
    let started_b = Instant::now();
    let b = agent(
        lab,
        tag,
        1,
        &config(vrid, 100, "100ms", "192.0.2.50/24", ""),
    );
    let mdi_b = master_down_interval(100, INTERVAL);
    state_between(&b, "web", "master", started_b, mdi_b, mdi_b + STARTUP);
    let started_a = Instant::now();
    let a = agent(
        lab,
        tag,
        0,
        &config(vrid, 150, "100ms", "192.0.2.50/24", ""),
    );
    let mdi_a = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", started_a, mdi_a, mdi_a + STARTUP);
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    assert!(wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![true, false]));
    (a, b)
}

fn pinger(lab: &Lab) -> Pinger {
    let ping = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(2)).expect("ping");
    assert!(ping.wait_replies(20, MARGIN), "the VIP does not answer");
    ping.reset();
    ping
}

#[test]
fn status_shows_master_and_backup_and_switchover_hands_over_within_skew_time() {
    if !can_run_lab("status and switchover") {
        return;
    }
    let lab = lab("ops", 2);
    let (a, b) = pair_heard(&lab, "ops", 91);

    // Status, both forms, on both hosts.
    let master = status_json(&a);
    let web = &master["instances"][0];
    assert_eq!(web["state"], "master");
    assert_eq!(web["priority"], 150);
    assert_eq!(web["base_priority"], 150);
    assert_eq!(web["master"]["address"], "192.0.2.11");
    assert_eq!(web["virtual_ips"][0]["address"], "192.0.2.50/24");
    assert_eq!(web["virtual_ips"][0]["present"], true);
    assert_eq!(web["advert_interval_ms"], 100);
    assert!(web["counters"]["adverts_sent"].as_u64().unwrap() > 0);
    assert!(web["since_transition_ms"].as_u64().is_some());
    let backup = status_json(&b);
    let web_b = &backup["instances"][0];
    assert_eq!(web_b["state"], "backup");
    assert_eq!(web_b["master"]["address"], "192.0.2.11");
    assert_eq!(web_b["master"]["priority"], 150);
    assert_eq!(web_b["virtual_ips"][0]["present"], false);
    assert!(web_b["counters"]["adverts_received"].as_u64().unwrap() > 0);
    let human = cli(&a.runtime_dir(), &["status"]);
    assert_eq!(human.status.code(), Some(0), "{}", text(&human.stderr));
    let table = text(&human.stdout);
    assert!(table.contains("web") && table.contains("master") && table.contains("192.0.2.50/24"));
    println!("{table}");

    // A Backup refuses a switchover; the Master hands over.
    let refused = cli(&b.runtime_dir(), &["switchover", "web"]);
    assert_ne!(refused.status.code(), Some(0));
    let ping = pinger(&lab);
    let skew = skew_time(100, INTERVAL);
    let asked = Instant::now();
    let out = cli(&a.runtime_dir(), &["switchover", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("web: new Master 192.0.2.12 took over "),
        "{}",
        text(&out.stdout)
    );
    // A resigns with priority 0: B takes over Skew_Time after hearing it.
    state_between(&b, "web", "master", asked, skew, skew);
    assert!(
        wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![false, true]),
        "B should hold the VIP after the switchover\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    assert!(ping.wait_replies(50, MARGIN));
    // A keeps the VIP until B speaks, so the client sees at most Skew_Time.
    let bound = skew + Duration::from_millis(100);
    let gap = ping.largest_gap();
    println!("switchover: client outage {gap:?} (bound {bound:?})");
    assert!(
        gap <= bound,
        "switchover outage {gap:?} > {bound:?}\n{}",
        a.log()
    );

    // A stays Backup: it follows the new Master instead of preempting it.
    holds_for(
        "A preempted B after a switchover",
        master_down_interval(150, INTERVAL) * 3,
        || state(&a).as_deref() == Some("backup") && lab.holders(VIP).unwrap() == vec![false, true],
        || a.log(),
    );
    assert_eq!(status_json(&a)["instances"][0]["switchover_hold"], true);
}

/// The time `twinstar switchover` printed: "... took over 0.061s after ...".
fn took_over_after(stdout: &str) -> Duration {
    let seconds = stdout
        .split(" took over ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no time in {stdout:?}"));
    Duration::from_secs_f64(seconds)
}

#[test]
fn switchover_confirms_a_backup_that_never_spoke_with_the_time_it_took() {
    if !can_run_lab("switchover with a silent Backup") {
        return;
    }
    let lab = lab("opc", 2);
    // A (150) first, then B (100): the usual order, in which A never hears
    // its Backup, since Backups are silent.
    let started = Instant::now();
    let a = agent(
        &lab,
        "opc",
        0,
        &config(94, 150, "100ms", "192.0.2.50/24", ""),
    );
    let mdi_a = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", started, mdi_a, mdi_a + STARTUP);
    let b = agent(
        &lab,
        "opc",
        1,
        &config(94, 100, "100ms", "192.0.2.50/24", ""),
    );
    b.wait_for_state("web", "backup", STARTUP + MARGIN).unwrap();
    assert!(
        status_json(&a)["instances"][0]["last_peer"].is_null(),
        "A heard B"
    );

    let asked = Instant::now();
    let out = cli(&a.runtime_dir(), &["switchover", "web"]);
    let returned = asked.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stderr),
        a.log()
    );
    let stdout = text(&out.stdout);
    println!("{stdout}");
    assert!(
        stdout.starts_with("web: new Master 192.0.2.12 took over "),
        "{stdout}"
    );
    // B takes over Skew_Time after the priority-0 advert; had it missed
    // that advert, after its own Master_Down_Interval (RFC 9568 §6.1).
    let bound = master_down_interval(100, INTERVAL) + MARGIN;
    let took = took_over_after(&stdout);
    assert!(took <= bound, "took {took:?} > {bound:?}");
    assert!(returned <= bound + MARGIN, "returned after {returned:?}");
    assert_eq!(status_json(&b)["instances"][0]["state"], "master");
    let record = &status_json(&a)["instances"][0]["last_handover"];
    assert_eq!(record["outcome"], "confirmed", "{record}");
    assert_eq!(record["new_master"], "192.0.2.12", "{record}");
}

#[test]
fn switchover_with_nobody_to_take_over_keeps_the_vip_and_exits_1() {
    if !can_run_lab("switchover with nobody") {
        return;
    }
    let lab = lab("opf", 1);
    // One-second adverts: Master_Down_Interval (3.4 s) dwarfs how long the
    // CLI takes to start, so "at once" and "after the deadline" differ.
    let interval = Duration::from_secs(1);
    let a = agent(&lab, "opf", 0, &config(92, 150, "1s", "192.0.2.50/24", ""));
    let mdi = master_down_interval(150, interval);
    a.wait_for_state("web", "master", mdi + STARTUP + MARGIN)
        .unwrap();
    assert!(wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![true]));
    let resigned = live_counter(&a, "priority_zero_sent");
    // 200 Hz from the client: any moment without the VIP loses a reply.
    let ping = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(5)).expect("ping");
    assert!(ping.wait_replies(20, MARGIN), "the VIP does not answer");
    ping.reset();

    // --no-wait: back at once, having resigned.
    let asked = Instant::now();
    let quick = cli(&a.runtime_dir(), &["switchover", "web", "--no-wait"]);
    let returned = asked.elapsed();
    assert_eq!(quick.status.code(), Some(0), "{}", text(&quick.stderr));
    assert!(returned < mdi / 2, "--no-wait returned after {returned:?}");
    assert_eq!(live_counter(&a, "priority_zero_sent"), resigned + 1);
    // Nobody takes over: Master again at the deadline, recorded in status.
    state_between(&a, "web", "master", asked, mdi, mdi);
    assert!(wait_until(MARGIN, || {
        status_json(&a)["instances"][0]["last_handover"]["outcome"] == "stayed_master"
    }));

    // Waiting: refused after Master_Down_Interval, the VIP kept throughout.
    let asked = Instant::now();
    let out = cli(&a.runtime_dir(), &["switchover", "web"]);
    let returned = asked.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    println!("{stderr}");
    assert!(
        stderr.starts_with("twinstar switchover: no router took over within ")
            && stderr.ends_with("; web stays Master on this host\n"),
        "{stderr}"
    );
    assert!(
        returned + EARLY >= mdi && returned <= mdi + MARGIN,
        "answered after {returned:?}, Master_Down_Interval {mdi:?}"
    );
    assert_eq!(live_counter(&a, "priority_zero_sent"), resigned + 2);
    assert_eq!(status_json(&a)["instances"][0]["state"], "master");
    assert_eq!(lab.holders(VIP).unwrap(), vec![true]);
    assert!(ping.wait_replies(20, MARGIN));
    let (lost, gap) = (ping.lost(), ping.largest_gap());
    println!("nobody took over: {lost} pings lost, largest gap {gap:?}");
    assert_eq!(
        lost,
        0,
        "the VIP went away (largest gap {gap:?})\n{}",
        a.log()
    );

    // Maintenance with nobody to take over is withdrawn: A stays Master.
    ping.reset();
    let out = cli(&a.runtime_dir(), &["maintenance", "on", "web"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("maintenance of web withdrawn: stays Master on this host"),
        "{}",
        text(&out.stderr)
    );
    let web = &status_json(&a)["instances"][0];
    assert_eq!(
        (&web["state"], &web["maintenance"]),
        (&"master".into(), &false.into())
    );
    assert!(ping.wait_replies(20, MARGIN));
    assert_eq!(ping.lost(), 0, "the VIP went away during maintenance on");
}

#[test]
fn maintenance_moves_the_vip_away_across_a_restart_and_off_brings_it_back() {
    if !can_run_lab("maintenance") {
        return;
    }
    let lab = lab("opm", 2);
    let (mut a, b) = pair_heard(&lab, "opm", 93);
    let skew = skew_time(100, INTERVAL);
    let asked = Instant::now();
    let out = cli(&a.runtime_dir(), &["maintenance", "on", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A resigns with priority 0: B takes over Skew_Time after hearing it.
    state_between(&b, "web", "master", asked, skew, skew);
    assert!(wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![false, true]));
    a.restart().unwrap();
    a.wait_for_state("web", "backup", STARTUP).unwrap();
    // Long enough to preempt several times over, were it allowed to.
    let mdi_a = master_down_interval(150, INTERVAL);
    holds_for(
        "A took the VIP back while in maintenance",
        mdi_a * 3,
        || {
            state(&a).as_deref() == Some("backup")
                && state(&b).as_deref() == Some("master")
                && lab.holders(VIP).unwrap() == vec![false, true]
        },
        || format!("A:\n{}\nB:\n{}", a.log(), b.log()),
    );
    let web = &status_json(&a)["instances"][0];
    assert_eq!(web["maintenance"], true);
    assert_eq!(web["state"], "backup");
    // Maintenance off restarts A's down timer; it ignores the lower B and
    // preempts when its Master_Down_Interval runs out.
    let asked = Instant::now();
    let out = cli(&a.runtime_dir(), &["maintenance", "off", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    state_between(&a, "web", "master", asked, mdi_a, mdi_a);
    assert!(
        wait_until(MARGIN, || lab.holders(VIP).unwrap() == vec![true, false]),
        "preemption should bring the VIP back\n{}",
        a.log()
    );
    b.wait_for_state("web", "backup", MARGIN).unwrap();
}

#[test]
fn reload_adds_a_vip_and_an_instance_without_losing_a_ping() {
    if !can_run_lab("hitless reload") {
        return;
    }
    let lab = lab("opr", 1);
    let a = agent(
        &lab,
        "opr",
        0,
        &config(94, 150, "100ms", "192.0.2.50/24", ""),
    );
    let mdi = master_down_interval(150, INTERVAL);
    a.wait_for_state("web", "master", mdi + STARTUP + MARGIN)
        .unwrap();
    let ping = pinger(&lab);
    let before = status_json(&a)["instances"][0].clone();

    let grown =
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 94\n    priority: 150\n    \
                 advert_interval: 100ms\n    virtual_ips: [192.0.2.50/24, 192.0.2.51/24]\n  \
                 - name: api\n    interface: eth0\n    vrid: 95\n    priority: 150\n    \
                 advert_interval: 100ms\n    virtual_ips: [192.0.2.60/24]\n";
    std::fs::write(a.config_path(), grown).unwrap();
    let started = Instant::now();
    let out = cli(&a.runtime_dir(), &["reload"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(wait_until(MARGIN, || lab.hosts[0]
        .has_address("192.0.2.51")
        .unwrap()));
    // The new instance is alone on its VRID: Master after its Master_Down_Interval.
    state_between(&a, "api", "master", started, mdi, mdi);
    // The address worker adds it just after the transition.
    assert!(wait_until(MARGIN, || lab.hosts[0]
        .has_address("192.0.2.60")
        .unwrap()));
    assert!(ping.wait_replies(100, MARGIN));
    println!(
        "reload: {} replies, {} lost, largest gap {:?}, in {:?}",
        ping.replies(),
        ping.lost(),
        ping.largest_gap(),
        started.elapsed()
    );
    assert_eq!(ping.lost(), 0, "pings lost during reload\n{}", a.log());
    let after = status_json(&a)["instances"][0].clone();
    assert_eq!(after["state"], "master");
    assert_eq!(
        after["counters"]["master_transitions"], before["counters"]["master_transitions"],
        "the kept instance changed state"
    );
    assert!(after["since_transition_ms"].as_u64() > before["since_transition_ms"].as_u64());

    // An invalid file: the CLI shows the errors, the running config stays.
    std::fs::write(
        a.config_path(),
        "instances:\n  - name: web\n    vrid: 300\n",
    )
    .unwrap();
    let out = cli(&a.runtime_dir(), &["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let errors = text(&out.stderr);
    assert!(errors.contains("config.yaml:3:11"), "{errors}");
    assert!(lab.hosts[0].has_address("192.0.2.51").unwrap());
    assert_eq!(status_json(&a)["instances"].as_array().unwrap().len(), 2);
    assert_eq!(ping.lost(), 0);
}

/// Parses Prometheus text exposition: every sample line must be
/// `name{labels} value`; returns `name{labels}` → value.
fn parse_exposition(text: &str) -> std::collections::HashMap<String, f64> {
    let mut samples = std::collections::HashMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP ") || comment.starts_with("TYPE "),
                "bad comment line {line:?}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unterminated labels in {line:?}");
        }
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        samples.insert(series.to_owned(), value);
    }
    samples
}

#[test]
fn metrics_endpoint_is_valid_exposition_matching_status() {
    if !can_run_lab("metrics") {
        return;
    }
    let lab = lab("opx", 1);
    let config = format!(
        "metrics:\n  port: 9750\n{}",
        config(97, 150, "100ms", "192.0.2.50/24", "")
    );
    let a = agent(&lab, "opx", 0, &config);
    let mdi = master_down_interval(150, INTERVAL);
    a.wait_for_state("web", "master", mdi + STARTUP + MARGIN)
        .unwrap();
    std::thread::sleep(Duration::from_millis(700)); // one status refresh
    let scrape = || {
        support::netns::run(&lab.hosts[0].ns, || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect("127.0.0.1:9750").expect("connect");
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            response
        })
    };
    let response = scrape();
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{head}"
    );
    let samples = parse_exposition(body);
    let status = status_json(&a);
    let web = &status["instances"][0];
    let get = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("{series} missing from\n{body}"))
    };
    assert_eq!(
        get(r#"twinstar_instance_state{instance="web",state="master"}"#),
        1.0
    );
    assert_eq!(
        get(r#"twinstar_instance_state{instance="web",state="backup"}"#),
        0.0
    );
    assert_eq!(
        get(r#"twinstar_instance_priority{instance="web"}"#),
        web["priority"].as_f64().unwrap()
    );
    assert_eq!(
        get(r#"twinstar_master_transitions_total{instance="web"}"#),
        web["counters"]["master_transitions"].as_f64().unwrap()
    );
    assert_eq!(
        get(r#"twinstar_transitions_total{instance="web",from="backup",to="master"}"#),
        1.0
    );
    assert_eq!(
        get(r#"twinstar_virtual_ip_present{instance="web",address="192.0.2.50/24"}"#),
        1.0
    );
    assert_eq!(get(r#"twinstar_instance_maintenance{instance="web"}"#), 0.0);
    assert!(get(r#"twinstar_adverts_sent_total{instance="web"}"#) >= 1.0);
    println!("{} series scraped", samples.len());
}
