//! The quorum worker against a real etcd (Debian's `etcd-server`) in a
//! namespace: acquire, held by another node, release, renewals, a lease
//! revoked behind the worker's back, a frozen etcd, a stale key of our own
//! left by an earlier run, the release on stop, and a member that leaves no
//! data behind.
//!
//! The worker's timing is its own contract (src/daemon/quorum): keep-alives
//! every third of the lease ttl, each RPC under a quarter-ttl deadline. The
//! bounds below are derived from it here, with [`MARGIN`] for a loaded
//! machine.

mod support;

use std::time::{Duration, Instant};

use support::agents::MARGIN;
use support::etcd::{can_run_etcd, SingleStore};
use support::netns::block_on;
use tokio::sync::mpsc;
use twinstar::config::{EtcdQuorum, EtcdTls};
use twinstar::daemon::quorum::QuorumWorker;
use twinstar::quorum::{instance_key, QuorumReport, QuorumRequest};

/// The lease ttl of these tests (etcd's own minimum with the lab's tuning
/// is 1 s; 2 s is the documented default).
const TTL: Duration = Duration::from_secs(2);

/// A keep-alive is due every third of the ttl.
const RENEW_EVERY: Duration = Duration::from_millis(667);

/// Each RPC's deadline: a quarter of the ttl.
const DEADLINE: Duration = Duration::from_millis(500);

const PREFIX: &str = "/twinstar/test";

fn settings(store: &SingleStore) -> EtcdQuorum {
    EtcdQuorum {
        endpoints: vec![store.endpoint()],
        prefix: PREFIX.to_owned(),
        lease_ttl: TTL,
        tls: None,
    }
}

/// A worker for `node` and the stream of its reports.
fn worker(
    store: &SingleStore,
    node: &str,
) -> (QuorumWorker, mpsc::UnboundedReceiver<QuorumReport>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let worker = QuorumWorker::start(
        settings(store),
        node.to_owned(),
        Box::new(move |report| {
            let _ = tx.send(report);
        }),
    );
    (worker, rx)
}

/// The next report that is not a renewal, within `limit`.
async fn answer(
    reports: &mut mpsc::UnboundedReceiver<QuorumReport>,
    limit: Duration,
) -> QuorumReport {
    let until = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(until, reports.recv()).await {
            Ok(Some(QuorumReport::Renewed { .. })) => continue,
            Ok(Some(report)) => return report,
            Ok(None) => panic!("the worker ended"),
            Err(_) => panic!("no answer within {limit:?}"),
        }
    }
}

fn acquire(key: &str) -> QuorumRequest {
    QuorumRequest::Acquire {
        key: key.to_owned(),
    }
}

/// Asks `worker` for `key` and waits until it is ours; returns when the
/// request that granted it was sent.
async fn acquired(
    worker: &QuorumWorker,
    reports: &mut mpsc::UnboundedReceiver<QuorumReport>,
    key: &str,
    limit: Duration,
) -> Instant {
    worker.send(acquire(key));
    match answer(reports, limit).await {
        QuorumReport::Acquired { key: got, sent_at } => {
            assert_eq!(got, key);
            sent_at
        }
        other => panic!("{key} not acquired: {other:?}"),
    }
}

fn release(key: &str) -> QuorumRequest {
    QuorumRequest::Release {
        key: key.to_owned(),
    }
}

/// A plain client to look behind the worker's back.
async fn raw(store_endpoint: &str) -> etcd_client::Client {
    etcd_client::Client::connect([store_endpoint], None)
        .await
        .expect("connect to etcd")
}

/// The key's value and lease, if it exists.
async fn read(client: &mut etcd_client::Client, key: &str) -> Option<(String, i64)> {
    let got = client.get(key, None).await.expect("get");
    got.kvs()
        .first()
        .map(|kv| (String::from_utf8_lossy(kv.value()).into_owned(), kv.lease()))
}

