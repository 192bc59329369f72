//! Operator handovers that confirm: `switchover` and `maintenance on` resign
//! (priority-0 advert), keep the virtual IPs (make before break) and watch for
//! the new Master. The outcome is decided here, as data: every resigned member
//! heard its successor (confirmed, with the time from the resignation to the
//! new Master's first advert), or Master_Down_Interval passed with nobody
//! (the members are Master again, their addresses never removed — or, for a
//! forced maintenance, the addresses go as after any handover).
//!
//! The deadline is the Master_Down_Interval (RFC 9568 §6.1: 3 ×
//! Master_Adver_Interval + Skew_Time) that each resigning member computes
//! from its own Advertisement_Interval, which the Backups learnt from its
//! adverts, and its own priority: the time a Backup of equal priority waits
//! for a silent Master. A Backup that heard the priority-0 advert takes over
//! within its Skew_Time, under one interval, so a live Backup is always heard
//! well before it. For a sync group the earliest member's deadline counts,
//! since that member's own Master_Down timer would make it Master then.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::instance::SuccessorWatch;
use super::InstanceId;
use crate::control::Response;
use crate::vrrp::State;

/// Names a control request that waits for a handover's outcome; the daemon
/// keeps the client's connection under it until [`super::Effect::Answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// Which operator request started a handover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoverKind {
    /// `twinstar switchover`: nobody taking over leaves this host Master.
    Switchover,
    /// `twinstar maintenance on`: nobody taking over withdraws maintenance
    /// (this host stays Master), unless forced, when the addresses go anyway.
    Maintenance,
}

impl HandoverKind {
    /// The verb, for messages.
    pub fn verb(self) -> &'static str {
        match self {
            HandoverKind::Switchover => "switchover",
            HandoverKind::Maintenance => "maintenance on",
        }
    }
}

/// One instance that resigned for the handover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The running instance.
    pub id: InstanceId,
    /// Its name.
    pub name: String,
    /// Members of one sync group share a unit (the group's name) and are
    /// decided together, as they hold their addresses together; a lone
    /// instance is a unit of its own.
    pub unit: String,
}

/// A member as the agent sees it when the handover is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberView {
    /// Backup, still watching for its successor.
    Watching(SuccessorWatch),
    /// No longer the instance that resigned: it was removed or restarted by
    /// a reload, or left Backup (Fault, stopped, Master by the protocol).
    Gone(Option<State>),
}

/// A handover in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// The client waiting for the answer, if any (`--no-wait`: none).
    pub ticket: Option<Ticket>,
    /// What was asked.
    pub kind: HandoverKind,
    /// Maintenance `--force`: stay in maintenance even with nobody to take
    /// over (the addresses then go when the handover ends, as at a stop).
    pub force: bool,
    /// The instance or sync group named in the request (`None`: all).
    pub target: Option<String>,
    /// The instances that resigned.
    pub members: Vec<Member>,
    /// When they resigned.
    pub started: Instant,
    /// When to give up waiting (see the module comment).
    pub deadline: Instant,
}

/// The new Master of one member, as heard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMaster {
    /// The member instance.
    pub instance: String,
    /// The new Master's primary address (its adverts' source).
    pub address: IpAddr,
    /// From our priority-0 advert to its first advert.
    pub after_ms: u64,
}

/// How a handover ended, per unit of members.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Every new Master heard, one per confirmed member.
    pub confirmed: Vec<NewMaster>,
    /// Members to make Master again now (nobody took over their unit).
    pub reclaim: Vec<InstanceId>,
    /// Members whose unit nobody took over but which stay Backup (forced
    /// maintenance): their addresses go when their handover ends.
    pub released: Vec<String>,
    /// Members of units where some members' successors spoke and others'
    /// did not: plain VRRP settles them (their handover ends as usual).
    pub partial: Vec<String>,
    /// Members that stopped being part of the handover, and why.
    pub interrupted: Vec<(String, Option<State>)>,
    /// How long the handover waited.
    pub waited: Duration,
}

impl Decision {
    /// Whether the handover did what the operator asked.
    pub fn succeeded(&self) -> bool {
        self.reclaim.is_empty() && self.partial.is_empty() && self.interrupted.is_empty()
    }
}

