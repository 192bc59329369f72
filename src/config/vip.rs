//! Parsing and checking virtual IPs: `address/prefix-length`, or a mapping
//! `{address: 192.0.2.50/24, interface: eth0}` for a VIP that lives on
//! another interface than the one carrying the adverts (a dedicated
//! heartbeat network).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::model::VirtualIp;
use super::reader::{interface_name, Checker, MapReader};
use super::yaml::{Kind, Node, Pos};

/// The keys of a VIP written as a mapping.
pub(super) const VIP_KEYS: &[&str] = &["address", "interface"];

/// Parses `192.0.2.50/24` or `2001:db8::50/64`. The prefix length is required:
/// it decides the on-link route the Master gets with the address, and guessing
/// /32 or /128 silently leaves the address unreachable from its own subnet.
pub fn parse(text: &str) -> Result<VirtualIp, String> {
    let (addr_text, prefix_text) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let Ok(addr) = addr_text.parse::<IpAddr>() else {
        return Err(format!(
            "`{text}` is not an IP address with prefix length; write e.g. 192.0.2.50/24 or 2001:db8::50/64"
        ));
    };
    let max = match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    let Some(prefix_text) = prefix_text else {
        return Err(match addr {
            IpAddr::V4(_) => format!(
                "virtual IP {addr} has no prefix length; write {addr}/24 (or /32 for a host address)"
            ),
            IpAddr::V6(_) => format!(
                "virtual IP {addr} has no prefix length; write {addr}/64 (a /128 gives no on-link route)"
            ),
        });
    };
    let prefix_len = match prefix_text.parse::<u8>() {
        Ok(p) if p <= max && !prefix_text.starts_with('+') => p,
        _ => {
            return Err(format!(
                "prefix length `{prefix_text}` of {addr} is out of range 0..={max}"
            ))
        }
    };
    let vip = VirtualIp {
        addr,
        prefix_len,
        interface: None,
    };
    check_host_address(vip).map_err(|why| format!("{vip} cannot be a virtual IP: {why}"))?;
    Ok(vip)
}

/// Rejects addresses no host can usefully own: unspecified, loopback, multicast,
/// broadcast, and a subnet's network address (host bits all zero).
fn check_host_address(vip: VirtualIp) -> Result<(), &'static str> {
    match vip.addr {
        IpAddr::V4(a) => check_v4(a, vip.prefix_len),
        IpAddr::V6(a) => check_v6(a, vip.prefix_len),
    }
}

fn check_v4(a: Ipv4Addr, prefix_len: u8) -> Result<(), &'static str> {
    if a.is_unspecified() {
        return Err("it is the unspecified address");
    }
    if a.is_loopback() {
        return Err("it is a loopback address");
    }
    if a.is_multicast() {
        return Err("it is a multicast address");
    }
    if a.is_broadcast() {
        return Err("it is the broadcast address");
    }
    // /31 (RFC 3021) and /32 have no network or broadcast address.
    if prefix_len < 31 {
        let host_mask = u32::MAX >> prefix_len;
        let bits = u32::from(a);
        if bits & host_mask == 0 {
            return Err("it is the network address of its subnet; pick a host address");
        }
        if bits & host_mask == host_mask {
            return Err("it is the broadcast address of its subnet; pick a host address");
        }
    }
    Ok(())
}

fn check_v6(a: Ipv6Addr, prefix_len: u8) -> Result<(), &'static str> {
    if a.is_unspecified() {
        return Err("it is the unspecified address");
    }
    if a.is_loopback() {
        return Err("it is the loopback address");
    }
    if a.is_multicast() {
        return Err("it is a multicast address");
    }
    // /127 (RFC 6164) and /128 have no Subnet-Router anycast address.
    if prefix_len < 127 {
        let host_mask = u128::MAX >> prefix_len;
        if u128::from(a) & host_mask == 0 {
            return Err(
                "it is the Subnet-Router anycast address of its subnet; pick a host address",
            );
        }
    }
    Ok(())
}

/// A valid `virtual_ips` list, with where each item was written (for the
/// checks across instances).
pub struct VipList {
    /// The virtual IPs, in the order written.
    pub vips: Vec<VirtualIp>,
    /// Where each of `vips` was written.
    pub positions: Vec<Pos>,
}

