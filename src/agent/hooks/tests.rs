//! The hook queue: order, gates, the before_master lane, coalescing and its bound.

use super::*;
use crate::config::Command;
use std::time::Duration;

fn hook(name: &str) -> Option<Hook> {
    Some(Hook {
        command: Command::Shell(name.to_owned()),
        timeout: Duration::from_secs(1),
    })
}

fn args(from: State, to: State) -> TransitionArgs {
    TransitionArgs {
        name: "web".into(),
        group: false,
        to,
        from,
        priority: 100,
        peer: None,
    }
}

fn all_hooks() -> Hooks {
    Hooks {
        on_master: hook("m"),
        on_backup: hook("b"),
        on_change: hook("c"),
        after_backup: hook("ab"),
        before_master: hook("bm"),
        ..Hooks::default()
    }
}

fn kinds(steps: &[Step]) -> Vec<HookKind> {
    steps
        .iter()
        .map(|s| match s {
            Step::Run(run) => run.kind,
            Step::Skipped { kind, .. } | Step::Superseded { kind, .. } => *kind,
        })
        .collect()
}

/// The run among `steps`, by kind.
fn started(steps: &[Step], kind: HookKind) -> Option<HookRun> {
    steps.iter().find_map(|s| match s {
        Step::Run(run) if run.kind == kind => Some(run.clone()),
        _ => None,
    })
}

fn run_all(queue: &mut HookQueue, done: u64, next: &mut u64) -> Vec<HookKind> {
    let mut order = Vec::new();
    loop {
        let steps = queue.pump(done, next);
        if steps.is_empty() {
            return order;
        }
        for step in steps {
            order.push(kinds(std::slice::from_ref(&step))[0]);
            if let Step::Run(run) = step {
                queue.finished(run.id);
            }
        }
    }
}

#[test]
fn hooks_run_one_at_a_time_in_transition_order() {
    let hooks = all_hooks();
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.transition(&hooks, args(State::Backup, State::Master), Gate::Open);
    let first = queue.pump(0, &mut next);
    assert_eq!(kinds(&first), vec![HookKind::OnMaster]);
    assert!(queue.pump(0, &mut next).is_empty(), "one runs at a time");
    let Step::Run(run) = &first[0] else {
        panic!("a run")
    };
    assert!(queue.finished(run.id).is_some());
    assert_eq!(run_all(&mut queue, 0, &mut next), vec![HookKind::OnChange]);
    queue.transition(&hooks, args(State::Master, State::Backup), Gate::Open);
    assert_eq!(
        run_all(&mut queue, 0, &mut next),
        vec![
            HookKind::AfterBackup,
            HookKind::OnBackup,
            HookKind::OnChange
        ]
    );
    assert!(queue.is_idle());
    assert!(queue.lanes.is_none(), "an idle queue holds no lanes");
}

/// An instance with no hooks never holds lanes, and a superseded hook is
/// still counted over the queue's life once the lanes have gone.
#[test]
fn a_queue_holds_lanes_only_while_hooks_wait_or_run() {
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.transition(
        &Hooks::default(),
        args(State::Backup, State::Master),
        Gate::Open,
    );
    assert!(queue.lanes.is_none());
    let hooks = all_hooks();
    for round in 1..=2 {
        queue.transition(&hooks, args(State::Backup, State::Master), Gate::AwaitAdd);
        queue.transition(&hooks, args(State::Master, State::Backup), Gate::Open);
        let steps = run_all(&mut queue, 0, &mut next);
        assert_eq!(
            steps[..2],
            [HookKind::OnMaster, HookKind::OnChange],
            "{steps:?}"
        );
        assert!(queue.lanes.is_none(), "round {round}");
        assert_eq!(queue.superseded_total, 2 * round);
    }
}

#[test]
fn gated_hooks_wait_for_the_address_job() {
    let hooks = all_hooks();
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.transition(
        &hooks,
        args(State::Backup, State::Master),
        Gate::Addresses(3),
    );
    assert!(queue.pump(2, &mut next).is_empty());
    assert_eq!(
        run_all(&mut queue, 3, &mut next),
        vec![HookKind::OnMaster, HookKind::OnChange]
    );
}

