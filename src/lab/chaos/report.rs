//! What a chaos batch prints: the timeline around a violation (samples,
//! adverts on the bridge, what the lab did), and the summary of a batch as a
//! small Markdown table per fault kind.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::inject::Journal;
use super::sampler::{Advert, Sample};
use super::schedule::{FaultKind, Schedule};
use super::verdict::{host_list, Verdict, Violation, Worst};

/// How much of the timeline is shown before and after a violation.
const CONTEXT: Duration = Duration::from_millis(400);

/// What one run left for the summary.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Its number in the batch, from 0.
    pub index: usize,
    /// Its schedule (with its seed).
    pub schedule: Schedule,
    /// What its samples showed.
    pub verdict: Verdict,
    /// Faults after which the sampler stalled, so they were not judged.
    pub unobserved: usize,
    /// How long it took.
    pub elapsed: Duration,
}

/// A whole batch.
#[derive(Debug, Clone)]
pub struct BatchReport {
    /// The batch seed.
    pub seed: u64,
    /// The runs.
    pub runs: Vec<RunSummary>,
    /// How loss was made.
    pub loss_method: &'static str,
    /// How long the batch took, lab included.
    pub elapsed: Duration,
    /// Namespaces or processes found after the lab was removed (must be none).
    pub leftovers: Vec<String>,
}

/// One line of the summary table.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    injected: u64,
    violations: u64,
    worst: Worst,
}

impl BatchReport {
    /// Every violation of every run.
    pub fn violations(&self) -> usize {
        self.runs.iter().map(|r| r.verdict.violations.len()).sum()
    }

    /// Faults the sampler could not observe to their end (see [`RunSummary`]).
    pub fn unobserved(&self) -> usize {
        self.runs.iter().map(|r| r.unobserved).sum()
    }

    /// Whether the batch found nothing wrong.
    pub fn passed(&self) -> bool {
        self.violations() == 0 && self.leftovers.is_empty()
    }

    fn rows(&self) -> BTreeMap<Option<FaultKind>, Row> {
        let mut rows: BTreeMap<Option<FaultKind>, Row> = BTreeMap::new();
        for run in &self.runs {
            for fault in &run.schedule.faults {
                rows.entry(Some(fault.kind)).or_default().injected += 1;
            }
            for violation in &run.verdict.violations {
                rows.entry(violation.kind).or_default().violations += 1;
            }
            for (kind, worst) in &run.verdict.worst {
                let row = rows.entry(*kind).or_default();
                row.worst.overlap = row.worst.overlap.max(worst.overlap);
                row.worst.exempt_overlap = row.worst.exempt_overlap.max(worst.exempt_overlap);
                row.worst.gap = row.worst.gap.max(worst.gap);
            }
        }
        rows
    }

    /// The summary as Markdown: a line of totals and a table per fault kind.
    pub fn markdown(&self) -> String {
        let faults: u64 = self.rows().values().map(|r| r.injected).sum();
        let unobserved = match self.unobserved() {
            0 => String::new(),
            n => format!(" ({n} not judged: the sampler stalled)"),
        };
        let mut out = format!(
            "{} runs, {faults} faults{unobserved}, {} violations, {} s (seed {}, loss by {}){}\n\n",
            self.runs.len(),
            self.violations(),
            self.elapsed.as_secs(),
            self.seed,
            self.loss_method,
            if self.leftovers.is_empty() {
                String::new()
            } else {
                format!("; LEFT BEHIND: {}", self.leftovers.join(", "))
            }
        );
        out.push_str(
            "| fault | injected | violations | worst overlap | worst gap |\n|---|---|---|---|---|\n",
        );
        let ms = |d: Duration| format!("{} ms", d.as_millis());
        for (kind, row) in self.rows() {
            let overlap = if row.worst.exempt_overlap > Duration::ZERO {
                format!(
                    "{} ({} exempt while partitioned)",
                    ms(row.worst.overlap),
                    ms(row.worst.exempt_overlap)
                )
            } else {
                ms(row.worst.overlap)
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {overlap} | {} |",
                kind.map_or("(between faults)", FaultKind::name),
                row.injected,
                row.violations,
                ms(row.worst.gap)
            );
        }
        out
    }
}

/// The host name of an address of the lab (`192.0.2.11` is h1).
fn host_name(address: Ipv4Addr) -> String {
    match address.octets() {
        [192, 0, 2, n @ 11..=18] => format!("h{}", n - 10),
        _ => address.to_string(),
    }
}

