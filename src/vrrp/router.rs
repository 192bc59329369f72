//! One virtual router's state machine (RFC 9568 §6.4), driven by events and time.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::event::{AdvertInfo, MastershipCause, State, TransitionReason};
use super::moment::Moment;
use super::stats::Statistics;
use super::timers::{is_valid_adver_interval, skew_time};

mod gate;
mod handlers;
mod heartbeat;

/// Priority of the address owner: it takes Master at once and is never moved.
const OWNER_PRIORITY: u8 = 255;

/// What a virtual router needs to know about itself, fixed for its lifetime.
///
/// The daemon builds this from the validated config plus what only the host knows
/// (the interface's primary address, used as the tie-breaker on equal priority).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterSettings {
    /// Configured priority, 1..=255; 255 marks the address owner.
    pub priority: u8,
    /// Our Advertisement_Interval, 10 ms..=40.95 s in 10 ms steps.
    pub advert_interval: Duration,
    /// Preempt_Mode: whether a higher-priority Backup takes over from a lower Master.
    pub preempt: bool,
    /// How long to keep tolerating a lower-priority Master before preempting it,
    /// counted from when we first hear it (keepalived's `preempt_delay`).
    pub preempt_delay: Duration,
    /// Our primary address on the interface: the IPv4 primary or the IPv6 link-local.
    pub primary_address: IpAddr,
    /// VRRPv2 timers (RFC 3768 §6.1): Skew_Time is (256 − Priority) / 256
    /// seconds whatever the interval, where VRRPv3 scales it with the
    /// interval. The same at one second; a VRRPv2 peer with longer
    /// intervals takes over when RFC 3768 says, and so must we.
    pub vrrpv2_timers: bool,
}

/// Why [`RouterSettings`] cannot drive a virtual router.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// Priority 0 is reserved for a resigning Master (RFC 9568 §5.2.4).
    #[error("priority 0 is reserved for a resigning Master; use 1..=255")]
    ZeroPriority,
    /// The interval does not fit the 12-bit centisecond field.
    #[error("advertisement interval {0:?} is outside 10ms..=40.95s or not a multiple of 10ms")]
    BadInterval(Duration),
}

impl RouterSettings {
    /// Checks the invariants the state machine relies on.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.priority == 0 {
            return Err(SettingsError::ZeroPriority);
        }
        if !is_valid_adver_interval(self.advert_interval) {
            return Err(SettingsError::BadInterval(self.advert_interval));
        }
        Ok(())
    }
}

/// The state machine of one virtual router: no sockets, no clock, no runtime.
///
/// Feed it [`Event`]s through [`handle`](Self::handle) with the current time, carry
/// out the returned [`Action`]s in order, and call `handle(now, Event::TimerExpired)`
/// once `now` reaches [`next_deadline`](Self::next_deadline). The event
/// handlers are in `router/handlers.rs`.
///
/// [`Event`]: super::Event
/// [`Action`]: super::Action
#[derive(Debug, Clone)]
pub struct VirtualRouter {
    settings: RouterSettings,
    state: State,
    /// Effective priority: the configured one, moved by tracking (never for owners).
    priority: u8,
    /// Master_Adver_Interval: learned from the Master's adverts while Backup.
    master_adver_interval: Duration,
    adver_timer: Moment,
    master_down_timer: Moment,
    /// When we first tolerated a lower-priority Master under `preempt_delay`.
    preempt_hold_since: Moment,
    /// Whether we discarded a lower-priority Master's advert since we last heard a
    /// better one: then an expiring down timer means preemption, not a dead Master.
    lower_master_ignored: bool,
    /// Whether the last word from the Master was a priority-0 advert.
    master_resigned: bool,
    fault: bool,
    /// Maintenance mode: never become Master.
    maintenance: bool,
    /// After a resignation or switchover: follow a lower-priority Master
    /// instead of preempting it, until we are Master again.
    preempt_held: bool,
    /// The last other router heard on this virtual router...
    last_peer: Option<IpAddr>,
    /// ...and when.
    last_peer_at: Moment,
    /// Until when a Master sends no further answer to another router's
    /// advert (see `handlers.rs`, `may_answer`): one per Advertisement_Interval.
    answer_held_until: Moment,
    current_master: Option<AdvertInfo>,
    /// When `current_master` last spoke: its own Master_Down_Interval runs
    /// from here, whatever lower router is heard meanwhile.
    master_heard_at: Moment,
    last_transition: Moment,
    stats: Statistics,
    /// Whether every path into Master first asks the caller (see `gate.rs`).
    mastership_gate: bool,
    /// A request for mastership the caller has not answered yet: why, and
    /// the reason the transition will carry when granted.
    awaiting: Option<(MastershipCause, TransitionReason)>,
}

