//! How `twinstar watch` shows what it knows: a table for a person (redrawn
//! in place on a terminal) or one JSON object per line per change, for a
//! program. Both read the [`Segment`] and its [`Change`]s, nothing else.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::segment::{Change, Router, Segment, VridKey};

/// ANSI: clear the screen and move the cursor home, to redraw in place.
pub const CLEAR: &str = "\x1b[2J\x1b[H";

/// A MAC address as `ip` prints it.
pub fn mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn family(key: &VridKey) -> &'static str {
    if key.ipv6 {
        "ipv6"
    } else {
        "ipv4"
    }
}

/// What a router is doing, for the table.
fn role(router: &Router, master: Option<IpAddr>) -> &'static str {
    if !router.active {
        "silent"
    } else if router.priority == 0 {
        "resigning"
    } else if Some(router.source) == master {
        "master"
    } else {
        "advertising"
    }
}

/// The table of every router heard, then the anomalies, as of `now`.
pub fn table(segment: &Segment, now: Instant) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<10} {:<4} {:>4}  {:<26} {:<17} {:>3} {:>4} {:>8}  {:<13} {:>3}  {:<11} {:>6}  VIPS",
        "IFACE",
        "FAM",
        "VRID",
        "SOURCE",
        "MAC",
        "VER",
        "PRIO",
        "INTERVAL",
        "CHECKSUM",
        "TTL",
        "ROLE",
        "LAST"
    );
    let mut anomalies = Vec::new();
    for (key, vrid) in segment.vrids() {
        for router in vrid.routers.values() {
            let last = now.saturating_duration_since(router.last_heard);
            let vips: Vec<String> = router.addresses.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                text,
                "{:<10} {:<4} {:>4}  {:<26} {:<17} {:>3} {:>4} {:>8}  {:<13} {:>3}  {:<11} {:>6}  {}",
                key.interface,
                family(key).trim_start_matches("ip"),
                key.vrid,
                router.source,
                mac(&router.mac),
                router.version,
                router.priority,
                format!("{:?}", router.interval),
                router.checksum.as_str(),
                router.ttl,
                role(router, vrid.master),
                format!("{:.1}s", last.as_secs_f64()),
                vips.join(" ")
            );
        }
        for anomaly in &vrid.anomalies {
            anomalies.push(format!(
                "  {} {} VRID {}: {anomaly}",
                key.interface,
                family(key),
                key.vrid
            ));
        }
    }
    if segment.vrids().is_empty() {
        text.push_str("(no VRRP advertisement heard yet)\n");
    }
    if anomalies.is_empty() {
        text.push_str("\nno anomaly\n");
    } else {
        let _ = writeln!(text, "\nanomalies:\n{}", anomalies.join("\n"));
    }
    text
}

/// One line of `--json`: the change and when (Unix time, seconds).
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Line<'a> {
    Router {
        time: f64,
        interface: &'a str,
        family: &'static str,
        vrid: u8,
        source: IpAddr,
        version: u8,
        mac: String,
        priority: u8,
        interval_ms: u128,
        checksum: &'static str,
        ttl: u8,
        vips: &'a [IpAddr],
    },
    Silent {
        time: f64,
        interface: &'a str,
        family: &'static str,
        vrid: u8,
        source: IpAddr,
        version: u8,
    },
    Master {
        time: f64,
        interface: &'a str,
        family: &'static str,
        vrid: u8,
        master: Option<IpAddr>,
    },
    Anomaly {
        time: f64,
        interface: &'a str,
        family: &'static str,
        vrid: u8,
        kind: &'static str,
        detail: &'a str,
        raised: bool,
    },
    Malformed {
        time: f64,
        interface: &'a str,
        source: IpAddr,
        reason: &'static str,
    },
}

