//! Whole agents on the simulated LAN, deterministically: the handover,
//! `before_master`, hooks in order, sync groups, tracking, switchover,
//! maintenance and reload, each as a scenario with bounds worked out from
//! RFC 9568 (`support::rfc`), then thousands of random fault schedules with
//! the invariants checked at every step (`support::schedule`).

mod support;

use std::net::IpAddr;
use std::time::Duration;

use support::rfc;
use support::schedule::{self, Spec};
use support::sim::hosts::{HookPlan, World};
use twinstar::notify::record::HookKind;
use twinstar::vrrp::{State, TransitionReason};

const WEB: &str = "192.0.2.50";

fn web() -> IpAddr {
    WEB.parse().expect("address")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Two hosts with `spec`'s configuration each, host 0 started first (the
/// usual order: the Master never hears its silent Backup), both settled.
fn pair(a: &Spec, b: &Spec) -> World {
    let mut world = World::new(7);
    world.add_host(&a.yaml());
    world.add_host(&b.yaml());
    world.start(0);
    world.set_check(0, "svc", true);
    world.run_for(ms(5));
    world.start(1);
    world.set_check(1, "svc", true);
    let settle = rfc::master_down_interval(a.priority, a.interval) * 2;
    world.run_for(settle);
    assert_eq!(world.holders(web()), vec![0], "host 0 is Master first");
    world
}

/// Runs until `vip` is held by exactly `holders` or `limit` passes; returns when.
fn until_held(world: &mut World, vip: IpAddr, holders: &[usize], limit: Duration) -> Duration {
    let start = world.now();
    while world.now() - start <= limit {
        if world.holders(vip) == holders {
            return world.now() - start;
        }
        world.run_for(ms(1));
    }
    panic!(
        "{vip} held by {:?}, not {holders:?}, {limit:?} after {start:?}",
        world.holders(vip)
    );
}

/// Runs for `span`, failing if `vip` is ever without a holder.
fn never_unheld(world: &mut World, vip: IpAddr, span: Duration) {
    let end = world.now() + span;
    while world.now() < end {
        world.run_for(Duration::from_micros(100));
        assert!(
            !world.holders(vip).is_empty(),
            "{vip} had no holder at {:?}",
            world.now()
        );
    }
}

#[test]
fn crashed_master_is_replaced_within_master_down_interval_and_not_before() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    world.crash(0);
    let took = until_held(&mut world, web(), &[1], ms(1000));
    // RFC 9568 §6.4.2: the Backup's Master_Down_Interval runs from the last
    // advert it heard, at most one interval before the crash.
    let mdi = rfc::master_down_interval(100, ms(100));
    assert!(took <= mdi + ms(2), "took {took:?}, bound {mdi:?}");
    assert!(
        took + ms(100) >= mdi,
        "took {took:?}: earlier than Master_Down_Interval {mdi:?} after the last advert"
    );
}

#[test]
fn graceful_stop_keeps_the_vip_until_the_new_master_speaks() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    let at = world.now();
    world.stop(0);
    // Make before break: there is always a holder, and the Backup takes over
    // within its Skew_Time of the priority-0 advert (RFC 9568 §6.4.2).
    never_unheld(&mut world, web(), ms(400));
    assert_eq!(world.holders(web()), vec![1]);
    let takeover = world
        .transitions
        .iter()
        .find(|t| t.host == 1 && t.to == State::Master)
        .expect("host 1 took over");
    assert_eq!(takeover.reason, TransitionReason::MasterResigned);
    let skew = rfc::skew_time(100, ms(100));
    assert!(
        takeover.at - at <= skew + ms(1),
        "took {:?}",
        takeover.at - at
    );
    assert!(takeover.at - at >= skew, "before Skew_Time");
    assert!(!world.running(0), "the stopped agent exited");
}

