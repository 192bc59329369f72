//! The keys that let twinstar run where keepalived runs: `version` (VRRPv2,
//! and both versions at once while a pair is migrated), `unicast_peers` and
//! `unicast_source` (networks that drop multicast), and `vmac` (the virtual
//! MAC that FRRouting and many routers expect).

use std::net::IpAddr;
use std::time::Duration;

use super::model::AddressFamily;
use super::reader::Checker;
use super::yaml::{Kind, Node};
use super::InterfaceName;

/// Which VRRP versions an instance speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VrrpVersion {
    /// `3` (default): VRRPv3, RFC 9568.
    #[default]
    V3,
    /// `2`: VRRPv2, RFC 3768 (IPv4 only, whole-second intervals, no
    /// authentication): keepalived's default protocol.
    V2,
    /// `both`: sends every advert as VRRPv3 and as VRRPv2 and accepts
    /// either, so a VRRPv2 pair can be moved to VRRPv3 one host at a time
    /// (RFC 9568 §8.4, "v2v3-both" on routers).
    Both,
}

impl VrrpVersion {
    /// Whether VRRPv3 adverts are sent and accepted.
    pub fn speaks_v3(self) -> bool {
        matches!(self, VrrpVersion::V3 | VrrpVersion::Both)
    }

    /// Whether VRRPv2 adverts are sent and accepted.
    pub fn speaks_v2(self) -> bool {
        matches!(self, VrrpVersion::V2 | VrrpVersion::Both)
    }

    /// The configuration spelling: `3`, `2` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            VrrpVersion::V3 => "3",
            VrrpVersion::V2 => "2",
            VrrpVersion::Both => "both",
        }
    }
}

/// The longest whole-second interval a VRRPv2 instance may have. VRRPv2's
/// octet of seconds (RFC 3768 §5.3.7) would carry 255 s, but the state
/// machine runs RFC 9568's timers, whose Max Adver Int holds 40.95 s at most
/// (and `advert_interval` is checked against that first); a `both` instance
/// also sends the interval in that field.
const V2_MAX_INTERVAL: Duration = Duration::from_secs(40);

/// Reads `version` for an instance of `family` advertising every `interval`
/// (when both are known): VRRPv2 is IPv4 only and counts whole seconds.
pub fn version(
    ck: &mut Checker,
    node: &Node,
    family: Option<AddressFamily>,
    interval: Option<Duration>,
) -> Option<VrrpVersion> {
    let version = match &node.kind {
        Kind::Int(3) => VrrpVersion::V3,
        Kind::Int(2) => VrrpVersion::V2,
        Kind::Str(s) if s == "both" => VrrpVersion::Both,
        Kind::Str(s) if s == "3" || s == "2" => {
            if s == "3" {
                VrrpVersion::V3
            } else {
                VrrpVersion::V2
            }
        }
        other => {
            let found = match other {
                Kind::Int(i) => i.to_string(),
                Kind::Str(s) => format!("`{s}`"),
                other => other.type_name().to_owned(),
            };
            ck.error(
                node.pos,
                format!(
                    "version must be 3 (VRRPv3), 2 (VRRPv2, keepalived's default) or `both` \
                     (send both and accept both, to migrate a VRRPv2 pair), found {found}"
                ),
            );
            return None;
        }
    };
    if !version.speaks_v2() {
        return Some(version);
    }
    let mut ok = true;
    if family == Some(AddressFamily::Ipv6) {
        ck.error(
            node.pos,
            format!(
                "version {} needs IPv4: VRRPv2 (RFC 3768) has no IPv6; use version 3 here",
                version.as_str()
            ),
        );
        ok = false;
    }
    if let Some(interval) = interval {
        let whole = interval.subsec_nanos() == 0;
        let max = V2_MAX_INTERVAL;
        if !whole || interval > max {
            ck.error(
                node.pos,
                format!(
                    "version {} carries advert_interval in whole seconds (1s..={}s), but \
                     advert_interval is {}; set advert_interval to whole seconds",
                    version.as_str(),
                    max.as_secs(),
                    super::format_duration(interval)
                ),
            );
            ok = false;
        }
    }
    ok.then_some(version)
}

