//! One line of keepalived's `virtual_ipaddress` block:
//! `ADDRESS[/LEN] [dev IF] [brd ADDR] [label L] [scope S] [flags...]`.
//! (keepalived's `A.B.C.D-E` ranges belong to `virtual_server_group`; in
//! `virtual_ipaddress` keepalived skips them as invalid, and so does the import.)

use std::net::IpAddr;

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

/// The virtual IP of one block line, if it is one; `instance_interface` is
/// where it goes unless the line names another `dev`.
pub fn vip(
    item: &Statement,
    instance_interface: &str,
    findings: &mut Vec<Finding>,
) -> Option<VipOut> {
    let Some((address, prefix)) = address(&item.keyword) else {
        findings.push(Finding::unmapped(
            &item.at,
            &item.keyword,
            "not an address with an optional /LEN; left out",
        ));
        return None;
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
    Some(VipOut {
        address,
        prefix,
        interface,
    })
}

/// The address of `text` with its prefix length (keepalived's default: /32
/// for IPv4, /128 for IPv6).
fn address(text: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let ip = address.parse::<IpAddr>().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some((ip, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_host_prefixes_and_ranges_are_not_addresses() {
        let v4 = |s: &str| IpAddr::V4(s.parse().unwrap());
        assert_eq!(address("192.0.2.10/24"), Some((v4("192.0.2.10"), 24)));
        assert_eq!(address("192.0.2.10"), Some((v4("192.0.2.10"), 32)));
        assert_eq!(
            address("2001:db8::10"),
            Some(("2001:db8::10".parse().unwrap(), 128))
        );
        assert_eq!(address("192.0.2.10-12/24"), None);
        assert_eq!(address("192.0.2.10/33"), None);
        assert_eq!(address("www"), None);
    }
}
