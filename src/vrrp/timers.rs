//! The protocol timers of RFC 9568 §6.1, computed without rounding drift.
//!
//! Intervals travel on the wire in centiseconds, but Skew_Time divides by 256, which
//! centiseconds (or even microseconds) cannot hold exactly. We compute in
//! nanoseconds with 128-bit intermediates: for every interval the protocol allows,
//! the result is exact to the nanosecond, so repeated recomputation never drifts.

use std::time::Duration;

/// Smallest advertisement interval the 12-bit centisecond field can express (1 cs).
pub const MIN_ADVER_INTERVAL: Duration = crate::wire::vrrp::ADVER_INTERVAL_UNIT;

/// Largest advertisement interval the 12-bit centisecond field can express (4095 cs).
pub const MAX_ADVER_INTERVAL: Duration = crate::wire::vrrp::MAX_ADVER_INTERVAL;

/// Whether `interval` can be an Advertisement_Interval: 10 ms..=40.95 s in whole
/// centiseconds, since RFC 9568 §5.2.7 carries it as a 12-bit centisecond count.
pub fn is_valid_adver_interval(interval: Duration) -> bool {
    let whole_centis = interval.as_nanos() % MIN_ADVER_INTERVAL.as_nanos() == 0;
    (MIN_ADVER_INTERVAL..=MAX_ADVER_INTERVAL).contains(&interval) && whole_centis
}

/// RFC 9568 §6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256.
///
/// A higher priority gives a shorter skew, so the best Backup takes over first.
pub fn skew_time(priority: u8, master_adver_interval: Duration) -> Duration {
    let weight = 256 - u128::from(priority);
    let nanos = weight * master_adver_interval.as_nanos() / 256;
    duration_from_nanos(nanos)
}

/// RFC 9568 §6.1: Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
///
/// How long a Backup waits without hearing the Master before it takes over.
pub fn master_down_interval(priority: u8, master_adver_interval: Duration) -> Duration {
    let three = duration_from_nanos(master_adver_interval.as_nanos() * 3);
    three.saturating_add(skew_time(priority, master_adver_interval))
}

fn duration_from_nanos(nanos: u128) -> Duration {
    // Every interval we are given fits easily; saturate rather than panic if a
    // caller passes something absurd.
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let sub = (nanos % 1_000_000_000) as u32;
    Duration::new(secs, sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_time_for_default_priority_and_one_second() {
        // (256 - 100) * 1 s / 256 = 0.609375 s exactly.
        assert_eq!(
            skew_time(100, Duration::from_secs(1)),
            Duration::from_micros(609_375)
        );
    }

    #[test]
    fn skew_time_keeps_sub_microsecond_precision_at_ten_milliseconds() {
        // (256 - 100) * 10 ms / 256 = 6.09375 ms: not representable in whole microseconds.
        assert_eq!(
            skew_time(100, Duration::from_millis(10)),
            Duration::from_nanos(6_093_750)
        );
    }

    #[test]
    fn master_down_interval_is_three_intervals_plus_skew() {
        let mai = Duration::from_millis(100);
        assert_eq!(
            master_down_interval(150, mai),
            Duration::from_millis(300) + Duration::from_nanos(41_406_250)
        );
    }

    #[test]
    fn owner_priority_has_smallest_skew() {
        let mai = Duration::from_secs(1);
        assert_eq!(
            skew_time(255, mai),
            Duration::from_micros(3_906) + Duration::from_nanos(250)
        );
        assert!(skew_time(255, mai) < skew_time(254, mai));
    }

    #[test]
    fn largest_interval_does_not_overflow() {
        let mdi = master_down_interval(1, MAX_ADVER_INTERVAL);
        assert!(mdi > Duration::from_secs(3 * 40) && mdi < Duration::from_secs(4 * 41));
    }
}
