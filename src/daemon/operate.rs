//! Operator requests from the control socket: status, switchover, maintenance
//! and reload; and the maintenance state kept in the runtime directory so that
//! it survives a restart.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::{status, Daemon};
use crate::control::status::GroupStatus;
use crate::control::{Request, Response, Status};
use crate::vrrp::{Event, State};

/// The file holding the names of the instances in maintenance mode.
pub fn maintenance_path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("maintenance.json")
}

/// Reads the maintenance set; a missing or unreadable file means none.
pub fn load_maintenance(runtime_dir: &Path) -> HashSet<String> {
    let path = maintenance_path(runtime_dir);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return HashSet::new();
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(value) => value["instances"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        Err(e) => {
            warn!("ignoring {}: {e}", path.display());
            HashSet::new()
        }
    }
}

impl Daemon {
    /// Answers one control request.
    pub(super) async fn on_control(&mut self, request: Request, reply: oneshot::Sender<Response>) {
        let response = match request {
            Request::Status => Response {
                ok: true,
                status: Some(self.status_document(true).await),
                ..Response::default()
            },
            Request::Switchover { instance, force } => self.switchover(&instance, force),
            Request::Maintenance { on, instance } => self.set_maintenance(on, instance.as_deref()),
            Request::Reload => match self.reload().await {
                Ok(summary) => Response::done(summary),
                Err(errors) => Response {
                    ok: false,
                    error: Some("the configuration is invalid; nothing was changed".into()),
                    errors,
                    ..Response::default()
                },
            },
        };
        // The client may have gone; then nobody needs the answer.
        let _ = reply.send(response);
    }

    /// The status document. With `verify`, VIP presence is read from the
    /// kernel (what an operator asks for); otherwise it is what the address
    /// workers applied (cheap, for the status file written on every change).
    pub(super) async fn status_document(&mut self, verify: bool) -> Status {
        let now = Instant::now();
        let mut on_link: HashMap<u32, Vec<IpAddr>> = HashMap::new();
        if verify {
            let interfaces: BTreeSet<u32> = self.instances.iter().map(|i| i.ifindex).collect();
            for ifindex in interfaces {
                match self.netlink.addresses(ifindex).await {
                    Ok(list) => {
                        on_link.insert(ifindex, list.iter().map(|a| a.address).collect());
                    }
                    Err(e) => warn!("status: listing addresses failed: {e}"),
                }
            }
        }
        self.build_document(&on_link, now)
    }

    /// The status document, with VIP presence from `on_link` where known and
    /// from the address workers otherwise.
    pub(super) fn build_document(
        &self,
        on_link: &HashMap<u32, Vec<IpAddr>>,
        now: Instant,
    ) -> Status {
        let present = |ifindex: u32, addr: IpAddr, applied: bool| match on_link.get(&ifindex) {
            Some(list) => list.contains(&addr),
            None => applied,
        };
        let sync_groups = self
            .groups
            .iter()
            .map(|g| GroupStatus {
                name: g.config.name.clone(),
                state: g.state,
                instances: g.config.instances.clone(),
            })
            .collect();
        Status {
            checks: self.tracking.status(now),
            sync_groups,
            ..status::snapshot(self.instances.iter(), &self.drops, now, &present)
        }
    }

    fn switchover(&mut self, name: &str, force: bool) -> Response {
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
        let now = Instant::now();
        let transitions = self.instances[index].handle(now, Event::Switchover);
        self.after_transitions(index, transitions, now);
        info!(instance = name, "switchover: resigned as Master");
        Response::done(format!(
            "{name}: resigned with priority 0; the best Backup takes over within its Skew_Time, \
             and this host follows it until it fails"
        ))
    }

    fn set_maintenance(&mut self, on: bool, name: Option<&str>) -> Response {
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
        let now = Instant::now();
        let mut names = Vec::new();
        for index in targets {
            let instance_name = self.instances[index].config.name.clone();
            if on {
                self.maintenance.insert(instance_name.clone());
            } else {
                self.maintenance.remove(&instance_name);
            }
            let transitions = self.instances[index].handle(now, Event::Maintenance(on));
            self.after_transitions(index, transitions, now);
            names.push(instance_name);
        }
        self.status_dirty = true;
        let word = if on { "on" } else { "off" };
        info!(instances = ?names, "maintenance {word}");
        if let Err(e) = self.save_maintenance() {
            return Response::failed(format!(
                "maintenance {word} for {} now, but it will not survive a restart: {e}",
                names.join(", ")
            ));
        }
        Response::done(format!("maintenance {word}: {}", names.join(", ")))
    }

    /// Writes the maintenance set atomically.
    fn save_maintenance(&self) -> std::io::Result<()> {
        let path = maintenance_path(&self.options.runtime_dir);
        let mut names: Vec<&String> = self.maintenance.iter().collect();
        names.sort();
        let text = serde_json::json!({ "instances": names }).to_string();
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    }

    /// A one-line summary for `systemctl status`.
    pub(super) fn summary_line(&self) -> String {
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
