//! One `vrrp_instance` as one twinstar instance, or two when its virtual IPs
//! are of both families (twinstar runs one instance per family; the import
//! joins the two in a sync group so they move together, as keepalived's
//! single instance did).

use std::net::IpAddr;
use std::time::Duration;

use super::super::out::{GarpOut, InstanceOut, TrackOut, VipOut};
use super::super::report::Finding;
use super::super::tree::Statement;
use super::garp::{garp_setting, merge_garp};
use super::hooks::{hook, hook_key, set_hook, Owner};
use super::track::Declared;
use super::values::{round_to, seconds, twinstar_name};
use super::vip::vip;

/// What `global_defs` sets for every instance.
#[derive(Debug, Default)]
pub struct Globals {
    /// `vrrp_version` (2 or 3; keepalived's default is 2).
    pub version: Option<u8>,
    /// `vrrp_strict`: implies `no_accept`.
    pub strict: bool,
    /// `vrrp_garp_*` (IPv4) defaults.
    pub garp_v4: GarpOut,
    /// `vrrp_garp_*` with `vrrp_gna_interval` (IPv6) defaults.
    pub garp_v6: GarpOut,
    /// The user scripts and hooks will run as.
    pub script_user: String,
}

/// Keywords with no twinstar equivalent, and why.
const NO_EQUIVALENT: &[(&str, &str)] = &[
    (
        "authentication",
        "twinstar sends no authentication (RFC 9568 removed it); remove \
        it from the keepalived pair first, or keepalived drops \
        twinstar's adverts",
    ),
    (
        "garp_lower_prio_delay",
        "twinstar sends no announcements on hearing a lower priority",
    ),
    (
        "garp_lower_prio_repeat",
        "twinstar sends no announcements on hearing a lower priority",
    ),
    ("smtp_alert", "twinstar sends no mail; use a hook"),
    (
        "vmac_xmit_base",
        "twinstar sends adverts from the virtual MAC's interface",
    ),
    (
        "dont_track_primary",
        "twinstar always puts an instance in Fault when its interface \
        goes down",
    ),
    ("virtual_routes", "twinstar adds no routes; use hooks"),
    ("virtual_rules", "twinstar adds no rules; use hooks"),
    ("track_bfd", "twinstar has no BFD"),
    ("notify_master_rx_lower_pri", "no twinstar equivalent"),
    ("notify_deleted", "no twinstar equivalent"),
];