/// One item of `virtual_ips`: a string, or a mapping with `address` and
/// `interface`. An `interface` equal to the instance's own (`advert_interface`)
/// is the same as none, so that both spellings mean one VIP (and a reload
/// from one to the other changes nothing).
fn item(ck: &mut Checker, node: &Node, advert_interface: Option<&str>) -> Option<VirtualIp> {
    match &node.kind {
        Kind::Str(s) => parse(s).map_err(|e| ck.error(node.pos, e)).ok(),
        Kind::Map(_) => {
            let map = MapReader::new(ck, node, "a virtual IP", VIP_KEYS)?;
            let address = map.required(
                ck,
                "this virtual IP",
                "address",
                "the address with prefix length such as `192.0.2.50/24`",
            );
            let vip = address.and_then(|n| match &n.kind {
                Kind::Str(s) => parse(s).map_err(|e| ck.error(n.pos, e)).ok(),
                other => {
                    ck.error(
                        n.pos,
                        format!(
                            "address must be an address with prefix length such as 192.0.2.50/24, found {}",
                            other.type_name()
                        ),
                    );
                    None
                }
            });
            let interface = match map.get("interface") {
                None => Some(None),
                Some(n) => interface_name(ck, n)
                    .map(|name| Some(name).filter(|_| advert_interface != Some(name.as_str()))),
            };
            Some(VirtualIp {
                interface: interface?,
                ..vip?
            })
        }
        other => {
            ck.error(
                node.pos,
                format!(
                    "a virtual IP must be an address with prefix length such as 192.0.2.50/24 \
                     (or a mapping `{{address: 192.0.2.50/24, interface: eth0}}`), found {}",
                    other.type_name()
                ),
            );
            None
        }
    }
}

/// The `virtual_ips` list: every mistake is reported, including mixed address
/// families and addresses listed twice. `advert_interface` is the instance's
/// `interface`, when valid.
pub fn list(ck: &mut Checker, node: &Node, advert_interface: Option<&str>) -> Option<VipList> {
    let items = match &node.kind {
        Kind::Seq(items) => items,
        Kind::Str(s) => {
            ck.error(
                node.pos,
                format!("virtual_ips must be a list; write `- {s}` on the next line"),
            );
            return None;
        }
        other => {
            ck.error(
                node.pos,
                format!("virtual_ips must be a list, found {}", other.type_name()),
            );
            return None;
        }
    };
    if items.is_empty() {
        ck.error(
            node.pos,
            "virtual_ips is empty; list at least one address such as 192.0.2.50/24",
        );
        return None;
    }
    let mut ok = true;
    let mut vips = Vec::with_capacity(items.len());
    let mut positions = Vec::with_capacity(items.len());
    let mut first_family: Option<VirtualIp> = None;
    let mut seen: HashMap<IpAddr, Pos> = HashMap::new();
    for node in items {
        let Some(vip) = item(ck, node, advert_interface) else {
            ok = false;
            continue;
        };
        if let Some(first) = first_family.filter(|f| f.address_family() != vip.address_family()) {
            ck.error(
                node.pos,
                format!(
                    "{vip} is {} but {first} is {}; an instance serves one address family, \
                     so put {} addresses in a second instance (it may use the same vrid)",
                    vip.address_family(),
                    first.address_family(),
                    vip.address_family()
                ),
            );
            ok = false;
        }
        first_family.get_or_insert(vip);
        if let Some(first) = seen.get(&vip.addr) {
            ck.error(
                node.pos,
                format!(
                    "{} is listed twice (first on line {})",
                    vip.addr, first.line
                ),
            );
            ok = false;
        }
        seen.entry(vip.addr).or_insert(node.pos);
        vips.push(vip);
        positions.push(node.pos);
    }
    ok.then_some(VipList { vips, positions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_families_with_prefix() {
        let v = parse("192.0.2.50/24").unwrap();
        assert_eq!(v.addr, "192.0.2.50".parse::<IpAddr>().unwrap());
        assert_eq!(v.prefix_len, 24);
        assert_eq!(
            parse("2001:db8::50/64").unwrap().to_string(),
            "2001:db8::50/64"
        );
        assert_eq!(parse("192.0.2.50/32").unwrap().prefix_len, 32);
        assert_eq!(parse("198.51.100.0/31").unwrap().prefix_len, 31);
        assert!(parse("fe80::1/64").is_ok());
    }

    #[test]
    fn missing_prefix_suggests_the_fix() {
        assert_eq!(
            parse("192.0.2.50").unwrap_err(),
            "virtual IP 192.0.2.50 has no prefix length; write 192.0.2.50/24 (or /32 for a host address)"
        );
        assert!(parse("2001:db8::50")
            .unwrap_err()
            .contains("write 2001:db8::50/64"));
    }

    #[test]
    fn rejects_bad_prefixes_and_addresses() {
        assert!(parse("192.0.2.50/33")
            .unwrap_err()
            .contains("out of range 0..=32"));
        assert!(parse("2001:db8::50/129")
            .unwrap_err()
            .contains("out of range 0..=128"));
        assert!(parse("192.0.2.50/").is_err());
        assert!(parse("192.0.2.50/+24").is_err());
        assert!(parse("192.0.2.300/24")
            .unwrap_err()
            .contains("not an IP address"));
        assert!(parse("web/24").is_err());
        for bad in [
            "0.0.0.0/0",
            "127.0.0.1/8",
            "224.0.0.18/32",
            "255.255.255.255/32",
            "192.0.2.0/24",
            "192.0.2.255/24",
            "::/64",
            "::1/128",
            "ff02::12/128",
            "2001:db8::/64",
        ] {
            assert!(
                parse(bad).unwrap_err().contains("cannot be a virtual IP"),
                "{bad}"
            );
        }
    }
}
