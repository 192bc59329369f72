//! Switchover and maintenance handovers that confirm their new Master, driven
//! by hand without I/O: the outcome, its time, and what the host does when
//! nobody takes over.

use super::*;
use crate::control::Response;

const HOOKS: &str = "    hooks:\n      on_master: {command: m, timeout: 1s}\n      \
                     on_backup: {command: b, timeout: 1s}\n      \
                     after_backup: {command: a, timeout: 1s}\n      \
                     on_change: {command: c, timeout: 1s}\n";

/// RFC 9568 §6.1, computed here from the formula rather than by the code
/// under test: Master_Down_Interval = 3 × interval + (256 − priority) ×
/// interval / 256.
fn master_down_interval(priority: u8, interval: Duration) -> Duration {
    let interval_ns = interval.as_nanos() as u64;
    Duration::from_nanos(3 * interval_ns + (256 - u64::from(priority)) * interval_ns / 256)
}

/// `web` (priority 200, with every transition hook) Master here, its VIP on;
/// the hooks of becoming Master have run. Returns the agent and the time.
fn master(extra: &str, t0: Instant) -> (Agent, Instant) {
    let mut agent = running(&instances(&[instance("web", 1, 200, extra)]), t0);
    let t1 = t0 + Duration::from_secs(1);
    let effects = run_until(&mut agent, t1);
    finish_jobs(&mut agent, t1, &effects);
    let started = drain(&mut agent);
    finish_hooks(&mut agent, t1, started);
    assert_eq!(state(&agent, "web"), State::Master);
    (agent, t1)
}

/// Reports every hook in `effects` (and those they start) as succeeded.
fn finish_hooks(agent: &mut Agent, now: Instant, mut effects: Vec<Effect>) {
    while let Some(run) = effects.iter().find_map(|e| match e {
        Effect::RunHook(run) => Some(run.id),
        _ => None,
    }) {
        let outcome = ScriptOutcome {
            result: crate::track::process::ScriptResult::Exited(0),
            duration: Duration::from_millis(1),
            last_line: None,
        };
        effects.retain(|e| !matches!(e, Effect::RunHook(r) if r.id == run));
        agent.handle(now, Input::HookFinished { run, outcome });
        effects.extend(drain(agent));
    }
}

fn answers(effects: &[Effect]) -> Vec<(Ticket, Response)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Answer { ticket, response } => Some((*ticket, (**response).clone())),
            _ => None,
        })
        .collect()
}

fn one_answer(effects: &[Effect]) -> (Ticket, Response) {
    let mut all = answers(effects);
    assert_eq!(all.len(), 1, "one answer: {all:?}");
    all.remove(0)
}

fn removals(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::Address {
                    job: AddressJob::Remove,
                    ..
                }
            )
        })
        .count()
}

/// The jobs that add or remove the VIPs (not announcements or the
/// lifetime refreshes a Master repeats).
fn address_jobs(effects: &[Effect]) -> Vec<AddressJob> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Address { job, .. } if matches!(job, AddressJob::Add | AddressJob::Remove) => {
                Some(job.clone())
            }
            _ => None,
        })
        .collect()
}

fn hooks_run(effects: &[Effect]) -> Vec<HookKind> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::RunHook(run) => Some(run.kind),
            _ => None,
        })
        .collect()
}

fn last_handover(agent: &Agent, name: &str) -> Option<HandoverRecord> {
    agent
        .status(Instant::now())
        .instances
        .into_iter()
        .find(|i| i.name == name)
        .and_then(|i| i.last_handover)
}

fn waiting(answer: Answer) -> Ticket {
    match answer {
        Answer::Later(ticket) => ticket,
        Answer::Now(response) => panic!("answered at once: {response:?}"),
    }
}

