//! Operator requests the agent decides: switchover and maintenance, and the
//! one-line summary for `systemctl status`.

use std::time::Instant;

use tracing::info;

use super::{Agent, Effect};
use crate::control::Response;
use crate::vrrp::{Event, State};

impl Agent {
    /// Hands `name`'s Master role to the best Backup now (priority 0); this
    /// host then follows the new Master instead of preempting it. Without
    /// `force`, refused when no other router has been heard.
    pub fn switchover(&mut self, now: Instant, name: &str, force: bool) -> Response {
        let Some(index) = self.instances.iter().position(|i| i.config.name == name) else {
            return Response::failed(format!("no instance named {name:?}"));
        };
        let instance = &self.instances[index];
        let state = instance.router.state();
        if state != State::Master {
            return Response::failed(format!(
                "{name} is {state} here, not Master; run the switchover on the Master"
            ));
        }
        if instance.router.last_peer().is_none() && !force {
            return Response::failed(format!(
                "no other router has been heard on {name} (vrid {}) since this agent started, \
                 so nobody may be there to take over; use --force to resign anyway",
                instance.config.vrid
            ));
        }
        let transitions = self.instances[index].handle(now, Event::Switchover, &mut self.out);
        self.after_transitions(index, transitions, now);
        self.deadline_cache = None;
        self.settle(now);
        info!(instance = name, "switchover: resigned as Master");
        Response::done(format!(
            "{name}: resigned with priority 0; the best Backup takes over within its Skew_Time, \
             and this host follows it until it fails"
        ))
    }

    /// Maintenance on or off for one instance, or for every instance when
    /// `name` is `None`. The set is persisted through
    /// [`Effect::SaveMaintenance`].
    pub fn set_maintenance(&mut self, now: Instant, on: bool, name: Option<&str>) -> Response {
        let targets: Vec<usize> = match name {
            Some(name) => match self.instances.iter().position(|i| i.config.name == name) {
                Some(index) => vec![index],
                None => return Response::failed(format!("no instance named {name:?}")),
            },
            None if self.instances.is_empty() => {
                return Response::done(format!(
                    "maintenance {}: no instances are configured",
                    if on { "on" } else { "off" }
                ));
            }
            None => (0..self.instances.len()).collect(),
        };
        let mut names = Vec::new();
        for index in targets {
            let instance_name = self.instances[index].config.name.clone();
            if on {
                self.maintenance.insert(instance_name.clone());
            } else {
                self.maintenance.remove(&instance_name);
            }
            let transitions =
                self.instances[index].handle(now, Event::Maintenance(on), &mut self.out);
            self.after_transitions(index, transitions, now);
            names.push(instance_name);
        }
        self.out.status_dirty = true;
        self.deadline_cache = None;
        self.settle(now);
        self.out.push(Effect::SaveMaintenance(
            self.maintenance.iter().cloned().collect(),
        ));
        let word = if on { "on" } else { "off" };
        info!(instances = ?names, "maintenance {word}");
        Response::done(format!("maintenance {word}: {}", names.join(", ")))
    }

    /// A one-line summary for `systemctl status`.
    pub fn summary_line(&self) -> String {
        let count = |state: State| {
            self.instances
                .iter()
                .filter(|i| i.router.state() == state)
                .count()
        };
        if self.instances.is_empty() {
            return "no instances configured; holding no virtual IP".to_owned();
        }
        if self.instances.len() <= 4 {
            let parts: Vec<String> = self
                .instances
                .iter()
                .map(|i| {
                    let mut part = format!("{} {}", i.config.name, i.router.state());
                    if i.router.maintenance() {
                        part.push_str(" (maintenance)");
                    }
                    part
                })
                .collect();
            return parts.join(", ");
        }
        format!(
            "{} instances: {} master, {} backup, {} fault",
            self.instances.len(),
            count(State::Master),
            count(State::Backup),
            count(State::Fault)
        )
    }
}
