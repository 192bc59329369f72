//! The schema of the split-brain guard: `quorum:` (the etcd cluster that
//! holds the lease, and what to do while it cannot be reached) and `node_id:`
//! (who this node is in it).

use super::model::{defaults, EtcdQuorum, EtcdTls, OnQuorumLoss, Quorum};
use super::reader::{absolute_path, duration_in, list, optional, string, Checker, MapReader};
use super::yaml::{Node, Pos};

pub(super) const QUORUM_KEYS: &[&str] = &["etcd", "on_loss"];
pub(super) const ETCD_KEYS: &[&str] = &["endpoints", "prefix", "lease_ttl", "tls"];
pub(super) const TLS_KEYS: &[&str] = &["ca", "cert", "key"];

/// Longest `node_id`: etcd values may be far longer, but status tables and
/// logs print it.
const NODE_ID_MAX: usize = 64;

/// `quorum:`: the etcd lease a router must hold before it adds its VIPs.
pub fn quorum(ck: &mut Checker, node: &Node) -> Option<Quorum> {
    let map = MapReader::new(ck, node, "quorum", QUORUM_KEYS)?;
    let etcd = map
        .required(
            ck,
            "quorum",
            "etcd",
            "the etcd cluster that holds the lease, such as \
             `etcd: {endpoints: [http://203.0.113.1:2379]}`",
        )
        .and_then(|n| etcd(ck, n));
    let on_loss = optional(map.get("on_loss"), Some(OnQuorumLoss::default()), |n| {
        on_loss(ck, n)
    });
    Some(Quorum {
        etcd: etcd?,
        on_loss: on_loss?,
    })
}

/// `quorum.etcd:`.
fn etcd(ck: &mut Checker, node: &Node) -> Option<EtcdQuorum> {
    let map = MapReader::new(ck, node, "quorum.etcd", ETCD_KEYS)?;
    let endpoints = map
        .required(
            ck,
            "quorum.etcd",
            "endpoints",
            "the URLs of the etcd members, such as `[http://203.0.113.1:2379]`",
        )
        .and_then(|n| endpoints(ck, n));
    let prefix = optional(
        map.get("prefix"),
        Some(defaults::QUORUM_PREFIX.to_owned()),
        |n| prefix(ck, n),
    );
    let lease_ttl = optional(map.get("lease_ttl"), Some(defaults::LEASE_TTL), |n| {
        duration_in(
            ck,
            "quorum.etcd.lease_ttl",
            n,
            defaults::LEASE_TTL_MIN,
            defaults::LEASE_TTL_MAX,
        )
    });
    let tls = optional(map.get("tls"), Some(None), |n| tls(ck, n).map(Some));
    let (endpoints, tls) = (endpoints?, tls?);
    let secure = endpoints
        .iter()
        .filter(|e| e.starts_with("https://"))
        .count();
    if secure != 0 && secure != endpoints.len() {
        ck.error(
            map.get("endpoints").map_or(map.pos(), |n| n.pos),
            "quorum.etcd.endpoints mixes `http://` and `https://`; a cluster is reached one way, \
             use the same scheme for every member",
        );
        return None;
    }
    if tls.is_some() && secure == 0 {
        ck.error(
            map.key("tls").map_or(map.pos(), |k| k.pos),
            "quorum.etcd.tls is given but the endpoints are `http://`; write them as `https://`, \
             or remove `tls`",
        );
        return None;
    }
    Some(EtcdQuorum {
        endpoints,
        prefix: prefix?,
        lease_ttl: lease_ttl?,
        tls,
    })
}

/// `quorum.etcd.endpoints`: at least one `http://HOST:PORT` or `https://` URL.
fn endpoints(ck: &mut Checker, node: &Node) -> Option<Vec<String>> {
    let items = list(ck, "quorum.etcd.endpoints", node)?;
    if items.is_empty() {
        ck.error(
            node.pos,
            "quorum.etcd.endpoints is empty; list at least one etcd member, \
             such as `[http://203.0.113.1:2379]`",
        );
        return None;
    }
    let parsed: Vec<Option<String>> = items.iter().map(|n| endpoint(ck, n)).collect();
    parsed.into_iter().collect()
}

fn endpoint(ck: &mut Checker, node: &Node) -> Option<String> {
    let text = string(ck, "quorum.etcd.endpoints[]", node)?;
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    let host_port = rest.map(|r| r.trim_end_matches('/'));
    let valid = host_port.is_some_and(|h| {
        !h.is_empty() && !h.contains(['/', '?', '#', '@']) && !h.contains(char::is_whitespace)
    });
    if !valid {
        ck.error(
            node.pos,
            format!(
                "quorum.etcd.endpoints: `{text}` is not an etcd URL; write \
                 `http://HOST:PORT` or `https://HOST:PORT`, such as `http://203.0.113.1:2379`"
            ),
        );
        return None;
    }
    Some(text.trim_end_matches('/').to_owned())
}

/// `quorum.etcd.prefix`: an absolute key path.
fn prefix(ck: &mut Checker, node: &Node) -> Option<String> {
    let text = string(ck, "quorum.etcd.prefix", node)?;
    if !text.starts_with('/')
        || text.contains(char::is_whitespace)
        || text.trim_matches('/').is_empty()
    {
        ck.error(
            node.pos,
            format!(
                "quorum.etcd.prefix `{text}` is not a key path; write one that starts with `/` \
                 and has no spaces, such as `/twinstar/site-a`"
            ),
        );
        return None;
    }
    Some(text.trim_end_matches('/').to_owned())
}

