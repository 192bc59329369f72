//! Sync groups inside the agent: the group's own state (for its hooks and
//! events) and the rule that when one member leaves Master the others resign
//! too. Priority and fault coupling are in `health.rs`.

use super::hooks::{Gate, HookQueue, TransitionArgs};
use super::instance::Transition;
use crate::config::SyncGroup;
use crate::vrrp::{Event, State, TransitionReason};

/// One sync group: its members, last state and hook queue.
#[derive(Debug)]
pub struct GroupCore {
    /// The group's configuration.
    pub config: SyncGroup,
    /// Master when every member is, Fault when any is, Backup otherwise.
    pub state: State,
    /// The group's hooks and their queue.
    pub hooks: HookQueue,
}

impl GroupCore {
    /// A group not yet in any state.
    pub fn new(config: SyncGroup) -> Self {
        GroupCore {
            hooks: HookQueue::new(config.hooks.clone()),
            config,
            state: State::Initialize,
        }
    }

    /// Whether `instance` is a member.
    pub fn has(&self, instance: &str) -> bool {
        self.config.instances.iter().any(|m| m == instance)
    }

    /// What the other members must do because `instance` made `transition`:
    /// a member becoming Master takes the others along ([`Event::TakeOver`]);
    /// a member leaving Master for Backup takes the others with it.
    /// After an operator's switchover or maintenance they follow its hold
    /// ([`Event::Resign`]); after a preemption or any other involuntary move
    /// they keep preempting by priority ([`Event::Yield`]), as the member did.
    /// (Leaving for Fault needs nothing here: the fault is shared through
    /// health.)
    pub fn resign_with<'a>(
        &'a self,
        instance: &str,
        transition: &Transition,
    ) -> Vec<(&'a str, Event)> {
        if !self.has(instance) {
            return Vec::new();
        }
        let left_master = transition.from == State::Master
            && transition.to == State::Backup
            && transition.reason != TransitionReason::Resigned;
        let event = if transition.to == State::Master {
            // Members are Master together: the partners take over too, and
            // where another host outranks them, they yield back as a group.
            Event::TakeOver
        } else if !left_master {
            return Vec::new();
        } else if matches!(
            transition.reason,
            TransitionReason::Switchover | TransitionReason::Maintenance
        ) {
            Event::Resign
        } else {
            Event::Yield
        };
        self.config
            .instances
            .iter()
            .map(String::as_str)
            .filter(|m| *m != instance)
            .map(|m| (m, event))
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
        self.hooks.transition(args, Gate::Open);
        Some((from, state))
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

    fn group() -> GroupCore {
        GroupCore::new(SyncGroup {
            name: "pair".into(),
            instances: vec!["web".into(), "db".into()],
            hooks: crate::config::Hooks::default(),
        })
    }

    fn moved(from: State, to: State, reason: TransitionReason) -> Transition {
        Transition { from, to, reason }
    }

    #[test]
    fn partners_follow_a_member_in_and_out_of_master() {
        use TransitionReason::*;
        let g = group();
        let up = moved(State::Backup, State::Master, MasterDownTimerExpired);
        assert_eq!(g.resign_with("web", &up), vec![("db", Event::TakeOver)]);
        let preempted = moved(State::Master, State::Backup, PreemptedByHigherPriority);
        assert_eq!(g.resign_with("web", &preempted), vec![("db", Event::Yield)]);
        let asked = moved(State::Master, State::Backup, Switchover);
        assert_eq!(g.resign_with("db", &asked), vec![("web", Event::Resign)]);
        let resigned = moved(State::Master, State::Backup, Resigned);
        assert!(g.resign_with("web", &resigned).is_empty(), "no echo");
        let fault = moved(State::Master, State::Fault, Fault);
        assert!(
            g.resign_with("web", &fault).is_empty(),
            "shared through health"
        );
        assert!(g.resign_with("other", &up).is_empty(), "not a member");
    }

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
