//! Transition-by-transition tests of one virtual router, driven by hand.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;

const MS: Duration = Duration::from_millis(1);

fn addr(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn settings(priority: u8) -> RouterSettings {
    RouterSettings {
        priority,
        advert_interval: Duration::from_millis(100),
        preempt: true,
        preempt_delay: Duration::ZERO,
        primary_address: addr(10),
        vrrpv2_timers: false,
    }
}

fn advert(priority: u8, from: u8) -> Event {
    Event::AdvertReceived(AdvertInfo {
        priority,
        interval: Duration::from_millis(100),
        source: addr(from),
    })
}

fn started(settings: RouterSettings, t0: Instant) -> VirtualRouter {
    let mut router = VirtualRouter::new(settings).expect("valid settings");
    router.handle(t0, Event::Startup);
    router
}

fn to_master(router: &mut VirtualRouter, t0: Instant) -> Instant {
    let at = router.next_deadline().expect("down timer armed");
    router.handle(at, Event::TimerExpired);
    assert_eq!(router.state(), State::Master, "started at {t0:?}");
    at
}

fn sends(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAdvert { priority, .. } => Some(*priority),
            _ => None,
        })
        .collect()
}

#[test]
fn owner_goes_straight_to_master_with_advert_and_announcement() {
    let t0 = Instant::now();
    let mut router = VirtualRouter::new(settings(255)).expect("valid");
    let actions = router.handle(t0, Event::Startup);
    assert_eq!(
        actions.to_vec(),
        vec![
            Action::AddAddresses,
            Action::SendAdvert {
                priority: 255,
                interval: 100 * MS
            },
            Action::Announce,
            Action::StateChanged {
                from: State::Initialize,
                to: State::Master,
                reason: TransitionReason::Startup
            },
        ]
    );
    assert_eq!(router.next_deadline(), Some(t0 + 100 * MS));
}

#[test]
fn non_owner_starts_as_backup_and_waits_master_down_interval() {
    let t0 = Instant::now();
    let router = started(settings(100), t0);
    assert_eq!(router.state(), State::Backup);
    let expected = master_down_interval(100, 100 * MS);
    assert_eq!(router.next_deadline(), Some(t0 + expected));
}

#[test]
fn vrrpv2_timers_keep_skew_time_under_a_second_at_any_interval() {
    // RFC 3768 §6.1 at priority 100 and 3 s adverts: Skew_Time =
    // (256 - 100) / 256 s = 0.609375 s, Master_Down_Interval = 9.609375 s.
    // RFC 9568's Skew_Time scales with the interval: 3 × 0.609375 s.
    let t0 = Instant::now();
    let v2 = RouterSettings {
        advert_interval: Duration::from_secs(3),
        vrrpv2_timers: true,
        ..settings(100)
    };
    let router = started(v2.clone(), t0);
    assert_eq!(
        router.next_deadline(),
        Some(t0 + Duration::from_nanos(9_609_375_000))
    );
    let v3 = RouterSettings {
        vrrpv2_timers: false,
        ..v2
    };
    let router = started(v3, t0);
    assert_eq!(
        router.next_deadline(),
        Some(t0 + Duration::from_nanos(10_828_125_000))
    );
    let mut router = started(
        RouterSettings {
            vrrpv2_timers: true,
            ..v2_one_second()
        },
        t0,
    );
    // A priority-0 advert arms Skew_Time alone: 0.609375 s.
    let t1 = t0 + MS;
    router.handle(t1, advert(0, 20));
    assert_eq!(
        router.next_deadline(),
        Some(t1 + Duration::from_nanos(609_375_000))
    );
}

/// Priority 100 with VRRPv2's smallest interval, one second.
fn v2_one_second() -> RouterSettings {
    RouterSettings {
        advert_interval: Duration::from_secs(1),
        ..settings(100)
    }
}

