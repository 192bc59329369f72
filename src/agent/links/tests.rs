//! Instances following their interface by name: deletion, re-creation with
//! another index, lookups that fail or come too late, renames.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::LOOKUP_RETRY;
use crate::agent::tests::drain;
use crate::agent::{Agent, Datagram, Effect, Input, InstanceFacts, Setup, SocketKey};
use crate::config::parse_str;
use crate::vrrp::{State, TransitionReason};
use crate::wire::vrrp::{Addresses, Advertisement, ChecksumForm};
use crate::wire::VRRP_GROUP_V4;

const US: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
/// The index eth0 has at start, and the one it gets when made again.
const OLD: u32 = 2;
const NEW: u32 = 9;

fn yaml(priority: u8) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 1\n    priority: {priority}\n    \
         advert_interval: 100ms\n    virtual_ips: [192.0.2.50/24]\n"
    )
}

fn facts(ifindex: u32) -> InstanceFacts {
    InstanceFacts {
        ifindex,
        mac: [2, 0, 0, 0, 0, ifindex as u8],
        link_local: None,
        source: US,
        carrier: true,
        vmac: None,
    }
}

fn key(ifindex: u32) -> SocketKey {
    SocketKey {
        ifindex,
        ipv6: false,
    }
}

/// An agent running `web` with this priority on eth0 (index [`OLD`]).
fn running(priority: u8, t0: Instant) -> Agent {
    let config = parse_str(&yaml(priority), "t.yaml").expect("valid config");
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(
        t0,
        Setup {
            config,
            facts: [("web".to_owned(), Ok(facts(OLD)))].into_iter().collect(),
            links: HashMap::new(),
        },
    );
    drain(&mut agent);
    agent
}

fn state(agent: &Agent) -> State {
    agent.instances[0].router.state()
}

fn removed(ifindex: u32) -> Input {
    Input::LinkRemoved {
        ifindex,
        name: "eth0".into(),
    }
}

fn link(ifindex: u32, name: &str, carrier: bool) -> Input {
    Input::Link {
        ifindex,
        name: name.into(),
        carrier,
    }
}

fn answer(found: Result<InstanceFacts, String>) -> Input {
    Input::InterfaceFacts {
        interface: "eth0".into(),
        facts: [("web".to_owned(), found)].into_iter().collect(),
    }
}

fn lookups(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::LookUpInterface { interface } if interface == "eth0"))
        .count()
}

fn advert_on(ifindex: u32) -> Input {
    let vip = Ipv4Addr::new(192, 0, 2, 50);
    let bytes = Advertisement::new(1, 200, Duration::from_millis(100), Addresses::V4(vec![vip]))
        .expect("valid advert")
        .to_bytes(PEER, IpAddr::V4(VRRP_GROUP_V4), ChecksumForm::PseudoHeader)
        .expect("emits");
    Input::Datagram(Datagram {
        socket: key(ifindex),
        source: PEER,
        destination: IpAddr::V4(VRRP_GROUP_V4),
        hop_limit: Some(255),
        payload: Ok(bytes.into()),
    })
}

fn adverts_received(agent: &Agent) -> u64 {
    agent.instances[0].router.stats().adverts_received
}

#[test]
fn a_deleted_interface_faults_its_instance_and_closes_its_socket() {
    let t0 = Instant::now();
    let mut agent = running(100, t0);
    assert_eq!(state(&agent), State::Backup);
    agent.handle(t0, removed(OLD));
    assert_eq!(state(&agent), State::Fault);
    let effects = drain(&mut agent);
    assert!(
        effects.contains(&Effect::CloseSocket(key(OLD))),
        "{effects:?}"
    );
    assert_eq!(lookups(&effects), 0, "nothing to look up while it is gone");
    let status = agent.status(t0);
    assert!(
        status.instances[0]
            .fault_reasons
            .contains(&"interface eth0 is gone".to_owned()),
        "{:?}",
        status.instances[0].fault_reasons
    );
    agent.handle(t0, advert_on(OLD));
    assert_eq!(
        adverts_received(&agent),
        0,
        "the dead socket is not listened to"
    );
}

#[test]
fn a_recreated_interface_is_looked_up_and_its_instance_rebinds_as_backup() {
    let t0 = Instant::now();
    let mut agent = running(100, t0);
    agent.handle(t0, removed(OLD));
    drain(&mut agent);
    agent.handle(t0, link(NEW, "eth0", true));
    assert_eq!(lookups(&drain(&mut agent)), 1);
    assert_eq!(state(&agent), State::Fault, "not before it is rebound");

    agent.handle(t0, answer(Ok(facts(NEW))));
    let effects = drain(&mut agent);
    let started: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::StartInstance(target) => Some((target.ifindex, target.mac)),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        vec![(NEW, facts(NEW).mac)],
        "a worker for the new interface"
    );
    // RFC 9568 §6.4.1: out of Initialize, a non-owner becomes Backup.
    assert_eq!(state(&agent), State::Backup);
    let transition = agent.instances[0].router.last_transition();
    assert_eq!(transition, Some(t0));
    assert!(agent.status(t0).instances[0].fault_reasons.is_empty());

    agent.handle(t0, advert_on(NEW));
    assert_eq!(adverts_received(&agent), 1, "heard on the new socket");
    agent.handle(t0, advert_on(OLD));
    assert_eq!(adverts_received(&agent), 1, "not on the old one");
}

