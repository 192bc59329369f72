//! What goes into a virtual router (events), what comes out (actions), and its states.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The protocol states of RFC 9568 §6.4, plus `Fault`.
///
/// `Fault` is not in the RFC: it is where a router waits while it must not take part
/// (its interface is down, or a tracked object it depends on failed). A router in
/// Fault sends nothing, holds no addresses and ignores adverts.
///
/// Serialised (status document, events) as its [`State::as_str`] name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not started, or shut down (RFC 9568 §6.4.1).
    Initialize,
    /// Listening for the Master, ready to take over (RFC 9568 §6.4.2).
    Backup,
    /// Holding the virtual addresses and advertising (RFC 9568 §6.4.3).
    Master,
    /// Kept out of the election by a failure outside the protocol.
    Fault,
}

impl State {
    /// Lower-case name, as used in logs, status output and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Initialize => "initialize",
            State::Backup => "backup",
            State::Master => "master",
            State::Fault => "fault",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields of a received advertisement the state machine acts on.
///
/// The platform layer has already checked the packet (TTL, checksum, VRID, family),
/// so the core sees only facts it needs to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertInfo {
    /// The sender's priority; 0 means the Master is resigning.
    pub priority: u8,
    /// The sender's Max Adver Int.
    pub interval: Duration,
    /// The sender's primary address (IP source), the tie-breaker on equal priority.
    pub source: IpAddr,
}

/// An advertisement heard on a heartbeat link (an instance's `heartbeat`):
/// the same Master speaks there from another address, its own on that link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatInfo {
    /// The advert, with the sender's address on the heartbeat link.
    pub advert: AdvertInfo,
    /// Our own address on that link: the other side of an address tie-break
    /// decided there.
    pub own_address: IpAddr,
}

/// An input to [`crate::vrrp::VirtualRouter::handle`]: a fact that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The router is enabled (RFC 9568 §6.4.1 Startup).
    Startup,
    /// The router is being disabled: the agent stops or the instance is removed.
    Shutdown,
    /// A valid advertisement for this virtual router arrived.
    AdvertReceived(AdvertInfo),
    /// A valid advertisement for this virtual router arrived on a heartbeat
    /// link rather than on its interface: it proves the Master alive, but is
    /// not who the Master is (see `router/heartbeat.rs`).
    HeartbeatReceived(HeartbeatInfo),
    /// The caller's timer reached [`crate::vrrp::VirtualRouter::next_deadline`].
    TimerExpired,
    /// The effective priority changed (tracking weights); owners (255) never move.
    PriorityChanged(u8),
    /// Something outside the protocol failed: the interface lost carrier, or a
    /// tracked object with weight 0 is down.
    FaultSet,
    /// The failure behind the last `FaultSet` is over.
    FaultCleared,
    /// Step down now: a Master sends a priority-0 advert (the best Backup takes
    /// over within its Skew_Time), removes the addresses and rejoins as Backup.
    /// Used when a sync-group partner left Master by an operator's request.
    /// Other states ignore it. Like `Switchover`, the router then does not
    /// preempt the new Master.
    Resign,
    /// Become Master now, from Backup (not in maintenance or Fault): a
    /// sync-group partner on this host became Master, and members hold
    /// their addresses together. Should another Master of this virtual
    /// router outrank us, the RFC 9568 §6.4.3 rules make one of us yield.
    TakeOver,
    /// As `Resign`, but the router keeps preempting by priority afterwards:
    /// used when a sync-group partner left Master involuntarily (preempted,
    /// Master down), where a hold on this member alone would let the members
    /// settle on different hosts.
    Yield,
    /// An operator's planned handover: as `Resign`, and the router does not
    /// preempt the new Master; it takes over again only if that Master fails
    /// or resigns.
    Switchover,
    /// Maintenance mode on or off. While on, the router stays Backup: a Master
    /// resigns, and a Backup neither preempts nor takes over when the Master
    /// is lost. Turning it off lets the normal election (and preemption) resume.
    Maintenance(bool),
    /// Master again at once, from Backup (not in maintenance or Fault): a
    /// switchover or maintenance handover that no other router took up
    /// within its Master_Down_Interval. The addresses never left (make
    /// before break), so the router simply resumes advertising.
    Reclaim,
    /// The answer to [`Action::RequestMastership`]: become Master now, if the
    /// router still waits for it (a request cancelled since is not revived).
    MastershipGranted,
    /// The answer to [`Action::RequestMastership`]: stay Backup and ask again
    /// when the Master_Down_Timer, re-armed now, runs out.
    MastershipDenied,
    /// A Master lost what allowed it to serve (its quorum lease): it leaves
    /// Master at once, VIPs removed, and sends a priority-0 advert so a Backup
    /// that may serve takes over within its Skew_Time. Other states ignore it.
    QuorumLost,
}

