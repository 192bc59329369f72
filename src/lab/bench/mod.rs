//! `twinstar lab --bench`: twinstar and keepalived side by side on the same
//! namespace lab, the same scenarios, priorities and intervals, measured by a
//! client pinging the VIP every 2 ms and by /proc; printed as a Markdown table.

mod measure;
mod node;
mod scenarios;

use std::cell::Cell;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use self::measure::{summarise, Summary};
use self::node::Kind;
use self::scenarios as sc;
use crate::lab::{Lab, LabError};
use crate::vrrp::{master_down_interval, skew_time};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The twinstar binary.
    pub program: PathBuf,
    /// Runs per latency scenario (at least 5 for the published table).
    pub runs: usize,
    /// Runs of the convergence scenario.
    pub runs_convergence: usize,
    /// Scenario numbers to run (1..=8); empty: all.
    pub only: Vec<u8>,
    /// Measurement window of the CPU scenarios.
    pub window: Duration,
    /// How long the CPU hog runs in the stability scenario.
    pub hog: Duration,
}

/// Shared by the scenarios: where files go, how many runs, lab names.
pub struct Bench {
    program: PathBuf,
    workdir: PathBuf,
    runs: usize,
    runs_convergence: usize,
    labs: Cell<u32>,
}

impl Bench {
    /// A fresh lab with `hosts` agent hosts and a unique name.
    fn lab(&self, hosts: usize) -> Result<Lab, LabError> {
        let n = self.labs.get() + 1;
        self.labs.set(n);
        Lab::build(&format!("tsb{}x{n}", std::process::id()), hosts)
    }
}

/// One line of the table.
struct Row {
    scenario: String,
    theory: String,
    keepalived: Option<Summary>,
    twinstar: Option<Summary>,
    unit: &'static str,
}

/// Runs the chosen scenarios and prints the table; removes every namespace.
pub fn run(options: &BenchOptions) -> Result<(), LabError> {
    let workdir = std::env::temp_dir().join(format!("twinstar-bench-{}", std::process::id()));
    std::fs::create_dir_all(&workdir)?;
    let bench = Bench {
        program: options.program.clone(),
        workdir: workdir.clone(),
        runs: options.runs.max(1),
        runs_convergence: options.runs_convergence.max(1),
        labs: Cell::new(0),
    };
    let keepalived = sc::keepalived_installed();
    if !keepalived {
        println!(
            "keepalived is not installed (apt-get install keepalived): its columns stay empty"
        );
    }
    let result = scenarios(&bench, options, keepalived);
    let _ = std::fs::remove_dir_all(&workdir);
    let rows = result?;
    println!("\n{}", table(&rows));
    Ok(())
}

fn wanted(options: &BenchOptions, n: u8) -> bool {
    options.only.is_empty() || options.only.contains(&n)
}

