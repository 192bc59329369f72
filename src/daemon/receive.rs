//! The receive side: one reader task per VRRP socket, and the checks of RFC 9568
//! §7.1 that decide whether a datagram reaches a state machine.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::platform::vrrp_socket::{RecvDrop, VrrpSocket};
use crate::vrrp::AdvertInfo;
use crate::wire::vrrp::{Advertisement, Packet};

/// A datagram as the reader saw it, before the VRRP checks.
#[derive(Debug)]
pub struct Datagram {
    /// Which socket it came from: (interface index, is IPv6).
    pub socket: SocketKey,
    /// IP source.
    pub source: IpAddr,
    /// IP destination.
    pub destination: IpAddr,
    /// TTL / hop limit, if known.
    pub hop_limit: Option<u8>,
    /// The VRRP message bytes, or why the IP layer already dropped it.
    pub payload: Result<Vec<u8>, RecvDrop>,
}

/// Identifies a socket: interface index and address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketKey {
    /// Interface index.
    pub ifindex: u32,
    /// True for the IPv6 socket.
    pub ipv6: bool,
}

/// Starts a task that reads `socket` forever and forwards datagrams.
pub fn spawn_reader(
    key: SocketKey,
    socket: Arc<VrrpSocket>,
    out: mpsc::Sender<Datagram>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let datagram = match socket.recv(&mut buf).await {
                Ok(Ok(received)) => Datagram {
                    socket: key,
                    source: received.source,
                    destination: received.destination,
                    hop_limit: received.hop_limit,
                    payload: Ok(received.payload.to_vec()),
                },
                Ok(Err(drop)) => Datagram {
                    socket: key,
                    source: socket.source(),
                    destination: socket.group(),
                    hop_limit: None,
                    payload: Err(drop),
                },
                Err(e) => {
                    warn!(interface = socket.interface(), "receiving VRRP failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if out.send(datagram).await.is_err() {
                return; // The daemon is shutting down.
            }
        }
    })
}

/// A datagram that passed every check, ready for the state machine.
#[derive(Debug)]
pub struct Accepted {
    /// The virtual router it is for.
    pub vrid: u8,
    /// What the core needs.
    pub info: AdvertInfo,
}

/// Dropped-packet counters by interface and reason, for status and metrics.
#[derive(Debug, Default, Clone)]
pub struct DropCounters {
    /// interface name → reason → count.
    pub by_interface: BTreeMap<String, BTreeMap<&'static str, u64>>,
}

impl DropCounters {
    /// Counts one drop.
    pub fn count(&mut self, interface: &str, reason: &'static str) {
        // Allocate the interface's key only the first time it drops something.
        if let Some(reasons) = self.by_interface.get_mut(interface) {
            *reasons.entry(reason).or_default() += 1;
        } else {
            let reasons = BTreeMap::from([(reason, 1)]);
            self.by_interface.insert(interface.to_string(), reasons);
        }
    }
}

/// RFC 9568 §7.1 checks up to the VRID lookup; `Err` carries the drop reason.
pub fn check(datagram: &Datagram, own_source: IpAddr) -> Result<Accepted, &'static str> {
    let payload = match &datagram.payload {
        Ok(payload) => payload,
        Err(RecvDrop::BadIpHeader(reason)) => return Err(reason),
        Err(RecvDrop::NoHopLimit) => return Err("no_hop_limit"),
    };
    if datagram.source == own_source {
        return Err("own_advert");
    }
    // The TTL / hop limit must be 255: anything less was routed from elsewhere.
    if datagram.hop_limit != Some(255) {
        return Err("bad_ttl");
    }
    let packet = Packet::new_checked(payload.as_slice()).map_err(|e| e.reason())?;
    let (advert, _form) = Advertisement::parse(&packet, datagram.source, datagram.destination)
        .map_err(|e| e.reason())?;
    Ok(Accepted {
        vrid: advert.vrid(),
        info: AdvertInfo {
            priority: advert.priority(),
            interval: advert.max_adver_interval(),
            source: datagram.source,
        },
    })
}
