//! The receive side: the event loop reads every VRRP socket itself and
//! hands what it read to the agent as [`Datagram`]s. Every check of RFC 9568
//! §7.1 happens in the agent (`agent::receive`).
//!
//! Why in the loop rather than a task per socket: a reader task woken by its
//! socket handed the datagrams to the loop task through a channel, so one
//! advert woke two tasks and crossed a channel, and a loop whose timer fired
//! late could only yield and hope the readers ran first. Now the loop reads
//! what is waiting before it handles a timeout ([`Readers::read_all_queued`]).
//! (The CPU this saved per advert was within the spread between runs.)
//!
//! A quiet socket wakes the loop at each arrival (epoll readiness). A busy
//! one (see `pace`) is taken out of epoll and read every [`pace::PACE`]
//! instead, until a read finds nothing: a flood then costs one wake-up of
//! the thread per pace rather than one per datagram.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::{Instant, Sleep};
use tracing::warn;

use crate::agent::{Datagram, DropReason, SocketKey};
use crate::platform::vrrp_socket::{Batch, Received, RecvDrop, VrrpReader};

mod pace;

use pace::{Pacer, PACE};

/// Datagrams read from one socket per read, at most.
const READ_BATCH: usize = 64;

/// Datagrams handed to the agent per wake-up of the loop, at most, before
/// its other sources get a turn; the sockets' own buffers hold the rest.
const WAKE_BATCH: usize = 256;

/// How long a reader waits after a receive error before reading again, so a
/// lasting error is logged a few times a second rather than in a loop.
const ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// The readers of every open VRRP socket, polled by the event loop.
#[derive(Default)]
pub struct Readers {
    readers: Vec<Reader>,
    /// Which reader a wake-up polls first, turn by turn, so that a socket
    /// that fills every batch does not keep the others waiting.
    first: usize,
    /// The list the last batch was handed over in, given back empty
    /// ([`recycle`](Self::recycle)): a Backup woken for each advert would
    /// otherwise make and free one per advert.
    spare: Vec<Datagram>,
}

impl Readers {
    /// Reads the socket of `key` with `reader` from now on.
    pub fn add(&mut self, key: SocketKey, reader: VrrpReader) {
        let local = (reader.source(), reader.group());
        self.remove(&key);
        self.readers.push(Reader {
            key,
            local,
            reader,
            arena: BytesMut::with_capacity(ARENA),
            pacer: Pacer::default(),
            waiting: Waiting::Readiness,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        });
    }

    /// Stops reading the socket of `key`.
    pub fn remove(&mut self, key: &SocketKey) {
        self.readers.retain(|reader| reader.key != *key);
    }

    /// Stops reading every socket.
    pub fn clear(&mut self) {
        self.readers.clear();
    }

    /// Ready with what the sockets have brought once any has brought
    /// something; until then pending, the task woken by an arrival on a
    /// quiet socket or by a busy socket's pace.
    pub fn poll_datagrams(&mut self, cx: &mut Context<'_>) -> Poll<Vec<Datagram>> {
        let batch = self.ready_now(cx);
        if batch.is_empty() {
            self.spare = batch;
            Poll::Pending
        } else {
            Poll::Ready(batch)
        }
    }

    /// What the sockets known to be readable (and the busy sockets whose
    /// pace has come) hold now, without waiting: possibly nothing. Costs no
    /// system call for a socket that epoll has not reported readable.
    pub fn ready_now(&mut self, cx: &mut Context<'_>) -> Vec<Datagram> {
        let mut batch = std::mem::take(&mut self.spare);
        let count = self.readers.len();
        let start = self.first;
        self.first = self.first.wrapping_add(1);
        for turn in 0..count {
            if batch.len() >= WAKE_BATCH {
                break;
            }
            if let Some(reader) = self.readers.get_mut((start + turn) % count) {
                reader.poll_into(cx, &mut batch);
            }
        }
        batch
    }

    /// Everything queued on every socket now, read whether or not epoll has
    /// reported it (one `recvmmsg` per socket at least): after the loop was
    /// stalled, the readiness of its sockets may not have been polled yet.
    pub fn read_all_queued(&mut self) -> Vec<Datagram> {
        let mut batch = std::mem::take(&mut self.spare);
        for reader in &mut self.readers {
            loop {
                let room = WAKE_BATCH.saturating_sub(batch.len()).min(READ_BATCH);
                if room == 0 {
                    return batch;
                }
                match reader.read_queued(&mut batch, room) {
                    Ok(found) if !found.emptied => {}
                    Ok(_) => break,
                    Err(e) => {
                        reader.failed(e);
                        break;
                    }
                }
            }
        }
        batch
    }

