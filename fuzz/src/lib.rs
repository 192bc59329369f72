//! What the fuzz targets share: configurations for an agent under test, the
//! interface facts a daemon would have looked up for them, and a way to read
//! the agent's effects.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, OnceLock};

use twinstar::agent::{Agent, Effect, InstanceFacts, Setup, VirtualMacFacts};
use twinstar::config::parse_str;

/// This host's IPv4 address on eth0 (ifindex 2).
pub const US_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
/// This host's link-local address on eth1 (ifindex 3).
pub const US_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x10);

/// Two IPv4 instances in a sync group with checks, weights and every kind of
/// hook, and one IPv6 instance on another interface.
pub const CONFIG_A: &str = "\
checks:
  - name: svc
    script: 'true'
  - name: uplink
    interface: eth0
instances:
  - name: web
    interface: eth0
    vrid: 1
    priority: 150
    advert_interval: 100ms
    virtual_ips: [192.0.2.51/24, 192.0.2.61/24]
    track:
      - check: svc
        weight: -60
      - check: uplink
        weight: 0
    hooks:
      before_master: {command: bm, timeout: 1s}
      on_master: om
      on_backup: ob
      on_change: oc
  - name: db
    interface: eth0
    vrid: 2
    priority: 100
    preempt_delay: 300ms
    advert_interval: 200ms
    virtual_ips: [192.0.2.52/24]
  - name: v6
    interface: eth1
    vrid: 3
    priority: 255
    advert_interval: 100ms
    virtual_ips: [2001:db8::53/64]
    hooks:
      on_stop: os
sync_groups:
  - name: pair
    instances: [web, db]
    hooks:
      on_change: {command: g, timeout: 1s}
";

/// CONFIG_A changed as a reload would: `web` reconfigured in place, `db`
/// removed, `v6` kept, `new` added.
pub const CONFIG_B: &str = "\
checks:
  - name: svc
    script: 'true'
instances:
  - name: web
    interface: eth0
    vrid: 1
    priority: 90
    preempt: false
    advert_interval: 100ms
    virtual_ips: [192.0.2.51/24]
    track:
      - check: svc
        weight: 0
    hooks:
      on_change: oc
  - name: v6
    interface: eth1
    vrid: 3
    priority: 255
    advert_interval: 100ms
    virtual_ips: [2001:db8::53/64]
  - name: new
    interface: eth0
    vrid: 4
    priority: 200
    advert_interval: 1s
    virtual_ips: [192.0.2.54/24]
    hooks:
      before_master: bm
";

/// CONFIG_A under the split-brain guard, as a reload would bring it: a
/// quorum lease (`keep`, so an unreachable store also grants), a fence hook
/// and a heartbeat link on `web`, `db` gone.
pub const CONFIG_Q: &str = "\
quorum:
  etcd:
    endpoints: [http://198.51.100.13:2379]
    prefix: /twinstar/fuzz
    lease_ttl: 1s
  on_loss: keep
node_id: fuzz
instances:
  - name: web
    interface: eth0
    vrid: 1
    priority: 150
    advert_interval: 100ms
    virtual_ips: [192.0.2.51/24, {address: 192.0.2.61/24, interface: eth1}]
    heartbeat: [eth1]
    hooks:
      fence: {command: fence, timeout: 1s}
      on_master: om
  - name: v6
    interface: eth1
    vrid: 3
    priority: 255
    advert_interval: 100ms
    virtual_ips: [2001:db8::53/64]
";

/// A configuration with what keepalived users bring: VRRPv2, both versions
/// at once, unicast peers, a virtual MAC and Accept_Mode off.
pub const CONFIG_I: &str = "\
instances:
  - name: web
    interface: eth0
    vrid: 1
    priority: 150
    advert_interval: 1s
    version: both
    accept: false
    vmac: true
    virtual_ips: [192.0.2.51/24]
  - name: old
    interface: eth0
    vrid: 2
    priority: 100
    advert_interval: 1s
    version: 2
    unicast_peers: [192.0.2.10, 192.0.2.12]
    virtual_ips: [192.0.2.52/24]
  - name: v6
    interface: eth1
    vrid: 3
    priority: 90
    advert_interval: 100ms
    unicast_peers: [fe80::12]
    virtual_ips: [2001:db8::53/64]
";

/// The setup of `CONFIG_A`, `CONFIG_B`, `CONFIG_Q` or `CONFIG_I`, parsed once per process: parsing
/// dominates a short run, and the loader has a target of its own.
pub fn setup(text: &'static str) -> Setup {
    static PARSED: OnceLock<Mutex<HashMap<&'static str, Setup>>> = OnceLock::new();
    let mut parsed = PARSED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    parsed.entry(text).or_insert_with(|| parse(text)).clone()
}

/// The facts the daemon would have found: eth0 (index 2) with `US_V4`, eth1
/// (index 3) with `US_V6`, both up.
fn parse(text: &str) -> Setup {
    let config = parse_str(text, "fuzz.yaml").expect("the fuzz configurations are valid");
    let facts = config
        .instances
        .iter()
        .map(|instance| {
            let v6 = instance.interface == "eth1";
            let facts = InstanceFacts {
                ifindex: if v6 { 3 } else { 2 },
                mac: [2, 0, 0, 0, 0, if v6 { 3 } else { 2 }],
                link_local: Some(US_V6),
                source: if v6 { IpAddr::V6(US_V6) } else { US_V4 },
                carrier: true,
                // A virtual MAC, when configured, at an index of its own.
                vmac: instance.vmac.as_ref().map(|name| {
                    Box::new(VirtualMacFacts {
                        interface: name.clone(),
                        ifindex: 100 + u32::from(instance.vrid),
                        mac: instance.virtual_mac(),
                    })
                }),
            };
            (instance.name.clone(), Ok(facts))
        })
        .collect();
    let links: HashMap<String, bool> = [("eth0".to_owned(), true), ("eth1".to_owned(), true)]
        .into_iter()
        .collect();
    Setup {
        config,
        facts,
        links,
    }
}

/// Every effect the agent has queued.
pub fn drain(agent: &mut Agent) -> Vec<Effect> {
    std::iter::from_fn(|| agent.poll_effect()).collect()
}
