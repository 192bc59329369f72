//! systemd restarting the agent: after the watchdog caught it hung, and after
//! SIGKILL; and what each does to the virtual IP.

use std::time::{Duration, Instant};

use crate::pair::{check_rate, poll_systemd, restart_count, Pair};
use crate::support::agents::{EARLY, MARGIN};
use crate::support::rfc;
use crate::{
    ADVERT_INTERVAL, EXEC_STOP_POST_ALLOWANCE, HOST_PRIORITY, PEER_PRIORITY, RESTART_SEC,
    SAMPLE_PERIOD, SYSTEMD_MARGIN, VIP, WATCHDOG_SEC,
};

/// With WatchdogSec lowered by a drop-in, a stopped (hung) agent misses its
/// keep-alives; systemd kills it within WatchdogSec of the last one (sent at
/// most WatchdogSec/2 before the stop) and restarts it RestartSec later. The
/// peer takes over Master_Down_Interval after the host's last advert.
pub fn watchdog_restarts_a_hung_agent(pair: &Pair) {
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
pub fn sigkill_restarts_without_a_duplicate_vip(pair: &Pair) {
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