    /// Takes back the list a batch came in, once its datagrams were handled,
    /// for the next batch.
    pub fn recycle(&mut self, mut batch: Vec<Datagram>) {
        batch.clear();
        self.spare = batch;
    }
}

/// What a reader waits for before it reads again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// An arrival: the socket is in epoll.
    Readiness,
    /// Its pace (the timer): the socket is busy and out of epoll.
    Pace,
    /// The end of a pause after a receive error (the timer).
    Backoff,
}

/// One socket's reader and what it reads with.
struct Reader {
    key: SocketKey,
    /// (our address, the group): where a datagram dropped before its
    /// addresses were read is said to come from and go to.
    local: (IpAddr, IpAddr),
    reader: VrrpReader,
    arena: BytesMut,
    pacer: Pacer,
    waiting: Waiting,
    /// The pace or the backoff, reset in place rather than made anew.
    timer: Pin<Box<Sleep>>,
}

impl Reader {
    /// Adds to `batch` what the socket brought since the last poll, as far
    /// as its state allows (room permitting), and makes sure the task is
    /// woken when there is more.
    fn poll_into(&mut self, cx: &mut Context<'_>, batch: &mut Vec<Datagram>) {
        loop {
            let room = WAKE_BATCH.saturating_sub(batch.len()).min(READ_BATCH);
            if room == 0 {
                return;
            }
            match self.waiting {
                Waiting::Backoff => {
                    if self.timer.as_mut().poll(cx).is_pending() {
                        return;
                    }
                    self.waiting = Waiting::Readiness;
                }
                Waiting::Pace => {
                    if self.timer.as_mut().poll(cx).is_pending() {
                        return;
                    }
                    let before = batch.len();
                    match self.drain_into(batch) {
                        // Filled the batch: the pace has come and stays
                        // come, so the next poll goes on where this stopped.
                        Err(Full) => return,
                        Ok(Ok(())) if batch.len() == before => {
                            // Quiet again: back to being woken by arrivals.
                            self.waiting = Waiting::Readiness;
                        }
                        Ok(Ok(())) => {
                            self.wait(cx, Waiting::Pace, PACE);
                            return;
                        }
                        Ok(Err(e)) => {
                            self.failed(e);
                            self.wait(cx, Waiting::Backoff, ERROR_BACKOFF);
                            return;
                        }
                    }
                }
                Waiting::Readiness => {
                    let (key, local, arena) = (self.key, self.local, &mut self.arena);
                    let read = self.reader.poll_recv_ready(cx, room, |received| {
                        batch.push(datagram(key, local, received, arena));
                    });
                    match read {
                        Poll::Pending => return,
                        Poll::Ready(Ok(found)) => {
                            if self.pacer.busy(Instant::now(), found) {
                                self.reader.pause();
                                self.wait(cx, Waiting::Pace, PACE);
                            }
                            return;
                        }
                        Poll::Ready(Err(e)) => {
                            self.failed(e);
                            self.wait(cx, Waiting::Backoff, ERROR_BACKOFF);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Reads what is queued into `batch` until the queue is empty, or
    /// `Err(Full)` once the batch has no more room.
    fn drain_into(&mut self, batch: &mut Vec<Datagram>) -> Result<io::Result<()>, Full> {
        loop {
            let room = WAKE_BATCH.saturating_sub(batch.len()).min(READ_BATCH);
            if room == 0 {
                return Err(Full);
            }
            match self.read_queued(batch, room) {
                Ok(found) if found.emptied => return Ok(Ok(())),
                Ok(_) => {}
                Err(e) => return Ok(Err(e)),
            }
        }
    }

    /// Reads what is queued now, up to `max`, into `batch`, without waiting.
    fn read_queued(&mut self, batch: &mut Vec<Datagram>, max: usize) -> io::Result<Batch> {
        let (key, local, arena) = (self.key, self.local, &mut self.arena);
        let found = self.reader.recv_queued(max, |received| {
            batch.push(datagram(key, local, received, arena));
        })?;
        self.pacer.note(Instant::now(), found);
        Ok(found)
    }

    /// Waits `for_` (`what`) before reading again: the timer is reset and
    /// polled once, so that it wakes the task.
    fn wait(&mut self, cx: &mut Context<'_>, what: Waiting, for_: Duration) {
        self.waiting = what;
        self.timer.as_mut().reset(Instant::now() + for_);
        // Pending: the deadline is in the future; polling registers the waker.
        let _ = self.timer.as_mut().poll(cx);
    }

    /// Logs a receive error.
    fn failed(&self, e: io::Error) {
        warn!(
            interface = self.reader.interface(),
            "receiving VRRP failed: {e}"
        );
    }
}

/// The batch of this wake-up has no more room.
struct Full;

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
