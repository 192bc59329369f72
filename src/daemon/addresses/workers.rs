//! The address workers of all instances: one queue each, run by a shared
//! runner task only while it holds jobs.
//!
//! A worker is idle nearly all its life: its jobs are state changes and VIP
//! lifetime renewals. A task and a channel resident per instance cost some
//! 2.8 KiB each (the task's cell, the channel and its first block of
//! slots, the finished announcement's handle), most of a 1000-instance
//! agent's heap beside the instances themselves. So between jobs a worker
//! is its queue and its [`State`] alone, parked in the queue; the first job
//! queued takes the state out and hands the worker to a runner, which runs
//! every job in order and parks the state again once the queue is empty.
//! One runner at most per worker keeps the jobs of an instance strictly in
//! order.
//!
//! The watchdog watches every worker (see `progress`): the state holds the
//! [`Pulse`] and the queue the [`Watch`], until the worker is stopped. The
//! heartbeat is named by the worker's target, which it shares, so watching
//! a thousand workers costs no name each. (Watching only the running
//! workers, with a heartbeat made for each run, cost more: a heartbeat
//! that outlives its run's task split the heap's free blocks, and the
//! Master's heap grew 0.28 MB at a thousand instances renewing their
//! VIPs.)
//!
//! At most [`JOBS_AT_ONCE`] workers run at a time; the others wait their
//! turn in order. A thousand instances that became Master together renew
//! their VIPs' lifetimes together, and a task with a netlink request in
//! flight for each of them (some 2 KiB apiece) raised the heap's high-water
//! mark by megabytes at every renewal, while netlink answers one request
//! at a time anyway.
//!
//! The workers are run by runner tasks that stay once started, one more
//! whenever a worker waits and none is free, up to [`JOBS_AT_ONCE`]. A
//! task per turn cost a 512-byte cell each time: with a thousand VIPs
//! renewed three times a second that is over a thousand cells a second,
//! and each freed while the blocks allocated during its turn still lived
//! was left as a hole. The Master's heap at a thousand instances kept
//! some 450 of them (0.24 MB).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{mpsc, Semaphore};

use crate::agent::{AddressJob, AddressTarget, Input, InstanceId};
use crate::platform::announce::Announcer;
use crate::platform::netlink::Netlink;

use super::super::progress::{Supervisor, Watch};
use super::trains::Trains;
use super::State;

/// Workers that may run at once. A job is a few netlink round trips of
/// well under a millisecond, so the last of a thousand simultaneous
/// renewals waits some tens of milliseconds, far inside a lifetime's third.
pub const JOBS_AT_ONCE: usize = 32;

/// What every worker's task needs, shared.
struct Context {
    netlink: Arc<Netlink>,
    /// Every worker's announcement trains.
    trains: Trains,
    /// Where each job's [`Input::AddressesDone`] goes.
    reports: mpsc::UnboundedSender<Input>,
    /// Who runs now, and who waits for a turn.
    turns: Mutex<Turns>,
    /// One permit per worker in [`Turns::waiting`]; a runner takes one
    /// before it takes the worker. Closed when the workers are dropped.
    ready: Semaphore,
    /// Watches every worker for the systemd watchdog.
    supervisor: Supervisor,
}

/// The runners, and the workers holding jobs that wait for one, in order.
#[derive(Default)]
struct Turns {
    /// Runner tasks started (at most [`JOBS_AT_ONCE`]); they stay.
    runners: usize,
    /// Runners waiting for a worker.
    idle: usize,
    waiting: VecDeque<(SharedQueue, Box<State>)>,
}

impl Context {
    fn turns(&self) -> MutexGuard<'_, Turns> {
        self.turns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the jobs of `queue` with `state` as soon as a runner is free,
    /// starting one if none is and fewer than [`JOBS_AT_ONCE`] run.
    fn begin(self: &Arc<Self>, queue: SharedQueue, state: Box<State>) {
        let mut turns = self.turns();
        turns.waiting.push_back((queue, state));
        self.ready.add_permits(1);
        if turns.waiting.len() > turns.idle && turns.runners < JOBS_AT_ONCE {
            turns.runners += 1;
            tokio::spawn(run_workers(self.clone()));
        }
    }

    /// The next worker to run, once there is one; `None` once the workers
    /// are dropped and none is left waiting.
    async fn next(&self) -> Option<(SharedQueue, Box<State>)> {
        self.turns().idle += 1;
        let acquired = self.ready.acquire().await;
        let mut turns = self.turns();
        turns.idle -= 1;
        if let Ok(permit) = acquired {
            permit.forget();
        }
        // With the semaphore closed, whatever was begun before still runs.
        turns.waiting.pop_front()
    }
}

/// A runner: runs one worker's jobs after another, as they are begun.
async fn run_workers(context: Arc<Context>) {
    while let Some((queue, state)) = context.next().await {
        run_jobs(&queue, state, &context).await;
    }
}