#[test]
fn acquire_takes_a_free_key_and_another_node_finds_it_held() {
    if !can_run_etcd("acquire_takes_a_free_key_and_another_node_finds_it_held") {
        return;
    }
    let store = SingleStore::start("acq");
    let endpoint = store.endpoint();
    block_on(&store.ns, || async {
        let key = instance_key(PREFIX, "web");
        let (a, mut a_reports) = worker(&store, "a");
        let (b, mut b_reports) = worker(&store, "b");
        a.send(acquire(&key));
        let before = Instant::now();
        match answer(&mut a_reports, DEADLINE * 2 + MARGIN).await {
            QuorumReport::Acquired { key: k, sent_at } => {
                assert_eq!(k, key);
                assert!(sent_at >= before && sent_at <= Instant::now());
            }
            other => panic!("a: {other:?}"),
        }
        let mut client = raw(&endpoint).await;
        let (value, lease) = read(&mut client, &key).await.expect("the key exists");
        assert_eq!(value, "a");
        assert_ne!(lease, 0, "the key is bound to a's lease");

        b.send(acquire(&key));
        assert_eq!(
            answer(&mut b_reports, DEADLINE * 2 + MARGIN).await,
            QuorumReport::HeldBy {
                key: key.clone(),
                holder: "a".to_owned()
            }
        );
        // Asking again confirms, and leaves the key as it was.
        acquired(&a, &mut a_reports, &key, DEADLINE * 2 + MARGIN).await;
        assert_eq!(read(&mut client, &key).await, Some(("a".to_owned(), lease)));
    });
}

#[test]
fn release_gives_up_our_key_and_never_another_nodes() {
    if !can_run_etcd("release_gives_up_our_key_and_never_another_nodes") {
        return;
    }
    let store = SingleStore::start("rel");
    let endpoint = store.endpoint();
    block_on(&store.ns, || async {
        let key = instance_key(PREFIX, "web");
        let (a, mut a_reports) = worker(&store, "a");
        let (b, mut b_reports) = worker(&store, "b");
        let mut client = raw(&endpoint).await;
        acquired(&a, &mut a_reports, &key, DEADLINE * 2 + MARGIN).await;
        // b releasing a's key leaves it alone.
        b.send(release(&key));
        assert_eq!(
            answer(&mut b_reports, DEADLINE + MARGIN).await,
            QuorumReport::Released { key: key.clone() }
        );
        assert_eq!(
            read(&mut client, &key).await.map(|(v, _)| v).as_deref(),
            Some("a")
        );
        // a releasing it frees it at once: b takes it without waiting for a ttl.
        a.send(release(&key));
        assert_eq!(
            answer(&mut a_reports, DEADLINE + MARGIN).await,
            QuorumReport::Released { key: key.clone() }
        );
        assert_eq!(read(&mut client, &key).await, None);
        b.send(acquire(&key));
        assert!(matches!(
            answer(&mut b_reports, DEADLINE * 2 + MARGIN).await,
            QuorumReport::Acquired { .. }
        ));
    });
}

#[test]
fn renewals_are_reported_every_third_of_the_ttl_while_a_key_is_held() {
    if !can_run_etcd("renewals_are_reported_every_third_of_the_ttl_while_a_key_is_held") {
        return;
    }
    let store = SingleStore::start("ren");
    block_on(&store.ns, || async {
        let key = instance_key(PREFIX, "web");
        let (a, mut reports) = worker(&store, "a");
        let first = acquired(&a, &mut reports, &key, DEADLINE * 2 + MARGIN).await;
        // Three renewals, each sent about a third of the ttl after the one before.
        let mut previous = first;
        for n in 0..3 {
            let report = tokio::time::timeout(RENEW_EVERY + MARGIN, reports.recv())
                .await
                .unwrap_or_else(|_| panic!("renewal {n} not within {:?}", RENEW_EVERY + MARGIN));
            let Some(QuorumReport::Renewed { sent_at, latency }) = report else {
                panic!("renewal {n}: {report:?}");
            };
            let gap = sent_at - previous;
            println!("renewal {n}: {gap:?} after the previous one, answered in {latency:?}");
            assert!(
                gap + Duration::from_millis(5) >= RENEW_EVERY,
                "renewed early: {gap:?}"
            );
            assert!(gap <= RENEW_EVERY + MARGIN, "renewed late: {gap:?}");
            assert!(latency < DEADLINE);
            previous = sent_at;
        }
        // Once the key is given up, the lease is no longer kept alive.
        a.send(release(&key));
        assert!(matches!(
            answer(&mut reports, DEADLINE + MARGIN).await,
            QuorumReport::Released { .. }
        ));
        let quiet = tokio::time::timeout(RENEW_EVERY * 2, reports.recv()).await;
        assert!(
            quiet.is_err(),
            "still renewing after the release: {quiet:?}"
        );
    });
}