fn scenarios(
    bench: &Bench,
    options: &BenchOptions,
    keepalived: bool,
) -> Result<Vec<Row>, LabError> {
    let ms10 = Duration::from_millis(10);
    let mut rows = Vec::new();
    let both = |f: &dyn Fn(Kind) -> Result<Vec<f64>, LabError>| -> Result<(Option<Summary>, Option<Summary>), LabError> {
        let k = if keepalived { summarise(&f(Kind::Keepalived)?) } else { None };
        let t = summarise(&f(Kind::Twinstar)?);
        Ok((k, t))
    };
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    if wanted(options, 1) {
        for interval in [ms10, Duration::from_secs(1)] {
            let (k, t) = both(&|kind| sc::host_loss(bench, kind, interval))?;
            rows.push(progress(Row {
                scenario: format!(
                    "1. host loss, {} adverts (outage)",
                    crate::config::format_duration(interval)
                ),
                theory: format!(
                    "Master_Down_Interval {}",
                    ms(master_down_interval(100, interval))
                ),
                keepalived: k,
                twinstar: t,
                unit: "ms",
            }));
        }
    }
    if wanted(options, 2) {
        let (k, t) = both(&|kind| sc::graceful(bench, kind, ms10))?;
        rows.push(progress(Row {
            scenario: "2. graceful stop, 10ms adverts (outage)".into(),
            theory: format!("Skew_Time {}", ms(skew_time(100, ms10))),
            keepalived: k,
            twinstar: t,
            unit: "ms",
        }));
    }
    if wanted(options, 3) {
        rows.push(progress(Row {
            scenario: "3a. switchover, 10ms adverts (outage)".into(),
            theory: format!("Skew_Time {}", ms(skew_time(100, ms10))),
            keepalived: None,
            twinstar: summarise(&sc::switchover(bench, ms10)?),
            unit: "ms",
        }));
        rows.push(progress(Row {
            scenario: "3b. track script fails (weight 0, 100ms interval; outage)".into(),
            theory: format!("≤ 100 ms + Skew_Time {}", ms(skew_time(100, ms10))),
            keepalived: None,
            twinstar: summarise(&sc::failing_script(bench, ms10)?),
            unit: "ms",
        }));
    }
    for (n, label, specs, interval, vlans) in [
        (
            4u8,
            "100 × 10ms",
            sc::hundred as fn(u8, Duration) -> Vec<node::Spec>,
            ms10,
            false,
        ),
        (
            5u8,
            "1000 × 100ms (4 links × 250)",
            sc::thousand,
            Duration::from_millis(100),
            true,
        ),
    ] {
        if !wanted(options, n) {
            continue;
        }
        let k = if keepalived {
            Some(sc::scale(
                bench,
                Kind::Keepalived,
                specs,
                interval,
                vlans,
                options.window,
            )?)
        } else {
            None
        };
        let t = sc::scale(
            bench,
            Kind::Twinstar,
            specs,
            interval,
            vlans,
            options.window,
        )?;
        let one = |v: f64| summarise(&[v]);
        let pick = |r: &sc::ScaleResult, f: fn(&sc::ScaleResult) -> f64| one(f(r));
        type Pick = fn(&sc::ScaleResult) -> f64;
        let measures: [(&str, Pick, &'static str); 5] = [
            ("CPU, Master", |r| r.master.cpu_percent, "% core"),
            ("CPU, Backup", |r| r.backup.cpu_percent, "% core"),
            ("RSS, Master", |r| r.master.rss_mib, "MiB"),
            ("RSS, Backup", |r| r.backup.rss_mib, "MiB"),
            (
                "transitions in the window",
                |r| r.transitions as f64,
                "count",
            ),
        ];
        for (what, f, unit) in measures {
            rows.push(progress(Row {
                scenario: format!("{n}. {label}: {what}"),
                theory: if unit == "count" {
                    "0".into()
                } else {
                    "-".into()
                },
                keepalived: k.as_ref().and_then(|r| pick(r, f)),
                twinstar: pick(&t, f),
                unit,
            }));
        }
        rows.push(progress(Row {
            scenario: format!("{n}. {label}: adverts missed by the Backup"),
            theory: "0".into(),
            keepalived: None,
            twinstar: t.missed_adverts.and_then(|m| one(m as f64)),
            unit: "count",
        }));
    }
    if wanted(options, 6) {
        let k = if keepalived {
            one_count(sc::stability(bench, Kind::Keepalived, ms10, options.hog)?)
        } else {
            None
        };
        let t = one_count(sc::stability(bench, Kind::Twinstar, ms10, options.hog)?);
        rows.push(progress(Row {
            scenario: format!(
                "6. both cores saturated {} s, 10ms adverts: false failovers",
                options.hog.as_secs()
            ),
            theory: "0".into(),
            keepalived: k,
            twinstar: t,
            unit: "count",
        }));
    }
    if wanted(options, 7) {
        let interval = Duration::from_millis(100);
        let observe = Duration::from_secs(3);
        let k = if keepalived {
            Some(sc::convergence(bench, Kind::Keepalived, interval, observe)?)
        } else {
            None
        };
        let t = sc::convergence(bench, Kind::Twinstar, interval, observe)?;
        let times =
            |r: &Vec<(f64, u64)>| summarise(&r.iter().map(|(s, _)| s * 1000.0).collect::<Vec<_>>());
        let flaps =
            |r: &Vec<(f64, u64)>| summarise(&r.iter().map(|(_, n)| *n as f64).collect::<Vec<_>>());
        rows.push(progress(Row {
            scenario: "7. 100 × 100ms, started 0.3 s apart: time to converge".into(),
            theory: format!(
                "Master_Down_Interval {}",
                ms(master_down_interval(150, interval))
            ),
            keepalived: k.as_ref().and_then(times),
            twinstar: times(&t),
            unit: "ms",
        }));
        rows.push(progress(Row {
            scenario: format!(
                "7. … transitions in the {} s after converging",
                observe.as_secs()
            ),
            theory: "0".into(),
            keepalived: k.as_ref().and_then(flaps),
            twinstar: flaps(&t),
            unit: "count",
        }));
    }
    if wanted(options, 8) {
        if sc::etcd_installed() {
            quorum_rows(bench, &mut rows)?;
        } else {
            println!("etcd is not installed (apt-get install etcd-server): scenario 8 skipped");
        }
    }
    Ok(rows)
}

/// Scenario 8: the same host loss (both of the Master's cables cut) without
/// the quorum guard and with it, side by side; twinstar only.
fn quorum_rows(bench: &Bench, rows: &mut Vec<Row>) -> Result<(), LabError> {
    let interval = sc::QUORUM_INTERVAL;
    let mdi = master_down_interval(100, interval);
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let label = crate::config::format_duration(interval);
    rows.push(progress(Row {
        scenario: format!("8. host loss, {label} adverts, no quorum guard (outage)"),
        theory: format!("Master_Down_Interval {}", ms(mdi)),
        keepalived: None,
        twinstar: summarise(&sc::host_loss_quorum(bench, false)?),
        unit: "ms",
    }));
    let ttl = sc::LEASE_TTL;
    rows.push(progress(Row {
        scenario: format!(
            "8. host loss, {label} adverts, quorum guard (etcd, lease_ttl {}) (outage)",
            crate::config::format_duration(ttl)
        ),
        // The lost Master renewed up to a third of the ttl before the loss,
        // so its lease expires 2/3..1 ttl after it; the Backup, denied
        // meanwhile, asks again one Master_Down_Interval after its last
        // try. When the lost host also led etcd, the new leader (after an
        // election timeout) restarts every lease: one more ttl.
        theory: {
            let election = Duration::from_millis(u64::from(crate::lab::etcd::ELECTION_TIMEOUT_MS));
            format!(
                "lease expiry + next try: {}..{} ({} when the lost host led etcd)",
                ms(ttl * 2 / 3),
                ms(ttl + mdi),
                ms(ttl + mdi + election + ttl)
            )
        },
        keepalived: None,
        twinstar: summarise(&sc::host_loss_quorum(bench, true)?),
        unit: "ms",
    }));
    Ok(())
}

fn one_count(n: u64) -> Option<Summary> {
    summarise(&[n as f64])
}

/// Prints a row as soon as it is measured (the table comes at the end).
fn progress(row: Row) -> Row {
    println!(
        "{}: keepalived {} | twinstar {}",
        row.scenario,
        cell(row.keepalived, row.unit),
        cell(row.twinstar, row.unit)
    );
    row
}

fn number(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn cell(s: Option<Summary>, unit: &str) -> String {
    match s {
        None => "-".into(),
        Some(s) if s.min == s.max => format!("{} {unit}", number(s.median)),
        Some(s) => format!(
            "{} {unit} ({}–{})",
            number(s.median),
            number(s.min),
            number(s.max)
        ),
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | theory | keepalived median (min–max) | twinstar median (min–max) | ratio |\n|---|---|---|---|---|\n",
    );
    for row in rows {
        let ratio = match (row.keepalived, row.twinstar) {
            (Some(k), Some(t)) if k.median > 0.0 => format!("{:.2}", t.median / k.median),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.scenario,
            row.theory,
            cell(row.keepalived, row.unit),
            cell(row.twinstar, row.unit),
            ratio
        );
    }
    out
}