/// Why a router that needs permission asks to become Master
/// ([`Action::RequestMastership`]): the agent's decisions (quorum lease,
/// fence hook) depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "cause")]
pub enum MastershipCause {
    /// The Master we followed went silent for Master_Down_Interval: it may
    /// still be alive behind a broken path (the case fencing is for).
    MasterSilent {
        /// The silent Master's primary address.
        master: IpAddr,
    },
    /// Master_Down_Interval passed and no Master was ever heard (startup).
    NoMasterHeard,
    /// The Master resigned with a priority-0 advert.
    MasterResigned,
    /// We preempt a lower-priority Master (after `preempt_delay`, if any).
    PreemptLowerPriority,
    /// We are the address owner (priority 255) joining the election.
    OwnerStartup,
    /// A sync-group partner on this host became Master.
    SyncGroup,
    /// We resigned for a switchover or maintenance and nobody took over
    /// within Master_Down_Interval: Master again, the VIPs never left.
    NobodyTookOver,
}

impl MastershipCause {
    /// Lower-case name, as used in logs, status and events.
    pub fn as_str(self) -> &'static str {
        match self {
            MastershipCause::MasterSilent { .. } => "master-silent",
            MastershipCause::NoMasterHeard => "no-master-heard",
            MastershipCause::MasterResigned => "master-resigned",
            MastershipCause::PreemptLowerPriority => "preempt-lower-priority",
            MastershipCause::OwnerStartup => "owner-startup",
            MastershipCause::SyncGroup => "sync-group",
            MastershipCause::NobodyTookOver => "nobody-took-over",
        }
    }
}

impl fmt::Display for MastershipCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a state transition happened, for logs, status and hooks.
///
/// Serialised (transition events) as its [`TransitionReason::as_str`] name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransitionReason {
    /// Startup of an address owner (priority 255) or a non-owner entering Backup.
    Startup,
    /// No advert from a Master within Master_Down_Interval.
    MasterDownTimerExpired,
    /// The Master resigned (priority 0) and our Skew_Time passed first.
    MasterResigned,
    /// A Master with higher priority (or equal priority and a greater address) spoke.
    PreemptedByHigherPriority,
    /// We preempted a lower-priority Master (after `preempt_delay`, if set).
    PreemptedLowerPriority,
    /// The router was shut down.
    Shutdown,
    /// A fault was set.
    Fault,
    /// The fault was cleared.
    FaultCleared,
    /// The router was asked to resign (a sync-group partner left Master).
    Resigned,
    /// An operator asked for a switchover.
    Switchover,
    /// An operator put the router in maintenance mode.
    Maintenance,
    /// A sync-group partner on this host became Master, so this member did too.
    SyncGroup,
    /// Nobody took over after a switchover or maintenance handover, so the
    /// router that resigned is Master again, its addresses never removed.
    Reclaimed,
    /// A Master lost its quorum lease (or could not renew it in time) and
    /// stopped serving.
    QuorumLost,
}