impl Handover {
    /// The decision at `now`, given each member's view (in `members` order);
    /// `None` while some member still waits and the deadline has not passed.
    /// A handover is decided as soon as every member's successor has spoken
    /// or left; at the deadline, whoever is still waiting is decided by unit.
    pub fn decide(&self, now: Instant, views: &[MemberView]) -> Option<Decision> {
        let waiting = |v: &MemberView| matches!(v, MemberView::Watching(w) if w.heard.is_none());
        if now < self.deadline && views.iter().any(waiting) {
            return None;
        }
        let mut decision = Decision {
            waited: now.saturating_duration_since(self.started),
            ..Decision::default()
        };
        // Per unit: whether any member's successor spoke.
        let mut unit_heard: BTreeMap<&str, bool> = BTreeMap::new();
        for (member, view) in self.members.iter().zip(views) {
            let heard = matches!(view, MemberView::Watching(w) if w.heard.is_some());
            *unit_heard.entry(member.unit.as_str()).or_default() |= heard;
        }
        for (member, view) in self.members.iter().zip(views) {
            match *view {
                MemberView::Gone(state) => decision.interrupted.push((member.name.clone(), state)),
                MemberView::Watching(SuccessorWatch {
                    resigned_at,
                    heard: Some((address, at)),
                }) => decision.confirmed.push(NewMaster {
                    instance: member.name.clone(),
                    address,
                    after_ms: at.saturating_duration_since(resigned_at).as_millis() as u64,
                }),
                MemberView::Watching(_) if unit_heard[member.unit.as_str()] => {
                    decision.partial.push(member.name.clone());
                }
                MemberView::Watching(_) if self.kind == HandoverKind::Maintenance && self.force => {
                    decision.released.push(member.name.clone());
                }
                MemberView::Watching(_) => decision.reclaim.push(member.id),
            }
        }
        Some(decision)
    }
}

/// The last handover outcome of an instance, for the status document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
///
/// Fields in alphabetical order: the status file's keys are sorted, and
/// it is written straight from the struct (`control::status::pretty`).
pub struct HandoverRecord {
    /// From the resignation to the new Master's first advert, or to the
    /// decision when none was heard.
    pub elapsed_ms: u64,
    /// `switchover` or `maintenance`.
    pub kind: HandoverKind,
    /// The new Master, when one was heard.
    pub new_master: Option<IpAddr>,
    /// `confirmed`, `stayed_master`, `released`, `partial` or `interrupted`.
    pub outcome: HandoverOutcome,
}

/// What became of one member in a handover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoverOutcome {
    /// The new Master was heard.
    Confirmed,
    /// Nobody took over; this host is Master again, the addresses never left.
    StayedMaster,
    /// Nobody took over; forced maintenance let the addresses go.
    Released,
    /// Another member of its sync group was taken over, this one not.
    Partial,
    /// Removed, restarted, or moved to another state before the outcome.
    Interrupted,
}

impl Decision {
    /// One record per member, for the status.
    pub fn records(&self, kind: HandoverKind, members: &[Member]) -> Vec<(String, HandoverRecord)> {
        let waited = self.waited.as_millis() as u64;
        let mut records = Vec::new();
        for m in &self.confirmed {
            records.push((
                m.instance.clone(),
                HandoverRecord {
                    kind,
                    outcome: HandoverOutcome::Confirmed,
                    new_master: Some(m.address),
                    elapsed_ms: m.after_ms,
                },
            ));
        }
        let mut plain = |names: Vec<&String>, outcome| {
            for name in names {
                records.push((
                    name.clone(),
                    HandoverRecord {
                        kind,
                        outcome,
                        new_master: None,
                        elapsed_ms: waited,
                    },
                ));
            }
        };
        let reclaimed: Vec<&String> = members
            .iter()
            .filter(|m| self.reclaim.contains(&m.id))
            .map(|m| &m.name)
            .collect();
        plain(reclaimed, HandoverOutcome::StayedMaster);
        plain(self.released.iter().collect(), HandoverOutcome::Released);
        plain(self.partial.iter().collect(), HandoverOutcome::Partial);
        plain(
            self.interrupted.iter().map(|(n, _)| n).collect(),
            HandoverOutcome::Interrupted,
        );
        records
    }
}

