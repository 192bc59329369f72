//! The third host's adverts: a rogue advertising the lab's VRID with a higher
//! priority every interval, or a flood of adverts the agents must ignore.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::world::{INTERVAL, VIP, VRID};
use crate::lab::{enter_namespace, LabError};
use crate::wire::vrrp::{Addresses, Advertisement, ChecksumForm};

/// The VRRP multicast group (RFC 9568 §5.1.1.2).
const VRRP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Adverts a flood sends per millisecond, at most (10 000 a second).
const FLOOD_PER_MS: u32 = 10;

/// Adverts from the third host: a rogue advertising the VRID with a higher
/// priority every interval, or a flood of lower-priority adverts and adverts
/// for other VRIDs; stopped (and joined) when dropped.
pub struct Sender {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<u64, LabError>>>,
}

impl Sender {
    /// Starts sending from `source` inside `namespace`: a flood, or the rogue
    /// advertising with `priority`.
    pub fn start(namespace: String, source: Ipv4Addr, flood: bool, priority: u8) -> Sender {
        let stop = Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        let thread = std::thread::spawn(move || {
            enter_namespace(&namespace)?;
            let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112)))?;
            socket.bind_device(Some(b"eth0"))?;
            socket.set_multicast_if_v4(&source)?;
            socket.set_multicast_loop_v4(false)?;
            socket.set_multicast_ttl_v4(255)?;
            let to = SockAddr::from(SocketAddrV4::new(VRRP_GROUP, 0));
            let advert = |vrid: u8, priority: u8| -> Result<Vec<u8>, LabError> {
                let built = |e: String| LabError::Step(format!("building an advert: {e}"));
                Advertisement::new(vrid, priority, INTERVAL, Addresses::V4(vec![VIP]))
                    .map_err(|e| built(e.to_string()))?
                    .to_bytes(
                        IpAddr::V4(source),
                        IpAddr::V4(VRRP_GROUP),
                        ChecksumForm::PseudoHeader,
                    )
                    .map_err(|e| built(e.to_string()))
            };
            let packets = if flood {
                // Lower priorities on the lab's VRID, and every other VRID.
                let mut packets = Vec::new();
                for n in 1..=255u8 {
                    if n != VRID {
                        packets.push(advert(n, 100)?);
                    }
                    if n < 100 {
                        packets.push(advert(VRID, n)?);
                    }
                }
                packets
            } else {
                vec![advert(VRID, priority)?]
            };
            let mut sent = 0u64;
            while !done.load(Ordering::Relaxed) {
                if flood {
                    for _ in 0..FLOOD_PER_MS {
                        let packet = &packets[sent as usize % packets.len()];
                        socket.send_to(packet, &to)?;
                        sent += 1;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                } else {
                    socket.send_to(&packets[0], &to)?;
                    sent += 1;
                    std::thread::sleep(INTERVAL);
                }
            }
            Ok(sent)
        });
        Sender {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sending; returns how many adverts went out, or why sending failed.
    pub fn stop(mut self) -> Result<u64, LabError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(LabError::Step("the advert sender panicked".into())),
            None => Ok(0),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
