//! The faults a chaos run can inject, and the seeded draw of a run's schedule:
//! the same seed and fault selection always give the same schedule, so a
//! failing run is replayed with `twinstar lab --chaos --runs 1 --seed S`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// SIGKILL an agent, restart it after the fault's duration.
    Kill,
    /// SIGSTOP an agent, SIGCONT it after the fault's duration.
    Stop,
    /// Pull an agent's cable at the bridge (carrier lost), plug it back.
    LinkFlap,
    /// Drop everything between the two agents (both still reach the client).
    Partition,
    /// Drop 5–30 % of the frames between the agents.
    Loss,
    /// `ip addr del` the VIP behind the Master's back.
    VipDeleted,
    /// Delete an agent's interface, re-create it (same name and MAC) later.
    InterfaceRecreated,
    /// Busy loops on every core.
    CpuHog,
    /// A third host advertises the VRID with a higher priority.
    RogueAdvert,
    /// A third host floods the segment with adverts (lower priority, other VRIDs).
    AdvertFlood,
    /// The Master stops gracefully; both agents reload (SIGHUP, with a changed
    /// file) while the Backup takes over and again while the Master comes back.
    Reload,
}

impl FaultKind {
    /// Every kind, in the order of the summary table.
    pub const ALL: [FaultKind; 11] = [
        FaultKind::Kill,
        FaultKind::Stop,
        FaultKind::LinkFlap,
        FaultKind::Partition,
        FaultKind::Loss,
        FaultKind::VipDeleted,
        FaultKind::InterfaceRecreated,
        FaultKind::CpuHog,
        FaultKind::RogueAdvert,
        FaultKind::AdvertFlood,
        FaultKind::Reload,
    ];

