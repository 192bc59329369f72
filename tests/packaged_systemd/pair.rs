//! The systemd host and its peer as one pair: which of them holds a VIP, and
//! waiting for what systemd does.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::host::SystemdHost;
use crate::peer::Peer;
use crate::support::agents::wait_until;
use crate::vip_sampler::{AddressProbe, Samples, VipSampler};
use crate::{MIN_SAMPLE_RATE_HZ, SAMPLE_PERIOD};

/// The systemd host, its peer and what observes them.
pub struct Pair {
    /// The host with the package installed.
    pub host: SystemdHost,
    /// The plain agent beside it.
    pub peer: Peer,
}

impl Pair {
    /// Host 0 is the systemd host, host 1 the peer.
    pub fn holders(&self, vip: Ipv4Addr) -> [bool; 2] {
        let mut held = [false; 2];
        for (index, netns) in [self.host.netns(), self.peer.netns()].iter().enumerate() {
            let mut probe = AddressProbe::open_in(netns).expect("netlink probe");
            held[index] = probe
                .ipv4_addresses()
                .expect("list addresses")
                .contains(&vip);
        }
        held
    }

    /// Starts sampling which side holds `vip`, every [`SAMPLE_PERIOD`].
    pub fn sampler(&self, vip: Ipv4Addr) -> VipSampler {
        let probes = [
            AddressProbe::open_in(&self.host.netns()).expect("netlink probe in the host"),
            AddressProbe::open_in(&self.peer.netns()).expect("netlink probe in the peer"),
        ];
        VipSampler::start(probes, vip, SAMPLE_PERIOD)
    }

    /// Waits up to `bound` for `vip` to be held as `expected` ([host, peer]);
    /// returns how long it took, or fails with both sides' logs.
    pub fn expect_holders(
        &self,
        what: &str,
        vip: Ipv4Addr,
        expected: [bool; 2],
        since: Instant,
        bound: Duration,
    ) -> Duration {
        let held = wait_until(bound.saturating_sub(since.elapsed()), || {
            self.holders(vip) == expected
        });
        let took = since.elapsed();
        assert!(
            held,
            "{what}: {vip} held {:?} after {took:?}, expected {expected:?} within {bound:?}\n{}",
            self.holders(vip),
            self.logs()
        );
        println!("{what}: after {took:?} (bound {bound:?})");
        took
    }

    /// The unit's journal and the peer's log, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- journal of twinstar.service in the systemd host:\n{}\n--- peer:\n{}",
            self.host.journal_text(),
            self.peer.log()
        )
    }
}

/// Like `wait_until`, but looking every 50 ms: each look runs systemctl or
/// journalctl in the host, and a tighter loop would take the CPU the agents
/// and the sampler need. Bounds here are seconds, so 50 ms costs nothing.
pub fn poll_systemd(bound: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}

/// The unit's NRestarts.
pub fn restart_count(pair: &Pair) -> u32 {
    pair.host.property("NRestarts").parse().unwrap_or(0)
}

/// Fails when the sampler looked less often than [`MIN_SAMPLE_RATE_HZ`]: its
/// overlap figures would not mean what they say.
pub fn check_rate(samples: &Samples) {
    assert!(
        samples.rate_hz() >= MIN_SAMPLE_RATE_HZ,
        "the sampler ran at {:.0} Hz (largest gap {:?}), below {MIN_SAMPLE_RATE_HZ} Hz",
        samples.rate_hz(),
        samples.largest_gap()
    );
}
