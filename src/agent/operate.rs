//! Operator requests the agent decides: switchover and maintenance, and the
//! one-line summary for `systemctl status`. A switchover or `maintenance on`
//! of a Master starts a [`Handover`] that waits for the new Master; its
//! outcome is decided in `handover.rs` and carried out here.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::handover::{Decision, Handover, HandoverKind, Member, MemberView, Ticket};
use super::{Agent, Effect, InstanceId};
use crate::control::Response;
use crate::notify::record::{EventRecord, HandoverEvent};
use crate::vrrp::{Event, State};

/// The agent's answer to a request that may wait for a handover's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The answer, now.
    Now(Response),
    /// The answer comes as [`Effect::Answer`] with this ticket, once the new
    /// Master is heard or Master_Down_Interval has passed.
    Later(Ticket),
}

impl Answer {
    /// Whether the request was accepted (a waiting one always is, so far).
    pub fn accepted(&self) -> bool {
        match self {
            Answer::Now(response) => response.ok,
            Answer::Later(_) => true,
        }
    }
}

/// How a `maintenance on` treats a Master that nobody takes over from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandoverOptions {
    /// Answer once the outcome is known (else at once, the outcome going to
    /// the status and the event stream only).
    pub wait: bool,
    /// Maintenance only: stay in maintenance even when nobody takes over,
    /// letting the virtual IPs go.
    pub force: bool,
}

