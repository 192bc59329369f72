//! Sync groups at run time: the group's own state (for its hooks and events)
//! and the rule that when one member leaves Master the others resign too.
//!
//! Priority and fault coupling are in `health.rs`; this part reacts to
//! transitions as they happen.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::hooks::{HookQueue, HookReport, TransitionArgs};
use super::instance::Transition;
use crate::config::SyncGroup;
use crate::track::run_as::RunAs;
use crate::vrrp::{State, TransitionReason};

/// One sync group: its members, last state and hook worker.
pub struct GroupRuntime {
    /// The group's configuration.
    pub config: SyncGroup,
    /// Master when every member is, Fault when any is, Backup otherwise.
    pub state: State,
    hooks: HookQueue,
}

impl GroupRuntime {
    /// Starts the group's hook worker.
    pub fn new(
        config: SyncGroup,
        run_as: Arc<RunAs>,
        reports: mpsc::UnboundedSender<HookReport>,
    ) -> Self {
        let hooks = HookQueue::spawn(config.hooks.clone(), run_as, reports);
        GroupRuntime {
            config,
            state: State::Initialize,
            hooks,
        }
    }

    /// Whether `instance` is a member.
    pub fn has(&self, instance: &str) -> bool {
        self.config.instances.iter().any(|m| m == instance)
    }

    /// The members that must resign because `instance` made `transition`: a
    /// member leaving Master for Backup takes the others with it. (Leaving for
    /// Fault needs nothing here: the fault is shared through health.)
    pub fn resign_with<'a>(&'a self, instance: &str, transition: &Transition) -> Vec<&'a str> {
        let left_master = transition.from == State::Master
            && transition.to == State::Backup
            && transition.reason != TransitionReason::Resigned;
        if !left_master || !self.has(instance) {
            return Vec::new();
        }
        self.config
            .instances
            .iter()
            .map(String::as_str)
            .filter(|m| *m != instance)
            .collect()
    }

    /// Recomputes the group state from the members' states; on a change, queues
    /// the group's hooks and returns the transition.
    pub fn refresh(&mut self, member_states: &[State], priority: u8) -> Option<(State, State)> {
        let state = group_state(member_states);
        if state == self.state {
            return None;
        }
        let from = std::mem::replace(&mut self.state, state);
        let args = TransitionArgs {
            name: self.config.name.clone(),
            group: true,
            to: state,
            from,
            priority,
        };
        self.hooks.transition(args, None);
        Some((from, state))
    }

    /// Closes the hook queue, letting queued hooks finish.
    pub async fn finish(self) {
        self.hooks.finish(std::time::Duration::from_secs(10)).await;
    }
}

/// Fault if any member is; Master if all are; Initialize if all are; else Backup.
fn group_state(members: &[State]) -> State {
    if members.contains(&State::Fault) {
        State::Fault
    } else if !members.is_empty() && members.iter().all(|s| *s == State::Master) {
        State::Master
    } else if members.iter().all(|s| *s == State::Initialize) {
        State::Initialize
    } else {
        State::Backup
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_state_follows_members() {
        use State::*;
        assert_eq!(group_state(&[Master, Master]), Master);
        assert_eq!(group_state(&[Master, Backup]), Backup);
        assert_eq!(group_state(&[Master, Fault]), Fault);
        assert_eq!(group_state(&[Initialize, Initialize]), Initialize);
        assert_eq!(group_state(&[Initialize, Backup]), Backup);
    }
}
