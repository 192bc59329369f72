//! keepalived's notify scripts as twinstar hooks.
//!
//! `notify_master`, `notify_backup`, `notify_fault` and `notify_stop` are run
//! by keepalived with no arguments of its own, so they map to `on_master`,
//! `on_backup`, `on_fault` and `on_stop` unchanged (twinstar appends
//! `INSTANCE NEW_STATE OLD_STATE PRIORITY`, which such scripts ignore).
//! `notify` gets `INSTANCE|GROUP NAME STATE PRIORITY` after its own arguments,
//! STATE in capitals; twinstar's `on_change` runs after every transition like
//! it, so it maps to a shell line that calls the script with keepalived's
//! arguments: the script needs no change.

use super::super::lexer::Location;
use super::super::out::CommandOut;
use super::super::report::Finding;
use super::super::tree::Statement;
use super::values::split_command;

/// Whether a hook belongs to an instance or a sync group (keepalived's first
/// `notify` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A `vrrp_instance`.
    Instance,
    /// A `vrrp_sync_group`.
    Group,
}

/// The twinstar hook key of a keepalived notify keyword, if it has one.
pub fn hook_key(keyword: &str) -> Option<&'static str> {
    Some(match keyword {
        "notify_master" => "on_master",
        "notify_backup" => "on_backup",
        "notify_fault" => "on_fault",
        "notify_stop" => "on_stop",
        "notify" => "on_change",
        _ => return None,
    })
}

/// The hook for `statement` (a notify keyword), reporting what cannot be
/// carried over; `script_user` is the user every twinstar hook runs as.
pub fn hook(
    statement: &Statement,
    owner: Owner,
    script_user: &str,
    findings: &mut Vec<Finding>,
) -> Option<(&'static str, CommandOut)> {
    let key = hook_key(&statement.keyword)?;
    let Some(script) = statement.first_arg() else {
        findings.push(Finding::unmapped(
            &statement.at,
            &statement.keyword,
            "names no script; left out",
        ));
        return None;
    };
    let argv = split_command(script);
    if argv.is_empty() {
        findings.push(Finding::unmapped(
            &statement.at,
            &statement.keyword,
            "empty script; left out",
        ));
        return None;
    }
    check_user(
        &statement.at,
        &statement.keyword,
        statement.args.get(1).map(|w| w.text.as_str()),
        script_user,
        findings,
    );
    if key != "on_change" {
        return Some((key, CommandOut::Argv(argv)));
    }
    let owner_word = match owner {
        Owner::Instance => "INSTANCE",
        Owner::Group => "GROUP",
    };
    let call: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
    findings.push(Finding::note(
        &statement.at,
        &statement.keyword,
        "became on_change through a shell line that passes keepalived's arguments \
         (INSTANCE|GROUP NAME STATE PRIORITY, STATE in capitals, STOP on stop); \
         the script need not change",
    ));
    Some((
        key,
        CommandOut::Shell(format!(
            "case \"$2\" in initialize) s=STOP ;; *) s=$(printf %s \"$2\" | tr a-z A-Z) ;; esac; \
             exec {} {owner_word} \"$1\" \"$s\" \"$4\"",
            call.join(" ")
        )),
    ))
}

/// Reports a per-script user that differs from `script_user`: twinstar runs
/// every script and hook as the one `script_user`.
pub fn check_user(
    at: &Location,
    keyword: &str,
    user: Option<&str>,
    script_user: &str,
    findings: &mut Vec<Finding>,
) {
    if let Some(user) = user.filter(|u| *u != script_user) {
        findings.push(Finding::unmapped(
            at,
            keyword,
            format!(
                "runs as `{user}` in keepalived; twinstar runs every script and hook as \
                 script_user (`{script_user}`)"
            ),
        ));
    }
}

/// Sets a hook; keepalived keeps the last of a repeated notify keyword, and so
/// does the import.
pub fn set_hook(
    hooks: &mut Vec<(&'static str, CommandOut)>,
    (key, command): (&'static str, CommandOut),
    item: &Statement,
    findings: &mut Vec<Finding>,
) {
    if let Some(slot) = hooks.iter_mut().find(|(k, _)| *k == key) {
        findings.push(Finding::note(
            &item.at,
            &item.keyword,
            "given twice; the last one is kept, as keepalived does",
        ));
        slot.1 = command;
    } else {
        hooks.push((key, command));
    }
}

/// `text` single-quoted for /bin/sh.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::lexer::{Location, Word};
    use std::path::PathBuf;
    use std::sync::Arc;

    fn statement(keyword: &str, args: &[&str]) -> Statement {
        Statement {
            at: Location {
                file: Arc::new(PathBuf::from("k.conf")),
                line: 7,
            },
            keyword: keyword.into(),
            args: args
                .iter()
                .map(|a| Word {
                    text: a.to_string(),
                    quoted: false,
                })
                .collect(),
            block: None,
        }
    }

    #[test]
    fn state_scripts_keep_their_arguments() {
        let mut findings = Vec::new();
        let s = statement("notify_master", &["/usr/local/bin/promote.sh --now"]);
        assert_eq!(
            hook(&s, Owner::Instance, "root", &mut findings),
            Some((
                "on_master",
                CommandOut::Argv(vec!["/usr/local/bin/promote.sh".into(), "--now".into()])
            ))
        );
        assert!(findings.is_empty());
    }

    #[test]
    fn notify_is_called_with_keepalived_arguments() {
        let mut findings = Vec::new();
        let s = statement("notify", &["/etc/keepalived/notify.sh"]);
        let Some(("on_change", CommandOut::Shell(line))) =
            hook(&s, Owner::Group, "root", &mut findings)
        else {
            panic!("not a shell on_change")
        };
        // Run it as twinstar would: sh -c LINE ARG0 NAME NEW OLD PRIORITY.
        let out = std::process::Command::new("/bin/sh")
            .args([
                "-c",
                &line.replace("exec '/etc/keepalived/notify.sh'", "echo"),
                "twinstar",
                "db",
                "master",
                "backup",
                "150",
            ])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "GROUP db MASTER 150\n"
        );
        let out = std::process::Command::new("/bin/sh")
            .args([
                "-c",
                &line.replace("exec '/etc/keepalived/notify.sh'", "echo"),
                "twinstar",
                "db",
                "initialize",
                "master",
                "0",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "GROUP db STOP 0\n");
    }

    #[test]
    fn another_user_is_reported() {
        let mut findings = Vec::new();
        let s = statement("notify_backup", &["/bin/x", "postgres"]);
        assert!(hook(&s, Owner::Instance, "root", &mut findings).is_some());
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0]
                .to_string()
                .starts_with("k.conf:7: notify_backup: runs as `postgres`"),
            "{}",
            findings[0]
        );
    }
}
