//! Whether the agent's workers make progress, for the systemd watchdog.
//!
//! A watchdog fed by a timer in the event loop only proves that the loop
//! turns. The loop can turn while an address worker is stuck in a netlink
//! call (a Master without its addresses). (The VRRP sockets are read by the
//! loop itself, so a loop that turns reads them.)
//! So every worker carries a [`Pulse`]: it says when it starts and ends a
//! unit of work, and its end is seen when the task ends. The loop asks
//! [`Supervisor::hung`] before each keep-alive and withholds `WATCHDOG=1`
//! (logging why) while any worker has ended unasked or has been busy with
//! one unit of work longer than [`HUNG_AFTER`]; systemd then restarts the
//! agent. Waiting for work (a worker with an empty queue) is not busy: an
//! idle worker is a healthy one.
//!
//! The event loop itself needs no pulse: it is the one that sends the
//! keep-alive, so a loop that stops turning stops sending it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long one unit of work may take before its worker counts as hung: an
/// address job is a few netlink round trips (milliseconds each), so ten
/// seconds is far beyond any healthy case, and still well inside systemd's
/// `WatchdogSec=30s` of the packaged unit.
pub const HUNG_AFTER: Duration = Duration::from_secs(10);

/// `busy_since` while the worker waits for work.
const IDLE: u64 = u64::MAX;

/// How a watched worker is named in the log: anything that displays, shared
/// with the worker (so watching it allocates no name).
pub type Label = Arc<dyn std::fmt::Display + Send + Sync>;

/// One worker's sign of life, shared by the worker and the supervisor.
struct Heartbeat {
    name: Label,
    /// When the unit of work in hand began, in nanoseconds since the
    /// supervisor's epoch; [`IDLE`] while waiting for work.
    busy_since: AtomicU64,
    /// The worker's task has ended (its [`Pulse`] was dropped).
    ended: AtomicBool,
    /// The owner stopped the worker on purpose (its [`Watch`] was dropped):
    /// no longer watched.
    released: AtomicBool,
}

/// The worker's end: held by the task for its whole life.
#[derive(Debug)]
pub struct Pulse {
    beat: Arc<Heartbeat>,
    epoch: Instant,
}

impl Pulse {
    /// A unit of work starts now.
    pub fn busy(&self) {
        self.busy_at(Instant::now());
    }

    /// A unit of work started at `at`.
    pub fn busy_at(&self, at: Instant) {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(IDLE - 1).min(IDLE - 1);
        self.beat.busy_since.store(nanos, Ordering::Relaxed);
    }

    /// The unit of work is done; waiting for the next.
    pub fn idle(&self) {
        self.beat.busy_since.store(IDLE, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heartbeat")
            .field("name", &self.name.to_string())
            .field("busy_since", &self.busy_since)
            .field("ended", &self.ended)
            .field("released", &self.released)
            .finish()
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        self.beat.ended.store(true, Ordering::Relaxed);
    }
}

/// The owner's end: while it is held, the worker must stay alive and
/// moving; dropping it (stopping the worker on purpose) ends the watch.
#[derive(Debug)]
pub struct Watch {
    beat: Arc<Heartbeat>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.beat.released.store(true, Ordering::Relaxed);
    }
}

/// Every watched worker; cloned into whoever starts workers.
#[derive(Debug, Clone)]
pub struct Supervisor {
    epoch: Instant,
    watched: Arc<Mutex<Vec<Arc<Heartbeat>>>>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    /// Nothing watched yet.
    pub fn new() -> Self {
        Supervisor {
            epoch: Instant::now(),
            watched: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Starts watching a worker called `name` (for the log): give the
    /// [`Pulse`] to its task and keep the [`Watch`] while it should run.
    pub fn watch(&self, name: Label) -> (Pulse, Watch) {
        let beat = Arc::new(Heartbeat {
            name,
            busy_since: AtomicU64::new(IDLE),
            ended: AtomicBool::new(false),
            released: AtomicBool::new(false),
        });
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        // Those let go of are forgotten here too, not only in `hung`:
        // without a systemd watchdog nothing asks `hung`, and instances
        // removed and added by reloads would pile up here.
        watched.retain(|beat| !beat.released.load(Ordering::Relaxed));
        watched.push(beat.clone());
        drop(watched);
        let pulse = Pulse {
            beat: beat.clone(),
            epoch: self.epoch,
        };
        (pulse, Watch { beat })
    }

    /// What is wrong at `now`: one line per worker that ended unasked or
    /// has been busy longer than [`HUNG_AFTER`]; empty when all is well.
    /// Workers stopped on purpose are forgotten here.
    pub fn hung(&self, now: Instant) -> Vec<String> {
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        watched.retain(|beat| !beat.released.load(Ordering::Relaxed));
        let now = now.saturating_duration_since(self.epoch);
        watched
            .iter()
            .filter_map(|beat| {
                if beat.ended.load(Ordering::Relaxed) {
                    return Some(format!("{} has ended", beat.name));
                }
                let since = beat.busy_since.load(Ordering::Relaxed);
                if since == IDLE {
                    return None;
                }
                let busy = now.saturating_sub(Duration::from_nanos(since));
                (busy > HUNG_AFTER).then(|| {
                    format!(
                        "{} has been busy with one job for {:.1} s (limit {} s)",
                        beat.name,
                        busy.as_secs_f64(),
                        HUNG_AFTER.as_secs()
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_busy_beyond_the_bound_is_hung_and_recovers_when_idle() {
        let supervisor = Supervisor::new();
        let (pulse, _watch) = supervisor.watch(Arc::new("address worker of web"));
        let t0 = Instant::now();
        assert!(
            supervisor.hung(t0 + HUNG_AFTER * 5).is_empty(),
            "idle is healthy"
        );
        pulse.busy_at(t0);
        assert!(supervisor.hung(t0 + HUNG_AFTER).is_empty());
        let hung = supervisor.hung(t0 + HUNG_AFTER + Duration::from_millis(1));
        assert_eq!(hung.len(), 1, "{hung:?}");
        assert!(hung[0].starts_with("address worker of web has been busy"));
        pulse.idle();
        assert!(supervisor.hung(t0 + HUNG_AFTER * 2).is_empty());
    }

    #[test]
    fn a_worker_that_ends_unasked_is_reported_until_its_owner_lets_it_go() {
        let supervisor = Supervisor::new();
        let (pulse, watch) = supervisor.watch(Arc::new("address worker of vr0"));
        let (_other_pulse, _other_watch) = supervisor.watch(Arc::new("address worker of vr1"));
        drop(pulse);
        assert_eq!(
            supervisor.hung(Instant::now()),
            vec!["address worker of vr0 has ended".to_owned()]
        );
        drop(watch);
        assert!(supervisor.hung(Instant::now()).is_empty());
    }

    #[test]
    fn a_worker_stopped_on_purpose_is_no_longer_watched() {
        let supervisor = Supervisor::new();
        let (pulse, watch) = supervisor.watch(Arc::new("address worker of web"));
        pulse.busy_at(Instant::now());
        drop(watch);
        drop(pulse);
        assert!(supervisor.hung(Instant::now() + HUNG_AFTER * 2).is_empty());
    }

    #[tokio::test]
    async fn a_task_that_returns_while_watched_is_reported() {
        let supervisor = Supervisor::new();
        let (pulse, _watch) = supervisor.watch(Arc::new("address worker of vr0"));
        let task = tokio::spawn(async move {
            let _pulse = pulse;
        });
        assert!(task.await.is_ok());
        assert_eq!(supervisor.hung(Instant::now()).len(), 1);
    }
}
