//! One line of keepalived's `virtual_ipaddress` block:
//! `ADDRESS[/LEN] [dev IF] [brd ADDR] [label L] [scope S] [flags...]`, with
//! `A.B.C.D-E` standing for a range of IPv4 addresses.

use std::net::{IpAddr, Ipv4Addr};

use super::super::out::VipOut;
use super::super::report::Finding;
use super::super::tree::Statement;

/// Options that take a value; each is reported with why it does not map.
const VALUED: &[(&str, &str)] = &[
    (
        "brd",
        "twinstar lets the kernel derive the broadcast address",
    ),
    ("label", "twinstar adds addresses without a label"),
    (
        "preferred_lft",
        "twinstar sets its own address lifetime (`vip_lifetime`)",
    ),
    (
        "valid_lft",
        "twinstar sets its own address lifetime (`vip_lifetime`)",
    ),
    ("track_group", "no twinstar equivalent"),
];

/// The virtual IPs of one block line; `instance_interface` is where they go
/// unless the line names another `dev`.
pub fn vips(
    item: &Statement,
    instance_interface: &str,
    findings: &mut Vec<Finding>,
) -> Vec<VipOut> {
    let Some(addresses) = addresses(&item.keyword) else {
        findings.push(Finding::unmapped(
            &item.at,
            &item.keyword,
            "not an address with an optional /LEN; left out",
        ));
        return Vec::new();
    };
    let mut interface = None;
    let mut args = item.args.iter().map(|w| w.text.as_str());
    while let Some(option) = args.next() {
        match option {
            "dev" => match args.next() {
                Some(dev) if dev != instance_interface => interface = Some(dev.to_owned()),
                Some(_) => {}
                None => findings.push(Finding::unmapped(&item.at, "dev", "names no interface")),
            },
            "scope" => {
                if let Some(scope) = args.next().filter(|s| *s != "global") {
                    findings.push(Finding::unmapped(
                        &item.at,
                        "scope",
                        format!("twinstar adds addresses with scope global, not `{scope}`"),
                    ));
                }
            }
            option => match VALUED.iter().find(|(key, _)| *key == option) {
                Some((key, why)) => {
                    let value = args.next().unwrap_or_default();
                    findings.push(Finding::unmapped(
                        &item.at,
                        key,
                        format!("`{key} {value}` of {}: {why}", item.keyword),
                    ));
                }
                None => findings.push(Finding::unmapped(
                    &item.at,
                    option,
                    format!("option of {}: no twinstar equivalent", item.keyword),
                )),
            },
        }
    }
    addresses
        .into_iter()
        .map(|(address, prefix)| VipOut {
            address,
            prefix,
            interface: interface.clone(),
        })
        .collect()
}

/// The addresses of `text` with their prefix length (keepalived's default:
/// /32 for IPv4, /128 for IPv6), a range expanded.
fn addresses(text: &str) -> Option<Vec<(IpAddr, u8)>> {
    let (address, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (text, None),
    };
    if let Ok(ip) = address.parse::<IpAddr>() {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        return (prefix <= max).then(|| vec![(ip, prefix)]);
    }
    // keepalived.conf(5): `192.168.200.1-10` is .1 to .10 inclusive.
    let (first, last) = address.split_once('-')?;
    let first: Ipv4Addr = first.parse().ok()?;
    let last: u8 = last.parse().ok()?;
    let [a, b, c, start] = first.octets();
    let prefix = prefix.unwrap_or(32);
    (start <= last && prefix <= 32).then(|| {
        (start..=last)
            .map(|d| (IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_host_prefixes_and_ranges_expand() {
        let v4 = |s: &str| IpAddr::V4(s.parse().unwrap());
        assert_eq!(
            addresses("192.0.2.10/24"),
            Some(vec![(v4("192.0.2.10"), 24)])
        );
        assert_eq!(addresses("192.0.2.10"), Some(vec![(v4("192.0.2.10"), 32)]));
        assert_eq!(
            addresses("2001:db8::10"),
            Some(vec![("2001:db8::10".parse().unwrap(), 128)])
        );
        assert_eq!(
            addresses("192.0.2.10-12/24"),
            Some(vec![
                (v4("192.0.2.10"), 24),
                (v4("192.0.2.11"), 24),
                (v4("192.0.2.12"), 24)
            ])
        );
        assert_eq!(addresses("192.0.2.10/33"), None);
        assert_eq!(addresses("www"), None);
    }
}
