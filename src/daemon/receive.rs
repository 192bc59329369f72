//! The receive side: one reader task per VRRP socket, forwarding what it reads
//! to the event loop as [`Datagram`]s. Every check of RFC 9568 §7.1 happens in
//! the agent (`agent::receive`).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
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
        let mut arena = BytesMut::with_capacity(ARENA);
        loop {
            let mut batch = Vec::new();
            let read = socket
                .recv_batch(&mut buf, READ_BATCH, |received| {
                    batch.push(datagram(key, &socket, received, &mut arena));
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

/// Room for the payloads of this many full batches of typical adverts
/// (an IPv6 advert with a few addresses) before the arena is reclaimed.
const ARENA: usize = 16 * READ_BATCH * 128;

/// `payload` as shared bytes, copied into `arena`. Once the agent has
/// dropped every payload handed out from it, reserving more reuses the
/// arena's own buffer, so a busy socket reads without allocating per packet.
fn shared(arena: &mut BytesMut, payload: &[u8]) -> Bytes {
    if arena.capacity() - arena.len() < payload.len() {
        arena.reserve(payload.len().max(ARENA));
    }
    arena.extend_from_slice(payload);
    arena.split().freeze()
}

/// What the agent is told of one datagram read from `socket` (`key`).
fn datagram(
    key: SocketKey,
    socket: &VrrpSocket,
    received: Result<Received<'_>, RecvDrop>,
    arena: &mut BytesMut,
) -> Datagram {
    match received {
        Ok(received) => Datagram {
            socket: key,
            source: received.source,
            destination: received.destination,
            hop_limit: received.hop_limit,
            payload: Ok(shared(arena, received.payload)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_kept_apart_and_the_arena_is_reused_once_they_are_dropped() {
        let mut arena = BytesMut::with_capacity(ARENA);
        let first = shared(&mut arena, &[1, 2, 3]);
        let second = shared(&mut arena, &[4, 5]);
        assert_eq!((&first[..], &second[..]), (&[1, 2, 3][..], &[4, 5][..]));
        let start = first.as_ptr();
        drop((first, second));
        // Fill the arena to the end: the next payload does not fit, and
        // with nothing handed out alive the arena's own buffer is reused.
        let rest = arena.capacity() - arena.len();
        drop(shared(&mut arena, &vec![0; rest]));
        let again = shared(&mut arena, &[6]);
        assert_eq!(&again[..], &[6]);
        assert_eq!(again.as_ptr(), start, "a new buffer was allocated");
    }

    #[test]
    fn a_payload_larger_than_the_arena_is_carried_whole() {
        let mut arena = BytesMut::with_capacity(ARENA);
        let big = vec![7; ARENA * 2];
        assert_eq!(&shared(&mut arena, &big)[..], &big[..]);
    }
}
