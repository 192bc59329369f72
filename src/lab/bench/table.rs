//! The benchmark's output: one row per measured figure, printed as soon as
//! it is measured, and the Markdown table at the end, where every CPU figure
//! stands beside the floor's and as a multiple of it.

use std::fmt::Write as _;

use super::measure::Summary;

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured, with its scenario number.
    pub scenario: String,
    /// The protocol's bound, or `-`.
    pub theory: String,
    /// The floor's figure, on CPU rows: the same packets with no agent logic.
    pub floor: Option<Summary>,
    /// keepalived's figure.
    pub keepalived: Option<Summary>,
    /// twinstar's figure.
    pub twinstar: Option<Summary>,
    /// The unit the figures are in.
    pub unit: &'static str,
}

/// Prints a row as soon as it is measured (the table comes at the end).
pub fn progress(row: Row) -> Row {
    println!(
        "{}: floor {} | keepalived {} | twinstar {}",
        row.scenario,
        cell(row.floor, row.unit),
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

/// `measured ÷ reference` of the medians, as the table prints it; `-` when
/// either is missing or the reference is zero.
fn ratio(measured: Option<Summary>, reference: Option<Summary>) -> String {
    match (measured, reference) {
        (Some(m), Some(r)) if r.median > 0.0 => format!("{:.2}", m.median / r.median),
        _ => "-".into(),
    }
}

/// The Markdown table: each kind's figure, each kind's CPU over the floor's
/// (`× floor`), and twinstar over keepalived.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | theory | floor | keepalived median (min–max) | keepalived × floor \
         | twinstar median (min–max) | twinstar × floor | twinstar ÷ keepalived |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.theory,
            cell(row.floor, row.unit),
            cell(row.keepalived, row.unit),
            ratio(row.keepalived, row.floor),
            cell(row.twinstar, row.unit),
            ratio(row.twinstar, row.floor),
            ratio(row.twinstar, row.keepalived),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::bench::measure::summarise;

    fn at(v: f64) -> Option<Summary> {
        summarise(&[v])
    }

    #[test]
    fn ratios_divide_medians_and_skip_missing_or_zero_references() {
        assert_eq!(ratio(at(11.9), at(10.0)), "1.19");
        assert_eq!(ratio(at(5.8), at(3.3)), "1.76");
        assert_eq!(ratio(at(1.0), None), "-");
        assert_eq!(ratio(None, at(1.0)), "-");
        assert_eq!(ratio(at(1.0), at(0.0)), "-");
    }

    #[test]
    fn table_has_floor_columns_and_each_ratio_in_its_place() {
        let rows = [
            Row {
                scenario: "4. 100 × 10ms: CPU, Master".into(),
                theory: "-".into(),
                floor: at(10.0),
                keepalived: at(28.0),
                twinstar: at(11.9),
                unit: "% core",
            },
            Row {
                scenario: "4. 100 × 10ms: VmRSS, Master".into(),
                theory: "-".into(),
                floor: None,
                keepalived: at(13.4),
                twinstar: at(6.7),
                unit: "MiB",
            },
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        let columns = |line: &str| line.matches('|').count() - 1;
        assert!(lines.iter().all(|l| columns(l) == 8), "{text}");
        assert!(lines[0].contains("| floor |") && lines[0].contains("twinstar × floor"));
        assert_eq!(
            lines[2],
            "| 4. 100 × 10ms: CPU, Master | - | 10 % core | 28 % core | 2.80 | 11.9 % core | 1.19 | 0.42 |"
        );
        assert_eq!(
            lines[3],
            "| 4. 100 × 10ms: VmRSS, Master | - | - | 13.4 MiB | - | 6.7 MiB | - | 0.50 |"
        );
    }
}
