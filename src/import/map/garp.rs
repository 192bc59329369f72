//! keepalived's gratuitous ARP / unsolicited NA settings (`garp_*`, and the
//! `vrrp_garp_*` defaults of `global_defs`) as an instance's `garp`.
//! twinstar sends one burst on becoming Master (`count` announcements
//! `interval` apart) and optionally refreshes them (`refresh`).

use std::time::Duration;

use super::super::out::GarpOut;
use super::super::report::Finding;
use super::super::tree::Statement;
use super::values::{round_to, seconds};

/// Applies one `garp_*` setting to `garp`.
pub fn garp_setting(garp: &mut GarpOut, item: &Statement, findings: &mut Vec<Finding>) {
    let key = item.keyword.trim_start_matches("vrrp_");
    let value = item.first_arg().unwrap_or_default();
    let secs = seconds(value);
    let count = value.parse::<u32>().ok();
    match (key, secs, count) {
        ("garp_master_delay", Some(d), _) if d.is_zero() => {}
        ("garp_master_delay", ..) => findings.push(Finding::unmapped(
            &item.at,
            &item.keyword,
            "twinstar sends one burst of announcements on becoming Master, \
            not a second one after a delay; use `garp.refresh` for periodic \
            ones",
        )),
        ("garp_master_repeat", _, Some(n)) => garp.count = Some(within(n, 1, 100, item, findings)),
        ("garp_master_refresh", Some(d), _) if d.is_zero() => garp.refresh = Some(d),
        ("garp_master_refresh", Some(d), _) => {
            let secs = u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
            garp.refresh = Some(Duration::from_secs(
                within(secs, 1, 3600, item, findings).into(),
            ));
        }
        ("garp_master_refresh_repeat", _, Some(1)) => {}
        ("garp_master_refresh_repeat", ..) => findings.push(Finding::unmapped(
            &item.at,
            &item.keyword,
            "twinstar sends one announcement per address per refresh",
        )),
        ("garp_interval" | "gna_interval", Some(d), _) => {
            let millis = u32::try_from(round_to(d, Duration::from_millis(1)).as_millis())
                .unwrap_or(u32::MAX);
            garp.interval = Some(Duration::from_millis(
                within(millis, 0, 10_000, item, findings).into(),
            ));
        }
        _ => findings.push(Finding::unmapped(
            &item.at,
            &item.keyword,
            format!("`{value}` is not a valid value; left out"),
        )),
    }
}

/// `value` brought into twinstar's range `lo..=hi`, reporting a change.
fn within(value: u32, lo: u32, hi: u32, item: &Statement, findings: &mut Vec<Finding>) -> u32 {
    let kept = value.clamp(lo, hi);
    if kept != value {
        findings.push(Finding::unmapped(
            &item.at,
            &item.keyword,
            format!("{value} is outside twinstar's range {lo}..={hi}; {kept} is used"),
        ));
    }
    kept
}

/// The instance's own settings over the global ones.
pub fn merge_garp(own: &GarpOut, global: &GarpOut) -> GarpOut {
    GarpOut {
        count: own.count.or(global.count),
        interval: own.interval.or(global.interval),
        refresh: own.refresh.or(global.refresh),
    }
}
