//! Tests of the whole reading path: YAML text in, `Config` or located errors out.

use std::net::IpAddr;
use std::num::NonZeroU8;
use std::time::Duration;

use super::*;

const GOOD: &str = "\
instances:
  - name: web
    interface: eth0
    vrid: 51
    priority: 150
    advert_interval: 100ms
    preempt: false
    preempt_delay: 30s
    accept: true
    ipv4_checksum: rfc9568
    garp: { count: 3, interval: 1s, refresh: 1m }
    virtual_ips:
      - 192.0.2.50/24
      - 192.0.2.51/24
  - name: web6
    interface: eth0
    vrid: 51
    virtual_ips: [2001:db8::50/64]
";

/// Errors as `line:col: message`, for exact comparison.
pub(super) fn errors(text: &str) -> Vec<String> {
    match parse_str(text, "config.yaml") {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(ConfigErrors(errs)) => errs
            .iter()
            .map(|e| {
                assert_eq!(e.file, "config.yaml");
                format!("{}:{}: {}", e.line, e.col, e.message)
            })
            .collect(),
    }
}

/// A one-instance file with `extra` lines (already indented) added to the instance.
fn with(extra: &str) -> String {
    format!("instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.50/24]\n{extra}")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn good_config_reads_every_key() {
    let config = parse_str(GOOD, "config.yaml").unwrap();
    let web = &config.instances[0];
    assert_eq!(
        **web,
        Instance {
            name: "web".into(),
            interface: "eth0".into(),
            vrid: 51,
            priority: NonZeroU8::new(150).unwrap(),
            advert_interval: Duration::from_millis(100),
            preempt: false,
            preempt_delay: Duration::from_secs(30),
            accept: true,
            virtual_ips: vec![
                VirtualIp {
                    addr: ip("192.0.2.50"),
                    prefix_len: 24,
                    interface: None,
                },
                VirtualIp {
                    addr: ip("192.0.2.51"),
                    prefix_len: 24,
                    interface: None,
                },
            ]
            .into(),
            ipv4_checksum: Ipv4Checksum::Rfc9568,
            garp: Garp {
                count: 3,
                interval: Duration::from_secs(1),
                refresh: Some(Duration::from_secs(60)),
            },
            track: Box::default(),
            hooks: Hooks::shared(Hooks::default()),
            vip_lifetime: VipLifetime::Derived,
            peers: None,
            heartbeat: Box::default(),
            version: crate::config::VrrpVersion::V3,
            unicast_peers: Box::default(),
            unicast_source: None,
            vmac: None,
        }
    );
    assert_eq!(web.address_family(), AddressFamily::Ipv4);
    assert_eq!(config.instances[1].address_family(), AddressFamily::Ipv6);
    // Reading twice gives equal configs: reload compares them.
    assert_eq!(parse_str(GOOD, "other.yaml").unwrap(), config);
}

#[test]
fn omitted_keys_take_their_defaults() {
    let config = parse_str(&with(""), "config.yaml").unwrap();
    let web = &config.instances[0];
    assert_eq!(web.priority, defaults::PRIORITY);
    assert_eq!(web.priority.get(), 100);
    assert_eq!(web.advert_interval, Duration::from_secs(1));
    assert!(web.preempt);
    assert_eq!(web.preempt_delay, Duration::ZERO);
    assert!(web.accept);
    assert_eq!(web.version, crate::config::VrrpVersion::V3);
    assert!(web.unicast_peers.is_empty() && web.unicast_source.is_none() && web.vmac.is_none());
    assert_eq!(web.ipv4_checksum, Ipv4Checksum::PseudoHeader);
    assert_eq!(
        web.garp,
        Garp {
            count: 5,
            interval: Duration::from_millis(100),
            refresh: None
        }
    );
    let garp = parse_str(&with("    garp: {}\n"), "c").unwrap().instances[0].garp;
    assert_eq!(garp, Garp::default());
}

#[test]
fn yaml_syntax_error_is_located() {
    assert_eq!(
        errors("instances:\n  - name: [web\n"),
        ["2:11: invalid YAML: unclosed bracket '['"]
    );
    assert_eq!(
        errors("instances: []\n---\ninstances: []\n"),
        ["3:1: invalid YAML: a configuration file holds one YAML document; remove the second `---`"]
    );
}

const EMPTY_FILE: &str = "1:1: the file is empty; expected `instances:` followed by a list of \
     instances, or `instances: []` for an agent that holds no virtual IP";

#[test]
fn empty_file_is_an_error() {
    assert_eq!(errors(""), [EMPTY_FILE]);
    assert_eq!(errors("# only a comment\n\n# and another\n"), [EMPTY_FILE]);
}

#[test]
fn empty_instance_list_is_a_valid_configuration() {
    let config = parse_str("instances: []\n", "c").unwrap();
    assert!(config.instances.is_empty());
    assert!(config.sync_groups.is_empty());
    // The packaged file: a commented-out example, then the empty list.
    let packaged = "# twinstar configuration\n#\n# instances:\n#   - name: web\n#     vrid: 51\n\ninstances: []\n";
    assert!(parse_str(packaged, "c").unwrap().instances.is_empty());
    // Top-level settings may stand beside an empty list.
    let with_control = "control:\n  group: twinstar\ninstances: []\n";
    assert!(parse_str(with_control, "c").unwrap().instances.is_empty());
}

#[test]
fn instances_without_a_value_points_to_the_empty_list() {
    assert_eq!(
        errors("instances:\n"),
        [
            "1:10: instances has no value; list instances under it (items start with `- `), \
          or write `instances: []` for none"
        ]
    );
}

#[test]
fn unknown_keys_are_reported_at_every_level_with_suggestions() {
    let text = "globl: 1\ninstances:\n  - name: web\n    priorty: 150\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.50/24]\n    garp: { cont: 2 }\n    zzz: 1\n";
    assert_eq!(
        errors(text),
        [
            "1:1: unknown key `globl` in the top level; expected one of: instances, checks, \
             sync_groups, events, script_user, control, metrics, realtime_priority, vip_lifetime, \
             peers, quorum, node_id",
            "4:5: unknown key `priorty` in an instance; did you mean `priority`?",
            "8:13: unknown key `cont` in garp; did you mean `count`?",
            "9:5: unknown key `zzz` in an instance; expected one of: name, interface, vrid, \
             priority, advert_interval, preempt, preempt_delay, accept, virtual_ips, ipv4_checksum, garp, \
             track, hooks, vip_lifetime, peers, heartbeat, version, unicast_peers, unicast_source, vmac",
        ]
    );
}

#[test]
fn wrong_types_name_what_was_expected() {
    let text = with(
        "    priority: high\n    preempt: no\n    accept: 1\n    advert_interval: 2\n    garp: 5\n",
    );
    assert_eq!(
        errors(&text),
        [
            "6:15: priority must be a whole number in 1..=255, found a string",
            "7:14: preempt must be true or false, found `no`",
            "8:13: accept must be true or false, found an integer",
            "9:22: advert_interval 2 has no unit; write `2s` or `2ms`",
            "10:11: garp must be a mapping of keys to values, found an integer",
        ]
    );
}

#[test]
fn missing_required_keys_point_at_the_instance() {
    assert_eq!(
        errors("instances:\n  - priority: 100\n"),
        [
            "2:5: this instance is missing `name`, a unique label such as `web`",
            "2:5: this instance is missing `interface`, the network interface such as `eth0`",
            "2:5: this instance is missing `vrid`, the virtual router id (1..=255)",
            "2:5: this instance is missing `virtual_ips`, the list of virtual IPs such as `- 192.0.2.50/24`",
        ]
    );
    assert_eq!(
        errors("other: 1\n")[1],
        "1:1: the configuration is missing `instances`, the list of virtual routers \
         (`instances: []` for none)"
    );
}

#[test]
fn duplicate_keys_are_all_reported() {
    let text = with("    vrid: 52\n    garp: { count: 1, count: 2 }\n");
    assert_eq!(
        errors(&text),
        [
            "6:5: duplicate key `vrid` (first on line 4); keep only one",
            "7:23: duplicate key `count` (first on line 7); keep only one",
        ]
    );
}

#[test]
fn duplicate_names_and_virtual_routers_point_at_the_second() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.50/24]\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.60/24]\n";
    assert_eq!(
        errors(text),
        [
            "6:11: instance name `web` is already used on line 2; names must be unique",
            "8:11: vrid 51 is already used for IPv4 on eth0 by instance `web` (line 4); \
             each virtual router on a link (its interface or a heartbeat link) needs its own vrid",
        ]
    );
    // The same vrid on another interface, or for the other family, is fine.
    let ok = text.replacen(
        "name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.60/24]",
        "name: b\n    interface: eth1\n    vrid: 51\n    virtual_ips: [192.0.2.60/24]",
        1,
    );
    assert!(parse_str(&ok, "c").is_ok());
}

