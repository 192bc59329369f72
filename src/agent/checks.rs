//! The latest result of every tracked object, as the agent knows it: monitor
//! reports and link events come in, state changes go out as events. The
//! monitors themselves run in the daemon (`track/`).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use tracing::info;

use super::health::CheckState;
use crate::config::{Check, CheckKind, Config};
use crate::control::status::CheckStatus;
use crate::notify::record::CheckEvent;
use crate::track::monitor::CheckUpdate;

/// Every configured check and its latest state.
#[derive(Debug, Default)]
pub struct CheckStates {
    /// Latest state per check name.
    pub states: HashMap<String, CheckState>,
    /// The checks as configured, by name (sorted for status).
    checks: BTreeMap<String, Check>,
}

impl CheckStates {
    /// Brings the set of checks in line with `config`: unchanged checks keep
    /// their state, changed and removed ones lose it. `links` holds the
    /// current state of the interfaces that `interface` checks watch.
    pub fn configure(
        &mut self,
        config: &Config,
        links: &HashMap<String, bool>,
        now: Instant,
    ) -> Vec<CheckEvent> {
        let wanted: BTreeMap<String, Check> = config
            .checks
            .iter()
            .map(|c| (c.name.clone(), c.clone()))
            .collect();
        self.checks.retain(|name, check| {
            let keep = wanted.get(name) == Some(check);
            if !keep {
                self.states.remove(name);
            }
            keep
        });
        let mut events = Vec::new();
        for (name, check) in wanted {
            if self.checks.contains_key(&name) {
                continue;
            }
            if let CheckKind::Interface(ifname) = &check.kind {
                let up = links.get(ifname).copied().unwrap_or(false);
                events.extend(self.set(&name, up, 0, link_detail(ifname, up), None, now));
            }
            self.checks.insert(name, check);
        }
        events
    }

    /// Records a monitor's result; returns the event to publish if anything changed.
    pub fn on_update(&mut self, update: CheckUpdate, now: Instant) -> Option<CheckEvent> {
        if !self.checks.contains_key(&update.check) {
            return None; // From a monitor stopped by a reload.
        }
        self.set(
            &update.check,
            update.up,
            update.value,
            update.detail,
            update.last_output,
            now,
        )
    }

    /// Follows a link event for `interface` checks; returns events for changes.
    pub fn on_link(&mut self, ifname: &str, up: bool, now: Instant) -> Vec<CheckEvent> {
        let names: Vec<String> = self
            .checks
            .values()
            .filter(|c| matches!(&c.kind, CheckKind::Interface(i) if i == ifname))
            .map(|c| c.name.clone())
            .collect();
        names
            .iter()
            .filter_map(|name| self.set(name, up, 0, link_detail(ifname, up), None, now))
            .collect()
    }

    fn set(
        &mut self,
        name: &str,
        up: bool,
        value: i64,
        detail: String,
        last_output: Option<String>,
        now: Instant,
    ) -> Option<CheckEvent> {
        let state = self.states.entry(name.to_owned()).or_default();
        let changed = state.up != Some(up) || state.value != value;
        if changed {
            state.since = Some(now);
            info!(check = name, up, value, detail = %detail, "check changed");
        }
        state.up = Some(up);
        state.value = value;
        state.detail = detail;
        if last_output.is_some() {
            state.last_output = last_output;
        }
        changed.then(|| CheckEvent {
            check: name.to_owned(),
            up,
            value,
            detail: state.detail.clone(),
            output: state.last_output.clone(),
        })
    }

    /// Status of every check: kind, target, result, last output, age of the result.
    pub fn status(&self, now: Instant) -> Vec<CheckStatus> {
        self.checks
            .iter()
            .map(|(name, check)| {
                let state = self.states.get(name).cloned().unwrap_or_default();
                CheckStatus {
                    name: name.clone(),
                    kind: check.kind.key().to_owned(),
                    target: target(&check.kind),
                    up: state.up,
                    value: state.value,
                    detail: state.detail,
                    last_output: state.last_output,
                    since_change_ms: state
                        .since
                        .map(|t| now.saturating_duration_since(t).as_millis() as u64),
                }
            })
            .collect()
    }
}