#[test]
fn backup_takes_over_when_master_down_timer_expires() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let deadline = router.next_deadline().expect("armed");
    assert!(router
        .handle(deadline - Duration::from_nanos(1), Event::TimerExpired)
        .is_empty());
    let actions = router.handle(deadline, Event::TimerExpired);
    assert_eq!(actions[0], Action::AddAddresses);
    assert_eq!(sends(&actions), vec![100]);
    assert_eq!(actions[2], Action::Announce);
    assert!(matches!(
        actions[3],
        Action::StateChanged {
            to: State::Master,
            reason: TransitionReason::MasterDownTimerExpired,
            ..
        }
    ));
    assert_eq!(router.next_deadline(), Some(deadline + 100 * MS));
}

#[test]
fn backup_learns_master_interval_and_restarts_down_timer() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let t1 = t0 + 50 * MS;
    let slow = AdvertInfo {
        priority: 200,
        interval: Duration::from_secs(1),
        source: addr(20),
    };
    router.handle(t1, Event::AdvertReceived(slow));
    assert_eq!(router.master_adver_interval(), Duration::from_secs(1));
    assert_eq!(
        router.next_deadline(),
        Some(t1 + master_down_interval(100, Duration::from_secs(1)))
    );
    assert_eq!(router.current_master(), Some(slow));
    assert_eq!(router.stats().interval_mismatches, 1);
}

#[test]
fn priority_zero_sets_down_timer_to_skew_time() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    router.handle(t0, advert(200, 20));
    let t1 = t0 + 30 * MS;
    router.handle(t1, advert(0, 20));
    assert_eq!(router.next_deadline(), Some(t1 + skew_time(100, 100 * MS)));
    let actions = router.handle(t1 + skew_time(100, 100 * MS), Event::TimerExpired);
    assert!(actions.contains(&Action::StateChanged {
        from: State::Backup,
        to: State::Master,
        reason: TransitionReason::MasterResigned
    }));
}

#[test]
fn master_answers_priority_zero_with_an_advert() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let t1 = to_master(&mut router, t0);
    let actions = router.handle(t1 + 10 * MS, advert(0, 20));
    assert_eq!(
        actions.to_vec(),
        vec![Action::SendAdvert {
            priority: 100,
            interval: 100 * MS
        }]
    );
    assert_eq!(router.next_deadline(), Some(t1 + 110 * MS));
}

#[test]
fn master_steps_down_for_higher_priority() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let t1 = to_master(&mut router, t0);
    let actions = router.handle(t1, advert(101, 5));
    assert_eq!(actions[0], Action::RemoveAddresses);
    assert!(matches!(
        actions[1],
        Action::StateChanged {
            to: State::Backup,
            reason: TransitionReason::PreemptedByHigherPriority,
            ..
        }
    ));
    assert_eq!(
        router.next_deadline(),
        Some(t1 + master_down_interval(100, 100 * MS))
    );
}

