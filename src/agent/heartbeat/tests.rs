//! Heartbeat links in a whole agent: lookup, adverts sent on every link,
//! adverts heard on any link keep a Backup, and no Master change is counted
//! when one Master is heard on two links.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::super::*;
use crate::agent::tests::{drain, run_until};
use crate::config::parse_str;
use crate::vrrp::State;
use crate::wire::vrrp::{Addresses, Advertisement, ChecksumForm, Packet};
use crate::wire::VRRP_GROUP_V4;

const US: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const US_ON_ETH1: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
const PEER_ON_ETH1: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 11));
const INTERVAL: Duration = Duration::from_millis(100);
const ETH0: SocketKey = SocketKey {
    ifindex: 2,
    ipv6: false,
};
const ETH1: SocketKey = SocketKey {
    ifindex: 3,
    ipv6: false,
};

/// RFC 9568 §6.1: Master_Down_Interval = 3 × Master_Adver_Interval +
/// Skew_Time, Skew_Time = (256 - priority) × Master_Adver_Interval / 256.
fn master_down_interval(priority: u8) -> Duration {
    3 * INTERVAL + INTERVAL * (256 - u32::from(priority)) / 256
}

fn config(priority: u8, heartbeat: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    \
         advert_interval: 100ms\n    virtual_ips: [192.0.2.50/24]\n{heartbeat}"
    )
}

fn setup(text: &str) -> Setup {
    let config = parse_str(text, "t.yaml").expect("valid config");
    let facts = config
        .instances
        .iter()
        .map(|i| {
            let facts = InstanceFacts {
                ifindex: ETH0.ifindex,
                mac: [2, 0, 0, 0, 0, 1],
                link_local: None,
                source: US,
                carrier: true,
                vmac: None,
            };
            (i.name.clone(), Ok(facts))
        })
        .collect();
    Setup {
        config,
        facts,
        links: Default::default(),
    }
}

fn eth1_facts(ifindex: u32) -> Input {
    Input::HeartbeatFacts {
        interface: "eth1".into(),
        ipv6: false,
        facts: Ok(LinkFacts {
            ifindex,
            source: US_ON_ETH1,
            carrier: true,
        }),
    }
}

/// An agent running `web` with priority `priority` and heartbeat link eth1
/// bound at index 3; returns it with the effects of starting.
fn running(priority: u8, t0: Instant) -> (Agent, Vec<Effect>) {
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(t0, setup(&config(priority, "    heartbeat: [eth1]\n")));
    let mut effects = drain(&mut agent);
    assert!(effects.contains(&Effect::LookUpHeartbeat {
        interface: "eth1".into(),
        ipv6: false
    }));
    agent.handle(t0, eth1_facts(ETH1.ifindex));
    effects.extend(drain(&mut agent));
    (agent, effects)
}

fn advert(socket: SocketKey, source: IpAddr, priority: u8) -> Input {
    let vip = Ipv4Addr::new(192, 0, 2, 50);
    let bytes = Advertisement::new(51, priority, INTERVAL, Addresses::V4(vec![vip]))
        .expect("valid advert")
        .to_bytes(
            source,
            IpAddr::V4(VRRP_GROUP_V4),
            ChecksumForm::PseudoHeader,
        )
        .expect("emits");
    Input::Datagram(Datagram {
        socket,
        source,
        destination: IpAddr::V4(VRRP_GROUP_V4),
        hop_limit: Some(255),
        payload: Ok(bytes.into()),
    })
}

fn state(agent: &Agent) -> State {
    agent.status(Instant::now()).instances[0].state
}

fn sent_on(effects: &[Effect], socket: SocketKey) -> Vec<Arc<[u8]>> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendAdvert {
                socket: s, packet, ..
            } if *s == socket => Some(packet.clone()),
            _ => None,
        })
        .collect()
}

fn master_changes(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::MasterChanged { .. }))
        .count()
}

use std::sync::Arc;

