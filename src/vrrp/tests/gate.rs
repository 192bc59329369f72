//! The mastership gate: every path into Master asks first when the gate is
//! on, waits in Backup, and is cancelled by what makes becoming Master moot.

use super::*;

fn gated(priority: u8, t0: Instant) -> VirtualRouter {
    let mut router = VirtualRouter::new(settings(priority)).expect("valid settings");
    router.set_mastership_gate(true);
    router.handle(t0, Event::Startup);
    router
}

fn requests(actions: &[Action]) -> Vec<MastershipCause> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RequestMastership { cause } => Some(*cause),
            _ => None,
        })
        .collect()
}

fn expire(router: &mut VirtualRouter) -> (Instant, Vec<Action>) {
    let at = router.next_deadline().expect("down timer armed");
    (at, router.handle(at, Event::TimerExpired).to_vec())
}

#[test]
fn gated_backup_asks_instead_of_taking_over_when_nobody_was_heard() {
    let t0 = Instant::now();
    let mut router = gated(100, t0);
    let (at, actions) = expire(&mut router);
    assert_eq!(requests(&actions), [MastershipCause::NoMasterHeard]);
    assert!(!actions.contains(&Action::AddAddresses), "{actions:?}");
    assert_eq!(router.state(), State::Backup);
    assert_eq!(
        router.awaiting_mastership(),
        Some(MastershipCause::NoMasterHeard)
    );
    assert_eq!(router.next_deadline(), None, "no timer runs while waiting");
    let actions = router.handle(at + MS, Event::MastershipGranted);
    assert_eq!(router.state(), State::Master);
    assert_eq!(actions[0], Action::AddAddresses);
    assert!(actions.contains(&Action::StateChanged {
        from: State::Backup,
        to: State::Master,
        reason: TransitionReason::MasterDownTimerExpired
    }));
}

#[test]
fn silent_master_is_named_in_the_request_and_a_denial_asks_again_one_interval_later() {
    let t0 = Instant::now();
    let mut router = gated(100, t0);
    router.handle(t0, advert(200, 20));
    let (at, actions) = expire(&mut router);
    assert_eq!(
        requests(&actions),
        [MastershipCause::MasterSilent { master: addr(20) }]
    );
    let actions = router.handle(at, Event::MastershipDenied);
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(router.state(), State::Backup);
    assert_eq!(router.awaiting_mastership(), None);
    assert_eq!(
        router.next_deadline(),
        Some(at + router.master_down_interval())
    );
    let (_, again) = expire(&mut router);
    assert_eq!(
        requests(&again),
        [MastershipCause::MasterSilent { master: addr(20) }]
    );
}

#[test]
fn a_master_heard_at_or_above_our_priority_cancels_the_request() {
    let t0 = Instant::now();
    let mut router = gated(100, t0);
    let (at, _) = expire(&mut router);
    router.handle(at + MS, advert(100, 20));
    assert_eq!(router.awaiting_mastership(), None);
    let actions = router.handle(at + 2 * MS, Event::MastershipGranted);
    assert!(
        actions.is_empty(),
        "a late grant revives nothing: {actions:?}"
    );
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn a_lower_master_does_not_cancel_a_preemption_request() {
    let t0 = Instant::now();
    let mut router = gated(150, t0);
    router.handle(t0, advert(100, 20));
    let (at, actions) = expire(&mut router);
    assert_eq!(requests(&actions), [MastershipCause::PreemptLowerPriority]);
    router.handle(at + MS, advert(100, 20));
    assert_eq!(
        router.awaiting_mastership(),
        Some(MastershipCause::PreemptLowerPriority)
    );
}

#[test]
fn priority_zero_owner_and_sync_group_paths_ask_too() {
    let t0 = Instant::now();
    let mut router = gated(100, t0);
    router.handle(t0, advert(200, 20));
    router.handle(t0 + MS, advert(0, 20));
    let (_, actions) = expire(&mut router);
    assert_eq!(requests(&actions), [MastershipCause::MasterResigned]);

    let mut owner = VirtualRouter::new(settings(255)).expect("valid");
    owner.set_mastership_gate(true);
    let actions = owner.handle(t0, Event::Startup);
    assert_eq!(requests(&actions), [MastershipCause::OwnerStartup]);
    assert_eq!(owner.state(), State::Backup);

    let mut member = gated(100, t0);
    let actions = member.handle(t0 + MS, Event::TakeOver);
    assert_eq!(requests(&actions), [MastershipCause::SyncGroup]);
    assert_eq!(member.state(), State::Backup);
}

#[test]
fn shutdown_fault_and_maintenance_cancel_the_request() {
    let t0 = Instant::now();
    for event in [Event::Shutdown, Event::FaultSet, Event::Maintenance(true)] {
        let mut router = gated(100, t0);
        let (at, _) = expire(&mut router);
        router.handle(at, event);
        assert_eq!(router.awaiting_mastership(), None, "{event:?}");
        router.handle(at + MS, Event::MastershipGranted);
        assert_ne!(router.state(), State::Master, "{event:?}");
    }
}

#[test]
fn quorum_lost_removes_the_addresses_at_once_and_rejoins_as_backup() {
    let t0 = Instant::now();
    let mut router = gated(100, t0);
    let (at, _) = expire(&mut router);
    router.handle(at, Event::MastershipGranted);
    let actions = router.handle(at + MS, Event::QuorumLost);
    assert_eq!(sends(&actions), [0]);
    assert!(actions.contains(&Action::RemoveAddresses));
    assert!(actions.contains(&Action::StateChanged {
        from: State::Master,
        to: State::Backup,
        reason: TransitionReason::QuorumLost
    }));
    assert!(
        !router.preempt_held(),
        "losing the lease is no operator's hold"
    );
    assert!(router.next_deadline().is_some(), "asks again later");
}

#[test]
fn without_the_gate_nothing_asks() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let (_, actions) = expire(&mut router);
    assert!(requests(&actions).is_empty());
    assert_eq!(router.state(), State::Master);
}
