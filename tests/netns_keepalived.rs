//! Interoperation with the real keepalived on one segment: election by
//! priority in both directions, and takeover when either side's host is lost.

mod support;

use std::time::{Duration, Instant};

use support::agents::{agent, can_run_keepalived_lab, config, dir, lab, wait_until, SETTLE};
use twinstar::lab::keepalived::{self, Keepalived};
use twinstar::lab::{Agent, Lab};

const VIP: &str = "192.0.2.50";

/// How long the survivor may take to hold the VIP after the Master's cable is pulled.
const TAKEOVER: Duration = Duration::from_secs(3);

fn start_keepalived(lab: &Lab, tag: &str, index: usize, priority: u8) -> Keepalived {
    Keepalived::start(
        &lab.hosts[index].ns,
        &dir(tag, index),
        &keepalived::config(51, priority, "0.1", "192.0.2.50/24"),
    )
    .expect("start keepalived")
}

/// twinstar (150) on h1 elected Master over keepalived (100) on h2.
fn twinstar_over_keepalived(lab: &Lab, tag: &str) -> (Agent, Keepalived) {
    let ours = agent(lab, tag, 0, &config(51, 150, "100ms", "192.0.2.50/24", ""));
    let theirs = start_keepalived(lab, tag, 1, 100);
    ours.wait_for_state("web", "master", SETTLE).unwrap();
    // Give keepalived time to finish any election of its own.
    std::thread::sleep(Duration::from_secs(2));
    (ours, theirs)
}

/// keepalived (200) on h1 elected Master over twinstar (100) on h2.
fn keepalived_over_twinstar(lab: &Lab, tag: &str) -> (Keepalived, Agent) {
    let theirs = start_keepalived(lab, tag, 0, 200);
    let ours = agent(lab, tag, 1, &config(51, 100, "100ms", "192.0.2.50/24", ""));
    assert!(
        wait_until(SETTLE, || lab.hosts[0].has_address(VIP).unwrap()),
        "keepalived never took the VIP:\n{}",
        theirs.log()
    );
    ours.wait_for_state("web", "backup", SETTLE).unwrap();
    (theirs, ours)
}

#[test]
fn twinstar_with_higher_priority_is_master_over_keepalived() {
    if !can_run_keepalived_lab("twinstar_with_higher_priority_is_master_over_keepalived") {
        return;
    }
    let lab = lab("kahi", 2);
    let (ours, mut theirs) = twinstar_over_keepalived(&lab, "kahi");
    // keepalived stays a Backup for a while.
    assert!(theirs.running(), "keepalived exited:\n{}", theirs.log());
    let steady = Instant::now() + Duration::from_secs(1);
    while Instant::now() < steady {
        assert!(
            lab.hosts[0].has_address(VIP).unwrap(),
            "twinstar lost the VIP"
        );
        assert!(
            !lab.hosts[1].has_address(VIP).unwrap(),
            "keepalived holds the VIP:\n{}",
            theirs.log()
        );
        assert_eq!(
            ours.status().and_then(|s| s.state("web")).as_deref(),
            Some("master")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn keepalived_with_higher_priority_is_master_over_twinstar() {
    if !can_run_keepalived_lab("keepalived_with_higher_priority_is_master_over_twinstar") {
        return;
    }
    let lab = lab("kalo", 2);
    let (_theirs, ours) = keepalived_over_twinstar(&lab, "kalo");
    std::thread::sleep(Duration::from_secs(1));
    let status = ours.status().expect("status");
    assert_eq!(status.state("web").as_deref(), Some("backup"), "{status:?}");
    assert!(status.counter("web", "adverts_received") > 0, "{status:?}");
    assert_eq!(status.dropped("eth0", "bad_checksum"), 0, "{status:?}");
    assert!(!lab.hosts[1].has_address(VIP).unwrap());
    assert!(lab.hosts[0].has_address(VIP).unwrap());
}

#[test]
fn twinstar_takes_over_when_the_keepalived_master_is_lost() {
    if !can_run_keepalived_lab("twinstar_takes_over_when_the_keepalived_master_is_lost") {
        return;
    }
    let lab = lab("kaup", 2);
    let (_theirs, ours) = keepalived_over_twinstar(&lab, "kaup");
    std::thread::sleep(Duration::from_millis(500));
    lab.set_cable(0, false).unwrap();
    let took = wait_until(TAKEOVER, || lab.hosts[1].has_address(VIP).unwrap_or(false));
    assert!(took, "twinstar did not take the VIP: {:?}", ours.status());
    ours.wait_for_state("web", "master", SETTLE).unwrap();
}

#[test]
fn keepalived_takes_over_when_the_twinstar_master_is_lost() {
    if !can_run_keepalived_lab("keepalived_takes_over_when_the_twinstar_master_is_lost") {
        return;
    }
    let lab = lab("kadn", 2);
    let (_ours, theirs) = twinstar_over_keepalived(&lab, "kadn");
    assert!(
        !lab.hosts[1].has_address(VIP).unwrap(),
        "keepalived holds the VIP:\n{}",
        theirs.log()
    );
    lab.set_cable(0, false).unwrap();
    let took = wait_until(TAKEOVER, || lab.hosts[1].has_address(VIP).unwrap());
    assert!(took, "keepalived did not take the VIP:\n{}", theirs.log());
}
