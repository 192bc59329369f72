//! The control protocol: one JSON request per connection, one JSON response.
//!
//! A client connects to `<runtime-dir>/control.sock`, writes one request object
//! on one line, and reads one response object on one line; then the agent
//! closes the connection. The request's `verb` selects the operation:
//!
//! | request | effect |
//! |---|---|
//! | `{"verb":"status"}` | `status` holds the status document (see below) |
//! | `{"verb":"switchover","instance":"web","wait":true}` | the Master of an instance or of every member of a sync group resigns now (priority 0), keeping its VIPs until the new Master speaks; it does not preempt the new Master; nobody within Master_Down_Interval: Master again, VIPs never removed |
//! | `{"verb":"maintenance","on":true,"instance":"web","wait":true,"force":false}` | stay Backup (leave Master first, as a switchover); `instance` omitted or null: every instance; nobody takes over a Master: maintenance withdrawn, it stays Master, unless `force` |
//!
//! With `wait` (default false) the answer comes once the handover has its
//! outcome — every new Master heard (`message` names them and the time from
//! the resignation to each one's first advert) or nobody within
//! Master_Down_Interval (`ok` false, `error` says what this host does now) —
//! so the connection stays open up to Master_Down_Interval. Without it the
//! answer comes at once and the outcome goes to the status (`last_handover`)
//! and the event stream (`type: handover`).
//! | `{"verb":"reload"}` | re-read the configuration; on errors `errors` lists them and nothing changes |
//!
//! Every response has `ok`; on failure `error` says why (and `errors` lists
//! configuration errors for `reload`); `message` is a one-line summary for
//! people. Unknown fields are ignored so that old clients keep working.
//!
//! The status document ([`Status`]) is the same JSON as
//! `<runtime-dir>/status.json`: `pid`, `instances` (per instance: `name`,
//! `interface`, `vrid`, `state`, `priority` (effective), `base_priority`,
//! `priority_reasons`, `fault_reasons`, `track` (`check`, `weight`), `source`,
//! `mode` (`multicast` or `unicast`), `advert_destinations` (the group, or
//! each unicast peer), `vrrp_version` (`3`, `2` or `both`), `master` (`address`, `priority`, or null), `advert_interval_ms`,
//! `master_adver_interval_ms`, `since_transition_ms`, `maintenance`,
//! `switchover_hold`, `last_handover` (`kind`, `outcome`, `new_master`,
//! `elapsed_ms`, or null), `last_peer` (`address`, `seen_ms_ago`, or null),
//! `virtual_ips` (`address`, `present`, and `interface` when the VIP lives
//! on another interface than the adverts), `counters` (`adverts_received`,
//! `adverts_sent`, `priority_zero_received`, `priority_zero_sent`,
//! `interval_mismatches`, `master_transitions`, `send_errors`,
//! `answers_withheld`, `address_repairs`, and `fence_failures` once non-zero)
//! and, while a Backup waits for permission to become Master,
//! `waiting_for_mastership`), `checks`
//! (`name`, `kind`, `target`, `up`, `value`, `detail`, `last_output`,
//! `since_change_ms`), `sync_groups` (`name`, `state`, `instances`),
//! `dropped` (interface → reason → count) and, with `quorum` configured,
//! `quorum` (per key: `key`, `state`, `holder`, `valid_for_ms`,
//! `last_renewal_latency_ms`, `denied`, `lost`, `unreachable`). A test checks
//! that this list names every key of the document.

use serde::{Deserialize, Serialize};

use super::status::Status;

/// The socket's file name under the runtime directory.
pub const CONTROL_SOCKET: &str = "control.sock";

/// A request to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "snake_case")]
pub enum Request {
    /// The status document.
    Status,
    /// Hand `instance`'s Master role to the best Backup now.
    Switchover {
        /// The instance or sync group; it must be Master here.
        instance: String,
        /// Answer once the new Master is heard or Master_Down_Interval has
        /// passed, rather than at once.
        #[serde(default)]
        wait: bool,
    },
    /// Maintenance mode on or off: while on, the instance stays Backup.
    Maintenance {
        /// On or off.
        on: bool,
        /// One instance, or every instance when `None`.
        #[serde(default)]
        instance: Option<String>,
        /// As for `Switchover`.
        #[serde(default)]
        wait: bool,
        /// Stay in maintenance even when nobody takes over from a Master
        /// (its VIPs then go, and nobody serves them).
        #[serde(default)]
        force: bool,
    },
    /// Re-read the configuration file.
    Reload,
}

/// The agent's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request was carried out.
    pub ok: bool,
    /// Why not, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Configuration errors (`file:line:col: message`) of a rejected reload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// A one-line summary for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The status document, for `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

impl Response {
    /// Success with a summary line.
    pub fn done(message: impl Into<String>) -> Self {
        Response {
            ok: true,
            message: Some(message.into()),
            ..Response::default()
        }
    }

    /// Failure with a reason.
    pub fn failed(error: impl Into<String>) -> Self {
        Response {
            ok: false,
            error: Some(error.into()),
            ..Response::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_documented_form() {
        let text = serde_json::to_string(&Request::Switchover {
            instance: "web".into(),
            wait: true,
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"verb":"switchover","instance":"web","wait":true}"#
        );
        let parsed: Request = serde_json::from_str(r#"{"verb":"maintenance","on":true}"#).unwrap();
        assert_eq!(
            parsed,
            Request::Maintenance {
                on: true,
                instance: None,
                wait: false,
                force: false,
            }
        );
        // An older client's `force` is ignored: a switchover is never refused.
        let old: Request =
            serde_json::from_str(r#"{"verb":"switchover","instance":"web","force":true}"#).unwrap();
        assert_eq!(
            old,
            Request::Switchover {
                instance: "web".into(),
                wait: false
            }
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"verb":"status","extra":1}"#).unwrap(),
            Request::Status
        );
        assert!(serde_json::from_str::<Request>(r#"{"verb":"explode"}"#).is_err());
    }
}