#[test]
fn a_master_sends_each_advert_on_every_link_from_its_address_there() {
    let t0 = Instant::now();
    let (mut agent, _) = running(150, t0);
    let effects = run_until(&mut agent, t0 + master_down_interval(150) + 5 * INTERVAL);
    assert_eq!(state(&agent), State::Master);
    let on_eth0 = sent_on(&effects, ETH0);
    let on_eth1 = sent_on(&effects, ETH1);
    assert!(on_eth0.len() >= 5, "adverts on eth0: {}", on_eth0.len());
    assert_eq!(on_eth0.len(), on_eth1.len(), "every advert on both links");
    // Each is an ordinary advert from our address on its link: the checksum
    // covers that source, so it parses only with it.
    let parse = |bytes: &[u8], source| {
        let packet = Packet::new_checked(bytes).expect("long enough");
        Advertisement::parse(&packet, source, IpAddr::V4(VRRP_GROUP_V4)).map(|(a, _)| a)
    };
    let advert = parse(&on_eth1[0], US_ON_ETH1).expect("valid from our eth1 address");
    assert_eq!((advert.vrid(), advert.priority()), (51, 150));
    assert!(parse(&on_eth1[0], US).is_err(), "not the eth0 source");
    assert!(parse(&on_eth0[0], US).is_ok());
}

#[test]
fn adverts_on_either_link_keep_a_backup_and_name_one_master() {
    let t0 = Instant::now();
    let (mut agent, _) = running(100, t0);
    let mut effects = Vec::new();
    let mut now = t0;
    // Ten Master_Down_Intervals: first both links, then eth1 alone, then
    // eth0 alone; the peer's adverts every interval.
    let steps = 10 * master_down_interval(100).as_millis() / INTERVAL.as_millis();
    for step in 0..steps {
        now += INTERVAL;
        effects.extend(run_until(&mut agent, now));
        if step < steps / 3 || step >= 2 * steps / 3 {
            agent.handle(now, advert(ETH0, PEER, 200));
        }
        if step < 2 * steps / 3 {
            agent.handle(now, advert(ETH1, PEER_ON_ETH1, 200));
        }
        effects.extend(drain(&mut agent));
        assert_eq!(state(&agent), State::Backup, "step {step}");
    }
    assert_eq!(
        master_changes(&effects),
        1,
        "one Master, heard on two links"
    );
    let status = agent.status(now);
    let master = status.instances[0].master.as_ref().expect("a Master");
    assert_eq!(master.address, PEER, "named by its interface address");
    let link = &status.instances[0].heartbeat[0];
    assert_eq!(link.interface, "eth1");
    assert_eq!(link.source, Some(US_ON_ETH1));
    assert!(link.last_advert_ms_ago.is_some_and(|ago| ago >= 3 * 100));
    // Then every link goes silent: Master at Master_Down_Interval.
    let last = now;
    let effects = run_until(
        &mut agent,
        last + master_down_interval(100) - Duration::from_millis(1),
    );
    assert_eq!(state(&agent), State::Backup);
    drop(effects);
    run_until(&mut agent, last + master_down_interval(100));
    assert_eq!(state(&agent), State::Master);
}

#[test]
fn a_send_failure_on_a_heartbeat_link_is_counted_on_that_link() {
    let t0 = Instant::now();
    let (mut agent, _) = running(150, t0);
    let id = InstanceId(1);
    let failed = |socket| Input::SendFailed {
        instance: id,
        socket,
        error: "Network is down".into(),
    };
    agent.handle(t0, failed(ETH1));
    agent.handle(t0, failed(ETH1));
    agent.handle(t0, failed(ETH0));
    let status = agent.status(t0);
    assert_eq!(status.instances[0].heartbeat[0].send_errors, 2);
    assert_eq!(status.instances[0].counters.send_errors, 1);
}

#[test]
fn a_heartbeat_link_deleted_and_made_again_is_no_fault_and_is_bound_again() {
    let t0 = Instant::now();
    let (mut agent, _) = running(150, t0);
    run_until(&mut agent, t0 + master_down_interval(150));
    assert_eq!(state(&agent), State::Master);
    agent.handle(
        t0,
        Input::Link {
            ifindex: ETH1.ifindex,
            name: "eth1".into(),
            carrier: false,
        },
    );
    agent.handle(
        t0,
        Input::LinkRemoved {
            ifindex: ETH1.ifindex,
            name: "eth1".into(),
        },
    );
    let effects = drain(&mut agent);
    assert_eq!(
        state(&agent),
        State::Master,
        "a heartbeat link is never a Fault"
    );
    assert!(effects.contains(&Effect::CloseSocket(ETH1)));
    assert_eq!(agent.status(t0).instances[0].heartbeat[0].source, None);
    // The link comes back under another index: looked up, bound, used.
    agent.handle(
        t0,
        Input::Link {
            ifindex: 7,
            name: "eth1".into(),
            carrier: true,
        },
    );
    let effects = drain(&mut agent);
    assert!(effects.contains(&Effect::LookUpHeartbeat {
        interface: "eth1".into(),
        ipv6: false
    }));
    agent.handle(t0, eth1_facts(7));
    let later = t0 + master_down_interval(150) + 3 * INTERVAL;
    let effects = run_until(&mut agent, later);
    let relinked = SocketKey {
        ifindex: 7,
        ipv6: false,
    };
    assert!(!sent_on(&effects, relinked).is_empty());
    assert_eq!(state(&agent), State::Master);
}