#[test]
fn an_owner_comes_back_as_master_on_the_new_socket() {
    let t0 = Instant::now();
    let mut agent = running(255, t0);
    assert_eq!(state(&agent), State::Master);
    agent.handle(t0, removed(OLD));
    agent.handle(t0, link(NEW, "eth0", true));
    agent.handle(t0, answer(Ok(facts(NEW))));
    // RFC 9568 §6.4.1: the owner (priority 255) goes straight to Master.
    assert_eq!(state(&agent), State::Master);
    let sent_on: Vec<SocketKey> = drain(&mut agent)
        .iter()
        .filter_map(|e| match e {
            Effect::SendAdvert { socket, .. } => Some(*socket),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent_on.last(),
        Some(&key(NEW)),
        "adverts go out on the new socket"
    );
}

#[test]
fn a_new_index_without_a_deletion_seen_faults_and_rebinds_too() {
    // After lost notifications, a resync may show the new index before (or
    // without) the old one's deletion.
    let t0 = Instant::now();
    let mut agent = running(100, t0);
    agent.handle(t0, link(NEW, "eth0", true));
    assert_eq!(state(&agent), State::Fault);
    assert_eq!(lookups(&drain(&mut agent)), 1);
    agent.handle(t0, answer(Ok(facts(NEW))));
    assert_eq!(state(&agent), State::Backup);
    let effects = drain(&mut agent);
    assert!(
        effects.contains(&Effect::CloseSocket(key(OLD))),
        "the old socket goes once nobody uses it: {effects:?}"
    );
    agent.handle(t0, removed(OLD));
    assert_eq!(
        state(&agent),
        State::Backup,
        "the old index's deletion changes nothing"
    );
}

#[test]
fn facts_for_an_index_already_gone_are_ignored_and_their_socket_closed() {
    let t0 = Instant::now();
    let mut agent = running(100, t0);
    agent.handle(t0, removed(OLD));
    agent.handle(t0, link(NEW, "eth0", true));
    agent.handle(t0, removed(NEW));
    agent.handle(t0, link(NEW + 1, "eth0", true));
    drain(&mut agent);
    agent.handle(t0, answer(Ok(facts(NEW))));
    assert_eq!(state(&agent), State::Fault);
    let effects = drain(&mut agent);
    assert!(
        effects.contains(&Effect::CloseSocket(key(NEW))),
        "{effects:?}"
    );
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::StartInstance(_))));
    agent.handle(t0, answer(Ok(facts(NEW + 1))));
    assert_eq!(state(&agent), State::Backup);
}

#[test]
fn a_failed_lookup_is_retried_after_lookup_retry() {
    let t0 = Instant::now();
    let mut agent = running(100, t0);
    agent.handle(t0, removed(OLD));
    agent.handle(t0, link(NEW, "eth0", false));
    drain(&mut agent);
    agent.handle(t0, answer(Err("no IPv4 address yet".into())));
    assert_eq!(state(&agent), State::Fault);
    assert_eq!(agent.poll_timeout(), Some(t0 + LOOKUP_RETRY));
    let t1 = t0 + LOOKUP_RETRY;
    agent.handle(t1, Input::Timeout);
    assert_eq!(lookups(&drain(&mut agent)), 1, "asked again");
    assert_eq!(agent.poll_timeout(), None, "once");
    agent.handle(t1, answer(Ok(facts(NEW))));
    assert_eq!(state(&agent), State::Fault, "rebound, but still no carrier");
    agent.handle(t1, link(NEW, "eth0", true));
    assert_eq!(state(&agent), State::Backup);
    assert_eq!(
        agent.instances[0].router.last_transition(),
        Some(t1),
        "left Fault when the carrier came"
    );
}

#[test]
fn a_rename_faults_the_instance_and_renaming_back_restores_it_in_place() {
    let t0 = Instant::now();
    let mut agent = running(100, t0);
    agent.handle(t0, link(OLD, "eth0", true));
    agent.handle(t0, link(OLD, "wan", true));
    assert_eq!(
        state(&agent),
        State::Fault,
        "eth0 is gone: it is called wan now"
    );
    assert_eq!(lookups(&drain(&mut agent)), 0);
    agent.handle(t0, link(OLD, "eth0", true));
    assert_eq!(state(&agent), State::Backup);
    let effects = drain(&mut agent);
    assert_eq!(
        lookups(&effects),
        0,
        "the same interface: nothing to look up"
    );
    assert!(!effects.iter().any(|e| matches!(e, Effect::CloseSocket(_))));
}

#[test]
fn leaving_fault_after_a_rebind_is_reported_as_fault_cleared() {
    let t0 = Instant::now();
    let mut agent = running(100, t0);
    agent.handle(t0, removed(OLD));
    agent.handle(t0, link(NEW, "eth0", true));
    drain(&mut agent);
    agent.handle(t0, answer(Ok(facts(NEW))));
    let reasons: Vec<(State, TransitionReason)> = drain(&mut agent)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Event(crate::notify::record::EventRecord::Transition(t)) => {
                Some((t.to, t.reason))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![(State::Backup, TransitionReason::FaultCleared)]
    );
}

#[test]
fn an_instance_started_by_a_reload_uses_the_interface_found_then() {
    // eth0 went away with nobody following it, came back unnoticed (nobody
    // followed it), and a reload starts an instance on it again.
    let t0 = Instant::now();
    let mut agent = running(100, t0);
    agent.handle(t0, removed(OLD));
    let empty = parse_str("instances: []\n", "t.yaml").expect("valid config");
    agent.configure(
        t0,
        Setup {
            config: empty,
            facts: HashMap::new(),
            links: HashMap::new(),
        },
    );
    agent.handle(t0, link(NEW, "eth0", true));
    let config = parse_str(&yaml(100), "t.yaml").expect("valid config");
    agent.configure(
        t0,
        Setup {
            config,
            facts: [("web".to_owned(), Ok(facts(NEW)))].into_iter().collect(),
            links: HashMap::new(),
        },
    );
    assert_eq!(state(&agent), State::Backup);
}
