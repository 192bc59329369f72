//! twinstar `version: 2` beside keepalived running its default configuration
//! (no `vrrp_version` line, so VRRPv2; `advert_int 1`; no authentication), in
//! both roles, with failover both ways when the Master is SIGKILLed, and a
//! keepalived that still has an `authentication` block dropped under its own
//! counter. Bounds:
//! RFC 3768 §6.1's Master_Down_Interval, worked out in `support::rfc`, plus
//! the lab's stated [`MARGIN`].

mod support;

use std::time::{Duration, Instant};

use support::agents::{agent, can_run_keepalived_lab, dir, lab, wait_until, EARLY, MARGIN, SETTLE};
use support::rfc;
use twinstar::lab::keepalived::{self, Keepalived};
use twinstar::lab::{Agent, Lab};

const VIP: &str = "192.0.2.50";
const VRID: u8 = 51;

/// twinstar speaking VRRPv2 at `priority`, 1 s adverts.
fn twinstar_v2(lab: &Lab, tag: &str, index: usize, priority: u8) -> Agent {
    let config = format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: {VRID}\n    \
         priority: {priority}\n    advert_interval: 1s\n    version: 2\n    \
         virtual_ips:\n      - {VIP}/24\n"
    );
    agent(lab, tag, index, &config)
}

/// keepalived with its default configuration on lab host `index`.
fn keepalived_default(lab: &Lab, tag: &str, index: usize, priority: u8, state: &str) -> Keepalived {
    let config = keepalived::default_config(VRID, priority, state, &format!("{VIP}/24"));
    Keepalived::start(
        &lab.hosts[index].ns,
        &dir(&format!("{tag}ka"), index),
        &config,
    )
    .expect("start keepalived")
}

/// Asserts for `span` that only host `holder` has the VIP.
fn only_holder(lab: &Lab, holder: usize, span: Duration, context: impl Fn() -> String) {
    let end = Instant::now() + span;
    while Instant::now() < end {
        let holders = lab.holders(VIP).expect("read addresses");
        let expected: Vec<bool> = (0..holders.len()).map(|i| i == holder).collect();
        assert_eq!(holders, expected, "{}", context());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for host `index` to hold the VIP, and asserts it took between
/// `earliest` − EARLY and `latest` + MARGIN after `since`.
fn takes_over(
    lab: &Lab,
    index: usize,
    since: Instant,
    earliest: Duration,
    latest: Duration,
    context: impl Fn() -> String,
) -> Duration {
    let held = wait_until(latest + MARGIN, || {
        lab.hosts[index].has_address(VIP).unwrap_or(false)
    });
    let took = since.elapsed();
    assert!(
        held,
        "host {index} did not take the VIP within {latest:?} + {MARGIN:?}:\n{}",
        context()
    );
    assert!(
        took + EARLY >= earliest,
        "host {index} took the VIP after {took:?}, before {earliest:?}:\n{}",
        context()
    );
    took
}

#[test]
fn twinstar_v2_backs_up_a_default_keepalived_and_takes_over_when_it_is_killed() {
    let test = "twinstar_v2_backs_up_a_default_keepalived_and_takes_over_when_it_is_killed";
    if !can_run_keepalived_lab(test) {
        return;
    }
    let lab = lab("v2ka", 2);
    let mut theirs = keepalived_default(&lab, "v2ka", 0, 150, "MASTER");
    assert!(
        wait_until(SETTLE, || lab.hosts[0].has_address(VIP).unwrap_or(false)),
        "keepalived never took the VIP:\n{}",
        theirs.log()
    );
    let ours = twinstar_v2(&lab, "v2ka", 1, 100);
    ours.wait_for_state("web", "backup", SETTLE).unwrap();
    only_holder(&lab, 0, Duration::from_secs(3), || ours.log());
    let status = ours.status().expect("status");
    assert!(status.counter("web", "adverts_received") >= 2, "{status:?}");
    for reason in ["version_mismatch", "bad_checksum", "v2_authentication"] {
        assert_eq!(status.dropped("eth0", reason), 0, "{reason}: {status:?}");
    }
    assert_eq!(
        status.0["instances"][0]["master_adver_interval_ms"].as_u64(),
        Some(1000),
        "the VRRPv2 interval in seconds is Master_Adver_Interval: {status:?}"
    );

    // RFC 3768 §6.1: the Backup declares the Master down Master_Down_Interval
    // after its last advert, which came at most one Adver_Int before the kill.
    theirs.kill();
    let killed = Instant::now();
    let mdi = rfc::master_down_interval_v2(100, 1);
    let took = takes_over(&lab, 1, killed, mdi - Duration::from_secs(1), mdi, || {
        ours.log()
    });
    eprintln!(
        "twinstar v2 took over from keepalived after {took:?} (Master_Down_Interval {mdi:?})"
    );
    ours.wait_for_state("web", "master", MARGIN).unwrap();
}

#[test]
fn default_keepalived_backs_up_twinstar_v2_and_takes_over_when_it_is_killed() {
    let test = "default_keepalived_backs_up_twinstar_v2_and_takes_over_when_it_is_killed";
    if !can_run_keepalived_lab(test) {
        return;
    }
    let lab = lab("v2tw", 2);
    let mut ours = twinstar_v2(&lab, "v2tw", 0, 150);
    ours.wait_for_state("web", "master", SETTLE).unwrap();
    let theirs = keepalived_default(&lab, "v2tw", 1, 100, "BACKUP");
    // keepalived would take the VIP after its Master_Down_Interval if it did
    // not hear our VRRPv2 adverts: hold for well past it.
    let mdi = rfc::master_down_interval_v2(100, 1);
    only_holder(&lab, 0, mdi * 2, || theirs.log());
    assert!(
        theirs.log().contains("Entering BACKUP STATE"),
        "keepalived is not a Backup:\n{}",
        theirs.log()
    );

    ours.kill();
    let killed = Instant::now();
    let took = takes_over(&lab, 1, killed, mdi - Duration::from_secs(1), mdi, || {
        theirs.log()
    });
    eprintln!(
        "keepalived took over from twinstar v2 after {took:?} (Master_Down_Interval {mdi:?})"
    );
}

#[test]
fn keepalived_with_an_authentication_block_is_dropped_as_v2_authentication() {
    let test = "keepalived_with_an_authentication_block_is_dropped_as_v2_authentication";
    if !can_run_keepalived_lab(test) {
        return;
    }
    let lab = lab("v2au", 2);
    // RFC 3768 §5.3.6.1 removed the simple password that keepalived still
    // sends with `auth_type PASS`; the README says to delete the block.
    let config = keepalived::default_config(VRID, 150, "MASTER", &format!("{VIP}/24")).replace(
        "    virtual_ipaddress",
        "    authentication {\n        auth_type PASS\n        auth_pass secret\n    }\n    \
         virtual_ipaddress",
    );
    let theirs =
        Keepalived::start(&lab.hosts[0].ns, &dir("v2auka", 0), &config).expect("start keepalived");
    assert!(
        wait_until(SETTLE, || lab.hosts[0].has_address(VIP).unwrap_or(false)),
        "keepalived never took the VIP:\n{}",
        theirs.log()
    );
    let ours = twinstar_v2(&lab, "v2au", 1, 100);
    let counted = wait_until(SETTLE, || {
        ours.status()
            .is_some_and(|s| s.dropped("eth0", "v2_authentication") >= 2)
    });
    let status = ours.status().expect("status");
    assert!(counted, "{status:?}");
    assert_eq!(status.counter("web", "adverts_received"), 0, "{status:?}");
}
