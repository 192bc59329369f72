//! A simulated etcd for the whole-agent simulator: one key-value store with
//! leases on virtual time, shared by every host, and per host the quorum
//! worker the daemon runs (it carries out `Effect::Quorum` and keeps the
//! node's lease alive every third of its time to live while it holds keys).
//!
//! A host reaches the store or not (`set_etcd_reachable`); a request to an
//! unreachable store is answered `Unreachable` after the worker's timeout.
//! A request reaches the store half a round trip after it was sent and is
//! answered half a round trip later; the store counts a lease's time to live
//! from when it handles the request, as etcd does, so an agent's
//! `sent_at + ttl` is always on the safe side.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use twinstar::agent::Input;
use twinstar::quorum::{QuorumReport, QuorumRequest};

use super::{HostId, Pending, World};

/// A lease of one run of one host's agent (a restarted agent gets a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lease {
    host: HostId,
    incarnation: u32,
    /// Virtual time it expires unless kept alive.
    expires: Duration,
}

/// What one key holds: the node id, under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    node_id: String,
    lease: (HostId, u32),
}

/// A host's quorum worker.
#[derive(Debug, Clone, Default)]
struct Client {
    incarnation: u32,
    node_id: String,
    ttl: Duration,
    /// Keys it holds, as far as it knows.
    held: BTreeSet<String>,
    /// Whether a keep-alive loop is scheduled.
    renewing: bool,
}

/// The store, the workers, and who reaches the store.
#[derive(Debug)]
pub struct SimEtcd {
    leases: Vec<Lease>,
    keys: BTreeMap<String, Entry>,
    clients: BTreeMap<HostId, Client>,
    unreachable: BTreeSet<HostId>,
    /// Round trip between a host and the store.
    pub rtt: Duration,
    /// How long a worker waits for an answer before it reports `Unreachable`.
    pub timeout: Duration,
    /// Requests that reached the store, for tests that count them.
    pub requests: u64,
}

impl Default for SimEtcd {
    fn default() -> Self {
        SimEtcd {
            leases: Vec::new(),
            keys: BTreeMap::new(),
            clients: BTreeMap::new(),
            unreachable: BTreeSet::new(),
            rtt: Duration::from_millis(2),
            timeout: Duration::from_millis(500),
            requests: 0,
        }
    }
}

/// Something in flight between a worker and the store.
#[derive(Debug)]
pub(super) enum EtcdPending {
    /// A request reaches the store (or times out, if the host cannot reach it).
    Request {
        host: HostId,
        incarnation: u32,
        request: QuorumRequest,
        sent: Duration,
    },
    /// The worker's next keep-alive.
    KeepAlive { host: HostId, incarnation: u32 },
    /// A keep-alive reaches the store.
    KeepAliveArrives {
        host: HostId,
        incarnation: u32,
        sent: Duration,
    },
    /// A report reaches the agent.
    Report {
        host: HostId,
        incarnation: u32,
        report: QuorumReport,
    },
}

impl SimEtcd {
    /// Who holds `key` now (its node id), if its lease is live at `now`.
    pub fn holder(&self, key: &str, now: Duration) -> Option<&str> {
        let entry = self.keys.get(key)?;
        let live = self
            .leases
            .iter()
            .any(|l| (l.host, l.incarnation) == entry.lease && l.expires > now);
        live.then_some(entry.node_id.as_str())
    }

    /// Drops expired leases and the keys bound to them.
    fn expire(&mut self, now: Duration) {
        self.leases.retain(|l| l.expires > now);
        let live: Vec<(HostId, u32)> = self
            .leases
            .iter()
            .map(|l| (l.host, l.incarnation))
            .collect();
        self.keys.retain(|_, e| live.contains(&e.lease));
    }

    fn lease_mut(&mut self, host: HostId, incarnation: u32) -> Option<&mut Lease> {
        self.leases
            .iter_mut()
            .find(|l| l.host == host && l.incarnation == incarnation)
    }
}

impl World {
    /// Whether host `id` reaches the store (its etcd member and the quorum).
    pub fn set_etcd_reachable(&mut self, id: HostId, reachable: bool) {
        if reachable {
            self.etcd.unreachable.remove(&id);
        } else {
            self.etcd.unreachable.insert(id);
        }
    }

