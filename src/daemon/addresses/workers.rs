//! The address workers of all instances: one queue each, run by a task only
//! while it holds jobs.
//!
//! A worker is idle nearly all its life: its jobs are state changes and VIP
//! lifetime renewals. A task and a channel resident per instance cost some
//! 2.8 KiB each (the task's cell, the channel and its first block of
//! slots, the finished announcement's handle), most of a 1000-instance
//! agent's heap beside the instances themselves. So between jobs a worker
//! is its queue and its [`State`] alone, parked in the queue; the first job
//! queued takes the state out and starts a task, which runs every job in
//! order and parks the state again once the queue is empty. One task at
//! most per worker keeps the jobs of an instance strictly in order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;

use crate::agent::{AddressJob, AddressTarget, Input, InstanceId};
use crate::platform::announce::Announcer;
use crate::platform::netlink::Netlink;

use super::super::progress::Pulse;
use super::State;

/// What every worker's task needs, shared.
struct Context {
    netlink: Arc<Netlink>,
    announcer: Arc<Announcer>,
    /// Where each job's [`Input::AddressesDone`] goes.
    reports: mpsc::UnboundedSender<Input>,
}

/// One instance's worker: its jobs, and its state while no task runs it.
#[derive(Default)]
struct Queue {
    /// Jobs not yet started, with their sequence numbers, oldest first.
    jobs: VecDeque<(u64, AddressJob)>,
    /// The state between jobs; `None` while a task is running them.
    parked: Option<Box<State>>,
    /// Stopped by the owner: the running task ends once the queue is
    /// empty, and the announcement train with it.
    stopped: bool,
}

type SharedQueue = Arc<Mutex<Queue>>;

fn lock(queue: &SharedQueue) -> MutexGuard<'_, Queue> {
    // A task that panicked while holding the lock left a whole queue.
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The address workers, by instance.
pub struct Workers {
    context: Arc<Context>,
    queues: HashMap<InstanceId, SharedQueue>,
}

impl Workers {
    /// No worker yet; each reports its jobs' results to `reports`.
    pub fn new(
        netlink: Arc<Netlink>,
        announcer: Arc<Announcer>,
        reports: mpsc::UnboundedSender<Input>,
    ) -> Self {
        Workers {
            context: Arc::new(Context {
                netlink,
                announcer,
                reports,
            }),
            queues: HashMap::new(),
        }
    }

    /// Starts the worker of `target`'s instance. `pulse` tells the watchdog
    /// while a job is in hand (see `progress`); it is dropped, and so seen
    /// as ended, if a task dies with the state.
    pub fn start(&mut self, target: AddressTarget, pulse: Pulse) {
        let id = target.instance;
        let queue = Queue {
            parked: Some(Box::new(State::new(target, pulse))),
            ..Queue::default()
        };
        if let Some(old) = self.queues.insert(id, Arc::new(Mutex::new(queue))) {
            stop(&old);
        }
    }

    /// Queues `job` (numbered `seq`) for `instance`'s worker, starting a
    /// task for it unless one is running. After each job the worker reports
    /// [`Input::AddressesDone`] with the VIPs it now has on the interface.
    pub fn send(&self, instance: InstanceId, seq: u64, job: AddressJob) {
        let Some(queue) = self.queues.get(&instance) else {
            return;
        };
        let parked = {
            let mut waiting = lock(queue);
            waiting.jobs.push_back((seq, job));
            waiting.parked.take()
        };
        if let Some(state) = parked {
            tokio::spawn(drain(queue.clone(), state, self.context.clone()));
        }
    }