#[test]
fn equal_priority_tie_goes_to_greater_address() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let t1 = to_master(&mut router, t0);
    // 192.0.2.9 < our 192.0.2.10: we stay Master and assert ourselves.
    assert_eq!(sends(&router.handle(t1, advert(100, 9))), vec![100]);
    assert_eq!(router.state(), State::Master);
    // 192.0.2.11 > ours: we yield.
    router.handle(t1, advert(100, 11));
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn tie_break_compares_addresses_as_unsigned_network_order() {
    let t0 = Instant::now();
    let mut ours = settings(100);
    ours.primary_address = IpAddr::V4(Ipv4Addr::new(127, 255, 255, 255));
    let mut router = started(ours, t0);
    let t1 = to_master(&mut router, t0);
    // 128.0.0.0 would be negative as a signed 32-bit integer; it must still win.
    let high = AdvertInfo {
        priority: 100,
        interval: 100 * MS,
        source: IpAddr::V4(Ipv4Addr::new(128, 0, 0, 0)),
    };
    router.handle(t1, Event::AdvertReceived(high));
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn master_answers_and_reannounces_when_it_hears_lower_priority() {
    let t0 = Instant::now();
    let mut router = started(settings(150), t0);
    let t1 = to_master(&mut router, t0);
    let t2 = t1 + 40 * MS;
    let actions = router.handle(t2, advert(100, 20));
    assert_eq!(sends(&actions), vec![150]);
    assert!(
        actions.contains(&Action::Announce),
        "a healed split: neighbours may point at the other Master"
    );
    assert_eq!(router.next_deadline(), Some(t2 + 100 * MS));
}

#[test]
fn preempt_false_keeps_a_lower_priority_master() {
    let t0 = Instant::now();
    let mut cfg = settings(200);
    cfg.preempt = false;
    let mut router = started(cfg, t0);
    for i in 1..50u32 {
        router.handle(t0 + i * 100 * MS, advert(100, 20));
        let at = t0 + i * 100 * MS + 50 * MS;
        router.handle(at, Event::TimerExpired);
        assert_eq!(router.state(), State::Backup);
    }
}

#[test]
fn preempt_true_takes_over_from_lower_priority_master() {
    let t0 = Instant::now();
    let mut router = started(settings(200), t0);
    let deadline = router.next_deadline().expect("armed");
    // Lower-priority adverts are discarded: they do not push the down timer out.
    router.handle(t0 + 100 * MS, advert(100, 20));
    router.handle(t0 + 200 * MS, advert(100, 20));
    assert_eq!(router.next_deadline(), Some(deadline));
    let actions = router.handle(deadline, Event::TimerExpired);
    assert!(actions.contains(&Action::StateChanged {
        from: State::Backup,
        to: State::Master,
        reason: TransitionReason::PreemptedLowerPriority
    }));
}

#[test]
fn preempt_delay_tolerates_a_lower_master_until_it_elapses() {
    let t0 = Instant::now();
    let mut cfg = settings(200);
    cfg.preempt_delay = Duration::from_secs(2);
    let mut router = started(cfg, t0);
    let mut now = t0;
    for _ in 0..19 {
        now += 100 * MS;
        router.handle(now, advert(100, 20));
        router.handle(now, Event::TimerExpired);
        assert_eq!(router.state(), State::Backup);
    }
    // The first lower advert came at t0 + 100 ms; preemption is due 2 s later.
    now += 100 * MS;
    router.handle(now, advert(100, 20));
    assert_eq!(router.next_deadline(), Some(t0 + 2100 * MS));
    router.handle(t0 + 2100 * MS, Event::TimerExpired);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn a_lower_master_is_not_preempted_while_a_higher_master_is_followed() {
    // Three routers: this one (150, preempt after 50 ms), a higher Master
    // advertising every 500 ms, and a lower one that briefly claims Master
    // too (after a resignation it misread). RFC 9568 §6.4.2 discards the
    // lower adverts: only the higher Master's silence may make us Master.
    let t0 = Instant::now();
    let mut cfg = settings(150);
    cfg.preempt_delay = 50 * MS;
    let mut router = started(cfg, t0);
    let slow_master = |priority| {
        Event::AdvertReceived(AdvertInfo {
            priority,
            interval: 500 * MS,
            source: addr(30),
        })
    };
    router.handle(t0 + MS, slow_master(200));
    let mut now = t0 + MS;
    for _ in 0..20 {
        now += 20 * MS;
        router.handle(now, advert(100, 20));
        if router.next_deadline().is_some_and(|due| due <= now) {
            router.handle(now, Event::TimerExpired);
        }
        assert_eq!(router.state(), State::Backup, "at {:?}", now - t0);
    }
    // Master_Down_Interval for the 500 ms Master: 3 x 500 ms + Skew_Time,
    // Skew_Time = (256 - 150) x 500 ms / 256.
    let skew = Duration::from_nanos(106 * 500_000_000 / 256);
    assert_eq!(router.next_deadline(), Some(t0 + MS + 1500 * MS + skew));
}

#[test]
fn a_resignation_from_a_router_we_do_not_follow_leaves_the_down_timer_alone() {
    let t0 = Instant::now();
    let mut router = started(settings(150), t0);
    router.handle(t0 + MS, advert(200, 30));
    let due = router.next_deadline();
    // Another router, briefly Master beside ours, resigns.
    router.handle(t0 + 2 * MS, advert(0, 20));
    assert_eq!(router.next_deadline(), due);
    assert_eq!(router.current_master().map(|m| m.source), Some(addr(30)));
    // Our Master's own resignation still hands over within Skew_Time.
    router.handle(t0 + 3 * MS, advert(0, 30));
    let skew = Duration::from_nanos(106 * 100_000_000 / 256);
    assert_eq!(router.next_deadline(), Some(t0 + 3 * MS + skew));
}

#[test]
fn shutdown_from_master_sends_priority_zero_and_removes_addresses() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let t1 = to_master(&mut router, t0);
    let actions = router.handle(t1, Event::Shutdown);
    assert_eq!(
        actions.to_vec(),
        vec![
            Action::SendAdvert {
                priority: 0,
                interval: 100 * MS
            },
            Action::RemoveAddresses,
            Action::StateChanged {
                from: State::Master,
                to: State::Initialize,
                reason: TransitionReason::Shutdown
            },
        ]
    );
    assert_eq!(router.next_deadline(), None);
    assert_eq!(router.stats().priority_zero_sent, 1);
}

#[test]
fn fault_from_master_resigns_and_clearing_returns_to_backup() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let t1 = to_master(&mut router, t0);
    let actions = router.handle(t1, Event::FaultSet);
    assert_eq!(sends(&actions), vec![0]);
    assert!(actions.contains(&Action::RemoveAddresses));
    assert_eq!(router.state(), State::Fault);
    assert_eq!(router.next_deadline(), None);
    assert!(
        router.handle(t1, advert(50, 20)).is_empty(),
        "Fault ignores adverts"
    );
    let actions = router.handle(t1 + MS, Event::FaultCleared);
    assert_eq!(
        actions.to_vec(),
        vec![Action::StateChanged {
            from: State::Fault,
            to: State::Backup,
            reason: TransitionReason::FaultCleared
        }]
    );
}

