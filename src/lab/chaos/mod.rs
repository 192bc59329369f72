//! `twinstar lab --chaos` and `tests/chaos.rs`: runs of random fault schedules
//! against two real agents in network namespaces, each checked by a sampler
//! against invariants whose bounds come from RFC 9568 and the lab's config.
//!
//! The lab is built once per batch and reused: every run starts from the
//! steady state (h1 Master alone, h2 Backup), draws one or two faults from its
//! seed ([`schedule`]), injects and heals them one after the other
//! ([`inject`]), waits for the steady state after each, and judges the
//! samples ([`verdict`]). A violation prints the seed, the schedule and the
//! timeline around it ([`report`]); the batch ends with a table per fault kind.

pub mod bounds;
pub mod filters;
pub mod inject;
pub mod report;
pub mod rogue;
pub mod sampler;
pub mod schedule;
pub mod verdict;
pub mod world;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use self::filters::LossMethod;
use self::inject::{inject, Journal};
use self::report::{describe, timeline, BatchReport, RunSummary};
use self::sampler::Sampler;
use self::schedule::{run_seed, FaultKind, Schedule};
use self::verdict::{judge, Invariant, Violation};
use self::world::{exited, tail, ChaosLab, STARTUP};
use crate::lab::LabError;

/// What to run.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// The twinstar binary the agents run.
    pub program: PathBuf,
    /// How many runs.
    pub runs: usize,
    /// The batch seed; run 0 uses it as is (see [`schedule::run_seed`]).
    pub seed: u64,
    /// The fault kinds to draw from; empty: all.
    pub faults: Vec<FaultKind>,
    /// More instance keys for both agents, one YAML line each.
    pub extra_keys: Vec<String>,
    /// The namespaces' name prefix (unique per batch).
    pub prefix: String,
    /// Where agent files go (removed at the end).
    pub workdir: PathBuf,
    /// Stop cleanly on Ctrl-C (the command line; tests leave it off).
    pub catch_interrupt: bool,
}

/// A seed from the clock, for a batch that was given none.
pub fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// Runs the batch, printing each run as it ends and every violation with its
/// timeline; removes the lab (also on error or panic) and checks that nothing
/// is left. The caller prints [`BatchReport::markdown`].
pub fn run(options: &ChaosOptions) -> Result<BatchReport, LabError> {
    if options.catch_interrupt {
        crate::lab::interrupt::catch();
    }
    let began = Instant::now();
    let mut started = Vec::new();
    let mut loss_method = LossMethod::Nftables;
    let result = (|| {
        let mut world = ChaosLab::build(
            &options.prefix,
            &options.program,
            &options.workdir,
            &options.extra_keys,
        )?;
        loss_method = LossMethod::probe(&world);
        let runs = batch(&mut world, options, loss_method);
        started = world.started.clone();
        runs
    })();
    let _ = std::fs::remove_dir_all(&options.workdir);
    let leftovers = leftovers(&options.prefix, &started);
    Ok(BatchReport {
        seed: options.seed,
        runs: result?,
        loss_method: loss_method.name(),
        elapsed: began.elapsed(),
        leftovers,
    })
}

/// Namespaces named `prefix-*` and agent processes of this batch that still exist.
pub fn leftovers(prefix: &str, started: &[(u32, PathBuf)]) -> Vec<String> {
    let mut left: Vec<String> = crate::lab::netns_names()
        .into_iter()
        .filter(|name| name.starts_with(&format!("{prefix}-")))
        .map(|name| format!("namespace {name}"))
        .collect();
    left.extend(
        ChaosLab::survivors(started)
            .into_iter()
            .map(|pid| format!("agent process {pid}")),
    );
    left
}

fn batch(
    world: &mut ChaosLab,
    options: &ChaosOptions,
    loss: LossMethod,
) -> Result<Vec<RunSummary>, LabError> {
    let mut runs = Vec::new();
    for index in 0..options.runs {
        let seed = run_seed(options.seed, index);
        let schedule = Schedule::draw(seed, &options.faults);
        let summary = one_run(world, index, schedule, loss)?;
        let verdict = &summary.verdict;
        println!(
            "run {}/{} {}: {} ({:.1} s)",
            index + 1,
            options.runs,
            summary.schedule,
            if verdict.violations.is_empty() {
                "ok".to_string()
            } else {
                format!("{} VIOLATION(S)", verdict.violations.len())
            },
            summary.elapsed.as_secs_f64()
        );
        if !verdict.violations.is_empty() {
            let faults = if options.faults.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = options.faults.iter().map(|k| k.name()).collect();
                format!(" --faults {}", names.join(","))
            };
            println!("  replay: twinstar lab --chaos --runs 1 --seed {seed}{faults}");
        }
        runs.push(summary);
    }
    Ok(runs)
}

/// Whether the lab is in its steady state in samples taken since `after`
/// (earlier ones may show the state before a fault took effect).
fn settled_since(world: &ChaosLab, sampler: &Sampler, after: Duration) -> bool {
    let recent = sampler.recent(3);
    recent.iter().all(|s| s.at >= after) && world.settled(&recent)
}

/// How much longer than its limit a wait for the steady state may take on the
/// wall clock while the sampler cannot sample (a netlink dump waiting for the
/// kernel's RTNL lock, which other namespaces' teardown can hold for seconds).
const SAMPLER_STALL: Duration = Duration::from_secs(10);

