//! An instance whose adverts use eth1 and whose VIP lives on eth0: where its
//! address jobs point, and the Fault that losing eth0 is.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::agent::{AddressJob, Agent, Effect, Input, InstanceFacts, KernelAddress, Setup};
use crate::config::{parse_str, InterfaceName, VirtualIp};
use crate::vrrp::State;

/// eth1 carries the adverts, eth0 the VIP.
const ETH1: u32 = 3;
const ETH0: u32 = 2;
/// The index eth0 gets when it is made again.
const ETH0_NEW: u32 = 9;
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50));

fn yaml(vip: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth1\n    vrid: 51\n    \
         advert_interval: 100ms\n    virtual_ips:\n      - {vip}\n"
    )
}

fn setup(vip: &str, eth0_up: bool) -> Setup {
    let facts = InstanceFacts {
        ifindex: ETH1,
        mac: [2, 0, 0, 0, 0, 1],
        link_local: None,
        source: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)),
        carrier: true,
        vmac: None,
    };
    Setup {
        config: parse_str(&yaml(vip), "t.yaml").expect("valid config"),
        facts: [("web".to_owned(), Ok(facts))].into_iter().collect(),
        links: [("eth0".to_owned(), eth0_up)].into_iter().collect(),
    }
}

fn on_eth0() -> VirtualIp {
    VirtualIp {
        addr: VIP,
        prefix_len: 24,
        interface: InterfaceName::new("eth0").ok(),
    }
}

/// Every effect queued, address jobs reported done (the VIP present after
/// Add, Refresh and Restore, absent otherwise).
fn carry_out(agent: &mut Agent, now: Instant) -> Vec<Effect> {
    let mut effects = Vec::new();
    while let Some(effect) = agent.poll_effect() {
        if let Effect::Address { instance, seq, job } = &effect {
            let present = match job {
                AddressJob::Add | AddressJob::Refresh | AddressJob::Restore(_) => vec![on_eth0()],
                _ => Vec::new(),
            };
            agent.handle(
                now,
                Input::AddressesDone {
                    instance: *instance,
                    seq: *seq,
                    present,
                },
            );
        }
        effects.push(effect);
    }
    effects
}

fn jobs(effects: &[Effect]) -> Vec<AddressJob> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Address { job, .. } => Some(job.clone()),
            _ => None,
        })
        .collect()
}

/// Runs the timers until `web` is in `state`, at most `within` after `from`.
fn run_until(
    agent: &mut Agent,
    from: Instant,
    within: Duration,
    state: State,
) -> (Instant, Vec<Effect>) {
    let mut now = from;
    let mut effects = carry_out(agent, now);
    while agent.instances[0].router.state() != state {
        now = agent.poll_timeout().expect("a timer");
        assert!(now <= from + within, "not {state:?} within {within:?}");
        agent.handle(now, Input::Timeout);
        effects.extend(carry_out(agent, now));
    }
    (now, effects)
}

/// RFC 9568 §6.1: Master_Down_Interval = 3 × 100 ms + Skew_Time (< 100 ms);
/// 500 ms covers it.
const TAKEOVER: Duration = Duration::from_millis(500);

fn master(t0: Instant) -> (Agent, Instant, Vec<Effect>) {
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(t0, setup("{address: 192.0.2.50/24, interface: eth0}", true));
    let (now, effects) = run_until(&mut agent, t0, TAKEOVER, State::Master);
    (agent, now, effects)
}

fn link(ifindex: u32, name: &str, carrier: bool) -> Input {
    Input::Link {
        ifindex,
        name: name.into(),
        carrier,
    }
}

fn fault_reasons(agent: &Agent) -> Vec<String> {
    agent.instances[0].health.fault_reasons().to_vec()
}

#[test]
fn the_address_worker_is_told_which_interface_each_vip_lives_on() {
    let (_, _, effects) = master(Instant::now());
    let target = effects
        .iter()
        .find_map(|e| match e {
            Effect::StartInstance(target) => Some(target.clone()),
            _ => None,
        })
        .expect("a worker is started");
    assert_eq!(target.interface(), "eth1");
    assert_eq!(target.ifindex, ETH1);
    assert_eq!(target.vips(), [on_eth0()]);
    assert!(jobs(&effects).contains(&AddressJob::Add));
}

