//! The thin edge of `twinstar watch`: reads frames from the capture socket,
//! stamps them with the clock, feeds the [`Segment`] and prints what changed,
//! as JSON lines or as a table redrawn in place.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, IsTerminal, Write};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::frame::{decode, Decoded};
use super::render;
use super::segment::{Change, Segment};
use crate::platform::capture::PacketCapture;

/// How often silences are noticed and the table redrawn when nothing changed.
const TICK: Duration = Duration::from_secs(1);

/// The longest a receive waits, so that ticks keep their pace.
const RECEIVE_WAIT: Duration = Duration::from_millis(100);

/// The table is redrawn at most this often, however busy the wire.
const REDRAW_MIN: Duration = Duration::from_millis(200);

/// Larger than any frame on an interface with a 9000-byte MTU.
const BUFFER_LEN: usize = 65_536;

/// What `twinstar watch` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// The interface to listen on; `None`: every interface.
    pub interface: Option<String>,
    /// One JSON object per line per change, instead of the table.
    pub json: bool,
    /// The routers expected; any other is an `unknown_peer` anomaly.
    pub peers: Option<BTreeSet<IpAddr>>,
}

/// Why watching could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// No interface of that name in this network namespace.
    #[error("no interface named {0:?} in this network namespace")]
    NoSuchInterface(String),
    /// The capture socket could not be opened (CAP_NET_RAW is needed).
    #[error("cannot open a packet capture socket (run as root or with CAP_NET_RAW): {0}")]
    Open(#[source] io::Error),
    /// Receiving failed.
    #[error("receiving from the capture socket failed: {0}")]
    Receive(#[source] io::Error),
    /// Writing the output failed.
    #[error("writing the output failed: {0}")]
    Output(#[source] io::Error),
}

/// Watches until killed (or until the output is closed, which ends it
/// cleanly, as `twinstar watch --json | head` expects).
pub fn run(options: &WatchOptions) -> Result<(), WatchError> {
    let ifindex = match &options.interface {
        Some(name) => Some(
            nix::net::if_::if_nametoindex(name.as_str())
                .map_err(|_| WatchError::NoSuchInterface(name.clone()))?,
        ),
        None => None,
    };
    let capture = PacketCapture::open(ifindex, RECEIVE_WAIT).map_err(WatchError::Open)?;
    let mut output = Output {
        json: options.json,
        terminal: io::stdout().is_terminal(),
        last_draw: None,
        dirty: true,
    };
    let mut segment = Segment::new(options.peers.clone());
    let mut names = InterfaceNames::default();
    let mut buffer = vec![0u8; BUFFER_LEN];
    let mut next_tick = Instant::now() + TICK;
    loop {
        let received = capture.receive(&mut buffer).map_err(WatchError::Receive)?;
        // The one clock read of this turn.
        let now = Instant::now();
        let mut changes = Vec::new();
        if let Some(frame) = received {
            let interface = names.name(frame.ifindex);
            match decode(buffer.get(..frame.len).unwrap_or(&[])) {
                Decoded::NotVrrp => {}
                Decoded::Advert(heard) => changes.extend(segment.observe(now, &interface, heard)),
                Decoded::Malformed { source, reason } => {
                    changes.push(segment.malformed(&interface, source, reason));
                }
            }
        }
        let ticked = now >= next_tick;
        if ticked {
            changes.extend(segment.tick(now));
            next_tick = now + TICK;
        }
        match output.show(&segment, &changes, now, ticked) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            other => other.map_err(WatchError::Output)?,
        }
    }
}

/// Where the changes go, and when the table was last drawn.
struct Output {
    json: bool,
    terminal: bool,
    last_draw: Option<Instant>,
    dirty: bool,
}

impl Output {
    /// Prints `changes` as JSON lines, or redraws the table when something
    /// changed (at most every [`REDRAW_MIN`]) and, on a terminal, every tick
    /// so that the ages move.
    fn show(
        &mut self,
        segment: &Segment,
        changes: &[Change],
        now: Instant,
        ticked: bool,
    ) -> io::Result<()> {
        let mut stdout = io::stdout().lock();
        if self.json {
            if changes.is_empty() {
                return Ok(());
            }
            let time = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            for change in changes {
                writeln!(stdout, "{}", render::json_line(change, time))?;
            }
            return stdout.flush();
        }
        self.dirty |= !changes.is_empty();
        let due = self
            .last_draw
            .is_none_or(|at| now.saturating_duration_since(at) >= REDRAW_MIN);
        if !(due && (self.dirty || (ticked && self.terminal))) {
            return Ok(());
        }
        if self.terminal {
            write!(stdout, "{}", render::CLEAR)?;
        } else {
            writeln!(stdout)?;
        }
        write!(stdout, "{}", render::table(segment, now))?;
        self.last_draw = Some(now);
        self.dirty = false;
        stdout.flush()
    }
}

/// Interface names by index, looked up once each.
#[derive(Default)]
struct InterfaceNames(HashMap<u32, String>);

impl InterfaceNames {
    /// The name of `ifindex`, or `if<index>` when it has none (any more).
    fn name(&mut self, ifindex: u32) -> String {
        self.0
            .entry(ifindex)
            .or_insert_with(|| {
                let mut buffer = [0u8; libc::IF_NAMESIZE];
                // SAFETY: `buffer` has the IF_NAMESIZE bytes if_indextoname writes at most.
                let named = unsafe { libc::if_indextoname(ifindex, buffer.as_mut_ptr().cast()) };
                if named.is_null() {
                    return format!("if{ifindex}");
                }
                let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
                String::from_utf8_lossy(&buffer[..end]).into_owned()
            })
            .clone()
    }
}
