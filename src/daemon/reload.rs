//! Reload (SIGHUP), status snapshots and shutdown: the daemon's life-cycle edges.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::events::EventStream;
use super::instance::InstanceRuntime;
use super::receive::SocketKey;
use super::{status, Daemon};
use crate::config;
use crate::track::run_as::RunAs;
use crate::vrrp::Event;

impl Daemon {
    /// SIGHUP: re-read the config. Unchanged instances are not touched at all;
    /// removed ones resign; changed ones restart; a bad file changes nothing.
    pub(super) async fn reload(&mut self) {
        let new = match config::load(&self.options.config_path) {
            Ok(new) => new,
            Err(errors) => {
                error!("reload rejected, keeping the running configuration:\n{errors}");
                return;
            }
        };
        let run_as = if new.script_user == self.config.script_user {
            self.tracking.run_as()
        } else {
            match RunAs::resolve(&new.script_user) {
                Ok(run_as) => Arc::new(run_as),
                Err(e) => {
                    error!("reload rejected, keeping the running configuration: script_user: {e}");
                    return;
                }
            }
        };
        if new.events != self.config.events {
            match EventStream::open(&new.events) {
                Ok(events) => {
                    let old = std::mem::replace(&mut self.events, events);
                    old.close(Duration::from_millis(200)).await;
                }
                Err(e) => error!("reload: keeping the old event sinks: {e}"),
            }
        }
        self.tracking.configure(&new, run_as, &self.netlink).await;
        let mut kept = Vec::new();
        let mut retired = Vec::new();
        for instance in std::mem::take(&mut self.instances) {
            if new.instances.contains(&instance.config) {
                kept.push(instance);
            } else {
                retired.push(instance);
            }
        }
        let now = Instant::now();
        for mut instance in retired {
            info!(instance = %instance.config.name, "reload: stopping instance");
            for t in instance.handle(now, Event::Shutdown) {
                self.publish_transition(&instance.config.name, instance.router.priority(), &t);
            }
            instance.finish().await;
        }
        self.instances = kept;
        self.reindex();
        if new.sync_groups != self.config.sync_groups {
            for group in std::mem::take(&mut self.groups) {
                group.finish().await;
            }
            self.start_groups(&new);
        }
        let (mut added, mut failed) = (0, 0);
        let starting: Vec<config::Instance> = new
            .instances
            .iter()
            .filter(|c| !self.instances.iter().any(|i| i.config == **c))
            .cloned()
            .collect();
        self.config = new;
        for config in starting {
            let name = config.name.clone();
            match self.start_instance(config).await {
                Ok(()) => added += 1,
                Err(e) => {
                    failed += 1;
                    error!(instance = %name, "reload: cannot start instance: {e}");
                }
            }
        }
        self.reassess(Instant::now());
        self.refresh_groups();
        info!(
            kept = self.instances.len() - added,
            started = added,
            failed,
            "configuration reloaded"
        );
        self.status_dirty = true;
    }

    pub(super) fn reindex(&mut self) {
        self.by_vrid = self
            .instances
            .iter()
            .enumerate()
            .map(|(index, i)| {
                let key = SocketKey {
                    ifindex: i.ifindex,
                    ipv6: i.socket.source().is_ipv6(),
                };
                ((key, i.config.vrid), index)
            })
            .collect();
    }

    pub(super) fn write_status(&mut self) {
        let now = Instant::now();
        let mut snapshot = status::snapshot(self.instances.iter(), &self.drops, now);
        snapshot["checks"] = self.tracking.status(now).into();
        snapshot["sync_groups"] = self
            .groups
            .iter()
            .map(|g| {
                serde_json::json!({
                    "name": g.config.name,
                    "state": g.state.as_str(),
                    "instances": g.config.instances,
                })
            })
            .collect::<Vec<_>>()
            .into();
        if let Err(e) = status::write(&self.options.runtime_dir, &snapshot) {
            warn!(
                "writing {} failed: {e}",
                status::path(&self.options.runtime_dir).display()
            );
        }
        self.status_dirty = false;
    }

    /// Resign everywhere (priority 0 from Masters), then wait for VIP removal
    /// and the hooks that stopping queued.
    pub(super) async fn shutdown(mut self) {
        let now = Instant::now();
        for index in 0..self.instances.len() {
            let transitions = self.instances[index].handle(now, Event::Shutdown);
            let instance = &self.instances[index];
            for t in &transitions {
                self.publish_transition(&instance.config.name, instance.router.priority(), t);
            }
        }
        self.refresh_groups();
        self.write_status();
        let instances = std::mem::take(&mut self.instances);
        let finishing = instances.into_iter().map(InstanceRuntime::finish);
        let groups = std::mem::take(&mut self.groups);
        let groups = groups.into_iter().map(super::groups::GroupRuntime::finish);
        let all = futures::future::join(
            futures::future::join_all(finishing),
            futures::future::join_all(groups),
        );
        if tokio::time::timeout(Duration::from_secs(30), all)
            .await
            .is_err()
        {
            warn!("virtual IP removal and stop hooks did not finish within 30 s");
        }
        // The stop hooks have reported by now; publish them before closing.
        while let Ok(report) = self.hook_reports_rx.try_recv() {
            self.on_hook(report);
        }
        self.events.close(Duration::from_secs(1)).await;
        for (_, (_, reader)) in self.sockets {
            reader.abort();
        }
    }
}
