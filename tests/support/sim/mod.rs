//! A deterministic simulated LAN: N virtual routers on one segment, a virtual clock,
//! and per-link loss, delay and partition.
//!
//! Like quinn's test `Pair`, it owns the routers and plays the I/O layer for them:
//! it advances time to the next timer or delivery, feeds the event, and carries out
//! the actions (adverts go to every other node; addresses come and go). Randomness
//! comes from a seeded generator, so a failing case replays exactly.

pub mod hosts;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use twinstar::vrrp::{
    Action, AdvertInfo, Event, RouterSettings, State, TransitionReason, VirtualRouter,
};

/// Index of a node on the simulated LAN.
pub type NodeId = usize;

/// One observed state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub at: Duration,
    pub node: NodeId,
    pub from: State,
    pub to: State,
    pub reason: TransitionReason,
}

/// The host around one router: its link and whether it is running.
struct Node {
    settings: RouterSettings,
    router: Option<VirtualRouter>,
    holds_vip: bool,
    link_up: bool,
    loss_percent: u8,
    delay: Duration,
    last_advert_sent: Option<Duration>,
}

/// An advert on the wire, due at a receiver.
struct Delivery {
    to: NodeId,
    advert: AdvertInfo,
}

/// The simulated segment and its clock.
pub struct Lan {
    epoch: Instant,
    now: Duration,
    nodes: Vec<Node>,
    in_flight: BTreeMap<(Duration, u64), Delivery>,
    seq: u64,
    rng: SplitMix64,
    transitions: Vec<Transition>,
    adverts_sent: u64,
}

impl Lan {
    /// An empty segment; `seed` fixes every random choice (loss).
    pub fn new(seed: u64) -> Self {
        Lan {
            epoch: Instant::now(),
            now: Duration::ZERO,
            nodes: Vec::new(),
            in_flight: BTreeMap::new(),
            seq: 0,
            rng: SplitMix64(seed),
            transitions: Vec::new(),
            adverts_sent: 0,
        }
    }

