//! Tests of the operating keys: `control:` and `metrics:`.

use std::net::SocketAddr;

use super::tests::errors;
use super::*;

/// A one-instance file (lines 1-5) followed by `top`, starting on line 6.
fn with(top: &str) -> String {
    format!("instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.50/24]\n{top}")
}

fn parse(text: &str) -> Config {
    parse_str(text, "config.yaml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn control_and_metrics_default_to_root_only_and_off() {
    let config = parse(&with(""));
    assert_eq!(config.control, Control { group: None });
    assert_eq!(config.metrics, None);
    let config = parse(&with("control: {}\n"));
    assert_eq!(config.control.group, None);
}

#[test]
fn control_group_and_metrics_are_read() {
    let config = parse(&with(
        "control:\n  group: twinstar-ops\nmetrics:\n  address: '::1'\n  port: 9650\n",
    ));
    assert_eq!(config.control.group.as_deref(), Some("twinstar-ops"));
    let listen: SocketAddr = "[::1]:9650".parse().unwrap();
    assert_eq!(config.metrics, Some(Metrics { listen }));
}

#[test]
fn metrics_address_defaults_to_loopback() {
    let config = parse(&with("metrics:\n  port: 9650\n"));
    let listen: SocketAddr = "127.0.0.1:9650".parse().unwrap();
    assert_eq!(config.metrics, Some(Metrics { listen }));
    let config = parse(&with("metrics: { address: 0.0.0.0, port: 65535 }\n"));
    let listen: SocketAddr = "0.0.0.0:65535".parse().unwrap();
    assert_eq!(config.metrics, Some(Metrics { listen }));
}

#[test]
fn control_is_checked() {
    assert_eq!(
        errors(&with("control:\n  group: 'ops team'\n  user: x\n")),
        [
            "7:10: control.group `ops team` is not a group name; name one such as `twinstar`, \
             without spaces or `:`",
            "8:3: unknown key `user` in control; expected one of: group",
        ]
    );
    assert_eq!(
        errors(&with("control:\n  group: ''\n")),
        [
            "7:10: control.group `` is not a group name; name one such as `twinstar`, without \
          spaces or `:`"
        ]
    );
    assert_eq!(
        errors(&with("control:\n  group: 0\n")),
        ["7:10: control.group must be text; quote the number: \"0\""]
    );
    assert_eq!(
        errors(&with("control: ops\n")),
        ["6:10: control must be a mapping of keys to values, found a string"]
    );
}

#[test]
fn metrics_is_checked() {
    assert_eq!(
        errors(&with("metrics:\n  address: localhost\n  prot: 9650\n")),
        [
            "7:3: metrics is missing `port`, the TCP port to serve `/metrics` on, such as `9650`",
            "7:12: metrics.address `localhost` is not an IP address; write one such as \
             `127.0.0.1` or `::1`",
            "8:3: unknown key `prot` in metrics; did you mean `port`?",
        ]
    );
    assert_eq!(
        errors(&with("metrics:\n  port: 0\n")),
        ["7:9: metrics.port 0 is out of range 1..=65535"]
    );
    assert_eq!(
        errors(&with("metrics:\n  port: 65536\n")),
        ["7:9: metrics.port 65536 is out of range 1..=65535"]
    );
    assert_eq!(
        errors(&with("metrics:\n  port: '9650'\n")),
        ["7:9: metrics.port must be a whole number in 1..=65535, found a string"]
    );
    assert_eq!(
        errors(&with("metrics:\n  address: 127.0.0.1:9650\n  port: 9650\n")),
        [
            "7:12: metrics.address `127.0.0.1:9650` is not an IP address; write one such as \
          `127.0.0.1` or `::1`; give the port in `metrics.port`, not here"
        ]
    );
    assert_eq!(
        errors(&with("metrics:\n  address: 224.0.0.18\n  port: 9650\n")),
        [
            "7:12: metrics.address 224.0.0.18 is a multicast address; listen on a local address \
          such as `127.0.0.1`"
        ]
    );
    assert_eq!(
        errors(&with("metrics: 9650\n")),
        ["6:10: metrics must be a mapping of keys to values, found an integer"]
    );
}