#[test]
fn handover_without_a_successor_gives_the_vip_up_after_master_down_interval() {
    let a = Spec::new(150, ms(100));
    let mut world = World::new(3);
    world.add_host(&a.yaml());
    world.start(0);
    world.set_check(0, "svc", true);
    world.run_for(ms(500));
    assert_eq!(world.holders(web()), vec![0]);
    let at = world.now();
    world.stop(0);
    let kept = until_held(&mut world, web(), &[], ms(1000));
    let mdi = rfc::master_down_interval(150, ms(100));
    // Nobody will speak: the VIP stays as long as a Backup might need to
    // take over, and not much longer.
    assert!(kept >= mdi, "gave up after {kept:?}, before {mdi:?}");
    assert!(kept <= rfc::master_down_interval(1, ms(100)) + ms(2));
    assert!(world.now() - at < ms(1000));
}

#[test]
fn switchover_moves_the_vip_without_a_gap_and_the_old_master_follows() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    // In the usual start order the Master never heard its silent Backup;
    // the switchover goes ahead all the same and confirms the new Master.
    assert!(world.switchover(0, "web"));
    never_unheld(&mut world, web(), ms(300));
    assert_eq!(world.holders(web()), vec![1]);
    let [(0, answer)] = world.answers.as_slice() else {
        panic!("one answer from host 0: {:?}", world.answers)
    };
    let message = answer.message.as_deref().unwrap_or_default();
    assert!(answer.ok, "{answer:?}");
    assert!(
        message.contains(&format!("new Master {}", World::address(1))),
        "{message}"
    );
    // The higher-priority host does not preempt back (it follows until the
    // new Master fails).
    world.run_for(ms(2000));
    assert_eq!(world.holders(web()), vec![1]);
    world.crash(1);
    until_held(&mut world, web(), &[0], ms(1000));
}

#[test]
fn switchover_with_nobody_to_take_over_keeps_the_vip_on_the_master_throughout() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    world.crash(1);
    let hooks_before = world.hook_log.len();
    let start = world.now();
    assert!(world.switchover(0, "web"));
    // RFC 9568 §6.1 with the Master's own priority and interval, plus 1 ms
    // for the simulated address jobs and delivery.
    let deadline = rfc::master_down_interval(a.priority, a.interval);
    while world.answers.is_empty() {
        assert!(world.now() - start <= deadline + ms(1), "no answer by then");
        world.run_for(Duration::from_micros(100));
        assert_eq!(world.holders(web()), vec![0], "at {:?}", world.now());
    }
    let waited = world.now() - start;
    assert!(waited + ms(1) >= deadline, "answered after {waited:?}");
    let (host, answer) = &world.answers[0];
    assert_eq!(*host, 0);
    assert!(!answer.ok);
    let error = answer.error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("no router took over within")
            && error.ends_with("web stays Master on this host"),
        "{error}"
    );
    assert_eq!(
        world.hook_log[hooks_before..]
            .iter()
            .filter(|h| h.host == 0 && h.name == "web")
            .count(),
        0,
        "no hook ran: {:?}",
        &world.hook_log[hooks_before..]
    );
    world.run_for(ms(1000));
    assert_eq!(world.holders(web()), vec![0], "still serving");
}

#[test]
fn fault_during_a_handover_removes_the_vip_at_once() {
    let a = Spec::new(150, ms(1000));
    let b = Spec::new(100, ms(1000));
    let mut world = pair(&a, &b);
    world.set_cut(0, 1, true);
    world.maintenance(0, "web", true);
    world.run_for(ms(50));
    assert_eq!(world.holders(web()), vec![0], "handing over: the VIP stays");
    world.set_check(0, "svc", false);
    world.run_for(ms(2));
    assert!(
        !world.holders(web()).contains(&0),
        "a fault ends the handover: the VIP goes now"
    );
}

#[test]
fn maintenance_moves_the_vip_away_and_off_brings_it_back() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    world.maintenance(0, "web", true);
    never_unheld(&mut world, web(), ms(300));
    assert_eq!(world.holders(web()), vec![1]);
    world.run_for(ms(1000));
    assert_eq!(world.holders(web()), vec![1], "stays away while on");
    let at = world.now();
    world.maintenance(0, "web", false);
    until_held(&mut world, web(), &[0], ms(1000));
    // RFC 9568 §6.4.2: a preempting Backup discards the lower Master's
    // adverts and takes over when its own Master_Down_Interval runs out.
    let took = world.now() - at;
    let mdi = rfc::master_down_interval(150, ms(100));
    assert!(took <= mdi + ms(2), "took {took:?}, bound {mdi:?}");
    assert!(took + ms(100) >= mdi, "took {took:?}, before {mdi:?}");
}

