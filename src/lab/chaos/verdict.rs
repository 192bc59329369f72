//! The chaos invariants, checked on a run's samples after the fact: a pure
//! function of what the sampler saw, when each fault happened and the bounds.
//!
//! - **Overlap**: two hosts answering for the VIP for longer than
//!   [`Bounds::overlap`] (or, while frames are lost,
//!   [`Bounds::overlap_under_loss`]). While the agents are partitioned two
//!   Masters are what VRRP does (RFC 9568 §6.4.2: each stops hearing the other),
//!   so a partition and [`Bounds::partition_heal`] after it are exempt.
//! - **Gap**: nobody answering for longer than [`Bounds::gap`] after the later
//!   of the last fault's start and the moment an agent was healthy again.
//! - **Not settled** and **agent exited** are found while the run goes on (see
//!   the runner) and added to the same list.

use std::collections::BTreeMap;
use std::time::Duration;

use super::bounds::{Bounds, SAMPLE_PERIOD};
use super::sampler::Sample;
use super::schedule::FaultKind;

/// A fault as it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultWindow {
    /// What it was.
    pub kind: FaultKind,
    /// The agent it was aimed at, if any.
    pub target: Option<usize>,
    /// When it began.
    pub start: Duration,
    /// When it was healed (the agent restarted, the cable plugged back...).
    pub end: Duration,
    /// Until when what follows is put down to it (it settled, or the next one began).
    pub until: Duration,
    /// Loss faults: the loss rate.
    pub loss_percent: Option<u8>,
}

impl FaultWindow {
    /// Whether a sample slot starting `at` overlaps the window.
    fn covers(&self, at: Duration) -> bool {
        self.start <= at + SAMPLE_PERIOD && at <= self.until
    }
}

/// Which invariant failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invariant {
    /// Two hosts answered for the VIP for too long.
    Overlap,
    /// Nobody answered for too long while a healthy agent existed.
    Gap,
    /// The highest-priority agent was not Master, alone, in time after a fault.
    NotSettled,
    /// An agent process ended without being killed.
    AgentExited,
}

impl Invariant {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::Overlap => "overlap",
            Invariant::Gap => "gap",
            Invariant::NotSettled => "not settled",
            Invariant::AgentExited => "agent exited",
        }
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which.
    pub invariant: Invariant,
    /// The fault it is put down to (none: it happened in quiet time).
    pub kind: Option<FaultKind>,
    /// When it began and ended.
    pub from: Duration,
    /// See `from`.
    pub to: Duration,
    /// What it was held to (zero where no time bound applies).
    pub bound: Duration,
    /// What was seen.
    pub detail: String,
}

/// The worst spans seen under one fault kind (also when within bounds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Worst {
    /// The longest time two hosts answered, exempt spans left out.
    pub overlap: Duration,
    /// The longest exempt overlap (partitions).
    pub exempt_overlap: Duration,
    /// The longest time nobody answered.
    pub gap: Duration,
}

/// What the samples of one run show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The broken invariants.
    pub violations: Vec<Violation>,
    /// Worst spans per fault kind (`None`: outside every fault).
    pub worst: BTreeMap<Option<FaultKind>, Worst>,
}

/// `agents` agents took part (bits `0..agents` of a sample). `windows` are in
/// order; `quiet` are the spans not to judge (the lab repairing itself).
pub fn judge(
    samples: &[Sample],
    windows: &[FaultWindow],
    quiet: &[(Duration, Duration)],
    agents: usize,
    bounds: &Bounds,
) -> Verdict {
    let mut verdict = Verdict::default();
    let judged: Vec<&Sample> = samples
        .iter()
        .filter(|s| !quiet.iter().any(|(a, b)| *a <= s.at && s.at <= *b))
        .collect();
    for run in runs(&judged, |s| s.answers() >= 2) {
        overlap(&run, windows, bounds, &mut verdict);
    }
    for run in runs(&judged, |s| s.answers() == 0) {
        gap(&run, windows, agents, bounds, &mut verdict);
    }
    verdict
}

/// A hole in the samples shorter than this (the sampler was not scheduled)
/// does not end a run: nothing was seen to change.
const HOLE: Duration = Duration::from_millis(100);

