use serde_json::json;

use super::*;

/// A Master (`web`, one tracked script down) and a Backup in maintenance
/// (`api`, older string form of `virtual_ips`, learned interval differs).
fn sample() -> Value {
    json!({
        "pid": 4242,
        "instances": [
            {
                "name": "web",
                "interface": "eth0",
                "vrid": 51,
                "state": "master",
                "priority": 90,
                "base_priority": 150,
                "priority_reasons": ["web/script down (-60)"],
                "fault_reasons": [],
                "maintenance": false,
                "switchover_hold": false,
                "master": null,
                "advert_interval_ms": 100,
                "master_adver_interval_ms": 100,
                "since_transition_ms": 12_345,
                "virtual_ips": [
                    {"address": "192.0.2.50/24", "present": true},
                    {"address": "192.0.2.51/24", "present": false}
                ],
                "track": [{"check": "web/script", "weight": -60}],
                "counters": {"adverts_received": 3, "adverts_sent": 1200}
            },
            {
                "name": "api",
                "interface": "eth1",
                "vrid": 52,
                "state": "backup",
                "priority": 100,
                "base_priority": 100,
                "priority_reasons": [],
                "fault_reasons": [],
                "maintenance": true,
                "switchover_hold": false,
                "master": {"address": "fe80::1", "priority": 200},
                "advert_interval_ms": 100,
                "master_adver_interval_ms": 1000,
                "since_transition_ms": 245_000,
                "virtual_ips": ["2001:db8::50/64"],
                "track": [],
                "counters": {"adverts_received": 880, "adverts_sent": 0}
            }
        ],
        "checks": [
            {
                "name": "web/script",
                "kind": "script",
                "target": "/usr/local/bin/check-web",
                "up": false,
                "value": 0,
                "detail": "exit status 2",
                "last_output": "starting\nbackend timeout\n",
                "since_change_ms": 7_800_000
            },
            {
                "name": "uplink",
                "kind": "interface",
                "target": "eth2",
                "up": null,
                "value": 0,
                "detail": "no result yet",
                "last_output": null,
                "since_change_ms": null
            }
        ],
        "sync_groups": [
            {"name": "edge", "state": "master", "instances": ["web", "api"]}
        ],
        "dropped": {"eth1": {"bad-ttl": 2, "wrong-vrid": 5}}
    })
}

#[test]
fn instance_table_is_aligned_from_content() {
    let doc = sample();
    let table = instance_table(&doc, instances(&doc));
    let expected = "\
INSTANCE  STATE           PRIO     MASTER         INTERVAL  VIPS                                 SINCE  ADVERTS  DROPS
web       master          90/150   self           100ms     192.0.2.50/24 on, 192.0.2.51/24 off  12.3s  3/1200   0
api       backup (maint)  100/100  fe80::1 (200)  100ms/1s  2001:db8::50/64                      4m05s  880/0    7
";
    assert_eq!(table, expected);
}

#[test]
fn full_view_has_reasons_checks_groups_and_drops() {
    let view = render(&sample());
    let expected = "\
INSTANCE  STATE           PRIO     MASTER         INTERVAL  VIPS                                 SINCE  ADVERTS  DROPS
web       master          90/150   self           100ms     192.0.2.50/24 on, 192.0.2.51/24 off  12.3s  3/1200   0
api       backup (maint)  100/100  fe80::1 (200)  100ms/1s  2001:db8::50/64                      4m05s  880/0    7

web: priority 90: web/script down (-60)

CHECK       KIND       TARGET                    STATE    DETAIL         SINCE  OUTPUT
web/script  script     /usr/local/bin/check-web  down     exit status 2  2h10m  backend timeout
uplink      interface  eth2                      pending  no result yet  -      -

SYNC GROUP  STATE   INSTANCES
edge        master  web, api

INTERFACE  DROPPED     COUNT
eth1       bad-ttl     2
eth1       wrong-vrid  5
";
    assert_eq!(view, expected);
}

#[test]
fn fault_reasons_get_their_own_line() {
    let doc = json!({"instances": [{
        "name": "web", "state": "fault", "priority": 150, "base_priority": 150,
        "priority_reasons": [],
        "fault_reasons": ["interface eth0 is down", "web/script is down"],
    }]});
    let view = render(&doc);
    assert!(
        view.contains("\nweb: fault: interface eth0 is down, web/script is down\n"),
        "{view}"
    );
    assert!(
        !view.contains("CHECK"),
        "no checks, no checks table: {view}"
    );
}

#[test]
fn missing_fields_show_as_dashes() {
    let view = render(&json!({"instances": [{"name": "web"}]}));
    assert_eq!(
        view,
        "INSTANCE  STATE  PRIO  MASTER  INTERVAL  VIPS  SINCE  ADVERTS  DROPS\n\
         web       -      -/-   -       -         -     -      -        -\n"
    );
}

#[test]
fn file_checks_show_their_value_and_long_output_is_cut() {
    let doc = json!({"instances": [], "checks": [{
        "name": "weight", "kind": "file", "target": "/run/w", "up": true, "value": 3,
        "detail": "read 3", "last_output": "x".repeat(60), "since_change_ms": 500,
    }]});
    let view = render(&doc);
    let row = view.lines().find(|l| l.starts_with("weight")).unwrap();
    assert!(row.contains("  up     value 3; read 3  0.5s  "), "{row}");
    assert!(row.ends_with(&format!("{}…", "x".repeat(39))), "{row}");
}

#[test]
fn human_durations() {
    assert_eq!(human_duration(0), "0.0s");
    assert_eq!(human_duration(400), "0.4s");
    assert_eq!(human_duration(12_345), "12.3s");
    assert_eq!(human_duration(59_999), "59.9s");
    assert_eq!(human_duration(60_000), "1m00s");
    assert_eq!(human_duration(245_000), "4m05s");
    assert_eq!(human_duration(3_599_999), "59m59s");
    assert_eq!(human_duration(7_800_000), "2h10m");
    assert_eq!(human_duration(86_400_000 + 4 * 3_600_000), "1d04h");
}

#[test]
fn intervals() {
    assert_eq!(interval(10), "10ms");
    assert_eq!(interval(100), "100ms");
    assert_eq!(interval(1000), "1s");
    assert_eq!(interval(1500), "1.5s");
    assert_eq!(interval(40_950), "40.95s");
}

#[test]
fn exit_code_is_3_only_with_an_instance_in_fault() {
    assert_eq!(exit_code(&sample()), 0);
    assert_eq!(exit_code(&json!({"instances": []})), 0);
    assert_eq!(exit_code(&json!({})), 0);
    let doc = json!({"instances": [{"state": "backup"}, {"state": "fault"}]});
    assert_eq!(exit_code(&doc), EXIT_FAULT);
}

#[test]
fn layout_pads_all_but_the_last_column() {
    let rows = vec![
        vec!["a".to_string(), "long cell".to_string(), "x".to_string()],
        vec!["bbb".to_string(), "c".to_string(), String::new()],
    ];
    assert_eq!(
        layout(&["H1", "H2", "H3"], &rows),
        "H1   H2         H3\na    long cell  x\nbbb  c\n"
    );
}

#[test]
fn an_agent_without_instances_says_so() {
    let doc = json!({"pid": 1, "instances": [], "dropped": {}});
    assert_eq!(
        render(&doc),
        "no instances configured: this agent holds no virtual IP\n"
    );
    assert_eq!(exit_code(&doc), 0);
}
