//! Tests of `virtual_ips` items that name their own interface.

use super::tests::errors;
use super::*;

/// One instance `web` on eth1 (lines 2-5) whose `virtual_ips` start on line 6,
/// then `rest` from line 6 + the number of lines of `vips`.
fn file(vips: &str, rest: &str) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth1\n    vrid: 51\n    virtual_ips:\n{vips}{rest}"
    )
}

fn parse(text: &str) -> Config {
    parse_str(text, "config.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn name(text: &str) -> Option<InterfaceName> {
    Some(InterfaceName::new(text).unwrap())
}

#[test]
fn every_form_of_vip_is_accepted_and_an_interface_is_kept_when_it_differs() {
    let config = parse(&file(
        "      - 192.0.2.50/24\n      - {address: 192.0.2.51/24, interface: eth0}\n      - address: 192.0.2.52/24\n      - {address: 192.0.2.53/24, interface: eth1}\n",
        "",
    ));
    let web = &config.instances[0];
    let on: Vec<(String, Option<InterfaceName>)> = web
        .virtual_ips
        .iter()
        .map(|v| (v.to_string(), v.interface))
        .collect();
    assert_eq!(
        on,
        vec![
            ("192.0.2.50/24".to_owned(), None),
            ("192.0.2.51/24".to_owned(), name("eth0")),
            ("192.0.2.52/24".to_owned(), None),
            // The advert interface written out is the same VIP as none.
            ("192.0.2.53/24".to_owned(), None),
        ]
    );
    assert_eq!(web.vip_interface(&web.virtual_ips[1]), "eth0");
    assert_eq!(web.vip_interface(&web.virtual_ips[0]), "eth1");
    assert_eq!(web.vip_only_interfaces(), vec!["eth0"]);
}

#[test]
fn mistakes_in_the_mapping_form_are_reported_where_they_are() {
    assert_eq!(
        errors(&file(
            "      - {address: 192.0.2.50/24, interface: eth0/1}\n      - {interface: eth0}\n      - {address: 192.0.2.52, interface: eth0}\n      - {address: 192.0.2.53/24, interfase: eth0}\n      - {address: [192.0.2.54/24]}\n      - {address: 192.0.2.55/24, interface: [eth0]}\n",
            ""
        )),
        vec![
            "6:45: interface `eth0/1` is not a valid Linux interface name; use 1 to 15 characters without `/`, `:` or spaces",
            "7:9: this virtual IP is missing `address`, the address with prefix length such as `192.0.2.50/24`",
            "8:19: virtual IP 192.0.2.52 has no prefix length; write 192.0.2.52/24 (or /32 for a host address)",
            "9:34: unknown key `interfase` in a virtual IP; did you mean `interface`?",
            "10:19: address must be an address with prefix length such as 192.0.2.50/24, found a list",
            "11:45: interface must be text, found a list",
        ]
    );
}

#[test]
fn an_address_listed_twice_is_an_error_even_on_two_interfaces() {
    assert_eq!(
        errors(&file(
            "      - 192.0.2.50/24\n      - {address: 192.0.2.50/24, interface: eth0}\n",
            ""
        )),
        vec!["7:9: 192.0.2.50 is listed twice (first on line 6)"]
    );
}

/// A second instance `db` (vrid 52, on `interface`) with one VIP on line 12.
fn second(interface: &str, vip: &str) -> String {
    format!(
        "  - name: db\n    interface: {interface}\n    vrid: 52\n    virtual_ips:\n      - {vip}\n"
    )
}

#[test]
fn two_instances_may_not_hold_one_address_on_one_interface() {
    let one = "      - {address: 192.0.2.50/24, interface: eth0}\n";
    assert_eq!(
        errors(&file(one, &second("eth0", "192.0.2.50/24"))),
        vec!["11:9: 192.0.2.50 on eth0 is already a virtual IP of instance `web` (line 6); an address on an interface belongs to one instance"]
    );
    assert_eq!(
        errors(&file(
            one,
            &second("eth1", "{address: 192.0.2.50/24, interface: eth0}")
        )),
        vec!["11:9: 192.0.2.50 on eth0 is already a virtual IP of instance `web` (line 6); an address on an interface belongs to one instance"]
    );
    // The same address on another interface is another VIP.
    let config = parse(&file(one, &second("eth1", "192.0.2.50/24")));
    assert_eq!(config.instances.len(), 2);
}
