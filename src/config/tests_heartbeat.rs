//! Tests of `heartbeat`, the redundant advert links of an instance.

use super::tests::errors;
use super::*;

/// A one-instance file on eth0 with `heartbeat` written as given.
fn with_heartbeat(value: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.50/24]\n    heartbeat: {value}\n"
    )
}

#[test]
fn heartbeat_links_are_read_in_order_and_default_to_none() {
    let config = parse_str(&with_heartbeat("[eth1, bond0.7]"), "config.yaml").unwrap();
    assert_eq!(*config.instances[0].heartbeat, ["eth1", "bond0.7"]);
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.50/24]\n";
    let config = parse_str(text, "config.yaml").unwrap();
    assert!(config.instances[0].heartbeat.is_empty());
}

#[test]
fn heartbeat_rejects_the_own_interface_duplicates_and_bad_names_with_positions() {
    assert_eq!(
        errors(&with_heartbeat("[eth1, eth0, eth1, \"a/b\"]")),
        [
            "6:23: heartbeat link eth0 is this instance's own interface, which carries its \
             adverts already; list other interfaces here",
            "6:29: heartbeat link eth1 is already listed on line 6; list each link once",
            "6:35: interface `a/b` is not a valid Linux interface name; use 1 to 15 characters \
             without `/`, `:` or spaces",
        ]
    );
    assert_eq!(
        errors(&with_heartbeat("eth1")),
        ["6:16: heartbeat must be a list of interfaces; write `- eth1` on the next line"]
    );
}

#[test]
fn a_heartbeat_link_needs_a_vrid_free_on_that_link() {
    let text = "\
instances:
  - name: web
    interface: eth0
    vrid: 51
    virtual_ips: [192.0.2.50/24]
    heartbeat: [eth1]
  - name: db
    interface: eth1
    vrid: 51
    virtual_ips: [192.0.2.60/24]
";
    assert_eq!(
        errors(text),
        [
            "9:11: vrid 51 is already used for IPv4 on eth1 by instance `web` (line 6); each \
          virtual router on a link (its interface or a heartbeat link) needs its own vrid"
        ]
    );
    // Another family, or another vrid, may share the link.
    let ok = text.replace(
        "vrid: 51\n    virtual_ips: [192.0.2.60/24]",
        "vrid: 52\n    virtual_ips: [192.0.2.60/24]",
    );
    assert!(parse_str(&ok, "config.yaml").is_ok());
}
