//! Samples, from inside a lab host's namespace, whether an address is on its
//! interface, every [`SAMPLE_EVERY`] through netlink (no `ip` fork per
//! sample), so a test can say when a VIP came or went to within a few
//! milliseconds.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use twinstar::lab::Host;
use twinstar::platform::netlink::Netlink;

/// How often the interface is read: 200 Hz.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// A running sampler; stopped when dropped.
pub struct VipSampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(Instant, bool)>>>,
    thread: Option<JoinHandle<()>>,
}

impl VipSampler {
    /// Starts sampling `address` on `host`'s interface.
    pub fn start(host: &Host, address: &str) -> VipSampler {
        let address: IpAddr = address.parse().expect("an IP address");
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let ns = host.ns.name().to_owned();
        let interface = host.interface.clone();
        let thread = {
            let (stop, samples) = (stop.clone(), samples.clone());
            std::thread::spawn(move || {
                twinstar::lab::enter_namespace(&ns).expect("enter the host's namespace");
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                runtime.block_on(async {
                    let netlink = Netlink::connect().expect("netlink");
                    let index = netlink
                        .link_by_name(&interface)
                        .await
                        .expect("the lab interface")
                        .index;
                    while !stop.load(Ordering::Relaxed) {
                        let on = netlink
                            .addresses(index)
                            .await
                            .expect("list addresses")
                            .iter()
                            .any(|a| a.address == address);
                        samples.lock().expect("samples").push((Instant::now(), on));
                        tokio::time::sleep(SAMPLE_EVERY).await;
                    }
                });
            })
        };
        VipSampler {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// The samples so far: (when, present).
    pub fn samples(&self) -> Vec<(Instant, bool)> {
        self.samples.lock().expect("samples").clone()
    }

    /// The first sample at or after `since` with presence `present`.
    pub fn first(&self, since: Instant, present: bool) -> Option<Instant> {
        self.samples()
            .into_iter()
            .find(|&(at, on)| at >= since && on == present)
            .map(|(at, _)| at)
    }

    /// The mean time between two samples from `since` on.
    pub fn mean_gap(&self, since: Instant) -> Duration {
        let times: Vec<Instant> = self
            .samples()
            .into_iter()
            .map(|(at, _)| at)
            .filter(|at| *at >= since)
            .collect();
        match (times.first(), times.last()) {
            (Some(first), Some(last)) if times.len() > 1 => {
                (*last - *first) / (times.len() as u32 - 1)
            }
            _ => Duration::ZERO,
        }
    }

    /// The largest gap between two samples from `since` on: the resolution
    /// the sampler actually had on a loaded machine.
    pub fn largest_gap(&self, since: Instant) -> Duration {
        let samples = self.samples();
        samples
            .windows(2)
            .filter(|w| w[0].0 >= since)
            .map(|w| w[1].0 - w[0].0)
            .max()
            .unwrap_or_default()
    }
}

impl Drop for VipSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