#[test]
fn switchover_with_a_silent_backup_is_confirmed_with_the_time_it_took() {
    let t0 = Instant::now();
    let (mut agent, t1) = master(HOOKS, t0);
    // The Backup never spoke: the switchover is not refused for that.
    let ticket = waiting(agent.switchover(t1, "web", true));
    let effects = drain(&mut agent);
    assert_eq!(removals(&effects), 0, "make before break: the VIP stays");
    assert!(answers(&effects).is_empty(), "waiting for the new Master");
    let heard = t1 + Duration::from_millis(42);
    agent.handle(heard, advert_from_peer(1, 100));
    let effects = drain(&mut agent);
    let (answered, response) = one_answer(&effects);
    assert_eq!(answered, ticket);
    assert!(response.ok, "{response:?}");
    assert_eq!(
        response.message.as_deref(),
        Some("web: new Master 192.0.2.11 took over 0.042s after the resignation")
    );
    let handover = effects.iter().find_map(|e| match e {
        Effect::Event(EventRecord::Handover(h)) => Some(h.clone()),
        _ => None,
    });
    let handover = handover.expect("a handover event");
    assert_eq!(
        (handover.outcome, handover.new_master, handover.elapsed_ms),
        (HandoverOutcome::Confirmed, Some(PEER), 42)
    );
    assert_eq!(
        last_handover(&agent, "web").map(|r| r.outcome),
        Some(HandoverOutcome::Confirmed)
    );
    // The handover then ends as before: the VIP goes one interval later.
    let effects = run_until(&mut agent, heard + INTERVAL);
    assert_eq!(removals(&effects), 1);
}

#[test]
fn nobody_taking_over_leaves_the_master_serving_with_no_removal_and_no_hooks() {
    let t0 = Instant::now();
    let (mut agent, t1) = master(HOOKS, t0);
    let ticket = waiting(agent.switchover(t1, "web", true));
    let mut effects = drain(&mut agent);
    let deadline = t1 + master_down_interval(200, INTERVAL);
    effects.extend(run_until(&mut agent, deadline - Duration::from_micros(600)));
    assert!(
        answers(&effects).is_empty(),
        "still waiting before the deadline"
    );
    effects.extend(run_until(&mut agent, deadline + Duration::from_secs(2)));
    // The worker finishes every job, so hooks gated on addresses could start.
    finish_jobs(&mut agent, deadline, &effects);
    effects.extend(drain(&mut agent));
    assert_eq!(state(&agent, "web"), State::Master);
    assert_eq!(
        address_jobs(&effects),
        vec![],
        "the VIP never left, nor re-added"
    );
    assert_eq!(hooks_run(&effects), vec![], "no after_backup, on_master...");
    let (answered, response) = one_answer(&effects);
    assert_eq!(answered, ticket);
    assert!(!response.ok);
    assert_eq!(
        response.error.as_deref(),
        Some("no router took over within 0.322s; web stays Master on this host")
    );
    // The answer came at the deadline, not later: a handover event says so.
    let elapsed = effects.iter().find_map(|e| match e {
        Effect::Event(EventRecord::Handover(h)) => Some((h.outcome, h.elapsed_ms)),
        _ => None,
    });
    assert_eq!(elapsed, Some((HandoverOutcome::StayedMaster, 321)));
    let adverts_at_our_priority = effects
        .iter()
        .filter(|e| matches!(e, Effect::SendAdvert { packet, .. } if packet[2] == 200))
        .count();
    assert!(adverts_at_our_priority >= 10, "advertising again");
}

#[test]
fn a_new_master_heard_after_the_deadline_is_handled_by_the_protocol_alone() {
    let t0 = Instant::now();
    let (mut agent, t1) = master("", t0);
    let ticket = waiting(agent.switchover(t1, "web", true));
    let deadline = t1 + master_down_interval(200, INTERVAL);
    let effects = run_until(&mut agent, deadline + INTERVAL);
    assert_eq!(answers(&effects).len(), 1);
    assert_eq!(answers(&effects)[0].0, ticket);
    // A late Backup of lower priority: we are Master again and stay so.
    agent.handle(deadline + INTERVAL, advert_from_peer(1, 100));
    let effects = drain(&mut agent);
    assert!(answers(&effects).is_empty(), "answered once only");
    assert_eq!(state(&agent, "web"), State::Master);
    assert_eq!(
        last_handover(&agent, "web").map(|r| r.outcome),
        Some(HandoverOutcome::StayedMaster)
    );
}

