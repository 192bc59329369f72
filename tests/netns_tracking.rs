//! Tracked objects on real hosts: a failing script, check or sync-group member
//! moves the VIP to the Backup within the protocol's bound, and back on recovery.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use support::agents::{agent, can_run_lab, config, dir, lab, wait_until, EARLY, STARTUP};
use support::rfc::{master_down_interval, skew_time};
use support::tracking::{
    fail_bound, fault_bound, pair, track, vip_moves_to, Flag, INTERVAL, MARGIN, VIP, VIP_CIDR,
};
use twinstar::lab::Agent;

fn state(agent: &Agent, instance: &str) -> Option<String> {
    agent.status().and_then(|s| s.state(instance))
}

fn counter(agent: &Agent, instance: &str, name: &str) -> u64 {
    agent.status().map_or(0, |s| s.counter(instance, name))
}

/// Polls A's and B's status every 5 ms until A is in `a_state` and B in
/// `b_state`, at most `timeout`; returns when each was first seen there.
fn first_seen(
    a: &Agent,
    a_state: &str,
    b: &Agent,
    b_state: &str,
    timeout: Duration,
) -> (Option<Instant>, Option<Instant>) {
    let deadline = Instant::now() + timeout;
    let (mut seen_a, mut seen_b) = (None, None);
    while Instant::now() < deadline && (seen_a.is_none() || seen_b.is_none()) {
        if seen_a.is_none() && state(a, "web").as_deref() == Some(a_state) {
            seen_a = Some(Instant::now());
        }
        if seen_b.is_none() && state(b, "web").as_deref() == Some(b_state) {
            seen_b = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (seen_a, seen_b)
}

#[test]
fn failing_script_with_weight_zero_faults_and_recovery_preempts_back() {
    if !can_run_lab("script weight 0") {
        return;
    }
    let lab = lab("tw0", 2);
    let flag = Flag::new("tw0");
    let script = format!(
        "script: test ! -e {}\ninterval: 100ms\nfall: 2\nrise: 2\nweight: 0",
        flag.path().display()
    );
    let (a, b) = pair(&lab, "tw0", 61, &track(&script));
    let resigns_before = counter(&b, "web", "priority_zero_received");

    // A Fault on the Master resigns with priority 0: B takes over Skew_Time after
    // A leaves Master, not a Master_Down_Interval later. The two are told apart
    // by when B becomes Master after A enters Fault: Skew_Time (61 ms) if A
    // resigned; at least Master_Down_Interval - Advertisement_Interval (261 ms)
    // had A just gone silent.
    let failed_at = Instant::now();
    flag.raise();
    let (faulted, took_over) = first_seen(&a, "fault", &b, "master", fault_bound(2));
    let (faulted, took_over) = (
        faulted.expect("A never entered Fault"),
        took_over.unwrap_or_else(|| panic!("B never took over\n{}", b.log())),
    );
    let skew = skew_time(100, INTERVAL);
    let silent = master_down_interval(100, INTERVAL) - INTERVAL;
    let after_fault = took_over.saturating_duration_since(faulted);
    println!("B Master {after_fault:?} after A's Fault (Skew_Time {skew:?}, silence {silent:?})");
    assert!(
        after_fault < silent,
        "B took {after_fault:?} after A's Fault: A did not resign with priority 0?\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    assert!(
        took_over + EARLY >= faulted + skew,
        "B took over {after_fault:?} after A's Fault, before Skew_Time {skew:?}\n{}",
        b.log()
    );
    assert_eq!(
        counter(&b, "web", "priority_zero_received"),
        resigns_before + 1,
        "B should have heard A's priority-0 advert once\n{}",
        b.log()
    );
    vip_moves_to(&lab, 1, failed_at, skew, fault_bound(2), &[&a, &b]);
    let status = a.status().unwrap();
    let reasons = status.0["instances"][0]["fault_reasons"].to_string();
    assert!(reasons.contains("is down"), "fault reasons: {reasons}");

    // rise runs, then A rejoins as Backup, ignores the lower B and preempts when
    // its Master_Down_Interval runs out.
    let recovered_at = Instant::now();
    flag.lower();
    let mdi_a = master_down_interval(150, INTERVAL);
    vip_moves_to(
        &lab,
        0,
        recovered_at,
        mdi_a,
        INTERVAL * 2 + mdi_a + MARGIN,
        &[&a, &b],
    );
    b.wait_for_state("web", "backup", MARGIN).unwrap();
}

#[test]
fn failing_script_with_negative_weight_moves_by_priority() {
    if !can_run_lab("script weight -60") {
        return;
    }
    let lab = lab("twn", 2);
    let flag = Flag::new("twn");
    let script = format!(
        "script: [test, '!', -e, {}]\ninterval: 100ms\nweight: -60",
        flag.path().display()
    );
    let (a, b) = pair(&lab, "twn", 62, &track(&script));

    let failed_at = Instant::now();
    flag.raise();
    // 150 - 60 = 90 < 100: A tells B its new priority, B ignores the now lower
    // Master and takes over when its Master_Down_Interval (from A's last
    // priority-150 advert, at most one interval before the change) runs out.
    let mdi_b = master_down_interval(100, INTERVAL);
    vip_moves_to(
        &lab,
        1,
        failed_at,
        mdi_b - INTERVAL,
        fail_bound(1),
        &[&a, &b],
    );
    a.wait_for_state("web", "backup", MARGIN).unwrap();
    let status = a.status().unwrap();
    assert_eq!(status.0["instances"][0]["priority"], 90);

    // Back at 150, A ignores B and preempts when the down timer it started at
    // priority 90 runs out.
    let recovered_at = Instant::now();
    flag.lower();
    let mdi_90 = master_down_interval(90, INTERVAL);
    vip_moves_to(
        &lab,
        0,
        recovered_at,
        mdi_90 - INTERVAL,
        INTERVAL + mdi_90 + MARGIN,
        &[&a, &b],
    );
    assert_eq!(a.status().unwrap().0["instances"][0]["priority"], 150);
}

#[test]
fn script_that_cannot_run_is_a_failure_and_a_hung_one_is_killed() {
    if !can_run_lab("missing and hung scripts") {
        return;
    }
    let lab = lab("tws", 1);
    let marker = format!("987.{}", std::process::id());
    let extra = format!(
        "    track:\n      - script: [/nonexistent/twinstar-check]\n        weight: 0\n      \
         - script: sleep {marker}\n        interval: 500ms\n        timeout: 200ms\n        weight: -10\n"
    );
    let a = agent(&lab, "tws", 0, &config(63, 150, "100ms", VIP_CIDR, &extra));
    a.wait_for_state("web", "fault", STARTUP + MARGIN).unwrap();
    // The hung script's first run is killed at its 200 ms timeout.
    assert!(
        wait_until(STARTUP + MARGIN, || {
            let s = a.status().unwrap();
            s.0["instances"][0]["priority"] == 140
        }),
        "the hung script should count as failing\n{}",
        a.log()
    );
    let status = a.status().unwrap();
    let checks = status.0["checks"].as_array().unwrap().clone();
    let detail = |kind_target: &str| {
        checks
            .iter()
            .find(|c| c["target"].as_str().unwrap_or("").contains(kind_target))
            .map(|c| c["detail"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    let missing = detail("/nonexistent/twinstar-check");
    assert!(missing.contains("not found"), "missing script: {missing}");
    assert!(
        a.log().contains("/nonexistent/twinstar-check"),
        "the log should name the script that cannot run\n{}",
        a.log()
    );
    let hung = detail(&marker);
    assert!(hung.contains("timed out"), "hung script: {hung}");
    // Each run is killed 200 ms into a 500 ms interval: there is never more than
    // one, and most of the time none.
    let mut seen = Vec::new();
    for _ in 0..40 {
        seen.push(processes_with(&marker));
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(seen.iter().all(|n| *n <= 1), "overlapping runs: {seen:?}");
    assert!(
        seen.iter().filter(|n| **n == 0).count() >= 10,
        "hung runs are not killed: {seen:?}"
    );
    drop(a);
    assert!(
        wait_until(Duration::from_secs(2), || processes_with(&marker) == 0),
        "a hung script outlived the agent"
    );
    assert!(lab.holders(VIP).unwrap() == vec![false]);
}

/// Running `sleep` processes whose arguments contain `marker`.
fn processes_with(marker: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| {
                    let argv = String::from_utf8_lossy(&c).into_owned();
                    argv.starts_with("sleep\0") && argv.contains(marker)
                })
                .unwrap_or(false)
        })
        .count()
}

#[test]
fn sync_group_members_move_together_when_one_check_fails() {
    if !can_run_lab("sync group") {
        return;
    }
    let lab = lab("twg", 2);
    let flag = Flag::new("twg");
    // Group hooks run unprivileged: their log lives in a directory anyone may write.
    let hook_dir = dir("twg", 8);
    std::fs::create_dir_all(&hook_dir).unwrap();
    std::fs::set_permissions(&hook_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let group_log = hook_dir.join("group.log");
    let group_config = |priority: u8, track: &str| {
        format!(
            "instances:\n\
             - name: web\n  interface: eth0\n  vrid: 64\n  priority: {priority}\n  advert_interval: 100ms\n  virtual_ips: [192.0.2.50/24]\n\
             - name: db\n  interface: eth0\n  vrid: 65\n  priority: {priority}\n  advert_interval: 100ms\n  virtual_ips: [192.0.2.60/24]\n{track}\
             sync_groups:\n  - name: pair\n    instances: [web, db]\n    hooks:\n      \
             on_change: echo $1 $2 $3 $TWINSTAR_GROUP >> {}\n",
            group_log.display()
        )
    };
    let track_db = format!(
        "  track:\n    - script: test ! -e {}\n      interval: 100ms\n      weight: 0\n",
        flag.path().display()
    );
    let a = agent(&lab, "twg", 0, &group_config(150, &track_db));
    let b = agent(&lab, "twg", 1, &group_config(100, ""));
    let mdi_a = master_down_interval(150, INTERVAL);
    for name in ["web", "db"] {
        a.wait_for_state(name, "master", mdi_a + STARTUP + MARGIN)
            .unwrap();
        b.wait_for_state(name, "backup", MARGIN).unwrap();
    }
    let both_on = |host: usize| {
        let expected: Vec<bool> = (0..2).map(|i| i == host).collect();
        lab.holders("192.0.2.50").unwrap() == expected
            && lab.holders("192.0.2.60").unwrap() == expected
    };
    assert!(wait_until(MARGIN, || both_on(0)));
    let resigns_before = ["web", "db"].map(|i| counter(&b, i, "priority_zero_received"));

    // db's check fails (fall 1): db faults and resigns, the group makes web
    // resign too; B takes both over Skew_Time after hearing priority 0.
    let failed_at = Instant::now();
    flag.raise();
    let skew = skew_time(100, INTERVAL);
    let bound = fault_bound(1);
    let moved = wait_until(bound, || both_on(1));
    let took = failed_at.elapsed();
    assert!(
        moved,
        "both VIPs should move to B within {bound:?}\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    println!("sync group moved in {took:?} (bounds {skew:?}..={bound:?})");
    assert!(
        took + EARLY >= skew,
        "sync group moved after {took:?}, before Skew_Time"
    );
    for (i, name) in ["web", "db"].into_iter().enumerate() {
        assert_eq!(
            counter(&b, name, "priority_zero_received"),
            resigns_before[i] + 1,
            "B's {name} should have heard A resign once\n{}",
            b.log()
        );
    }
    a.wait_for_state("web", "fault", MARGIN).unwrap();
    a.wait_for_state("db", "fault", MARGIN).unwrap();
    let status = a.status().unwrap();
    assert_eq!(status.0["sync_groups"][0]["state"], "fault");

    // db's check recovers (rise 1): A rejoins and preempts after its
    // Master_Down_Interval, both members together.
    let recovered_at = Instant::now();
    flag.lower();
    let bound = INTERVAL + mdi_a + MARGIN;
    assert!(
        wait_until(bound, || both_on(0)),
        "both VIPs should come back to A within {bound:?}\nA:\n{}",
        a.log()
    );
    let took = recovered_at.elapsed();
    println!("sync group back in {took:?} (bounds {mdi_a:?}..={bound:?})");
    assert!(took + EARLY >= mdi_a, "A preempted after {took:?}, early");
    a.wait_for_state("web", "master", MARGIN).unwrap();
    a.wait_for_state("db", "master", MARGIN).unwrap();
    // Both agents append to the same group log; A's group went Master, Fault,
    // Backup, Master, each once.
    let logged = || std::fs::read_to_string(&group_log).unwrap_or_default();
    assert!(wait_until(MARGIN, || logged().contains("pair master backup pair")));
    let a_lines: Vec<String> = logged()
        .lines()
        .filter(|l| !l.starts_with("pair backup initialize"))
        .map(str::to_owned)
        .collect();
    for expected in [
        "pair master backup pair",
        "pair fault master pair",
        "pair backup fault pair",
    ] {
        assert!(
            a_lines.iter().any(|l| l == expected),
            "{expected:?} missing: {a_lines:?}"
        );
    }
}