#[test]
fn numeric_ranges_are_checked() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 300\n    priority: 0\n    virtual_ips: [192.0.2.50/24]\n    garp: { count: 101 }\n";
    assert_eq!(
        errors(text),
        [
            "4:11: vrid 300 is out of range 1..=255",
            "5:15: priority 0 is out of range 1..=255",
            "7:20: garp.count 101 is out of range 1..=100",
        ]
    );
}

#[test]
fn durations_are_checked_for_form_range_and_step() {
    let text = with(
        "    advert_interval: 15ms\n    preempt_delay: 2h\n    garp: { interval: 11s, refresh: 500ms }\n",
    );
    assert_eq!(
        errors(&text),
        [
            "6:22: advert_interval 15ms is not a multiple of 10ms; VRRP carries it in centiseconds",
            "7:20: preempt_delay: `2h` is not a duration; write a number with a unit ms, s or m, \
             such as `100ms`, `2s`, `1.5s` or `1m`",
            "8:23: garp.interval 11s is out of range 0s..=10s",
            "8:37: garp.refresh 500ms is out of range 1s..=60m (or 0s to turn it off)",
        ]
    );
    assert_eq!(
        errors(&with("    advert_interval: 41s\n")),
        ["6:22: advert_interval 41s is out of range 10ms..=40.95s"]
    );
    assert_eq!(
        errors(&with("    advert_interval: 0s\n")),
        ["6:22: advert_interval 0s is out of range 10ms..=40.95s"]
    );
    let c = parse_str(
        &with("    advert_interval: 40.95s\n    garp: { refresh: 0s }\n"),
        "c",
    )
    .unwrap();
    assert_eq!(
        c.instances[0].advert_interval,
        Duration::from_millis(40_950)
    );
    assert_eq!(c.instances[0].garp.refresh, None);
}

