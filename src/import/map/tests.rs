//! The mapper on keepalived text: what each construct becomes, and what is
//! reported.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::super::out::{CheckKindOut, CommandOut, Output, TrackOut};
use super::super::report::{Finding, Severity};
use super::super::tree::from_text;
use super::map;

fn mapped(text: &str) -> (Output, Vec<Finding>) {
    let statements = from_text(text, Path::new("k.conf")).expect("valid keepalived syntax");
    let mut findings = Vec::new();
    let out = map(&statements, &mut findings);
    (out, findings)
}

fn unmapped(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Unmapped)
        .map(ToString::to_string)
        .collect()
}

const PAIR: &str = "vrrp_instance VI_1 {\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  advert_int 1\n  nopreempt\n  preempt_delay 5\n  virtual_ipaddress {\n    192.0.2.10/24\n  }\n}\n";

#[test]
fn an_instance_maps_key_by_key_and_defaults_to_vrrpv2() {
    let (out, findings) = mapped(PAIR);
    let i = &out.instances[0];
    assert_eq!(
        (i.name.as_str(), i.interface.as_str(), i.vrid),
        ("VI_1", "eth0", 51)
    );
    assert_eq!(i.priority, Some(150));
    assert_eq!(i.advert_interval, Some(Duration::from_secs(1)));
    assert_eq!(i.preempt, Some(false));
    assert_eq!(i.preempt_delay, Some(Duration::from_secs(5)));
    assert_eq!(i.version.map(|v| v.0), Some("2"));
    assert_eq!(
        i.virtual_ips[0].address,
        "192.0.2.10".parse::<IpAddr>().unwrap()
    );
    assert!(unmapped(&findings).is_empty(), "{findings:?}");
    // `state` is noted, not silently dropped.
    assert!(findings
        .iter()
        .any(|f| f.keyword == "state" && f.severity == Severity::Note));
}

#[test]
fn vrrp_version_and_strict_apply_to_every_instance() {
    let (out, _) = mapped(&format!(
        "global_defs {{\n vrrp_version 3\n vrrp_strict\n}}\n{PAIR}"
    ));
    assert_eq!(out.instances[0].version.map(|v| v.0), Some("3"));
    assert_eq!(out.instances[0].accept, Some(false));
}

#[test]
fn fractional_intervals_round_to_what_the_version_carries() {
    let v3 = PAIR.replace("advert_int 1", "advert_int 0.123\n  version 3");
    assert_eq!(
        mapped(&v3).0.instances[0].advert_interval,
        Some(Duration::from_millis(120))
    );
    let v2 = PAIR.replace("advert_int 1", "advert_int 0.5");
    assert_eq!(
        mapped(&v2).0.instances[0].advert_interval,
        Some(Duration::from_secs(1))
    );
}

#[test]
fn scripts_become_checks_and_weights_follow_the_instance_override() {
    let text = format!(
        "vrrp_script chk {{\n script \"/bin/check --fast\"\n interval 2\n timeout 9\n weight -20\n rise 3\n fall 2\n}}\n\
         vrrp_script unused {{\n script /bin/true\n}}\n{}",
        PAIR.replace("  nopreempt\n", "  track_script {\n    chk weight -30\n  }\n  track_interface {\n    eth1\n  }\n")
    );
    let (out, findings) = mapped(&text);
    assert!(unmapped(&findings).is_empty(), "{findings:?}");
    assert_eq!(
        out.checks.len(),
        1,
        "only tracked scripts run, as in keepalived"
    );
    let check = &out.checks[0];
    assert_eq!(check.name, "chk");
    assert!(
        matches!(&check.kind, CheckKindOut::Script(CommandOut::Argv(argv)) if argv == &["/bin/check", "--fast"])
    );
    assert_eq!(
        (check.interval, check.timeout),
        (Some(Duration::from_secs(2)), Some(Duration::from_secs(9)))
    );
    assert_eq!((check.rise, check.fall), (Some(3), Some(2)));
    assert_eq!(
        out.instances[0].track,
        [
            TrackOut::Check {
                name: "chk".into(),
                weight: -30
            },
            TrackOut::Interface {
                name: "eth1".into(),
                weight: 0
            }
        ]
    );
}

