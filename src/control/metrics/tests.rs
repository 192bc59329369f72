use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::control::status::samples;
use crate::control::status::CheckStatus;

/// The shared sample document, plus a file check (for `check_value`).
fn document() -> Status {
    let mut doc = samples::sample();
    doc.checks.push(CheckStatus {
        name: "maint".into(),
        kind: "file".into(),
        target: "/run/maint".into(),
        up: Some(true),
        value: -20,
        detail: "read -20".into(),
        last_output: None,
        since_change_ms: Some(10),
    });
    doc
}

/// One sample line of the exposition.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A parsed exposition: samples, and the TYPE and HELP of each family.
#[derive(Debug, Default)]
struct Exposition {
    samples: Vec<Sample>,
    types: HashMap<String, String>,
    helps: HashMap<String, String>,
}

impl Exposition {
    /// The value of the sample `name` with exactly `labels` (in any order).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut want: Vec<(&str, &str)> = labels.to_vec();
        want.sort_unstable();
        self.samples
            .iter()
            .find(|s| {
                let mut have: Vec<(&str, &str)> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                have.sort_unstable();
                s.name == name && have == want
            })
            .map(|s| s.value)
    }

    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.samples.iter().map(|s| s.name.as_str()).collect();
        names.dedup();
        names
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses the Prometheus text format strictly enough to catch malformed lines:
/// `# HELP name text`, `# TYPE name type`, and `name{k="v",...} value`.
fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a name and text");
            assert!(is_name(name), "bad name in {line:?}");
            assert!(!help.is_empty(), "empty help in {line:?}");
            assert!(out.helps.insert(name.into(), help.into()).is_none());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a name and type");
            assert!(is_name(name), "bad name in {line:?}");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "{line:?}"
            );
            assert!(out.helps.contains_key(name), "TYPE before HELP: {line:?}");
            assert!(out.types.insert(name.into(), kind.into()).is_none());
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        out.samples.push(sample(line));
    }
    out
}

fn sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).expect("sample has a value");
    let name = &line[..name_end];
    assert!(is_name(name), "bad name in {line:?}");
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        while let Some(eq) = rest.find('=') {
            let key = &rest[..eq];
            assert!(is_name(key), "bad label name in {line:?}");
            let mut chars = rest[eq + 1..].char_indices();
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line:?}");
            let mut value = String::new();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(c @ ('\\' | '"')) => value.push(c),
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    '"' => {
                        end = Some(eq + 1 + i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            labels.push((key.to_owned(), value));
            rest = &rest[end.expect("label value closed")..];
            match rest.as_bytes().first() {
                Some(b',') => rest = &rest[1..],
                Some(b'}') => break,
                _ => panic!("bad label list in {line:?}"),
            }
        }
        rest = rest.strip_prefix('}').expect("label list closed");
    }
    let value = rest.strip_prefix(' ').expect("one space before the value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// The family a sample belongs to: histograms' series carry a suffix.
fn family_of<'a>(exposition: &Exposition, name: &'a str) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if exposition.types.get(base).map(String::as_str) == Some("histogram") {
                return base;
            }
        }
    }
    name
}

fn rendered(metrics: &Metrics) -> Exposition {
    let text = metrics.render();
    let exposition = parse(&text);
    for s in &exposition.samples {
        let family = family_of(&exposition, &s.name);
        assert!(
            exposition.types.contains_key(family),
            "no TYPE for {}",
            s.name
        );
        assert!(s.name.starts_with("twinstar_"), "{}", s.name);
        if exposition.types[family] == "counter" {
            assert!(s.name.ends_with("_total"), "{}", s.name);
        }
    }
    exposition
}

