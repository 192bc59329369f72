//! The `peers` lists: the addresses of the other routers of a virtual router,
//! from which alone adverts are accepted. VRRPv3 has no authentication, so
//! without a list any host on the segment can claim to be Master.

use std::collections::HashMap;
use std::net::IpAddr;

use super::model::AddressFamily;
use super::reader::Checker;
use super::yaml::{Kind, Node, Pos};

/// A `peers` list as written, with the position of each address, before it is
/// narrowed to one instance's address family.
#[derive(Debug, Clone)]
pub struct PeerList {
    /// Where the list starts, for errors about the list as a whole.
    pub pos: Pos,
    /// The addresses, in file order.
    pub addresses: Vec<IpAddr>,
}

impl PeerList {
    /// The addresses of `family`: what an instance of that family inherits
    /// from the top-level list.
    pub fn of_family(&self, family: AddressFamily) -> Vec<IpAddr> {
        self.addresses
            .iter()
            .copied()
            .filter(|a| family_of(*a) == family)
            .collect()
    }
}

fn family_of(address: IpAddr) -> AddressFamily {
    match address {
        IpAddr::V4(_) => AddressFamily::Ipv4,
        IpAddr::V6(_) => AddressFamily::Ipv6,
    }
}

/// Reads a `peers` list. `family` is the instance's address family (an
/// instance's own list must match it); `None` for the top-level list, which
/// may hold both families. Every mistake is reported.
pub fn list(ck: &mut Checker, node: &Node, family: Option<AddressFamily>) -> Option<PeerList> {
    let items = match &node.kind {
        Kind::Seq(items) => items,
        Kind::Str(s) => {
            ck.error(
                node.pos,
                format!("peers must be a list; write `- {s}` on the next line"),
            );
            return None;
        }
        other => {
            ck.error(
                node.pos,
                format!(
                    "peers must be a list of the other routers' addresses, found {}",
                    other.type_name()
                ),
            );
            return None;
        }
    };
    if items.is_empty() {
        ck.error(
            node.pos,
            "peers is empty, which would refuse every advert; list the other routers' \
             addresses, or remove `peers` to accept adverts from any router",
        );
        return None;
    }
    let mut ok = true;
    let mut seen: HashMap<IpAddr, Pos> = HashMap::new();
    let mut addresses = Vec::with_capacity(items.len());
    for item in items {
        let parsed = match &item.kind {
            Kind::Str(s) => parse(s),
            other => Err(format!(
                "a peer must be an IP address such as 192.0.2.12 or fe80::12, found {}",
                other.type_name()
            )),
        };
        let address = match parsed {
            Ok(address) => address,
            Err(e) => {
                ck.error(item.pos, e);
                ok = false;
                continue;
            }
        };
        if let Some(family) = family.filter(|f| *f != family_of(address)) {
            ck.error(
                item.pos,
                format!(
                    "peer {address} is {} but this instance serves {family}; \
                     list the {family} addresses its routers send adverts from",
                    family_of(address)
                ),
            );
            ok = false;
        }
        if let Some(first) = seen.get(&address) {
            ck.error(
                item.pos,
                format!(
                    "peer {address} is listed twice (first on line {})",
                    first.line
                ),
            );
            ok = false;
        }
        seen.entry(address).or_insert(item.pos);
        addresses.push(address);
    }
    ok.then_some(PeerList {
        pos: node.pos,
        addresses,
    })
}

/// One peer address: a unicast address an advert can come from. IPv6 adverts
/// come from the sender's link-local address (RFC 9568 §5.1.2.1), so only
/// link-local IPv6 addresses can ever match.
pub fn parse(text: &str) -> Result<IpAddr, String> {
    let Ok(address) = text.parse::<IpAddr>() else {
        let hint = if text.contains('/') {
            "; write the address without a prefix length"
        } else {
            ""
        };
        return Err(format!(
            "peer `{text}` is not an IP address such as 192.0.2.12 or fe80::12{hint}"
        ));
    };
    let refused = match address {
        IpAddr::V4(a) if a.is_unspecified() || a.is_loopback() => Some("is not a router's address"),
        IpAddr::V4(a) if a.is_multicast() || a.is_broadcast() => {
            Some("is a group address; list each router's own address")
        }
        IpAddr::V6(a) if a.is_multicast() => {
            Some("is a group address; list each router's own address")
        }
        IpAddr::V6(a) if (a.segments()[0] & 0xffc0) != 0xfe80 => Some(
            "is not link-local, and IPv6 adverts come from the sender's link-local address \
             (RFC 9568 §5.1.2.1); list that (fe80::...)",
        ),
        _ => None,
    };
    match refused {
        Some(why) => Err(format!("peer {address} {why}")),
        None => Ok(address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_router_addresses_of_both_families() {
        assert_eq!(parse("192.0.2.12"), Ok("192.0.2.12".parse().unwrap()));
        assert_eq!(parse("fe80::12"), Ok("fe80::12".parse().unwrap()));
    }

    #[test]
    fn refuses_what_no_advert_comes_from() {
        for (text, why) in [
            ("192.0.2.12/24", "without a prefix length"),
            ("router-b", "not an IP address"),
            ("0.0.0.0", "not a router's address"),
            ("127.0.0.1", "not a router's address"),
            ("224.0.0.18", "group address"),
            ("255.255.255.255", "group address"),
            ("ff02::12", "group address"),
            ("2001:db8::12", "not link-local"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn a_family_filter_keeps_the_order_of_the_file() {
        let list = PeerList {
            pos: Pos { line: 1, col: 1 },
            addresses: ["fe80::1", "192.0.2.12", "192.0.2.11"]
                .iter()
                .map(|a| a.parse().unwrap())
                .collect(),
        };
        let v4: Vec<String> = list
            .of_family(AddressFamily::Ipv4)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(v4, ["192.0.2.12", "192.0.2.11"]);
        assert_eq!(list.of_family(AddressFamily::Ipv6).len(), 1);
    }
}
