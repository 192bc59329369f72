//! An optional instant in eight bytes.
//!
//! `Option<Instant>` takes sixteen bytes, and a virtual router keeps seven
//! of them (its timers and the moments it remembers), the agent's instance
//! one more (its VIPs' next renewal). An agent runs up to thousands of
//! instances, whose table stays resident, so each holds a [`Moment`]
//! instead: the signed nanoseconds from one reference instant
//! shared by the process (the first instant ever stored), which cover
//! 292 years either side of it.
//!
//! The reference is only the origin of that arithmetic, not a clock: no
//! time is read here, and every instant stored reads back exactly, so a
//! router behaves the same whichever instant became the reference.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The origin of every [`Moment`] of this process.
static REFERENCE: OnceLock<Instant> = OnceLock::new();

/// The nanoseconds that stand for "no instant".
const NOTHING: i64 = i64::MIN;

/// An instant, or none, as [`Option<Instant>`] in half its size.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Moment(i64);

impl Moment {
    /// No instant.
    pub const NONE: Moment = Moment(NOTHING);

    /// `instant`. One more than 292 years from the first instant stored
    /// would read back as the furthest instant that can be held.
    pub fn at(instant: Instant) -> Moment {
        let reference = *REFERENCE.get_or_init(|| instant);
        let nanos = match instant.checked_duration_since(reference) {
            Some(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            None => {
                let before = reference.saturating_duration_since(instant);
                i64::try_from(before.as_nanos()).map_or(NOTHING + 1, |n| -n)
            }
        };
        Moment(nanos.max(NOTHING + 1))
    }

    /// The instant held, if any.
    pub fn get(self) -> Option<Instant> {
        if self.0 == NOTHING {
            return None;
        }
        // Set by the `at` that made this moment.
        let reference = *REFERENCE.get()?;
        let distance = Duration::from_nanos(self.0.unsigned_abs());
        if self.0 >= 0 {
            reference.checked_add(distance)
        } else {
            reference.checked_sub(distance)
        }
    }
}

impl Default for Moment {
    fn default() -> Self {
        Moment::NONE
    }
}

impl fmt::Debug for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_half_the_size_of_an_optional_instant() {
        assert_eq!(std::mem::size_of::<Moment>(), 8);
        assert_eq!(std::mem::size_of::<Option<Instant>>(), 16);
    }

    #[test]
    fn instants_on_either_side_of_the_reference_read_back_exactly() {
        let now = Instant::now();
        let first = Moment::at(now);
        assert_eq!(first.get(), Some(now));
        for nanos in [0, 1, 999, 1_000_000_007, 86_400_000_000_123] {
            let later = now + Duration::from_nanos(nanos);
            assert_eq!(Moment::at(later).get(), Some(later));
            if let Some(earlier) = now.checked_sub(Duration::from_nanos(nanos)) {
                assert_eq!(Moment::at(earlier).get(), Some(earlier));
            }
        }
    }

    #[test]
    fn none_reads_back_as_none() {
        assert_eq!(Moment::NONE.get(), None);
        assert_eq!(Moment::default(), Moment::NONE);
        let now = Instant::now();
        assert_ne!(Moment::at(now), Moment::NONE);
    }

    #[test]
    fn debug_shows_the_instant() {
        assert_eq!(format!("{:?}", Moment::NONE), "None");
        let now = Instant::now();
        assert_eq!(format!("{:?}", Moment::at(now)), format!("{:?}", Some(now)));
    }
}