#[test]
fn resign_hands_over_and_rejoins_as_backup() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let t1 = to_master(&mut router, t0);
    let actions = router.handle(t1, Event::Resign);
    assert_eq!(sends(&actions), vec![0]);
    assert!(actions.contains(&Action::RemoveAddresses));
    assert_eq!(router.state(), State::Backup);
    assert_eq!(
        router.next_deadline(),
        Some(t1 + router.master_down_interval()),
        "a Backup again: waits for the new Master's adverts"
    );
    assert!(
        router.handle(t1, Event::Resign).is_empty(),
        "only a Master resigns"
    );
    router.handle(t1 + MS, advert(150, 20));
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn switchover_does_not_preempt_the_new_master_until_it_fails() {
    let t0 = Instant::now();
    let mut router = started(settings(150), t0);
    let t1 = to_master(&mut router, t0);
    let actions = router.handle(t1, Event::Switchover);
    assert_eq!(sends(&actions), vec![0]);
    assert_eq!(router.state(), State::Backup);
    assert!(router.preempt_held());
    // The new Master has a lower priority: followed, not preempted.
    let mut at = t1;
    for _ in 0..10 {
        at += Duration::from_millis(100);
        router.handle(at, advert(100, 20));
        assert!(router.next_deadline().is_some_and(|d| d > at));
    }
    assert_eq!(router.state(), State::Backup);
    // It fails: we take over after Master_Down_Interval, and the hold ends.
    let down = router.next_deadline().expect("down timer");
    router.handle(down, Event::TimerExpired);
    assert_eq!(router.state(), State::Master);
    assert!(!router.preempt_held());
}