/// Maximal runs of consecutive samples (no hole of [`HOLE`] or more between
/// them) that satisfy `test`.
fn runs<'a>(samples: &[&'a Sample], test: impl Fn(&Sample) -> bool) -> Vec<Vec<&'a Sample>> {
    let mut out: Vec<Vec<&Sample>> = Vec::new();
    let mut current: Vec<&Sample> = Vec::new();
    for sample in samples {
        let contiguous = current.last().is_none_or(|last| sample.at < last.at + HOLE);
        if (!test(sample) || !contiguous) && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        if test(sample) {
            current.push(sample);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The latest window that covers `at`.
fn window_at(windows: &[FaultWindow], at: Duration) -> Option<&FaultWindow> {
    windows.iter().rev().find(|w| w.covers(at))
}

fn span(run: &[&Sample]) -> (Duration, Duration) {
    let first = run.first().map_or(Duration::ZERO, |s| s.at);
    let last = run.last().map_or(Duration::ZERO, |s| s.at + SAMPLE_PERIOD);
    (first, last)
}

fn overlap(run: &[&Sample], windows: &[FaultWindow], bounds: &Bounds, verdict: &mut Verdict) {
    let (from, to) = span(run);
    let window = window_at(windows, from);
    let kind = window.map(|w| w.kind);
    let worst = verdict.worst.entry(kind).or_default();
    // A partition, and the interval after it in which the Masters meet, are exempt.
    let exempt_until = window
        .filter(|w| w.kind == FaultKind::Partition)
        .map(|w| w.end + bounds.partition_heal());
    let counted_from = exempt_until.map_or(from, |e| e.clamp(from, to));
    worst.exempt_overlap = worst.exempt_overlap.max(counted_from - from);
    let counted = to - counted_from;
    worst.overlap = worst.overlap.max(counted);
    let bound = match (kind, window.and_then(|w| w.loss_percent)) {
        (Some(FaultKind::Kill | FaultKind::Stop), _) => bounds.dead_master_overlap(),
        (_, Some(percent)) => bounds.overlap_under_loss(percent),
        (_, None) => bounds.overlap(),
    };
    if counted > bound {
        let hosts = run.iter().fold(0u8, |all, s| all | s.answering);
        verdict.violations.push(Violation {
            invariant: Invariant::Overlap,
            kind,
            from: counted_from,
            to,
            bound,
            detail: format!(
                "two hosts answered for the VIP for {} ms (hosts {}{})",
                counted.as_millis(),
                host_list(hosts),
                if run.iter().any(|s| s.stranger) {
                    " and a stranger"
                } else {
                    ""
                }
            ),
        });
    }
}

/// Since when some agent has been healthy without a break at `at`; `None` when
/// every agent is disabled by a fault at `at`.
fn healthy_since(windows: &[FaultWindow], agents: usize, at: Duration) -> Option<Duration> {
    (0..agents)
        .filter_map(|agent| {
            let mut since = Duration::ZERO;
            for w in windows.iter().filter(|w| w.kind.disables_target()) {
                if w.target != Some(agent) || w.start > at {
                    continue;
                }
                if at <= w.end {
                    return None;
                }
                since = since.max(w.end);
            }
            Some(since)
        })
        .min()
}

fn gap(
    run: &[&Sample],
    windows: &[FaultWindow],
    agents: usize,
    bounds: &Bounds,
    verdict: &mut Verdict,
) {
    let (from, to) = span(run);
    let kind = window_at(windows, from).map(|w| w.kind);
    let worst = verdict.worst.entry(kind).or_default();
    worst.gap = worst.gap.max(to - from);
    let bound = bounds.gap();
    // The first sample that nobody should still be missing: the clock starts at
    // the later of the gap's start, the last fault's start and the moment an
    // agent was healthy again.
    let late = run.iter().find(|s| {
        let Some(healthy) = healthy_since(windows, agents, s.at) else {
            return false;
        };
        let last_fault = windows
            .iter()
            .filter(|w| w.start <= s.at)
            .map(|w| w.start)
            .max()
            .unwrap_or(Duration::ZERO);
        let clock = from.max(last_fault).max(healthy);
        s.at + SAMPLE_PERIOD > clock + bound
    });
    if let Some(late) = late {
        verdict.violations.push(Violation {
            invariant: Invariant::Gap,
            kind,
            from,
            to,
            bound,
            detail: format!(
                "nobody answered for the VIP for {} ms; still nobody at +{} ms while an agent was healthy",
                (to - from).as_millis(),
                late.at.as_millis()
            ),
        });
    }
}

/// "h1+h2" for host bits.
pub fn host_list(bits: u8) -> String {
    let names: Vec<String> = (0..8)
        .filter(|i| bits & (1 << i) != 0)
        .map(|i| format!("h{}", i + 1))
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Samples every 10 ms over `0..end_ms`, answered by `who(t_ms)`.
    fn timeline(end_ms: u64, who: impl Fn(u64) -> u8) -> Vec<Sample> {
        (0..end_ms / 10)
            .map(|i| Sample {
                at: ms(i * 10),
                answering: who(i * 10),
                stranger: false,
                holders: who(i * 10),
            })
            .collect()
    }

    fn bounds() -> Bounds {
        Bounds::new(&[150, 100], ms(100), ms(2000))
    }

    fn window(kind: FaultKind, target: Option<usize>, start: u64, end: u64) -> FaultWindow {
        FaultWindow {
            kind,
            target,
            start: ms(start),
            end: ms(end),
            until: ms(end + 600),
            loss_percent: None,
        }
    }

    #[test]
    fn a_quick_failover_breaks_nothing_and_is_measured() {
        // h1 killed at 1000, h2 answers from 1350, h1 back and preempting at 2500.
        let samples = timeline(3000, |t| match t {
            0..1000 => 1,
            1000..1350 => 0,
            1350..2500 => 2,
            2500..2530 => 3,
            _ => 1,
        });
        let windows = [window(FaultKind::Kill, Some(0), 1000, 2000)];
        let verdict = judge(&samples, &windows, &[], 2, &bounds());
        assert_eq!(verdict.violations, vec![]);
        let worst = verdict.worst[&Some(FaultKind::Kill)];
        assert_eq!((worst.gap, worst.overlap), (ms(350), ms(30)));
    }

    #[test]
    fn a_dead_masters_vip_may_stay_until_its_lifetime_runs_out() {
        // h1 killed at 1000 keeps the VIP (nothing of it runs) until its
        // kernel lifetime ends; h2 answers from 1350.
        let samples = timeline(3000, |t| match t {
            0..1350 => 1,
            1350..2500 => 3,
            _ => 2,
        });
        let windows = [window(FaultKind::Kill, Some(0), 1000, 2000)];
        let verdict = judge(&samples, &windows, &[], 2, &bounds());
        assert_eq!(verdict.violations, vec![]);
        assert_eq!(verdict.worst[&Some(FaultKind::Kill)].overlap, ms(1150));
    }

    #[test]
    fn a_vip_that_outlives_a_dead_masters_lifetime_is_an_overlap() {
        let samples = timeline(6000, |t| match t {
            0..1350 => 1,
            1350..4800 => 3,
            _ => 2,
        });
        let windows = [window(FaultKind::Kill, Some(0), 1000, 2000)];
        let verdict = judge(&samples, &windows, &[], 2, &bounds());
        assert_eq!(verdict.violations.len(), 1, "{verdict:?}");
        let v = &verdict.violations[0];
        assert_eq!(
            (v.invariant, v.kind, v.from, v.to),
            (
                Invariant::Overlap,
                Some(FaultKind::Kill),
                ms(1350),
                ms(4800)
            )
        );
    }

    #[test]
    fn a_slow_takeover_is_a_gap_and_quiet_time_is_not_judged() {
        let samples = timeline(3000, |t| if (1000..1600).contains(&t) { 0 } else { 1 });
        let windows = [window(FaultKind::VipDeleted, Some(0), 1000, 1000)];
        let verdict = judge(&samples, &windows, &[], 2, &bounds());
        assert_eq!(verdict.violations.len(), 1, "{verdict:?}");
        assert_eq!(verdict.violations[0].invariant, Invariant::Gap);
        assert_eq!(verdict.violations[0].kind, Some(FaultKind::VipDeleted));
        let quiet = [(ms(900), ms(1700))];
        assert_eq!(
            judge(&samples, &windows, &quiet, 2, &bounds()).violations,
            vec![]
        );
    }

    #[test]
    fn a_gap_counts_from_when_an_agent_is_healthy_again() {
        // Both agents down (h1 killed, h2's cable out) until 2000; the VIP is
        // answered 400 ms after h2 is back: within Master_Down_Interval + 110 ms.
        let samples = timeline(3000, |t| if (1000..2400).contains(&t) { 0 } else { 2 });
        let windows = [
            window(FaultKind::Kill, Some(0), 1000, 2000),
            window(FaultKind::LinkFlap, Some(1), 1000, 2000),
        ];
        assert_eq!(
            judge(&samples, &windows, &[], 2, &bounds()).violations,
            vec![]
        );
        // 600 ms after it is too late.
        let samples = timeline(3000, |t| if (1000..2600).contains(&t) { 0 } else { 2 });
        let verdict = judge(&samples, &windows, &[], 2, &bounds());
        assert_eq!(verdict.violations.len(), 1, "{verdict:?}");
    }

    #[test]
    fn two_masters_while_partitioned_are_exempt_but_not_after_healing() {
        let windows = [window(FaultKind::Partition, None, 1000, 2000)];
        let healed = timeline(3000, |t| if (1400..2050).contains(&t) { 3 } else { 1 });
        let verdict = judge(&healed, &windows, &[], 2, &bounds());
        assert_eq!(verdict.violations, vec![]);
        let worst = verdict.worst[&Some(FaultKind::Partition)];
        assert_eq!(worst.exempt_overlap, ms(650));
        let stuck = timeline(3000, |t| if (1400..2500).contains(&t) { 3 } else { 1 });
        let verdict = judge(&stuck, &windows, &[], 2, &bounds());
        assert_eq!(verdict.violations.len(), 1, "{verdict:?}");
        assert_eq!(verdict.violations[0].from, ms(2200));
    }

    #[test]
    fn loss_widens_the_overlap_bound() {
        let samples = timeline(3000, |t| if (1400..2000).contains(&t) { 3 } else { 1 });
        let mut loss = window(FaultKind::Loss, None, 1000, 2000);
        assert_eq!(
            judge(&samples, &[loss.clone()], &[], 2, &bounds())
                .violations
                .len(),
            1
        );
        loss.loss_percent = Some(30);
        assert_eq!(
            judge(&samples, &[loss], &[], 2, &bounds()).violations,
            vec![]
        );
    }

    #[test]
    fn host_lists_name_hosts_from_one() {
        assert_eq!(host_list(0b11), "h1+h2");
        assert_eq!(host_list(0b100), "h3");
        assert_eq!(host_list(0), "none");
    }
}