#[test]
fn abandoned_master_hooks_are_skipped_and_a_pending_removal_waits() {
    let hooks = all_hooks();
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.transition(&hooks, args(State::Backup, State::Master), Gate::AwaitAdd);
    assert!(queue.pump(0, &mut next).is_empty());
    queue.resolve(Gate::AwaitAdd, Gate::Skip);
    let skipped = queue.pump(0, &mut next);
    assert_eq!(
        kinds(&skipped),
        vec![HookKind::OnMaster, HookKind::OnChange]
    );
    assert!(skipped.iter().all(|s| matches!(s, Step::Skipped { .. })));
    queue.transition(
        &hooks,
        args(State::Master, State::Backup),
        Gate::AwaitRemoval,
    );
    assert!(queue.pump(0, &mut next).is_empty());
    queue.resolve(Gate::AwaitRemoval, Gate::Addresses(5));
    assert!(queue.pump(4, &mut next).is_empty());
    assert_eq!(run_all(&mut queue, 5, &mut next)[0], HookKind::AfterBackup);
}

#[test]
fn a_cancelled_handover_skips_only_after_backup() {
    let hooks = all_hooks();
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.transition(
        &hooks,
        args(State::Master, State::Backup),
        Gate::AwaitRemoval,
    );
    queue.resolve(Gate::AwaitRemoval, Gate::Kept);
    let mut steps = Vec::new();
    loop {
        let step = queue.pump(0, &mut next);
        if step.is_empty() {
            break;
        }
        for s in &step {
            if let Step::Run(run) = s {
                queue.finished(run.id);
            }
        }
        steps.extend(step);
    }
    assert_eq!(
        kinds(&steps),
        vec![
            HookKind::AfterBackup,
            HookKind::OnBackup,
            HookKind::OnChange
        ]
    );
    assert!(
        matches!(steps[0], Step::Skipped { .. }),
        "the VIPs never went"
    );
    assert!(matches!(steps[1], Step::Run(_)));
}

#[test]
fn before_master_reports_its_term_once() {
    let hooks = all_hooks();
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.before_master(&hooks, args(State::Backup, State::Master), 7);
    let Some(Step::Run(run)) = queue.pump(0, &mut next).pop() else {
        panic!("before_master starts")
    };
    assert!(queue.is_running(run.id));
    let finished = queue.finished(run.id).expect("it was running");
    assert_eq!((finished.kind, finished.term), (HookKind::BeforeMaster, 7));
    assert!(queue.finished(run.id).is_none(), "reported once");
    assert!(queue.is_idle());
}

#[test]
fn before_master_never_waits_behind_a_slow_on_change() {
    let hooks = all_hooks();
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.transition(&hooks, args(State::Master, State::Backup), Gate::Open);
    let mut order = Vec::new();
    // after_backup and on_backup run and finish; on_change starts and hangs.
    let on_change = loop {
        let steps = queue.pump(0, &mut next);
        let Some(Step::Run(run)) = steps.into_iter().next() else {
            panic!("the transition's hooks run one by one")
        };
        order.push(run.kind);
        if run.kind == HookKind::OnChange {
            break run;
        }
        queue.finished(run.id);
    };
    assert_eq!(
        order,
        vec![
            HookKind::AfterBackup,
            HookKind::OnBackup,
            HookKind::OnChange
        ]
    );
    assert!(queue.before_master(&hooks, args(State::Backup, State::Master), 1));
    let steps = queue.pump(0, &mut next);
    let gate = started(&steps, HookKind::BeforeMaster)
        .unwrap_or_else(|| panic!("before_master starts while on_change runs: {steps:?}"));
    assert!(queue.is_running(on_change.id) && queue.is_running(gate.id));
    let finished = queue.finished(gate.id).expect("before_master was running");
    assert_eq!((finished.kind, finished.term), (HookKind::BeforeMaster, 1));
    assert!(queue.is_running(on_change.id), "on_change still runs");
    assert!(queue.finished(on_change.id).is_some());
    assert!(queue.is_idle());
}