#[test]
fn maintenance_keeps_backup_until_off_then_preemption_resumes() {
    let t0 = Instant::now();
    let mut router = started(settings(150), t0);
    let t1 = to_master(&mut router, t0);
    let actions = router.handle(t1, Event::Maintenance(true));
    assert_eq!(sends(&actions), vec![0]);
    assert!(actions.contains(&Action::RemoveAddresses));
    assert!(actions.contains(&Action::StateChanged {
        from: State::Master,
        to: State::Backup,
        reason: TransitionReason::Maintenance
    }));
    // No Master at all: still no takeover.
    let mut at = t1;
    for _ in 0..5 {
        at += Duration::from_secs(1);
        router.handle(at, Event::TimerExpired);
        assert_eq!(router.state(), State::Backup);
    }
    // A lower-priority Master appears: followed while in maintenance.
    router.handle(at, advert(100, 20));
    assert_eq!(router.state(), State::Backup);
    router.handle(at, Event::Maintenance(false));
    at += Duration::from_millis(100);
    router.handle(at, advert(100, 20));
    let down = router.next_deadline().expect("down timer");
    router.handle(down, Event::TimerExpired);
    assert_eq!(
        router.state(),
        State::Master,
        "preempts once maintenance is off"
    );
}

#[test]
fn owner_in_maintenance_starts_as_backup() {
    let t0 = Instant::now();
    let mut router = VirtualRouter::new(settings(255)).expect("valid");
    router.handle(t0, Event::Maintenance(true));
    router.handle(t0, Event::Startup);
    assert_eq!(router.state(), State::Backup);
    router.handle(t0, Event::Maintenance(false));
    let down = router.next_deadline().expect("down timer");
    router.handle(down, Event::TimerExpired);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn adverts_from_others_are_remembered_as_peers() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    assert_eq!(router.last_peer(), None);
    router.handle(t0 + MS, advert(150, 20));
    assert_eq!(router.last_peer(), Some((addr(20), t0 + MS)));
}

#[test]
fn startup_with_pending_fault_enters_fault() {
    let t0 = Instant::now();
    let mut router = VirtualRouter::new(settings(255)).expect("valid");
    router.handle(t0, Event::FaultSet);
    router.handle(t0, Event::Startup);
    assert_eq!(router.state(), State::Fault);
    router.handle(t0, Event::FaultCleared);
    assert_eq!(
        router.state(),
        State::Master,
        "an owner returns straight to Master"
    );
}

#[test]
fn lowered_priority_is_advertised_at_once_by_master() {
    let t0 = Instant::now();
    let mut router = started(settings(150), t0);
    let t1 = to_master(&mut router, t0);
    assert_eq!(
        sends(&router.handle(t1, Event::PriorityChanged(90))),
        vec![90]
    );
    assert_eq!(router.priority(), 90);
    // Clamped into 1..=254 for non-owners.
    router.handle(t1, Event::PriorityChanged(0));
    assert_eq!(router.priority(), 1);
}

#[test]
fn owner_priority_is_never_moved() {
    let t0 = Instant::now();
    let mut router = started(settings(255), t0);
    assert!(router.handle(t0, Event::PriorityChanged(10)).is_empty());
    assert_eq!(router.priority(), 255);
}

#[test]
fn settings_reject_zero_priority_and_bad_intervals() {
    assert_eq!(
        VirtualRouter::new(settings(0)).err(),
        Some(SettingsError::ZeroPriority)
    );
    for bad in [
        Duration::from_millis(5),
        Duration::from_millis(15),
        Duration::from_secs(41),
    ] {
        let mut cfg = settings(100);
        cfg.advert_interval = bad;
        assert_eq!(
            VirtualRouter::new(cfg).err(),
            Some(SettingsError::BadInterval(bad))
        );
    }
}

#[test]
fn yield_hands_over_without_holding_back_preemption() {
    let t0 = Instant::now();
    let mut router = started(settings(150), t0);
    let t1 = to_master(&mut router, t0);
    let actions = router.handle(t1, Event::Yield);
    assert_eq!(sends(&actions), vec![0], "a priority-0 advert, as Resign");
    assert!(actions.contains(&Action::RemoveAddresses));
    assert_eq!(router.state(), State::Backup);
    assert!(!router.preempt_held(), "unlike Resign, no hold");
    // A lower-priority Master is preempted again (preempt_delay 0): its
    // adverts are discarded and our down timer is not restarted by them.
    let armed = router.next_deadline().expect("down timer");
    router.handle(t1 + MS, advert(100, 20));
    assert_eq!(router.next_deadline(), Some(armed));
    router.handle(armed, Event::TimerExpired);
    assert_eq!(router.state(), State::Master);
    assert!(router.handle(armed, Event::Yield).len() > 1);
    let again = router.handle(armed + MS, Event::Yield);
    assert!(again.is_empty(), "only a Master yields");
}