#[test]
fn before_master_failure_keeps_the_vip_off_and_faults_until_retry() {
    let mut a = Spec::new(150, ms(100));
    a.before_master = true;
    let b = Spec::new(100, ms(100));
    let mut world = World::new(5);
    world.add_host(&b.yaml());
    world.add_host(&a.yaml());
    world.hosts[1]
        .hooks
        .insert("before".into(), HookPlan::Exit(1, ms(5)));
    world.start(0);
    world.set_check(0, "svc", true);
    world.run_for(ms(500));
    world.start(1);
    world.set_check(1, "svc", true);
    // Host 1 preempts, runs before_master, which fails: it never holds the
    // VIP and goes to Fault; host 0 takes the VIP back.
    for _ in 0..2000 {
        world.run_for(ms(1));
        assert!(
            !world.holders(web()).contains(&1),
            "VIP added despite failure"
        );
    }
    assert_eq!(world.holders(web()), vec![0]);
    let status = world.status(1).expect("running");
    assert_eq!(status.instances[0].state, State::Fault);
    assert!(status.instances[0].fault_reasons[0].starts_with("before_master failed"));
    // After before_master_retry (1 s in the spec) it tries again, and now succeeds.
    world.hosts[1]
        .hooks
        .insert("before".into(), HookPlan::Exit(0, ms(5)));
    until_held(&mut world, web(), &[1], ms(2000));
    // One before_master per Master term; every failed term's on_master is
    // skipped, the last one runs.
    let of = |kind: HookKind| {
        world
            .hook_log
            .iter()
            .filter(|h| h.host == 1 && h.name == "web" && h.kind == kind)
            .collect::<Vec<_>>()
    };
    let before = of(HookKind::BeforeMaster);
    let on_master = of(HookKind::OnMaster);
    assert!(before.len() >= 2, "tried again after before_master_retry");
    assert_eq!(before.len(), on_master.len());
    let (last, failed) = on_master.split_last().expect("on_master hooks");
    assert!(
        failed.iter().all(|h| h.skipped),
        "failed terms skip on_master"
    );
    assert!(!last.skipped);
}

#[test]
fn hooks_run_one_at_a_time_in_transition_order_and_on_master_waits_for_the_vip() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    // Slow hooks on host 1: they queue behind each other, never overlapping
    // (the world panics if two of one instance run at once).
    world.hosts[1]
        .hooks
        .insert("hook".into(), HookPlan::Exit(0, ms(150)));
    world.address_delay = ms(20);
    for _ in 0..3 {
        world.crash(0);
        world.run_for(ms(600));
        world.start(0);
        world.set_check(0, "svc", true);
        world.run_for(ms(600));
    }
    world.run_for(ms(3000));
    schedule::assert_hook_order(&world, true);
    let on_master: Vec<_> = world
        .hook_log
        .iter()
        .filter(|h| h.host == 1 && h.name == "web" && h.kind == HookKind::OnMaster)
        .collect();
    assert_eq!(on_master.len(), 3);
    for hook in on_master {
        let became = world
            .transitions
            .iter()
            .rfind(|t| t.host == 1 && t.to == State::Master && t.at <= hook.at)
            .expect("a transition before the hook");
        assert!(
            hook.at >= became.at + ms(20),
            "on_master at {:?} before the address job finished",
            hook.at
        );
    }
}

#[test]
fn sync_group_members_move_together_when_one_members_check_fails() {
    let mut a = Spec::new(150, ms(100));
    a.group = true;
    a.weight = 0;
    let mut b = Spec::new(100, ms(100));
    b.group = true;
    let mut world = pair(&a, &b);
    let db: IpAddr = "192.0.2.51".parse().expect("address");
    assert_eq!(world.holders(db), vec![0]);
    world.set_check(0, "svc", false);
    let took = until_held(&mut world, web(), &[1], ms(1000));
    // The partner resigns too; make before break keeps it on host 0 until
    // host 1's db has spoken and had one interval to announce.
    until_held(&mut world, db, &[1], ms(110));
    // A Fault sends priority 0: the Backup takes over within Skew_Time.
    assert!(
        took <= rfc::skew_time(100, ms(100)) + ms(2),
        "took {took:?}"
    );
    world.set_check(0, "svc", true);
    until_held(&mut world, web(), &[0], ms(1000));
    until_held(&mut world, db, &[0], ms(110));
}

