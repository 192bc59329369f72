//! The schema of how the running agent is operated: `control:` (who may use the
//! control socket) and `metrics:` (the Prometheus endpoint).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::model::{Control, Metrics};
use super::reader::{int_in, optional, string, Checker, MapReader};
use super::yaml::Node;

pub(super) const CONTROL_KEYS: &[&str] = &["group"];
pub(super) const METRICS_KEYS: &[&str] = &["address", "port"];

/// `metrics.address` when omitted: loopback, since the endpoint has no authentication.
const METRICS_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// `control:`: the group allowed to use the control socket.
pub fn control(ck: &mut Checker, node: &Node) -> Option<Control> {
    let map = MapReader::new(ck, node, "control", CONTROL_KEYS)?;
    let group = optional(map.get("group"), Some(None), |n| {
        group_name(ck, n).map(Some)
    });
    Some(Control { group: group? })
}

/// `control.group`: a group name; whether such a group exists is not checked here.
fn group_name(ck: &mut Checker, node: &Node) -> Option<String> {
    let group = string(ck, "control.group", node)?;
    if group.is_empty() || group.contains(|c: char| c == ':' || c.is_whitespace()) {
        ck.error(
            node.pos,
            format!(
                "control.group `{group}` is not a group name; name one such as `twinstar`, \
                 without spaces or `:`"
            ),
        );
        return None;
    }
    Some(group.to_owned())
}

/// `metrics:`: where the Prometheus endpoint listens.
pub fn metrics(ck: &mut Checker, node: &Node) -> Option<Metrics> {
    let map = MapReader::new(ck, node, "metrics", METRICS_KEYS)?;
    let port = map
        .required(
            ck,
            "metrics",
            "port",
            "the TCP port to serve `/metrics` on, such as `9650`",
        )
        .and_then(|n| int_in(ck, "metrics.port", n, 1, 65535))
        .and_then(|p| u16::try_from(p).ok());
    let address = optional(map.get("address"), Some(METRICS_ADDRESS), |n| {
        address(ck, n)
    });
    Some(Metrics {
        listen: SocketAddr::new(address?, port?),
    })
}

/// `metrics.address`: an IP address to listen on, without a port.
fn address(ck: &mut Checker, node: &Node) -> Option<IpAddr> {
    let text = string(ck, "metrics.address", node)?;
    match text.parse::<IpAddr>() {
        Ok(addr) if addr.is_multicast() => {
            ck.error(
                node.pos,
                format!(
                    "metrics.address {addr} is a multicast address; listen on a local address \
                     such as `127.0.0.1`"
                ),
            );
            None
        }
        Ok(addr) => Some(addr),
        Err(_) => {
            let hint = if text.parse::<SocketAddr>().is_ok() {
                "; give the port in `metrics.port`, not here"
            } else {
                ""
            };
            ck.error(
                node.pos,
                format!(
                    "metrics.address `{text}` is not an IP address; write one such as \
                     `127.0.0.1` or `::1`{hint}"
                ),
            );
            None
        }
    }
}