impl VirtualRouter {
    /// Creates a router in Initialize; it starts on [`Event::Startup`].
    ///
    /// [`Event::Startup`]: super::Event::Startup
    pub fn new(settings: RouterSettings) -> Result<Self, SettingsError> {
        settings.validate()?;
        Ok(VirtualRouter {
            priority: settings.priority,
            master_adver_interval: settings.advert_interval,
            settings,
            state: State::Initialize,
            adver_timer: Moment::NONE,
            master_down_timer: Moment::NONE,
            preempt_hold_since: Moment::NONE,
            lower_master_ignored: false,
            master_resigned: false,
            fault: false,
            maintenance: false,
            preempt_held: false,
            last_peer: None,
            last_peer_at: Moment::NONE,
            answer_held_until: Moment::NONE,
            current_master: None,
            master_heard_at: Moment::NONE,
            last_transition: Moment::NONE,
            stats: Statistics::default(),
            mastership_gate: false,
            awaiting: None,
        })
    }

    /// Current protocol state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Effective priority (configured priority moved by tracking).
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The settings this router was built with.
    pub fn settings(&self) -> &RouterSettings {
        &self.settings
    }

    /// Master_Adver_Interval: ours while Master, the Master's while Backup.
    pub fn master_adver_interval(&self) -> Duration {
        self.master_adver_interval
    }

    /// Skew_Time for our effective priority and the current Master_Adver_Interval
    /// (RFC 9568 §6.1), or RFC 3768's, which ignores the interval.
    pub fn skew_time(&self) -> Duration {
        skew_time(self.priority, self.skew_base(self.master_adver_interval))
    }

    /// The interval Skew_Time scales: Master_Adver_Interval, or one second
    /// under VRRPv2 timers.
    fn skew_base(&self, master_adver_interval: Duration) -> Duration {
        if self.settings.vrrpv2_timers {
            Duration::from_secs(1)
        } else {
            master_adver_interval
        }
    }

    /// Master_Down_Interval for our effective priority and Master_Adver_Interval:
    /// three intervals and Skew_Time (RFC 9568 §6.1, RFC 3768 §6.1).
    pub fn master_down_interval(&self) -> Duration {
        self.down_interval_for(self.master_adver_interval)
    }

    /// Master_Down_Interval for our effective priority had the Master
    /// `interval` as its Advertisement_Interval.
    fn down_interval_for(&self, interval: Duration) -> Duration {
        interval
            .saturating_mul(3)
            .saturating_add(skew_time(self.priority, self.skew_base(interval)))
    }

    /// The Master as last heard on the wire (ourselves while Master), if any.
    pub fn current_master(&self) -> Option<AdvertInfo> {
        if self.state == State::Master {
            return Some(self.own_advert_info());
        }
        self.current_master
    }

    /// Replaces the settings in place (a reload): a new interval applies from
    /// the next advert or timer, new preemption rules from the next advert. The
    /// effective priority moves only through `PriorityChanged`.
    pub fn update_settings(&mut self, settings: RouterSettings) -> Result<(), SettingsError> {
        settings.validate()?;
        if self.state != State::Backup || self.current_master.is_none() {
            self.master_adver_interval = settings.advert_interval;
        }
        self.settings = settings;
        Ok(())
    }

    /// Whether maintenance mode is on.
    pub fn maintenance(&self) -> bool {
        self.maintenance
    }

    /// Whether preemption is held after a switchover or resignation.
    pub fn preempt_held(&self) -> bool {
        self.preempt_held
    }

    /// The last other router heard on this virtual router (any state), and when.
    pub fn last_peer(&self) -> Option<(IpAddr, Instant)> {
        self.last_peer.zip(self.last_peer_at.get())
    }

    /// When the last state transition happened.
    pub fn last_transition(&self) -> Option<Instant> {
        self.last_transition.get()
    }

    /// Protocol counters.
    pub fn stats(&self) -> &Statistics {
        &self.stats
    }

    /// The earliest instant at which the router wants [`Event::TimerExpired`].
    ///
    /// [`Event::TimerExpired`]: super::Event::TimerExpired
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.adver_timer.get(), self.master_down_timer.get()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn own_advert_info(&self) -> AdvertInfo {
        AdvertInfo {
            priority: self.priority,
            interval: self.settings.advert_interval,
            source: self.settings.primary_address,
        }
    }
}
