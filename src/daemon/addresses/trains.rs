//! The announcement trains of all instances, run by one task.
//!
//! An instance that becomes Master announces its VIPs `garp.count` times,
//! `garp.interval` apart, then every `garp.refresh` while it stays Master
//! (if set). Each train was once a task of its own: a task cell of 768 B
//! made on becoming Master and freed when the train ended, between the
//! blocks the same mastership made and keeps (the VIPs held, the advert).
//! A thousand instances becoming Master left some 300 kB of such holes in
//! the heap, resident for good. Here a train is an entry in a table and a
//! deadline in a heap ([`Schedule`]), and one task sends each round when it
//! falls due.
//!
//! Rounds due together are sent one after the other. A round is one frame
//! per VIP, a few microseconds each; only a VIP on an interface of its own
//! needs a netlink lookup first, and netlink answers one request at a time
//! anyway. A train stopped (its instance left Master, or was removed) sends
//! nothing more, not even the rest of a round already begun: every frame is
//! sent only after its train is seen running, so no neighbour is told a VIP
//! is here once it has gone.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::agent::AddressTarget;
use crate::platform::announce::Announcer;
use crate::platform::netlink::Netlink;

use super::announce_once;

/// Names one train from its start to its end; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrainId(NonZeroU64);

/// One running train.
struct Train {
    target: Arc<AddressTarget>,
    /// Rounds of the first burst still to send; then the refresh, if any.
    /// 0 with no refresh: the last round is being sent, and the train ends
    /// when it has been ([`Schedule::retire`]).
    rounds_left: u8,
}

/// One round to send now.
struct Round {
    train: TrainId,
    target: Arc<AddressTarget>,
    /// The train's last: it ends once this is sent.
    last: bool,
}

/// The trains and when each sends its next round. Pure: time is passed in.
#[derive(Default)]
struct Schedule {
    last_id: u64,
    trains: HashMap<TrainId, Train>,
    /// Each running train's next round, earliest first. A stopped train's
    /// entry stays until it comes up (or the heap is compacted) and is
    /// then passed over.
    due: BinaryHeap<Reverse<(Instant, TrainId)>>,
}

impl Schedule {
    /// A new train for `target`, its first round due at `now`.
    fn start(&mut self, target: Arc<AddressTarget>, now: Instant) -> TrainId {
        self.last_id += 1;
        // A counter starting from 1 that would take 584 years at one train
        // a nanosecond to wrap.
        let id = TrainId(NonZeroU64::MIN.saturating_add(self.last_id - 1));
        let rounds_left = target.garp().count.max(1);
        self.trains.insert(
            id,
            Train {
                target,
                rounds_left,
            },
        );
        self.due.push(Reverse((now, id)));
        id
    }

    /// Ends train `id` (a train already ended is no error).
    fn stop(&mut self, id: TrainId) {
        if self.trains.remove(&id).is_some() && self.due.len() > 2 * self.trains.len() + 32 {
            // Stopped trains with a long refresh would otherwise leave
            // their entries for up to an hour each.
            let trains = &self.trains;
            self.due.retain(|Reverse((_, id))| trains.contains_key(id));
        }
        self.release_if_idle();
    }

    fn is_running(&self, id: TrainId) -> bool {
        self.trains.contains_key(&id)
    }

    /// Moves every round due by `now` into `rounds` (train and target) and
    /// schedules each train's next; returns when the next round after these
    /// is due. A train whose last round this is still runs until
    /// [`retire`](Self::retire)d, so that the round is sent.
    fn take_due(&mut self, now: Instant, rounds: &mut Vec<Round>) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.due.peek() {
            if at > now {
                return Some(at);
            }
            self.due.pop();
            let Some(train) = self.trains.get_mut(&id) else {
                continue;
            };
            train.rounds_left = train.rounds_left.saturating_sub(1);
            let garp = train.target.garp();
            let next = if train.rounds_left > 0 {
                Some(garp.interval)
            } else {
                garp.refresh
            };
            if let Some(after) = next {
                self.due.push(Reverse((at + after, id)));
            }
            rounds.push(Round {
                train: id,
                target: train.target.clone(),
                last: next.is_none(),
            });
        }
        None
    }

    /// Ends train `id`, whose last round has been sent.
    fn retire(&mut self, id: TrainId) {
        self.trains.remove(&id);
        self.release_if_idle();
    }

    /// Gives back the table's and the heap's room once no train runs.
    ///
    /// Instances that become Master together run their trains together,
    /// and without this the empty table and heap kept room for as many as
    /// ever ran at once (24 bytes a train in each, and the table's
    /// buckets), for as long as the agent ran.
    fn release_if_idle(&mut self) {
        if self.trains.is_empty() {
            self.trains = HashMap::new();
            self.due = BinaryHeap::new();
        }
    }
}

