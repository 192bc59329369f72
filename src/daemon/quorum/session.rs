//! One node's session with etcd: its lease, the keys it holds under it, and
//! the RPCs that take, keep and give them up, each under a deadline.
//!
//! The session is the only owner of that state; the worker task
//! ([`super::QuorumWorker`]) calls it one request at a time and decides when
//! the lease is due for renewal. The semantics are those of
//! [`crate::quorum`]: one lease per node, granted lazily, kept alive while the
//! node holds a key; a key is ours when its value is our node id and it is
//! bound to our lease.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse,
};
use tracing::warn;

use crate::config::EtcdQuorum;
use crate::quorum::QuorumReport;

/// Why an etcd call failed. Every variant but [`QuorumError::LeaseNotFound`]
/// reads as "unreachable" to the agent: the store did not say no, it did not
/// answer.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    /// No answer within the deadline (a hung or partitioned member, or no
    /// Raft leader to commit the request).
    #[error("etcd did not answer within {0:?}")]
    Deadline(Duration),
    /// The client library or the server reported an error.
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    /// A file named by `quorum.etcd.tls` could not be read.
    #[error("quorum.etcd.tls: cannot read {path}: {source}")]
    TlsFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// etcd answered that our lease does not exist (expired or revoked).
    #[error("etcd: the lease {0:x} is gone (expired or revoked)")]
    LeaseNotFound(i64),
    /// An answer that does not fit the request (a transaction without the
    /// operation it asked for).
    #[error("etcd: unexpected answer: {0}")]
    Unexpected(&'static str),
}

/// The lease's time to live in etcd's whole seconds, rounded up: etcd may
/// then keep a key longer than `lease_ttl`, never shorter, so a Master that
/// stops serving by `lease_ttl` is always gone before its key is.
pub fn ttl_seconds(lease_ttl: Duration) -> i64 {
    let whole = lease_ttl.as_secs() + u64::from(lease_ttl.subsec_nanos() > 0);
    i64::try_from(whole.max(1)).unwrap_or(i64::MAX)
}

/// The deadline of one RPC: a quarter of the lease's time to live.
///
/// A keep-alive goes out every third of the ttl; with a quarter-ttl deadline
/// a failed one is reported [`QuorumReport::Unreachable`] at most 7/12 of the
/// ttl after the last renewal, leaving the agent 5/12 of it to stop serving,
/// and leaving room for one retry before the lease runs out. A healthy etcd
/// answers in milliseconds; a Raft election among members tuned for fast
/// failover (election timeout of a few hundred milliseconds) fits too.
pub fn rpc_deadline(lease_ttl: Duration) -> Duration {
    (lease_ttl / 4).max(Duration::from_millis(50))
}

/// A node's lease and keys, and the client that reaches etcd.
pub struct Session {
    settings: EtcdQuorum,
    node_id: String,
    client: Option<Client>,
    /// Our lease, once granted and until etcd says it is gone.
    lease: Option<i64>,
    /// The keys we hold under `lease`.
    held: BTreeSet<String>,
    /// When the last keep-alive (or grant) that etcd answered was sent.
    last_renewal: Option<Instant>,
    /// Which endpoint the client talks to (an index into the endpoints,
    /// modulo their number); moved on after every failed call.
    endpoint: usize,
}

impl Session {
    /// A session that connects on first use.
    pub fn new(settings: EtcdQuorum, node_id: String) -> Self {
        Session {
            settings,
            node_id,
            client: None,
            lease: None,
            held: BTreeSet::new(),
            last_renewal: None,
            endpoint: 0,
        }
    }

    /// The RPC deadline for this session's lease ttl.
    pub fn deadline(&self) -> Duration {
        rpc_deadline(self.settings.lease_ttl)
    }

    /// The lease's configured time to live.
    pub fn lease_ttl(&self) -> Duration {
        self.settings.lease_ttl
    }

    /// Whether a keep-alive is owed: we hold a key under a lease.
    pub fn needs_renewal(&self) -> bool {
        self.lease.is_some() && !self.held.is_empty()
    }

    /// When the last renewal etcd answered was sent.
    pub fn last_renewal(&self) -> Option<Instant> {
        self.last_renewal
    }

