use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::config::parse_str;

const US: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
const GROUP: IpAddr = IpAddr::V4(crate::wire::VRRP_GROUP_V4);

/// One IPv4 instance on eth0 with the given extra lines.
fn instance(extra: &str) -> config::Instance {
    let text = format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.50/24]\n{extra}"
    );
    match parse_str(&text, "config.yaml") {
        Ok(config) => (*config.instances[0]).clone(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn adverts_go_to_each_peer_but_this_host_or_to_the_group() {
    let multicast = instance("");
    assert_eq!(destinations(&multicast, US).collect::<Vec<_>>(), [GROUP]);
    assert_eq!(advert_source(&multicast, US), US);
    // One list shared by every router: our own address is skipped.
    let shared = instance("    unicast_peers: [192.0.2.11, 192.0.2.12, 192.0.2.13]\n");
    let third = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 13));
    assert_eq!(destinations(&shared, US).collect::<Vec<_>>(), [PEER, third]);
    let sourced = instance("    unicast_peers: [192.0.2.12]\n    unicast_source: 192.0.2.99\n");
    assert_eq!(
        advert_source(&sourced, US),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99))
    );
}

#[test]
fn any_ttl_only_for_adverts_a_unicast_instance_receives_at_its_address() {
    let multicast = instance("");
    let unicast = instance("    unicast_peers: [192.0.2.12]\n");
    assert!(hop_limit_acceptable(&unicast, US, Some(255)));
    assert!(hop_limit_acceptable(&unicast, US, Some(63)));
    assert!(hop_limit_acceptable(&unicast, US, None));
    // Sent to the group, an advert must not have been routed, whoever we are.
    assert!(!hop_limit_acceptable(&unicast, GROUP, Some(254)));
    // A multicast instance keeps RFC 9568 §7.1 for everything.
    assert!(!hop_limit_acceptable(&multicast, US, Some(63)));
    assert!(hop_limit_acceptable(&multicast, GROUP, Some(255)));
}

#[test]
fn a_unicast_source_off_the_interface_is_a_fault_until_it_appears() {
    let config = instance("    unicast_peers: [192.0.2.12]\n    unicast_source: 192.0.2.99\n");
    let source = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99));
    let watched = watched_sources(std::iter::once(&config));
    let mut host = HostAddresses::default();
    let reason = host.source_fault(&config, 2).unwrap_or_default();
    assert!(reason.contains("not read yet"), "{reason}");
    // On another interface it does not count.
    let elsewhere = KernelAddress {
        ifindex: 3,
        address: source,
    };
    assert!(host.on_snapshot(&[elsewhere], &watched));
    let reason = host.source_fault(&config, 2).unwrap_or_default();
    assert_eq!(
        reason,
        "unicast_source 192.0.2.99 is not on eth0; no advert is sent until it is"
    );
    let here = KernelAddress {
        ifindex: 2,
        address: source,
    };
    assert!(host.on_change(here, true));
    assert_eq!(host.source_fault(&config, 2), None);
    // The kernel's echo of an address already there changes nothing.
    assert!(!host.on_change(here, true));
    // Other addresses come and go without a reassessment.
    let vip = KernelAddress {
        ifindex: 2,
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50)),
    };
    assert!(host.on_change(vip, true) && !watched.contains(&vip.address));
    assert!(!host.on_snapshot(&[elsewhere, here], &watched));
    assert!(host.on_snapshot(&[vip], &watched));
    assert!(host.source_fault(&config, 2).is_some());
    // Without unicast_source there is nothing to wait for.
    assert_eq!(host.source_fault(&instance(""), 2), None);
}
