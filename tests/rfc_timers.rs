//! The crate's RFC 9568 §6.1 timers against the independent oracle in
//! tests/support/rfc.rs, and the oracle against values worked out by hand.

mod support;

use std::time::Duration;

use support::rfc;

#[test]
fn oracle_matches_the_hand_computed_reference_values() {
    for &(priority, cs, skew, mdi) in rfc::REFERENCE {
        let interval = Duration::from_millis(cs * 10);
        assert_eq!(
            rfc::skew_time(priority, interval),
            skew,
            "p {priority}, {cs} cs"
        );
        assert_eq!(
            rfc::master_down_interval(priority, interval),
            mdi,
            "p {priority}, {cs} cs"
        );
    }
}

/// Every priority and every interval the wire can carry: the crate computes in
/// integer nanoseconds, the RFC in exact centisecond fractions; they may differ
/// by rounding only, far below a microsecond.
#[test]
fn crate_timers_agree_with_the_rfc_within_a_microsecond() {
    let tolerance = Duration::from_micros(1);
    let mut worst = Duration::ZERO;
    for cs in 1..=4095u64 {
        let interval = Duration::from_millis(cs * 10);
        for priority in 1..=255u8 {
            let pairs = [
                (
                    twinstar::vrrp::skew_time(priority, interval),
                    rfc::skew_time(priority, interval),
                ),
                (
                    twinstar::vrrp::master_down_interval(priority, interval),
                    rfc::master_down_interval(priority, interval),
                ),
            ];
            for (ours, oracle) in pairs {
                let diff = ours.abs_diff(oracle);
                worst = worst.max(diff);
                assert!(
                    diff <= tolerance,
                    "priority {priority}, {cs} cs: crate {ours:?}, RFC {oracle:?}"
                );
            }
        }
    }
    println!("largest difference crate vs RFC: {worst:?}");
}

#[test]
fn skew_time_orders_backups_by_priority() {
    let interval = Duration::from_millis(100);
    for priority in 1..=254u8 {
        assert!(rfc::skew_time(priority + 1, interval) < rfc::skew_time(priority, interval));
    }
}