impl TransitionReason {
    /// Lower-case name, as used in logs and status output.
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionReason::Startup => "startup",
            TransitionReason::MasterDownTimerExpired => "master-down-timer-expired",
            TransitionReason::MasterResigned => "master-resigned",
            TransitionReason::PreemptedByHigherPriority => "preempted-by-higher-priority",
            TransitionReason::PreemptedLowerPriority => "preempted-lower-priority",
            TransitionReason::Shutdown => "shutdown",
            TransitionReason::Fault => "fault",
            TransitionReason::FaultCleared => "fault-cleared",
            TransitionReason::Resigned => "resigned",
            TransitionReason::Switchover => "switchover",
            TransitionReason::Maintenance => "maintenance",
            TransitionReason::SyncGroup => "sync-group",
            TransitionReason::Reclaimed => "reclaimed",
            TransitionReason::QuorumLost => "quorum-lost",
        }
    }
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one event asks of the caller, in order. A handful at most (taking
/// over as Master is four: the addresses, the advert, the announcement and
/// the transition), so they are kept inline: an advert sent or heard
/// allocates nothing.
pub type Actions = smallvec::SmallVec<[Action; 4]>;

/// An output of the state machine: something the caller must do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority and our Advertisement_Interval.
    SendAdvert {
        /// 0 when resigning as Master, else the effective priority.
        priority: u8,
        /// The interval to put in Max Adver Int.
        interval: Duration,
    },
    /// Add the virtual addresses to the interface.
    AddAddresses,
    /// Remove the virtual addresses from the interface.
    RemoveAddresses,
    /// Announce the virtual addresses: gratuitous ARP / unsolicited NA.
    Announce,
    /// A router that needs permission would become Master now: it stays
    /// Backup, waiting, until the caller answers with
    /// [`Event::MastershipGranted`] or [`Event::MastershipDenied`]. A Master
    /// heard at or above our priority, Shutdown, Fault or Maintenance cancel
    /// the wait (see [`crate::vrrp::VirtualRouter::awaiting_mastership`]).
    RequestMastership {
        /// Why it would become Master.
        cause: MastershipCause,
    },
    /// The state changed; emitted after the actions that made it so.
    StateChanged {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// Why.
        reason: TransitionReason,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every state. The match stops compiling when a variant is added, as a
    /// reminder to list it.
    fn all_states() -> Vec<State> {
        let all = vec![
            State::Initialize,
            State::Backup,
            State::Master,
            State::Fault,
        ];
        for s in &all {
            match s {
                State::Initialize | State::Backup | State::Master | State::Fault => {}
            }
        }
        all
    }

    /// Every reason. The match stops compiling when a variant is added, as a
    /// reminder to list it.
    fn all_reasons() -> Vec<TransitionReason> {
        use TransitionReason::*;
        let all = vec![
            Startup,
            MasterDownTimerExpired,
            MasterResigned,
            PreemptedByHigherPriority,
            PreemptedLowerPriority,
            Shutdown,
            Fault,
            FaultCleared,
            Resigned,
            Switchover,
            Maintenance,
            SyncGroup,
            Reclaimed,
            QuorumLost,
        ];
        for r in &all {
            match r {
                Startup
                | MasterDownTimerExpired
                | MasterResigned
                | PreemptedByHigherPriority
                | PreemptedLowerPriority
                | Shutdown
                | Fault
                | FaultCleared
                | Resigned
                | Switchover
                | Maintenance
                | SyncGroup
                | Reclaimed => {}
                QuorumLost => {}
            }
        }
        all
    }

    #[test]
    fn states_serialise_as_their_names() {
        for state in all_states() {
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json, state.as_str());
            assert_eq!(serde_json::from_value::<State>(json).unwrap(), state);
        }
    }

    #[test]
    fn reasons_serialise_as_their_names() {
        for reason in all_reasons() {
            let json = serde_json::to_value(reason).unwrap();
            assert_eq!(json, reason.as_str());
            let back: TransitionReason = serde_json::from_value(json).unwrap();
            assert_eq!(back, reason);
        }
    }

    /// Logs and hook environments print states and reasons with `{}`: the
    /// text must be the same name the status document and events carry.
    #[test]
    fn states_and_reasons_display_as_their_names() {
        for state in all_states() {
            assert_eq!(state.to_string(), state.as_str());
        }
        for reason in all_reasons() {
            assert_eq!(reason.to_string(), reason.as_str());
        }
        assert_eq!(State::Master.to_string(), "master");
        assert_eq!(
            TransitionReason::MasterDownTimerExpired.to_string(),
            "master-down-timer-expired"
        );
    }
}