#[test]
fn the_document_renders_as_well_formed_exposition() {
    let metrics = Metrics::new();
    metrics.update(document());
    let e = rendered(&metrics);
    let web = [("instance", "web")];
    let api = [("instance", "api")];

    for (state, want) in [
        ("master", 1.0),
        ("backup", 0.0),
        ("initialize", 0.0),
        ("fault", 0.0),
    ] {
        let labels = [("instance", "web"), ("state", state)];
        assert_eq!(e.value("twinstar_instance_state", &labels), Some(want));
    }
    let api_backup = [("instance", "api"), ("state", "backup")];
    assert_eq!(e.value("twinstar_instance_state", &api_backup), Some(1.0));
    assert_eq!(e.value("twinstar_instance_priority", &web), Some(90.0));
    assert_eq!(
        e.value("twinstar_instance_base_priority", &web),
        Some(150.0)
    );
    assert_eq!(e.value("twinstar_instance_maintenance", &web), Some(0.0));
    assert_eq!(e.value("twinstar_instance_maintenance", &api), Some(1.0));

    assert_eq!(e.value("twinstar_adverts_sent_total", &web), Some(1200.0));
    assert_eq!(
        e.value("twinstar_adverts_received_total", &api),
        Some(880.0)
    );
    assert_eq!(
        e.value("twinstar_priority_zero_sent_total", &web),
        Some(1.0)
    );
    assert_eq!(
        e.value("twinstar_priority_zero_received_total", &api),
        Some(1.0)
    );
    assert_eq!(
        e.value("twinstar_advert_interval_mismatches_total", &web),
        Some(2.0)
    );
    assert_eq!(
        e.value("twinstar_master_transitions_total", &web),
        Some(4.0)
    );
    assert_eq!(
        e.value("twinstar_advert_send_errors_total", &web),
        Some(5.0)
    );
    let wrong_vrid = [("interface", "eth1"), ("reason", "wrong-vrid")];
    assert_eq!(
        e.value("twinstar_packets_dropped_total", &wrong_vrid),
        Some(5.0)
    );

    let script = [("check", "web/script"), ("kind", "script")];
    assert_eq!(e.value("twinstar_check_up", &script), Some(0.0));
    let maint = [("check", "maint"), ("kind", "file")];
    assert_eq!(e.value("twinstar_check_up", &maint), Some(1.0));
    assert_eq!(
        e.value("twinstar_check_value", &[("check", "maint")]),
        Some(-20.0)
    );
    // No result yet: no series, rather than a misleading 0.
    assert!(!e
        .samples
        .iter()
        .any(|s| s.labels.iter().any(|l| l.1 == "uplink")));
    // Only file checks have a value.
    assert_eq!(
        e.value("twinstar_check_value", &[("check", "web/script")]),
        None
    );

    let vip = |i, a| [("instance", i), ("address", a)];
    assert_eq!(
        e.value("twinstar_virtual_ip_present", &vip("web", "192.0.2.50/24")),
        Some(1.0)
    );
    assert_eq!(
        e.value("twinstar_virtual_ip_present", &vip("web", "192.0.2.51/24")),
        Some(0.0)
    );
    assert_eq!(
        e.value(
            "twinstar_virtual_ip_present",
            &vip("api", "2001:db8::50/64")
        ),
        Some(0.0)
    );

    assert_eq!(e.types["twinstar_instance_state"], "gauge");
    assert_eq!(e.types["twinstar_packets_dropped_total"], "counter");
    assert!(e.helps["twinstar_check_up"].contains("first result"));
    // Every help is one sentence, with one full stop.
    for help in e.helps.values() {
        assert!(help.ends_with('.') && !help.ends_with(".."), "{help}");
    }
}

#[test]
fn persistent_families_count_and_observe() {
    let metrics = Metrics::new();
    metrics.update(document());
    metrics.transition("web", State::Backup, State::Master);
    metrics.transition("web", State::Backup, State::Master);
    metrics.transition("web", State::Master, State::Backup);
    metrics.master_changed("api");
    metrics.script_duration("check", "probe", 0.003);
    metrics.script_duration("check", "probe", 0.2);
    metrics.script_duration("check", "probe", 120.0);
    metrics.script_duration("hook", "web.on_master", f64::NAN);
    let e = rendered(&metrics);
    for help in e.helps.values() {
        assert!(help.ends_with('.') && !help.ends_with(".."), "{help}");
    }

    let up = [("instance", "web"), ("from", "backup"), ("to", "master")];
    assert_eq!(e.value("twinstar_transitions_total", &up), Some(2.0));
    let down = [("instance", "web"), ("from", "master"), ("to", "backup")];
    assert_eq!(e.value("twinstar_transitions_total", &down), Some(1.0));
    assert_eq!(
        e.value("twinstar_master_changes_total", &[("instance", "api")]),
        Some(1.0)
    );

    assert_eq!(e.types["twinstar_script_duration_seconds"], "histogram");
    let bucket = |le| {
        e.value(
            "twinstar_script_duration_seconds_bucket",
            &[("kind", "check"), ("name", "probe"), ("le", le)],
        )
    };
    assert_eq!(bucket("0.005"), Some(1.0));
    assert_eq!(bucket("0.1"), Some(1.0));
    assert_eq!(bucket("0.25"), Some(2.0));
    assert_eq!(bucket("60"), Some(2.0));
    assert_eq!(bucket("+Inf"), Some(3.0));
    let probe = [("kind", "check"), ("name", "probe")];
    assert_eq!(
        e.value("twinstar_script_duration_seconds_count", &probe),
        Some(3.0)
    );
    let sum = e
        .value("twinstar_script_duration_seconds_sum", &probe)
        .unwrap();
    assert!((sum - 120.203).abs() < 1e-9, "{sum}");
    let hook = [("kind", "hook"), ("name", "web.on_master")];
    assert_eq!(
        e.value("twinstar_script_duration_seconds_sum", &hook),
        Some(0.0)
    );
}