#[test]
fn carrier_loss_on_the_vip_interface_is_a_fault_and_its_return_ends_it() {
    let (mut agent, became, _) = master(Instant::now());
    let t1 = became + Duration::from_millis(50);
    agent.handle(t1, link(ETH0, "eth0", false));
    let effects = carry_out(&mut agent, t1);
    assert_eq!(agent.instances[0].router.state(), State::Fault);
    assert_eq!(
        fault_reasons(&agent),
        vec!["interface eth0 of the virtual IPs is down".to_owned()]
    );
    assert!(jobs(&effects).contains(&AddressJob::Remove), "{effects:?}");
    // The advert interface's carrier alone does not end it.
    agent.handle(t1, link(ETH1, "eth1", true));
    assert_eq!(agent.instances[0].router.state(), State::Fault);
    let t2 = t1 + Duration::from_millis(50);
    agent.handle(t2, link(ETH0, "eth0", true));
    assert!(fault_reasons(&agent).is_empty());
    assert_eq!(agent.instances[0].router.state(), State::Backup);
    // Alone on its LAN, it takes the VIP back one Master_Down_Interval later.
    let (_, effects) = run_until(&mut agent, t2, TAKEOVER, State::Master);
    assert!(jobs(&effects).contains(&AddressJob::Add));
}

#[test]
fn a_deleted_vip_interface_is_followed_by_name_when_it_comes_back() {
    let (mut agent, became, _) = master(Instant::now());
    let t1 = became + Duration::from_millis(50);
    agent.handle(
        t1,
        Input::LinkRemoved {
            ifindex: ETH0,
            name: "eth0".into(),
        },
    );
    carry_out(&mut agent, t1);
    assert_eq!(agent.instances[0].router.state(), State::Fault);
    assert_eq!(
        fault_reasons(&agent),
        vec!["interface eth0 of the virtual IPs is down".to_owned()]
    );
    // Made again under another index: no rebinding needed, the worker
    // looks the name up for each job.
    let t2 = t1 + Duration::from_millis(50);
    agent.handle(t2, link(ETH0_NEW, "eth0", true));
    let effects = carry_out(&mut agent, t2);
    assert!(fault_reasons(&agent).is_empty());
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::LookUpInterface { .. } | Effect::StartInstance(_))),
        "{effects:?}"
    );
    // Another interface deleted with the old index is not eth0 any more.
    agent.handle(
        t2,
        Input::LinkRemoved {
            ifindex: ETH0,
            name: String::new(),
        },
    );
    assert!(fault_reasons(&agent).is_empty());
}

#[test]
fn an_instance_whose_vip_interface_is_down_at_start_stays_in_fault() {
    let t0 = Instant::now();
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(
        t0,
        setup("{address: 192.0.2.50/24, interface: eth0}", false),
    );
    carry_out(&mut agent, t0);
    assert_eq!(agent.instances[0].router.state(), State::Fault);
    assert_eq!(
        fault_reasons(&agent),
        vec!["interface eth0 of the virtual IPs is down".to_owned()]
    );
}

#[test]
fn an_address_hint_counts_on_the_vip_interface_only() {
    let (mut agent, became, _) = master(Instant::now());
    let t1 = became + Duration::from_millis(10);
    // eth0's index is learned from a link report.
    agent.handle(t1, link(ETH0, "eth0", true));
    carry_out(&mut agent, t1);
    let removed = |ifindex| Input::AddressChanged {
        address: KernelAddress {
            ifindex,
            address: VIP,
        },
        present: false,
    };
    agent.handle(t1, removed(ETH1));
    let effects = carry_out(&mut agent, t1);
    assert!(!jobs(&effects).contains(&AddressJob::Verify), "{effects:?}");
    agent.handle(t1, removed(ETH0));
    let effects = carry_out(&mut agent, t1);
    assert!(jobs(&effects).contains(&AddressJob::Verify), "{effects:?}");
}

#[test]
fn a_reload_that_moves_a_vip_to_another_interface_reconfigures_the_worker() {
    let (mut agent, became, _) = master(Instant::now());
    let t1 = became + Duration::from_millis(10);
    agent.configure(t1, setup("192.0.2.50/24", true));
    let effects = carry_out(&mut agent, t1);
    assert_eq!(agent.instances[0].router.state(), State::Master);
    let moved = VirtualIp {
        interface: None,
        ..on_eth0()
    };
    assert!(
        jobs(&effects)
            .iter()
            .any(|j| matches!(j, AddressJob::Reconfigure(c) if *c.virtual_ips == [moved])),
        "{effects:?}"
    );
    // Nothing is followed on eth0 any more: its carrier no longer matters.
    agent.handle(t1, link(ETH0, "eth0", false));
    assert_eq!(agent.instances[0].router.state(), State::Master);
}