#[test]
fn a_lease_revoked_behind_the_workers_back_is_reported_lost() {
    if !can_run_etcd("a_lease_revoked_behind_the_workers_back_is_reported_lost") {
        return;
    }
    let store = SingleStore::start("lost");
    let endpoint = store.endpoint();
    block_on(&store.ns, || async {
        let key = instance_key(PREFIX, "web");
        let (a, mut reports) = worker(&store, "a");
        acquired(&a, &mut reports, &key, DEADLINE * 2 + MARGIN).await;
        let mut client = raw(&endpoint).await;
        let (_, lease) = read(&mut client, &key).await.expect("the key exists");
        client.lease_revoke(lease).await.expect("revoke");
        // The next keep-alive (due within a third of the ttl) finds it gone.
        assert_eq!(
            answer(&mut reports, RENEW_EVERY + DEADLINE + MARGIN).await,
            QuorumReport::LeaseLost
        );
        // The worker starts over: a new lease, the key taken again.
        acquired(&a, &mut reports, &key, DEADLINE * 2 + MARGIN).await;
        let (value, new_lease) = read(&mut client, &key).await.expect("the key exists");
        assert_eq!(value, "a");
        assert_ne!(new_lease, lease);
    });
}

#[test]
fn a_frozen_etcd_is_reported_unreachable_within_the_deadline() {
    if !can_run_etcd("a_frozen_etcd_is_reported_unreachable_within_the_deadline") {
        return;
    }
    let store = SingleStore::start("frz");
    let outcome = block_on(&store.ns, || async {
        let key = instance_key(PREFIX, "web");
        let (a, mut reports) = worker(&store, "a");
        let sent_at = acquired(&a, &mut reports, &key, DEADLINE * 2 + MARGIN).await;
        store.member.pause().expect("SIGSTOP etcd");
        // The keep-alive after `sent_at` times out after the deadline.
        let report = answer(&mut reports, RENEW_EVERY + DEADLINE + MARGIN).await;
        let took = sent_at.elapsed();
        let QuorumReport::Unreachable { key: None, error } = report else {
            panic!("expected an unreachable keep-alive: {report:?}");
        };
        println!("keep-alive unreachable {took:?} after the last renewal: {error}");
        assert!(
            took < TTL,
            "reported only after the lease could have run out"
        );
        // A request meanwhile is answered too, never left hanging.
        a.send(acquire(&instance_key(PREFIX, "db")));
        let asked = Instant::now();
        match answer(&mut reports, DEADLINE * 3 + MARGIN).await {
            QuorumReport::Unreachable { key: Some(k), .. } => {
                assert_eq!(k, instance_key(PREFIX, "db"));
            }
            other => panic!("expected unreachable: {other:?}"),
        }
        println!("acquire answered unreachable after {:?}", asked.elapsed());
        store.member.resume().expect("SIGCONT etcd");
        // Back within the ttl: the next keep-alive succeeds again.
        let until = tokio::time::Instant::now() + TTL + MARGIN;
        loop {
            match tokio::time::timeout_at(until, reports.recv()).await {
                Ok(Some(QuorumReport::Renewed { .. })) => break "renewed",
                Ok(Some(QuorumReport::LeaseLost)) => break "lost",
                Ok(Some(_)) => continue,
                _ => panic!("neither renewed nor lost after etcd came back"),
            }
        }
    });
    println!("after etcd came back: {outcome}");
}

#[test]
fn a_stale_key_of_our_own_from_an_earlier_run_is_taken_over() {
    if !can_run_etcd("a_stale_key_of_our_own_from_an_earlier_run_is_taken_over") {
        return;
    }
    let store = SingleStore::start("stale");
    let endpoint = store.endpoint();
    block_on(&store.ns, || async {
        let key = instance_key(PREFIX, "web");
        let mut client = raw(&endpoint).await;
        // What a crashed run of node a leaves: its key under its old lease.
        let old = client.lease_grant(60, None).await.expect("grant").id();
        let put = etcd_client::PutOptions::new().with_lease(old);
        client.put(key.as_str(), "a", Some(put)).await.expect("put");

        let (b, mut b_reports) = worker(&store, "b");
        b.send(acquire(&key));
        assert_eq!(
            answer(&mut b_reports, DEADLINE * 2 + MARGIN).await,
            QuorumReport::HeldBy {
                key: key.clone(),
                holder: "a".to_owned()
            }
        );
        let (a, mut a_reports) = worker(&store, "a");
        acquired(&a, &mut a_reports, &key, DEADLINE * 3 + MARGIN).await;
        let (value, lease) = read(&mut client, &key).await.expect("the key exists");
        assert_eq!(value, "a");
        assert_ne!(lease, old, "the key now lives under the new run's lease");
    });
}