#[test]
fn without_a_document_only_the_persistent_families_render() {
    let metrics = Metrics::new();
    assert_eq!(metrics.render(), "");
    metrics.master_changed("web");
    let e = rendered(&metrics);
    assert_eq!(e.names(), ["twinstar_master_changes_total"]);
    // A later document replaces the earlier one entirely.
    metrics.update(document());
    metrics.update(Status::default());
    assert_eq!(
        rendered(&metrics).names(),
        ["twinstar_master_changes_total"]
    );
}

/// Sends `request_line` to the server and returns the whole response.
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the server answers within 10 s")
        .unwrap();
    String::from_utf8(response).unwrap()
}

#[tokio::test]
async fn serves_metrics_over_http() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Arc::new(Metrics::new());
    metrics.update(document());
    let server = tokio::spawn(serve(listener, Arc::clone(&metrics)));

    let response = get(addr, "/metrics").await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert_eq!(body, metrics.render());
    let e = parse(body);
    let master = [("instance", "web"), ("state", "master")];
    assert_eq!(e.value("twinstar_instance_state", &master), Some(1.0));

    let response = get(addr, "/").await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("href=\"/metrics\""), "{response}");

    let response = get(addr, "/nope").await;
    assert!(
        response.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{response}"
    );
    assert!(
        response.ends_with("the metrics are at /metrics\n"),
        "{response}"
    );

    server.abort();
}

#[test]
fn links_render_the_age_of_their_last_advert_and_heartbeat_links_their_state() {
    let mut doc = document();
    let web = &mut doc.instances[0];
    web.heartbeat = vec![
        crate::control::status::HeartbeatStatus {
            interface: "eth1".into(),
            source: Some("198.51.100.11".parse().unwrap()),
            carrier: true,
            last_advert_ms_ago: Some(250),
            adverts_received: 12,
            send_errors: 3,
        },
        crate::control::status::HeartbeatStatus {
            interface: "eth2".into(),
            source: None,
            carrier: false,
            last_advert_ms_ago: None,
            adverts_received: 0,
            send_errors: 0,
        },
    ];
    let metrics = Metrics::new();
    metrics.update(doc);
    let e = rendered(&metrics);
    let link = |interface| [("instance", "web"), ("interface", interface)];
    // The interface's age is its last peer's (40 ms in the sample).
    let age = "twinstar_link_last_advert_age_seconds";
    assert_eq!(e.value(age, &link("eth0")), Some(0.04));
    assert_eq!(e.value(age, &link("eth1")), Some(0.25));
    assert_eq!(e.value(age, &link("eth2")), None, "never heard: no series");
    assert_eq!(
        e.value("twinstar_heartbeat_link_up", &link("eth1")),
        Some(1.0)
    );
    assert_eq!(
        e.value("twinstar_heartbeat_link_up", &link("eth2")),
        Some(0.0)
    );
    assert_eq!(
        e.value("twinstar_heartbeat_send_errors_total", &link("eth1")),
        Some(3.0)
    );
    assert_eq!(e.types[age], "gauge");
}

#[test]
fn quorum_keys_render_their_state_counters_and_latency() {
    use crate::control::status::QuorumStatus;
    let mut doc = document();
    doc.quorum = vec![QuorumStatus {
        key: "/p/instance/web".into(),
        state: "held-by-other".into(),
        holder: Some("b".into()),
        valid_for_ms: None,
        last_renewal_latency_ms: Some(4),
        denied: 3,
        lost: 1,
        unreachable: 2,
    }];
    doc.instances[0].counters.fence_failures = 5;
    let metrics = Metrics::new();
    metrics.update(doc);
    let e = rendered(&metrics);
    let key = [("key", "/p/instance/web")];
    let state = |s| [("key", "/p/instance/web"), ("state", s)];
    assert_eq!(
        e.value("twinstar_quorum_state", &state("held-by-other")),
        Some(1.0)
    );
    assert_eq!(e.value("twinstar_quorum_state", &state("held")), Some(0.0));
    assert_eq!(e.value("twinstar_quorum_denied_total", &key), Some(3.0));
    assert_eq!(e.value("twinstar_quorum_lost_total", &key), Some(1.0));
    assert_eq!(
        e.value("twinstar_quorum_unreachable_total", &key),
        Some(2.0)
    );
    assert_eq!(
        e.value("twinstar_quorum_renewal_latency_seconds", &key),
        Some(0.004)
    );
    assert_eq!(
        e.value("twinstar_fence_failures_total", &[("instance", "web")]),
        Some(5.0)
    );
}

#[test]
fn without_quorum_or_fences_no_such_family_renders() {
    let metrics = Metrics::new();
    metrics.update(document());
    let e = rendered(&metrics);
    assert!(
        !e.names()
            .iter()
            .any(|n| n.starts_with("twinstar_quorum") || n.starts_with("twinstar_fence")),
        "{:?}",
        e.names()
    );
}