#[test]
fn negative_weight_lowers_priority_below_the_backup_and_moves_the_vip() {
    let mut a = Spec::new(150, ms(100));
    a.weight = -60;
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    world.set_check(0, "svc", false);
    until_held(&mut world, web(), &[1], ms(1000));
    let status = world.status(0).expect("running");
    assert_eq!(status.instances[0].priority, 90);
    world.set_check(0, "svc", true);
    until_held(&mut world, web(), &[0], ms(1000));
}

#[test]
fn reload_changes_priority_in_place_and_a_removed_instance_resigns() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    let before = world.transitions.len();
    let mut lower = a.clone();
    lower.priority = 50;
    world.reload(0, &lower.yaml());
    until_held(&mut world, web(), &[1], ms(1000));
    let first = world.transitions[before..]
        .iter()
        .find(|t| t.host == 0)
        .expect("host 0 moved");
    assert_eq!(
        (first.instance.as_str(), first.reason),
        ("web", TransitionReason::PreemptedByHigherPriority),
        "reconfigured in place, not restarted"
    );
    let mut gone = lower.clone();
    gone.instances = 0;
    world.reload(0, &gone.yaml());
    world.run_for(ms(100));
    let status = world.status(0).expect("running");
    assert!(status.instances.is_empty());
}

#[test]
fn own_routed_and_corrupt_adverts_are_dropped_and_counted() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    let status = world.status(0).expect("running");
    let own = status.dropped["eth0"]["own_advert"];
    assert!(own > 0, "the group loops our adverts back");
    schedule::inject_hostile(&mut world, 1, 5);
    world.run_for(ms(10));
    let status = world.status(1).expect("running");
    assert_eq!(status.dropped["eth0"]["bad_ttl"], 5);
    assert_eq!(status.dropped["eth0"]["bad_checksum"], 5);
    assert_eq!(status.dropped["eth0"]["truncated"], 5);
    assert_eq!(world.holders(web()), vec![0], "nothing changed");
}

#[test]
fn random_fault_schedules_keep_the_invariants() {
    schedule::run_many("random_fault_schedules_keep_the_invariants", 0);
}

#[test]
fn random_fault_schedules_keep_the_invariants_second_half() {
    schedule::run_many("random_fault_schedules_keep_the_invariants_second_half", 1);
}

#[test]
fn maintenance_is_kept_across_a_crash_and_restart() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    world.maintenance(0, "web", true);
    world.run_for(ms(500));
    world.crash(0);
    world.start(0);
    world.set_check(0, "svc", true);
    // The restarted agent reads the saved set: it stays Backup although it
    // outranks the Master and preempts by default.
    world.run_for(ms(2000));
    assert_eq!(world.holders(web()), vec![1]);
    let status = world.status(0).expect("running");
    assert!(status.instances[0].maintenance);
    assert_eq!(status.instances[0].state, State::Backup);
    world.maintenance(0, "web", false);
    until_held(&mut world, web(), &[0], ms(1000));
}

/// The repairs host `id`'s agent counted for `web`.
fn repairs(world: &World, id: usize) -> u64 {
    let status = world.status(id).expect("running");
    let web = status.instances.iter().find(|i| i.name == "web");
    web.expect("web").counters.address_repairs
}

