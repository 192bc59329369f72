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
            hooks: HookQueue::default(),
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
            peer: None,
        };
        self.hooks.transition(&self.config.hooks, args, Gate::Open);
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

    #[test]
    fn only_a_member_leaving_master_for_backup_moves_the_partners() {
        use TransitionReason::*;
        let g = group();
        let maintenance = moved(State::Master, State::Backup, Maintenance);
        assert_eq!(
            g.resign_with("web", &maintenance),
            vec![("db", Event::Resign)]
        );
        for t in [
            moved(State::Backup, State::Fault, Fault),
            moved(State::Initialize, State::Backup, Startup),
            moved(State::Fault, State::Backup, FaultCleared),
            moved(State::Master, State::Initialize, Shutdown),
        ] {
            assert!(g.resign_with("web", &t).is_empty(), "{t:?}");
        }
    }

    #[test]
    fn refresh_reports_and_queues_hooks_only_on_a_change() {
        let mut g = GroupCore::new(SyncGroup {
            hooks: crate::config::Hooks {
                on_master: Some(crate::config::Hook {
                    command: crate::config::Command::Shell("m".into()),
                    timeout: std::time::Duration::from_secs(1),
                }),
                ..crate::config::Hooks::default()
            },
            ..group().config
        });
        assert_eq!(
            g.refresh(&[State::Initialize, State::Initialize], 100),
            None
        );
        assert!(g.hooks.is_idle());
        assert_eq!(
            g.refresh(&[State::Master, State::Master], 90),
            Some((State::Initialize, State::Master))
        );
        assert_eq!(g.state, State::Master);
        assert_eq!(g.refresh(&[State::Master, State::Master], 90), None);
        let mut next = 0;
        let steps = g.hooks.pump(0, &mut next);
        let [super::super::hooks::Step::Run(run)] = &steps[..] else {
            panic!("on_master runs: {steps:?}")
        };
        assert!(run.args.group);
        assert_eq!(run.args.priority, 90);
        assert_eq!(
            (run.args.from, run.args.to),
            (State::Initialize, State::Master)
        );
    }

    #[test]
    fn a_group_without_members_is_not_master() {
        assert_eq!(group_state(&[]), State::Initialize);
        assert_eq!(group_state(&[State::Backup, State::Backup]), State::Backup);
    }
}
