//! The receive side: one reader task per VRRP socket, forwarding what it reads
//! to the event loop as [`Datagram`]s. Every check of RFC 9568 §7.1 happens in
//! the agent (`agent::receive`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::agent::{Datagram, DropReason, SocketKey};
use crate::platform::vrrp_socket::{RecvDrop, VrrpSocket};

use super::progress::Pulse;

/// Starts a task that reads `socket` forever and forwards datagrams;
/// `pulse` shows the watchdog when it is stuck forwarding (see `progress`).
pub fn spawn_reader(
    key: SocketKey,
    socket: Arc<VrrpSocket>,
    out: mpsc::Sender<Datagram>,
    pulse: Pulse,
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
                    payload: Err(match drop {
                        RecvDrop::BadIpHeader(reason) => DropReason::BadIpHeader(reason),
                        RecvDrop::NoHopLimit => DropReason::NoHopLimit,
                    }),
                },
                Err(e) => {
                    warn!(interface = socket.interface(), "receiving VRRP failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            pulse.busy();
            if out.send(datagram).await.is_err() {
                return; // The daemon is shutting down.
            }
            pulse.idle();
        }
    })
}