/// `change` as one JSON object (no newline); `time` is the Unix time.
pub fn json_line(change: &Change, time: Duration) -> String {
    let time = time.as_secs_f64();
    let line = match change {
        Change::Router { key, router } => Line::Router {
            time,
            interface: &key.interface,
            family: family(key),
            vrid: key.vrid,
            source: router.source,
            version: router.version,
            mac: mac(&router.mac),
            priority: router.priority,
            interval_ms: router.interval.as_millis(),
            checksum: router.checksum.as_str(),
            ttl: router.ttl,
            vips: &router.addresses,
        },
        Change::Silent {
            key,
            source,
            version,
        } => Line::Silent {
            time,
            interface: &key.interface,
            family: family(key),
            vrid: key.vrid,
            source: *source,
            version: *version,
        },
        Change::Master { key, master } => Line::Master {
            time,
            interface: &key.interface,
            family: family(key),
            vrid: key.vrid,
            master: *master,
        },
        Change::Anomaly {
            key,
            anomaly,
            raised,
        } => Line::Anomaly {
            time,
            interface: &key.interface,
            family: family(key),
            vrid: key.vrid,
            kind: anomaly.kind.as_str(),
            detail: &anomaly.detail,
            raised: *raised,
        },
        Change::Malformed {
            interface,
            source,
            reason,
        } => Line::Malformed {
            time,
            interface,
            source: *source,
            reason,
        },
    };
    // A struct of strings, numbers and addresses always serialises.
    serde_json::to_string(&line).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::watch::frame::{Checksum, Heard};
    use crate::wire::vrrp::ChecksumForm;

    fn heard(octet: u8, priority: u8) -> Heard {
        Heard {
            source_mac: [2, 0, 0, 0, 0, octet],
            source: IpAddr::V4(Ipv4Addr::new(192, 0, 2, octet)),
            destination: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            ttl: 255,
            version: 3,
            vrid: 51,
            priority,
            interval: Duration::from_millis(100),
            checksum: Checksum::Valid(ChecksumForm::PseudoHeader),
            addresses: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50))],
        }
    }

    #[test]
    fn a_router_line_carries_every_setting_under_stable_names() {
        let mut segment = Segment::new(None);
        let changes = segment.observe(Instant::now(), "eth0", heard(11, 150));
        let line = json_line(&changes[0], Duration::from_millis(1_500));
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(
            value,
            serde_json::json!({
                "event": "router", "time": 1.5, "interface": "eth0", "family": "ipv4",
                "vrid": 51, "source": "192.0.2.11", "version": 3, "mac": "02:00:00:00:00:0b",
                "priority": 150, "interval_ms": 100, "checksum": "pseudo-header", "ttl": 255,
                "vips": ["192.0.2.50"]
            })
        );
        let master = json_line(&changes[1], Duration::ZERO);
        assert!(
            master.contains(r#""event":"master""#) && master.contains(r#""master":"192.0.2.11""#)
        );
    }

    #[test]
    fn the_table_shows_each_router_its_role_and_the_anomalies() {
        let t0 = Instant::now();
        let mut segment = Segment::new(None);
        segment.observe(t0, "eth0", heard(11, 150));
        let mut other = heard(12, 0);
        other.ttl = 1;
        segment.observe(t0, "eth0", other);
        let text = table(&segment, t0 + Duration::from_millis(50));
        let row = |source: &str| {
            text.lines()
                .find(|l| l.contains(source))
                .unwrap_or_else(|| panic!("no row for {source}:\n{text}"))
                .to_owned()
        };
        let master = row("192.0.2.11 ");
        assert!(
            master.contains("master") && master.contains("02:00:00:00:00:0b"),
            "{text}"
        );
        assert!(
            master.contains("pseudo-header") && master.contains("100ms"),
            "{text}"
        );
        assert!(row("192.0.2.12 ").contains("resigning"), "{text}");
        assert!(
            text.contains("eth0 ipv4 VRID 51: ttl: 192.0.2.12 (v3) sends with TTL 1"),
            "{text}"
        );
        let empty = table(&Segment::new(None), t0);
        assert!(
            empty.contains("(no VRRP advertisement heard yet)") && empty.ends_with("no anomaly\n")
        );
    }
}
