//! Reload (SIGHUP), status snapshots and shutdown: the daemon's life-cycle edges.

use std::collections::HashMap;
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
    /// Re-reads the configuration and applies only what changed: unchanged
    /// instances are not touched; changed ones are reconfigured in place (VIP
    /// lists by their difference) unless their identity changed; removed ones
    /// resign with a priority-0 advert. A bad file changes nothing and its
    /// errors are returned.
    pub(super) async fn reload(&mut self) -> Result<String, Vec<String>> {
        self.notifier.reloading();
        let result = self.apply_reload().await;
        let line = self.summary_line();
        self.notifier.ready(&line);
        match &result {
            Ok(summary) => info!("configuration reloaded: {summary}"),
            Err(errors) => error!(
                "reload rejected, keeping the running configuration:\n{}",
                errors.join("\n")
            ),
        }
        result
    }

    async fn apply_reload(&mut self) -> Result<String, Vec<String>> {
        let new = config::load(&self.options.config_path)
            .map_err(|errors| errors.0.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
        let run_as = if new.script_user == self.config.script_user {
            self.tracking.run_as()
        } else {
            Arc::new(
                RunAs::resolve(&new.script_user).map_err(|e| vec![format!("script_user: {e}")])?,
            )
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
        let now = Instant::now();
        let (mut kept, mut reconfigured, mut retired) = (Vec::new(), 0, Vec::new());
        for mut instance in std::mem::take(&mut self.instances) {
            let wanted = new
                .instances
                .iter()
                .find(|c| c.name == instance.config.name);
            match wanted {
                Some(c) if *c == instance.config => kept.push(instance),
                Some(c) if instance.reconfigure(c.clone()) => {
                    reconfigured += 1;
                    kept.push(instance);
                }
                _ => retired.push(instance),
            }
        }
        let stopped = retired.len();
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
        let starting: Vec<config::Instance> = new
            .instances
            .iter()
            .filter(|c| !self.instances.iter().any(|i| i.config.name == c.name))
            .cloned()
            .collect();
        self.config = new;
        let (mut started, mut failed) = (0, Vec::new());
        for config in starting {
            let name = config.name.clone();
            match self.start_instance(config).await {
                Ok(()) => started += 1,
                Err(e) => {
                    error!(instance = %name, "reload: cannot start instance: {e}");
                    failed.push(format!("{name}: {e}"));
                }
            }
        }
        self.reassess(Instant::now());
        self.refresh_groups();
        self.status_dirty = true;
        let unchanged = self.instances.len() - started - reconfigured;
        let mut summary = format!(
            "{unchanged} unchanged, {reconfigured} reconfigured, {started} started, {stopped} stopped"
        );
        if !failed.is_empty() {
            summary.push_str(&format!("; failed to start: {}", failed.join("; ")));
        }
        Ok(summary)
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
        let document = self.build_document(&HashMap::new(), now);
        if let Err(e) = status::write(&self.options.runtime_dir, &document) {
            warn!(
                "writing {} failed: {e}",
                status::path(&self.options.runtime_dir).display()
            );
        }
        if self.metrics_served.is_some() {
            self.metrics.update(document);
        }
        let line = self.summary_line();
        self.notifier.status(&line);
        self.status_dirty = false;
    }

    /// After resigning, keeps serving the VIPs until each new Master speaks
    /// (or its deadline passes), so a graceful stop loses no client packet.
    async fn await_handovers(&mut self) {
        loop {
            let Some(deadline) = self
                .instances
                .iter()
                .filter_map(|i| i.handover_deadline())
                .min()
            else {
                return;
            };
            tokio::select! {
                Some(datagram) = self.datagrams_rx.recv() => self.on_datagram(datagram),
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    for instance in &mut self.instances {
                        if instance.handover_deadline().is_some_and(|t| t <= now) {
                            instance.finish_handover();
                        }
                    }
                }
            }
        }
    }

    /// Resign everywhere (priority 0 from Masters), then wait for VIP removal
    /// and the hooks that stopping queued.
    pub(super) async fn shutdown(mut self) {
        self.notifier.stopping();
        if let Some(control) = self.control.take() {
            control.close();
        }
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
        self.await_handovers().await;
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