#[test]
fn a_vip_deleted_behind_the_masters_back_comes_back_and_a_copy_on_the_backup_goes() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    // Back within max(100 ms, one advert interval).
    let bound = ms(100).max(a.interval);
    world.delete_address(0, web());
    assert_eq!(world.holders(web()), Vec::<usize>::new());
    until_held(&mut world, web(), &[0], bound);
    assert_eq!(repairs(&world, 0), 1);
    // A copy added on the Backup goes as fast.
    world.add_address(1, web());
    until_held(&mut world, web(), &[0], bound);
    assert_eq!(repairs(&world, 1), 1);
    // A deletion whose notification was lost is found by the next re-read
    // (or put back by the next lifetime refresh, uncounted, whichever comes
    // first: here the re-read).
    world.hosts[0].addresses.remove(&web());
    world.run_for(ms(1));
    assert_eq!(world.holders(web()), Vec::<usize>::new(), "nobody told");
    world.reread_addresses(0);
    until_held(&mut world, web(), &[0], bound);
    // Nothing else is counted while lifetimes are renewed for a while.
    world.run_for(ms(5000));
    assert_eq!((repairs(&world, 0), repairs(&world, 1)), (2, 1));
    assert_eq!(world.holders(web()), vec![0]);
}

#[test]
fn the_agents_own_transitions_are_never_taken_for_changes_behind_its_back() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    // Slow address jobs, and echoes of them arriving later still: every
    // transition has jobs in flight and late notifications of old jobs.
    world.address_delay = ms(20);
    world.notice_delay = ms(35);
    for round in 0..3 {
        world.crash(0);
        world.run_for(ms(600));
        world.start(0);
        world.set_check(0, "svc", true);
        world.run_for(ms(800));
        assert!(world.switchover(0, "web"), "round {round}");
        world.run_for(ms(800));
        world.maintenance(1, "web", true);
        world.run_for(ms(800));
        world.maintenance(1, "web", false);
        world.run_for(ms(800));
        for host in 0..2 {
            world.reread_addresses(host);
        }
        world.run_for(ms(300));
    }
    assert_eq!((repairs(&world, 0), repairs(&world, 1)), (0, 0));
    assert_eq!(world.holders(web()).len(), 1);
}

#[test]
fn a_reload_removing_an_instance_whose_hooks_hang_never_stalls_the_other_masters_adverts() {
    // Host 0 is Master of both web (VRID 51) and db (VRID 52). Its hooks now
    // hang until their timeout; a reload removes db, whose stop hooks
    // (after_backup, on_stop, on_change) then take three timeouts in all.
    // Meanwhile web must advertise every Advertisement_Interval, as if no
    // reload had happened (RFC 9568 §6.4.3: a Master sends an advert each
    // time its Adver_Timer fires).
    let mut a = Spec::new(150, ms(100));
    a.hook_timeout = ms(2000);
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    world.run_for(a.hook_timeout);
    assert!(world.quiet(0), "the start-up hooks are done");
    world.hosts[0].hooks.insert("hook".into(), HookPlan::Hang);
    let reloaded_at = world.now();
    let mut web_only = a.clone();
    web_only.instances = 1;
    world.reload(0, &web_only.yaml());
    let window = a.hook_timeout * 4;
    world.run_for(window);

    let stop_hooks: Vec<_> = world
        .hook_log
        .iter()
        .filter(|h| h.host == 0 && h.name == "db" && h.at >= reloaded_at && !h.skipped)
        .map(|h| h.kind)
        .collect();
    assert!(
        stop_hooks.contains(&HookKind::OnStop),
        "the removed instance's hooks ran (and hung): {stop_hooks:?}"
    );
    let web_adverts: Vec<Duration> = world
        .adverts
        .iter()
        .filter(|s| s.host == 0 && s.vrid == 51 && s.at + a.interval >= reloaded_at)
        .map(|s| s.at)
        .collect();
    assert!(
        web_adverts.first().is_some_and(|&t| t <= reloaded_at),
        "web advertised before the reload"
    );
    for pair in web_adverts.windows(2) {
        assert!(
            pair[1] - pair[0] <= a.interval,
            "no advert from web between {:?} and {:?} (reload at {reloaded_at:?})",
            pair[0],
            pair[1]
        );
    }
    let last = web_adverts.last().copied().unwrap_or_default();
    assert!(
        reloaded_at + window - last <= a.interval,
        "web still advertises at the end: last at {last:?}"
    );
    assert_eq!(world.holders(web()), vec![0], "web never moved");
}

