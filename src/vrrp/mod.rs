//! The VRRPv3 protocol core (RFC 9568 §6): one sans-IO state machine per virtual router.
//!
//! Nothing in here opens a socket, reads a clock or spawns a task. The caller feeds
//! [`Event`]s with the current time into [`VirtualRouter::handle`], carries out the
//! returned [`Action`]s, and wakes the router again at [`VirtualRouter::next_deadline`].
//! That makes every transition testable with simulated time and a simulated LAN.

mod event;
mod moment;
mod router;
mod stats;
mod timers;

pub use event::{
    Action, Actions, AdvertInfo, Event, HeartbeatInfo, MastershipCause, State, TransitionReason,
};
pub use moment::Moment;
pub use router::{RouterSettings, SettingsError, VirtualRouter};
pub use stats::Statistics;
pub use timers::{
    is_valid_adver_interval, master_down_interval, skew_time, MAX_ADVER_INTERVAL,
    MIN_ADVER_INTERVAL,
};

#[cfg(test)]
mod tests;
