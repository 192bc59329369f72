//! Start, reload and stop through systemctl.

use std::time::Instant;

use crate::pair::{check_rate, poll_systemd, Pair};
use crate::support::agents::MARGIN;
use crate::support::rfc;
use crate::{
    host_config, peer_config, ADVERT_INTERVAL, CONFIG, HOST_PRIORITY, PEER_PRIORITY, SAMPLE_PERIOD,
    SECOND_VIP, VIP,
};

/// `systemctl start` returns once the agent sent READY=1; the unit is active
/// with the agent's summary as status, and the host preempts the peer within
/// its own Master_Down_Interval (RFC 9568 §6.4.2: a higher-priority Backup
/// with preempt ignores lower-priority adverts until its timer fires).
pub fn start_elects_the_host(pair: &Pair) {
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
pub fn reload_applies_the_vip_list_without_a_flap(pair: &Pair) {
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
pub fn stop_hands_over_to_the_peer(pair: &Pair) {
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
