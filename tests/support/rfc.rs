//! RFC 9568 §6.1 timers, written out again from the RFC text as an oracle that
//! does not share code with the crate (`twinstar::vrrp::{skew_time,
//! master_down_interval}` must agree with it, see tests/rfc_timers.rs):
//!
//! > Skew_Time: Time to skew Master_Down_Interval in centiseconds. Calculated as:
//! > (((256 - Priority) * Master_Adver_Interval) / 256)
//! >
//! > Master_Down_Interval: Time interval for Backup to declare Master down
//! > (centiseconds). Calculated as: (3 * Master_Adver_Interval) + Skew_Time
//!
//! Master_Adver_Interval is in centiseconds, as in the 12-bit Max Adver Int field
//! of the advertisement. The RFC's division is exact (a fraction of a
//! centisecond), so the values here are exact too: in units of 1/256 centisecond
//! (39.0625 µs), converted to a `Duration` only at the end, where at most half a
//! nanosecond is rounded down.

use std::time::Duration;

/// Nanoseconds in one centisecond.
const NANOS_PER_CENTI: u64 = 10_000_000;

/// An interval as carried on the wire: whole centiseconds, 1..=4095.
/// Panics on anything else, since no advertisement can carry it.
pub fn centis(interval: Duration) -> u64 {
    let nanos = interval.as_nanos();
    assert!(
        nanos % u128::from(NANOS_PER_CENTI) == 0,
        "{interval:?} is not a whole number of centiseconds"
    );
    let cs = (nanos / u128::from(NANOS_PER_CENTI)) as u64;
    assert!(
        (1..=4095).contains(&cs),
        "{interval:?} does not fit Max Adver Int"
    );
    cs
}

/// Skew_Time in units of 1/256 centisecond: (256 − Priority) × Master_Adver_Interval.
pub fn skew_time_256ths(priority: u8, interval_cs: u64) -> u64 {
    (256 - u64::from(priority)) * interval_cs
}

/// Master_Down_Interval in units of 1/256 centisecond: 3 × MAI + Skew_Time.
pub fn master_down_interval_256ths(priority: u8, interval_cs: u64) -> u64 {
    3 * interval_cs * 256 + skew_time_256ths(priority, interval_cs)
}

/// 1/256 centiseconds as a `Duration` (rounded down to the nanosecond; the exact
/// value is at most half a nanosecond more).
pub fn from_256ths(units: u64) -> Duration {
    Duration::from_nanos(units * NANOS_PER_CENTI / 256)
}

/// Skew_Time for `priority` and Master_Adver_Interval `interval`.
pub fn skew_time(priority: u8, interval: Duration) -> Duration {
    from_256ths(skew_time_256ths(priority, centis(interval)))
}

/// Master_Down_Interval for `priority` and Master_Adver_Interval `interval`.
pub fn master_down_interval(priority: u8, interval: Duration) -> Duration {
    from_256ths(master_down_interval_256ths(priority, centis(interval)))
}

/// VRRPv2's Master_Down_Interval, from RFC 3768 §6.1, for an Advertisement
/// Interval of `adver_int_secs` whole seconds:
///
/// > Skew_Time: Time to skew Master_Down_Interval in seconds. Calculated as:
/// > ( (256 - Priority) / 256 )
/// >
/// > Master_Down_Interval: Time interval for Backup to declare Master down
/// > (seconds). Calculated as: (3 * Advertisement_Interval) + Skew_time
///
/// Unlike VRRPv3's, the skew does not scale with the interval; at 1 s both
/// give the same value. Exact: 1/256 s is 3,906,250 ns.
pub fn master_down_interval_v2(priority: u8, adver_int_secs: u64) -> Duration {
    let skew = Duration::from_nanos((256 - u64::from(priority)) * 1_000_000_000 / 256);
    Duration::from_secs(3 * adver_int_secs) + skew
}

/// Reference values worked out by hand from the formulas above:
/// (priority, Master_Adver_Interval in cs, Skew_Time, Master_Down_Interval).
pub const REFERENCE: &[(u8, u64, Duration, Duration)] = &[
    // 156 × 10 / 256 = 6.09375 cs; 30 + 6.09375 = 36.09375 cs.
    (
        100,
        10,
        Duration::from_nanos(60_937_500),
        Duration::from_nanos(360_937_500),
    ),
    // 106 × 10 / 256 = 4.140625 cs; 34.140625 cs.
    (
        150,
        10,
        Duration::from_nanos(41_406_250),
        Duration::from_nanos(341_406_250),
    ),
    // 1 × 100 / 256 = 0.390625 cs; 300.390625 cs.
    (
        255,
        100,
        Duration::from_nanos(3_906_250),
        Duration::from_nanos(3_003_906_250),
    ),
    // 255 × 100 / 256 = 99.609375 cs; 399.609375 cs.
    (
        1,
        100,
        Duration::from_nanos(996_093_750),
        Duration::from_nanos(3_996_093_750),
    ),
    // 2 × 1 / 256 = 0.0078125 cs = 78.125 µs; 3.0078125 cs.
    (
        254,
        1,
        Duration::from_nanos(78_125),
        Duration::from_nanos(30_078_125),
    ),
    // 255 × 1 / 256 = 0.99609375 cs; 3.99609375 cs.
    (
        1,
        1,
        Duration::from_nanos(9_960_937),
        Duration::from_nanos(39_960_937),
    ),
    // 253 × 3 / 256 = 2.96484375 cs; 11.96484375 cs.
    (
        3,
        3,
        Duration::from_nanos(29_648_437),
        Duration::from_nanos(119_648_437),
    ),
    // 156 × 4095 / 256 = 2495.390625 cs; 12285 + 2495.390625 = 14780.390625 cs.
    (
        100,
        4095,
        Duration::from_nanos(24_953_906_250),
        Duration::from_nanos(147_803_906_250),
    ),
];
