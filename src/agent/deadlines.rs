//! The instances' next deadlines, kept in time order, so that neither the
//! next wake-up nor the timers due at a wake-up cost a scan of every
//! instance.
//!
//! A Backup of a thousand virtual routers hears ten thousand adverts a
//! second and each one moves its instance's Master_Down timer; a Master of
//! as many sends as many adverts, each one a timer. Scanning every instance
//! for each of them made the agent's cost grow with the number of
//! instances, per packet. Here an advert or a timer moves one entry
//! (O(log n)); anything rarer that may move several instances at once (a
//! transition, a reload, a command, a quorum verdict) marks the whole index
//! stale, and it is rebuilt from the instances the next time it is read.

use std::collections::BTreeSet;
use std::time::Instant;

use super::instance::InstanceCore;

/// Each instance's [`InstanceCore::next_deadline`], by index, in time order.
#[derive(Debug)]
pub(super) struct Deadlines {
    /// The deadline each instance had when it was last recorded.
    of: Vec<Option<Instant>>,
    /// The same deadlines as (deadline, index), earliest first.
    order: BTreeSet<(Instant, usize)>,
    /// Something may have moved any instance's deadline, or the instances
    /// themselves changed: rebuild before reading.
    stale: bool,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            of: Vec::new(),
            order: BTreeSet::new(),
            stale: true,
        }
    }
}

impl Deadlines {
    /// Any instance's deadline may have moved, or instances came or went.
    pub fn invalidate(&mut self) {
        self.stale = true;
    }

    /// Rebuilds the index from `instances` if it is stale.
    pub fn refresh(&mut self, instances: &[InstanceCore]) {
        if !self.stale {
            return;
        }
        self.stale = false;
        if self.of.len() == instances.len() {
            // The same instances: move only the entries whose deadline
            // changed. Most inputs that mark the index stale (an address
            // job done, a notification) move none or one, and a rebuild
            // of a thousand entries for each of them was most of a large
            // Master's time.
            for (index, instance) in instances.iter().enumerate() {
                self.set(index, instance.next_deadline());
            }
            return;
        }
        self.of.clear();
        self.order.clear();
        for (index, instance) in instances.iter().enumerate() {
            let deadline = instance.next_deadline();
            self.of.push(deadline);
            if let Some(at) = deadline {
                self.order.insert((at, index));
            }
        }
    }

    /// Instance `index` now has `deadline` (nothing else moved). A stale
    /// index stays stale: the rebuild will read it.
    pub fn set(&mut self, index: usize, deadline: Option<Instant>) {
        if self.stale {
            return;
        }
        let Some(recorded) = self.of.get_mut(index) else {
            // An index the last rebuild did not see: rebuild.
            self.stale = true;
            return;
        };
        if *recorded == deadline {
            return;
        }
        if let Some(old) = recorded.take() {
            self.order.remove(&(old, index));
        }
        if let Some(at) = deadline {
            self.order.insert((at, index));
        }
        *recorded = deadline;
    }

    /// The earliest deadline of any instance. Call [`refresh`](Self::refresh) first.
    pub fn earliest(&self) -> Option<Instant> {
        debug_assert!(!self.stale, "read a stale deadline index");
        self.order.first().map(|(at, _)| *at)
    }

    /// Fills `due` with the indices, in ascending order, of the instances
    /// whose deadline is at or before `horizon`. Call
    /// [`refresh`](Self::refresh) first.
    ///
    /// The caller keeps the list between wake-ups, so a timer that fires
    /// for one advert allocates nothing.
    pub fn due_into(&self, horizon: Instant, due: &mut Vec<usize>) {
        debug_assert!(!self.stale, "read a stale deadline index");
        due.clear();
        due.extend(
            self.order
                .iter()
                .take_while(|(at, _)| *at <= horizon)
                .map(|&(_, index)| index),
        );
        due.sort_unstable();
    }

    /// Whether a fresh index holds what `instances` say now: the check that
    /// no path moved a deadline without telling the index.
    pub fn agrees_with(&self, instances: &[InstanceCore]) -> bool {
        self.stale
            || (self.of.len() == instances.len()
                && instances
                    .iter()
                    .zip(&self.of)
                    .all(|(instance, recorded)| instance.next_deadline() == *recorded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A fresh, empty index with `n` instances and no deadline.
    fn fresh(n: usize) -> Deadlines {
        Deadlines {
            of: vec![None; n],
            order: BTreeSet::new(),
            stale: false,
        }
    }

    #[test]
    fn the_earliest_and_the_due_follow_every_move() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut deadlines = fresh(3);
        deadlines.set(0, Some(ms(30)));
        deadlines.set(1, Some(ms(10)));
        deadlines.set(2, Some(ms(20)));
        assert_eq!(deadlines.earliest(), Some(ms(10)));
        deadlines.set(1, Some(ms(40)));
        assert_eq!(deadlines.earliest(), Some(ms(20)));
        let mut due = vec![7];
        deadlines.due_into(ms(30), &mut due);
        assert_eq!(due, [0, 2]);
        deadlines.set(2, None);
        deadlines.due_into(ms(30), &mut due);
        assert_eq!(due, [0]);
        deadlines.set(0, None);
        deadlines.set(1, None);
        assert_eq!(deadlines.earliest(), None);
    }

    #[test]
    fn a_stale_index_ignores_moves_and_an_unknown_index_makes_it_stale() {
        let t0 = Instant::now();
        let mut deadlines = fresh(1);
        deadlines.set(5, Some(t0));
        assert!(deadlines.stale);
        deadlines.set(0, Some(t0));
        assert!(deadlines.order.is_empty(), "a stale index records nothing");
        deadlines.refresh(&[]);
        assert!(!deadlines.stale);
        assert_eq!(deadlines.earliest(), None);
    }
}