impl Agent {
    /// Hands the Master role of `name` (an instance, or a sync group: all its
    /// members) to the best Backup: priority-0 advert, the VIPs kept until the
    /// new Master speaks (make before break). Never refused for want of a
    /// Backup heard: Backups are silent, and if nobody takes over within
    /// Master_Down_Interval this host is Master again, its VIPs never removed.
    /// With `wait`, the answer reports that outcome.
    pub fn switchover(&mut self, now: Instant, name: &str, wait: bool) -> Answer {
        let targets: Vec<usize> = match self.instances.iter().position(|i| i.config.name == name) {
            Some(index) => vec![index],
            None => match self.groups.iter().find(|g| g.config.name == name) {
                Some(group) => self
                    .instances
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| group.has(&i.config.name))
                    .map(|(index, _)| index)
                    .collect(),
                None => {
                    return Answer::Now(Response::failed(format!(
                        "no instance or sync group named {name:?}"
                    )))
                }
            },
        };
        let Some(&first) = targets
            .iter()
            .find(|&&i| self.instances[i].router.state() == State::Master)
        else {
            let states: Vec<String> = targets
                .iter()
                .map(|&i| {
                    let i = &self.instances[i];
                    format!("{} is {}", i.config.name, i.router.state())
                })
                .collect();
            return Answer::Now(Response::failed(format!(
                "{} here, not Master; run the switchover on the Master",
                states.join(", ")
            )));
        };
        let masters = self.masters();
        let transitions = self.instances[first].handle(now, Event::Switchover, &mut self.out);
        self.after_transitions(first, transitions, now);
        self.invalidate_deadlines();
        self.settle(now);
        info!(target = name, "switchover: resigned as Master");
        let options = HandoverOptions { wait, force: false };
        self.start_handover(now, HandoverKind::Switchover, Some(name), &masters, options)
    }

    /// Maintenance on or off for one instance, or for every instance when
    /// `name` is `None`. The set is persisted through
    /// [`Effect::SaveMaintenance`]. A Master going into maintenance hands
    /// over as in a switchover; if nobody takes over within
    /// Master_Down_Interval, maintenance is withdrawn and it stays Master,
    /// unless `options.force`.
    pub fn set_maintenance(
        &mut self,
        now: Instant,
        on: bool,
        name: Option<&str>,
        options: HandoverOptions,
    ) -> Answer {
        let targets: Vec<usize> = match name {
            Some(name) => match self.instances.iter().position(|i| i.config.name == name) {
                Some(index) => vec![index],
                None => {
                    return Answer::Now(Response::failed(format!("no instance named {name:?}")))
                }
            },
            None if self.instances.is_empty() => {
                return Answer::Now(Response::done(format!(
                    "maintenance {}: no instances are configured",
                    if on { "on" } else { "off" }
                )));
            }
            None => (0..self.instances.len()).collect(),
        };
        let masters = self.masters();
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
        self.invalidate_deadlines();
        self.settle(now);
        self.save_maintenance();
        let word = if on { "on" } else { "off" };
        info!(instances = ?names, "maintenance {word}");
        let done = format!("maintenance {word}: {}", names.join(", "));
        if !on {
            return Answer::Now(Response::done(done));
        }
        match self.start_handover(now, HandoverKind::Maintenance, name, &masters, options) {
            Answer::Now(response) if response.ok && self.resigned_since(&masters).is_empty() => {
                Answer::Now(Response::done(done))
            }
            answer => answer,
        }
    }

    /// The instances that are Master now.
    fn masters(&self) -> Vec<InstanceId> {
        self.instances
            .iter()
            .filter(|i| i.router.state() == State::Master)
            .map(|i| i.id)
            .collect()
    }

    /// Which of `masters` resigned voluntarily and now wait for a successor.
    fn resigned_since(&self, masters: &[InstanceId]) -> Vec<usize> {
        (0..self.instances.len())
            .filter(|&i| {
                let instance = &self.instances[i];
                masters.contains(&instance.id)
                    && instance.router.state() == State::Backup
                    && instance.successor().is_some()
            })
            .collect()
    }

    /// Starts watching the instances of `masters` that just resigned.
    fn start_handover(
        &mut self,
        now: Instant,
        kind: HandoverKind,
        target: Option<&str>,
        masters: &[InstanceId],
        options: HandoverOptions,
    ) -> Answer {
        let resigned = self.resigned_since(masters);
        if resigned.is_empty() {
            return Answer::Now(Response::done(format!(
                "{}: no Master here to hand over",
                kind.verb()
            )));
        }
        let deadline = resigned
            .iter()
            .map(|&i| {
                let instance = &self.instances[i];
                instance
                    .handover_deadline()
                    .unwrap_or(now + instance.router.master_down_interval())
            })
            .min()
            .unwrap_or(now);
        let members: Vec<Member> = resigned
            .iter()
            .map(|&i| {
                let name = self.instances[i].config.name.clone();
                let unit = self
                    .groups
                    .iter()
                    .find(|g| g.has(&name))
                    .map_or_else(|| name.clone(), |g| g.config.name.clone());
                Member {
                    id: self.instances[i].id,
                    name,
                    unit,
                }
            })
            .collect();
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        let message = format!(
            "{}: {} resigned with priority 0, keeping the virtual IPs until the new Master \
             speaks; the outcome, within {}, goes to the status and the event stream",
            kind.verb(),
            names.join(", "),
            seconds(deadline.saturating_duration_since(now)),
        );
        let ticket = options.wait.then(|| {
            self.next_ticket += 1;
            Ticket(self.next_ticket)
        });
        self.handovers.push(Handover {
            ticket,
            kind,
            force: options.force,
            target: target.map(str::to_owned),
            members,
            started: now,
            deadline,
        });
        self.invalidate_deadlines();
        // A member may already be decided (it left Backup at once).
        self.settle_handovers(now, now);
        match ticket {
            Some(ticket) if self.handovers.iter().any(|h| h.ticket == Some(ticket)) => {
                Answer::Later(ticket)
            }
            Some(ticket) => {
                // Decided at once: the answer is queued as an effect; take it.
                let answer =
                    self.out.effects.iter().position(
                        |e| matches!(e, Effect::Answer { ticket: t, .. } if *t == ticket),
                    );
                match answer.and_then(|at| self.out.effects.remove(at)) {
                    Some(Effect::Answer { response, .. }) => Answer::Now(*response),
                    _ => Answer::Now(Response::done(message)),
                }
            }
            None => Answer::Now(Response::done(message)),
        }
    }

    /// The earliest deadline of the handovers waiting for a new Master.
    pub(super) fn handover_deadline(&self) -> Option<Instant> {
        self.handovers.iter().map(|h| h.deadline).min()
    }

    /// Decides the handovers whose new Masters have all spoken, and those
    /// whose deadline is at or before `horizon`; carries out the outcome.
    pub(super) fn settle_handovers(&mut self, now: Instant, horizon: Instant) {
        if self.handovers.is_empty() {
            return;
        }
        let mut index = 0;
        while index < self.handovers.len() {
            let handover = &self.handovers[index];
            let at = if handover.deadline <= horizon {
                now.max(handover.deadline)
            } else {
                now
            };
            let views: Vec<MemberView> = handover
                .members
                .iter()
                .map(|m| self.member_view(m.id))
                .collect();
            match handover.decide(at, &views) {
                Some(decision) => {
                    let handover = self.handovers.remove(index);
                    self.carry_out_handover(at, &handover, &decision);
                }
                None => index += 1,
            }
        }
    }

    fn member_view(&self, id: InstanceId) -> MemberView {
        let Some(instance) = self.instances.iter().find(|i| i.id == id) else {
            return MemberView::Gone(None);
        };
        match (instance.router.state(), instance.successor()) {
            (State::Backup, Some(watch)) => MemberView::Watching(watch),
            (state, _) => MemberView::Gone(Some(state)),
        }
    }

    /// Makes the members nobody took over Master again (withdrawing the
    /// maintenance this request set), records and reports the outcome.
    fn carry_out_handover(&mut self, now: Instant, handover: &Handover, decision: &Decision) {
        let reclaim: Vec<usize> = decision
            .reclaim
            .iter()
            .filter_map(|id| self.instances.iter().position(|i| i.id == *id))
            .collect();
        if handover.kind == HandoverKind::Maintenance && !reclaim.is_empty() {
            for &index in &reclaim {
                let name = self.instances[index].config.name.clone();
                self.maintenance.remove(&name);
                let transitions =
                    self.instances[index].handle(now, Event::Maintenance(false), &mut self.out);
                self.after_transitions(index, transitions, now);
            }
            self.save_maintenance();
        }
        // Every member first, then their sync groups: a member's return
        // finds its partners Master already, so none takes over with hooks.
        let moved: Vec<_> = reclaim
            .iter()
            .map(|&index| (index, self.instances[index].reclaim(now, &mut self.out)))
            .collect();
        for (index, transitions) in moved {
            self.after_transitions(index, transitions, now);
        }
        for (instance, record) in decision.records(handover.kind, &handover.members) {
            self.out
                .push(Effect::Event(EventRecord::Handover(HandoverEvent {
                    instance: instance.clone(),
                    kind: record.kind,
                    outcome: record.outcome,
                    new_master: record.new_master,
                    elapsed_ms: record.elapsed_ms,
                })));
            self.last_handover.insert(instance, record);
        }
        let response = decision.response(handover);
        match &response.error {
            None => info!("{}", response.message.as_deref().unwrap_or_default()),
            Some(error) => warn!("{error}"),
        }
        if let Some(ticket) = handover.ticket {
            self.out.push(Effect::Answer {
                ticket,
                response: Box::new(response),
            });
        }
        self.out.status_dirty = true;
        self.invalidate_deadlines();
        self.settle(now);
    }

    fn save_maintenance(&mut self) {
        self.out.push(Effect::SaveMaintenance(
            self.maintenance.iter().cloned().collect(),
        ));
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

/// A duration for people: `3.6s`, `0.252s`.
pub(super) fn seconds(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}