    /// Who holds `key` in the store now, if anyone.
    pub fn etcd_holder(&self, key: &str) -> Option<String> {
        self.etcd.holder(key, self.now).map(str::to_owned)
    }

    /// A new run of host `id`'s agent: a fresh worker (the old run's lease
    /// lives on in the store until it expires).
    pub(super) fn etcd_start(&mut self, id: HostId, config: &twinstar::config::Config) {
        let incarnation = self.hosts[id].incarnation;
        let ttl = config.quorum.as_ref().map(|q| q.etcd.lease_ttl);
        self.etcd.clients.insert(
            id,
            Client {
                incarnation,
                node_id: config.node_id.clone(),
                ttl: ttl.unwrap_or_default(),
                held: BTreeSet::new(),
                renewing: false,
            },
        );
    }

    /// A reload on host `id`: the worker keeps its lease and keys, with the
    /// new time to live and node id. A reload that removes `quorum` leaves
    /// the worker as it was: the agent gives its keys back through it.
    pub(super) fn etcd_reconfigure(&mut self, id: HostId, config: &twinstar::config::Config) {
        let Some(quorum) = &config.quorum else {
            return;
        };
        if let Some(client) = self.etcd.clients.get_mut(&id) {
            client.ttl = quorum.etcd.lease_ttl;
            client.node_id = config.node_id.clone();
        }
    }

    /// The worker of host `id` carries out `request`.
    pub(super) fn etcd_request(&mut self, id: HostId, request: QuorumRequest) {
        let incarnation = self.hosts[id].incarnation;
        assert!(
            self.etcd
                .clients
                .get(&id)
                .is_some_and(|c| c.ttl > Duration::ZERO),
            "host {id}: no quorum configured, yet {request:?}"
        );
        let sent = self.now;
        if let (QuorumRequest::Release { key }, Some(client)) =
            (&request, self.etcd.clients.get_mut(&id))
        {
            // Given up: the worker no longer keeps the lease alive for it.
            client.held.remove(key);
        }
        let (at, pending) = if self.etcd.unreachable.contains(&id) {
            let key = match &request {
                QuorumRequest::Acquire { key } | QuorumRequest::Release { key } => key.clone(),
            };
            let report = QuorumReport::Unreachable {
                key: Some(key),
                error: "simulated: etcd unreachable".to_owned(),
            };
            (
                sent + self.etcd.timeout,
                EtcdPending::Report {
                    host: id,
                    incarnation,
                    report,
                },
            )
        } else {
            (
                sent + self.etcd.rtt / 2,
                EtcdPending::Request {
                    host: id,
                    incarnation,
                    request,
                    sent,
                },
            )
        };
        self.schedule(at, Pending::Etcd(pending));
    }

    /// Delivers `report` to the worker of `host` (run `incarnation`) at `at`.
    fn etcd_report(&mut self, at: Duration, host: HostId, incarnation: u32, report: QuorumReport) {
        self.schedule(
            at,
            Pending::Etcd(EtcdPending::Report {
                host,
                incarnation,
                report,
            }),
        );
    }