#[test]
fn a_newer_master_term_drops_a_before_master_not_yet_started() {
    let hooks = all_hooks();
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.before_master(&hooks, args(State::Backup, State::Master), 1);
    let first = started(&queue.pump(0, &mut next), HookKind::BeforeMaster).expect("term 1 runs");
    queue.before_master(&hooks, args(State::Backup, State::Master), 2);
    queue.before_master(&hooks, args(State::Backup, State::Master), 3);
    assert_eq!(queue.queued(), 1, "only the newest term waits");
    let steps = queue.pump(0, &mut next);
    assert!(
        matches!(
            &steps[..],
            [Step::Superseded {
                kind: HookKind::BeforeMaster,
                total: 1,
                args: _,
            }]
        ),
        "{steps:?}"
    );
    assert_eq!(queue.finished(first.id).map(|f| f.term), Some(1));
    let steps = queue.pump(0, &mut next);
    let last = started(&steps, HookKind::BeforeMaster).expect("the newest term runs");
    assert_eq!(queue.finished(last.id).map(|f| f.term), Some(3));
    assert!(queue.is_idle());
}

#[test]
fn hooks_are_told_the_transition_as_arguments_and_environment() {
    let mut a = args(State::Backup, State::Master);
    assert_eq!(a.argv(), vec!["web", "master", "backup", "100"]);
    let env = a.env();
    assert_eq!(env.len(), 4);
    assert!(env.contains(&("TWINSTAR_INSTANCE".to_owned(), "web".to_owned())));
    assert!(env.contains(&("TWINSTAR_STATE".to_owned(), "master".to_owned())));
    assert!(env.contains(&("TWINSTAR_OLD_STATE".to_owned(), "backup".to_owned())));
    assert!(env.contains(&("TWINSTAR_PRIORITY".to_owned(), "100".to_owned())));
    a.group = true;
    assert!(a
        .env()
        .contains(&("TWINSTAR_GROUP".to_owned(), "web".to_owned())));
}

#[test]
fn each_state_entered_queues_its_own_hook() {
    let hooks = Hooks {
        on_fault: hook("f"),
        on_stop: hook("s"),
        ..all_hooks()
    };
    let mut queue = HookQueue::default();
    let mut next = 0;
    let mut order = Vec::new();
    for (from, to) in [
        (State::Backup, State::Fault),
        (State::Fault, State::Master),
        (State::Master, State::Initialize),
    ] {
        queue.transition(&hooks, args(from, to), Gate::Open);
        order.extend(run_all(&mut queue, 0, &mut next));
    }
    assert_eq!(
        order,
        vec![
            HookKind::OnFault,
            HookKind::OnChange,
            HookKind::OnMaster,
            HookKind::OnChange,
            HookKind::AfterBackup,
            HookKind::OnStop,
            HookKind::OnChange,
        ]
    );
}

#[test]
fn a_transition_without_hooks_queues_nothing() {
    let hooks = Hooks::default();
    let mut queue = HookQueue::default();
    queue.transition(&hooks, args(State::Backup, State::Master), Gate::AwaitAdd);
    assert!(queue.is_idle());
    assert!(!queue.before_master(&hooks, args(State::Backup, State::Master), 1));
    assert!(queue.is_idle());
    let hooks = all_hooks();
    queue.transition(&hooks, args(State::Backup, State::Master), Gate::AwaitAdd);
    assert!(!queue.is_idle(), "a gated job waits");
}

