//! The receive side: one reader task per VRRP socket, forwarding what it reads
//! to the event loop as [`Datagram`]s. Every check of RFC 9568 §7.1 happens in
//! the agent (`agent::receive`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::agent::{Datagram, DropReason, SocketKey};
use crate::platform::vrrp_socket::{Received, RecvDrop, VrrpSocket};

use super::progress::Pulse;

/// Datagrams read from one socket per wake-up, at most, and so per message
/// to the event loop.
pub const READ_BATCH: usize = 64;

/// Starts a task that reads `socket` forever and forwards datagrams, each
/// wake-up's in one message; `pulse` shows the watchdog when it is stuck
/// forwarding (see `progress`).
pub fn spawn_reader(
    key: SocketKey,
    socket: Arc<VrrpSocket>,
    out: mpsc::Sender<Vec<Datagram>>,
    pulse: Pulse,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let mut batch = Vec::new();
            let read = socket
                .recv_batch(&mut buf, READ_BATCH, |received| {
                    batch.push(datagram(key, &socket, received));
                })
                .await;
            if !batch.is_empty() {
                pulse.busy();
                if out.send(batch).await.is_err() {
                    return; // The daemon is shutting down.
                }
                pulse.idle();
            }
            if let Err(e) = read {
                warn!(interface = socket.interface(), "receiving VRRP failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    })
}

/// What the agent is told of one datagram read from `socket` (`key`).
fn datagram(
    key: SocketKey,
    socket: &VrrpSocket,
    received: Result<Received<'_>, RecvDrop>,
) -> Datagram {
    match received {
        Ok(received) => Datagram {
            socket: key,
            source: received.source,
            destination: received.destination,
            hop_limit: received.hop_limit,
            payload: Ok(received.payload.to_vec()),
        },
        Err(drop) => Datagram {
            socket: key,
            source: socket.source(),
            destination: socket.group(),
            hop_limit: None,
            payload: Err(match drop {
                RecvDrop::BadIpHeader(reason) => DropReason::BadIpHeader(reason),
                RecvDrop::NoHopLimit => DropReason::NoHopLimit,
            }),
        },
    }
}
