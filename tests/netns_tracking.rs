//! Tracked objects on real hosts: a failing script, check or sync-group member
//! moves the VIP to the Backup within the protocol's bound, and back on recovery.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use support::agents::{agent, can_run_lab, config, dir, lab, wait_until, SETTLE};
use support::tracking::{
    fail_bound, pair, track, vip_moves_to, Flag, INTERVAL, MARGIN, VIP, VIP_CIDR,
};

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

    let failed_at = Instant::now();
    flag.raise();
    vip_moves_to(&lab, 1, failed_at, fail_bound(2), &[&a, &b]);
    a.wait_for_state("web", "fault", SETTLE).unwrap();
    let status = a.status().unwrap();
    let reasons = status.0["instances"][0]["fault_reasons"].to_string();
    assert!(reasons.contains("is down"), "fault reasons: {reasons}");

    let recovered_at = Instant::now();
    flag.lower();
    // rise runs, then A preempts at once (preempt, no delay).
    vip_moves_to(&lab, 0, recovered_at, INTERVAL * 2 + MARGIN, &[&a, &b]);
    b.wait_for_state("web", "backup", SETTLE).unwrap();
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
    // 150 - 60 = 90 < 100: A tells B its new priority and B preempts.
    vip_moves_to(&lab, 1, failed_at, fail_bound(1), &[&a, &b]);
    a.wait_for_state("web", "backup", SETTLE).unwrap();
    let status = a.status().unwrap();
    assert_eq!(status.0["instances"][0]["priority"], 90);

    let recovered_at = Instant::now();
    flag.lower();
    vip_moves_to(&lab, 0, recovered_at, fail_bound(1), &[&a, &b]);
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
    a.wait_for_state("web", "fault", SETTLE).unwrap();
    assert!(
        wait_until(SETTLE, || {
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
    for name in ["web", "db"] {
        a.wait_for_state(name, "master", SETTLE).unwrap();
        b.wait_for_state(name, "backup", SETTLE).unwrap();
    }
    let both_on = |host: usize| {
        let expected: Vec<bool> = (0..2).map(|i| i == host).collect();
        lab.holders("192.0.2.50").unwrap() == expected
            && lab.holders("192.0.2.60").unwrap() == expected
    };
    assert!(wait_until(SETTLE, || both_on(0)));

    let failed_at = Instant::now();
    flag.raise();
    assert!(
        wait_until(fail_bound(1) + SETTLE, || both_on(1)),
        "both VIPs should move to B\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    println!("sync group moved in {:?}", failed_at.elapsed());
    a.wait_for_state("web", "fault", SETTLE).unwrap();
    let status = a.status().unwrap();
    assert_eq!(status.0["sync_groups"][0]["state"], "fault");

    flag.lower();
    assert!(
        wait_until(SETTLE, || both_on(0)),
        "both VIPs should come back to A\nA:\n{}",
        a.log()
    );
    a.wait_for_state("web", "master", SETTLE).unwrap();
    a.wait_for_state("db", "master", SETTLE).unwrap();
    // Both agents append to the same group log; A's group went Master, Fault,
    // Backup, Master, each once.
    let logged = || std::fs::read_to_string(&group_log).unwrap_or_default();
    assert!(wait_until(SETTLE, || logged().contains("pair master backup pair")));
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
