//! The schema walker: checks the located YAML tree against the configuration
//! schema, builds the typed [`Config`], and collects every error on the way.

use std::net::IpAddr;
use std::num::NonZeroU8;
use std::sync::Arc;
use std::time::Duration;

use super::duration;
use super::error::ConfigErrors;
use super::heartbeat;
use super::interop::{self, VrrpVersion};
use super::model::{
    defaults, AddressFamily, Config, Control, EventSinks, Garp, Hooks, Instance, Ipv4Checksum,
    VipLifetime, VirtualIp,
};
use super::parse_control;
use super::parse_health::{self as health, CheckSet};
use super::parse_notify::{self as notify, HookOwner};
use super::parse_quorum;
use super::peers::{self, PeerList};
use super::reader::{
    boolean, duration_in, duration_value, int_in, interface_value, name_value, optional, Checker,
    MapReader,
};
use super::unique::{check_unique, Ident};
use super::vip;
use super::yaml::{self, Kind, Node, Pos};

const TOP_KEYS: &[&str] = &[
    "instances",
    "checks",
    "sync_groups",
    "events",
    "script_user",
    "control",
    "metrics",
    "realtime_priority",
    "vip_lifetime",
    "peers",
    "quorum",
    "node_id",
];
const INSTANCE_KEYS: &[&str] = &[
    "name",
    "interface",
    "vrid",
    "priority",
    "advert_interval",
    "preempt",
    "preempt_delay",
    "accept",
    "virtual_ips",
    "ipv4_checksum",
    "garp",
    "track",
    "hooks",
    "vip_lifetime",
    "peers",
    "heartbeat",
    "version",
    "unicast_peers",
    "unicast_source",
    "vmac",
];
const GARP_KEYS: &[&str] = &["count", "interval", "refresh"];

/// Parses and validates configuration text; `file_name` only labels the errors.
pub fn parse_str(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    let mut ck = Checker {
        file: file_name,
        errors: Vec::new(),
    };
    let config = match yaml::parse(text) {
        Ok(root) => config(&mut ck, &root),
        Err(e) => {
            // The parser appends the position to its message; we print it in front.
            let message = match e.message.rsplit_once(" at line ") {
                _ if e.message.contains("multiple YAML documents") => {
                    "a configuration file holds one YAML document; remove the second `---`"
                        .to_owned()
                }
                Some((m, _)) if e.pos.is_some() => m.to_owned(),
                _ => e.message,
            };
            let pos = e.pos.unwrap_or(Pos { line: 0, col: 0 });
            ck.error(pos, format!("invalid YAML: {message}"));
            None
        }
    };
    match config {
        Some(config) if ck.errors.is_empty() => Ok(config),
        _ => {
            ck.errors.sort_by_key(|e| (e.line, e.col));
            Err(ConfigErrors(ck.errors))
        }
    }
}

/// Parses `vip_lifetime`: `forever`, or a whole number of seconds in range.
fn vip_lifetime(ck: &mut Checker, node: &Node) -> Option<VipLifetime> {
    if let Kind::Str(text) = &node.kind {
        if text == "forever" {
            return Some(VipLifetime::Forever);
        }
    }
    if !matches!(node.kind, Kind::Str(_)) {
        ck.error(
            node.pos,
            format!(
                "vip_lifetime must be a duration such as `2s`, or `forever`; found {}",
                node.kind.type_name()
            ),
        );
        return None;
    }
    let (lo, hi) = (defaults::VIP_LIFETIME_MIN, defaults::VIP_LIFETIME_MAX);
    let lifetime = duration_in(ck, "vip_lifetime", node, lo, hi)?;
    if lifetime.subsec_nanos() != 0 {
        let up = Duration::from_secs(lifetime.as_secs() + 1);
        ck.error(
            node.pos,
            format!(
                "vip_lifetime {} is not a whole number of seconds; the kernel counts address \
                 lifetimes in seconds, write `{}`",
                duration::format(lifetime),
                duration::format(up)
            ),
        );
        return None;
    }
    Some(VipLifetime::Fixed(lifetime))
}

