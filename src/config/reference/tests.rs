//! Tests that hold the reference to the parser: every accepted key documented,
//! every documented key accepted, documented defaults equal to the real ones,
//! and the generated `docs/configuration.md` and manual page up to date.

use std::collections::BTreeSet;
use std::time::Duration;

use super::super::{defaults, format_duration, parse::accepted_keys, parse_str};
use super::*;

#[test]
fn every_accepted_key_is_documented_and_every_documented_key_accepted() {
    let accepted: BTreeSet<String> = accepted_keys().into_iter().collect();
    let documented: BTreeSet<String> = KEYS.iter().map(|k| k.key.to_owned()).collect();
    let undocumented: Vec<_> = accepted.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&accepted).collect();
    assert!(
        undocumented.is_empty(),
        "keys the parser accepts but src/config/reference.rs does not document: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "keys documented in src/config/reference.rs that the parser rejects: {unknown:?}"
    );
    assert_eq!(documented.len(), KEYS.len(), "a key is documented twice");
}

#[test]
fn keys_are_grouped_in_section_order() {
    let order = |title: &str| SECTIONS.iter().position(|s| s.title == title);
    let mut last = 0;
    for key in KEYS {
        let Some(pos) = order(key.section) else {
            panic!("{} is in unknown section {}", key.key, key.section)
        };
        assert!(pos >= last, "{} is out of section order", key.key);
        last = pos;
    }
    for section in SECTIONS {
        assert!(
            keys_of(section.title).next().is_some(),
            "{} is empty",
            section.title
        );
    }
}

fn default_of(key: &str) -> &'static str {
    match KEYS.iter().find(|k| k.key == key) {
        Some(k) => k.default,
        None => panic!("{key} is not documented"),
    }
}

#[test]
fn documented_defaults_are_the_defaults() {
    let duration = |key: &str, d: Duration| {
        assert_eq!(default_of(key), format_duration(d), "default of {key}");
    };
    let number = |key: &str, n: String| assert_eq!(default_of(key), n, "default of {key}");
    number("instances[].priority", defaults::PRIORITY.to_string());
    duration("instances[].advert_interval", defaults::ADVERT_INTERVAL);
    number("instances[].garp.count", defaults::GARP_COUNT.to_string());
    duration("instances[].garp.interval", defaults::GARP_INTERVAL);
    duration("checks[].interval", defaults::CHECK_INTERVAL);
    number("checks[].rise", defaults::RISE_FALL.to_string());
    number("checks[].fall", defaults::RISE_FALL.to_string());
    number("checks[].status", defaults::HTTP_STATUS.to_string());
    duration("instances[].hooks.*.timeout", defaults::HOOK_TIMEOUT);
    duration("sync_groups[].hooks.*.timeout", defaults::HOOK_TIMEOUT);
    duration(
        "instances[].hooks.before_master_retry",
        defaults::BEFORE_MASTER_RETRY,
    );
    assert_eq!(default_of("script_user"), defaults::SCRIPT_USER);
    assert_eq!(
        default_of("realtime_priority"),
        defaults::REALTIME_PRIORITY.to_string()
    );
}

#[test]
fn documented_defaults_are_what_an_omitted_key_gives() {
    let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    \
                virtual_ips: [192.0.2.50/24]\n    track: [{process: haproxy}]\n\
                metrics: {port: 9650}\n";
    let config = parse_str(text, "t.yaml").unwrap();
    let i = &config.instances[0];
    assert_eq!(default_of("instances[].preempt"), i.preempt.to_string());
    assert_eq!(default_of("instances[].accept"), i.accept.to_string());
    assert_eq!(
        default_of("instances[].preempt_delay"),
        format_duration(i.preempt_delay)
    );
    assert_eq!(default_of("instances[].ipv4_checksum"), "pseudo-header");
    assert_eq!(i.ipv4_checksum, crate::config::Ipv4Checksum::PseudoHeader);
    assert_eq!(default_of("instances[].garp.refresh"), "0s");
    assert_eq!(i.garp.refresh, None);
    assert_eq!(
        default_of("instances[].track[].weight"),
        i.track[0].weight.to_string()
    );
    let crate::config::CheckKind::Process { min, max, .. } = &config.checks[0].kind else {
        panic!("not a process check")
    };
    assert_eq!(default_of("checks[].min"), min.to_string());
    assert_eq!((default_of("checks[].max"), *max), ("none", None));
    assert_eq!(default_of("checks[].timeout"), "interval");
    assert_eq!(config.checks[0].timeout, config.checks[0].interval);
    let listen = config.metrics.as_ref().map(|m| m.listen.ip().to_string());
    assert_eq!(Some(default_of("metrics.address").to_owned()), listen);
}

#[test]
fn the_example_is_valid() {
    if let Err(e) = parse_str(EXAMPLE, "example.yaml") {
        panic!("the reference's example does not validate:\n{e}");
    }
}

#[test]
fn docs_configuration_md_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let expected = markdown();
    if std::env::var_os("TWINSTAR_UPDATE_DOCS").is_some() {
        std::fs::write(path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/configuration.md differs from src/config/reference.rs; regenerate it with\n    \
         TWINSTAR_UPDATE_DOCS=1 cargo test --lib config::reference\n\
         (or `twinstar generate --out DIR` and copy DIR/configuration.md)"
    );
}

#[test]
fn man_page_names_every_key_and_has_no_stray_requests() {
    let page = man_page();
    for key in KEYS {
        assert!(
            page.contains(&format!("\\fB{}\\fR", roff_escape(key.key))),
            "{} missing",
            key.key
        );
    }
    for line in page.lines() {
        assert!(!line.starts_with('\''), "stray roff request: {line}");
        if let Some(request) = line.strip_prefix('.') {
            let name: String = request
                .chars()
                .take_while(|c| c.is_alphanumeric())
                .collect();
            assert!(
                ["TH", "SH", "PP", "TP", "nf", "fi", "RS", "RE"].contains(&name.as_str()),
                "unexpected roff request: {line}"
            );
        }
    }
}
