//! What the journal holds of the service: twinstar's own entries and fields,
//! hooks' output, the identity scripts run as, the agent's capabilities.

use crate::host::SystemdHost;
use crate::pair::{poll_systemd, Pair};
use crate::support::agents::MARGIN;

/// twinstar's own entries carry SYSLOG_IDENTIFIER=twinstar, their tracing
/// fields (the instance name) and the right PRIORITY; a hook's logger(1)
/// output lands in the unit's journal, written as the `twinstar` user; a
/// failing hook is a warning (PRIORITY 4) quoting its last line.
pub fn has_twinstar_fields_and_hook_output(pair: &Pair) {
    let uid = pair
        .host
        .run_ok("id", &["-u", "twinstar"])
        .trim()
        .to_owned();
    // Hooks run after the transition and logger(1) goes through the syslog
    // socket: an entry may reach the journal a little after the VIP moved.
    let find = |what: &str, matches: &dyn Fn(&serde_json::Value) -> bool| {
        let mut found = None;
        poll_systemd(MARGIN, || {
            found = pair.host.journal(None).into_iter().find(|e| matches(e));
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "journal: no entry with {what} within {MARGIN:?}\n{}",
                pair.logs()
            )
        })
    };
    let text =
        |e: &serde_json::Value, field: &str| e[field].as_str().unwrap_or_default().to_owned();

    let change = find("MESSAGE \"state changed\" to master", &|e| {
        text(e, "SYSLOG_IDENTIFIER") == "twinstar"
            && text(e, "MESSAGE").contains("state changed")
            && text(e, "F_TO") == "master"
    });
    // tracing-journald writes INFO as notice (5); either way below a warning.
    assert!(
        ["5", "6"].contains(&text(&change, "PRIORITY").as_str()),
        "info entries have PRIORITY 5 (notice) or 6 (info): {change}"
    );
    assert_eq!(
        text(&change, "_CAP_EFFECTIVE"),
        format!("{:x}", unit_capabilities(&pair.host)),
        "the agent runs with exactly the unit's CapabilityBoundingSet: {change}"
    );
    // tracing-journald's fields, upper-cased behind an `F_` prefix: what
    // `journalctl -u twinstar F_INSTANCE=web` selects.
    assert_eq!(
        text(&change, "F_INSTANCE"),
        "web",
        "the instance name: {change}"
    );
    assert_eq!(text(&change, "F_FROM"), "backup", "{change}");

    let warning = find("a warning for the failing on_backup hook", &|e| {
        text(e, "SYSLOG_IDENTIFIER") == "twinstar" && text(e, "MESSAGE").contains("hook failed")
    });
    assert_eq!(
        text(&warning, "PRIORITY"),
        "4",
        "warnings have PRIORITY 4: {warning}"
    );
    assert!(
        text(&warning, "MESSAGE").contains("on_backup hook says no"),
        "the warning quotes the hook's last line: {warning}"
    );

    // logger(1) sends one datagram and exits; journald attributes a line to
    // the sender's unit only if the sender still lives when the line is read,
    // so a hook's line is looked up by its tag (`journalctl -t`), not `-u`.
    let mut hook_lines = Vec::new();
    poll_systemd(MARGIN, || {
        hook_lines = pair.host.journal_tagged("twinstar-hook");
        hook_lines
            .iter()
            .any(|e| text(e, "MESSAGE").contains("web is now master"))
    });
    let hook = hook_lines
        .iter()
        .find(|e| text(e, "MESSAGE").contains("web is now master"))
        .unwrap_or_else(|| {
            panic!(
                "journal: no \"web is now master\" line from the on_change hook (tag \
                 twinstar-hook) within {MARGIN:?}; lines: {hook_lines:?}\n{}",
                pair.logs()
            )
        });
    for line in &hook_lines {
        assert!(
            text(line, "MESSAGE").ends_with("as twinstar") && text(line, "_UID") == uid,
            "hooks run as the twinstar user (uid {uid}): {line}"
        );
    }
    let in_unit = hook_lines
        .iter()
        .filter(|e| text(e, "_SYSTEMD_UNIT") == "twinstar.service")
        .count();
    println!(
        "journal: F_INSTANCE=web, PRIORITY {} for info and 4 for warnings; hook line {:?} \
         (uid {uid}); {in_unit} of {} hook lines attributed to twinstar.service",
        text(&change, "PRIORITY"),
        text(hook, "MESSAGE"),
        hook_lines.len()
    );
}

/// The capability mask of the installed unit's `CapabilityBoundingSet=`, as
/// the journal's `_CAP_EFFECTIVE` shows it (capability numbers from
/// <linux/capability.h>).
fn unit_capabilities(host: &SystemdHost) -> u64 {
    let unit = host.run_ok("cat", &["/usr/lib/systemd/system/twinstar.service"]);
    let names = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit has a CapabilityBoundingSet=");
    names
        .split_whitespace()
        .map(|name| match name {
            "CAP_CHOWN" => 0,
            "CAP_DAC_OVERRIDE" => 1,
            "CAP_KILL" => 5,
            "CAP_SETGID" => 6,
            "CAP_SETUID" => 7,
            "CAP_NET_BIND_SERVICE" => 10,
            "CAP_NET_ADMIN" => 12,
            "CAP_NET_RAW" => 13,
            "CAP_SYS_NICE" => 23,
            other => panic!("unexpected capability {other} in the unit"),
        })
        .fold(0, |mask, bit| mask | 1u64 << bit)
}
