//! Instances with a virtual MAC (`vmac`): the VIPs and announcements go to
//! the macvlan the daemon reported, the adverts leave through it, adverts
//! are still received on the interface below, and a macvlan deleted under a
//! running instance is looked up (made) again and the instance rebound.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use crate::agent::tests::drain;
use crate::agent::{
    AddressTarget, Agent, Effect, Input, InstanceFacts, Setup, SocketKey, VirtualMacFacts,
};
use crate::config::parse_str;
use crate::vrrp::State;

const US: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const ETH0: u32 = 2;
const VIRTUAL_MAC: [u8; 6] = [0, 0, 0x5e, 0, 1, 1];

fn facts(vmac_index: u32) -> InstanceFacts {
    InstanceFacts {
        ifindex: ETH0,
        mac: [2, 0, 0, 0, 0, 2],
        link_local: None,
        source: US,
        carrier: true,
        vmac: Some(Box::new(VirtualMacFacts {
            interface: "vrrp.1".into(),
            ifindex: vmac_index,
            mac: VIRTUAL_MAC,
        })),
    }
}

fn key(ifindex: u32) -> SocketKey {
    SocketKey {
        ifindex,
        ipv6: false,
    }
}

/// An agent running `web` (priority 255: Master at once) with its macvlan
/// at `vmac_index`, and the effects of starting it.
fn running(t0: Instant, vmac_index: u32) -> (Agent, Vec<Effect>) {
    running_with(t0, vmac_index, "")
}

/// [`running`] with `extra` lines in the instance.
fn running_with(t0: Instant, vmac_index: u32, extra: &str) -> (Agent, Vec<Effect>) {
    let yaml = format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 1\n    priority: 255\n    \
         advert_interval: 100ms\n    vmac: true\n    virtual_ips: [192.0.2.50/24]\n{extra}"
    );
    let config = parse_str(&yaml, "t.yaml").expect("valid config");
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(
        t0,
        Setup {
            config,
            facts: [("web".to_owned(), Ok(facts(vmac_index)))]
                .into_iter()
                .collect(),
            links: HashMap::new(),
        },
    );
    let effects = drain(&mut agent);
    (agent, effects)
}

fn targets(effects: &[Effect]) -> Vec<&AddressTarget> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::StartInstance(target) => Some(&**target),
            _ => None,
        })
        .collect()
}

fn advert_sockets(effects: &[Effect]) -> Vec<SocketKey> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendAdvert { socket, .. } => Some(*socket),
            _ => None,
        })
        .collect()
}

#[test]
fn the_vips_live_on_the_macvlan_and_the_adverts_leave_through_it() {
    let t0 = Instant::now();
    let (agent, effects) = running(t0, 20);
    assert_eq!(agent.instances[0].router.state(), State::Master);
    let started = targets(&effects);
    assert_eq!(started.len(), 1, "{effects:?}");
    assert_eq!(started[0].interface(), "vrrp.1");
    assert_eq!(started[0].ifindex, 20);
    assert_eq!(started[0].mac, VIRTUAL_MAC);
    assert_eq!(started[0].vmac_below(), Some("eth0"));
    let sent = advert_sockets(&effects);
    assert!(!sent.is_empty(), "{effects:?}");
    assert!(sent.iter().all(|s| *s == key(20)), "{sent:?}");
    // Adverts are still received on the interface below.
    assert_eq!(agent.by_vrid.get(&(key(ETH0), 1)), Some(&0));
}

#[test]
fn a_deleted_macvlan_is_made_again_and_the_instance_rebound_to_it() {
    let t0 = Instant::now();
    let (mut agent, _) = running(t0, 20);
    agent.handle(
        t0,
        Input::LinkRemoved {
            ifindex: 20,
            name: "vrrp.1".into(),
        },
    );
    let effects = drain(&mut agent);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::LookUpInterface { interface } if interface == "eth0")),
        "{effects:?}"
    );
    agent.handle(
        t0,
        Input::InterfaceFacts {
            interface: "eth0".into(),
            facts: [("web".to_owned(), Ok(facts(21)))].into_iter().collect(),
        },
    );
    let effects = drain(&mut agent);
    let started = targets(&effects);
    assert_eq!(started.len(), 1, "{effects:?}");
    assert_eq!(started[0].ifindex, 21);
    assert!(
        effects.contains(&Effect::CloseSocket(key(20))),
        "the old macvlan's socket stays open: {effects:?}"
    );
    assert!(
        !effects.contains(&Effect::CloseSocket(key(ETH0))),
        "{effects:?}"
    );
    agent.handle(t0 + std::time::Duration::from_secs(1), Input::Timeout);
    let sent = advert_sockets(&drain(&mut agent));
    assert!(
        !sent.is_empty() && sent.iter().all(|s| *s == key(21)),
        "{sent:?}"
    );
}

#[test]
fn unicast_adverts_leave_through_the_interface_not_the_macvlan() {
    let t0 = Instant::now();
    let (_, effects) = running_with(t0, 20, "    unicast_peers: [192.0.2.11]\n");
    let sent = advert_sockets(&effects);
    assert!(
        !sent.is_empty() && sent.iter().all(|s| *s == key(ETH0)),
        "{sent:?}"
    );
    // The announcements still come from the virtual MAC.
    assert_eq!(targets(&effects)[0].mac, VIRTUAL_MAC);
}