#[test]
fn a_vip_on_another_device_keeps_it_and_labels_are_reported() {
    let text = PAIR.replace("192.0.2.10/24", "192.0.2.10/24 dev eth1 label eth1:0");
    let (out, findings) = mapped(&text);
    assert_eq!(
        out.instances[0].virtual_ips[0].interface.as_deref(),
        Some("eth1")
    );
    assert_eq!(
        unmapped(&findings),
        ["k.conf:10: label: `label eth1:0` of 192.0.2.10/24: twinstar adds addresses without a label"]
    );
}

#[test]
fn both_families_split_into_two_instances_in_one_sync_group() {
    let text = PAIR.replace("192.0.2.10/24\n", "192.0.2.10/24\n    2001:db8::10/64\n");
    let (out, _) = mapped(&text);
    let names: Vec<&str> = out.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["VI_1", "VI_1-v6"]);
    assert_eq!(out.instances[1].version, None, "IPv6 is VRRPv3");
    assert_eq!(out.sync_groups[0].instances, ["VI_1", "VI_1-v6"]);
}

#[test]
fn a_sync_group_with_a_split_member_takes_both_halves() {
    let text = format!(
        "vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n}}\n{}{}",
        PAIR.replace("192.0.2.10/24\n", "192.0.2.10/24\n    2001:db8::10/64\n"),
        PAIR.replace("VI_1", "VI_2")
            .replace("51", "52")
            .replace("eth0", "eth1")
    );
    let (out, _) = mapped(&text);
    assert_eq!(out.sync_groups.len(), 1);
    assert_eq!(out.sync_groups[0].instances, ["VI_1", "VI_1-v6", "VI_2"]);
}

#[test]
fn unknown_and_unsupported_constructs_are_reported_with_their_line() {
    let text = format!("{PAIR}virtual_server 192.0.2.10 80 {{\n  lb_algo rr\n}}\nvrrp_instance bad {{\n interface eth0\n}}\n");
    let (out, findings) = mapped(&text);
    assert_eq!(out.instances.len(), 1);
    assert_eq!(
        unmapped(&findings),
        [
            "k.conf:13: virtual_server: twinstar does only VRRP (no LVS, BFD or static addresses); block left out",
            "k.conf:16: vrrp_instance: needs `interface`, `virtual_router_id` and a virtual IP address; instance left out",
        ]
    );
}

#[test]
fn conditional_lines_are_reported_not_applied() {
    let text = PAIR.replace("  priority 150\n", "  priority 150\n  @lb02 priority 100\n");
    let (out, findings) = mapped(&text);
    assert_eq!(out.instances[0].priority, Some(150));
    assert_eq!(
        unmapped(&findings),
        ["k.conf:6: @lb02: conditional configuration and parameters are not read; line left out"]
    );
}

#[test]
fn values_outside_twinstar_ranges_are_brought_in_and_reported() {
    let text = format!(
        "track_file big {{\n file /run/weight\n weight 1000\n}}\n{}",
        PAIR.replace(
            "  nopreempt\n",
            "  garp_master_repeat 0\n  track_file {\n    big\n  }\n"
        )
    );
    let (out, findings) = mapped(&text);
    assert_eq!(out.instances[0].garp.count, Some(1));
    assert_eq!(
        out.instances[0].track,
        [TrackOut::Check {
            name: "big".into(),
            weight: 254
        }]
    );
    assert_eq!(
        unmapped(&findings),
        [
            "k.conf:11: garp_master_repeat: 0 is outside twinstar's range 1..=100; 1 is used",
            "k.conf:13: track_file: weight 1000 of `big` is outside -254..=254; 254 is used",
        ]
    );
}

#[test]
fn a_unicast_instance_without_interface_advertises_on_its_vips_interface() {
    let text = "vrrp_instance U {\n virtual_router_id 7\n unicast_peer {\n  192.0.2.2\n }\n virtual_ipaddress {\n  192.0.2.7/24 dev ens4\n  198.51.100.7/24 dev ens5\n }\n}\n";
    let (out, findings) = mapped(text);
    let i = &out.instances[0];
    assert_eq!(i.interface, "ens4");
    assert_eq!(i.virtual_ips[0].interface, None);
    assert_eq!(i.virtual_ips[1].interface.as_deref(), Some("ens5"));
    assert!(unmapped(&findings).is_empty(), "{findings:?}");
}
