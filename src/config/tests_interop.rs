//! Tests of `version`, `unicast_peers`, `unicast_source` and `vmac`.

use std::net::IpAddr;

use super::tests::errors;
use super::*;

/// A one-instance file with the given extra instance lines and VIP.
fn instance(vip: &str, extra: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [{vip}]\n{extra}"
    )
}

fn parsed(text: &str) -> Instance {
    match parse_str(text, "config.yaml") {
        Ok(config) => (*config.instances[0]).clone(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn version_reads_three_two_and_both() {
    for (value, want) in [
        ("3", VrrpVersion::V3),
        ("2", VrrpVersion::V2),
        ("both", VrrpVersion::Both),
    ] {
        let text = instance("192.0.2.50/24", &format!("    version: {value}\n"));
        assert_eq!(parsed(&text).version, want, "{value}");
    }
}

#[test]
fn version_two_needs_ipv4_and_whole_seconds() {
    assert_eq!(
        errors(&instance("2001:db8::50/64", "    version: 2\n")),
        ["6:14: version 2 needs IPv4: VRRPv2 (RFC 3768) has no IPv6; use version 3 here"]
    );
    assert_eq!(
        errors(&instance(
            "192.0.2.50/24",
            "    advert_interval: 100ms\n    version: both\n"
        )),
        [
            "7:14: version both carries advert_interval in whole seconds (1s..=40s), but \
          advert_interval is 100ms; set advert_interval to whole seconds"
        ]
    );
    assert_eq!(
        errors(&instance("192.0.2.50/24", "    version: 4\n")),
        [
            "6:14: version must be 3 (VRRPv3), 2 (VRRPv2, keepalived's default) or `both` (send \
          both and accept both, to migrate a VRRPv2 pair), found 4"
        ]
    );
}

#[test]
fn unicast_peers_become_the_accepted_sources() {
    let web = parsed(&instance(
        "192.0.2.50/24",
        "    unicast_peers: [192.0.2.12, 198.51.100.7]\n    unicast_source: 192.0.2.11\n",
    ));
    let peers: Vec<IpAddr> = vec![
        "192.0.2.12".parse().unwrap(),
        "198.51.100.7".parse().unwrap(),
    ];
    assert_eq!(*web.unicast_peers, peers);
    assert_eq!(web.peers.as_deref(), Some(&peers[..]));
    assert_eq!(web.unicast_source, Some("192.0.2.11".parse().unwrap()));
    // IPv6 unicast peers may be global (from a global source).
    let web6 = parsed(&instance(
        "2001:db8::50/64",
        "    unicast_peers: [2001:db8::12]\n    unicast_source: 2001:db8::11\n",
    ));
    assert_eq!(
        *web6.unicast_peers,
        ["2001:db8::12".parse::<IpAddr>().unwrap()]
    );
}

#[test]
fn unicast_mistakes_are_each_reported() {
    assert_eq!(
        errors(&instance(
            "192.0.2.50/24",
            "    unicast_peers: [192.0.2.12, 2001:db8::1, 224.0.0.18, 192.0.2.12]\n"
        )),
        [
            "6:33: unicast_peers: 2001:db8::1 is IPv6 but this instance serves IPv4",
            "6:46: unicast_peers: 224.0.0.18 is a group address; list each router's own address",
            "6:58: unicast peer 192.0.2.12 is listed twice",
        ]
    );
    assert_eq!(
        errors(&instance(
            "192.0.2.50/24",
            "    unicast_source: 192.0.2.11\n"
        )),
        ["6:21: unicast_source applies only with unicast_peers; add the peers or remove it"]
    );
    assert_eq!(
        errors(&instance(
            "192.0.2.50/24",
            "    unicast_peers: [192.0.2.12]\n    peers: [192.0.2.12]\n"
        )),
        [
            "7:12: unicast_peers already names the only routers adverts are accepted from; \
          remove peers here"
        ]
    );
    assert_eq!(
        errors(&instance(
            "192.0.2.50/24",
            "    unicast_peers: [192.0.2.12]\n    heartbeat: [eth1]\n"
        )),
        [
            "7:16: heartbeat links send to the multicast group, which unicast_peers replaces; \
          remove heartbeat, or remove unicast_peers to use multicast"
        ]
    );
}

#[test]
fn global_ipv6_peers_need_a_unicast_source_and_link_local_ones_do_not() {
    let vip = "2001:db8::50/64";
    assert_eq!(
        errors(&instance(
            vip,
            "    unicast_peers: [fe80::12, 2001:db8::12]\n"
        )),
        [
            "6:20: unicast peer 2001:db8::12 is a global IPv6 address, so the peers must know \
          this host by a global one too: set unicast_source to this host's address on the \
          interface (adverts would leave from its link-local otherwise)"
        ]
    );
    let global = parsed(&instance(
        vip,
        "    unicast_peers: [2001:db8::12]\n    unicast_source: 2001:db8::11\n",
    ));
    assert_eq!(global.unicast_source, Some("2001:db8::11".parse().unwrap()));
    let on_link = parsed(&instance(vip, "    unicast_peers: [fe80::12]\n"));
    assert_eq!(on_link.unicast_source, None);
}

#[test]
fn vmac_takes_a_default_name_per_family_or_the_given_one() {
    assert_eq!(
        parsed(&instance("192.0.2.50/24", "    vmac: true\n"))
            .vmac
            .as_deref(),
        Some("vrrp.51")
    );
    assert_eq!(
        parsed(&instance("2001:db8::50/64", "    vmac: true\n"))
            .vmac
            .as_deref(),
        Some("vrrp6.51")
    );
    assert_eq!(
        parsed(&instance("192.0.2.50/24", "    vmac: vmac-web\n"))
            .vmac
            .as_deref(),
        Some("vmac-web")
    );
    assert_eq!(
        parsed(&instance("192.0.2.50/24", "    vmac: false\n")).vmac,
        None
    );
    assert_eq!(
        errors(&instance("192.0.2.50/24", "    vmac: 3\n")),
        [
            "6:11: vmac must be true, false or the name of the interface to create (such as \
          vrrp.51), found an integer"
        ]
    );
}

#[test]
fn the_virtual_mac_is_per_family_and_vrid_and_carries_the_vips() {
    let v4 = parsed(&instance("192.0.2.50/24", "    vmac: true\n"));
    assert_eq!(v4.virtual_mac(), [0x00, 0x00, 0x5e, 0x00, 0x01, 51]);
    assert_eq!(v4.vip_interface(&v4.virtual_ips[0]), "vrrp.51");
    let v6 = parsed(&instance("2001:db8::50/64", "    vmac: true\n"));
    assert_eq!(v6.virtual_mac(), [0x00, 0x00, 0x5e, 0x00, 0x02, 51]);
    assert_eq!(v6.vip_interface(&v6.virtual_ips[0]), "vrrp6.51");
    let plain = parsed(&instance("192.0.2.50/24", ""));
    assert_eq!(plain.vip_interface(&plain.virtual_ips[0]), "eth0");
}
