//! Human-readable durations: `250ms`, `2s`, `1.5s`, `1m`.

use std::time::Duration;

/// The forms accepted, for error messages.
pub const FORMS: &str = "a number with a unit ms, s or m, such as `100ms`, `2s`, `1.5s` or `1m`";

/// Parses a duration written as an integer or decimal number directly followed
/// by `ms`, `s` or `m`. The error says what was wrong and which forms are accepted.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration; write {FORMS}");
    let (number, nanos_per_unit): (&str, u128) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000_000)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000_000)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000_000_000)
    } else {
        return Err(bad());
    };
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || number.ends_with('.') {
        return Err(bad());
    }
    // Exact integer arithmetic: 1.5s is 1_500_000_000 ns, with no float rounding.
    let too_long = || format!("`{text}` is too long");
    let mut nanos: u128 = whole.parse::<u128>().map_err(|_| too_long())? * nanos_per_unit;
    let mut scale = nanos_per_unit;
    for digit in frac.bytes() {
        if scale % 10 != 0 {
            return Err(format!("`{text}` is finer than a nanosecond"));
        }
        scale /= 10;
        nanos += u128::from(digit - b'0') * scale;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long())?;
    // The remainder is below 10^9, so it fits.
    let sub = (nanos % 1_000_000_000) as u32;
    Ok(Duration::new(secs, sub))
}

/// Formats a duration in the same notation [`parse`] reads, choosing the
/// largest unit that keeps it exact (`1s`, `100ms`, `40.95s`).
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        "0s".to_owned()
    } else if nanos % 60_000_000_000 == 0 {
        format!("{}m", nanos / 60_000_000_000)
    } else if nanos >= 1_000_000_000 && nanos % 10_000_000 == 0 {
        let cs = nanos / 10_000_000;
        let (s, frac) = (cs / 100, cs % 100);
        match frac {
            0 => format!("{s}s"),
            f if f % 10 == 0 => format!("{s}.{}s", f / 10),
            f => format!("{s}.{f:02}s"),
        }
    } else if nanos % 1_000_000 == 0 {
        format!("{}ms", nanos / 1_000_000)
    } else {
        format!("{}ms", nanos as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_integers_and_decimals_in_ms_s_and_m() {
        assert_eq!(parse("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("40.95s"), Ok(Duration::from_millis(40_950)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("0.5m"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("2.5ms"), Ok(Duration::from_micros(2500)));
    }

    #[test]
    fn rejects_other_forms_naming_the_accepted_ones() {
        for bad in [
            "", "1", "1.5", "s", ".5s", "5.s", "1 s", "-1s", "1h", "250us", "1e3ms", "1,5s",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                err.contains("`100ms`, `2s`, `1.5s` or `1m`"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn rejects_absurd_precision_and_size() {
        assert!(parse("0.0000000001s").unwrap_err().contains("nanosecond"));
        assert!(parse("99999999999999999999999999999999999999999m").is_err());
    }

    #[test]
    fn formats_in_the_notation_it_reads() {
        for text in ["0s", "10ms", "100ms", "1s", "1.5s", "40.95s", "1m", "2m"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
        assert_eq!(format(Duration::from_secs(90)), "90s");
    }
}