    /// Node `n`'s primary address: 192.0.2.(10 + n).
    pub fn address(n: NodeId) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + n as u8))
    }

    /// Settings for a node with this priority and interval (preempt on, no delay).
    pub fn settings(n: NodeId, priority: u8, interval: Duration) -> RouterSettings {
        RouterSettings {
            priority,
            advert_interval: interval,
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary_address: Self::address(n),
            vrrpv2_timers: false,
        }
    }

    /// Adds a host (not yet started); its address must be `Lan::address(id)`.
    pub fn add_node(&mut self, settings: RouterSettings) -> NodeId {
        let id = self.nodes.len();
        assert_eq!(
            settings.primary_address,
            Self::address(id),
            "use Lan::settings"
        );
        self.nodes.push(Node {
            settings,
            router: None,
            holds_vip: false,
            link_up: true,
            loss_percent: 0,
            delay: Duration::ZERO,
            last_advert_sent: None,
        });
        id
    }

    /// Boots the agent on node `id`; a node still running is crashed first.
    pub fn start(&mut self, id: NodeId) {
        self.crash(id);
        let router = VirtualRouter::new(self.nodes[id].settings.clone()).expect("valid settings");
        self.nodes[id].router = Some(router);
        self.feed(id, Event::Startup);
    }

    /// The host dies: no goodbye, its addresses vanish with it.
    pub fn crash(&mut self, id: NodeId) {
        self.nodes[id].router = None;
        self.nodes[id].holds_vip = false;
    }

    /// Graceful stop: the agent shuts down (priority 0 if Master) and exits.
    pub fn stop(&mut self, id: NodeId) {
        self.feed(id, Event::Shutdown);
        self.nodes[id].router = None;
    }

    /// Cuts (false) or restores (true) node `id`'s link to the segment.
    pub fn set_link(&mut self, id: NodeId, up: bool) {
        self.nodes[id].link_up = up;
    }

    /// Drops this percentage of packets sent or received by node `id`.
    pub fn set_loss(&mut self, id: NodeId, percent: u8) {
        self.nodes[id].loss_percent = percent.min(100);
    }

    /// Adds this one-way delay to packets sent or received by node `id`.
    pub fn set_delay(&mut self, id: NodeId, delay: Duration) {
        self.nodes[id].delay = delay;
    }

    /// Feeds an event to a running node and carries out its actions.
    pub fn feed(&mut self, id: NodeId, event: Event) {
        let now = self.epoch + self.now;
        let actions = match self.nodes[id].router.as_mut() {
            Some(router) => router.handle(now, event),
            None => return,
        };
        self.apply(id, actions);
    }

    /// Time since the simulation began.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Runs the segment for `span` of virtual time.
    pub fn run_for(&mut self, span: Duration) {
        let end = self.now + span;
        self.run_until(end);
    }

    /// Runs the segment until virtual time `end`, event by event.
    pub fn run_until(&mut self, end: Duration) {
        loop {
            let next_delivery = self.in_flight.keys().next().map(|(at, _)| *at);
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|n| n.router.as_ref()?.next_deadline())
                .min()
                .map(|t| t - self.epoch);
            let next = match (next_delivery, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            self.now = next.max(self.now);
            if next_delivery == Some(next) {
                let (_, delivery) = self.in_flight.pop_first().expect("peeked");
                if self.nodes[delivery.to].link_up {
                    self.feed(delivery.to, Event::AdvertReceived(delivery.advert));
                }
            } else {
                let now = self.epoch + self.now;
                for id in 0..self.nodes.len() {
                    let due = self.nodes[id]
                        .router
                        .as_ref()
                        .and_then(VirtualRouter::next_deadline)
                        .is_some_and(|t| t <= now);
                    if due {
                        self.feed(id, Event::TimerExpired);
                    }
                }
            }
        }
        self.now = end.max(self.now);
    }

    fn apply(&mut self, id: NodeId, actions: impl IntoIterator<Item = Action>) {
        for action in actions {
            match action {
                Action::SendAdvert { priority, interval } => self.broadcast(id, priority, interval),
                Action::AddAddresses => {
                    assert!(!self.nodes[id].holds_vip, "node {id} added addresses twice");
                    self.nodes[id].holds_vip = true;
                }
                Action::RemoveAddresses => {
                    assert!(
                        self.nodes[id].holds_vip,
                        "node {id} removed addresses it lacks"
                    );
                    self.nodes[id].holds_vip = false;
                }
                Action::Announce => {}
                Action::RequestMastership { cause } => {
                    panic!("node {id}: the LAN simulator runs ungated routers, yet {cause}")
                }
                Action::StateChanged { from, to, reason } => {
                    self.transitions.push(Transition {
                        at: self.now,
                        node: id,
                        from,
                        to,
                        reason,
                    });
                }
            }
        }
        if let Some(router) = &self.nodes[id].router {
            let master = router.state() == State::Master;
            assert_eq!(
                master, self.nodes[id].holds_vip,
                "node {id}: VIP held iff Master"
            );
        }
    }

    fn broadcast(&mut self, from: NodeId, priority: u8, interval: Duration) {
        self.adverts_sent += 1;
        self.nodes[from].last_advert_sent = Some(self.now);
        if !self.nodes[from].link_up {
            return;
        }
        let advert = AdvertInfo {
            priority,
            interval,
            source: Self::address(from),
        };
        for to in 0..self.nodes.len() {
            if to == from || self.lost(from) || self.lost(to) {
                continue;
            }
            let at = self.now + self.nodes[from].delay + self.nodes[to].delay;
            self.seq += 1;
            self.in_flight
                .insert((at, self.seq), Delivery { to, advert });
        }
    }

    fn lost(&mut self, id: NodeId) -> bool {
        let percent = self.nodes[id].loss_percent;
        percent > 0 && self.rng.next() % 100 < u64::from(percent)
    }

    /// Nodes currently in Master.
    pub fn masters(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&id| self.state(id) == State::Master)
            .collect()
    }

    /// Node `id`'s state; a crashed or stopped node reports Initialize.
    pub fn state(&self, id: NodeId) -> State {
        self.nodes[id]
            .router
            .as_ref()
            .map_or(State::Initialize, VirtualRouter::state)
    }

    /// Whether node `id` holds the virtual addresses.
    pub fn holds_vip(&self, id: NodeId) -> bool {
        self.nodes[id].holds_vip
    }

    /// Node `id`'s router, if running.
    pub fn router(&self, id: NodeId) -> Option<&VirtualRouter> {
        self.nodes[id].router.as_ref()
    }

    /// When node `id` last sent an advert.
    pub fn last_advert_sent(&self, id: NodeId) -> Option<Duration> {
        self.nodes[id].last_advert_sent
    }

    /// Every transition so far, in order.
    pub fn transitions(&self) -> &[Transition] {
        &self.transitions
    }

    /// Transitions at or after `since`.
    pub fn transitions_since(&self, since: Duration) -> Vec<Transition> {
        self.transitions
            .iter()
            .filter(|t| t.at >= since)
            .cloned()
            .collect()
    }

    /// Total adverts sent on the segment.
    pub fn adverts_sent(&self) -> u64 {
        self.adverts_sent
    }
}

/// A small, fixed, dependency-free generator (SplitMix64) for reproducible loss.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
