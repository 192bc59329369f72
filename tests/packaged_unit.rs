//! The installed package's service, run by hand in a lab: the unit's ExecStart
//! line, with a two-node configuration written where it reads it, elects a
//! Master that serves the VIP, and a graceful stop hands it over.
//!
//! Needs the package installed, so tests/package.sh runs it (`--ignored`)
//! between installing and purging.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::agents::{config, dir, lab, wait_until, SETTLE};
use twinstar::lab::{Agent, Pinger};

const VIP: &str = "192.0.2.50";

/// The unit's ExecStart command line, split into words.
fn exec_start(unit: &Path) -> Vec<String> {
    let text = fs::read_to_string(unit).unwrap_or_else(|e| panic!("{}: {e}", unit.display()));
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("no ExecStart= in {}", unit.display()));
    line.split_whitespace().map(str::to_owned).collect()
}

fn value_after(argv: &[String], flag: &str) -> String {
    let at = argv
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("ExecStart has no {flag}: {argv:?}"));
    argv[at + 1].clone()
}

/// The packaged service's process, stopped by its pid; puts the packaged
/// configuration file back when dropped.
struct Service {
    child: Option<Child>,
    config: PathBuf,
    packaged: String,
}

impl Service {
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            for _ in 0..500 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::write(&self.config, &self.packaged);
    }
}

#[test]
#[ignore = "needs the package installed; tests/package.sh runs it"]
fn unit_exec_start_elects_and_serves_the_vip() {
    let unit = PathBuf::from(
        std::env::var("TWINSTAR_UNIT")
            .unwrap_or_else(|_| "/usr/lib/systemd/system/twinstar.service".into()),
    );
    let argv = exec_start(&unit);
    assert!(
        argv[0].starts_with('/'),
        "ExecStart runs an absolute path: {argv:?}"
    );
    let config_path = PathBuf::from(value_after(&argv, "--config"));
    value_after(&argv, "--runtime-dir");
    let lab = lab("pkg", 2);
    let work = dir("pkg", 0);
    fs::create_dir_all(&work).unwrap();

    // Node A: the unit's own command line, reading the configuration file the
    // package installed, now holding a two-node configuration.
    let packaged = fs::read_to_string(&config_path).expect("the packaged configuration");
    fs::write(&config_path, config(61, 150, "100ms", "192.0.2.50/24", "")).unwrap();
    let log = fs::File::create(work.join("service.log")).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", lab.hosts[0].ns.name()])
        .args(&argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("run ExecStart");
    let mut service = Service {
        child: Some(child),
        config: config_path,
        packaged,
    };
    // Node B: the same installed binary with the peer's configuration.
    let peer_dir = dir("pkg", 1);
    let b = Agent::start(
        &lab.hosts[1],
        Path::new(&argv[0]),
        &peer_dir,
        &config(61, 100, "100ms", "192.0.2.50/24", ""),
    )
    .expect("start the peer");
    let service_log = || fs::read_to_string(work.join("service.log")).unwrap_or_default();
    assert!(
        wait_until(SETTLE, || lab.holders(VIP).unwrap() == vec![true, false]),
        "the service should be Master and hold the VIP\nservice:\n{}\npeer:\n{}",
        service_log(),
        b.log()
    );
    let ping = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(10)).expect("ping");
    assert!(ping.wait_replies(20, SETTLE), "the VIP does not answer");

    // A graceful stop of the service hands the VIP to the peer.
    service.stop();
    assert!(
        wait_until(SETTLE, || lab.holders(VIP).unwrap() == vec![false, true]),
        "the peer should take over\n{}",
        b.log()
    );
    assert!(
        ping.wait_replies(20, SETTLE),
        "the VIP does not answer after the handover"
    );
    println!("ExecStart {argv:?}: elected, served the VIP, handed it over");
}