/// Host `id`'s transitions of `web` since `since`, as (to, reason).
fn web_moves(world: &World, id: usize, since: Duration) -> Vec<(State, TransitionReason)> {
    world
        .transitions
        .iter()
        .filter(|t| t.host == id && t.instance == "web" && t.at >= since)
        .map(|t| (t.to, t.reason))
        .collect()
}

#[test]
fn a_master_whose_interface_is_made_again_comes_back_and_fails_over_both_ways() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    let deleted = world.now();
    world.delete_interface(0);
    assert_eq!(world.hosts[0].states["web"], State::Fault);
    assert_eq!(world.hosts[0].states["db"], State::Fault);
    // RFC 9568 §6.4.2: B's Master_Down_Interval runs from A's last advert,
    // at most one interval before the deletion.
    let took = until_held(&mut world, web(), &[1], ms(1000));
    let mdi_b = rfc::master_down_interval(100, ms(100));
    assert!(took <= mdi_b + ms(2), "took {took:?}, bound {mdi_b:?}");
    assert!(took + ms(100) >= mdi_b, "took {took:?}, before {mdi_b:?}");
    world.run_for(ms(500));
    assert_eq!(world.hosts[0].states["web"], State::Fault, "gone is gone");

    let made = world.now();
    world.create_interface(0);
    world.run_for(ms(5));
    // RFC 9568 §6.4.1: out of Initialize, Backup; then A preempts B, whose
    // adverts are lower, when its own Master_Down_Interval runs out.
    assert_eq!(
        web_moves(&world, 0, made),
        vec![(State::Backup, TransitionReason::FaultCleared)]
    );
    let rejoined = world
        .transitions
        .iter()
        .rfind(|t| t.host == 0 && t.instance == "web")
        .map(|t| t.at)
        .expect("rejoined");
    until_held(&mut world, web(), &[0], ms(1000));
    let back = world.now() - rejoined;
    let mdi_a = rfc::master_down_interval(150, ms(100));
    assert!(back >= mdi_a, "took back after {back:?}, before {mdi_a:?}");
    assert!(
        back <= mdi_a + ms(2),
        "took back after {back:?}, bound {mdi_a:?}"
    );
    assert_eq!(world.hosts[1].states["web"], State::Backup);
    assert!(
        world
            .transitions
            .iter()
            .any(|t| t.host == 0 && t.at >= deleted && t.to == State::Master && t.instance == "db"),
        "db, on the same interface, is back too"
    );

    // And on the new interface, failover works both ways.
    world.set_link(0, false);
    let took = until_held(&mut world, web(), &[1], ms(1000));
    assert!(took <= mdi_b + ms(2), "took {took:?}, bound {mdi_b:?}");
    world.set_link(0, true);
    let back = until_held(&mut world, web(), &[0], ms(1000));
    assert!(
        back <= mdi_a + ms(2),
        "took back after {back:?}, bound {mdi_a:?}"
    );
}

#[test]
fn a_backup_whose_interface_is_made_again_rejoins_and_takes_over_when_needed() {
    let a = Spec::new(150, ms(100));
    let b = Spec::new(100, ms(100));
    let mut world = pair(&a, &b);
    world.delete_interface(1);
    assert_eq!(world.hosts[1].states["web"], State::Fault);
    never_unheld(&mut world, web(), ms(500));
    assert_eq!(world.holders(web()), vec![0], "the Master is not disturbed");
    let made = world.now();
    world.create_interface(1);
    // Rejoins as Backup, and hearing A on its new socket stays Backup
    // (otherwise it would take over after its Master_Down_Interval).
    world.run_for(rfc::master_down_interval(100, ms(100)) * 3);
    assert_eq!(
        web_moves(&world, 1, made),
        vec![(State::Backup, TransitionReason::FaultCleared)]
    );
    assert_eq!(world.holders(web()), vec![0]);
    let crashed = world.now();
    world.crash(0);
    let took = until_held(&mut world, web(), &[1], ms(1000));
    let mdi_b = rfc::master_down_interval(100, ms(100));
    assert!(took <= mdi_b + ms(2), "took {took:?}, bound {mdi_b:?}");
    assert!(took + ms(100) >= mdi_b, "took {took:?}, before {mdi_b:?}");
    assert!(world.now() > crashed);
}
