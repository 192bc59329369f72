//! The quorum worker: carries out the agent's [`QuorumRequest`]s against etcd
//! and reports [`QuorumReport`]s back, off the real-time event loop.
//!
//! One tokio task per configuration owns a [`Session`] (the lease, the keys,
//! the client). It takes requests in the order the agent made them, and in
//! between keeps the lease alive every third of its time to live while the
//! node holds a key. Every RPC runs under [`rpc_deadline`], so a hung or
//! partitioned etcd turns into [`QuorumReport::Unreachable`] within a
//! fraction of the ttl and never stalls the worker; the event loop itself
//! only ever pushes into a channel.

mod session;

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use self::session::{rpc_deadline, ttl_seconds, QuorumError, Session};
use crate::config::EtcdQuorum;
use crate::quorum::{QuorumReport, QuorumRequest};

/// Where the worker's reports go (the daemon wraps them in
/// [`crate::agent::Input::Quorum`]).
pub type Reporter = Box<dyn Fn(QuorumReport) + Send + Sync>;

/// What the event loop sends the worker.
enum Command {
    /// Carry out this request.
    Request(QuorumRequest),
    /// Release every key, revoke the lease, then answer and end.
    Stop(oneshot::Sender<()>),
}

/// The handle the daemon keeps on a running quorum worker.
pub struct QuorumWorker {
    settings: EtcdQuorum,
    node_id: String,
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl QuorumWorker {
    /// Starts a worker for `settings` as `node_id`; nothing is sent to etcd
    /// until the first request. Must be called inside a tokio runtime.
    pub fn start(settings: EtcdQuorum, node_id: String, report: Reporter) -> Self {
        let (commands, receiver) = mpsc::unbounded_channel();
        let session = Session::new(settings.clone(), node_id.clone());
        let task = tokio::spawn(run(session, receiver, report));
        QuorumWorker {
            settings,
            node_id,
            commands,
            task,
        }
    }

    /// Whether this worker runs for these settings (a reload that changes
    /// them needs a new worker).
    pub fn serves(&self, settings: &EtcdQuorum, node_id: &str) -> bool {
        self.settings == *settings && self.node_id == node_id
    }

    /// Queues `request`; it is carried out after the ones before it.
    pub fn send(&self, request: QuorumRequest) {
        if self.commands.send(Command::Request(request)).is_err() {
            warn!("quorum worker has ended; request dropped");
        }
    }

    /// Carries out the queued requests, gives up every key and revokes the
    /// lease, within `limit` (then the task is abandoned: etcd expires the
    /// lease by itself after its ttl).
    pub async fn stop(self, limit: Duration) {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Stop(done)).is_ok()
            && tokio::time::timeout(limit, finished).await.is_err()
        {
            warn!("quorum: releasing the lease took longer than {limit:?}; etcd expires it");
        }
        self.task.abort();
    }
}

/// The worker's loop: requests in order, keep-alives when due.
async fn run(
    mut session: Session,
    mut commands: mpsc::UnboundedReceiver<Command>,
    report: Reporter,
) {
    let ttl = session.lease_ttl();
    let interval = ttl / 3;
    // After a failed keep-alive, retry sooner than the interval, backing off
    // from a tenth of the ttl up to the interval.
    let first_retry = ttl / 10;
    let mut backoff: Option<Duration> = None;
    // When the next keep-alive is due after a failed one (fixed when it
    // failed, so requests in between do not push it back).
    let mut retry_at: Option<Instant> = None;
    loop {
        let due = session.needs_renewal().then(|| {
            let at = match (retry_at, session.last_renewal()) {
                (Some(at), _) => at,
                (None, Some(last)) => last + interval,
                (None, None) => Instant::now(),
            };
            tokio::time::Instant::from_std(at)
        });
        let renewal = async {
            match due {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                Some(Command::Request(request)) => {
                    let answer = match &request {
                        QuorumRequest::Acquire { key } => session.acquire(key).await,
                        QuorumRequest::Release { key } => session.release(key).await,
                    };
                    report(answer);
                }
                Some(Command::Stop(done)) => {
                    session.close().await;
                    let _ = done.send(());
                    return;
                }
                None => {
                    session.close().await;
                    return;
                }
            },
            () = renewal => {
                let Some(answer) = session.renew().await else { continue };
                if let QuorumReport::Unreachable { .. } = &answer {
                    let wait = backoff.map_or(first_retry, |b| (b * 2).min(interval));
                    backoff = Some(wait);
                    retry_at = Some(Instant::now() + wait);
                } else {
                    if answer == QuorumReport::LeaseLost {
                        info!("quorum: etcd dropped our lease; every key is lost");
                    }
                    backoff = None;
                    retry_at = None;
                }
                report(answer);
            }
        }
    }
}