    /// The name used by `--faults` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Stop => "stop",
            FaultKind::LinkFlap => "link-flap",
            FaultKind::Partition => "partition",
            FaultKind::Loss => "loss",
            FaultKind::VipDeleted => "vip-deleted",
            FaultKind::InterfaceRecreated => "interface-recreated",
            FaultKind::CpuHog => "cpu-hog",
            FaultKind::RogueAdvert => "rogue-advert",
            FaultKind::AdvertFlood => "advert-flood",
            FaultKind::Reload => "reload",
        }
    }

    /// Whether the fault takes one agent out of the election while it lasts
    /// (so that agent is not counted as healthy).
    pub fn disables_target(self) -> bool {
        matches!(
            self,
            FaultKind::Kill
                | FaultKind::Stop
                | FaultKind::LinkFlap
                | FaultKind::InterfaceRecreated
                | FaultKind::Reload
        )
    }

    /// Whether the fault is aimed at one agent (else at the segment).
    fn has_target(self) -> bool {
        self.disables_target() || self == FaultKind::VipDeleted
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--faults` item that names no fault kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault kind `{}`; use one of: {}", .0, FaultKind::ALL.map(FaultKind::name).join(", "))]
pub struct UnknownFault(pub String);

impl FromStr for FaultKind {
    type Err = UnknownFault;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == text)
            .ok_or_else(|| UnknownFault(text.to_string()))
    }
}

/// Which agent a fault is aimed at, decided when it is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The agent answering for the VIP.
    Master,
    /// The other one.
    Backup,
    /// No agent: the segment (or the whole machine).
    Segment,
}

/// One planned fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// To whom.
    pub target: Target,
    /// Quiet time before it, after the previous fault settled.
    pub delay: Duration,
    /// How long it lasts (zero for the instant VIP deletion).
    pub duration: Duration,
    /// Loss faults: the share of frames dropped, in percent.
    pub loss_percent: u8,
    /// Rogue adverts: their priority.
    pub rogue_priority: u8,
    /// Reload faults: when the first SIGHUP follows the Master's stop, and the
    /// second the Master's restart.
    pub reload_offsets: (Duration, Duration),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_millis();
        write!(f, "+{}ms {}", ms(self.delay), self.kind)?;
        match self.target {
            Target::Master => write!(f, " Master")?,
            Target::Backup => write!(f, " Backup")?,
            Target::Segment => {}
        }
        match self.kind {
            FaultKind::Loss => write!(f, " {}%", self.loss_percent)?,
            FaultKind::RogueAdvert => write!(f, " priority {}", self.rogue_priority)?,
            FaultKind::Reload => write!(
                f,
                " (SIGHUP +{}ms after the stop, +{}ms after the restart)",
                ms(self.reload_offsets.0),
                ms(self.reload_offsets.1)
            )?,
            _ => {}
        }
        if self.kind != FaultKind::VipDeleted {
            write!(f, " for {}ms", ms(self.duration))?;
        }
        Ok(())
    }
}

/// SplitMix64: tiny, seedable, and the same on every platform, which is all a
/// replayable schedule needs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    /// A duration in `low..=high`, in whole milliseconds.
    pub fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(self.between(low, high))
    }
}

/// The seed of run `index` of a batch started with `batch_seed`: run 0 uses
/// the batch seed itself, so `--runs 1 --seed S` replays a run whose seed is S.
pub fn run_seed(batch_seed: u64, index: usize) -> u64 {
    if index == 0 {
        batch_seed
    } else {
        Rng::new(batch_seed ^ (index as u64).wrapping_mul(0xd134_2543_de82_ef95)).next_u64()
    }
}

/// How long faults last: long enough for a Backup to take over
/// (Master_Down_Interval is 0.36 s at 100 ms adverts), short enough for a run
/// to stay within a few seconds.
const DURATION_MS: (u64, u64) = (300, 1200);

/// A run's faults, one after the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The seed it was drawn from.
    pub seed: u64,
    /// The faults, in order; each starts after the previous one settled.
    pub faults: Vec<Fault>,
}

impl Schedule {
    /// Draws one or two faults of the `kinds` given (all when empty) from `seed`.
    pub fn draw(seed: u64, kinds: &[FaultKind]) -> Schedule {
        let kinds: &[FaultKind] = if kinds.is_empty() {
            &FaultKind::ALL
        } else {
            kinds
        };
        let mut rng = Rng::new(seed);
        let count = rng.between(1, 2);
        let faults = (0..count)
            .map(|_| {
                let kind = kinds[rng.between(0, kinds.len() as u64 - 1) as usize];
                // The Master is the interesting target three times in four; the
                // VIP can only be deleted where it is, and a reload's transition
                // starts with the Master.
                let target = if !kind.has_target() {
                    Target::Segment
                } else if kind == FaultKind::VipDeleted
                    || kind == FaultKind::Reload
                    || rng.between(0, 3) > 0
                {
                    Target::Master
                } else {
                    Target::Backup
                };
                Fault {
                    kind,
                    target,
                    delay: rng.millis(0, 300),
                    duration: if kind == FaultKind::VipDeleted {
                        Duration::ZERO
                    } else {
                        rng.millis(DURATION_MS.0, DURATION_MS.1)
                    },
                    loss_percent: rng.between(5, 30) as u8,
                    rogue_priority: rng.between(151, 254) as u8,
                    reload_offsets: (rng.millis(0, 400), rng.millis(0, 800)),
                }
            })
            .collect();
        Schedule { seed, faults }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let faults: Vec<String> = self.faults.iter().map(Fault::to_string).collect();
        write!(f, "seed {}: {}", self.seed, faults.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_name() {
        for kind in FaultKind::ALL {
            assert_eq!(kind.name().parse::<FaultKind>(), Ok(kind));
        }
        let err = "meteor".parse::<FaultKind>().unwrap_err();
        assert!(err.to_string().contains("kill, stop"), "{err}");
    }

    #[test]
    fn the_same_seed_draws_the_same_schedule() {
        for seed in [0, 1, 42, u64::MAX] {
            assert_eq!(
                Schedule::draw(seed, &[]),
                Schedule::draw(seed, &[]),
                "seed {seed}"
            );
        }
        let differ = (0..20)
            .filter(|&s| Schedule::draw(s, &[]) != Schedule::draw(s + 1, &[]))
            .count();
        assert!(differ > 15, "seeds hardly change the schedule");
    }

    #[test]
    fn only_the_selected_kinds_are_drawn_and_all_of_them_eventually() {
        let kinds = [FaultKind::Stop, FaultKind::Loss];
        let mut seen = Vec::new();
        for seed in 0..200 {
            let schedule = Schedule::draw(seed, &kinds);
            assert!((1..=2).contains(&schedule.faults.len()));
            for fault in &schedule.faults {
                assert!(kinds.contains(&fault.kind), "{schedule}");
                assert!((5..=30).contains(&fault.loss_percent));
                assert!(fault.rogue_priority > 150);
                seen.push(fault.kind);
            }
        }
        assert!(kinds.iter().all(|k| seen.contains(k)));
    }

    #[test]
    fn run_zero_replays_the_batch_seed() {
        assert_eq!(run_seed(77, 0), 77);
        assert_ne!(run_seed(77, 1), 77);
        assert_ne!(run_seed(77, 1), run_seed(77, 2));
        assert_eq!(run_seed(77, 5), run_seed(77, 5));
    }

    #[test]
    fn segment_faults_have_no_target_and_vip_deletion_is_instant() {
        for seed in 0..200 {
            for fault in Schedule::draw(seed, &[]).faults {
                match fault.kind {
                    FaultKind::Partition | FaultKind::Loss | FaultKind::CpuHog => {
                        assert_eq!(fault.target, Target::Segment)
                    }
                    FaultKind::VipDeleted => {
                        assert_eq!(
                            (fault.target, fault.duration),
                            (Target::Master, Duration::ZERO)
                        )
                    }
                    _ => {}
                }
            }
        }
    }
}