    /// Stops `instance`'s worker: the jobs already queued still run (a
    /// Remove among them), then its announcements stop.
    pub fn stop(&mut self, instance: InstanceId) {
        if let Some(queue) = self.queues.remove(&instance) {
            stop(&queue);
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for queue in self.queues.values() {
            stop(queue);
        }
    }
}

/// Marks `queue` stopped; a parked state has no task to end it, so its
/// announcements stop here.
fn stop(queue: &SharedQueue) {
    let parked = {
        let mut waiting = lock(queue);
        waiting.stopped = true;
        waiting.parked.take()
    };
    if let Some(mut state) = parked {
        state.stop_announcing();
    }
}

/// Runs the jobs of `queue` in order until it is empty, then parks `state`
/// in it (or, once stopped, ends the announcements with the worker).
async fn drain(queue: SharedQueue, mut state: Box<State>, context: Arc<Context>) {
    loop {
        let next = {
            let mut waiting = lock(&queue);
            match waiting.jobs.pop_front() {
                Some(next) => next,
                None => {
                    state.forget_finished_announcing();
                    if waiting.stopped {
                        drop(waiting);
                        state.stop_announcing();
                    } else {
                        // Gives back the queue's room: most workers wait
                        // far longer than they work.
                        waiting.jobs = VecDeque::new();
                        waiting.parked = Some(state);
                    }
                    return;
                }
            }
        };
        let (seq, job) = next;
        state.pulse.busy();
        state.run(job, &context.netlink, &context.announcer).await;
        let done = Input::AddressesDone {
            instance: state.target.instance,
            seq,
            present: state.present.clone(),
        };
        state.pulse.idle();
        if context.reports.send(done).is_err() {
            // The daemon is gone.
            state.stop_announcing();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Garp;
    use crate::daemon::progress::Supervisor;

    fn target(instance: InstanceId) -> AddressTarget {
        AddressTarget {
            instance,
            name: "web".into(),
            interface: "lo".into(),
            ifindex: 1,
            mac: [0; 6],
            link_local: None,
            vmac_below: None,
            vips: Vec::new(),
            garp: Garp::default(),
            lifetime: None,
        }
    }

    fn parked(workers: &Workers, instance: InstanceId) -> bool {
        let queue = lock(&workers.queues[&instance]);
        queue.parked.is_some() && queue.jobs.is_empty() && queue.jobs.capacity() == 0
    }

    /// The jobs of one worker run in the order they were queued, each
    /// reported, and between bursts the worker holds no task and no room.
    /// A Refresh while not holding touches no interface, so this runs
    /// without a namespace (the sockets are opened, never used).
    #[tokio::test]
    async fn runs_jobs_in_order_and_parks_between_them() {
        let (reports, mut done) = mpsc::unbounded_channel();
        let (Ok(netlink), Ok(announcer)) = (Netlink::connect(), Announcer::open()) else {
            panic!("netlink and packet sockets need root (tests run as root)");
        };
        let mut workers = Workers::new(Arc::new(netlink), Arc::new(announcer), reports);
        let supervisor = Supervisor::new();
        let id = InstanceId(7);
        let (pulse, watch) = supervisor.watch("address worker of web");
        workers.start(target(id), pulse);
        assert!(parked(&workers, id));
        for round in 0..3u64 {
            for seq in round * 50..(round + 1) * 50 {
                workers.send(id, seq, AddressJob::Refresh);
            }
            for seq in round * 50..(round + 1) * 50 {
                let report = tokio::time::timeout(Duration::from_secs(5), done.recv()).await;
                match report {
                    Ok(Some(Input::AddressesDone {
                        instance, seq: got, ..
                    })) => assert_eq!((instance, got), (id, seq)),
                    other => panic!("expected the report of job {seq}, got {other:?}"),
                }
            }
            tokio::task::yield_now().await;
            assert!(parked(&workers, id), "parked after burst {round}");
        }
        // Stopping still runs what was queued, then the worker is gone.
        workers.send(id, 150, AddressJob::Refresh);
        workers.send(id, 151, AddressJob::Refresh);
        drop(watch);
        workers.stop(id);
        let mut seen = Vec::new();
        while let Ok(Some(Input::AddressesDone { seq, .. })) =
            tokio::time::timeout(Duration::from_millis(500), done.recv()).await
        {
            seen.push(seq);
        }
        assert_eq!(seen, vec![150, 151]);
        workers.send(id, 152, AddressJob::Refresh);
        assert!(
            tokio::time::timeout(Duration::from_millis(200), done.recv())
                .await
                .is_err(),
            "a stopped worker takes no job"
        );
        assert!(supervisor.hung(std::time::Instant::now()).is_empty());
    }
}