fn link_detail(ifname: &str, up: bool) -> String {
    if up {
        format!("{ifname} has carrier")
    } else {
        format!("{ifname} is down or missing")
    }
}

/// What a check looks at, for status output.
fn target(kind: &CheckKind) -> String {
    match kind {
        CheckKind::Script(command) => command.to_string(),
        CheckKind::Interface(name) => name.clone(),
        CheckKind::File(path) => path.display().to_string(),
        CheckKind::Process { name, .. } => name.clone(),
        CheckKind::Tcp(addr) => addr.to_string(),
        CheckKind::Http(http) => http.url.clone(),
        CheckKind::Ping(addr) => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use std::time::Duration;

    const CONFIG: &str = "checks:\n  - name: svc\n    script: 'true'\n  \
                          - name: uplink\n    interface: eth1\ninstances: []\n";

    fn update(check: &str, up: bool, value: i64, output: Option<&str>) -> CheckUpdate {
        CheckUpdate {
            check: check.to_owned(),
            up,
            value,
            detail: format!("up {up}"),
            last_output: output.map(str::to_owned),
        }
    }

    #[test]
    fn interface_checks_start_from_the_link_and_follow_it() {
        let config = parse_str(CONFIG, "t.yaml").expect("valid");
        let t0 = Instant::now();
        let mut checks = CheckStates::default();
        let links = [("eth1".to_owned(), true)].into_iter().collect();
        let events = checks.configure(&config, &links, t0);
        assert_eq!(events.len(), 1);
        assert_eq!(
            (
                events[0].check.as_str(),
                events[0].up,
                events[0].detail.as_str()
            ),
            ("uplink", true, "eth1 has carrier")
        );
        assert_eq!(checks.states["uplink"].up, Some(true));
        assert!(checks.configure(&config, &links, t0).is_empty(), "kept");
        assert!(checks.on_link("eth0", false, t0).is_empty(), "not watched");
        let down = checks.on_link("eth1", false, t0);
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].detail, "eth1 is down or missing");
        assert!(checks.on_link("eth1", false, t0).is_empty(), "no change");
        let fewer = parse_str("instances: []\n", "t.yaml").expect("valid");
        checks.configure(&fewer, &links, t0);
        assert!(checks.states.is_empty(), "removed checks lose their state");
        assert!(checks.status(t0).is_empty());
    }

    #[test]
    fn updates_report_changes_only_and_keep_the_last_output() {
        let config = parse_str(CONFIG, "t.yaml").expect("valid");
        let t0 = Instant::now();
        let mut checks = CheckStates::default();
        checks.configure(&config, &HashMap::new(), t0);
        assert!(checks
            .on_update(update("other", true, 0, None), t0)
            .is_none());
        let first = checks
            .on_update(update("svc", true, 0, Some("fine")), t0)
            .expect("first result");
        assert_eq!(first.output.as_deref(), Some("fine"));
        let t1 = t0 + Duration::from_secs(3);
        assert!(checks.on_update(update("svc", true, 0, None), t1).is_none());
        assert!(checks.on_update(update("svc", true, 2, None), t1).is_some());
        assert!(checks
            .on_update(update("svc", false, 2, None), t1)
            .is_some());
        let status = checks.status(t1 + Duration::from_secs(1));
        let svc = status.iter().find(|c| c.name == "svc").expect("svc");
        assert_eq!(svc.kind, "script");
        assert_eq!(svc.target, "true");
        assert_eq!(svc.up, Some(false));
        assert_eq!(svc.value, 2);
        assert_eq!(svc.last_output.as_deref(), Some("fine"));
        assert_eq!(svc.since_change_ms, Some(1000));
        let uplink = status.iter().find(|c| c.name == "uplink").expect("uplink");
        assert_eq!((uplink.target.as_str(), uplink.up), ("eth1", Some(false)));
    }
}