fn config(ck: &mut Checker, root: &Node) -> Option<Config> {
    if root.kind == Kind::Null {
        ck.error(
            Pos { line: 1, col: 1 },
            "the file is empty; expected `instances:` followed by a list of instances, \
             or `instances: []` for an agent that holds no virtual IP",
        );
        return None;
    }
    let top = MapReader::new(ck, root, "the top level", TOP_KEYS)?;
    // Named checks first: instances refer to them; so do they to `peers`.
    let mut checks = CheckSet::default();
    if let Some(node) = top.get("checks") {
        health::named_checks(ck, node, &mut checks);
    }
    let vip_lifetime = optional(top.get("vip_lifetime"), Some(VipLifetime::Derived), |n| {
        vip_lifetime(ck, n)
    });
    // `None`: the list is invalid (reported); `Some(None)`: there is none.
    let shared_peers = match top.get("peers") {
        Some(node) => peers::list(ck, node, None).map(Some),
        None => Some(None),
    };
    let (instances, names) = match top.required(
        ck,
        "the configuration",
        "instances",
        "the list of virtual routers (`instances: []` for none)",
    ) {
        Some(list) => instances(
            ck,
            list,
            &mut checks,
            vip_lifetime.unwrap_or_default(),
            shared_peers.as_ref(),
        ),
        None => (None, None),
    };
    let sync_groups = optional(top.get("sync_groups"), Some(Vec::new()), |n| {
        notify::sync_groups(ck, n, names.as_deref())
    });
    let events = optional(top.get("events"), Some(EventSinks::default()), |n| {
        notify::events(ck, n)
    });
    let script_user = optional(
        top.get("script_user"),
        Some(defaults::SCRIPT_USER.to_owned()),
        |n| notify::script_user(ck, n),
    );
    let control = optional(top.get("control"), Some(Control::default()), |n| {
        parse_control::control(ck, n)
    });
    let metrics = optional(top.get("metrics"), Some(None), |n| {
        parse_control::metrics(ck, n).map(Some)
    });
    let realtime_priority = optional(
        top.get("realtime_priority"),
        Some(defaults::REALTIME_PRIORITY),
        |n| int_in(ck, "realtime_priority", n, 0, 99).and_then(|p| u8::try_from(p).ok()),
    );
    let quorum = optional(top.get("quorum"), Some(None), |n| {
        parse_quorum::quorum(ck, n).map(Some)
    });
    let quorum_given = top.get("quorum").is_some();
    let node_id = match top.get("node_id") {
        Some(n) => parse_quorum::node_id(ck, n),
        None => parse_quorum::default_node_id(ck, top.pos(), quorum_given),
    };
    Some(Config {
        realtime_priority: realtime_priority?,
        vip_lifetime: vip_lifetime?,
        instances: shared(instances?),
        checks: checks.into_checks(),
        sync_groups: sync_groups?,
        events: events?,
        script_user: script_user?,
        control: control?,
        metrics: metrics?,
        quorum: quorum?,
        node_id: node_id?,
    })
}

/// The instances, each shared, in a list of their own.
///
/// Not collected in place: that would keep the parsed list's buffer (some
/// 0.8 KiB per instance, a megabyte at a thousand) to hold pointers of 8
/// bytes, for the agent's whole life.
fn shared(instances: Vec<Instance>) -> Vec<Arc<Instance>> {
    let mut shared = Vec::with_capacity(instances.len());
    for instance in instances {
        shared.push(Arc::new(instance));
    }
    shared
}

/// The `instances:` list, and the instance names when the list could be read.
fn instances(
    ck: &mut Checker,
    list: &Node,
    checks: &mut CheckSet,
    vip_lifetime: VipLifetime,
    shared_peers: Option<&Option<PeerList>>,
) -> (Option<Vec<Instance>>, Option<Vec<String>>) {
    if list.kind == Kind::Null {
        ck.error(
            list.pos,
            "instances has no value; list instances under it (items start with `- `), \
             or write `instances: []` for none",
        );
        return (None, None);
    }
    let Kind::Seq(items) = &list.kind else {
        ck.error(
            list.pos,
            format!(
                "instances must be a list (items start with `- `), found {}",
                list.kind.type_name()
            ),
        );
        return (None, None);
    };
    // An empty list is a valid configuration: the agent runs and holds no
    // virtual IP (the packaged file ships like this until it is filled in).
    let parsed: Vec<(Option<Instance>, Ident)> = items
        .iter()
        .map(|n| instance(ck, n, checks, vip_lifetime, shared_peers))
        .collect();
    check_unique(ck, parsed.iter().map(|(_, id)| id));
    let names = parsed
        .iter()
        .filter_map(|(_, id)| id.name.as_ref().map(|(n, _)| n.clone()))
        .collect();
    let instances: Option<Vec<Instance>> = parsed.into_iter().map(|(i, _)| i).collect();
    (instances, Some(names))
}