#[test]
fn a_sync_group_is_confirmed_when_every_member_heard_its_new_master() {
    let t0 = Instant::now();
    let text = format!(
        "{}sync_groups:\n  - name: pair\n    instances: [web, db]\n",
        instances(&[instance("web", 1, 200, ""), instance("db", 2, 200, "")])
    );
    let mut agent = running(&text, t0);
    let t1 = t0 + Duration::from_secs(1);
    let effects = run_until(&mut agent, t1);
    finish_jobs(&mut agent, t1, &effects);
    assert_eq!(state(&agent, "db"), State::Master);
    let ticket = waiting(agent.switchover(t1, "pair", true));
    assert_eq!(state(&agent, "web"), State::Backup);
    assert_eq!(state(&agent, "db"), State::Backup);
    agent.handle(t1 + Duration::from_millis(30), advert_from_peer(1, 100));
    assert!(answers(&drain(&mut agent)).is_empty(), "db not heard yet");
    agent.handle(t1 + Duration::from_millis(35), advert_from_peer(2, 100));
    let effects = drain(&mut agent);
    let (answered, response) = one_answer(&effects);
    assert_eq!(answered, ticket);
    assert!(response.ok, "{response:?}");
    let message = response.message.unwrap_or_default();
    assert!(
        message.contains("web: new Master 192.0.2.11 took over 0.03s"),
        "{message}"
    );
    assert!(
        message.contains("db: new Master 192.0.2.11 took over 0.035s"),
        "{message}"
    );
}

#[test]
fn maintenance_with_nobody_to_take_over_is_withdrawn_unless_forced() {
    let t0 = Instant::now();
    let wait = HandoverOptions {
        wait: true,
        force: false,
    };
    let (mut agent, t1) = master(HOOKS, t0);
    let ticket = waiting(agent.set_maintenance(t1, true, Some("web"), wait));
    let deadline = t1 + master_down_interval(200, INTERVAL);
    let mut effects = drain(&mut agent);
    effects.extend(run_until(&mut agent, deadline + INTERVAL));
    finish_jobs(&mut agent, deadline, &effects);
    effects.extend(drain(&mut agent));
    assert_eq!(state(&agent, "web"), State::Master);
    assert_eq!(address_jobs(&effects), vec![], "the VIP never left");
    assert_eq!(hooks_run(&effects), vec![]);
    let (answered, response) = one_answer(&effects);
    assert_eq!(answered, ticket);
    let error = response.error.unwrap_or_default();
    assert!(
        error.contains("maintenance of web withdrawn: stays Master on this host"),
        "{error}"
    );
    let saved = effects.iter().rev().find_map(|e| match e {
        Effect::SaveMaintenance(names) => Some(names.clone()),
        _ => None,
    });
    assert_eq!(saved, Some(vec![]), "withdrawn for good");
    assert!(!agent.status(deadline).instances[0].maintenance);

    let (mut forced, t1) = master("", t0);
    let force = HandoverOptions {
        wait: true,
        force: true,
    };
    waiting(forced.set_maintenance(t1, true, Some("web"), force));
    let effects = run_until(&mut forced, deadline + INTERVAL);
    assert_eq!(state(&forced, "web"), State::Backup);
    assert!(forced.status(deadline).instances[0].maintenance);
    assert_eq!(
        removals(&effects),
        1,
        "forced: the VIP goes at the deadline"
    );
    assert!(answers(&effects)[0].1.ok, "forced, so done");
}

#[test]
fn no_wait_answers_at_once_and_the_outcome_still_reaches_the_status() {
    let t0 = Instant::now();
    let (mut agent, t1) = master("", t0);
    let Answer::Now(response) = agent.switchover(t1, "web", false) else {
        panic!("answered at once")
    };
    assert!(response.ok, "{response:?}");
    let effects = run_until(&mut agent, t1 + Duration::from_secs(1));
    assert!(answers(&effects).is_empty(), "nobody waits");
    assert_eq!(state(&agent, "web"), State::Master);
    assert_eq!(
        last_handover(&agent, "web").map(|r| r.outcome),
        Some(HandoverOutcome::StayedMaster)
    );
}

#[test]
fn switchover_is_refused_only_for_an_unknown_name_or_a_non_master() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 200, "")]), t0);
    let refused = |answer: Answer| match answer {
        Answer::Now(response) => response.error.unwrap_or_default(),
        Answer::Later(_) => panic!("accepted"),
    };
    assert_eq!(
        refused(agent.switchover(t0, "nope", true)),
        "no instance or sync group named \"nope\""
    );
    assert_eq!(
        refused(agent.switchover(t0, "web", true)),
        "web is backup here, not Master; run the switchover on the Master"
    );
}
