//! Ten seconds after it is configured, an agent gives back the pages of
//! code and read-only data that start-up touched (`platform::startup_pages`).
//! Its resident file pages shrink, and it goes on as before: the Master keeps
//! advertising through it, and its Backup never takes over.

mod support;

use std::time::Duration;

use support::agents::{agent, can_run_lab, config, lab, SETTLE};

const VIP: &str = "192.0.2.62";

/// When the agent gives its start-up pages back, after being configured.
const GIVEN_BACK_AFTER: Duration = Duration::from_secs(10);

/// The resident pages of files of process `pid`, in KiB (`RssFile`).
fn resident_file_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssFile:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RssFile for pid {pid}"))
}

#[test]
fn start_up_pages_are_given_back_and_the_master_goes_on() {
    if !can_run_lab("start_up_pages_are_given_back_and_the_master_goes_on") {
        return;
    }
    let lab = lab("pages", 2);
    let vip = format!("{VIP}/24");
    let master = agent(&lab, "pages", 0, &config(62, 150, "100ms", &vip, ""));
    if let Err(e) = master.wait_for_state("web", "master", SETTLE) {
        panic!("the Master comes up alone: {e}\n{}", master.log());
    }
    let backup = agent(&lab, "pages", 1, &config(62, 100, "100ms", &vip, ""));
    if let Err(e) = backup.wait_for_state("web", "backup", SETTLE) {
        panic!("the Backup comes up: {e}\n{}", backup.log());
    }
    let pid = master.pid().expect("the Master runs");
    let before = resident_file_kib(pid);
    let heard_before = backup
        .status()
        .expect("status")
        .counter("web", "adverts_received");
    // The status refresh that gives the pages back comes once a second.
    std::thread::sleep(GIVEN_BACK_AFTER + Duration::from_secs(3));
    let after = resident_file_kib(pid);
    assert!(
        after * 4 < before * 3,
        "resident file pages went from {before} KiB to only {after} KiB\n{}",
        master.log()
    );
    let status = backup.status().expect("status");
    assert_eq!(status.state("web").as_deref(), Some("backup"));
    // 100 ms adverts for at least 13 s: well over 100 heard meanwhile.
    let heard = status.counter("web", "adverts_received") - heard_before;
    assert!(heard >= 100, "the Backup heard only {heard} adverts");
    let master_status = master.status().expect("status");
    assert_eq!(master_status.state("web").as_deref(), Some("master"));
    assert!(
        master.log().contains("giving back the pages"),
        "{}",
        master.log()
    );
    assert!(lab.hosts[0].has_address(VIP).expect("list addresses"));
}