/// The timeline around `violation`: runs of identical samples on one line each,
/// with the adverts heard during them and what the lab did in between.
pub fn timeline(
    violation: &Violation,
    samples: &[Sample],
    adverts: &[Advert],
    journal: &Journal,
) -> String {
    let from = violation.from.saturating_sub(CONTEXT);
    let to = violation.to + CONTEXT;
    let shown: Vec<&Sample> = samples
        .iter()
        .filter(|s| from <= s.at && s.at <= to)
        .collect();
    let mut out = String::new();
    let mut events = journal
        .iter()
        .filter(|(at, _)| from <= *at && *at <= to)
        .peekable();
    let mut i = 0;
    while i < shown.len() {
        let first = shown[i];
        while let Some((at, what)) = events.next_if(|(at, _)| *at <= first.at) {
            let _ = writeln!(out, "    {:>8.3}s  >> {what}", at.as_secs_f64());
        }
        // A line per run of equal samples, cut where the lab did something.
        let key = |s: &Sample| (s.answering, s.stranger, s.holders);
        let mut j = i;
        while j + 1 < shown.len()
            && key(shown[j + 1]) == key(first)
            && events.peek().is_none_or(|(at, _)| *at > shown[j + 1].at)
        {
            j += 1;
        }
        let last = shown[j];
        let mut heard: BTreeMap<(String, u8, u8), u32> = BTreeMap::new();
        for advert in adverts
            .iter()
            .filter(|a| first.at <= a.at && a.at < last.at + super::bounds::SAMPLE_PERIOD)
        {
            *heard
                .entry((host_name(advert.from), advert.vrid, advert.priority))
                .or_default() += 1;
        }
        let heard: Vec<String> = heard
            .iter()
            .take(6)
            .map(|((host, vrid, priority), n)| format!("{host}:vrid{vrid}/prio{priority}×{n}"))
            .collect();
        let _ = writeln!(
            out,
            "    {:>8.3}s..{:.3}s ({:>3} samples)  answering {:<6}{} holders {:<6} adverts {}",
            first.at.as_secs_f64(),
            (last.at + super::bounds::SAMPLE_PERIOD).as_secs_f64(),
            j - i + 1,
            host_list(first.answering),
            if first.stranger { "+stranger" } else { "" },
            host_list(first.holders),
            if heard.is_empty() {
                "none".into()
            } else {
                heard.join(" ")
            }
        );
        i = j + 1;
    }
    for (at, what) in events {
        let _ = writeln!(out, "    {:>8.3}s  >> {what}", at.as_secs_f64());
    }
    out
}

/// One line naming a violation.
pub fn describe(violation: &Violation) -> String {
    format!(
        "{} under {} at {:.3}s..{:.3}s (bound {} ms): {}",
        violation.invariant.name(),
        violation.kind.map_or("no fault", FaultKind::name),
        violation.from.as_secs_f64(),
        violation.to.as_secs_f64(),
        violation.bound.as_millis(),
        violation.detail
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::chaos::verdict::Invariant;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_summary_is_a_markdown_table_per_kind() {
        let schedule = Schedule::draw(3, &[FaultKind::Kill]);
        let mut verdict = Verdict::default();
        verdict.worst.insert(
            Some(FaultKind::Kill),
            Worst {
                overlap: ms(900),
                exempt_overlap: ms(0),
                gap: ms(350),
            },
        );
        verdict.violations.push(Violation {
            invariant: Invariant::Overlap,
            kind: Some(FaultKind::Kill),
            from: ms(1000),
            to: ms(1900),
            bound: ms(210),
            detail: "two hosts".into(),
        });
        let report = BatchReport {
            seed: 3,
            runs: vec![RunSummary {
                index: 0,
                schedule: schedule.clone(),
                verdict,
                unobserved: 0,
                elapsed: ms(2000),
            }],
            loss_method: "nftables numgen",
            elapsed: ms(2500),
            leftovers: vec![],
        };
        let text = report.markdown();
        assert!(text.starts_with("1 runs, "), "{text}");
        assert!(text.contains("| fault | injected | violations |"), "{text}");
        let line = format!("| kill | {} | 1 | 900 ms | 350 ms |", schedule.faults.len());
        assert!(text.contains(&line), "{text}");
        assert!(!report.passed());
    }

    #[test]
    fn the_timeline_folds_equal_samples_and_shows_events_and_adverts() {
        let samples: Vec<Sample> = (0..100)
            .map(|i| Sample {
                at: ms(i * 10),
                answering: if i < 50 { 1 } else { 3 },
                stranger: false,
                holders: if i < 50 { 1 } else { 3 },
            })
            .collect();
        let adverts = [Advert {
            at: ms(600),
            from: Ipv4Addr::new(192, 0, 2, 12),
            vrid: 51,
            priority: 100,
        }];
        let journal = vec![
            (ms(255), "cable of h2 pulled".to_string()),
            (ms(495), "SIGKILL h1".to_string()),
        ];
        let violation = Violation {
            invariant: Invariant::Overlap,
            kind: Some(FaultKind::Kill),
            from: ms(500),
            to: ms(1000),
            bound: ms(210),
            detail: String::new(),
        };
        let text = timeline(&violation, &samples, &adverts, &journal);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        // 100..250 ms, the cable at 255 ms, 260..490 ms, the kill, 500..990 ms.
        assert!(
            lines[0].contains("answering h1 ") && lines[0].contains("( 16 samples)"),
            "{text}"
        );
        assert!(lines[1].contains(">> cable of h2 pulled"), "{text}");
        assert!(
            lines[2].contains("answering h1 ") && lines[2].contains("( 24 samples)"),
            "{text}"
        );
        assert!(lines[3].contains(">> SIGKILL h1"), "{text}");
        assert!(
            lines[4].contains("answering h1+h2") && lines[4].contains("h2:vrid51/prio100×1"),
            "{text}"
        );
    }
}
