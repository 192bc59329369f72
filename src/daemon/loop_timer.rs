//! The loop's one timer: a `timerfd` of its own, re-armed in place.
//!
//! The agent's next deadline moves at nearly every turn: a Master's advert
//! timer after each advert, a Backup's Master_Down_Timer after each advert
//! it hears. Kept in tokio's timer wheel, each move cost the runtime more
//! than the packet did: re-registering a deadline earlier than the one the
//! driver parked on writes the runtime's eventfd and makes its next
//! `epoll_wait` return at once (a Master's every advert), and a deadline moved
//! later stays in the wheel slot of the first one and wakes the thread there
//! for nothing (a Backup's every third advert or so). A `timerfd` moved with
//! one `timerfd_settime` costs neither: its expiry is a readiness event like
//! a socket's, in the same `epoll_wait`.
//!
//! The kernel's expiry is the deadline rounded up to a millisecond grid
//! ([`GRAIN`]), as tokio's wheel rounded it: deadlines of many instances
//! that fall in the same millisecond then share one wake-up (a thousand
//! Masters at 100 ms have ten adverts due per millisecond), where a timer
//! exact to the nanosecond would wake the loop for nearly each of them.
//!
//! The timer never fires early: it is armed with the time left until the
//! rounded deadline, measured before the call, so the kernel's expiry (its
//! own clock read later) is no earlier than the deadline; and
//! [`LoopTimer::expired`] checks the clock besides, so a readiness event left
//! over from an earlier arming is not taken for the current deadline.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The grid the kernel's expiries are rounded up to.
pub const GRAIN: Duration = Duration::from_millis(1);

/// A `timerfd` on the monotonic clock, the clock [`Instant`] reads.
struct MonotonicTimer(TimerFd);

impl AsRawFd for MonotonicTimer {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// The loop's timer (see the module documentation).
pub struct LoopTimer {
    fd: AsyncFd<MonotonicTimer>,
    /// The origin of the [`GRAIN`] grid.
    origin: Instant,
    /// The grid point the kernel timer was last armed for.
    kernel_at: Option<Instant>,
    /// The deadline it is armed for; `None` while nothing is due (the
    /// kernel timer may still be armed for an old deadline: its expiry is
    /// then ignored, which is cheaper than a system call to disarm it).
    armed: Option<Instant>,
}

impl LoopTimer {
    /// A disarmed timer, registered with the runtime's driver.
    pub fn new() -> io::Result<Self> {
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // SAFETY: the timer owns its descriptor and moves into the AsyncFd,
        // which keeps it open and unchanged until it is dropped.
        let fd =
            unsafe { AsyncFd::register_with_interest(MonotonicTimer(timer), Interest::READABLE) }
                .map_err(|e| e.into_parts().1)?;
        Ok(Self {
            fd,
            origin: Instant::now(),
            kernel_at: None,
            armed: None,
        })
    }

    /// The deadline the timer is armed for, if any.
    pub fn armed(&self) -> Option<Instant> {
        self.armed
    }

    /// Points the timer at `deadline` (or at nothing); a system call only
    /// when the armed deadline moves to another millisecond of the grid.
    pub fn set(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let was_armed = self.armed.is_some();
        self.armed = deadline;
        let Some(deadline) = deadline else {
            return Ok(());
        };
        let at = self.grid_point(deadline);
        if was_armed && self.kernel_at == Some(at) {
            return Ok(());
        }
        // A zero `it_value` would disarm the timer: a deadline already past
        // fires after a nanosecond instead.
        let left = at
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        self.fd
            .get_ref()
            .0
            .set(
                Expiration::OneShot(TimeSpec::from_duration(left)),
                TimerSetTimeFlags::empty(),
            )
            .map_err(io::Error::from)?;
        // Only once armed: after a failure the next call tries again.
        self.kernel_at = Some(at);
        Ok(())
    }

    /// `deadline` rounded up to the grid (a deadline before its origin,
    /// which is already past, as it is).
    fn grid_point(&self, deadline: Instant) -> Instant {
        let Some(since) = deadline.checked_duration_since(self.origin) else {
            return deadline;
        };
        let grain = GRAIN.as_nanos();
        let steps = since.as_nanos().div_ceil(grain);
        let rounded = steps.saturating_mul(grain);
        match u64::try_from(rounded) {
            Ok(nanos) => self.origin + Duration::from_nanos(nanos),
            Err(_) => deadline,
        }
    }