    /// Something between a worker and the store comes due.
    pub(super) fn etcd_deliver(&mut self, pending: EtcdPending) {
        let now = self.now;
        match pending {
            EtcdPending::Request {
                host,
                incarnation,
                request,
                sent,
            } => {
                self.etcd.requests += 1;
                let report = self.etcd_handle(host, incarnation, request, sent);
                let at = now + self.etcd.rtt / 2;
                self.etcd_report(at, host, incarnation, report);
            }
            EtcdPending::KeepAlive { host, incarnation } => {
                let Some(client) = self.current_client(host, incarnation) else {
                    return;
                };
                if client.held.is_empty() {
                    client.renewing = false;
                    return;
                }
                let every = client.ttl / 3;
                self.schedule(
                    now + every,
                    Pending::Etcd(EtcdPending::KeepAlive { host, incarnation }),
                );
                if self.etcd.unreachable.contains(&host) {
                    let report = QuorumReport::Unreachable {
                        key: None,
                        error: "simulated: keep-alive timed out".to_owned(),
                    };
                    let at = now + self.etcd.timeout;
                    self.etcd_report(at, host, incarnation, report);
                } else {
                    let at = now + self.etcd.rtt / 2;
                    self.schedule(
                        at,
                        Pending::Etcd(EtcdPending::KeepAliveArrives {
                            host,
                            incarnation,
                            sent: now,
                        }),
                    );
                }
            }
            EtcdPending::KeepAliveArrives {
                host,
                incarnation,
                sent,
            } => {
                self.etcd.expire(now);
                let ttl = self
                    .etcd
                    .clients
                    .get(&host)
                    .map_or(Duration::ZERO, |c| c.ttl);
                let report = match self.etcd.lease_mut(host, incarnation) {
                    Some(lease) => {
                        lease.expires = now + ttl;
                        QuorumReport::Renewed {
                            sent_at: self.epoch + sent,
                            latency: self.etcd.rtt,
                        }
                    }
                    None => QuorumReport::LeaseLost,
                };
                let at = now + self.etcd.rtt / 2;
                self.etcd_report(at, host, incarnation, report);
            }
            EtcdPending::Report {
                host,
                incarnation,
                report,
            } => {
                if self.hosts[host].incarnation != incarnation {
                    return;
                }
                self.note_report(host, incarnation, &report);
                self.feed(host, Input::Quorum(report));
            }
        }
    }

    /// The store handles one request of host `host`'s worker.
    fn etcd_handle(
        &mut self,
        host: HostId,
        incarnation: u32,
        request: QuorumRequest,
        sent: Duration,
    ) -> QuorumReport {
        let now = self.now;
        self.etcd.expire(now);
        let Some(client) = self.etcd.clients.get(&host).cloned() else {
            return QuorumReport::LeaseLost;
        };
        match request {
            QuorumRequest::Acquire { key } => {
                let ours = (host, incarnation);
                match self.etcd.keys.get(&key) {
                    Some(entry) if entry.lease != ours => QuorumReport::HeldBy {
                        key,
                        holder: entry.node_id.clone(),
                    },
                    _ => {
                        // Grant (or keep alive) our lease, then put the key
                        // on it: a compare-and-swap that only creates.
                        match self.etcd.lease_mut(host, incarnation) {
                            Some(lease) => lease.expires = now + client.ttl,
                            None => self.etcd.leases.push(Lease {
                                host,
                                incarnation,
                                expires: now + client.ttl,
                            }),
                        }
                        self.etcd.keys.insert(
                            key.clone(),
                            Entry {
                                node_id: client.node_id.clone(),
                                lease: ours,
                            },
                        );
                        QuorumReport::Acquired {
                            key,
                            sent_at: self.epoch + sent,
                        }
                    }
                }
            }
            QuorumRequest::Release { key } => {
                if self
                    .etcd
                    .keys
                    .get(&key)
                    .is_some_and(|e| e.lease == (host, incarnation))
                {
                    self.etcd.keys.remove(&key);
                }
                QuorumReport::Released { key }
            }
        }
    }

    fn current_client(&mut self, host: HostId, incarnation: u32) -> Option<&mut Client> {
        let running =
            self.hosts[host].agent.is_some() && self.hosts[host].incarnation == incarnation;
        self.etcd
            .clients
            .get_mut(&host)
            .filter(|c| running && c.incarnation == incarnation)
    }

    /// The worker keeps track of the keys it holds, and keeps the lease
    /// alive while it holds any.
    fn note_report(&mut self, host: HostId, incarnation: u32, report: &QuorumReport) {
        let now = self.now;
        let Some(client) = self.current_client(host, incarnation) else {
            return;
        };
        match report {
            QuorumReport::Acquired { key, .. } => {
                client.held.insert(key.clone());
            }
            QuorumReport::Released { key } | QuorumReport::HeldBy { key, .. } => {
                client.held.remove(key);
            }
            QuorumReport::LeaseLost => client.held.clear(),
            QuorumReport::Renewed { .. } | QuorumReport::Unreachable { .. } => {}
        }
        if !client.held.is_empty() && !client.renewing {
            client.renewing = true;
            let at = now + client.ttl / 3;
            self.schedule(
                at,
                Pending::Etcd(EtcdPending::KeepAlive { host, incarnation }),
            );
        }
    }
}