/// Rounds the task keeps room for between wake-ups.
const ROUNDS_KEPT: usize = 16;

/// What the trains' task shares with those who start and stop trains.
struct Shared {
    schedule: Mutex<Schedule>,
    /// Rings when a train starts, so the task looks at the schedule again.
    started: Notify,
    netlink: Arc<Netlink>,
    announcer: Arc<Announcer>,
}

impl Shared {
    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        // The schedule is whole between calls: a panic inside one cannot
        // have left it half-changed in a way that matters for sending.
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The announcement trains of every address worker, and the one task that
/// sends their rounds (started with the first train, ended with this).
pub struct Trains {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Trains {
    pub fn new(netlink: Arc<Netlink>, announcer: Arc<Announcer>) -> Self {
        Trains {
            shared: Arc::new(Shared {
                schedule: Mutex::default(),
                started: Notify::new(),
                netlink,
                announcer,
            }),
            task: Mutex::new(None),
        }
    }

    /// Starts a train announcing `target`'s VIPs now. Must be called
    /// inside the runtime (the first call starts the task).
    pub fn start(&self, target: Arc<AddressTarget>) -> TrainId {
        let id = self.shared.schedule().start(target, Instant::now());
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if task.as_ref().is_none_or(JoinHandle::is_finished) {
            *task = Some(tokio::spawn(send_rounds(self.shared.clone())));
        }
        self.shared.started.notify_one();
        id
    }

    /// Stops train `id`: from now on it sends nothing.
    pub fn stop(&self, id: TrainId) {
        self.shared.schedule().stop(id);
    }

    /// Whether train `id` still has rounds to send.
    pub fn is_running(&self, id: TrainId) -> bool {
        self.shared.schedule().is_running(id)
    }
}

impl Drop for Trains {
    fn drop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = task.take() {
            task.abort();
        }
    }
}

/// The trains' task: sends the rounds due, then sleeps until the next is
/// due or a train starts.
async fn send_rounds(shared: Arc<Shared>) {
    // Kept from one wake-up to the next: no allocation per round.
    let mut rounds = Vec::new();
    loop {
        let next = shared.schedule().take_due(Instant::now(), &mut rounds);
        for round in rounds.drain(..) {
            let running = || shared.schedule().is_running(round.train);
            announce_once(&round.target, &shared.netlink, &shared.announcer, running).await;
            if round.last {
                shared.schedule().retire(round.train);
            }
        }
        // The room a burst of rounds took (a thousand new Masters at once)
        // goes with it; a few rounds due together are the usual case.
        rounds.shrink_to(ROUNDS_KEPT);
        // A train started while the rounds were sent has left a permit.
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = shared.started.notified() => {}
                }
            }
            None => shared.started.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::agent::InstanceId;

    /// A target whose `garp` block is `garp` (YAML flow mapping).
    fn target(garp: &str) -> Arc<AddressTarget> {
        let yaml = format!(
            "instances:\n  - name: web\n    interface: lo\n    vrid: 1\n    \
             priority: 100\n    virtual_ips: [192.0.2.1/32]\n    garp: {garp}\n"
        );
        let config = match crate::config::parse_str(&yaml, "test.yaml") {
            Ok(config) => config,
            Err(e) => panic!("{e}"),
        };
        Arc::new(AddressTarget {
            instance: InstanceId(1),
            config: config.instances[0].clone(),
            vmac: None,
            ifindex: 1,
            mac: [0; 6],
            link_local: None,
        })
    }

    /// The times (ms after `t0`) at which `schedule` sends rounds of each
    /// train, stepping 1 ms at a time up to `until_ms`.
    fn rounds_sent(schedule: &mut Schedule, t0: Instant, until_ms: u64) -> Vec<(u64, TrainId)> {
        let mut sent = Vec::new();
        let mut rounds = Vec::new();
        for ms in 0..=until_ms {
            schedule.take_due(t0 + Duration::from_millis(ms), &mut rounds);
            for round in rounds.drain(..) {
                // The round is sent while its train runs, then it may end.
                assert!(
                    schedule.is_running(round.train),
                    "a round of an ended train"
                );
                if round.last {
                    schedule.retire(round.train);
                }
                sent.push((ms, round.train));
            }
        }
        sent
    }