fn instance(
    ck: &mut Checker,
    node: &Node,
    checks: &mut CheckSet,
    default_lifetime: VipLifetime,
    shared_peers: Option<&Option<PeerList>>,
) -> (Option<Instance>, Ident) {
    let mut id = Ident::default();
    let Some(map) = MapReader::new(ck, node, "an instance", INSTANCE_KEYS) else {
        return (None, id);
    };
    const WHAT: &str = "this instance";
    let name = map
        .required(ck, WHAT, "name", "a unique label such as `web`")
        .and_then(|n| name_value(ck, n));
    id.name = name.clone().zip(map.get("name").map(|n| n.pos));
    let interface = map
        .required(
            ck,
            WHAT,
            "interface",
            "the network interface such as `eth0`",
        )
        .and_then(|n| interface_value(ck, n));
    id.interface = interface.clone();
    let vrid = map
        .required(ck, WHAT, "vrid", "the virtual router id (1..=255)")
        .and_then(|n| Some((int_in(ck, "vrid", n, 1, 255)?, n.pos)));
    id.vrid = vrid.and_then(|(v, pos)| Some((u8::try_from(v).ok()?, pos)));
    let virtual_ips = map
        .required(
            ck,
            WHAT,
            "virtual_ips",
            "the list of virtual IPs such as `- 192.0.2.50/24`",
        )
        .and_then(|n| vip::list(ck, n, interface.as_deref()));
    if let (Some(list), Some(ifname)) = (&virtual_ips, &interface) {
        id.vips = list
            .vips
            .iter()
            .zip(&list.positions)
            .map(|(vip, pos)| {
                let on = vip
                    .interface
                    .map_or(ifname.clone(), |i| i.as_str().to_owned());
                (on, vip.addr, *pos)
            })
            .collect();
    }
    let virtual_ips = virtual_ips.map(|list| list.vips);
    id.family = virtual_ips
        .as_ref()
        .and_then(|v| v.first())
        .map(VirtualIp::address_family);

    let priority = optional(map.get("priority"), Some(defaults::PRIORITY), |n| {
        int_in(ck, "priority", n, 1, 255).and_then(|p| NonZeroU8::new(u8::try_from(p).ok()?))
    });
    let advert_interval = optional(
        map.get("advert_interval"),
        Some(defaults::ADVERT_INTERVAL),
        |n| advert_interval(ck, n),
    );
    let preempt = optional(map.get("preempt"), Some(true), |n| {
        boolean(ck, "preempt", n)
    });
    let preempt_delay = optional(map.get("preempt_delay"), Some(Duration::ZERO), |n| {
        duration_in(
            ck,
            "preempt_delay",
            n,
            Duration::ZERO,
            defaults::PREEMPT_DELAY_MAX,
        )
    });
    let accept = optional(map.get("accept"), Some(true), |n| boolean(ck, "accept", n));
    let version = optional(map.get("version"), Some(VrrpVersion::V3), |n| {
        interop::version(ck, n, id.family, advert_interval)
    });
    let unicast_peers = optional(map.get("unicast_peers"), Some(Vec::new()), |n| {
        interop::unicast_peers(ck, n, id.family)
    });
    let unicast_source = optional(map.get("unicast_source"), Some(None), |n| {
        if map.get("unicast_peers").is_none() {
            ck.error(
                n.pos,
                "unicast_source applies only with unicast_peers; add the peers or remove it",
            );
            return None;
        }
        interop::unicast_source(ck, n, id.family).map(Some)
    });
    // Without unicast_source an IPv6 advert leaves from the link-local,
    // which a peer that is listed by its global address cannot know.
    if let (Some(peers), Some(None), Some(node)) =
        (&unicast_peers, &unicast_source, map.get("unicast_peers"))
    {
        if let Some(global) = peers.iter().find(|p| is_global_v6(**p)) {
            ck.error(
                node.pos,
                format!(
                    "unicast peer {global} is a global IPv6 address, so the peers must know \
                     this host by a global one too: set unicast_source to this host's address \
                     on the interface (adverts would leave from its link-local otherwise)"
                ),
            );
        }
    }
    let vmac = optional(map.get("vmac"), Some(None), |n| {
        interop::vmac(ck, n, id.vrid.map(|(v, _)| v), id.family)
    });
    let ipv4_checksum = optional(
        map.get("ipv4_checksum"),
        Some(Ipv4Checksum::default()),
        |n| {
            if id.family == Some(AddressFamily::Ipv6) {
                ck.error(
                    n.pos,
                    "ipv4_checksum applies only to IPv4 instances; remove it here",
                );
                return None;
            }
            ipv4_checksum(ck, n)
        },
    );
    let garp = optional(map.get("garp"), Some(Garp::default()), |n| garp(ck, n));
    let track = optional(map.get("track"), Some(Vec::new()), |n| {
        // An instance without a valid name is an error already; any label will do.
        let label = name.as_deref().unwrap_or("?");
        health::track(ck, n, label, checks)
    });
    let hooks = optional(map.get("hooks"), Some(Hooks::default()), |n| {
        notify::hooks(ck, n, HookOwner::Instance)
    });
    let peers = instance_peers(
        ck,
        map.get("peers"),
        id.family,
        name.as_deref(),
        shared_peers,
    );

    // With unicast, the peers adverts go to are the only ones they come from.
    let peers = match (&unicast_peers, map.get("peers")) {
        (Some(list), Some(node)) if !list.is_empty() => {
            ck.error(
                node.pos,
                "unicast_peers already names the only routers adverts are accepted from; \
                 remove peers here",
            );
            None
        }
        (Some(list), None) if !list.is_empty() => Some(Some(list.clone())),
        _ => peers,
    };

    let lifetime = optional(map.get("vip_lifetime"), Some(default_lifetime), |n| {
        vip_lifetime(ck, n)
    });
    let heartbeat = optional(map.get("heartbeat"), Some(Vec::new()), |n| {
        // Heartbeat links carry the advert to the group on other interfaces,
        // and the peers list names the routers by each of their addresses;
        // unicast_peers names one address a router, on this interface only.
        if map.get("unicast_peers").is_some() {
            ck.error(
                n.pos,
                "heartbeat links send to the multicast group, which unicast_peers \
                 replaces; remove heartbeat, or remove unicast_peers to use multicast",
            );
            return None;
        }
        heartbeat::links(ck, n, interface.as_deref())
    });
    id.heartbeat = heartbeat.clone().unwrap_or_default();

    let instance = (|| {
        Some(Instance {
            name: name?,
            interface: interface?,
            vrid: id.vrid?.0,
            priority: priority?,
            advert_interval: advert_interval?,
            preempt: preempt?,
            preempt_delay: preempt_delay?,
            accept: accept?,
            virtual_ips: virtual_ips?.into(),
            ipv4_checksum: ipv4_checksum?,
            garp: garp?,
            track: track?.into(),
            hooks: Hooks::shared(hooks?),
            vip_lifetime: lifetime?,
            peers: peers?.map(Into::into),
            heartbeat: heartbeat?.into_iter().map(|(ifname, _)| ifname).collect(),
            version: version?,
            unicast_peers: unicast_peers?.into(),
            unicast_source: unicast_source?,
            vmac: vmac?,
        })
    })();
    (instance, id)
}

