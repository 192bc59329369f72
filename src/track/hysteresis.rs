//! Rise/fall counting: a check's raw results become an up/down state only
//! after enough consecutive agreeing results, so a single slow or flaky run
//! does not move a virtual router.

/// The up/down state of a tracked object, derived from its raw results.
///
/// The state starts unknown, because claiming either "up" or "down" before any
/// evidence would be a guess: "up" could make a broken host Master, "down" could
/// make a healthy one give up. The first `rise` consecutive successes make it
/// up, or the first `fall` consecutive failures make it down, whichever
/// completes first; after that it changes only with `fall` consecutive failures
/// (when up) or `rise` consecutive successes (when down).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hysteresis {
    rise: u32,
    fall: u32,
    state: Option<bool>,
    /// The result of the current streak of identical results, and its length.
    streak: Option<(bool, u32)>,
}

impl Hysteresis {
    /// A counter needing `rise` successes to go up and `fall` failures to go
    /// down. Zero is treated as one: a state cannot change without a result.
    pub fn new(rise: u32, fall: u32) -> Hysteresis {
        Hysteresis {
            rise: rise.max(1),
            fall: fall.max(1),
            state: None,
            streak: None,
        }
    }

    /// Records one result; returns the new state when this result changed it
    /// (including the first time it becomes known).
    pub fn observe(&mut self, success: bool) -> Option<bool> {
        let length = match self.streak {
            Some((kind, n)) if kind == success => n.saturating_add(1),
            _ => 1,
        };
        self.streak = Some((success, length));
        let needed = if success { self.rise } else { self.fall };
        if length >= needed && self.state != Some(success) {
            self.state = Some(success);
            Some(success)
        } else {
            None
        }
    }

    /// The current state: `None` until enough results agree.
    pub fn state(&self) -> Option<bool> {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn starts_unknown_and_rise_one_decides_at_once() {
        let mut h = Hysteresis::new(1, 1);
        assert_eq!(h.state(), None);
        assert_eq!(h.observe(false), Some(false));
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(true), Some(true));
        assert_eq!(h.observe(true), None);
        assert_eq!(h.state(), Some(true));
    }

    #[test]
    fn first_complete_streak_decides_the_initial_state() {
        let mut h = Hysteresis::new(3, 2);
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), None);
        // A failure breaks the success streak before it reaches 3.
        assert_eq!(h.observe(false), None);
        assert_eq!(h.state(), None);
        assert_eq!(h.observe(false), Some(false));
        assert_eq!(h.state(), Some(false));
    }

    #[test]
    fn rise_and_fall_need_consecutive_results() {
        let mut h = Hysteresis::new(2, 3);
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), Some(true));
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(true), None); // streak broken: still up
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), Some(false));
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), Some(true));
    }

    #[test]
    fn zero_counts_as_one() {
        let mut h = Hysteresis::new(0, 0);
        assert_eq!(h.observe(true), Some(true));
        assert_eq!(h.observe(false), Some(false));
    }

    /// The reference model: the state after a sequence, computed from the
    /// trailing run of each kind rather than incrementally.
    fn model(rise: u32, fall: u32, results: &[bool]) -> Vec<Option<bool>> {
        let mut states = Vec::new();
        let mut state = None;
        for i in 0..results.len() {
            let last = results[i];
            let run = results[..=i]
                .iter()
                .rev()
                .take_while(|&&r| r == last)
                .count() as u32;
            if run >= if last { rise } else { fall } {
                state = Some(last);
            }
            states.push(state);
        }
        states
    }

    proptest! {
        #[test]
        fn matches_the_trailing_run_model(
            rise in 1u32..6,
            fall in 1u32..6,
            results in proptest::collection::vec(any::<bool>(), 0..80),
        ) {
            let mut h = Hysteresis::new(rise, fall);
            let expected = model(rise, fall, &results);
            let mut previous = None;
            for (r, want) in results.iter().zip(expected) {
                let change = h.observe(*r);
                prop_assert_eq!(h.state(), want);
                // A change is reported exactly when the state differs.
                prop_assert_eq!(change.is_some(), want != previous);
                prop_assert_eq!(change, if want != previous { want } else { None });
                previous = want;
            }
        }
    }
}
