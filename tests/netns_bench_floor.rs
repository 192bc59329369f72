//! The benchmark's floor programs on a real lab: a `bench-floor send` of ten
//! virtual routers every 10 ms on each of two links from one host, a
//! `bench-floor receive` on both links of the other (one socket per link, as
//! the agent has), for about a second; the receiver counts every advert the
//! sender handed to the kernel, and the sender kept to its schedule.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::agents::{can_run_lab, lab};
use twinstar::lab::bench::floor::Report;
use twinstar::lab::Host;

/// Routers the sender advertises per link, each every [`INTERVAL`].
const ROUTERS: u8 = 10;
/// The links between the two hosts: the lab's segment and a direct cable.
const LINKS: [&str; 2] = ["eth0", "f1"];
const INTERVAL: Duration = Duration::from_millis(10);
/// How long the sender runs.
const RUN: Duration = Duration::from_secs(1);

/// A floor process, killed if the test ends before it is stopped.
struct Floor(Option<Child>);

impl Floor {
    fn start(host: &Host, args: &[String]) -> Floor {
        let child = Command::new("ip")
            .args(["netns", "exec", host.ns.name()])
            .arg(env!("CARGO_BIN_EXE_twinstar"))
            .arg("bench-floor")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start twinstar bench-floor");
        Floor(Some(child))
    }

    /// SIGTERM, then the count it printed.
    fn stop(mut self) -> Report {
        let child = self.0.take().expect("running");
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("signal the floor");
        let output = child.wait_with_output().expect("wait for the floor");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "bench-floor failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Report::parse(&stdout).unwrap_or_else(|| panic!("no count in {stdout:?}"))
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_floor_receiver_counts_every_advert_the_floor_sender_sends() {
    if !can_run_lab("the_floor_receiver_counts_every_advert_the_floor_sender_sends") {
        return;
    }
    let lab = lab("floor", 2);
    // A second link, a veth made directly inside the two hosts' namespaces
    // (gone with them).
    let (a, b) = (lab.hosts[0].ns.name(), lab.hosts[1].ns.name());
    let made = Command::new("ip")
        .args(["link", "add", "f1", "netns", a, "type", "veth"])
        .args(["peer", "name", "f1", "netns", b])
        .status()
        .expect("run ip");
    assert!(made.success(), "make the second link");
    for (host, address) in [(0, "198.51.100.1/24"), (1, "198.51.100.2/24")] {
        let ns = &lab.hosts[host].ns;
        ns.ip(&["addr", "add", address, "dev", "f1"])
            .expect("address f1");
        ns.ip(&["link", "set", "f1", "up"]).expect("f1 up");
    }
    let mut receive = vec!["receive".to_owned()];
    for link in LINKS {
        receive.extend(["--interface".to_owned(), link.to_owned()]);
    }
    let receiver = Floor::start(&lab.hosts[1], &receive);
    // The receiver's socket must be open before the first advert leaves.
    std::thread::sleep(Duration::from_millis(500));
    let mut args = vec!["send".to_owned(), "--interval".into(), "10ms".into()];
    for link in LINKS {
        for vrid in 1..=ROUTERS {
            args.push("--router".into());
            args.push(format!("{link},{vrid},150,192.0.2.{}", 100 + vrid));
        }
    }
    let started = Instant::now();
    let sender = Floor::start(&lab.hosts[0], &args);
    std::thread::sleep(RUN);
    let sent = sender.stop();
    let ran = started.elapsed();
    // The last adverts are on a veth and a bridge: far less than this.
    std::thread::sleep(Duration::from_millis(200));
    let received = receiver.stop();

    // The schedule: every router once per interval from the sender's start
    // (which is after `started`), so at most one interval's worth more than
    // the time it ran allows; at least half of what 1 s allows, however
    // loaded the machine (the sender catches up late ticks, it never skips).
    let routers = LINKS.len() as u64 * u64::from(ROUTERS);
    let per_second = routers as f64 / INTERVAL.as_secs_f64();
    let most = (per_second * ran.as_secs_f64()) as u64 + routers;
    let least = (per_second * RUN.as_secs_f64() / 2.0) as u64;
    assert_eq!(sent.failed, 0, "the kernel refused sends: {sent:?}");
    assert!(
        (least..=most).contains(&sent.datagrams),
        "sent {} adverts in {ran:?}, expected {least}..={most}",
        sent.datagrams
    );
    // Nothing else on the lab speaks VRRP: the receiver counts exactly the
    // sender's adverts, none lost on the way.
    assert_eq!(
        received.datagrams, sent.datagrams,
        "the receiver counted {} of {} adverts",
        received.datagrams, sent.datagrams
    );
}
