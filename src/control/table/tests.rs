use super::*;
use crate::control::status::samples::{instance, sample};

#[test]
fn instance_table_is_aligned_from_content() {
    let doc = sample();
    let table = instance_table(&doc, &doc.instances);
    let expected = "\
INSTANCE  STATE           PRIO     MASTER         INTERVAL  VIPS                                        SINCE  ADVERTS  DROPS
web       master          90/150   self           100ms     192.0.2.50/24 on, 192.0.2.51/24 (eth0) off  12.3s  3/1200   0
api       backup (maint)  100/100  fe80::1 (200)  100ms/1s  2001:db8::50/64 off                         4m05s  880/0    7
";
    assert_eq!(table, expected);
}

#[test]
fn full_view_has_reasons_checks_groups_and_drops() {
    let view = render(&sample());
    let expected = "\
INSTANCE  STATE           PRIO     MASTER         INTERVAL  VIPS                                        SINCE  ADVERTS  DROPS
web       master          90/150   self           100ms     192.0.2.50/24 on, 192.0.2.51/24 (eth0) off  12.3s  3/1200   0
api       backup (maint)  100/100  fe80::1 (200)  100ms/1s  2001:db8::50/64 off                         4m05s  880/0    7

web: priority 90: web/script down (-60)
web: 2 adverts with an interval other than ours (100ms)
api: unicast from fe80::2 to fe80::1
api: speaks VRRPv3 and VRRPv2 (migration)
api: last maintenance handover: new Master fe80::1 took over after 0.2s

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
    let mut web = instance("web", State::Fault);
    web.fault_reasons = vec!["interface eth0 is down".into(), "web/script is down".into()];
    let doc = Status {
        instances: vec![web],
        ..Status::default()
    };
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
fn absent_values_and_empty_text_show_as_dashes() {
    let doc = Status {
        instances: vec![instance("", State::Backup)],
        ..Status::default()
    };
    assert_eq!(
        render(&doc),
        "INSTANCE  STATE   PRIO     MASTER  INTERVAL  VIPS  SINCE  ADVERTS  DROPS\n\
         -         backup  100/100  -       1s        -     -      0/0      0\n"
    );
}

#[test]
fn file_checks_show_their_value_and_long_output_is_cut() {
    let doc = Status {
        checks: vec![CheckStatus {
            name: "weight".into(),
            kind: "file".into(),
            target: "/run/w".into(),
            up: Some(true),
            value: 3,
            detail: "read 3".into(),
            last_output: Some("x".repeat(60)),
            since_change_ms: Some(500),
        }],
        ..Status::default()
    };
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
    assert_eq!(exit_code(&Status::default()), 0);
    let doc = Status {
        instances: vec![instance("a", State::Backup), instance("b", State::Fault)],
        ..Status::default()
    };
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
    let doc = Status {
        pid: 1,
        ..Status::default()
    };
    assert_eq!(
        render(&doc),
        "no instances configured: this agent holds no virtual IP\n"
    );
    assert_eq!(exit_code(&doc), 0);
}

#[test]
fn interval_mismatches_get_their_own_line() {
    let mut web = instance("web", State::Backup);
    web.advert_interval_ms = 100;
    web.counters.interval_mismatches = 12;
    let doc = Status {
        instances: vec![web],
        ..Status::default()
    };
    let view = render(&doc);
    assert!(
        view.contains("\nweb: 12 adverts with an interval other than ours (100ms)\n"),
        "{view}"
    );
    let quiet = render(&Status {
        instances: vec![instance("web", State::Backup)],
        ..Status::default()
    });
    assert!(!quiet.contains("interval other"), "{quiet}");
}

#[test]
fn heartbeat_links_get_a_table_of_their_own() {
    let mut doc = sample();
    doc.instances[0].heartbeat = vec![
        crate::control::status::HeartbeatStatus {
            interface: "eth1".into(),
            source: Some("198.51.100.11".parse().unwrap()),
            carrier: true,
            last_advert_ms_ago: Some(400),
            adverts_received: 12,
            send_errors: 0,
        },
        crate::control::status::HeartbeatStatus {
            interface: "eth2".into(),
            source: None,
            carrier: false,
            last_advert_ms_ago: None,
            adverts_received: 0,
            send_errors: 3,
        },
    ];
    let expected = "\
INSTANCE  HEARTBEAT  SOURCE         LINK  LAST ADVERT  SEND ERRORS
web       eth1       198.51.100.11  up    0.4s ago     0
web       eth2       -              down  -            3
";
    assert_eq!(heartbeat_table(&doc).as_deref(), Some(expected));
    assert_eq!(heartbeat_table(&sample()), None, "no links, no table");
}

#[test]
fn a_switchover_nobody_took_over_says_the_host_stayed_master() {
    let mut web = instance("web", State::Master);
    web.last_handover = Some(HandoverRecord {
        kind: HandoverKind::Switchover,
        outcome: HandoverOutcome::StayedMaster,
        new_master: None,
        elapsed_ms: 3414,
    });
    let doc = Status {
        instances: vec![web],
        ..Status::default()
    };
    let view = render(&doc);
    assert!(
        view.contains("\nweb: last switchover: nobody took over within 3.4s; stayed Master\n"),
        "{view}"
    );
}

#[test]
fn quorum_keys_and_a_waiting_backup_are_shown() {
    use crate::control::status::QuorumStatus;
    let mut doc = sample();
    doc.instances[1].waiting_for_mastership = Some("master-silent".into());
    doc.instances[1].counters.fence_failures = 2;
    doc.quorum = vec![QuorumStatus {
        key: "/p/instance/web".into(),
        state: "held-by-other".into(),
        holder: Some("b".into()),
        last_renewal_latency_ms: Some(3),
        denied: 4,
        ..QuorumStatus::default()
    }];
    let text = render(&doc);
    assert!(
        text.contains("api: waiting for mastership (master-silent)"),
        "{text}"
    );
    assert!(text.contains("api: 2 failed fence runs"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("/p/instance/web"))
        .unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cells,
        ["/p/instance/web", "held-by-other", "b", "3ms", "4/0/0"]
    );
    assert!(!render(&sample()).contains("QUORUM KEY"));
}