    /// Runs `call` under the RPC deadline.
    async fn timed<T, F>(&self, call: F) -> Result<T, QuorumError>
    where
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = self.deadline();
        match tokio::time::timeout(deadline, call).await {
            Ok(result) => result.map_err(QuorumError::from),
            Err(_) => Err(QuorumError::Deadline(deadline)),
        }
    }

    /// Drops the client after a failed call and moves on to the next
    /// member. etcd-client's balanced channel keeps sending requests to a
    /// member that was killed (connection refused) or went silent, often
    /// enough to let a lease lapse; one member at a time, moved on from at
    /// the first failure, reaches the majority on the next try.
    fn fail_over(&mut self) {
        self.client = None;
        self.endpoint = self.endpoint.wrapping_add(1);
    }

    /// Whether a failed call is worth trying at once on another member.
    fn has_other_members(&self) -> bool {
        self.settings.endpoints.len() > 1
    }

    /// The client of the current member, made on first use.
    async fn client(&mut self) -> Result<Client, QuorumError> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let deadline = self.deadline();
        let mut options = ConnectOptions::new()
            .with_connect_timeout(deadline)
            .with_timeout(deadline)
            // HTTP/2 pings close a connection to a member that went silent,
            // so the balancer stops sending requests into it.
            .with_keep_alive(deadline, deadline)
            .with_keep_alive_while_idle(true)
            // A member cut off from the Raft majority refuses at once
            // instead of holding the request until the deadline.
            .with_require_leader(true);
        if let Some(tls) = &self.settings.tls {
            options = options.with_tls(tls_options(tls)?);
        }
        let endpoints = &self.settings.endpoints;
        let Some(endpoint) = endpoints.get(self.endpoint % endpoints.len().max(1)) else {
            return Err(QuorumError::Unexpected("no etcd endpoint configured"));
        };
        let client = tokio::time::timeout(
            deadline,
            Client::connect([endpoint.as_str()], Some(options)),
        )
        .await
        .map_err(|_| QuorumError::Deadline(deadline))??;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// Forgets the lease and every key: etcd has dropped them.
    fn forget_lease(&mut self) {
        self.lease = None;
        self.held.clear();
        self.last_renewal = None;
    }

    /// Grants a lease if we have none, or renews ours; returns the lease and
    /// when the request that etcd answered was sent.
    async fn fresh_lease(&mut self) -> Result<(i64, Instant), QuorumError> {
        if let Some(id) = self.lease {
            match self.keep_alive(id).await {
                Ok(sent_at) => return Ok((id, sent_at)),
                Err(QuorumError::LeaseNotFound(_)) => self.forget_lease(),
                Err(e) => return Err(e),
            }
        }
        let mut client = self.client().await?;
        let ttl = ttl_seconds(self.settings.lease_ttl);
        let sent_at = Instant::now();
        let granted = self.timed(client.lease_grant(ttl, None)).await?;
        if granted.ttl() != ttl {
            // etcd raises a ttl below its minimum (1.5 election timeouts):
            // the Backup then waits longer than configured, safely.
            warn!(
                asked = ttl,
                granted = granted.ttl(),
                "etcd granted another lease ttl than quorum.etcd.lease_ttl"
            );
        }
        self.lease = Some(granted.id());
        self.last_renewal = Some(sent_at);
        Ok((granted.id(), sent_at))
    }

    /// One keep-alive of lease `id`: the send time of the request etcd
    /// answered with a positive ttl.
    async fn keep_alive(&mut self, id: i64) -> Result<Instant, QuorumError> {
        let mut client = self.client().await?;
        let sent_at = Instant::now();
        // etcd-client opens a keep-alive stream, sends one request and waits
        // for its answer; an answer with ttl <= 0 comes back as "lease not
        // found".
        match self.timed(client.lease_keep_alive(id)).await {
            Ok(_) => {
                self.last_renewal = Some(sent_at);
                Ok(sent_at)
            }
            Err(QuorumError::Etcd(e)) if is_lease_not_found(&e) => {
                Err(QuorumError::LeaseNotFound(id))
            }
            Err(e) => Err(e),
        }
    }

    /// Renews the lease (see [`QuorumReport::Renewed`] and
    /// [`QuorumReport::LeaseLost`]); `None` when there is nothing to renew.
    pub async fn renew(&mut self) -> Option<QuorumReport> {
        let id = self.lease?;
        let mut renewed = self.keep_alive(id).await;
        if matches!(&renewed, Err(e) if !matches!(e, QuorumError::LeaseNotFound(_))) {
            self.fail_over();
            if self.has_other_members() {
                renewed = self.keep_alive(id).await;
            }
        }
        Some(match renewed {
            Ok(sent_at) => QuorumReport::Renewed {
                sent_at,
                latency: sent_at.elapsed(),
            },
            Err(QuorumError::LeaseNotFound(_)) => {
                self.forget_lease();
                QuorumReport::LeaseLost
            }
            Err(e) => QuorumReport::Unreachable {
                key: None,
                error: e.to_string(),
            },
        })
    }

    /// Takes `key` for this node (see [`crate::quorum::QuorumRequest::Acquire`]).
    pub async fn acquire(&mut self, key: &str) -> QuorumReport {
        // A lease that expired under us is forgotten and granted anew once;
        // a member that failed is left for the next one once.
        let mut failed_over = false;
        for _ in 0..3 {
            match self.try_acquire(key).await {
                Err(QuorumError::LeaseNotFound(_)) => self.forget_lease(),
                Ok(report) => return report,
                Err(e) => {
                    self.fail_over();
                    if failed_over || !self.has_other_members() {
                        return QuorumReport::Unreachable {
                            key: Some(key.to_owned()),
                            error: e.to_string(),
                        };
                    }
                    failed_over = true;
                }
            }
        }
        QuorumReport::Unreachable {
            key: Some(key.to_owned()),
            error: "etcd dropped the lease as soon as it was granted".to_owned(),
        }
    }

    async fn try_acquire(&mut self, key: &str) -> Result<QuorumReport, QuorumError> {
        // Renewing first means the key, once ours, is ours until `sent_at`
        // plus the ttl, whatever the lease's age.
        let (lease, sent_at) = self.fresh_lease().await?;
        let mut client = self.client().await?;
        let ours = PutOptions::new().with_lease(lease);
        // Create the key if no one has it; otherwise read it back.
        let create = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, self.node_id.as_str(), Some(ours.clone()))])
            .or_else([TxnOp::get(key, None::<GetOptions>)]);
        let answer = self
            .timed(client.txn(create))
            .await
            .map_err(|e| lease_error(e, lease))?;
        if answer.succeeded() {
            return Ok(self.acquired(key, sent_at));
        }
        let Some(current) = first_value(&answer.op_responses()) else {
            // Deleted between the compare and the read: ask again next time.
            return Err(QuorumError::Unexpected("the key vanished while read"));
        };
        if current.value != self.node_id.as_bytes() {
            self.held.remove(key);
            return Ok(QuorumReport::HeldBy {
                key: key.to_owned(),
                holder: String::from_utf8_lossy(&current.value).into_owned(),
            });
        }
        if current.lease == lease {
            return Ok(self.acquired(key, sent_at));
        }
        // Our node id under another lease: ours from before a restart. Take
        // it over unless someone changed it since we read it.
        let take_over = Txn::new()
            .when([Compare::mod_revision(
                key,
                CompareOp::Equal,
                current.mod_revision,
            )])
            .and_then([TxnOp::put(key, self.node_id.as_str(), Some(ours))])
            .or_else([TxnOp::get(key, None::<GetOptions>)]);
        let answer = self
            .timed(client.txn(take_over))
            .await
            .map_err(|e| lease_error(e, lease))?;
        if answer.succeeded() {
            return Ok(self.acquired(key, sent_at));
        }
        match first_value(&answer.op_responses()) {
            Some(now) if now.value != self.node_id.as_bytes() => Ok(QuorumReport::HeldBy {
                key: key.to_owned(),
                holder: String::from_utf8_lossy(&now.value).into_owned(),
            }),
            _ => Err(QuorumError::Unexpected(
                "the key changed during the takeover",
            )),
        }
    }

    fn acquired(&mut self, key: &str, sent_at: Instant) -> QuorumReport {
        self.held.insert(key.to_owned());
        QuorumReport::Acquired {
            key: key.to_owned(),
            sent_at,
        }
    }

    /// Gives `key` up if its value is our node id (see
    /// [`crate::quorum::QuorumRequest::Release`]).
    pub async fn release(&mut self, key: &str) -> QuorumReport {
        let mut released = self.try_release(key).await;
        if released.is_err() {
            self.fail_over();
            if self.has_other_members() {
                released = self.try_release(key).await;
            }
        }
        match released {
            Ok(()) => {
                self.held.remove(key);
                QuorumReport::Released {
                    key: key.to_owned(),
                }
            }
            Err(e) => QuorumReport::Unreachable {
                key: Some(key.to_owned()),
                error: e.to_string(),
            },
        }
    }

    async fn try_release(&mut self, key: &str) -> Result<(), QuorumError> {
        let mut client = self.client().await?;
        let delete_if_ours = Txn::new()
            .when([Compare::value(key, CompareOp::Equal, self.node_id.as_str())])
            .and_then([TxnOp::delete(key, None)]);
        self.timed(client.txn(delete_if_ours)).await.map(|_| ())
    }

    /// Gives up every key and revokes the lease, best effort, each RPC
    /// under its deadline: a planned stop hands over at once instead of
    /// after the ttl. Revoking alone would delete the keys too; releasing
    /// them first also frees a key we hold under a lease revoke would miss.
    pub async fn close(&mut self) {
        let keys: Vec<String> = self.held.iter().cloned().collect();
        for key in keys {
            if let QuorumReport::Unreachable { error, .. } = self.release(&key).await {
                warn!(key, "quorum: releasing on stop failed: {error}");
            }
        }
        if let Some(id) = self.lease.take() {
            let revoked = match self.client().await {
                Ok(mut client) => self.timed(client.lease_revoke(id)).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = revoked {
                warn!("quorum: revoking the lease on stop failed: {e}");
            }
        }
        self.forget_lease();
    }
}