/// One instance's worker: its jobs, and its state while no task runs it.
#[derive(Default)]
struct Queue {
    /// Jobs not yet started, with their sequence numbers, oldest first.
    jobs: VecDeque<(u64, AddressJob)>,
    /// The state between jobs; `None` while a runner runs them.
    parked: Option<Box<State>>,
    /// Stopped by the owner: the worker ends once the queue is empty, and
    /// the announcement train with it.
    stopped: bool,
    /// The watchdog's hold on the worker, let go when it is stopped. Its
    /// pulse is in the state, so a task that dies with the state is seen.
    watch: Option<Watch>,
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
    /// No worker yet; each reports its jobs' results to `reports`, and
    /// `supervisor` watches each from its start until it is stopped.
    pub fn new(
        netlink: Arc<Netlink>,
        announcer: Arc<Announcer>,
        reports: mpsc::UnboundedSender<Input>,
        supervisor: Supervisor,
    ) -> Self {
        Workers {
            context: Arc::new(Context {
                trains: Trains::new(netlink.clone(), announcer),
                netlink,
                reports,
                turns: Mutex::default(),
                ready: Semaphore::new(0),
                supervisor,
            }),
            queues: HashMap::new(),
        }
    }

    /// Starts the worker of `target`'s instance, parked until its first
    /// job, and watched until it is stopped.
    pub fn start(&mut self, target: AddressTarget) {
        let id = target.instance;
        let target = Arc::new(target);
        let (pulse, watch) = self.context.supervisor.watch(target.clone());
        let queue = Queue {
            parked: Some(Box::new(State::new(target, pulse))),
            watch: Some(watch),
            ..Queue::default()
        };
        if let Some(old) = self.queues.insert(id, Arc::new(Mutex::new(queue))) {
            stop(&old, &self.context.trains);
        }
    }

    /// Queues `job` (numbered `seq`) for `instance`'s worker, handing the
    /// worker to a runner unless one runs it. After each job the worker reports
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
            self.context.begin(queue.clone(), state);
        }
    }

    /// Stops `instance`'s worker: the jobs already queued still run (a
    /// Remove among them), then its announcements stop.
    pub fn stop(&mut self, instance: InstanceId) {
        if let Some(queue) = self.queues.remove(&instance) {
            stop(&queue, &self.context.trains);
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for queue in self.queues.values() {
            stop(queue, &self.context.trains);
        }
        // The runners finish what was begun, then end.
        self.context.ready.close();
    }
}

/// Marks `queue` stopped; a parked state has no task to end it, so its
/// announcements stop here.
fn stop(queue: &SharedQueue, trains: &Trains) {
    let parked = {
        let mut waiting = lock(queue);
        waiting.stopped = true;
        waiting.watch = None;
        waiting.parked.take()
    };
    if let Some(mut state) = parked {
        state.stop_announcing(trains);
    }
}

/// How the watchdog names a worker: by its instance.
impl std::fmt::Display for AddressTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "address worker of {}", self.name())
    }
}

