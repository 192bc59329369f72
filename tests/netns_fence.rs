//! The fence hook on real hosts: after the Master is killed, a Backup whose
//! fence fails stays Backup (and retries), and once the fence succeeds it
//! takes over; the fence is given the old Master's address.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use support::agents::{agent, can_run_lab, dir, lab, wait_until, MARGIN, SETTLE};
use support::rfc;

/// A directory the fence (run as an unprivileged user) can write into.
fn hook_dir(tag: &str) -> PathBuf {
    let dir = dir(tag, 8);
    std::fs::create_dir_all(&dir).expect("hook dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

fn config(priority: u8, fence: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 83\n    priority: {priority}\n    \
         advert_interval: 100ms\n    virtual_ips: [192.0.2.50/24]\n{fence}"
    )
}

#[test]
fn a_failing_fence_keeps_the_backup_from_taking_over_from_a_killed_master() {
    if !can_run_lab("fence") {
        return;
    }
    let lab = lab("tfn", 2);
    let hooks = hook_dir("tfn");
    let log = hooks.join("fence.log");
    let exit = hooks.join("exit");
    std::fs::write(&exit, "1").expect("exit file");
    std::fs::set_permissions(&exit, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let fence = format!(
        "    hooks:\n      fence: {{command: \"echo fence $5 $TWINSTAR_MASTER >> {log}; exit $(cat {exit})\", timeout: 2s}}\n",
        log = log.display(),
        exit = exit.display()
    );
    let mut a = agent(&lab, "tfn", 0, &config(150, ""));
    a.wait_for_state("web", "master", SETTLE).unwrap();
    let b = agent(&lab, "tfn", 1, &config(100, &fence));
    b.wait_for_state("web", "backup", SETTLE).unwrap();
    // Let the Backup hear the Master (a Master never heard is not fenced).
    assert!(wait_until(SETTLE, || b
        .status()
        .is_some_and(|s| !s.0["instances"][0]["master"].is_null())));

    a.kill();
    // RFC 9568 §6.4.2: the Backup asks after Master_Down_Interval; the
    // fence fails, so it retries one interval later, again and again.
    let down = rfc::master_down_interval(100, Duration::from_millis(100));
    let watch = down * 6;
    let mut ever_on = false;
    wait_until(watch, || {
        ever_on |= lab.holders("192.0.2.50").unwrap()[1];
        false
    });
    assert!(!ever_on, "took over although the fence failed\n{}", b.log());
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let master = lab.hosts[0].ipv4.to_string();
    let tries: Vec<&str> = logged.lines().collect();
    assert!(tries.len() >= 2, "the fence is retried: {logged:?}");
    assert!(
        tries
            .iter()
            .all(|l| *l == format!("fence {master} {master}")),
        "the fence is given the old Master's address: {logged:?}"
    );
    let status = b.status().expect("status");
    assert!(status.counter("web", "fence_failures") >= 1, "{status:?}");
    assert_eq!(status.state("web").as_deref(), Some("backup"));

    // The fence works now: the next try takes over, within one more
    // Master_Down_Interval plus the fence's run.
    std::fs::write(&exit, "0").expect("exit file");
    assert!(
        wait_until(down * 2 + MARGIN, || lab.holders("192.0.2.50").unwrap()[1]),
        "the Backup should take over once the fence succeeds\n{}",
        b.log()
    );
    b.wait_for_state("web", "master", SETTLE).unwrap();
}
