//! Rate limits for log lines caused by packets from the LAN. Anyone on the
//! segment can send adverts as fast as the link allows; a line per packet
//! would turn a flood into a disk and journal flood. Pure: time is passed in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// At most one line per source and notice in this time.
pub const LOG_PERIOD: Duration = Duration::from_secs(60);

/// Sources remembered at once; beyond this (a flood with forged sources)
/// new sources are not logged until old entries expire. The counters still
/// count every packet.
const MAX_SOURCES: usize = 1024;

/// What a line is about, so one source's different problems each get a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notice {
    /// An advert from an address not in the instance's `peers`.
    UnknownPeer,
    /// An advert whose interval differs from ours.
    IntervalMismatch,
    /// VRRPv3 adverts without their VRRPv2 twins, heard by a `both` instance.
    V3Only,
}

/// When each (source, notice) was last logged and how many lines were held
/// back since.
#[derive(Debug, Default)]
pub struct LanLog {
    last: HashMap<(IpAddr, Notice), (Instant, u64)>,
}

impl LanLog {
    /// Whether a line about `source` may be logged at `now`: `Some(n)` with
    /// the number of lines held back since the last one, or `None` to stay
    /// quiet.
    pub fn allow(&mut self, now: Instant, source: IpAddr, notice: Notice) -> Option<u64> {
        let key = (source, notice);
        if let Some((at, held)) = self.last.get_mut(&key) {
            if now.saturating_duration_since(*at) < LOG_PERIOD {
                *held += 1;
                return None;
            }
            let held_back = *held;
            *at = now;
            *held = 0;
            return Some(held_back);
        }
        if self.last.len() >= MAX_SOURCES {
            self.last
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < LOG_PERIOD);
            if self.last.len() >= MAX_SOURCES {
                return None;
            }
        }
        self.last.insert(key, (now, 0));
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn source(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn one_line_per_source_and_notice_per_minute_with_the_count_held_back() {
        let t0 = Instant::now();
        let mut log = LanLog::default();
        assert_eq!(log.allow(t0, source(13), Notice::UnknownPeer), Some(0));
        for i in 1..=1000 {
            let at = t0 + Duration::from_millis(i);
            assert_eq!(log.allow(at, source(13), Notice::UnknownPeer), None);
        }
        // Another problem and another source each get their own line.
        assert_eq!(log.allow(t0, source(13), Notice::IntervalMismatch), Some(0));
        assert_eq!(log.allow(t0, source(14), Notice::UnknownPeer), Some(0));
        let almost = t0 + LOG_PERIOD - Duration::from_millis(1);
        assert_eq!(log.allow(almost, source(13), Notice::UnknownPeer), None);
        let later = t0 + LOG_PERIOD;
        assert_eq!(
            log.allow(later, source(13), Notice::UnknownPeer),
            Some(1001)
        );
        assert_eq!(log.allow(later, source(13), Notice::UnknownPeer), None);
    }

    #[test]
    fn a_flood_of_forged_sources_is_remembered_within_bounds() {
        let t0 = Instant::now();
        let mut log = LanLog::default();
        let mut logged = 0;
        for i in 0..(MAX_SOURCES as u32 * 4) {
            let forged = IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i));
            logged += usize::from(log.allow(t0, forged, Notice::UnknownPeer).is_some());
        }
        assert_eq!(logged, MAX_SOURCES);
        assert_eq!(log.last.len(), MAX_SOURCES);
        // Once they are a minute old, new sources are logged again.
        let later = t0 + LOG_PERIOD;
        let fresh = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(log.allow(later, fresh, Notice::UnknownPeer), Some(0));
        assert_eq!(log.last.len(), 1);
    }
}