/// The instance (and its other-family sibling) of `vrrp_instance` block `s`.
pub fn instance(
    s: &Statement,
    globals: &Globals,
    declared: &mut Declared,
    findings: &mut Vec<Finding>,
) -> Vec<InstanceOut> {
    let keepalived_name = s.first_arg().unwrap_or("unnamed");
    let name = twinstar_name(keepalived_name);
    if name != keepalived_name {
        findings.push(Finding::note(
            &s.at,
            &s.keyword,
            format!("`{keepalived_name}` is named `{name}` in twinstar"),
        ));
    }
    let mut out = InstanceOut {
        from: s.at.clone(),
        what: format!("vrrp_instance {keepalived_name}"),
        name,
        interface: String::new(),
        vrid: 0,
        priority: None,
        advert_interval: None,
        preempt: None,
        preempt_delay: None,
        accept: None,
        version: None,
        virtual_ips: Vec::new(),
        unicast_peers: Vec::new(),
        unicast_source: None,
        vmac: None,
        garp: GarpOut::default(),
        track: Vec::new(),
        hooks: Vec::new(),
    };
    let interface = s
        .children()
        .iter()
        .rev()
        .find(|c| c.keyword == "interface")
        .and_then(Statement::first_arg)
        .unwrap_or_default()
        .to_owned();
    let mut vips: Vec<VipOut> = Vec::new();
    let (mut version, mut advert, mut v6) = (None, None, false);
    let (mut garp, mut gna_interval, mut mcast_source) = (GarpOut::default(), None, None);
    for item in s.children() {
        let key = item.keyword.as_str();
        let arg = item.first_arg();
        let bad = |findings: &mut Vec<Finding>, what: &str| {
            findings.push(Finding::unmapped(
                &item.at,
                key,
                format!("`{}` is not {what}; left out", arg.unwrap_or("")),
            ))
        };
        match key {
            "state" => findings.push(Finding::note(
                &item.at,
                key,
                "keepalived's initial state only; twinstar starts as Backup and \
                elects by priority, as keepalived does from the first advert, so \
                the same host ends up Master",
            )),
            "interface" => out.interface = interface.clone(),
            "virtual_router_id" => {
                match arg.and_then(|v| v.parse::<u8>().ok()).filter(|v| *v > 0) {
                    Some(vrid) => out.vrid = vrid,
                    None => bad(findings, "a VRID in 1..=255"),
                }
            }
            "priority" => match arg.and_then(|v| v.parse::<u8>().ok()).filter(|v| *v > 0) {
                Some(p) => out.priority = Some(p),
                None => bad(findings, "a priority in 1..=255"),
            },
            "advert_int" => match arg.and_then(seconds).filter(|d| !d.is_zero()) {
                Some(d) => advert = Some((d, item)),
                None => bad(findings, "a number of seconds"),
            },
            "nopreempt" | "no_preempt" => out.preempt = Some(false),
            "preempt" => {}
            "preempt_delay" => match arg.and_then(seconds) {
                Some(d) if d <= Duration::from_secs(3600) => {
                    out.preempt_delay = Some(round_to(d, Duration::from_millis(1)))
                }
                _ => bad(findings, "a delay in 0..=3600 seconds"),
            },
            "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                if key == "virtual_ipaddress_excluded" && !item.children().is_empty() {
                    findings.push(Finding::note(
                        &item.at,
                        key,
                        "twinstar advertises these addresses too (it has no excluded \
                        addresses); keepalived peers only log the difference",
                    ));
                }
                for line in item.children() {
                    vips.extend(vip(line, &interface, findings));
                }
            }
            "unicast_src_ip" => match arg.and_then(|a| a.parse::<IpAddr>().ok()) {
                Some(ip) => out.unicast_source = Some(ip),
                None => bad(findings, "an IP address"),
            },
            "mcast_src_ip" => match arg.and_then(|a| a.parse::<IpAddr>().ok()) {
                Some(ip) => mcast_source = Some((ip, item)),
                None => bad(findings, "an IP address"),
            },
            "unicast_peer" => {
                for peer in item.children() {
                    match peer.keyword.parse::<IpAddr>() {
                        Ok(ip) => out.unicast_peers.push(ip),
                        Err(_) => findings.push(Finding::unmapped(
                            &peer.at,
                            key,
                            format!("`{}` is not an IP address; left out", peer.keyword),
                        )),
                    }
                    if !peer.args.is_empty() {
                        findings.push(Finding::unmapped(
                            &peer.at,
                            key,
                            format!(
                                "`{}`: twinstar accepts a unicast peer's adverts with any TTL",
                                peer.arg_texts().join(" ")
                            ),
                        ));
                    }
                }
            }
            "use_vmac" => match item.arg_texts().as_slice() {
                [] => out.vmac = Some("true".to_owned()),
                [name] => out.vmac = Some((*name).to_owned()),
                [name, ..] => {
                    out.vmac = Some((*name).to_owned());
                    findings.push(Finding::unmapped(
                        &item.at,
                        key,
                        "twinstar uses the RFC's virtual MAC 00-00-5E-00-01-{VRID}; the \
                        MAC given is ignored",
                    ));
                }
            },
            "native_ipv6" => v6 = true,
            "version" => match arg {
                Some("2") => version = Some(2),
                Some("3") => version = Some(3),
                _ => bad(findings, "2 or 3"),
            },
            "accept" => out.accept = Some(true),
            "no_accept" => out.accept = Some(false),
            "garp_master_delay"
            | "garp_master_repeat"
            | "garp_master_refresh"
            | "garp_master_refresh_repeat"
            | "garp_interval" => garp_setting(&mut garp, item, findings),
            "gna_interval" => match arg.and_then(seconds) {
                Some(d) => gna_interval = Some(d),
                None => bad(findings, "a number of seconds"),
            },
            _ if hook_key(key).is_some() => {
                if let Some(h) = hook(item, Owner::Instance, &globals.script_user, findings) {
                    set_hook(&mut out.hooks, h, item, findings);
                }
            }
            _ => match declared.track(item, findings) {
                Some(items) => out.track.extend(items),
                None => {
                    let why = if key.starts_with(['@', '$', '~']) {
                        "conditional configuration and parameters are not read; line left out"
                    } else {
                        NO_EQUIVALENT
                            .iter()
                            .find(|(k, _)| *k == key)
                            .map_or("no twinstar equivalent", |(_, why)| why)
                    };
                    findings.push(Finding::unmapped(&item.at, key, why));
                }
            },
        }
    }
    // keepalived.conf(5): with unicast peers `interface` may be omitted when
    // the VIPs name theirs; twinstar needs one to advertise on: the first VIP's.
    if out.interface.is_empty() && !out.unicast_peers.is_empty() {
        if let Some(dev) = vips.iter().find_map(|v| v.interface.clone()) {
            findings.push(Finding::note(
                &s.at,
                &s.keyword,
                format!("has no `interface`; adverts go out on `{dev}`, its first VIP's"),
            ));
            for vip in vips
                .iter_mut()
                .filter(|v| v.interface.as_ref() == Some(&dev))
            {
                vip.interface = None;
            }
            out.interface = dev;
        }
    }
    if out.interface.is_empty() || out.vrid == 0 || vips.is_empty() {
        findings.push(Finding::unmapped(
            &s.at,
            &s.keyword,
            "needs `interface`, `virtual_router_id` and a virtual IP address; instance left out",
        ));
        return Vec::new();
    }
    if !v6 {
        v6 = vips.first().is_some_and(|v| v.address.is_ipv6());
    }
    let (own, other): (Vec<VipOut>, Vec<VipOut>) =
        vips.into_iter().partition(|v| v.address.is_ipv6() == v6);
    out.virtual_ips = own;
    let unicast = !out.unicast_peers.is_empty();
    out.unicast_peers.retain(|p| {
        let keep = p.is_ipv6() == v6;
        if !keep {
            findings.push(Finding::unmapped(
                &s.at,
                "unicast_peer",
                format!("{p} is of the other address family than the instance; left out"),
            ));
        }
        keep
    });
    match mcast_source {
        Some((ip, _)) if unicast && out.unicast_source.is_none() => out.unicast_source = Some(ip),
        Some((_, item)) if !unicast || out.unicast_source.is_some() => {
            findings.push(Finding::unmapped(
                &item.at,
                "mcast_src_ip",
                "twinstar sends multicast adverts from the interface's primary address",
            ));
        }
        _ => {}
    }
    if v6 {
        if version == Some(2) {
            findings.push(Finding::note(
                &s.at,
                "version",
                "an IPv6 instance speaks VRRPv3 (keepalived does the same)",
            ));
        }
    } else {
        out.version = Some(match version.or(globals.version) {
            Some(3) => ("3", "from vrrp_version / version 3"),
            Some(_) => ("2", "from vrrp_version / version 2"),
            None => (
                "2",
                "keepalived's default protocol (no vrrp_version): VRRPv2",
            ),
        });
    }
    out.advert_interval =
        advert.map(|(d, item)| advert_interval(d, out.version.map(|v| v.0), item, findings));
    if out.accept.is_none() && globals.strict {
        out.accept = Some(false);
    }
    out.garp = merge_garp(
        &garp,
        if v6 {
            &globals.garp_v6
        } else {
            &globals.garp_v4
        },
    );
    if v6 {
        out.garp.interval = gna_interval.or(out.garp.interval);
    }
    dedupe_interface_tracks(&mut out.track);
    let mut result = vec![out];
    if !other.is_empty() {
        result.push(sibling(&result[0], other, s, findings));
    }
    result
}

