//! An imported keepalived pair behaves like the keepalived pair it came from:
//! two namespaces run real keepalived with the operator's two configurations,
//! the test notes which host is Master and pulls its cable; then the same two
//! files, imported with `twinstar import-keepalived`, run as two twinstar
//! agents on the same lab: the same host must be Master, and the other must
//! take over the same way.
//!
//! The default variant has no `vrrp_version` line (keepalived speaks VRRPv2,
//! and the import writes `version: 2`); the other says `vrrp_version 3`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::agents::{agent, can_run_lab, dir, lab, wait_until, MARGIN, SETTLE};
use support::rfc::master_down_interval;
use twinstar::lab::keepalived::{self, Keepalived};
use twinstar::lab::Lab;

const VIP: &str = "192.0.2.50";

/// keepalived's `advert_int` in the configurations below.
const ADVERT_INT: Duration = Duration::from_secs(1);

/// The priority of host B, the Backup that takes over.
const BACKUP_PRIORITY: u8 = 100;

/// One host's keepalived.conf, as an operator writes it: `state` says who
/// starts as Master, the priorities decide.
fn keepalived_conf(version_line: &str, state: &str, priority: u8, router_id: &str) -> String {
    format!(
        "! keepalived on {router_id}\n\
         global_defs {{\n\
         \x20   router_id {router_id}\n\
         \x20   script_user root\n\
         {version_line}\
         }}\n\n\
         vrrp_instance VI_1 {{\n\
         \x20   state {state}\n\
         \x20   interface eth0\n\
         \x20   virtual_router_id 51\n\
         \x20   priority {priority}\n\
         \x20   advert_int 1\n\
         \x20   virtual_ipaddress {{\n\
         \x20       {VIP}/24\n\
         \x20   }}\n\
         }}\n"
    )
}

/// Root and keepalived, or a skip (a failure under CI).
fn runnable(test: &str) -> bool {
    if !can_run_lab(test) {
        return false;
    }
    if !keepalived::available() {
        support::skip::skip(
            test,
            "keepalived is not installed (tests/run.sh installs it)",
        );
        return false;
    }
    true
}

/// Which host holds the VIP once the pair has settled, asserting that only one does.
fn settled_master(lab: &Lab, context: &dyn Fn() -> String) -> usize {
    let held = |i: usize| lab.hosts[i].has_address(VIP).unwrap_or(false);
    assert!(
        wait_until(SETTLE, || held(0) || held(1)),
        "nobody took the VIP\n{}",
        context()
    );
    // Let a preemption, if any, finish: a Backup that started late decides
    // within its Master_Down_Interval.
    std::thread::sleep(master_down_interval(BACKUP_PRIORITY, ADVERT_INT) + MARGIN);
    let holders: Vec<usize> = (0..2).filter(|i| held(*i)).collect();
    assert_eq!(holders.len(), 1, "VIP holders {holders:?}\n{}", context());
    holders[0]
}

/// Pulls the Master's cable and returns how long the other host took to hold
/// the VIP, asserting the RFC 9568 §6.4.2 bound: the Backup's
/// Master_Down_Interval plus the lab margin. The cable stays pulled.
fn fail_over(lab: &Lab, master: usize, context: &dyn Fn() -> String) -> Duration {
    let other = 1 - master;
    let bound = master_down_interval(BACKUP_PRIORITY, ADVERT_INT) + MARGIN;
    let pulled = Instant::now();
    lab.set_cable(master, false)
        .expect("pull the Master's cable");
    let took = wait_until(bound, || lab.hosts[other].has_address(VIP).unwrap_or(false));
    let elapsed = pulled.elapsed();
    assert!(
        took,
        "host {other} did not take the VIP within {bound:?}\n{}",
        context()
    );
    elapsed
}