    /// Waits until the armed deadline has passed, then disarms and returns
    /// it. Cancel-safe: dropped before it resolves, nothing is lost. Waits
    /// for ever while disarmed.
    pub async fn expired(&mut self) -> io::Result<Instant> {
        loop {
            let mut ready = self.fd.readable().await?;
            // The expiry count need not be read: re-arming resets it, and
            // every expiry is a new edge for the edge-triggered driver.
            ready.clear_ready();
            if let Some(due) = self.armed.filter(|due| *due <= Instant::now()) {
                self.armed = None;
                return Ok(due);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => panic!("runtime: {e}"),
        }
    }

    #[test]
    fn fires_at_the_deadline_and_not_before() {
        runtime().block_on(async {
            let mut timer = LoopTimer::new().expect("timerfd");
            let start = Instant::now();
            let deadline = start + Duration::from_millis(30);
            timer.set(Some(deadline)).expect("arm");
            let due = timer.expired().await.expect("expiry");
            assert_eq!(due, deadline);
            assert!(Instant::now() >= deadline, "fired before its deadline");
            assert_eq!(timer.armed(), None);
        });
    }

    #[test]
    fn deadlines_round_up_to_the_next_millisecond_of_the_grid() {
        runtime().block_on(async {
            let timer = LoopTimer::new().expect("timerfd");
            let origin = timer.origin;
            let ms = Duration::from_millis(1);
            assert_eq!(timer.grid_point(origin + ms * 7), origin + ms * 7);
            assert_eq!(
                timer.grid_point(origin + ms * 7 + Duration::from_nanos(1)),
                origin + ms * 8
            );
            assert_eq!(
                timer.grid_point(origin + ms * 7 + Duration::from_micros(999)),
                origin + ms * 8
            );
            let before = origin - ms;
            assert_eq!(timer.grid_point(before), before);
        });
    }

    #[test]
    fn a_moved_deadline_replaces_the_old_one() {
        runtime().block_on(async {
            let mut timer = LoopTimer::new().expect("timerfd");
            let start = Instant::now();
            timer
                .set(Some(start + Duration::from_millis(10)))
                .expect("arm");
            let later = start + Duration::from_millis(60);
            timer.set(Some(later)).expect("re-arm");
            let due = timer.expired().await.expect("expiry");
            assert_eq!(due, later);
            assert!(Instant::now() >= later, "fired at the replaced deadline");
        });
    }

    #[test]
    fn a_stale_expiry_is_not_taken_for_the_new_deadline() {
        runtime().block_on(async {
            let mut timer = LoopTimer::new().expect("timerfd");
            let start = Instant::now();
            timer.set(Some(start)).expect("arm");
            // The expiry of the first arming happens while nobody waits.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let later = Instant::now() + Duration::from_millis(40);
            timer.set(Some(later)).expect("re-arm");
            let due = timer.expired().await.expect("expiry");
            assert_eq!(due, later);
            assert!(Instant::now() >= later, "a stale expiry woke it early");
        });
    }

    #[test]
    fn a_deadline_already_past_fires_at_once() {
        runtime().block_on(async {
            let mut timer = LoopTimer::new().expect("timerfd");
            let past = Instant::now() - Duration::from_millis(5);
            timer.set(Some(past)).expect("arm");
            let waited = tokio::time::timeout(Duration::from_secs(1), timer.expired()).await;
            assert!(matches!(waited, Ok(Ok(due)) if due == past));
        });
    }

    #[test]
    fn a_disarmed_timer_does_not_fire() {
        runtime().block_on(async {
            let mut timer = LoopTimer::new().expect("timerfd");
            timer
                .set(Some(Instant::now() + Duration::from_millis(5)))
                .expect("arm");
            timer.set(None).expect("disarm");
            let waited = tokio::time::timeout(Duration::from_millis(50), timer.expired()).await;
            assert!(waited.is_err(), "a disarmed timer fired");
        });
    }
}
