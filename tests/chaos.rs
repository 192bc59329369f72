//! The chaos suite: batches of random fault schedules against two real agents
//! in network namespaces (see `twinstar::lab::chaos`), each run checked by a
//! 100 Hz sampler for two hosts answering for the VIP, nobody answering, the
//! lab not returning to h1 Master / h2 Backup, and agents dying by themselves.
//!
//! CI runs 50 runs in release mode (`cargo test --release --test chaos`);
//! `TWINSTAR_CHAOS_RUNS`, `TWINSTAR_CHAOS_SEED` and `TWINSTAR_CHAOS_FAULTS`
//! (comma-separated kinds) change the batch. Longer batches:
//! `twinstar lab --chaos --runs 1000`.

mod support;

use std::time::{Duration, Instant};

use support::agents::can_run_lab;
use support::rfc;
use twinstar::lab::chaos::bounds::{self, Bounds};
use twinstar::lab::chaos::schedule::FaultKind;
use twinstar::lab::chaos::{self, world, ChaosOptions};

/// Runs CI does when nothing else is asked for.
const DEFAULT_RUNS: usize = 50;

/// Removes any namespace of the batch that is still there when the test ends,
/// even by a panic; the test itself asserts that there was none.
struct Sweep(String);

impl Drop for Sweep {
    fn drop(&mut self) {
        for name in stray_namespaces(&self.0) {
            eprintln!("removing stray namespace {name}");
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &name])
                .status();
        }
    }
}

fn stray_namespaces(prefix: &str) -> Vec<String> {
    twinstar::lab::netns_names()
        .into_iter()
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .collect()
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} is not valid")),
        Err(_) => default,
    }
}

#[test]
fn the_lab_bounds_agree_with_the_rfc_oracle() {
    for &(priority, centis, skew, mdi) in rfc::REFERENCE {
        let interval = Duration::from_millis(centis * 10);
        assert_eq!(
            bounds::skew_time(priority, interval),
            skew,
            "{priority} {centis}"
        );
        assert_eq!(
            bounds::master_down_interval(priority, interval),
            mdi,
            "{priority} {centis}"
        );
    }
    let lab = Bounds::new(&world::PRIORITIES, world::INTERVAL, world::VIP_LIFETIME);
    let lowest = *world::PRIORITIES.iter().min().unwrap();
    let mdi = rfc::master_down_interval(lowest, world::INTERVAL);
    assert_eq!(lab.master_down, mdi);
    // The brief bound: Master_Down_Interval + 100 ms, plus one 10 ms sample.
    assert_eq!(lab.gap(), mdi + Duration::from_millis(110));
    // One advert interval + 100 ms, plus one sample.
    assert_eq!(lab.overlap(), world::INTERVAL + Duration::from_millis(110));
    // A dead Master: its VIP lifetime, the kernel's second, 100 ms, a sample.
    assert_eq!(
        lab.dead_master_overlap(),
        world::VIP_LIFETIME + Duration::from_millis(1110)
    );
}

#[test]
fn chaos_runs_hold_the_invariants() {
    if !can_run_lab("chaos_runs_hold_the_invariants") {
        return;
    }
    let runs = env_or("TWINSTAR_CHAOS_RUNS", DEFAULT_RUNS);
    let seed = env_or("TWINSTAR_CHAOS_SEED", chaos::fresh_seed());
    let faults: Vec<FaultKind> = std::env::var("TWINSTAR_CHAOS_FAULTS")
        .map(|text| {
            text.split(',')
                .map(|k| k.trim().parse().unwrap_or_else(|e| panic!("{e}")))
                .collect()
        })
        .unwrap_or_default();
    let prefix = format!("tsch{}", std::process::id());
    let _sweep = Sweep(prefix.clone());
    let options = ChaosOptions {
        program: env!("CARGO_BIN_EXE_twinstar").into(),
        runs,
        seed,
        faults,
        extra_keys: Vec::new(),
        prefix: prefix.clone(),
        workdir: std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("twinstar-chaos-{}", std::process::id())),
        catch_interrupt: false,
    };
    println!("chaos: {runs} runs from seed {seed}");
    let started = Instant::now();
    let result = chaos::run(&options);
    let elapsed = started.elapsed();
    assert_eq!(
        stray_namespaces(&prefix),
        Vec::<String>::new(),
        "namespaces left behind"
    );
    let report = result.unwrap_or_else(|e| panic!("the chaos lab failed: {e}"));
    let table = report.markdown();
    println!("\n{table}\n{runs} runs in {:.1} s", elapsed.as_secs_f64());
    assert!(
        report.leftovers.is_empty(),
        "left behind: {:?}",
        report.leftovers
    );
    assert_eq!(report.runs.len(), runs);
    // A sampler that cannot sample judges nothing: a few stalls (the kernel's
    // RTNL lock held elsewhere) are tolerated, a blind batch is a failure.
    assert!(
        report.unobserved() * 10 <= runs,
        "{} faults went unobserved in {runs} runs\n{table}",
        report.unobserved()
    );
    assert_eq!(
        report.violations(),
        0,
        "chaos violations (each printed above with its seed, schedule and timeline):\n{table}"
    );
}
