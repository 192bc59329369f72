//! The announcement train on the wire: a new Master sends `garp.count`
//! gratuitous ARPs `garp.interval` apart, then one every `garp.refresh`
//! while it stays Master, and none once it has left Master.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::agents::{agent, can_run_lab, config, lab, MARGIN, SETTLE};
use support::netns::start_tcpdump;
use twinstar::lab::Namespace;

const VIP: &str = "192.0.2.60";
const COUNT: usize = 3;
const INTERVAL: Duration = Duration::from_millis(300);
const REFRESH: Duration = Duration::from_secs(1);
/// How far a gap between two frames may stray from the configured one: the
/// timestamps are the kernel's, but the agent's loop shares two cores with
/// the lab.
const JITTER: Duration = Duration::from_millis(80);

/// `tcpdump` printing the kernel's timestamp of each gratuitous ARP (an
/// ARP request whose sender address is its target) from `mac` on eth0.
struct Garps {
    child: Child,
    stamps: mpsc::Receiver<f64>,
}

impl Garps {
    fn start(namespace: &Namespace, mac: &str) -> Garps {
        let filter =
            format!("arp and ether src {mac} and arp[6:2] == 1 and arp[14:4] == arp[24:4]");
        let args = ["-i", "eth0", "-n", "-l", "-tt", &filter];
        let mut child = start_tcpdump(namespace, 60, &args);
        let stdout = child.stdout.take().expect("tcpdump stdout");
        let (send, stamps) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                assert!(
                    line.contains(VIP),
                    "a gratuitous ARP for another address: {line}"
                );
                let stamp = line.split_whitespace().next().and_then(|t| t.parse().ok());
                if let Some(stamp) = stamp {
                    if send.send(stamp).is_err() {
                        break;
                    }
                }
            }
        });
        Garps { child, stamps }
    }

    /// The timestamps of the frames seen within `span` from now.
    fn during(&self, span: Duration) -> Vec<f64> {
        let until = Instant::now() + span;
        let mut seen = Vec::new();
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.stamps.recv_timeout(left) {
                Ok(stamp) => seen.push(stamp),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!("tcpdump ended"),
            }
        }
        seen
    }
}

impl Drop for Garps {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gaps between consecutive stamps.
fn gaps(stamps: &[f64]) -> Vec<Duration> {
    stamps
        .windows(2)
        .map(|w| Duration::from_secs_f64((w[1] - w[0]).max(0.0)))
        .collect()
}

fn near(gap: Duration, wanted: Duration) -> bool {
    gap + JITTER >= wanted && gap <= wanted + JITTER
}

#[test]
fn a_master_announces_count_times_then_refreshes_and_stops_on_leaving() {
    if !can_run_lab("announce_train") {
        return;
    }
    let lab = lab("ann", 2);
    let a_mac = lab.hosts[0].mac().expect("A's MAC");
    let garps = Garps::start(&lab.client.ns, &a_mac);
    let garp = format!(
        "    garp: {{count: {COUNT}, interval: {}ms, refresh: {}s}}\n",
        INTERVAL.as_millis(),
        REFRESH.as_secs()
    );
    let a = agent(
        &lab,
        "ann",
        0,
        &config(61, 150, "100ms", &format!("{VIP}/24"), &garp),
    );
    a.wait_for_state("web", "master", SETTLE).expect("A Master");

    // The burst and two refreshes.
    let burst_and_refresh = INTERVAL * (COUNT as u32 - 1) + REFRESH * 2;
    let seen = garps.during(burst_and_refresh + MARGIN);
    let gaps = gaps(&seen);
    // COUNT - 1 gaps in the burst, then one before each refresh.
    let wanted_gaps = (COUNT - 1) + 2;
    assert!(
        gaps.len() >= wanted_gaps,
        "expected {COUNT} rounds and two refreshes, saw {} frames at {seen:?}\n{}",
        seen.len(),
        a.log()
    );
    for (n, gap) in gaps.iter().enumerate() {
        let wanted = if n + 1 < COUNT { INTERVAL } else { REFRESH };
        assert!(
            near(*gap, wanted),
            "gap {n} is {gap:?}, wanted {wanted:?} ± {JITTER:?}: {gaps:?}"
        );
    }

    // B with a higher priority takes over, announcing twice and no more
    // (no refresh: the train ends with its last round sent); A announces
    // no more.
    let b_mac = lab.hosts[1].mac().expect("B's MAC");
    let b_garps = Garps::start(&lab.client.ns, &b_mac);
    let b_garp = format!(
        "    garp: {{count: 2, interval: {}ms}}\n",
        INTERVAL.as_millis()
    );
    let b = agent(
        &lab,
        "ann",
        1,
        &config(61, 200, "100ms", &format!("{VIP}/24"), &b_garp),
    );
    b.wait_for_state("web", "master", SETTLE).expect("B Master");
    a.wait_for_state("web", "backup", MARGIN).expect("A Backup");
    // Frames stamped before A was seen in Backup may still be queued here.
    let left = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64();
    let after: Vec<f64> = garps
        .during(REFRESH * 3)
        .into_iter()
        .filter(|&stamp| stamp > left)
        .collect();
    assert!(
        after.is_empty(),
        "A announced at {after:?}, after it was seen leaving Master at {left}\n{}",
        a.log()
    );
    let from_b: Vec<f64> = b_garps.stamps.try_iter().collect();
    assert_eq!(
        from_b.len(),
        2,
        "B's announcements: {from_b:?}\n{}",
        b.log()
    );
    let b_gap = Duration::from_secs_f64((from_b[1] - from_b[0]).max(0.0));
    assert!(near(b_gap, INTERVAL), "B's: {from_b:?}");
}
