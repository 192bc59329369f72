//! One check definition, shared by `checks:` items and inline `track:` items:
//! its kind key and value, the options of that kind, and the timing keys.
//! Only the schema of tracked objects (`parse_health.rs`) reads check bodies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::config::model::{defaults, CheckKind, HttpCheck};
use crate::config::reader::{
    absolute_path, command, concat_keys, duration_in, int_in, interface_value, optional, string,
    Checker, MapReader,
};
use crate::config::yaml::Node;

/// The keys that say what a check checks; a check has exactly one.
const KIND_KEYS: &[&str] = &[
    "script",
    "interface",
    "file",
    "process",
    "tcp",
    "http",
    "ping",
];

/// Options that belong to one kind only, with that kind's key.
const KIND_OPTIONS: &[(&str, &str)] = &[
    ("min", "process"),
    ("max", "process"),
    ("status", "http"),
    ("body_contains", "http"),
];

/// How often a check runs, how long a run may take, and how many results in a
/// row change its state.
const TIMING_KEYS: &[&str] = &["interval", "timeout", "rise", "fall"];

/// Every key of a check body: its kind, the options of the kinds, its timing.
pub const BODY_KEYS: &[&str] = &concat_keys::<15>(&[
    KIND_KEYS,
    &["min", "max", "status", "body_contains"],
    TIMING_KEYS,
]);

/// A check as read, before it gets its name.
pub struct CheckBody {
    pub kind: CheckKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

/// Reads the kind, its options and the timing of the check in `map`, whose keys
/// the caller has already checked. `None` when anything was wrong (and reported).
pub fn check_body(ck: &mut Checker, map: &MapReader) -> Option<CheckBody> {
    let mut kinds: Vec<_> = KIND_KEYS.iter().filter_map(|k| map.key(k)).collect();
    kinds.sort_by_key(|k| k.pos);
    let allowed = "`script`, `interface`, `file`, `process`, `tcp`, `http` or `ping`";
    if kinds.is_empty() {
        ck.error(
            map.pos(),
            format!("this check says nothing to check; give exactly one of {allowed}"),
        );
    }
    if let Some((first, extra)) = kinds.split_first() {
        for key in extra {
            ck.error(
                key.pos,
                format!(
                    "this check already has `{}` (line {}); a check has exactly one of {allowed}, \
                     so make `{}` a check of its own",
                    first.text, first.pos.line, key.text
                ),
            );
        }
    }
    for (option, owner) in KIND_OPTIONS {
        match map.key(option) {
            Some(key) if !kinds.is_empty() && !kinds.iter().any(|k| k.text == *owner) => {
                let kind = kinds.first().map_or("", |k| k.text.as_str());
                ck.error(
                    key.pos,
                    format!(
                        "`{option}` applies only to `{owner}` checks; remove it from this `{kind}` check"
                    ),
                );
            }
            _ => {}
        }
    }
    // Every kind value is read, so a second kind's mistakes are reported too.
    let mut parsed: Vec<Option<CheckKind>> = kinds
        .iter()
        .filter_map(|key| Some(kind(ck, map, &key.text, map.get(&key.text)?)))
        .collect();
    let kind = match parsed.len() {
        1 => parsed.pop().flatten(),
        _ => None,
    };

    let (lo, hi) = (defaults::CHECK_INTERVAL_MIN, defaults::CHECK_INTERVAL_MAX);
    let interval = optional(map.get("interval"), Some(defaults::CHECK_INTERVAL), |n| {
        duration_in(ck, "interval", n, lo, hi)
    });
    let timeout = optional(map.get("timeout"), Some(None), |n| {
        duration_in(ck, "timeout", n, lo, hi).map(Some)
    });
    let max = defaults::RISE_FALL_MAX.into();
    let rise = optional(map.get("rise"), Some(defaults::RISE_FALL), |n| {
        int_in(ck, "rise", n, 1, max).and_then(|v| u32::try_from(v).ok())
    });
    let fall = optional(map.get("fall"), Some(defaults::RISE_FALL), |n| {
        int_in(ck, "fall", n, 1, max).and_then(|v| u32::try_from(v).ok())
    });
    let interval = interval?;
    // A timeout longer than the interval is allowed, as keepalived allows it:
    // runs never overlap (the monitor starts the next run only after the
    // previous one ended, skipping the starts it missed), so a slow script
    // just runs less often than `interval`.
    let timeout = timeout?.unwrap_or(interval);
    Some(CheckBody {
        kind: kind?,
        interval,
        timeout,
        rise: rise?,
        fall: fall?,
    })
}

/// The value of the kind key `key`.
fn kind(ck: &mut Checker, map: &MapReader, key: &str, node: &Node) -> Option<CheckKind> {
    match key {
        "script" => command(ck, "script", node).map(CheckKind::Script),
        "interface" => interface_value(ck, node).map(CheckKind::Interface),
        "file" => absolute_path(ck, "file", node).map(CheckKind::File),
        "process" => process(ck, map, node),
        "tcp" => tcp(ck, node).map(CheckKind::Tcp),
        "http" => http(ck, map, node).map(CheckKind::Http),
        "ping" => {
            let text = string(ck, "ping", node)?;
            match text.parse::<IpAddr>() {
                Ok(addr) => Some(CheckKind::Ping(addr)),
                Err(_) => {
                    ck.error(
                        node.pos,
                        format!(
                            "ping `{text}` is not an IP address; write one such as 192.0.2.1 \
                             or 2001:db8::1 (names are not resolved)"
                        ),
                    );
                    None
                }
            }
        }
        // Only KIND_KEYS reach here.
        _ => None,
    }
}

fn process(ck: &mut Checker, map: &MapReader, node: &Node) -> Option<CheckKind> {
    let name = string(ck, "process", node).and_then(|name| {
        if name.is_empty() || name.contains('/') {
            ck.error(
                node.pos,
                format!("process `{name}` is not a process name; write the program's name without a path, such as `haproxy`"),
            );
            return None;
        }
        Some(name.to_owned())
    });
    let count = |ck: &mut Checker, key: &str, n: &Node| {
        int_in(ck, key, n, 0, u32::MAX.into()).and_then(|v| u32::try_from(v).ok())
    };
    let min = optional(map.get("min"), Some(1), |n| count(ck, "min", n));
    let max = optional(map.get("max"), Some(None), |n| {
        count(ck, "max", n).map(Some)
    });
    if let (Some(lo), Some(Some(hi)), Some(node)) = (min, max, map.get("max")) {
        if hi < lo {
            ck.error(
                node.pos,
                format!("max {hi} is below min {lo}; the check is up with min..=max processes"),
            );
            return None;
        }
    }
    Some(CheckKind::Process {
        name: name?,
        min: min?,
        max: max?,
    })
}

fn tcp(ck: &mut Checker, node: &Node) -> Option<SocketAddr> {
    let text = string(ck, "tcp", node)?;
    match socket_addr(text, None) {
        Ok(addr) => Some(addr),
        Err(why) => {
            ck.error(node.pos, format!("tcp `{text}` {why}"));
            None
        }
    }
}

fn http(ck: &mut Checker, map: &MapReader, node: &Node) -> Option<HttpCheck> {
    let status = optional(map.get("status"), Some(defaults::HTTP_STATUS), |n| {
        int_in(ck, "status", n, 100, 599).and_then(|v| u16::try_from(v).ok())
    });
    let body_contains = optional(map.get("body_contains"), Some(None), |n| {
        let text = string(ck, "body_contains", n)?;
        if text.is_empty() {
            ck.error(
                n.pos,
                "body_contains is empty; give the text the body must hold, or remove it",
            );
            return None;
        }
        Some(Some(text.to_owned()))
    });
    let url = string(ck, "http", node)?;
    let (addr, host_header, path) = match http_url(url) {
        Ok(parts) => parts,
        Err(why) => {
            ck.error(node.pos, format!("http `{url}`{why}"));
            return None;
        }
    };
    Some(HttpCheck {
        url: url.to_owned(),
        addr,
        host_header,
        path,
        status: status?,
        body_contains: body_contains?,
    })
}

/// Splits `http://HOST[:PORT][/path?query]` into the address to connect to,
/// the `Host:` header and the request target; the error continues "http `URL`".
fn http_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let scheme = url
        .get(..url.find("://").map_or(0, |i| i + 3))
        .unwrap_or("");
    let rest = match scheme.to_ascii_lowercase().as_str() {
        "http://" => &url[scheme.len()..],
        "https://" => return Err(": https is not supported; check a plain-HTTP port".to_owned()),
        _ => {
            return Err(
                " is not a plain-HTTP URL; write one such as http://127.0.0.1:8404/health"
                    .to_owned(),
            )
        }
    };
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    if authority.is_empty() {
        return Err(" has no host; write one such as http://127.0.0.1:8404/health".to_owned());
    }
    if target.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(" has a space in its path; write it as %20".to_owned());
    }
    let path = match target {
        "" => "/".to_owned(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_owned(),
    };
    let addr = socket_addr(authority, Some(80)).map_err(|why| format!(" {why}"))?;
    Ok((addr, authority.to_owned(), path))
}

