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

use std::time::Instant;

use super::instance::InstanceCore;

/// Marks an instance with no deadline in [`Deadlines::slot`].
const NOT_QUEUED: usize = usize::MAX;

/// Each instance's [`InstanceCore::next_deadline`], by index, in time order.
///
/// The order is a binary min-heap over arrays sized when the index is
/// rebuilt, not a search tree: moving an entry allocates nothing. A tree's
/// nodes were split and merged as adverts moved the deadlines, so blocks
/// that live as long as the instances were allocated all the time, among
/// the loop's short-lived ones, and kept the heap's freed pages apart.
#[derive(Debug)]
pub(super) struct Deadlines {
    /// The deadline each instance had when it was last recorded.
    of: Vec<Option<Instant>>,
    /// The recorded deadlines as (deadline, instance index), each entry
    /// no later than its children (`2p + 1`, `2p + 2`).
    heap: Vec<(Instant, usize)>,
    /// Where each instance's entry is in `heap`; [`NOT_QUEUED`] without one.
    slot: Vec<usize>,
    /// Something may have moved any instance's deadline, or the instances
    /// themselves changed: rebuild before reading.
    stale: bool,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            of: Vec::new(),
            heap: Vec::new(),
            slot: Vec::new(),
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
        self.rebuild(instances.iter().map(InstanceCore::next_deadline));
    }

    /// Records `deadlines` (one per instance, by index) afresh, in arrays
    /// sized to them.
    fn rebuild(&mut self, deadlines: impl ExactSizeIterator<Item = Option<Instant>>) {
        let count = deadlines.len();
        empty_with_room(&mut self.of, count);
        empty_with_room(&mut self.heap, count);
        empty_with_room(&mut self.slot, count);
        for (index, deadline) in deadlines.enumerate() {
            self.of.push(deadline);
            self.slot.push(NOT_QUEUED);
            if let Some(at) = deadline {
                self.insert(index, at);
            }
        }
    }

    /// Queues instance `index`, not queued now, at `at`.
    fn insert(&mut self, index: usize, at: Instant) {
        self.slot[index] = self.heap.len();
        self.heap.push((at, index));
        self.sift_up(self.heap.len() - 1);
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
        *recorded = deadline;
        let position = self.slot[index];
        match (position != NOT_QUEUED, deadline) {
            (true, Some(at)) => {
                self.heap[position].0 = at;
                self.restore(position);
            }
            (true, None) => self.remove_at(position),
            (false, Some(at)) => self.insert(index, at),
            (false, None) => {}
        }
    }

    /// The earliest deadline of any instance. Call [`refresh`](Self::refresh) first.
    pub fn earliest(&self) -> Option<Instant> {
        debug_assert!(!self.stale, "read a stale deadline index");
        self.heap.first().map(|(at, _)| *at)
    }

    /// Fills `due` with the indices, in ascending order, of the instances
    /// whose deadline is at or before `horizon`. Call
    /// [`refresh`](Self::refresh) first.
    ///
    /// The caller keeps the list between wake-ups, so a timer that fires
    /// for one advert allocates nothing. Only the entries due and their
    /// children are looked at: an entry later than `horizon` has no child
    /// earlier than itself.
    pub fn due_into(&self, horizon: Instant, due: &mut Vec<usize>) {
        debug_assert!(!self.stale, "read a stale deadline index");
        due.clear();
        // `due` holds heap positions while the walk goes on, breadth first.
        if self.heap.first().is_some_and(|(at, _)| *at <= horizon) {
            due.push(0);
        }
        let mut next = 0;
        while let Some(&position) = due.get(next) {
            next += 1;
            for child in [2 * position + 1, 2 * position + 2] {
                if self.heap.get(child).is_some_and(|(at, _)| *at <= horizon) {
                    due.push(child);
                }
            }
        }
        for entry in due.iter_mut() {
            *entry = self.heap[*entry].1;
        }
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

    /// Takes the entry at `position` out of the heap.
    fn remove_at(&mut self, position: usize) {
        let (_, index) = self.heap.swap_remove(position);
        self.slot[index] = NOT_QUEUED;
        if let Some(&(_, moved)) = self.heap.get(position) {
            self.slot[moved] = position;
            self.restore(position);
        }
    }

    /// Moves the entry at `position`, whose deadline changed, to its place.
    fn restore(&mut self, position: usize) {
        if !self.sift_up(position) {
            self.sift_down(position);
        }
    }

    /// Moves the entry at `position` up past later parents; true if it moved.
    fn sift_up(&mut self, mut position: usize) -> bool {
        let start = position;
        while position > 0 {
            let parent = (position - 1) / 2;
            if self.heap[parent].0 <= self.heap[position].0 {
                break;
            }
            self.swap(parent, position);
            position = parent;
        }
        position != start
    }

    /// Moves the entry at `position` down past earlier children.
    fn sift_down(&mut self, mut position: usize) {
        loop {
            let mut earliest = position;
            for child in [2 * position + 1, 2 * position + 2] {
                if self
                    .heap
                    .get(child)
                    .is_some_and(|(at, _)| *at < self.heap[earliest].0)
                {
                    earliest = child;
                }
            }
            if earliest == position {
                return;
            }
            self.swap(earliest, position);
            position = earliest;
        }
    }

    /// Swaps two heap entries and notes where each went.
    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.slot[self.heap[a].1] = a;
        self.slot[self.heap[b].1] = b;
    }
}

/// Empties `list` and gives it room for exactly `count` entries.
fn empty_with_room<T>(list: &mut Vec<T>, count: usize) {
    list.clear();
    list.shrink_to(count);
    list.reserve_exact(count);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A fresh, empty index with `n` instances and no deadline.
    fn fresh(n: usize) -> Deadlines {
        let mut deadlines = Deadlines::default();
        deadlines.rebuild(std::iter::repeat_n(None, n));
        deadlines.stale = false;
        deadlines
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
        assert!(deadlines.heap.is_empty(), "a stale index records nothing");
        deadlines.refresh(&[]);
        assert!(!deadlines.stale);
        assert_eq!(deadlines.earliest(), None);
    }

    proptest::proptest! {
        /// Any sequence of moves leaves the earliest and the due what a
        /// plain scan of the recorded deadlines finds.
        #[test]
        fn the_heap_agrees_with_a_scan(
            moves in proptest::collection::vec((0usize..12, proptest::option::of(0u64..50)), 0..200),
            horizon in 0u64..50,
        ) {
            let t0 = Instant::now();
            let ms = |n| t0 + Duration::from_millis(n);
            let mut deadlines = fresh(12);
            for (index, deadline) in moves {
                deadlines.set(index, deadline.map(ms));
                let scanned = deadlines.of.iter().flatten().min().copied();
                proptest::prop_assert_eq!(deadlines.earliest(), scanned);
            }
            let mut due = Vec::new();
            deadlines.due_into(ms(horizon), &mut due);
            let scanned: Vec<usize> = (0..12)
                .filter(|&i| deadlines.of[i].is_some_and(|at| at <= ms(horizon)))
                .collect();
            proptest::prop_assert_eq!(due, scanned);
        }
    }
}