#[test]
fn take_over_makes_a_backup_master_at_once_but_not_in_maintenance_or_fault() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    router.handle(t0 + MS, advert(200, 20));
    let actions = router.handle(t0 + 2 * MS, Event::TakeOver);
    assert_eq!(
        router.state(),
        State::Master,
        "a sync-group partner became Master"
    );
    assert_eq!(sends(&actions), vec![100]);
    assert!(actions.contains(&Action::AddAddresses));
    assert!(actions.contains(&Action::Announce));
    assert!(actions.contains(&Action::StateChanged {
        from: State::Backup,
        to: State::Master,
        reason: TransitionReason::SyncGroup,
    }));
    // RFC 9568 §6.4.3: the higher-priority Master's next advert makes us yield.
    router.handle(t0 + 3 * MS, advert(200, 20));
    assert_eq!(router.state(), State::Backup);

    let mut held = started(settings(100), t0);
    held.handle(t0, Event::Maintenance(true));
    assert!(held.handle(t0 + MS, Event::TakeOver).is_empty());
    assert_eq!(held.state(), State::Backup);
    let mut faulty = started(settings(100), t0);
    faulty.handle(t0, Event::FaultSet);
    assert!(faulty.handle(t0 + MS, Event::TakeOver).is_empty());
    assert_eq!(faulty.state(), State::Fault);
}

#[test]
fn reload_keeps_the_masters_interval_while_following_a_master() {
    // RFC 9568 §6.4.2: a Backup times the Master with Master_Adver_Interval,
    // the interval the Master advertises, not its own Advertisement_Interval.
    // A reload that changes ours must not replace the one learnt from the wire.
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let slow = AdvertInfo {
        priority: 200,
        interval: Duration::from_secs(1),
        source: addr(20),
    };
    router.handle(t0, Event::AdvertReceived(slow));
    let mut reloaded = settings(100);
    reloaded.advert_interval = 200 * MS;
    router.update_settings(reloaded.clone()).expect("valid");
    assert_eq!(router.settings(), &reloaded);
    assert_eq!(router.master_adver_interval(), Duration::from_secs(1));
}

#[test]
fn reload_before_any_master_is_heard_uses_the_new_interval() {
    // No Master heard yet: Master_Adver_Interval is still our own
    // Advertisement_Interval (RFC 9568 §6.4.1 sets it so on startup), so a
    // reload replaces it. Priority 100 at 200 ms: Skew_Time (256 - 100) * 200 /
    // 256 = 121.875 ms, Master_Down_Interval 600 + 121.875 = 721.875 ms.
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let mut reloaded = settings(100);
    reloaded.advert_interval = 200 * MS;
    router.update_settings(reloaded).expect("valid");
    assert_eq!(router.master_adver_interval(), 200 * MS);
    assert_eq!(router.skew_time(), Duration::from_nanos(121_875_000));
    assert_eq!(
        router.master_down_interval(),
        Duration::from_nanos(721_875_000)
    );
}

#[test]
fn reload_rejects_invalid_settings_and_keeps_the_old_ones() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    assert_eq!(
        router.update_settings(settings(0)),
        Err(SettingsError::ZeroPriority)
    );
    let mut bad = settings(100);
    bad.advert_interval = 15 * MS;
    assert_eq!(
        router.update_settings(bad),
        Err(SettingsError::BadInterval(15 * MS))
    );
    assert_eq!(router.settings(), &settings(100));
    assert_eq!(router.master_adver_interval(), 100 * MS);
}