/// The parts of a key-value the acquisition looks at.
struct Current {
    value: Vec<u8>,
    lease: i64,
    mod_revision: i64,
}

/// The key-value read by a transaction's `get`, if it found one.
fn first_value(responses: &[TxnOpResponse]) -> Option<Current> {
    responses.iter().find_map(|response| match response {
        TxnOpResponse::Get(get) => get.kvs().first().map(|kv| Current {
            value: kv.value().to_vec(),
            lease: kv.lease(),
            mod_revision: kv.mod_revision(),
        }),
        _ => None,
    })
}

/// Whether etcd said the lease does not exist: a keep-alive answered with
/// ttl <= 0 (etcd-client's "lease not found"), or a put or revoke refused
/// with "requested lease not found".
fn is_lease_not_found(error: &etcd_client::Error) -> bool {
    match error {
        etcd_client::Error::LeaseKeepAliveError(message) => message.contains("not found"),
        // etcd's ErrGRPCLeaseNotFound, code NotFound.
        etcd_client::Error::GRpcStatus(status) => status.message().contains("lease not found"),
        _ => false,
    }
}

/// Maps "requested lease not found" on a put to [`QuorumError::LeaseNotFound`].
fn lease_error(error: QuorumError, lease: i64) -> QuorumError {
    match error {
        QuorumError::Etcd(e) if is_lease_not_found(&e) => QuorumError::LeaseNotFound(lease),
        e => e,
    }
}

/// The TLS settings of `quorum.etcd.tls`, files read now.
fn tls_options(tls: &crate::config::EtcdTls) -> Result<etcd_client::TlsOptions, QuorumError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|source| QuorumError::TlsFile {
            path: path.to_owned(),
            source,
        })
    };
    let mut options = etcd_client::TlsOptions::new()
        .ca_certificate(etcd_client::Certificate::from_pem(read(&tls.ca)?));
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        options = options.identity(etcd_client::Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_whole_seconds_so_etcd_never_expires_first() {
        assert_eq!(ttl_seconds(Duration::from_secs(2)), 2);
        assert_eq!(ttl_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(ttl_seconds(Duration::from_millis(10)), 1);
    }

    #[test]
    fn the_deadline_leaves_time_to_stop_serving_after_a_failed_renewal() {
        let ttl = Duration::from_secs(2);
        // Renewal at ttl/3, reported unreachable by ttl/3 + deadline.
        assert!(ttl / 3 + rpc_deadline(ttl) < ttl * 2 / 3);
    }
}