#[test]
fn virtual_ip_mistakes_are_each_reported() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips:\n      - 192.0.2.50/24\n      - 2001:db8::50/64\n      - 192.0.2.50/24\n      - 192.0.2.51\n      - 192.0.2.0/24\n";
    assert_eq!(
        errors(text),
        [
            "7:9: 2001:db8::50/64 is IPv6 but 192.0.2.50/24 is IPv4; an instance serves one address \
             family, so put IPv6 addresses in a second instance (it may use the same vrid)",
            "8:9: 192.0.2.50 is listed twice (first on line 6)",
            "9:9: virtual IP 192.0.2.51 has no prefix length; write 192.0.2.51/24 (or /32 for a host address)",
            "10:9: 192.0.2.0/24 cannot be a virtual IP: it is the network address of its subnet; pick a host address",
        ]
    );
}

#[test]
fn empty_virtual_ip_lists_are_errors() {
    assert_eq!(
        errors(
            "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: []\n"
        ),
        ["5:18: virtual_ips is empty; list at least one address such as 192.0.2.50/24"]
    );
}

#[test]
fn ipv4_checksum_is_checked_and_refused_on_ipv6() {
    assert_eq!(
        errors(&with("    ipv4_checksum: rfc5798\n")),
        ["6:20: ipv4_checksum must be `pseudo-header` or `rfc9568`"]
    );
    let v6 = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [2001:db8::50/64]\n    ipv4_checksum: rfc9568\n";
    assert_eq!(
        errors(v6),
        ["6:20: ipv4_checksum applies only to IPv4 instances; remove it here"]
    );
}

#[test]
fn names_and_interfaces_are_checked() {
    let text = "instances:\n  - name: my web\n    interface: eth0:1\n    vrid: 51\n    virtual_ips: [192.0.2.50/24]\n";
    assert_eq!(
        errors(text),
        [
            "2:11: name `my web` is not valid; use 1 to 32 letters, digits, `-`, `_` or `.`",
            "3:16: interface `eth0:1` is not a valid Linux interface name; use 1 to 15 characters \
             without `/`, `:` or spaces",
        ]
    );
}