/// Imports `conf` with the built binary, asserting a complete import.
fn import(conf: &str, dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("create the import directory");
    let source = dir.join("keepalived.conf");
    let out = dir.join("twinstar.yaml");
    std::fs::write(&source, conf).expect("write keepalived.conf");
    let result = std::process::Command::new(env!("CARGO_BIN_EXE_twinstar"))
        .arg("import-keepalived")
        .arg(&source)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run twinstar import-keepalived");
    assert_eq!(
        result.status.code(),
        Some(0),
        "the import is not complete:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::read_to_string(&out).expect("read the imported configuration")
}

fn imported_pair_behaves_like_the_keepalived_pair(test: &str, tag: &str, version_line: &str) {
    if !runnable(test) {
        return;
    }
    let confs = [
        keepalived_conf(version_line, "MASTER", 150, "lb-a"),
        keepalived_conf(version_line, "BACKUP", BACKUP_PRIORITY, "lb-b"),
    ];
    let lab = lab(tag, 2);

    // The keepalived pair.
    let mut theirs: Vec<Keepalived> = (0..2)
        .map(|i| {
            Keepalived::start(&lab.hosts[i].ns, &dir(&format!("{tag}-ka"), i), &confs[i])
                .expect("start keepalived")
        })
        .collect();
    let logs = || theirs_log(&theirs);
    let keepalived_master = settled_master(&lab, &logs);
    let keepalived_took = fail_over(&lab, keepalived_master, &logs);
    println!("keepalived: host {keepalived_master} was Master; failover took {keepalived_took:?}");
    lab.set_cable(keepalived_master, true)
        .expect("plug the cable back");
    for k in &mut theirs {
        k.stop();
    }
    assert!(
        wait_until(SETTLE, || (0..2)
            .all(|i| !lab.hosts[i].has_address(VIP).unwrap_or(true))),
        "keepalived left the VIP behind"
    );

    // The same two files, imported, as twinstar agents.
    let yamls: Vec<String> = (0..2)
        .map(|i| import(&confs[i], &dir(&format!("{tag}-import"), i)))
        .collect();
    let ours: Vec<_> = (0..2).map(|i| agent(&lab, tag, i, &yamls[i])).collect();
    let logs = || {
        ours.iter()
            .map(|a| a.log())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    let twinstar_master = settled_master(&lab, &logs);
    assert_eq!(
        twinstar_master,
        keepalived_master,
        "keepalived elected host {keepalived_master}, twinstar host {twinstar_master}\n{}",
        logs()
    );
    ours[twinstar_master]
        .wait_for_state("VI_1", "master", SETTLE)
        .expect("the Master's status says master");
    let twinstar_took = fail_over(&lab, twinstar_master, &logs);
    println!("twinstar: host {twinstar_master} was Master; failover took {twinstar_took:?}");
    ours[1 - twinstar_master]
        .wait_for_state("VI_1", "master", SETTLE)
        .expect("the other host's status says master");
    lab.set_cable(twinstar_master, true)
        .expect("plug the cable back");
}

fn theirs_log(theirs: &[Keepalived]) -> String {
    theirs
        .iter()
        .map(Keepalived::log)
        .collect::<Vec<_>>()
        .join("\n----\n")
}

/// keepalived's default configuration (no `vrrp_version`: VRRPv2). Between
/// two twinstar agents `version: 2` works whichever version twinstar puts on
/// the wire, since both speak the same.
#[test]
fn imported_default_v2_pair_elects_and_fails_over_like_keepalived() {
    imported_pair_behaves_like_the_keepalived_pair(
        "imported_default_v2_pair_elects_and_fails_over_like_keepalived",
        "imv2",
        "",
    );
}

#[test]
fn imported_v3_pair_elects_and_fails_over_like_keepalived() {
    imported_pair_behaves_like_the_keepalived_pair(
        "imported_v3_pair_elects_and_fails_over_like_keepalived",
        "imv3",
        "    vrrp_version 3\n",
    );
}
