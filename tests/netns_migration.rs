//! The rolling migration of a keepalived pair to twinstar, as the README's
//! "Rolling migration, one host at a time" documents it, with a client
//! pinging the VIP every 5 ms throughout:
//!
//! 0. keepalived A (Master, 150) and keepalived B (Backup, 100), both with
//!    keepalived's default protocol, VRRPv2.
//! 1. B: keepalived stopped, twinstar started with `version: both`. A stays
//!    Master: no outage, no flap.
//! 2. A: keepalived stopped (SIGTERM: it resigns with priority 0), twinstar
//!    started with `version: both`. B takes over, then A preempts back.
//! 3. B, then A: `version: 3` written to the file, SIGHUP. No outage, no flap.
//!
//! Each step's outage (the largest gap between ping replies) must stay within
//! one failover's: the Backup's Master_Down_Interval (RFC 3768 §6.1, what
//! losing the Master would cost) plus the lab's stated [`MARGIN`]. The figures
//! are printed; the README quotes them.

mod support;

use std::time::{Duration, Instant};

use support::agents::{
    agent, can_run_keepalived_lab, dir, lab, wait_until, MARGIN, SETTLE, STARTUP,
};
use support::rfc;
use support::vip_sampler::VipSampler;
use twinstar::lab::keepalived::{self, Keepalived};
use twinstar::lab::{Agent, Lab, Pinger};

const VIP: &str = "192.0.2.50";
const VRID: u8 = 51;
const A: usize = 0;
const B: usize = 1;
/// The instance name an imported keepalived configuration keeps.
const INSTANCE: &str = "VI_1";
/// How often the client pings the VIP.
const PING_EVERY: Duration = Duration::from_millis(5);
/// How long each step is watched once it has settled.
const STEADY: Duration = Duration::from_secs(3);

/// A twinstar configuration in the style `import-keepalived` writes for the
/// keepalived instance it replaces, speaking `version`.
fn twinstar_config(priority: u8, version: &str) -> String {
    format!(
        "# Imported from keepalived.conf (vrrp_instance VI_1).\n\
         instances:\n  - name: {INSTANCE}\n    interface: eth0\n    vrid: {VRID}\n    \
         priority: {priority}\n    advert_interval: 1s\n    version: {version}\n    \
         virtual_ips:\n      - {VIP}/24\n"
    )
}

fn start_keepalived(lab: &Lab, index: usize, priority: u8, state: &str) -> Keepalived {
    let config = keepalived::default_config(VRID, priority, state, &format!("{VIP}/24"));
    Keepalived::start(&lab.hosts[index].ns, &dir("migka", index), &config)
        .expect("start keepalived")
}

/// One step's client outage: the largest gap between replies and the echo
/// requests lost, since `pinger` was reset.
struct Outage {
    gap: Duration,
    lost: u64,
}

fn outage(pinger: &Pinger, step: &str, bound: Duration) -> Outage {
    assert!(
        pinger.wait_replies(10, MARGIN),
        "{step}: the client gets no replies from {VIP}"
    );
    let outage = Outage {
        gap: pinger.largest_gap(),
        lost: pinger.lost(),
    };
    eprintln!(
        "migration {step}: largest gap between replies {:?}, {} of the 5 ms pings lost (bound {bound:?})",
        outage.gap, outage.lost
    );
    assert!(
        outage.gap <= bound,
        "{step}: the client went {:?} without a reply, more than one failover ({bound:?})",
        outage.gap
    );
    outage
}

fn transitions(agent: &Agent) -> u64 {
    agent
        .status()
        .expect("status")
        .counter(INSTANCE, "master_transitions")
}

/// Rewrites `agent`'s configuration to `version` and sends SIGHUP; waits
/// until the log says it was applied in place.
fn reload_to(agent: &Agent, priority: u8, version: &str) {
    let applied_before = agent.log().matches("reconfigured in place").count();
    std::fs::write(agent.config_path(), twinstar_config(priority, version)).expect("write config");
    agent.reload().expect("SIGHUP");
    assert!(
        wait_until(SETTLE, || agent
            .log()
            .matches("reconfigured in place")
            .count()
            > applied_before),
        "the reload was not applied in place:\n{}",
        agent.log()
    );
}