/// The instance for the VIPs of the other family: same router settings,
/// VRRPv3 for IPv6 (v2 has no IPv6), multicast (the peers are of the first
/// family).
fn sibling(
    first: &InstanceOut,
    vips: Vec<VipOut>,
    s: &Statement,
    findings: &mut Vec<Finding>,
) -> InstanceOut {
    let v6 = vips[0].address.is_ipv6();
    let suffix = if v6 { "-v6" } else { "-v4" };
    let name = twinstar_name(&format!(
        "{}{suffix}",
        first
            .name
            .chars()
            .take(32 - suffix.len())
            .collect::<String>()
    ));
    findings.push(Finding::note(
        &s.at,
        &s.keyword,
        format!(
            "holds addresses of both families; twinstar runs one instance per \
            family, so the {} ones are in instance `{name}` (same VRID, \
            advertised too), joined to `{}` in a sync group",
            if v6 { "IPv6" } else { "IPv4" },
            first.name
        ),
    ));
    if !first.unicast_peers.is_empty() {
        findings.push(Finding::unmapped(
            &s.at,
            "unicast_peer",
            format!(
                "instance `{name}` advertises by multicast: keepalived's peers \
            are of the other family"
            ),
        ));
    }
    InstanceOut {
        what: format!(
            "{} (its {} addresses)",
            first.what,
            if v6 { "IPv6" } else { "IPv4" }
        ),
        name,
        version: if v6 {
            None
        } else {
            Some(("3", "the IPv4 side of an IPv6 instance"))
        },
        virtual_ips: vips,
        unicast_peers: Vec::new(),
        unicast_source: None,
        hooks: Vec::new(),
        ..first.clone()
    }
}

/// `advert_int` for twinstar: whole seconds up to 255 for VRRPv2, else
/// 10 ms steps in 10ms..=40.95s (keepalived rounds the same way).
fn advert_interval(
    d: Duration,
    version: Option<&str>,
    item: &Statement,
    findings: &mut Vec<Finding>,
) -> Duration {
    let (step, lo, hi) = match version {
        Some("2") => (
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(255),
        ),
        _ => (
            Duration::from_millis(10),
            Duration::from_millis(10),
            Duration::from_millis(40_950),
        ),
    };
    let rounded = round_to(d, step).clamp(lo, hi);
    if rounded != d {
        findings.push(Finding::note(
            &item.at,
            "advert_int",
            format!("{d:?} became {rounded:?}, the nearest interval this VRRP version can carry"),
        ));
    }
    rounded
}

/// twinstar tracks an object once per instance: a repeated interface keeps
/// its first weight.
fn dedupe_interface_tracks(track: &mut Vec<TrackOut>) {
    let mut seen: Vec<(bool, String)> = Vec::new();
    track.retain(|t| {
        let key = match t {
            TrackOut::Check { name, .. } => (true, name.clone()),
            TrackOut::Interface { name, .. } => (false, name.clone()),
        };
        let fresh = !seen.contains(&key);
        seen.push(key);
        fresh
    });
}