    #[test]
    fn a_train_sends_count_rounds_interval_apart_and_ends() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        let id = schedule.start(target("{count: 3, interval: 200ms}"), t0);
        assert_eq!(
            rounds_sent(&mut schedule, t0, 2000),
            vec![(0, id), (200, id), (400, id)]
        );
        assert!(!schedule.is_running(id));
        assert!(schedule.due.is_empty() && schedule.trains.is_empty());
    }

    #[test]
    fn a_refresh_goes_on_after_the_burst_until_stopped() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        let id = schedule.start(target("{count: 2, interval: 100ms, refresh: 1s}"), t0);
        assert_eq!(
            rounds_sent(&mut schedule, t0, 2200),
            vec![(0, id), (100, id), (1100, id), (2100, id)]
        );
        assert!(schedule.is_running(id));
        schedule.stop(id);
        assert!(!schedule.is_running(id));
        assert_eq!(rounds_sent(&mut schedule, t0, 5000), vec![]);
    }

    #[test]
    fn a_stopped_train_sends_nothing_and_others_keep_their_times() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        let a = schedule.start(target("{count: 5, interval: 100ms}"), t0);
        let b = schedule.start(
            target("{count: 2, interval: 300ms}"),
            t0 + Duration::from_millis(50),
        );
        let mut sent = rounds_sent(&mut schedule, t0, 150);
        schedule.stop(a);
        sent.extend(
            rounds_sent(&mut schedule, t0, 1000)
                .into_iter()
                .filter(|&(ms, _)| ms > 150),
        );
        assert_eq!(sent, vec![(0, a), (50, b), (100, a), (350, b)]);
        // A new train has a new name: stopping the old one again is harmless.
        let c = schedule.start(target("{count: 1}"), t0 + Duration::from_secs(2));
        assert_ne!(c, a);
        schedule.stop(a);
        assert!(schedule.is_running(c));
    }

    #[test]
    fn a_zero_interval_sends_the_burst_at_once() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        let id = schedule.start(target("{count: 4, interval: 0s}"), t0);
        let mut rounds = Vec::new();
        assert_eq!(schedule.take_due(t0, &mut rounds), None);
        let last: Vec<bool> = rounds.iter().map(|round| round.last).collect();
        assert_eq!(last, vec![false, false, false, true]);
        assert!(schedule.is_running(id), "running while its rounds are sent");
        schedule.retire(id);
        assert!(!schedule.is_running(id));
    }

    #[test]
    fn entries_of_stopped_trains_do_not_pile_up() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        let refreshing = target("{count: 1, refresh: 60m}");
        let kept = schedule.start(refreshing.clone(), t0);
        let mut rounds = Vec::new();
        // A flapping instance: started and stopped again and again, each
        // train after its first round, waiting an hour for its refresh.
        for n in 0..1000u64 {
            let now = t0 + Duration::from_millis(n);
            let id = schedule.start(refreshing.clone(), now);
            schedule.take_due(now, &mut rounds);
            schedule.stop(id);
        }
        assert!(schedule.is_running(kept));
        assert!(
            schedule.due.len() <= 2 * schedule.trains.len() + 33,
            "{} entries for {} trains",
            schedule.due.len(),
            schedule.trains.len()
        );
    }

    #[test]
    fn the_room_of_a_thousand_ended_trains_is_given_back() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        let once = target("{count: 2, interval: 100ms}");
        for _ in 0..1000 {
            schedule.start(once.clone(), t0);
        }
        assert!(schedule.trains.capacity() >= 1000);
        let sent = rounds_sent(&mut schedule, t0, 500);
        assert_eq!(sent.len(), 2000);
        assert_eq!(schedule.trains.capacity(), 0, "the table kept its room");
        assert_eq!(schedule.due.capacity(), 0, "the heap kept its room");
    }

    #[test]
    fn stopping_the_last_train_gives_the_room_back() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        let refreshing = target("{count: 1, refresh: 1s}");
        let ids: Vec<TrainId> = (0..100)
            .map(|_| schedule.start(refreshing.clone(), t0))
            .collect();
        rounds_sent(&mut schedule, t0, 10);
        let (last, rest) = ids.split_last().unwrap_or_else(|| unreachable!());
        for id in rest {
            schedule.stop(*id);
        }
        assert!(schedule.trains.capacity() > 0, "one train still runs");
        schedule.stop(*last);
        assert_eq!(schedule.trains.capacity(), 0);
        assert_eq!(schedule.due.capacity(), 0);
    }
}