#[test]
fn load_reports_an_unreadable_file_without_position() {
    let err = load(std::path::Path::new("/nonexistent/twinstar.yaml")).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!((err.0[0].line, err.0[0].col), (0, 0));
    assert!(err
        .to_string()
        .starts_with("/nonexistent/twinstar.yaml: cannot read the configuration: "));
}

#[test]
fn load_compact_reads_the_same_configuration_and_its_errors() {
    let dir = std::env::temp_dir().join(format!("twinstar-load-compact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.yaml");
    std::fs::write(&good, GOOD).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        GOOD.replace("vrid: 51\n    priority", "vrid: 0\n    priority"),
    )
    .unwrap();
    let compact = load_compact(&good).unwrap();
    assert_eq!(compact, load(&good).unwrap());
    let (compact_err, err) = (load_compact(&bad).unwrap_err(), load(&bad).unwrap_err());
    assert_eq!(compact_err.to_string(), err.to_string());
    assert!(compact_err.0.iter().all(|e| e.line > 0), "{compact_err}");
    let missing = load_compact(&dir.join("missing.yaml")).unwrap_err();
    assert_eq!((missing.0[0].line, missing.0[0].col), (0, 0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_deep_copy_shares_no_instance_with_the_original() {
    let config = parse_str(GOOD, "config.yaml").unwrap();
    let copy = config.deep_copy();
    assert_eq!(copy, config);
    for (a, b) in config.instances.iter().zip(&copy.instances) {
        assert!(!std::sync::Arc::ptr_eq(a, b));
        assert_ne!(a.name.as_ptr(), b.name.as_ptr());
    }
}

#[test]
fn peers_of_the_instance_replace_the_top_level_ones_of_its_family() {
    let text = "\
peers: [192.0.2.11, fe80::11, 192.0.2.12]
instances:
  - name: web
    interface: eth0
    vrid: 51
    virtual_ips: [192.0.2.50/24]
  - name: web6
    interface: eth0
    vrid: 51
    virtual_ips: [2001:db8::50/64]
  - name: db
    interface: eth0
    vrid: 52
    virtual_ips: [192.0.2.60/24]
    peers: [192.0.2.21]
";
    let config = parse_str(text, "config.yaml").unwrap();
    let peers = |i: usize| config.instances[i].peers.clone().unwrap();
    assert_eq!(*peers(0), [ip("192.0.2.11"), ip("192.0.2.12")]);
    assert_eq!(*peers(1), [ip("fe80::11")]);
    assert_eq!(*peers(2), [ip("192.0.2.21")]);
    let none = parse_str(&with(""), "config.yaml").unwrap();
    assert_eq!(none.instances[0].peers, None, "no list: any source");
}

#[test]
fn bad_peers_are_located_and_say_what_is_right() {
    assert_eq!(
        errors(&with("    peers: [192.0.2.11, 192.0.2.11, fe80::1, 2001:db8::1/64]\n")),
        vec![
            "6:25: peer 192.0.2.11 is listed twice (first on line 6)",
            "6:37: peer fe80::1 is IPv6 but this instance serves IPv4; list the IPv4 addresses its routers send adverts from",
            "6:46: peer `2001:db8::1/64` is not an IP address such as 192.0.2.12 or fe80::12; write the address without a prefix length",
        ]
    );
    assert_eq!(
        errors(&with("    peers: []\n")),
        vec!["6:12: peers is empty, which would refuse every advert; list the other routers' addresses, or remove `peers` to accept adverts from any router"]
    );
    let six = "peers: [192.0.2.11]\ninstances:\n  - name: web6\n    interface: eth0\n    vrid: 51\n    virtual_ips: [2001:db8::50/64]\n";
    assert_eq!(
        errors(six),
        vec!["1:8: peers lists no IPv6 address, so instance `web6` would refuse every advert; add its routers' IPv6 addresses here, or give `web6` its own `peers`"]
    );
    let global = errors("peers: [2001:db8::11]\ninstances: []\n");
    assert_eq!(global.len(), 1);
    assert!(
        global[0].starts_with("1:9: peer 2001:db8::11 is not link-local"),
        "{global:?}"
    );
}