#[test]
fn maintenance_and_last_transition_are_reported() {
    let t0 = Instant::now();
    let mut router = VirtualRouter::new(settings(100)).expect("valid");
    assert_eq!(router.last_transition(), None);
    assert!(!router.maintenance());
    let t1 = t0 + 5 * MS;
    router.handle(t1, Event::Startup);
    assert_eq!(router.last_transition(), Some(t1));
    router.handle(t1 + MS, Event::Maintenance(true));
    assert!(router.maintenance());
    // A Backup entering maintenance does not change state.
    assert_eq!(router.last_transition(), Some(t1));
    router.handle(t1 + 2 * MS, Event::Maintenance(false));
    assert!(!router.maintenance());
}

#[test]
fn leaving_maintenance_restarts_the_down_timer_from_now() {
    // Maintenance off resumes the election as if the Backup had just started
    // listening (RFC 9568 §6.4.1): it takes over unless a Master speaks within
    // Master_Down_Interval. Priority 100 at 100 ms: Skew_Time (256 - 100) *
    // 100 / 256 = 60.9375 ms, Master_Down_Interval 300 + 60.9375 = 360.9375 ms.
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    router.handle(t0, Event::Maintenance(true));
    let t1 = t0 + Duration::from_secs(5);
    router.handle(t1, Event::TimerExpired);
    assert_eq!(router.state(), State::Backup);
    router.handle(t1, Event::Maintenance(false));
    let mdi = Duration::from_nanos(360_937_500);
    assert_eq!(router.next_deadline(), Some(t1 + mdi));
    router.handle(t1 + mdi - Duration::from_nanos(1), Event::TimerExpired);
    assert_eq!(router.state(), State::Backup);
    router.handle(t1 + mdi, Event::TimerExpired);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn tracking_cannot_raise_a_non_owner_to_owner_priority() {
    // RFC 9568 §5.2.4: 255 is reserved for the router that owns the addresses,
    // and backing-up routers use 1..=254. Tracking weights that add up past 254
    // stop at 254, so the router never claims to own the addresses.
    let t0 = Instant::now();
    let mut router = started(settings(200), t0);
    router.handle(t0, Event::PriorityChanged(255));
    assert_eq!(router.priority(), 254);
    let t1 = to_master(&mut router, t0);
    assert_eq!(
        sends(&router.handle(t1, Event::PriorityChanged(100))),
        vec![100]
    );
    assert_eq!(
        sends(&router.handle(t1, Event::PriorityChanged(255))),
        vec![254]
    );
}

#[test]
fn master_keeps_its_role_on_an_equal_advert_from_its_own_address() {
    // RFC 9568 §6.4.3: on equal priority a Master steps down only if the
    // sender's primary address is *greater* than its own. An advert carrying
    // our own address (our own advert looped back, or a duplicate address) is
    // not greater: we stay Master and assert ourselves.
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let t1 = to_master(&mut router, t0);
    let actions = router.handle(t1 + 10 * MS, advert(100, 10));
    assert_eq!(sends(&actions), vec![100]);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn statistics_count_every_advert_and_takeover() {
    // The counters behind the RFC 6527 MIB objects: adverts received and sent,
    // priority-0 adverts each way, and how often we became Master.
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    router.handle(t0 + 10 * MS, advert(200, 20));
    router.handle(t0 + 110 * MS, advert(200, 20));
    let t1 = t0 + 210 * MS;
    router.handle(t1, advert(0, 20));
    // RFC 9568 §6.4.2: after a priority-0 advert the Backup waits Skew_Time,
    // (256 - 100) * 100 ms / 256 = 60.9375 ms, then takes over.
    let takeover = t1 + Duration::from_nanos(60_937_500);
    assert_eq!(router.next_deadline(), Some(takeover));
    router.handle(takeover, Event::TimerExpired);
    assert_eq!(router.state(), State::Master);
    router.handle(takeover + 100 * MS, Event::TimerExpired);
    router.handle(takeover + 150 * MS, Event::Shutdown);
    assert_eq!(
        router.stats(),
        &Statistics {
            adverts_received: 3,
            adverts_sent: 3,
            priority_zero_received: 1,
            priority_zero_sent: 1,
            interval_mismatches: 0,
            master_transitions: 1,
            answers_withheld: 0,
        }
    );
}

mod answers;
mod heartbeat;

#[test]
fn reclaim_makes_a_resigned_router_master_again_but_only_from_backup() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let down = router.next_deadline().expect("down timer");
    router.handle(down, Event::TimerExpired);
    assert_eq!(router.state(), State::Master);
    assert!(
        router.handle(down + MS, Event::Reclaim).is_empty(),
        "a Master has nothing to reclaim"
    );
    router.handle(down + MS, Event::Switchover);
    assert_eq!(router.state(), State::Backup);
    let actions = router.handle(down + 2 * MS, Event::Reclaim);
    assert_eq!(router.state(), State::Master);
    assert_eq!(sends(&actions), vec![100], "advertises at once");
    assert!(actions.contains(&Action::StateChanged {
        from: State::Backup,
        to: State::Master,
        reason: TransitionReason::Reclaimed,
    }));
    assert!(!router.preempt_held(), "Master again: the hold is over");

    let mut held = started(settings(100), t0);
    held.handle(t0, Event::Maintenance(true));
    assert!(held.handle(t0 + MS, Event::Reclaim).is_empty());
    assert_eq!(held.state(), State::Backup);
    let mut faulty = started(settings(100), t0);
    faulty.handle(t0, Event::FaultSet);
    assert!(faulty.handle(t0 + MS, Event::Reclaim).is_empty());
    assert_eq!(faulty.state(), State::Fault);
}
mod gate;

/// A Backup following a slow Master hears the last advert of a faster,
/// lower router that the Master has just preempted: it keeps waiting for
/// its Master's own Master_Down_Interval rather than the faster router's,
/// which would run out before the Master's next advert (a flap that passed
/// from Backup to Backup). Once its Master's interval is over, the other
/// router is followed as RFC 9568 §6.4.2 says.
#[test]
fn a_lower_routers_stray_advert_does_not_cut_the_wait_for_the_master_we_follow() {
    // RFC 9568 §6.1 for priority 100: 3 × interval + (256 − 100) × interval / 256.
    let down_at_50ms = Duration::from_nanos(150_000_000 + 156 * 50_000_000 / 256);
    let down_at_10ms = Duration::from_nanos(30_000_000 + 156 * 10_000_000 / 256);
    let slow_master = AdvertInfo {
        priority: 255,
        interval: 50 * MS,
        source: addr(20),
    };
    let fast_lower = AdvertInfo {
        priority: 100,
        interval: 10 * MS,
        source: addr(30),
    };
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let t1 = t0 + MS;
    router.handle(t1, Event::AdvertReceived(slow_master));
    assert_eq!(router.next_deadline(), Some(t1 + down_at_50ms));

    router.handle(t1 + 3 * MS, Event::AdvertReceived(fast_lower));
    assert_eq!(router.next_deadline(), Some(t1 + down_at_50ms));
    assert_eq!(router.current_master(), Some(slow_master));
    assert_eq!(router.master_adver_interval(), 50 * MS);

    // Still alive near the end of the Master's interval: the lower router
    // keeps us from taking over while it speaks.
    let late = t1 + down_at_50ms - MS;
    router.handle(late, Event::AdvertReceived(fast_lower));
    assert_eq!(router.next_deadline(), Some(late + down_at_10ms));
    assert_eq!(router.current_master(), Some(slow_master));

    // The Master's interval is over: the lower router is the one followed.
    let after = t1 + down_at_50ms + MS;
    router.handle(after, Event::AdvertReceived(fast_lower));
    assert_eq!(router.current_master(), Some(fast_lower));
    assert_eq!(router.master_adver_interval(), 10 * MS);
    assert_eq!(router.next_deadline(), Some(after + down_at_10ms));
}
