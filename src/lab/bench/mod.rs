//! `twinstar lab --bench`: twinstar and keepalived side by side on the same
//! namespace lab, the same scenarios, priorities and intervals, measured by a
//! client pinging the VIP every 2 ms and by /proc; printed as a Markdown table.

pub mod floor;
mod measure;
mod node;
mod scenarios;
mod table;

use std::cell::Cell;
use std::path::PathBuf;
use std::time::Duration;

use self::measure::{summarise, Summary};
use self::node::Kind;
use self::scenarios as sc;
use self::table::{progress, table, Row};
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
    /// Scenario numbers to run (1..=10); empty: all.
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
                floor: None,
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
            floor: None,
            keepalived: k,
            twinstar: t,
            unit: "ms",
        }));
    }
    if wanted(options, 3) {
        rows.push(progress(Row {
            scenario: "3a. switchover, 10ms adverts (outage)".into(),
            theory: format!("Skew_Time {}", ms(skew_time(100, ms10))),
            floor: None,
            keepalived: None,
            twinstar: summarise(&sc::switchover(bench, ms10)?),
            unit: "ms",
        }));
        rows.push(progress(Row {
            scenario: "3b. track script fails (weight 0, 100ms interval; outage)".into(),
            theory: format!("≤ 100 ms + Skew_Time {}", ms(skew_time(100, ms10))),
            floor: None,
            keepalived: None,
            twinstar: summarise(&sc::failing_script(bench, ms10)?),
            unit: "ms",
        }));
    }
    for (n, label, specs, interval, vlans) in [
        (
            9u8,
            "1 × 10ms",
            sc::one as fn(u8, Duration) -> Vec<node::Spec>,
            ms10,
            false,
        ),
        (4u8, "100 × 10ms", sc::hundred, ms10, false),
        (
            5u8,
            "1000 × 100ms (4 links × 250)",
            sc::thousand,
            Duration::from_millis(100),
            true,
        ),
    ] {
        if wanted(options, n) {
            // Each kind's figures as soon as it is measured: a later kind's
            // failure must not lose them.
            let measure = |kind: Kind| -> Result<sc::ScaleResult, LabError> {
                let result = sc::scale(bench, kind, specs, interval, vlans, options.window)?;
                println!(
                    "{n}. {label}: {}: CPU Master {:.2} %, Backup {:.2} %; missed {:?}",
                    kind.name(),
                    result.master.cpu_percent,
                    result.backup.cpu_percent,
                    result.missed_adverts
                );
                Ok(result)
            };
            let floor = measure(Kind::Floor)?;
            // keepalived with a thousand instances sometimes does not settle
            // with every VIP on its Master: its columns stay empty and the
            // run goes on, rather than losing the whole table.
            let k = if keepalived {
                match measure(Kind::Keepalived) {
                    Ok(result) => Some(result),
                    Err(LabError::Timeout(what)) => {
                        println!("{n}. {label}: keepalived: timed out waiting for {what}");
                        None
                    }
                    Err(e) => return Err(e),
                }
            } else {
                None
            };
            let t = measure(Kind::Twinstar)?;
            rows.extend(scale_rows(&format!("{n}. {label}"), &floor, k.as_ref(), &t));
        }
        if n == 5 && wanted(options, 10) {
            rows.extend(flood_rows(bench, options.window, keepalived)?);
        }
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
            floor: None,
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
            floor: None,
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
            floor: None,
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

/// The rows of one load scenario (4, 5 or 9): CPU with the floor's figure
/// (the floor sender for the Master, the floor receiver for the Backup),
/// memory as VmRSS and as PSS, transitions and missed adverts.
fn scale_rows(
    label: &str,
    floor: &sc::ScaleResult,
    keepalived: Option<&sc::ScaleResult>,
    twinstar: &sc::ScaleResult,
) -> Vec<Row> {
    let one = |v: f64| summarise(&[v]);
    type Pick = fn(&sc::ScaleResult) -> f64;
    let measures: [(&str, Pick, &'static str, bool); 7] = [
        ("CPU, Master", |r| r.master.cpu_percent, "% core", true),
        ("CPU, Backup", |r| r.backup.cpu_percent, "% core", true),
        ("VmRSS, Master", |r| r.master.rss_mib, "MiB", false),
        ("VmRSS, Backup", |r| r.backup.rss_mib, "MiB", false),
        ("PSS, Master", |r| r.master.pss_mib, "MiB", false),
        ("PSS, Backup", |r| r.backup.pss_mib, "MiB", false),
        (
            "transitions in the window",
            |r| r.transitions as f64,
            "count",
            false,
        ),
    ];
    let mut rows: Vec<Row> = measures
        .into_iter()
        .map(|(what, pick, unit, has_floor)| {
            progress(Row {
                scenario: format!("{label}: {what}"),
                theory: if unit == "count" { "0" } else { "-" }.into(),
                floor: if has_floor { one(pick(floor)) } else { None },
                keepalived: keepalived.and_then(|r| one(pick(r))),
                twinstar: one(pick(twinstar)),
                unit,
            })
        })
        .collect();
    let missed = |r: &sc::ScaleResult| r.missed_adverts.and_then(|m| one(m as f64));
    rows.push(progress(Row {
        scenario: format!("{label}: adverts missed by the Backup"),
        theory: "0".into(),
        floor: missed(floor),
        keepalived: keepalived.and_then(missed),
        twinstar: missed(twinstar),
        unit: "count",
    }));
    rows
}

/// Scenario 10: the two floods, each kind's CPU on the host that takes it,
/// the floor's being a bare receiver there; the rate the flood reached is in
/// the row's name (the twinstar run's; each kind's run is printed as it goes).
fn flood_rows(bench: &Bench, window: Duration, keepalived: bool) -> Result<Vec<Row>, LabError> {
    let run = |kind: Kind| -> Result<(sc::FloodCost, sc::FloodCost), LabError> {
        let costs = sc::flood(bench, kind, window)?;
        println!(
            "10. {} under flood: {:.0} and {:.0} adverts/s sent",
            kind.name(),
            costs.0.rate,
            costs.1.rate
        );
        Ok(costs)
    };
    let floor = run(Kind::Floor)?;
    let k = if keepalived {
        Some(run(Kind::Keepalived)?)
    } else {
        None
    };
    let t = run(Kind::Twinstar)?;
    let one = |c: &sc::FloodCost| summarise(&[c.cpu_percent]);
    type Pick = fn(&(sc::FloodCost, sc::FloodCost)) -> &sc::FloodCost;
    let floods: [(&str, Pick); 2] = [
        (
            "lower-priority adverts for the Master's VRID: CPU, Master",
            |c| &c.0,
        ),
        ("adverts for VRIDs nobody runs: CPU, Backup", |c| &c.1),
    ];
    Ok(floods
        .into_iter()
        .map(|(what, pick)| {
            progress(Row {
                scenario: format!(
                    "10. 1 × 100ms, flood of {} {what}",
                    flood_rate(pick(&t).rate)
                ),
                theory: "-".into(),
                floor: one(pick(&floor)),
                keepalived: k.as_ref().and_then(|k| one(pick(k))),
                twinstar: one(pick(&t)),
                unit: "% core",
            })
        })
        .collect())
}

/// A flood rate as the table shows it: `24,600/s`.
fn flood_rate(per_second: f64) -> String {
    let rounded = (per_second / 100.0).round() as u64 * 100;
    format!("{},{:03}/s", rounded / 1000, rounded % 1000)
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
        floor: None,
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
        floor: None,
        keepalived: None,
        twinstar: summarise(&sc::host_loss_quorum(bench, true)?),
        unit: "ms",
    }));
    Ok(())
}

fn one_count(n: u64) -> Option<Summary> {
    summarise(&[n as f64])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_rate_is_rounded_to_hundreds() {
        assert_eq!(flood_rate(24_649.0), "24,600/s");
        assert_eq!(flood_rate(25_000.0), "25,000/s");
        assert_eq!(flood_rate(950.0), "1,000/s");
    }
}