#[test]
fn runs_are_numbered_from_one_counter_and_only_the_running_one_finishes() {
    let hooks = all_hooks();
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.transition(&hooks, args(State::Backup, State::Master), Gate::Open);
    let Some(Step::Run(first)) = queue.pump(0, &mut next).pop() else {
        panic!("on_master starts")
    };
    assert_eq!(first.id, HookRunId(1));
    assert!(queue.is_running(first.id));
    assert!(!queue.is_running(HookRunId(2)));
    assert!(!queue.is_idle(), "a hook runs");
    assert!(queue.finished(HookRunId(2)).is_none(), "not ours");
    assert!(queue.is_running(first.id));
    let finished = queue.finished(first.id).expect("ours");
    assert_eq!(finished.kind, HookKind::OnMaster);
    assert_eq!(finished.args, args(State::Backup, State::Master));
    let Some(Step::Run(second)) = queue.pump(0, &mut next).pop() else {
        panic!("on_change starts")
    };
    assert_eq!(second.id, HookRunId(2));
    assert_eq!(next, 2);
    assert_eq!(second.hook, hook("c").unwrap());
}

#[test]
fn resolve_changes_only_the_gates_named() {
    let hooks = all_hooks();
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.transition(&hooks, args(State::Backup, State::Master), Gate::AwaitAdd);
    queue.resolve(Gate::AwaitRemoval, Gate::Open);
    assert!(
        queue.pump(0, &mut next).is_empty(),
        "still waits for the add"
    );
    queue.resolve(Gate::AwaitAdd, Gate::Addresses(1));
    assert!(queue.pump(0, &mut next).is_empty());
    assert_eq!(run_all(&mut queue, 1, &mut next)[0], HookKind::OnMaster);
}

#[test]
fn a_flapping_state_keeps_only_the_latest_transitions_hooks() {
    let hooks = all_hooks();
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.transition(&hooks, args(State::Backup, State::Master), Gate::Open);
    let slow = started(&queue.pump(0, &mut next), HookKind::OnMaster).expect("on_master runs");
    let mut dropped = Vec::new();
    let mut up = false;
    for _ in 0..999 {
        let (from, to) = if up {
            (State::Backup, State::Master)
        } else {
            (State::Master, State::Backup)
        };
        up = !up;
        queue.transition(&hooks, args(from, to), Gate::Open);
        assert!(
            queue.queued() <= QUEUED_HOOKS_BOUND,
            "{} hooks queued",
            queue.queued()
        );
        dropped.extend(queue.pump(0, &mut next));
    }
    assert!(
        dropped.iter().all(|s| matches!(s, Step::Superseded { .. })),
        "nothing starts while on_master runs"
    );
    // The first transition's on_change, then all but the last of 999 flaps:
    // 499 to Backup (three hooks each) and 499 to Master (two each).
    assert_eq!(dropped.len(), 1 + 499 * 3 + 499 * 2);
    assert!(matches!(
        dropped.last(),
        Some(Step::Superseded { total: 2496, .. })
    ));
    queue.finished(slow.id);
    // The last flap went Master -> Backup: only its hooks run.
    assert_eq!(
        run_all(&mut queue, 0, &mut next),
        vec![
            HookKind::AfterBackup,
            HookKind::OnBackup,
            HookKind::OnChange
        ]
    );
    assert!(queue.is_idle());
}

#[test]
fn the_rest_of_a_running_transition_is_superseded_but_its_running_hook_finishes() {
    let hooks = all_hooks();
    let mut queue = HookQueue::default();
    let mut next = 0;
    queue.transition(&hooks, args(State::Backup, State::Master), Gate::Open);
    let running = started(&queue.pump(0, &mut next), HookKind::OnMaster).expect("on_master");
    queue.transition(&hooks, args(State::Master, State::Backup), Gate::Open);
    let steps = queue.pump(0, &mut next);
    assert!(
        matches!(
            &steps[..],
            [Step::Superseded { kind: HookKind::OnChange, args: a, total: 1 }]
                if a.to == State::Master
        ),
        "{steps:?}"
    );
    assert!(!queue.is_idle());
    let finished = queue
        .finished(running.id)
        .expect("the running hook reports");
    assert_eq!(finished.kind, HookKind::OnMaster);
    assert_eq!(run_all(&mut queue, 0, &mut next)[0], HookKind::AfterBackup);
}
