//! When a reader stops being woken by every arrival and reads at a pace
//! instead: the decision, kept apart from the I/O so it can be tested with
//! made-up times.

use std::time::Duration;

use tokio::time::Instant;

use crate::platform::vrrp_socket::Batch;

/// How long a busy reader sleeps between reads of its socket.
///
/// Why: a wake-up of the thread (a context switch in and out) costs more
/// than reading a datagram, and a reader woken by readiness is woken about
/// once per arrival: a flood of 25,000 adverts/s woke it 11,000–15,000
/// times a second. Paced, a busy socket costs one wake-up per pace whatever
/// its rate (about 600 a second under that flood). What it adds: a datagram
/// waits for the rest of the pace before the agent sees it. tokio's timer
/// rounds a sleep up to the end of its 1 ms tick and epoll's timeout adds
/// its slack, so half a tick makes a real pace of 1–2 ms: an advert is seen
/// at most about 2 ms late, 1 ms on average, against the two advert
/// intervals plus Skew_Time by which Master_Down_Interval exceeds the
/// advert interval (RFC 9568 §6.1; at least 20 ms).
pub const PACE: Duration = Duration::from_micros(500);

/// Two wake-ups that found datagrams closer together than this make the
/// socket busy: pacing pays only when more than one datagram comes per
/// pace, and a socket hearing one advert every 10 ms stays on readiness
/// (no extra system call per advert).
pub const BUSY_GAP: Duration = Duration::from_millis(1);

/// Remembers when the socket last had datagrams, to tell a busy socket
/// from a quiet one.
#[derive(Debug, Default)]
pub struct Pacer {
    last_found: Option<Instant>,
}

impl Pacer {
    /// Notes a read at `now` that did `batch`; true when the socket is busy
    /// enough to be read at [`PACE`]: the read found datagrams and either
    /// stopped at its limit (more are queued) or came within [`BUSY_GAP`]
    /// of the last read that found some.
    pub fn busy(&mut self, now: Instant, batch: Batch) -> bool {
        let close = self
            .last_found
            .is_some_and(|last| now.saturating_duration_since(last) < BUSY_GAP);
        self.note(now, batch);
        batch.count > 0 && (close || !batch.emptied)
    }

    /// Notes a read at `now` that did `batch`, made while already paced: a
    /// datagram soon after the pace ends is then a reason to pace again.
    pub fn note(&mut self, now: Instant, batch: Batch) {
        if batch.count > 0 {
            self.last_found = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(count: usize) -> Batch {
        Batch {
            count,
            emptied: true,
        }
    }

    #[test]
    fn one_advert_every_ten_milliseconds_is_not_busy() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        for i in 0..100 {
            let now = start + Duration::from_millis(10 * i);
            assert!(!pacer.busy(now, found(1)), "paced at read {i}");
        }
    }

    #[test]
    fn reads_that_find_datagrams_closer_than_the_gap_are_busy() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        assert!(!pacer.busy(start, found(1)), "the first read has no gap");
        assert!(pacer.busy(start + Duration::from_micros(100), found(1)));
    }

    #[test]
    fn a_read_that_stops_at_its_limit_is_busy_at_once() {
        let mut pacer = Pacer::default();
        let full = Batch {
            count: 64,
            emptied: false,
        };
        assert!(pacer.busy(Instant::now(), full));
    }

    #[test]
    fn an_empty_read_is_not_busy_and_does_not_count_as_recent() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        assert!(!pacer.busy(start, found(1)));
        assert!(!pacer.busy(start + Duration::from_micros(100), found(0)));
        assert!(!pacer.busy(start + BUSY_GAP + Duration::from_micros(1), found(1)));
    }
}