#[test]
fn rolling_migration_from_a_keepalived_pair_keeps_each_outage_within_one_failover() {
    if !can_run_keepalived_lab(
        "rolling_migration_from_a_keepalived_pair_keeps_each_outage_within_one_failover",
    ) {
        return;
    }
    // One failover: B (priority 100) declaring A lost, RFC 3768 §6.1.
    let failover = rfc::master_down_interval_v2(100, 1) + MARGIN;
    let lab = lab("mig", 2);

    // Step 0: the keepalived pair.
    let mut keepalived_a = start_keepalived(&lab, A, 150, "MASTER");
    let mut keepalived_b = start_keepalived(&lab, B, 100, "BACKUP");
    assert!(
        wait_until(SETTLE, || lab.hosts[A].has_address(VIP).unwrap_or(false)),
        "keepalived A never took the VIP:\n{}",
        keepalived_a.log()
    );
    std::thread::sleep(rfc::master_down_interval_v2(100, 1));
    assert_eq!(
        lab.holders(VIP).unwrap(),
        [true, false],
        "{}",
        keepalived_b.log()
    );
    let pinger = Pinger::start(&lab.client.ns, VIP, PING_EVERY).expect("ping");
    assert!(pinger.wait_replies(50, SETTLE), "no replies from {VIP}");

    // Step 1: B becomes twinstar in `both` mode; A stays Master throughout.
    pinger.reset();
    let a_vip = VipSampler::start(&lab.hosts[A], VIP);
    let b_vip = VipSampler::start(&lab.hosts[B], VIP);
    let step1 = Instant::now();
    keepalived_b.stop();
    let twinstar_b = agent(&lab, "mig", B, &twinstar_config(100, "both"));
    twinstar_b
        .wait_for_state(INSTANCE, "backup", STARTUP)
        .unwrap();
    // Past B's Master_Down_Interval: B hears A's VRRPv2 adverts.
    std::thread::sleep(rfc::master_down_interval_v2(100, 1) + STEADY);
    assert_eq!(a_vip.first(step1, false), None, "A lost the VIP in step 1");
    assert_eq!(b_vip.first(step1, true), None, "B took the VIP in step 1");
    assert_eq!(transitions(&twinstar_b), 0, "{}", twinstar_b.log());
    let status = twinstar_b.status().expect("status");
    assert!(
        status.counter(INSTANCE, "adverts_received") >= 3,
        "{status:?}"
    );
    let step1 = outage(&pinger, "step 1 (B: keepalived -> twinstar both)", failover);

    // Step 2: A becomes twinstar in `both` mode. keepalived A resigns (SIGTERM),
    // B takes over, then A, with the higher priority, preempts back.
    pinger.reset();
    keepalived_a.stop();
    let twinstar_a = agent(&lab, "mig", A, &twinstar_config(150, "both"));
    let a_master = rfc::master_down_interval(150, Duration::from_secs(1)) + STARTUP + MARGIN;
    twinstar_a
        .wait_for_state(INSTANCE, "master", a_master)
        .unwrap();
    twinstar_b
        .wait_for_state(INSTANCE, "backup", MARGIN)
        .unwrap();
    std::thread::sleep(STEADY);
    assert_eq!(lab.holders(VIP).unwrap(), [true, false]);
    let step2 = outage(&pinger, "step 2 (A: keepalived -> twinstar both)", failover);

    // Step 3: both to VRRPv3, the Backup first. No flap, no outage.
    pinger.reset();
    let step3 = Instant::now();
    let flips = [transitions(&twinstar_a), transitions(&twinstar_b)];
    reload_to(&twinstar_b, 100, "3");
    std::thread::sleep(STEADY);
    reload_to(&twinstar_a, 150, "3");
    std::thread::sleep(STEADY);
    assert_eq!(a_vip.first(step3, false), None, "A lost the VIP in step 3");
    assert_eq!(b_vip.first(step3, true), None, "B took the VIP in step 3");
    assert_eq!(flips, [transitions(&twinstar_a), transitions(&twinstar_b)]);
    // Only VRRPv3 is on the wire now: B, speaking VRRPv3 only, drops nothing more.
    let mismatches = || {
        twinstar_b
            .status()
            .expect("status")
            .dropped("eth0", "version_mismatch")
    };
    let before = mismatches();
    std::thread::sleep(Duration::from_secs(2) + MARGIN);
    assert_eq!(mismatches(), before, "VRRPv2 adverts still on the wire");
    let step3 = outage(&pinger, "step 3 (both reload to version 3)", failover);

    eprintln!(
        "migration summary: step 1 {:?} ({} lost), step 2 {:?} ({} lost), step 3 {:?} ({} lost)",
        step1.gap, step1.lost, step2.gap, step2.lost, step3.gap, step3.lost
    );
}