/// The peers an instance accepts adverts from: its own `peers`, else the
/// top-level list's addresses of its family. `None` when a list is invalid
/// (the error is reported), `Some(None)` when no list applies.
fn instance_peers(
    ck: &mut Checker,
    own: Option<&Node>,
    family: Option<AddressFamily>,
    name: Option<&str>,
    shared: Option<&Option<PeerList>>,
) -> Option<Option<Vec<IpAddr>>> {
    if let Some(node) = own {
        // Without a known family (bad virtual_ips, reported there), any
        // family is accepted here rather than reporting a second error.
        return peers::list(ck, node, family).map(|list| Some(list.addresses));
    }
    let shared = shared?.as_ref();
    let (Some(list), Some(family)) = (shared, family) else {
        return Some(None);
    };
    let addresses = list.of_family(family);
    if addresses.is_empty() {
        let name = name.unwrap_or("?");
        ck.error(
            list.pos,
            format!(
                "peers lists no {family} address, so instance `{name}` would refuse every \
                 advert; add its routers' {family} addresses here, or give `{name}` its own `peers`"
            ),
        );
        return None;
    }
    Some(Some(addresses))
}

fn advert_interval(ck: &mut Checker, node: &Node) -> Option<Duration> {
    let (lo, hi) = (defaults::ADVERT_INTERVAL_MIN, defaults::ADVERT_INTERVAL_MAX);
    let d = duration_in(ck, "advert_interval", node, lo, hi)?;
    // RFC 9568 §5.2.7: the interval travels as a 12-bit count of centiseconds.
    if !crate::vrrp::is_valid_adver_interval(d) {
        let d = duration::format(d);
        ck.error(
            node.pos,
            format!(
                "advert_interval {d} is not a multiple of 10ms; VRRP carries it in centiseconds"
            ),
        );
        return None;
    }
    Some(d)
}