#[test]
fn a_failed_lookup_is_retried_and_the_instance_runs_meanwhile() {
    let t0 = Instant::now();
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(t0, setup(&config(150, "    heartbeat: [eth1]\n")));
    drain(&mut agent);
    agent.handle(
        t0,
        Input::HeartbeatFacts {
            interface: "eth1".into(),
            ipv6: false,
            facts: Err("heartbeat link eth1 has no IPv4 address".into()),
        },
    );
    drain(&mut agent);
    let effects = run_until(&mut agent, t0 + links::LOOKUP_RETRY);
    assert!(effects.contains(&Effect::LookUpHeartbeat {
        interface: "eth1".into(),
        ipv6: false
    }));
    assert_eq!(state(&agent), State::Master, "runs on its interface");
}

#[test]
fn a_reload_that_adds_or_removes_a_heartbeat_link_keeps_the_master() {
    let t0 = Instant::now();
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(t0, setup(&config(150, "")));
    drain(&mut agent);
    let t1 = t0 + master_down_interval(150);
    run_until(&mut agent, t1);
    assert_eq!(state(&agent), State::Master);
    let transitions = |effects: &[Effect]| {
        effects
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Effect::Event(crate::notify::record::EventRecord::Transition(_))
                )
            })
            .count()
    };
    let summary = agent.configure(t1, setup(&config(150, "    heartbeat: [eth1]\n")));
    assert_eq!(summary.reconfigured, 1);
    let effects = drain(&mut agent);
    assert_eq!(transitions(&effects), 0);
    assert!(effects.contains(&Effect::LookUpHeartbeat {
        interface: "eth1".into(),
        ipv6: false
    }));
    agent.handle(t1, eth1_facts(ETH1.ifindex));
    let effects = run_until(&mut agent, t1 + 2 * INTERVAL);
    assert!(!sent_on(&effects, ETH1).is_empty());
    let summary = agent.configure(t1, setup(&config(150, "")));
    assert_eq!(summary.reconfigured, 1);
    let effects = drain(&mut agent);
    assert_eq!(transitions(&effects), 0);
    assert!(effects.contains(&Effect::CloseSocket(ETH1)));
    let effects = run_until(&mut agent, t1 + 5 * INTERVAL);
    assert!(sent_on(&effects, ETH1).is_empty());
    assert_eq!(state(&agent), State::Master);
}

#[test]
fn an_ipv6_instance_looks_up_and_speaks_from_the_link_local_address_of_its_link() {
    use crate::wire::VRRP_GROUP_V6;
    use std::net::Ipv6Addr;
    let t0 = Instant::now();
    let text = "instances:\n  - name: web6\n    interface: eth0\n    vrid: 51\n    priority: 150\n    \
                advert_interval: 100ms\n    virtual_ips: [2001:db8::50/64]\n    heartbeat: [eth1]\n";
    let mut setup = setup(text);
    let us6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 10));
    let us6_on_eth1 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 1, 10));
    for facts in setup.facts.values_mut().flatten() {
        facts.source = us6;
    }
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(t0, setup);
    let effects = drain(&mut agent);
    assert!(effects.contains(&Effect::LookUpHeartbeat {
        interface: "eth1".into(),
        ipv6: true
    }));
    agent.handle(
        t0,
        Input::HeartbeatFacts {
            interface: "eth1".into(),
            ipv6: true,
            facts: Ok(LinkFacts {
                ifindex: ETH1.ifindex,
                source: us6_on_eth1,
                carrier: true,
            }),
        },
    );
    let effects = run_until(&mut agent, t0 + master_down_interval(150) + 2 * INTERVAL);
    let eth1_v6 = SocketKey {
        ifindex: ETH1.ifindex,
        ipv6: true,
    };
    let sent = sent_on(&effects, eth1_v6);
    assert!(!sent.is_empty(), "adverts on eth1");
    let packet = Packet::new_checked(&sent[0][..]).expect("long enough");
    let (advert, _) = Advertisement::parse(&packet, us6_on_eth1, IpAddr::V6(VRRP_GROUP_V6))
        .expect("valid from our link-local address on eth1");
    assert_eq!(advert.vrid(), 51);
}
