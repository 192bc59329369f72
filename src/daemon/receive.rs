//! The receive side: one reader task per VRRP socket, forwarding what it reads
//! to the event loop as [`Datagram`]s. Every check of RFC 9568 §7.1 happens in
//! the agent (`agent::receive`).
//!
//! A quiet socket wakes its reader at each arrival (epoll readiness). A busy
//! one (see `pace`) is taken out of epoll and read every [`pace::PACE`]
//! instead, until a read finds nothing: a flood then costs one wake-up of
//! the thread per pace rather than one per datagram or two.

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::warn;

use crate::agent::{Datagram, DropReason, SocketKey};
use crate::platform::vrrp_socket::{Batch, Received, RecvDrop, VrrpReader};

use super::progress::Pulse;

mod pace;

use pace::{Pacer, PACE};

/// Datagrams read from one socket per read, at most, and so per message
/// to the event loop.
pub const READ_BATCH: usize = 64;

/// How long a reader waits after a receive error before reading again, so a
/// lasting error is logged a few times a second rather than in a loop.
const ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Starts a task that reads with `reader` (the socket of `key`) forever and
/// forwards datagrams, each read's in one message; `pulse` shows the
/// watchdog when it is stuck forwarding (see `progress`).
pub fn spawn_reader(
    key: SocketKey,
    reader: VrrpReader,
    out: mpsc::Sender<Vec<Datagram>>,
    pulse: Pulse,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut task = ReaderTask {
            key,
            local: (reader.source(), reader.group()),
            reader,
            out,
            pulse,
            arena: BytesMut::with_capacity(ARENA),
            pacer: Pacer::default(),
        };
        loop {
            match task.turn().await {
                Ok(()) => {}
                Err(Halt::Closed) => return, // The daemon is shutting down.
                Err(Halt::Failed(e)) => {
                    warn!(
                        interface = task.reader.interface(),
                        "receiving VRRP failed: {e}"
                    );
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            }
        }
    })
}

/// Why a reader's turn ended early.
enum Halt {
    /// The event loop is gone: the reader stops.
    Closed,
    /// A receive failed; what came before it was forwarded.
    Failed(io::Error),
}

/// One socket's reader and what it reads with.
struct ReaderTask {
    key: SocketKey,
    reader: VrrpReader,
    /// (our address, the group): where a datagram dropped before its
    /// addresses were read is said to come from and go to.
    local: (IpAddr, IpAddr),
    out: mpsc::Sender<Vec<Datagram>>,
    pulse: Pulse,
    arena: BytesMut,
    pacer: Pacer,
}

impl ReaderTask {
    /// Waits for datagrams and forwards the first read of them; when the
    /// socket is busy, goes on reading at the pace until a read finds none.
    async fn turn(&mut self) -> Result<(), Halt> {
        let mut batch = Vec::new();
        let (key, local, arena) = (self.key, self.local, &mut self.arena);
        let read = self
            .reader
            .recv_ready(READ_BATCH, |received| {
                batch.push(datagram(key, local, received, arena));
            })
            .await;
        self.forward(batch).await?;
        let found = read.map_err(Halt::Failed)?;
        if self.pacer.busy(Instant::now(), found) {
            self.reader.pause();
            loop {
                tokio::time::sleep(PACE).await;
                if self.drain().await? == 0 {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Forwards everything queued, a batch at a time; how many it read.
    async fn drain(&mut self) -> Result<usize, Halt> {
        let mut total = 0;
        loop {
            let found = self.read_queued().await?;
            total += found.count;
            if found.emptied {
                return Ok(total);
            }
        }
    }

    /// Forwards one batch of what is queued now, without waiting.
    async fn read_queued(&mut self) -> Result<Batch, Halt> {
        let mut batch = Vec::new();
        let (key, local, arena) = (self.key, self.local, &mut self.arena);
        let read = self.reader.recv_queued(READ_BATCH, |received| {
            batch.push(datagram(key, local, received, arena));
        });
        self.forward(batch).await?;
        let found = read.map_err(Halt::Failed)?;
        self.pacer.note(Instant::now(), found);
        Ok(found)
    }

    /// Hands `batch` to the event loop, if it holds anything.
    async fn forward(&mut self, batch: Vec<Datagram>) -> Result<(), Halt> {
        if batch.is_empty() {
            return Ok(());
        }
        self.pulse.busy();
        self.out.send(batch).await.map_err(|_| Halt::Closed)?;
        self.pulse.idle();
        Ok(())
    }
}

/// Room for the payloads of two full batches of typical adverts (an IPv6
/// advert with a few addresses) before the arena is reclaimed. The agent
/// has usually dropped a batch's payloads before the next is read, so two
/// are enough for the buffer to be reused (when it lags, the arena moves
/// to a new buffer and the old one goes with its last payload); and every
/// page of it becomes
/// resident as reads cycle through it, once per socket (it was 128 KiB:
/// half a megabyte of a four-link agent).
const ARENA: usize = 2 * READ_BATCH * 128;

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

/// What the agent is told of one datagram read from the socket of `key`,
/// whose (source, group) is `local`.
fn datagram(
    key: SocketKey,
    local: (IpAddr, IpAddr),
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
            source: local.0,
            destination: local.1,
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
