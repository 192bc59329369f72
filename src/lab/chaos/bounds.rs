//! The time bounds the chaos invariants hold the agents to, computed from the
//! lab's own agent configuration with RFC 9568 §6.1 written out again here:
//! a checker must not borrow its yardstick from the code it checks, so nothing
//! here calls `crate::vrrp`.

use std::time::Duration;

/// Skew_Time (RFC 9568 §6.1): `((256 - Priority) * Master_Adver_Interval) / 256`.
/// Exact for intervals in whole centiseconds, as every advert carries.
pub fn skew_time(priority: u8, interval: Duration) -> Duration {
    let nanos = interval.as_nanos() * (256 - u128::from(priority)) / 256;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Master_Down_Interval (RFC 9568 §6.1): `(3 * Master_Adver_Interval) + Skew_Time`.
pub fn master_down_interval(priority: u8, interval: Duration) -> Duration {
    interval * 3 + skew_time(priority, interval)
}

/// What the lab allows on top of a protocol time: the brief's 100 ms for an
/// agent to act (netlink, a forked `ip`, a loaded two-core machine).
pub const ACT_MARGIN: Duration = Duration::from_millis(100);

/// How often the sampler probes; also the resolution of every measured span.
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(10);

/// How late the kernel may remove an address whose lifetime ran out: it
/// expires addresses from periodic work, not at the instant (measured on
/// this kind of machine: a 2 s address was gone 2.2 s after it was added).
pub const KERNEL_EXPIRY: Duration = Duration::from_secs(1);

/// Loss faults: the chance left that an overlap outlasts its bound (the bound
/// grows with the loss rate, see [`Bounds::overlap_under_loss`]).
const LOSS_TAIL: f64 = 1e-6;

/// The bounds of one lab, from its agents' priorities and advert interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The agents' Advertisement_Interval.
    pub interval: Duration,
    /// The longest Master_Down_Interval among the agents (the lowest priority's).
    pub master_down: Duration,
    /// The kernel lifetime the agents give their VIPs (`vip_lifetime`).
    pub vip_lifetime: Duration,
}

impl Bounds {
    /// Bounds for agents with `priorities` advertising every `interval` and
    /// adding their VIPs with a kernel lifetime of `vip_lifetime`.
    pub fn new(priorities: &[u8], interval: Duration, vip_lifetime: Duration) -> Bounds {
        let lowest = priorities.iter().copied().min().unwrap_or(1);
        Bounds {
            interval,
            master_down: master_down_interval(lowest, interval),
            vip_lifetime,
        }
    }

    /// The longest time nobody may answer for the VIP while a healthy agent
    /// exists: a Backup declares the Master down after Master_Down_Interval
    /// (RFC 9568 §6.4.2) and then adds the VIP, plus [`ACT_MARGIN`], plus one
    /// sample period of measurement.
    pub fn gap(&self) -> Duration {
        self.master_down + ACT_MARGIN + SAMPLE_PERIOD
    }

    /// The longest time two hosts may answer for the VIP on a lossless segment:
    /// a preempting Master advertises at once (RFC 9568 §6.4.3), the old one
    /// yields on receipt; one advert interval covers that advert being late,
    /// plus [`ACT_MARGIN`] and one sample period.
    pub fn overlap(&self) -> Duration {
        self.interval + ACT_MARGIN + SAMPLE_PERIOD
    }

    /// The longest time a Master that was killed or stopped (SIGKILL,
    /// SIGSTOP: nothing of it runs any more) may still answer beside its
    /// successor. No protocol message can reach a dead host: its VIPs go when
    /// their kernel lifetime, renewed by the agent while it was alive, runs
    /// out — at most `vip_lifetime` after the signal, plus the kernel's
    /// [`KERNEL_EXPIRY`], [`ACT_MARGIN`] and one sample period.
    pub fn dead_master_overlap(&self) -> Duration {
        self.vip_lifetime + KERNEL_EXPIRY + ACT_MARGIN + SAMPLE_PERIOD
    }

    /// [`overlap`](Self::overlap) while `percent` % of frames are lost: the
    /// second Master yields at the first advert that gets through, so allow
    /// `n` intervals where `n` lost adverts in a row have a chance below one in
    /// a million (`p^n < 1e-6`).
    pub fn overlap_under_loss(&self, percent: u8) -> Duration {
        let p = f64::from(percent.clamp(1, 99)) / 100.0;
        let adverts = (LOSS_TAIL.ln() / p.ln()).ceil().max(1.0) as u32;
        self.interval * adverts + ACT_MARGIN + SAMPLE_PERIOD
    }

    /// After a partition heals, each Master hears the other within one interval
    /// and the lower one yields (RFC 9568 §6.4.3): overlap is exempt until then.
    pub fn partition_heal(&self) -> Duration {
        self.interval + ACT_MARGIN
    }

    /// How long after a fault ends the lab waits for the highest-priority agent
    /// to be Master again, alone: it is Backup first and preempts when its own
    /// Master_Down_Interval (at most [`master_down`](Self::master_down)) runs
    /// out, an interval later the other has yielded; plus [`ACT_MARGIN`] and
    /// the three samples that confirm it.
    pub fn settle(&self) -> Duration {
        self.master_down + self.interval + ACT_MARGIN + SAMPLE_PERIOD * 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_match_the_rfc_worked_by_hand() {
        let ms100 = Duration::from_millis(100);
        // 156 × 10 cs / 256 = 6.09375 cs; 30 + 6.09375 = 36.09375 cs.
        assert_eq!(skew_time(100, ms100), Duration::from_nanos(60_937_500));
        assert_eq!(
            master_down_interval(100, ms100),
            Duration::from_nanos(360_937_500)
        );
        // 106 × 10 / 256 = 4.140625 cs.
        assert_eq!(
            master_down_interval(150, ms100),
            Duration::from_nanos(341_406_250)
        );
    }

    #[test]
    fn bounds_use_the_lowest_priority_and_grow_with_loss() {
        let b = Bounds::new(
            &[150, 100],
            Duration::from_millis(100),
            Duration::from_secs(2),
        );
        assert_eq!(b.master_down, Duration::from_nanos(360_937_500));
        assert_eq!(b.gap(), Duration::from_nanos(470_937_500));
        assert_eq!(b.overlap(), Duration::from_millis(210));
        // 0.3^12 < 1e-6 < 0.3^11.
        assert_eq!(b.overlap_under_loss(30), Duration::from_millis(1310));
        // 0.05^5 < 1e-6 < 0.05^4.
        assert_eq!(b.overlap_under_loss(5), Duration::from_millis(610));
        assert!(b.settle() > b.master_down);
    }
}