impl Decision {
    /// The answer for the operator: who took over and how long it took, or
    /// what nobody did and what this host does now.
    pub fn response(&self, handover: &Handover) -> Response {
        let verb = handover.kind.verb();
        // The interval waited for, as the RFC computes it: the decision itself
        // may come a wake-up later.
        let waited = super::operate::seconds(
            handover
                .deadline
                .saturating_duration_since(handover.started),
        );
        let mut parts: Vec<String> = self
            .confirmed
            .iter()
            .map(|m| {
                format!(
                    "{}: new Master {} took over {} after the resignation",
                    m.instance,
                    m.address,
                    super::operate::seconds(Duration::from_millis(m.after_ms))
                )
            })
            .collect();
        let reclaimed: Vec<&str> = handover
            .members
            .iter()
            .filter(|m| self.reclaim.contains(&m.id))
            .map(|m| m.name.as_str())
            .collect();
        if !reclaimed.is_empty() {
            let names = reclaimed.join(", ");
            let verb_s = if reclaimed.len() == 1 {
                "stays"
            } else {
                "stay"
            };
            parts.push(match handover.kind {
                HandoverKind::Switchover => format!(
                    "no router took over within {waited}; {names} {verb_s} Master on this host"
                ),
                HandoverKind::Maintenance => format!(
                    "no router took over within {waited}; maintenance of {names} withdrawn: \
                     {verb_s} Master on this host (--force enters maintenance anyway and \
                     lets the virtual IPs go)"
                ),
            });
        }
        if !self.released.is_empty() {
            parts.push(format!(
                "no router took over within {waited}; {} in maintenance (forced): its virtual \
                 IPs are removed and nobody serves them",
                self.released.join(", ")
            ));
        }
        if !self.partial.is_empty() {
            parts.push(format!(
                "{}: no new Master heard within {waited}, though other members of its sync \
                 group were taken over; the protocol settles it",
                self.partial.join(", ")
            ));
        }
        for (name, state) in &self.interrupted {
            parts.push(match state {
                None => format!("{name} was removed or restarted by a reload during the {verb}"),
                Some(State::Initialize) => format!("{name} stopped during the {verb}"),
                Some(state) => {
                    format!("{name} went to {state} before a new Master was heard")
                }
            });
        }
        let text = parts.join("; ");
        if self.succeeded() {
            Response::done(text)
        } else {
            Response::failed(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    const MS: Duration = Duration::from_millis(1);

    fn member(id: u64, name: &str, unit: &str) -> Member {
        Member {
            id: InstanceId(id),
            name: name.into(),
            unit: unit.into(),
        }
    }

    fn handover(kind: HandoverKind, members: Vec<Member>, t0: Instant) -> Handover {
        Handover {
            ticket: Some(Ticket(1)),
            kind,
            force: false,
            target: Some("web".into()),
            members,
            started: t0,
            deadline: t0 + 3609 * MS,
        }
    }

    fn watching(t0: Instant, heard_after: Option<Duration>) -> MemberView {
        MemberView::Watching(SuccessorWatch {
            resigned_at: t0,
            heard: heard_after.map(|d| (PEER, t0 + d)),
        })
    }

    #[test]
    fn confirmed_as_soon_as_the_new_master_speaks_with_the_time() {
        let t0 = Instant::now();
        let h = handover(HandoverKind::Switchover, vec![member(1, "web", "web")], t0);
        assert_eq!(h.decide(t0 + 100 * MS, &[watching(t0, None)]), None);
        let d = h
            .decide(t0 + 300 * MS, &[watching(t0, Some(250 * MS))])
            .expect("decided once heard");
        assert!(d.succeeded());
        assert_eq!(
            d.confirmed,
            vec![NewMaster {
                instance: "web".into(),
                address: PEER,
                after_ms: 250
            }]
        );
    }

    #[test]
    fn nobody_by_the_deadline_reclaims_a_switchover_and_unforced_maintenance() {
        let t0 = Instant::now();
        for kind in [HandoverKind::Switchover, HandoverKind::Maintenance] {
            let h = handover(kind, vec![member(1, "web", "web")], t0);
            assert_eq!(h.decide(h.deadline - MS, &[watching(t0, None)]), None);
            let d = h.decide(h.deadline, &[watching(t0, None)]).expect("due");
            assert_eq!(d.reclaim, vec![InstanceId(1)]);
            assert!(!d.succeeded());
            assert_eq!(d.waited, 3609 * MS);
        }
        let forced = Handover {
            force: true,
            ..handover(HandoverKind::Maintenance, vec![member(1, "web", "web")], t0)
        };
        let d = forced
            .decide(forced.deadline, &[watching(t0, None)])
            .expect("due");
        assert!(d.reclaim.is_empty(), "forced maintenance stays Backup");
        assert_eq!(d.released, vec!["web".to_owned()]);
    }

    #[test]
    fn sync_group_members_are_confirmed_together_or_left_to_vrrp() {
        let t0 = Instant::now();
        let h = handover(
            HandoverKind::Switchover,
            vec![
                member(1, "web", "pair"),
                member(2, "db", "pair"),
                member(3, "dns", "dns"),
            ],
            t0,
        );
        let one_heard = [
            watching(t0, Some(200 * MS)),
            watching(t0, None),
            watching(t0, None),
        ];
        assert_eq!(h.decide(t0 + 300 * MS, &one_heard), None, "db still waits");
        let d = h.decide(h.deadline, &one_heard).expect("due");
        assert_eq!(d.confirmed.len(), 1);
        assert_eq!(d.partial, vec!["db".to_owned()], "its partner moved");
        assert_eq!(d.reclaim, vec![InstanceId(3)], "dns alone: nobody came");
        let all = [
            watching(t0, Some(200 * MS)),
            watching(t0, Some(210 * MS)),
            watching(t0, Some(220 * MS)),
        ];
        assert!(h
            .decide(t0 + 300 * MS, &all)
            .expect("all heard")
            .succeeded());
    }

    #[test]
    fn a_member_that_left_backup_interrupts_the_handover() {
        let t0 = Instant::now();
        let h = handover(HandoverKind::Switchover, vec![member(1, "web", "web")], t0);
        let d = h
            .decide(t0 + MS, &[MemberView::Gone(Some(State::Fault))])
            .expect("nothing left to wait for");
        assert_eq!(d.interrupted, vec![("web".to_owned(), Some(State::Fault))]);
        assert!(!d.succeeded());
    }
}