/// Runs the jobs of `queue` in order until it is empty, then parks `state`
/// in it (or, once stopped, ends the announcements with the worker).
async fn run_jobs(queue: &SharedQueue, mut state: Box<State>, context: &Context) {
    loop {
        let next = {
            let mut waiting = lock(queue);
            match waiting.jobs.pop_front() {
                Some(next) => next,
                None => {
                    state.forget_finished_announcing(&context.trains);
                    if waiting.stopped {
                        drop(waiting);
                        state.stop_announcing(&context.trains);
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
        state.run(job, &context.netlink, &context.trains).await;
        let done = Input::AddressesDone {
            instance: state.target.instance,
            seq,
            present: state.present.clone(),
        };
        state.pulse.idle();
        if context.reports.send(done).is_err() {
            // The daemon is gone.
            state.stop_announcing(&context.trains);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::daemon::progress::Supervisor;

    fn target(instance: InstanceId) -> AddressTarget {
        let yaml = "instances:\n  - name: web\n    interface: lo\n    vrid: 1\n    \
                    priority: 100\n    virtual_ips: [192.0.2.1/32]\n";
        let config = match crate::config::parse_str(yaml, "test.yaml") {
            Ok(config) => config,
            Err(e) => panic!("{e}"),
        };
        AddressTarget {
            instance,
            config: config.instances[0].clone(),
            vmac: None,
            ifindex: 1,
            mac: [0; 6],
            link_local: None,
        }
    }

    fn open(reports: mpsc::UnboundedSender<Input>, supervisor: &Supervisor) -> Workers {
        let (Ok(netlink), Ok(announcer)) = (Netlink::connect(), Announcer::open()) else {
            panic!("netlink and packet sockets need root (tests run as root)");
        };
        Workers::new(
            Arc::new(netlink),
            Arc::new(announcer),
            reports,
            supervisor.clone(),
        )
    }

    fn parked(workers: &Workers, instance: InstanceId) -> bool {
        let queue = lock(&workers.queues[&instance]);
        queue.parked.is_some() && queue.jobs.is_empty() && queue.jobs.capacity() == 0
    }

    /// The jobs of one worker run in the order they were queued, each
    /// reported, and between bursts the worker holds no room.
    /// A Refresh while not holding touches no interface, so this runs
    /// without a namespace (the sockets are opened, never used).
    #[tokio::test]
    async fn runs_jobs_in_order_and_parks_between_them() {
        let (reports, mut done) = mpsc::unbounded_channel();
        let supervisor = Supervisor::new();
        let mut workers = open(reports, &supervisor);
        let id = InstanceId(7);
        workers.start(target(id));
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
            assert!(
                lock(&workers.queues[&id]).watch.is_some(),
                "watched while parked"
            );
        }
        // Stopping still runs what was queued, then the worker is gone.
        workers.send(id, 150, AddressJob::Refresh);
        workers.send(id, 151, AddressJob::Refresh);
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

    /// A worker whose state is lost (as with a task that dies) is reported
    /// by its instance's name until it is stopped.
    #[tokio::test]
    async fn a_worker_that_lost_its_state_is_reported_by_name_until_stopped() {
        let (reports, _done) = mpsc::unbounded_channel();
        let supervisor = Supervisor::new();
        let mut workers = open(reports, &supervisor);
        let id = InstanceId(3);
        workers.start(target(id));
        assert!(supervisor.hung(std::time::Instant::now()).is_empty());
        drop(lock(&workers.queues[&id]).parked.take());
        assert_eq!(
            supervisor.hung(std::time::Instant::now()),
            vec!["address worker of web has ended".to_owned()]
        );
        workers.stop(id);
        assert!(supervisor.hung(std::time::Instant::now()).is_empty());
    }

    /// Many workers with jobs at once: only [`JOBS_AT_ONCE`] run, the rest
    /// wait their turn, every job is done, each worker's in order, and
    /// then none runs.
    #[tokio::test]
    async fn runs_a_bounded_number_of_workers_at_once() {
        let (reports, mut done) = mpsc::unbounded_channel();
        let supervisor = Supervisor::new();
        let mut workers = open(reports, &supervisor);
        let count = JOBS_AT_ONCE as u64 * 3 + 5;
        for id in 0..count {
            workers.start(target(InstanceId(id)));
        }
        for seq in 0..3 {
            for id in 0..count {
                workers.send(InstanceId(id), id * 10 + seq, AddressJob::Refresh);
            }
        }
        {
            let turns = workers.context.turns();
            assert_eq!(turns.runners, JOBS_AT_ONCE);
            assert_eq!(turns.waiting.len() as u64, count);
        }
        let mut last: HashMap<InstanceId, u64> = HashMap::new();
        for _ in 0..count * 3 {
            match tokio::time::timeout(Duration::from_secs(5), done.recv()).await {
                Ok(Some(Input::AddressesDone { instance, seq, .. })) => {
                    let expected = last.get(&instance).map_or(instance.0 * 10, |s| s + 1);
                    assert_eq!(seq, expected, "{instance:?} in order");
                    last.insert(instance, seq);
                }
                other => panic!("expected a report, got {other:?}"),
            }
        }
        tokio::task::yield_now().await;
        {
            let turns = workers.context.turns();
            assert_eq!(
                (turns.runners, turns.idle, turns.waiting.len()),
                (JOBS_AT_ONCE, JOBS_AT_ONCE, 0),
                "the runners stay, idle"
            );
        }
        assert!((0..count).all(|id| parked(&workers, InstanceId(id))));
        // A second round starts no runner more.
        for id in 0..count {
            workers.send(InstanceId(id), id * 10 + 3, AddressJob::Refresh);
        }
        assert_eq!(workers.context.turns().runners, JOBS_AT_ONCE);
        for _ in 0..count {
            let report = tokio::time::timeout(Duration::from_secs(5), done.recv()).await;
            assert!(matches!(report, Ok(Some(Input::AddressesDone { .. }))));
        }
    }

    /// One worker at a time needs one runner, however many jobs it gets;
    /// dropping the workers ends the runners once what was queued ran.
    #[tokio::test]
    async fn one_runner_for_one_worker_and_none_left_after_the_workers() {
        let (reports, mut done) = mpsc::unbounded_channel();
        let supervisor = Supervisor::new();
        let mut workers = open(reports, &supervisor);
        let id = InstanceId(1);
        workers.start(target(id));
        for seq in 0..5 {
            workers.send(id, seq, AddressJob::Refresh);
            let report = tokio::time::timeout(Duration::from_secs(5), done.recv()).await;
            assert!(
                matches!(report, Ok(Some(Input::AddressesDone { seq: got, .. })) if got == seq)
            );
            tokio::task::yield_now().await;
        }
        assert_eq!(workers.context.turns().runners, 1);
        workers.send(id, 5, AddressJob::Refresh);
        let context = workers.context.clone();
        drop(workers);
        let report = tokio::time::timeout(Duration::from_secs(5), done.recv()).await;
        assert!(
            matches!(report, Ok(Some(Input::AddressesDone { seq: 5, .. }))),
            "queued before the drop, run after it: {report:?}"
        );
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(Arc::strong_count(&context), 1, "the runner has ended");
    }
}