/// How a wait for the steady state ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// It was reached.
    Settled,
    /// A sample later than the limit shows it was not.
    NotSettled,
    /// The sampler took no sample past the limit: nothing can be said.
    Unobserved,
}

/// Waits until the lab is in its steady state in samples taken since `after`.
/// Gives up once a sample later than `after + limit` shows it is not, so the
/// limit is judged on what was observed, not on a sampler that stalled.
fn wait_settled(world: &ChaosLab, sampler: &Sampler, after: Duration, limit: Duration) -> Settle {
    let give_up = Instant::now() + limit + SAMPLER_STALL;
    loop {
        if settled_since(world, sampler, after) {
            return Settle::Settled;
        }
        let observed_past = sampler
            .recent(1)
            .first()
            .is_some_and(|s| s.at > after + limit);
        if observed_past {
            return Settle::NotSettled;
        }
        if Instant::now() >= give_up {
            return Settle::Unobserved;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Repairs the lab, recording the repair as a span not to judge.
fn repair(
    world: &mut ChaosLab,
    sampler: &Sampler,
    epoch: Instant,
    journal: &mut Journal,
    quiet: &mut Vec<(Duration, Duration)>,
) -> Result<(), LabError> {
    let from = epoch.elapsed();
    journal.push((
        from,
        "lab repaired: both agents restarted, VIP flushed".into(),
    ));
    world.repair(&|w: &ChaosLab| settled_since(w, sampler, from))?;
    quiet.push((from, epoch.elapsed()));
    Ok(())
}

fn one_run(
    world: &mut ChaosLab,
    index: usize,
    schedule: Schedule,
    loss: LossMethod,
) -> Result<RunSummary, LabError> {
    let epoch = Instant::now();
    let bounds = world.bounds;
    let sampler = Sampler::start(&world.probe()?, epoch)?;
    let mut journal = Journal::new();
    let mut quiet = Vec::new();
    let mut windows = Vec::new();
    let mut found = Vec::new();
    let mut unobserved = 0;
    // The steady state first; what came before it is not judged.
    if wait_settled(world, &sampler, Duration::ZERO, STARTUP + bounds.settle()) != Settle::Settled {
        repair(world, &sampler, epoch, &mut journal, &mut quiet)?;
    }
    quiet.push((Duration::ZERO, epoch.elapsed()));
    for fault in &schedule.faults {
        crate::lab::interrupt::check()?;
        std::thread::sleep(fault.delay);
        let master = ChaosLab::master(&sampler.recent(1)).unwrap_or(0);
        let pids: Vec<Option<u32>> = world.agents.iter().map(|a| a.pid()).collect();
        let mut window = inject(world, fault, master, loss, epoch, &mut journal)?;
        let restarted = matches!(fault.kind, FaultKind::Kill | FaultKind::Reload);
        let limit = bounds.settle() + if restarted { STARTUP } else { Duration::ZERO };
        let outcome = wait_settled(world, &sampler, window.end, limit);
        let settled = outcome == Settle::Settled;
        if outcome == Settle::Unobserved {
            unobserved += 1;
            journal.push((
                epoch.elapsed(),
                format!("sampler stalled: {} not judged", fault.kind),
            ));
            println!(
                "run {}: the sampler took no sample for over {} s; {} not judged",
                index + 1,
                SAMPLER_STALL.as_secs(),
                fault.kind
            );
        }
        window.until = epoch.elapsed();
        // Agents the fault did not restart must still be the same processes.
        let mut broken = !settled;
        for (agent, before) in pids.iter().enumerate() {
            let restarted_here = restarted && window.target == Some(agent);
            let Some(pid) = before.filter(|_| !restarted_here) else {
                continue;
            };
            if exited(pid) {
                broken = true;
                found.push(Violation {
                    invariant: Invariant::AgentExited,
                    kind: Some(fault.kind),
                    from: window.start,
                    to: window.until,
                    bound: Duration::ZERO,
                    detail: format!(
                        "h{} (pid {pid}) ended by itself; its log ends:\n{}",
                        agent + 1,
                        tail(&world.agents[agent].log())
                    ),
                });
            }
        }
        if outcome == Settle::NotSettled {
            let states: Vec<String> = (0..world.agents.len())
                .map(|i| {
                    format!(
                        "h{} {}",
                        i + 1,
                        world.state(i).unwrap_or_else(|| "?".into())
                    )
                })
                .collect();
            found.push(Violation {
                invariant: Invariant::NotSettled,
                kind: Some(fault.kind),
                from: window.end,
                to: window.until,
                bound: limit,
                detail: format!(
                    "h1 was not Master alone with h2 Backup {} ms after the fault ended ({}, last sample: {:?})",
                    limit.as_millis(),
                    states.join(", "),
                    sampler.recent(1).first()
                ),
            });
        }
        windows.push(window);
        if broken {
            repair(world, &sampler, epoch, &mut journal, &mut quiet)?;
        }
    }
    let (samples, adverts) = sampler.stop();
    let mut verdict = judge(&samples, &windows, &quiet, world.agents.len(), &bounds);
    verdict.violations.extend(found);
    verdict.violations.sort_by_key(|v| v.from);
    for violation in &verdict.violations {
        println!(
            "VIOLATION in run {} ({schedule}): {}\n{}",
            index + 1,
            describe(violation),
            timeline(violation, &samples, &adverts, &journal)
        );
    }
    Ok(RunSummary {
        index,
        schedule,
        verdict,
        unobserved,
        elapsed: epoch.elapsed(),
    })
}