#[test]
fn stop_releases_the_keys_and_revokes_the_lease_at_once() {
    if !can_run_etcd("stop_releases_the_keys_and_revokes_the_lease_at_once") {
        return;
    }
    let store = SingleStore::start("stop");
    let endpoint = store.endpoint();
    block_on(&store.ns, || async {
        let key = instance_key(PREFIX, "web");
        let (a, mut reports) = worker(&store, "a");
        acquired(&a, &mut reports, &key, DEADLINE * 2 + MARGIN).await;
        let mut client = raw(&endpoint).await;
        let (_, lease) = read(&mut client, &key).await.expect("the key exists");
        let stopping = Instant::now();
        a.stop(Duration::from_secs(1)).await;
        println!("stopped in {:?}", stopping.elapsed());
        assert_eq!(
            read(&mut client, &key).await,
            None,
            "the key outlived the stop"
        );
        let ttl = client.lease_time_to_live(lease, None).await.expect("ttl");
        assert!(
            ttl.ttl() <= 0,
            "the lease outlived the stop: {} s left",
            ttl.ttl()
        );
    });
}

#[test]
fn a_dropped_member_leaves_its_log_and_no_data() {
    if !can_run_etcd("a_dropped_member_leaves_its_log_and_no_data") {
        return;
    }
    let store = SingleStore::start("drop");
    let data = store.member.data_dir().to_path_buf();
    let wal = data.join("member").join("wal");
    let preallocated = std::fs::read_dir(&wal)
        .unwrap_or_else(|e| panic!("{}: {e}", wal.display()))
        .count();
    assert!(preallocated > 0, "no write-ahead log in {}", wal.display());
    let log = store.dir.join("etcd-s1").join("etcd.log");
    drop(store);
    assert!(!data.exists(), "{} outlived its member", data.display());
    assert!(log.exists(), "the member's log {} is gone", log.display());
}

#[test]
fn tls_endpoints_are_reached_with_the_configured_ca_and_client_certificate() {
    if !can_run_etcd("tls_endpoints_are_reached_with_the_configured_ca_and_client_certificate") {
        return;
    }
    let (store, pki) = SingleStore::start_tls("tls");
    block_on(&store.ns, || async {
        let key = instance_key(PREFIX, "web");
        let tls = |ca: &std::path::Path| EtcdQuorum {
            endpoints: vec![store.tls_endpoint()],
            prefix: PREFIX.to_owned(),
            lease_ttl: TTL,
            tls: Some(EtcdTls {
                ca: ca.to_owned(),
                cert: Some(pki.client_cert.clone()),
                key: Some(pki.client_key.clone()),
            }),
        };
        let start = |settings: EtcdQuorum, node: &str| {
            let (tx, rx) = mpsc::unbounded_channel();
            let worker = QuorumWorker::start(
                settings,
                node.to_owned(),
                Box::new(move |report| {
                    let _ = tx.send(report);
                }),
            );
            (worker, rx)
        };
        // The member takes a moment to listen: ask until it answers.
        let (a, mut reports) = start(tls(&pki.server.ca), "a");
        let until = Instant::now() + support::etcd::ETCD_START;
        loop {
            a.send(acquire(&key));
            match answer(&mut reports, DEADLINE * 3 + MARGIN).await {
                QuorumReport::Acquired { .. } => break,
                QuorumReport::Unreachable { error, .. } if Instant::now() < until => {
                    println!("not yet: {error}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => panic!("over TLS: {other:?}\n{}", store.member.log()),
            }
        }
        // A CA that did not sign the server's certificate: never trusted.
        let (b, mut b_reports) = start(tls(&pki.other_ca), "b");
        b.send(acquire(&key));
        match answer(&mut b_reports, DEADLINE * 3 + MARGIN).await {
            QuorumReport::Unreachable { error, .. } => println!("wrong CA: {error}"),
            other => panic!("a server signed by another CA was trusted: {other:?}"),
        }
    });
}
