//! keepalived's value syntax: seconds with fractions, integers, and the
//! command strings of scripts and notify hooks.

use std::time::Duration;

/// keepalived's `<TIMER>`: seconds, fractions allowed (`2`, `0.5`).
pub fn seconds(text: &str) -> Option<Duration> {
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() || !(0.0..=1e9).contains(&value) {
        return None;
    }
    // Microseconds are keepalived's resolution.
    Some(Duration::from_micros((value * 1e6).round() as u64))
}

/// Rounds `d` to the nearest multiple of `step` (ties up).
pub fn round_to(d: Duration, step: Duration) -> Duration {
    let step_ns = step.as_nanos().max(1);
    let steps = (d.as_nanos() + step_ns / 2) / step_ns;
    Duration::from_nanos(u64::try_from(steps * step_ns).unwrap_or(u64::MAX))
}

/// A twinstar name (1 to 32 letters, digits, `-`, `_` or `.`) for keepalived's
/// `name`: other characters become `_`, and it is cut at 32.
pub fn twinstar_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Splits keepalived's command string into a program and its arguments:
/// unquoted whitespace separates, single quotes keep spaces in an argument
/// (keepalived.conf(5), "Quoted strings").
pub fn split_command(text: &str) -> Vec<String> {
    let mut argv = Vec::new();
    let mut current: Option<String> = None;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                current.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => argv.extend(current.take()),
            c => current.get_or_insert_with(String::new).push(c),
        }
    }
    argv.extend(current);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_take_fractions() {
        assert_eq!(seconds("2"), Some(Duration::from_secs(2)));
        assert_eq!(seconds("0.1"), Some(Duration::from_millis(100)));
        assert_eq!(seconds("-1"), None);
        assert_eq!(seconds("fast"), None);
    }

    #[test]
    fn rounding_keeps_whole_steps() {
        let cs = Duration::from_millis(10);
        assert_eq!(
            round_to(Duration::from_millis(104), cs),
            Duration::from_millis(100)
        );
        assert_eq!(
            round_to(Duration::from_millis(105), cs),
            Duration::from_millis(110)
        );
    }

    #[test]
    fn names_are_made_valid() {
        assert_eq!(twinstar_name("VI_1"), "VI_1");
        assert_eq!(twinstar_name("web vip"), "web_vip");
        assert_eq!(twinstar_name(&"x".repeat(40)).len(), 32);
    }

    #[test]
    fn commands_split_on_spaces_and_single_quotes_group() {
        assert_eq!(
            split_command("/usr/bin/killall -0 haproxy"),
            ["/usr/bin/killall", "-0", "haproxy"]
        );
        assert_eq!(
            split_command("/bin/notify 'two words' x"),
            ["/bin/notify", "two words", "x"]
        );
        assert_eq!(split_command("  /bin/x  "), ["/bin/x"]);
    }
}
