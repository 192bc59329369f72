//! The lease decisions, report by report.

use std::time::{Duration, Instant};

use super::*;
use crate::config::parse_str;

const TTL: Duration = Duration::from_secs(2);

fn new_book(on_loss: &str) -> (QuorumBook, String) {
    let config = parse_str(
        &format!(
            "instances:\n  - {{name: web, interface: eth0, vrid: 51, virtual_ips: [192.0.2.50/24]}}\n\
             quorum:\n  etcd: {{endpoints: [http://203.0.113.1:2379], prefix: /p, lease_ttl: 2s}}\n  \
             on_loss: {on_loss}\nnode_id: a\n"
        ),
        "q.yaml",
    )
    .expect("valid");
    let mut book = QuorumBook::default();
    assert!(book.configure(&config).is_empty());
    let key = book.key_of("web", None).expect("quorum on");
    assert_eq!(key, "/p/instance/web");
    (book, key)
}

fn acquired(book: &mut QuorumBook, key: &str, t0: Instant) -> Vec<Verdict> {
    let (go, request) = book.request(key, t0);
    assert!(!go);
    assert_eq!(
        request,
        Some(QuorumRequest::Acquire {
            key: key.to_owned()
        })
    );
    book.on_report(
        t0,
        QuorumReport::Acquired {
            key: key.to_owned(),
            sent_at: t0,
        },
    )
}

#[test]
fn acquired_grants_and_holds_until_a_quarter_ttl_before_expiry() {
    let t0 = Instant::now();
    let (mut book, key) = new_book("release");
    assert_eq!(acquired(&mut book, &key, t0), [Verdict::Grant(key.clone())]);
    let until = t0 + TTL - TTL / MARGIN_DIVISOR;
    assert_eq!(book.next_deadline(), Some(until));
    assert_eq!(
        book.request(&key, t0),
        (true, None),
        "held: granted at once"
    );
    let renewed = t0 + Duration::from_millis(600);
    book.on_report(
        renewed,
        QuorumReport::Renewed {
            sent_at: renewed,
            latency: Duration::from_millis(3),
        },
    );
    assert_eq!(
        book.next_deadline(),
        Some(renewed + TTL - TTL / MARGIN_DIVISOR)
    );
    assert!(book.on_timer(until).is_empty(), "renewed: still valid");
    let lapse = renewed + TTL - TTL / MARGIN_DIVISOR;
    assert_eq!(book.on_timer(lapse), [Verdict::StopServing(key.clone())]);
    assert_eq!(book.unit(&key).map(|u| u.counters.lost), Some(1));
}

#[test]
fn held_by_another_node_denies_and_counts() {
    let t0 = Instant::now();
    let (mut book, key) = new_book("keep");
    book.request(&key, t0);
    let verdicts = book.on_report(
        t0,
        QuorumReport::HeldBy {
            key: key.clone(),
            holder: "b".to_owned(),
        },
    );
    assert!(verdicts.contains(&Verdict::Deny(key.clone())));
    let unit = book.unit(&key).expect("unit");
    assert_eq!(unit.state, LeaseState::HeldBy("b".to_owned()));
    assert_eq!(unit.counters.denied, 1);
}

#[test]
fn unreachable_denies_under_release_and_grants_under_keep() {
    let t0 = Instant::now();
    let unreachable = |key: &str| QuorumReport::Unreachable {
        key: Some(key.to_owned()),
        error: "timed out".to_owned(),
    };
    let (mut book, key) = new_book("release");
    book.request(&key, t0);
    assert!(book
        .on_report(t0, unreachable(&key))
        .contains(&Verdict::Deny(key.clone())));
    let (mut book, key) = new_book("keep");
    book.request(&key, t0);
    assert_eq!(
        book.on_report(t0, unreachable(&key)),
        [Verdict::Grant(key.clone())]
    );
    assert_eq!(book.unit(&key).map(|u| u.counters.unreachable), Some(1));
    assert_eq!(book.on_timer(t0 + TTL), [Verdict::Retry(key)]);
}

#[test]
fn with_keep_a_lapse_from_unreachable_renewals_keeps_serving_but_lease_lost_stops() {
    let t0 = Instant::now();
    let (mut book, key) = new_book("keep");
    acquired(&mut book, &key, t0);
    book.on_report(
        t0,
        QuorumReport::Unreachable {
            key: None,
            error: "timed out".to_owned(),
        },
    );
    assert!(book.on_timer(t0 + TTL).is_empty());
    assert!(matches!(
        book.unit(&key).map(|u| &u.state),
        Some(LeaseState::Unreachable(_))
    ));

    let (mut book, key) = new_book("keep");
    acquired(&mut book, &key, t0);
    let verdicts = book.on_report(t0, QuorumReport::LeaseLost);
    assert!(verdicts.contains(&Verdict::StopServing(key)));
}

#[test]
fn a_key_given_back_is_released_once_and_a_late_acquisition_ignored() {
    let t0 = Instant::now();
    let (mut book, key) = new_book("release");
    book.request(&key, t0);
    assert_eq!(
        book.release(&key),
        Some(QuorumRequest::Release { key: key.clone() })
    );
    assert_eq!(book.release(&key), None);
    let late = book.on_report(
        t0,
        QuorumReport::Acquired {
            key: key.clone(),
            sent_at: t0,
        },
    );
    assert!(late.is_empty());
    assert_eq!(book.next_deadline(), None);
}

#[test]
fn an_acquisition_answered_after_the_lease_can_be_trusted_is_denied() {
    let t0 = Instant::now();
    let (mut book, key) = new_book("release");
    book.request(&key, t0);
    let late = t0 + TTL - TTL / MARGIN_DIVISOR;
    let verdicts = book.on_report(
        late,
        QuorumReport::Acquired {
            key: key.clone(),
            sent_at: t0,
        },
    );
    assert_eq!(
        verdicts,
        [
            Verdict::Deny(key.clone()),
            Verdict::StopServing(key.clone())
        ]
    );
    assert!(book.release(&key).is_some(), "given back");
}