/// Reads `unicast_peers`: the other routers' addresses, of the instance's
/// family, each listed once. IPv6 peers may be global or link-local.
pub fn unicast_peers(
    ck: &mut Checker,
    node: &Node,
    family: Option<AddressFamily>,
) -> Option<Vec<IpAddr>> {
    let Kind::Seq(items) = &node.kind else {
        ck.error(
            node.pos,
            format!(
                "unicast_peers must be a list of the other routers' addresses, found {}",
                node.kind.type_name()
            ),
        );
        return None;
    };
    if items.is_empty() {
        ck.error(
            node.pos,
            "unicast_peers is empty, so no advert would be sent; list the other routers' \
             addresses, or remove `unicast_peers` to use multicast",
        );
        return None;
    }
    let mut ok = true;
    let mut peers: Vec<IpAddr> = Vec::with_capacity(items.len());
    for item in items {
        let Some(address) = unicast_address(ck, "unicast_peers", item, family) else {
            ok = false;
            continue;
        };
        if peers.contains(&address) {
            ck.error(item.pos, format!("unicast peer {address} is listed twice"));
            ok = false;
            continue;
        }
        peers.push(address);
    }
    ok.then_some(peers)
}

/// Reads `unicast_source`: the address unicast adverts are sent from.
pub fn unicast_source(
    ck: &mut Checker,
    node: &Node,
    family: Option<AddressFamily>,
) -> Option<IpAddr> {
    unicast_address(ck, "unicast_source", node, family)
}

/// One unicast address of `family` (when known).
fn unicast_address(
    ck: &mut Checker,
    key: &str,
    node: &Node,
    family: Option<AddressFamily>,
) -> Option<IpAddr> {
    let Kind::Str(text) = &node.kind else {
        ck.error(
            node.pos,
            format!(
                "{key} takes an IP address such as 192.0.2.12 or 2001:db8::12, found {}",
                node.kind.type_name()
            ),
        );
        return None;
    };
    let Ok(address) = text.parse::<IpAddr>() else {
        let hint = if text.contains('/') {
            "; write the address without a prefix length"
        } else {
            ""
        };
        ck.error(
            node.pos,
            format!("{key}: `{text}` is not an IP address such as 192.0.2.12{hint}"),
        );
        return None;
    };
    let refused = match address {
        IpAddr::V4(a) if a.is_unspecified() || a.is_loopback() => Some("is not a router's address"),
        IpAddr::V4(a) if a.is_multicast() || a.is_broadcast() => {
            Some("is a group address; list each router's own address")
        }
        IpAddr::V6(a) if a.is_unspecified() || a.is_loopback() => Some("is not a router's address"),
        IpAddr::V6(a) if a.is_multicast() => {
            Some("is a group address; list each router's own address")
        }
        _ => None,
    };
    if let Some(why) = refused {
        ck.error(node.pos, format!("{key}: {address} {why}"));
        return None;
    }
    let its_family = match address {
        IpAddr::V4(_) => AddressFamily::Ipv4,
        IpAddr::V6(_) => AddressFamily::Ipv6,
    };
    if let Some(family) = family.filter(|f| *f != its_family) {
        ck.error(
            node.pos,
            format!("{key}: {address} is {its_family} but this instance serves {family}"),
        );
        return None;
    }
    Some(address)
}

/// Reads `vmac`: `false`, `true` (the interface is named `vrrp.{vrid}`, or
/// `vrrp6.{vrid}` for IPv6) or the name of the interface to create. Returns
/// the interface name, or `None` for no virtual MAC.
pub fn vmac(
    ck: &mut Checker,
    node: &Node,
    vrid: Option<u8>,
    family: Option<AddressFamily>,
) -> Option<Option<String>> {
    match &node.kind {
        Kind::Bool(false) => Some(None),
        Kind::Bool(true) => {
            let vrid = vrid?;
            let prefix = if family == Some(AddressFamily::Ipv6) {
                "vrrp6"
            } else {
                "vrrp"
            };
            Some(Some(format!("{prefix}.{vrid}")))
        }
        Kind::Str(s) => match InterfaceName::new(s) {
            Ok(name) => Some(Some(name.as_str().to_owned())),
            Err(why) => {
                ck.error(node.pos, format!("vmac: {why}"));
                None
            }
        },
        other => {
            ck.error(
                node.pos,
                format!(
                    "vmac must be true, false or the name of the interface to create \
                     (such as vrrp.51), found {}",
                    other.type_name()
                ),
            );
            None
        }
    }
}
