//! Tests of `vip_lifetime`, at the top level and per instance.

use std::time::Duration;

use super::tests::errors;
use super::*;

/// `top` (starting on line 1), then one instance whose lines 3-7 end with
/// `extra`, starting on line 8.
fn file(top: &str, extra: &str) -> String {
    format!(
        "{top}\ninstances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    advert_interval: 100ms\n    virtual_ips: [192.0.2.50/24]\n{extra}"
    )
}

fn parse(text: &str) -> Config {
    parse_str(text, "config.yaml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn omitted_lifetime_is_four_intervals_in_whole_seconds_at_least_two() {
    let config = parse(&file("", ""));
    assert_eq!(config.vip_lifetime, VipLifetime::Derived);
    let web = &config.instances[0];
    assert_eq!(web.vip_lifetime, VipLifetime::Derived);
    // 4 × 100ms = 400ms: the 2s floor.
    assert_eq!(web.address_lifetime(), Some(Duration::from_secs(2)));
    let derived = |interval_ms| VipLifetime::Derived.resolve(Duration::from_millis(interval_ms));
    assert_eq!(derived(1000), Some(Duration::from_secs(4)));
    assert_eq!(derived(1010), Some(Duration::from_secs(5)));
    assert_eq!(derived(500), Some(Duration::from_secs(2)));
    assert_eq!(derived(40950), Some(Duration::from_secs(164)));
}

#[test]
fn top_level_lifetime_is_every_instance_default_and_an_instance_overrides_it() {
    let config = parse(&file("vip_lifetime: forever", ""));
    assert_eq!(config.vip_lifetime, VipLifetime::Forever);
    assert_eq!(config.instances[0].address_lifetime(), None);
    let config = parse(&file("vip_lifetime: 10s", "    vip_lifetime: 3s\n"));
    assert_eq!(
        config.vip_lifetime,
        VipLifetime::Fixed(Duration::from_secs(10))
    );
    assert_eq!(
        config.instances[0].address_lifetime(),
        Some(Duration::from_secs(3))
    );
    let config = parse(&file("vip_lifetime: 10s", "    vip_lifetime: forever\n"));
    assert_eq!(config.instances[0].address_lifetime(), None);
    let config = parse(&file("vip_lifetime: 1m", ""));
    assert_eq!(
        config.instances[0].address_lifetime(),
        Some(Duration::from_secs(60))
    );
}

#[test]
fn bad_lifetimes_name_the_fix() {
    assert_eq!(
        errors(&file("vip_lifetime: 1s", "")),
        ["1:15: vip_lifetime 1s is out of range 2s..=1440m"]
    );
    assert_eq!(
        errors(&file("", "    vip_lifetime: 2.5s\n")),
        ["8:19: vip_lifetime 2.5s is not a whole number of seconds; the kernel counts address lifetimes in seconds, write `3s`"]
    );
    assert_eq!(
        errors(&file("vip_lifetime: 5", "")),
        ["1:15: vip_lifetime must be a duration such as `2s`, or `forever`; found an integer"]
    );
    assert_eq!(
        errors(&file("", "    vip_lifetime: never\n")),
        [format!(
            "8:19: vip_lifetime: {}",
            parse_duration("never").unwrap_err()
        )]
    );
}