fn ipv4_checksum(ck: &mut Checker, node: &Node) -> Option<Ipv4Checksum> {
    match &node.kind {
        Kind::Str(s) if s == "pseudo-header" => Some(Ipv4Checksum::PseudoHeader),
        Kind::Str(s) if s == "rfc9568" => Some(Ipv4Checksum::Rfc9568),
        _ => {
            ck.error(
                node.pos,
                "ipv4_checksum must be `pseudo-header` or `rfc9568`",
            );
            None
        }
    }
}

fn garp(ck: &mut Checker, node: &Node) -> Option<Garp> {
    let map = MapReader::new(ck, node, "garp", GARP_KEYS)?;
    let count = optional(map.get("count"), Some(defaults::GARP_COUNT), |n| {
        int_in(ck, "garp.count", n, 1, defaults::GARP_COUNT_MAX.into())
            .and_then(|c| u8::try_from(c).ok())
    });
    let interval = optional(map.get("interval"), Some(defaults::GARP_INTERVAL), |n| {
        duration_in(
            ck,
            "garp.interval",
            n,
            Duration::ZERO,
            defaults::GARP_INTERVAL_MAX,
        )
    });
    let refresh = optional(map.get("refresh"), Some(None), |n| {
        let d = duration_value(ck, "garp.refresh", n)?;
        let (lo, hi) = (defaults::GARP_REFRESH_MIN, defaults::GARP_REFRESH_MAX);
        if d.is_zero() {
            Some(None)
        } else if d < lo || d > hi {
            let (d, lo, hi) = (
                duration::format(d),
                duration::format(lo),
                duration::format(hi),
            );
            ck.error(
                n.pos,
                format!("garp.refresh {d} is out of range {lo}..={hi} (or 0s to turn it off)"),
            );
            None
        } else {
            Some(Some(d))
        }
    });
    Some(Garp {
        count: count?,
        interval: interval?,
        refresh: refresh?,
    })
}

/// Every key the schema accepts, as the dotted paths of the reference
/// (`instances[].garp.count`, `sync_groups[].hooks.*.timeout`), built from the
/// key lists the parser checks mappings against.
///
/// An inline `track:` item takes the keys of a `checks:` item; those are
/// listed once, under `checks[]`.
#[cfg(test)]
pub(super) fn accepted_keys() -> Vec<String> {
    use super::parse_control::{CONTROL_KEYS, METRICS_KEYS};
    use super::parse_health::{CHECK_KEYS, TRACK_KEYS};
    use super::parse_notify::{
        EVENTS_KEYS, HOOK_FORM_KEYS, HOOK_KEYS, INSTANCE_ONLY_HOOK_KEYS, SYNC_GROUP_KEYS,
    };
    use super::parse_quorum::{ETCD_KEYS, QUORUM_KEYS, TLS_KEYS};
    let under = |prefix: &str, keys: &[&str]| -> Vec<String> {
        keys.iter().map(|k| format!("{prefix}{k}")).collect()
    };
    let group_hooks: Vec<&str> = HOOK_KEYS
        .iter()
        .copied()
        .filter(|k| !INSTANCE_ONLY_HOOK_KEYS.contains(k))
        .collect();
    let track_only: Vec<&str> = TRACK_KEYS
        .iter()
        .copied()
        .filter(|k| !CHECK_KEYS.contains(k))
        .collect();
    [
        under("", TOP_KEYS),
        under("instances[].", INSTANCE_KEYS),
        under("instances[].virtual_ips[].", vip::VIP_KEYS),
        under("instances[].garp.", GARP_KEYS),
        under("instances[].track[].", &track_only),
        under("checks[].", CHECK_KEYS),
        under("instances[].hooks.", HOOK_KEYS),
        under("instances[].hooks.*.", HOOK_FORM_KEYS),
        under("sync_groups[].", SYNC_GROUP_KEYS),
        under("sync_groups[].hooks.", &group_hooks),
        under("sync_groups[].hooks.*.", HOOK_FORM_KEYS),
        under("events.", EVENTS_KEYS),
        under("control.", CONTROL_KEYS),
        under("metrics.", METRICS_KEYS),
        under("quorum.", QUORUM_KEYS),
        under("quorum.etcd.", ETCD_KEYS),
        under("quorum.etcd.tls.", TLS_KEYS),
    ]
    .concat()
}

/// An IPv6 address outside fe80::/10: one a unicast peer is listed by when
/// it is not on-link only.
fn is_global_v6(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(a) if a.segments()[0] & 0xffc0 != 0xfe80)
}