/// Reads `HOST:PORT` (or `HOST` alone when there is a `default_port`), HOST
/// being an IP literal and IPv6 in brackets. The error continues "tcp `TEXT`".
fn socket_addr(text: &str, default_port: Option<u16>) -> Result<SocketAddr, String> {
    let not_ip = |host: &str| {
        format!(
            "has host `{host}`, which is not an IP address; write one such as 127.0.0.1 \
             or [2001:db8::1] (names are not resolved)"
        )
    };
    let (ip, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("has no `]` after the IPv6 address".to_owned());
        };
        let ip: Ipv6Addr = host.parse().map_err(|_| not_ip(host))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("has `{after}` after `]` where `:PORT` belongs"))?,
            ),
        };
        (IpAddr::V6(ip), port)
    } else {
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        if host.contains(':') || text.parse::<Ipv6Addr>().is_ok() {
            return Err(
                "has an IPv6 address without brackets; write it as [ADDRESS]:PORT, such as \
                 [2001:db8::1]:80"
                    .to_owned(),
            );
        }
        let ip: Ipv4Addr = host.parse().map_err(|_| not_ip(host))?;
        (IpAddr::V4(ip), port)
    };
    let port = match (port, default_port) {
        (Some(p), _) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("has port `{p}`, not a number in 1..=65535")),
        },
        (None, Some(p)) => p,
        (None, None) => return Err(format!("has no port; write it as {text}:PORT")),
    };
    Ok(SocketAddr::new(ip, port))
}