/// `quorum.etcd.tls:`: `ca`, and `cert` with `key`.
fn tls(ck: &mut Checker, node: &Node) -> Option<EtcdTls> {
    let map = MapReader::new(ck, node, "quorum.etcd.tls", TLS_KEYS)?;
    let ca = map
        .required(
            ck,
            "quorum.etcd.tls",
            "ca",
            "the PEM file of the CA that signs the etcd members' certificates",
        )
        .and_then(|n| absolute_path(ck, "quorum.etcd.tls.ca", n));
    let cert = optional(map.get("cert"), Some(None), |n| {
        absolute_path(ck, "quorum.etcd.tls.cert", n).map(Some)
    });
    let key = optional(map.get("key"), Some(None), |n| {
        absolute_path(ck, "quorum.etcd.tls.key", n).map(Some)
    });
    let (ca, cert, key) = (ca?, cert?, key?);
    if cert.is_some() != key.is_some() {
        let (given, missing) = if cert.is_some() {
            ("cert", "key")
        } else {
            ("key", "cert")
        };
        ck.error(
            map.key(given).map_or(map.pos(), |k| k.pos),
            format!(
                "quorum.etcd.tls.{given} is given without `{missing}`; a client certificate \
                 needs both `cert` and `key`"
            ),
        );
        return None;
    }
    Some(EtcdTls { ca, cert, key })
}

/// `quorum.on_loss`: `release` or `keep`.
fn on_loss(ck: &mut Checker, node: &Node) -> Option<OnQuorumLoss> {
    match string(ck, "quorum.on_loss", node)? {
        "release" => Some(OnQuorumLoss::Release),
        "keep" => Some(OnQuorumLoss::Keep),
        other => {
            ck.error(
                node.pos,
                format!(
                    "quorum.on_loss `{other}` is not known; write `release` (never two \
                     Masters: no lease, no VIPs) or `keep` (plain VRRP while etcd is unreachable)"
                ),
            );
            None
        }
    }
}

/// `node_id`: this node's name in the quorum store.
pub fn node_id(ck: &mut Checker, node: &Node) -> Option<String> {
    let text = string(ck, "node_id", node)?;
    node_id_text(ck, node.pos, text)
}

/// The default `node_id`: the host name, when it is a valid one.
pub fn default_node_id(ck: &mut Checker, pos: Pos, quorum: bool) -> Option<String> {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    if !quorum {
        return Some(host);
    }
    if host.is_empty() {
        ck.error(
            pos,
            "quorum is configured but the host name cannot be read; set `node_id` to a name \
             unique among the nodes, such as `a`",
        );
        return None;
    }
    node_id_text(ck, pos, &host)
}

fn node_id_text(ck: &mut Checker, pos: Pos, text: &str) -> Option<String> {
    let valid = !text.is_empty()
        && text.len() <= NODE_ID_MAX
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        ck.error(
            pos,
            format!(
                "node_id `{text}` is not a node name; use 1 to {NODE_ID_MAX} letters, digits, \
                 `-`, `_` or `.`, unique among the nodes"
            ),
        );
        return None;
    }
    Some(text.to_owned())
}

#[cfg(test)]
mod tests {
    use crate::config::parse_str;

    const BASE: &str = "instances: []\n";

    fn errors(text: &str) -> String {
        match parse_str(&format!("{BASE}{text}"), "q.yaml") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_full_quorum_section_parses_with_defaults() {
        let config = parse_str(
            &format!(
                "{BASE}quorum:\n  etcd:\n    endpoints: [http://203.0.113.1:2379, http://203.0.113.2:2379/]\n\
                 node_id: a\n"
            ),
            "q.yaml",
        )
        .unwrap();
        let q = config.quorum.unwrap();
        assert_eq!(q.etcd.endpoints[1], "http://203.0.113.2:2379");
        assert_eq!(q.etcd.prefix, "/twinstar");
        assert_eq!(q.etcd.lease_ttl, std::time::Duration::from_secs(2));
        assert_eq!(q.on_loss, crate::config::OnQuorumLoss::Release);
        assert_eq!(config.node_id, "a");
    }

    #[test]
    fn bad_values_are_reported_with_their_position() {
        let e = errors(
            "quorum:\n  etcd:\n    endpoints: [ftp://x]\n    lease_ttl: 90s\n  on_loss: maybe\n",
        );
        assert!(
            e.contains("q.yaml:4:17: quorum.etcd.endpoints: `ftp://x`"),
            "{e}"
        );
        assert!(
            e.contains("q.yaml:5:16: quorum.etcd.lease_ttl 90s is out of range"),
            "{e}"
        );
        assert!(e.contains("q.yaml:6:12: quorum.on_loss `maybe`"), "{e}");
    }

    #[test]
    fn tls_needs_https_and_cert_with_key() {
        let e = errors(
            "quorum:\n  etcd:\n    endpoints: [https://203.0.113.1:2379]\n    tls: {ca: /ca.pem, cert: /c.pem}\n",
        );
        assert!(e.contains("tls.cert is given without `key`"), "{e}");
        let e = errors(
            "quorum:\n  etcd:\n    endpoints: [http://203.0.113.1:2379]\n    tls: {ca: /ca.pem}\n",
        );
        assert!(
            e.contains("quorum.etcd.tls is given but the endpoints are `http://`"),
            "{e}"
        );
    }

    #[test]
    fn node_id_must_be_a_name_and_defaults_to_the_host_name() {
        assert!(errors("node_id: 'a b'\n").contains("q.yaml:2:10: node_id `a b`"));
        let config = parse_str(BASE, "q.yaml").unwrap();
        let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
        assert_eq!(config.node_id, host);
    }
}
