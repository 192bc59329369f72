//! Random fault schedules for whole agents on the simulated LAN, and the
//! invariants they must keep.
//!
//! A schedule is drawn from one seed: two or three hosts with random
//! priorities, intervals, preemption, tracking weights, sync groups and hooks,
//! then a run of phases, each one disturbance (crash, graceful stop,
//! partition, loss, delay, link flap, check flap, switchover, maintenance,
//! reload, a failing or hanging `before_master`, hanging hooks), held for a
//! while, undone, and followed by a calm period. Checked at every step:
//! - no VIP is without a holder for longer than Master_Down_Interval (of the
//!   lowest priority, at the longest interval) plus `before_master`'s timeout
//!   and the address jobs, while some eligible router exists;
//! - a graceful handover (stop, switchover, maintenance) never leaves the VIP
//!   without a holder;
//! - hooks of one instance never overlap (the world panics otherwise).
//!
//! Checked after every calm period: exactly one eligible router holds each VIP,
//! no eligible Backup outranks it unless it may not preempt, and sync-group
//! members are held together. At the end: each instance's hooks ran in its
//! transition order. A failing schedule prints its seed; `TWINSTAR_SIM_SEED=N`
//! replays it alone.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use twinstar::agent::{Datagram, Input, SocketKey};
use twinstar::notify::record::HookKind;
use twinstar::vrrp::State;
use twinstar::wire::vrrp::{Addresses, Advertisement, ChecksumForm};
use twinstar::wire::VRRP_GROUP_V4;

use super::rfc;
use super::sim::hosts::{HookPlan, HostId, World};
use super::sim::SplitMix64;

/// The instances every schedule runs, with their VIPs.
const INSTANCES: [(&str, &str); 2] = [("web", "192.0.2.50"), ("db", "192.0.2.51")];

/// One host's configuration, as the schedule draws it.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `web`'s priority.
    pub priority: u8,
    /// `db`'s priority.
    pub db_priority: u8,
    /// Advert interval of both instances.
    pub interval: Duration,
    /// Preempt mode.
    pub preempt: bool,
    /// Preempt delay.
    pub preempt_delay: Duration,
    /// Weight of the tracked check `svc` (0: Fault while down).
    pub weight: i32,
    /// Whether `web` and `db` form a sync group.
    pub group: bool,
    /// Whether the hooks (`hook`) are configured.
    pub hooks: bool,
    /// Whether `before_master` (`before`) is configured.
    pub before_master: bool,
    /// Timeout of every hook.
    pub hook_timeout: Duration,
    /// How many of the instances run (0, 1 or 2).
    pub instances: usize,
}

impl Spec {
    /// Both instances at `priority`, preempting, hooks on, no group.
    pub fn new(priority: u8, interval: Duration) -> Self {
        Spec {
            priority,
            db_priority: priority,
            interval,
            preempt: true,
            preempt_delay: Duration::ZERO,
            weight: 0,
            group: false,
            hooks: true,
            before_master: false,
            hook_timeout: Duration::from_millis(200),
            instances: 2,
        }
    }

    /// The configuration file.
    pub fn yaml(&self) -> String {
        if self.instances == 0 {
            return "instances: []\n".to_owned();
        }
        let timeout = format!("{}ms", self.hook_timeout.as_millis());
        let mut text = String::from("checks:\n  - name: svc\n    script: 'true'\ninstances:\n");
        for (index, (name, vip)) in INSTANCES.iter().enumerate().take(self.instances) {
            let priority = if index == 0 {
                self.priority
            } else {
                self.db_priority
            };
            text += &format!(
                "  - name: {name}\n    interface: eth0\n    vrid: {}\n    priority: {priority}\n    \
                 advert_interval: {}ms\n    preempt: {}\n    preempt_delay: {}ms\n    \
                 virtual_ips: [{vip}/24]\n    track:\n      - check: svc\n        weight: {}\n",
                51 + index,
                self.interval.as_millis(),
                self.preempt,
                self.preempt_delay.as_millis(),
                self.weight,
            );
            if self.hooks {
                text += "    hooks:\n";
                for hook in [
                    "on_master",
                    "on_backup",
                    "on_fault",
                    "on_stop",
                    "on_change",
                    "after_backup",
                ] {
                    text += &format!("      {hook}: {{command: hook, timeout: {timeout}}}\n");
                }
                if self.before_master {
                    text += &format!(
                        "      before_master: {{command: before, timeout: {timeout}}}\n      \
                         before_master_retry: 1s\n"
                    );
                }
            }
        }
        if self.group && self.instances == 2 {
            text += "sync_groups:\n  - name: pair\n    instances: [web, db]\n";
            if self.hooks {
                text += "    hooks:\n";
                for hook in ["on_master", "on_backup", "on_change"] {
                    text += &format!("      {hook}: {{command: hook, timeout: {timeout}}}\n");
                }
            }
        }
        text
    }
}

/// The seeds of half `h` start at `h * HALF_SPAN`.
const HALF_SPAN: u64 = 1_000_000_007;

/// Runs the schedules of one half (0 or 1): `TWINSTAR_SIM_SCHEDULES` of them
/// (default 5,000 in an optimised build, 150 in a debug one), or only
/// `TWINSTAR_SIM_SEED` when set.
pub fn run_many(test: &str, half: u64) {
    if let Some(seed) = std::env::var("TWINSTAR_SIM_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        // Each half replays the seeds it draws, so the command a failure
        // prints (naming its half's test) runs that schedule.
        if seed / HALF_SPAN == half {
            run_schedule(seed);
        }
        return;
    }
    let default = if cfg!(debug_assertions) { 150 } else { 5_000 };
    let count = std::env::var("TWINSTAR_SIM_SCHEDULES")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(default);
    let started = std::time::Instant::now();
    for n in 0..count {
        let seed = half * HALF_SPAN + n;
        let result = std::panic::catch_unwind(|| run_schedule(seed));
        if let Err(panic) = result {
            eprintln!(
                "{test}: schedule with seed {seed} failed; replay it alone with \
                 TWINSTAR_SIM_SEED={seed} cargo test --test sim_agents {test}"
            );
            std::panic::resume_unwind(panic);
        }
    }
    eprintln!(
        "{test}: {count} random fault schedules passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A disturbance of one phase.
#[derive(Debug, Clone, Copy)]
enum Disturbance {
    Crash(HostId),
    Stop(HostId),
    Cut(HostId, HostId),
    Loss(HostId, u8),
    Delay(HostId, Duration),
    LinkFlap(HostId),
    /// The interface is deleted, and made again (with a new index) at the end.
    Remake(HostId),
    CheckFails(HostId),
    Switchover,
    Maintenance(HostId, usize),
    Reload(HostId, u8),
    BeforeMasterFails(HostId),
    BeforeMasterHangs(HostId),
    HooksHang(HostId),
}

/// The invariants checked at every step, with what they need to know.
struct Guard {
    vips: Vec<(String, IpAddr)>,
    /// Per instance: since when no host holds its VIP.
    unheld_since: Vec<Option<Duration>>,
    /// Per instance: when the set of eligible hosts last changed.
    last_change: Vec<Duration>,
    /// Per instance: the eligible hosts at the last step.
    eligible: Vec<Vec<bool>>,
    /// The longest a VIP may stay without a holder while a router is eligible.
    bound: Duration,
    /// A graceful handover of this instance is under way until then.
    graceful: Option<(usize, Duration)>,
}

/// Whether host `h` may hold `instance`: running, cabled (its interface
/// there), in Backup or Master (not Fault), not in maintenance.
fn eligible(world: &World, h: HostId, instance: &str) -> bool {
    let host = &world.hosts[h];
    world.running(h)
        && host.link_up
        && host.interface_present
        && matches!(
            host.states.get(instance),
            Some(State::Backup | State::Master)
        )
        && !host.maintenance.contains(instance)
}

impl Guard {
    fn check(&mut self, world: &World) {
        let now = world.now();
        for (k, (name, vip)) in self.vips.iter().enumerate() {
            let eligible: Vec<bool> = (0..world.hosts.len())
                .map(|h| eligible(world, h, name))
                .collect();
            if eligible != self.eligible[k] {
                self.eligible[k] = eligible.clone();
                self.last_change[k] = now;
            }
            if !world.holders(*vip).is_empty() {
                self.unheld_since[k] = None;
                continue;
            }
            let since = *self.unheld_since[k].get_or_insert(now);
            if !eligible.contains(&true) {
                continue;
            }
            if let Some((instance, until)) = self.graceful {
                assert!(
                    instance != k || now >= until,
                    "{name}: a graceful handover left {vip} without a holder at {now:?}"
                );
            }
            let from = since.max(self.last_change[k]);
            assert!(
                now - from <= self.bound,
                "{name}: {vip} without a holder since {since:?} (eligible since {:?}), \
                 now {now:?}, bound {:?}; eligible hosts {eligible:?}",
                self.last_change[k],
                self.bound
            );
        }
    }
}

/// Checks the calm state: one eligible holder per VIP, no eligible Backup
/// that should have preempted it, sync-group members held together.
fn assert_converged(world: &World, specs: &[Spec], context: &str) {
    let statuses: Vec<_> = (0..world.hosts.len()).map(|h| world.status(h)).collect();
    for (name, vip) in INSTANCES.iter().take(specs[0].instances) {
        let vip: IpAddr = vip.parse().expect("address");
        let holders = world.holders(vip);
        let candidates: Vec<HostId> = (0..world.hosts.len())
            .filter(|&h| eligible(world, h, name))
            .collect();
        if candidates.is_empty() {
            assert!(
                holders.is_empty(),
                "{context}: {name} held by {holders:?} with no eligible host"
            );
            continue;
        }
        assert_eq!(
            holders.len(),
            1,
            "{context}: {name} held by {holders:?}; eligible {candidates:?}"
        );
        let master = holders[0];
        assert!(
            candidates.contains(&master),
            "{context}: {name} held by ineligible host {master}"
        );
        let of = |h: HostId| {
            statuses[h]
                .as_ref()
                .and_then(|s| s.instances.iter().find(|i| i.name == *name).cloned())
                .expect("running host has the instance")
        };
        let held = of(master);
        assert_eq!(
            held.state,
            State::Master,
            "{context}: {name} holder {master} is {}",
            held.state
        );
        for &c in candidates.iter().filter(|&&c| c != master) {
            let other = of(c);
            assert_eq!(
                other.state,
                State::Backup,
                "{context}: {name} on {c} is {}",
                other.state
            );
            if other.priority > held.priority {
                assert!(
                    !specs[c].preempt || other.switchover_hold,
                    "{context}: {name}: host {c} (priority {}) should have preempted host {master} \
                     (priority {})",
                    other.priority,
                    held.priority
                );
            }
        }
    }
    if specs[0].group && specs[0].instances == 2 {
        let web: IpAddr = INSTANCES[0].1.parse().expect("address");
        let db: IpAddr = INSTANCES[1].1.parse().expect("address");
        assert_eq!(
            world.holders(web),
            world.holders(db),
            "{context}: sync group split"
        );
    }
}

/// The hooks each transition queues, in order (before_master aside).
fn expected_hooks(from: State, to: State, group: bool) -> Vec<HookKind> {
    let mut kinds = Vec::new();
    if from == State::Master && !group {
        kinds.push(HookKind::AfterBackup);
    }
    match to {
        State::Master => kinds.push(HookKind::OnMaster),
        State::Backup => kinds.push(HookKind::OnBackup),
        State::Fault if !group => kinds.push(HookKind::OnFault),
        State::Initialize if !group => kinds.push(HookKind::OnStop),
        _ => {}
    }
    kinds.push(HookKind::OnChange);
    kinds
}

/// Each instance's (and group's) hooks ran in its transition order: all of
/// them for a quiet running agent, a prefix of them for one that crashed or
/// is still busy. With `all_hooks` false, hosts without hooks are skipped.
pub fn assert_hook_order(world: &World, all_hooks: bool) {
    let mut owners: Vec<(HostId, u32, String, bool)> = world
        .transitions
        .iter()
        .map(|t| (t.host, t.incarnation, t.instance.clone(), false))
        .chain(
            world
                .group_transitions
                .iter()
                .map(|g| (g.host, g.incarnation, g.group.clone(), true)),
        )
        .collect();
    owners.sort();
    owners.dedup();
    for (host, incarnation, name, group) in owners {
        let expected: Vec<(HookKind, State, State)> = if group {
            world
                .group_transitions
                .iter()
                .filter(|g| g.host == host && g.incarnation == incarnation && g.group == name)
                .flat_map(|g| {
                    expected_hooks(g.from, g.to, true)
                        .into_iter()
                        .map(move |k| (k, g.from, g.to))
                })
                .collect()
        } else {
            world
                .transitions
                .iter()
                .filter(|t| t.host == host && t.incarnation == incarnation && t.instance == name)
                .flat_map(|t| {
                    expected_hooks(t.from, t.to, false)
                        .into_iter()
                        .map(move |k| (k, t.from, t.to))
                })
                .collect()
        };
        let ran: Vec<(HookKind, State, State)> = world
            .hook_log
            .iter()
            .filter(|h| {
                h.host == host
                    && h.incarnation == incarnation
                    && h.name == name
                    && h.group == group
                    && h.kind != HookKind::BeforeMaster
            })
            .map(|h| (h.kind, h.from, h.to))
            .collect();
        if ran.is_empty() && !all_hooks {
            continue;
        }
        let live = world.hosts[host].incarnation == incarnation
            && world.running(host)
            && world.quiet(host);
        if live {
            assert_eq!(
                ran, expected,
                "host {host} {name}: hooks out of transition order"
            );
        } else {
            assert!(
                expected.starts_with(&ran),
                "host {host} {name} (incarnation {incarnation}): hooks {ran:?} are not a prefix of {expected:?}"
            );
        }
    }
}

/// Feeds host `h` `n` rounds of a routed advert (TTL 64), a corrupt one and a
/// truncated one, as a stranger on the LAN would send.
pub fn inject_hostile(world: &mut World, h: HostId, n: usize) {
    let stranger: IpAddr = "192.0.2.99".parse().expect("address");
    let group = IpAddr::V4(VRRP_GROUP_V4);
    let advert = Advertisement::new(
        51,
        254,
        Duration::from_millis(100),
        Addresses::V4(vec!["192.0.2.50".parse().expect("address")]),
    )
    .expect("valid advert");
    let bytes = advert
        .to_bytes(stranger, group, ChecksumForm::PseudoHeader)
        .expect("emits");
    let mut corrupt = bytes.clone();
    corrupt[6] ^= 0x55;
    let datagram = |hop_limit: u8, payload: Vec<u8>| Datagram {
        socket: SocketKey {
            ifindex: 2,
            ipv6: false,
        },
        source: stranger,
        destination: group,
        hop_limit: Some(hop_limit),
        payload: Ok(payload.into()),
    };
    for _ in 0..n {
        world.feed(h, Input::Datagram(datagram(64, bytes.clone())));
        world.feed(h, Input::Datagram(datagram(255, corrupt.clone())));
        world.feed(h, Input::Datagram(datagram(255, bytes[..3].to_vec())));
    }
}

fn pick<T: Copy>(rng: &mut SplitMix64, options: &[T]) -> T {
    options[(rng.next() % options.len() as u64) as usize]
}

fn below(rng: &mut SplitMix64, n: u64) -> u64 {
    rng.next() % n.max(1)
}

/// Rounds down to whole 10 ms (what the configuration accepts), at least 10 ms.
fn centis(d: Duration) -> Duration {
    Duration::from_millis((d.as_millis() as u64 / 10).max(1) * 10)
}

/// Draws and runs the schedule of `seed`, checking every invariant.
pub fn run_schedule(seed: u64) {
    let mut rng = SplitMix64(seed ^ 0x5eed_5eed);
    let hosts = 2 + below(&mut rng, 2) as usize;
    let intervals_ms = [10u64, 20, 50, 100, 200, 500, 1000];
    let base = Duration::from_millis(pick(&mut rng, &intervals_ms));
    let weight = pick(&mut rng, &[0, 0, -60]);
    let group = below(&mut rng, 2) == 0;
    let hooks = below(&mut rng, 2) == 0;
    let before_master = hooks && below(&mut rng, 3) == 0;
    let priority = |rng: &mut SplitMix64| {
        let any = 1 + below(rng, 254) as u8;
        pick(rng, &[100u8, 150, 200, any])
    };
    let mut specs: Vec<Spec> = (0..hosts)
        .map(|_| {
            let interval = if below(&mut rng, 4) == 0 {
                Duration::from_millis(pick(&mut rng, &intervals_ms))
            } else {
                base
            };
            let mut spec = Spec::new(priority(&mut rng), interval);
            spec.db_priority = priority(&mut rng);
            spec.preempt = below(&mut rng, 4) != 0;
            if below(&mut rng, 3) == 0 {
                spec.preempt_delay = centis(interval * (1 + below(&mut rng, 3) as u32));
            }
            spec.weight = weight;
            spec.group = group;
            spec.hooks = hooks;
            spec.before_master = before_master;
            spec
        })
        .collect();
    let i_min = specs.iter().map(|s| s.interval).min().unwrap_or(base);
    let i_max = specs.iter().map(|s| s.interval).max().unwrap_or(base);
    let delay_max = specs
        .iter()
        .map(|s| s.preempt_delay)
        .max()
        .unwrap_or_default();
    let hook_timeout = centis((i_min / 2).max(Duration::from_millis(10)));
    for spec in &mut specs {
        spec.hook_timeout = hook_timeout;
    }
    let mut world = World::new(seed);
    world.address_delay = Duration::from_micros(100 + below(&mut rng, 1900));
    let hook_time =
        |rng: &mut SplitMix64| Duration::from_micros(below(rng, i_min.as_micros() as u64 / 4));
    for spec in &specs {
        let h = world.add_host(&spec.yaml());
        let plan = HookPlan::Exit(0, hook_time(&mut rng));
        world.hosts[h].hooks.insert("hook".into(), plan);
        let plan = HookPlan::Exit(0, hook_time(&mut rng));
        world.hosts[h].hooks.insert("before".into(), plan);
    }
    // A VIP may go unheld for a Backup's Master_Down_Interval (at most that
    // of priority 1 at the longest interval), plus before_master's timeout
    // and a few address jobs, plus one interval for a Backup that adopted
    // the longer interval of a Master that has since gone.
    let bound = rfc::master_down_interval(1, i_max)
        + i_max
        + if before_master {
            hook_timeout
        } else {
            Duration::ZERO
        }
        + world.address_delay * 8
        + Duration::from_millis(1);
    let instances = specs[0].instances;
    let guard = Rc::new(RefCell::new(Guard {
        vips: INSTANCES
            .iter()
            .take(instances)
            .map(|(n, v)| ((*n).to_owned(), v.parse().expect("address")))
            .collect(),
        unheld_since: vec![None; instances],
        last_change: vec![Duration::ZERO; instances],
        eligible: vec![vec![false; hosts]; instances],
        bound,
        graceful: None,
    }));
    let observer = guard.clone();
    world.observe(move |w| observer.borrow_mut().check(w));
    // Calm: long enough for any takeover (Master_Down_Interval < 4 intervals),
    // a preemption after the next advert and its delay, and a before_master
    // retry (1 s).
    let calm = i_max * 6
        + delay_max
        + if before_master {
            Duration::from_secs(1) + hook_timeout * 2
        } else {
            Duration::ZERO
        }
        + Duration::from_millis(100);
    let start = |world: &mut World, h: HostId| {
        world.start(h);
        world.set_check(h, "svc", true);
    };
    start(&mut world, 0);
    for h in 1..hosts {
        let offset = base * below(&mut rng, 4) as u32;
        world.run_for(offset);
        start(&mut world, h);
    }
    let replay = std::env::var("TWINSTAR_SIM_SEED").is_ok();
    if replay {
        for (h, spec) in specs.iter().enumerate() {
            eprintln!("host {h}:\n{}", spec.yaml());
        }
        let observer = guard.clone();
        let printed_until = std::cell::Cell::new(0);
        world.observe(move |w| {
            observer.borrow_mut().check(w);
            let printed = printed_until.get();
            for t in &w.transitions[printed..] {
                eprintln!(
                    "{:?} host {} {} {} -> {} ({}) holders web {:?} db {:?}",
                    t.at,
                    t.host,
                    t.instance,
                    t.from,
                    t.to,
                    t.reason,
                    w.holders(INSTANCES[0].1.parse().expect("address")),
                    w.holders(INSTANCES[1].1.parse().expect("address"))
                );
            }
            printed_until.set(w.transitions.len());
        });
    }
    world.run_for(calm);
    assert_converged(&world, &specs, &format!("seed {seed}: after start"));
    let phases = 3 + below(&mut rng, 4);
    // Whether anything changed an address behind an agent's back. Drawn
    // from a generator of its own, so that every schedule's disturbances
    // stay those its seed has always drawn.
    let mut tampered = false;
    let mut tamper_rng = SplitMix64(seed ^ 0x7a3d_7a3d);
    for phase in 0..phases {
        let a = below(&mut rng, hosts as u64) as usize;
        let b = (a + 1 + below(&mut rng, hosts as u64 - 1) as usize) % hosts;
        let mut kinds: Vec<Disturbance> = vec![
            Disturbance::Crash(a),
            Disturbance::Stop(a),
            Disturbance::Cut(a, b),
            Disturbance::Loss(a, 5 + below(&mut rng, 26) as u8),
            Disturbance::Delay(a, Duration::from_micros(below(&mut rng, 5000))),
            Disturbance::LinkFlap(a),
            Disturbance::CheckFails(a),
            Disturbance::Reload(a, priority(&mut rng)),
            Disturbance::Remake(a),
        ];
        kinds.push(Disturbance::Switchover);
        kinds.push(Disturbance::Maintenance(
            a,
            below(&mut rng, instances.max(1) as u64) as usize,
        ));
        if hooks {
            kinds.push(Disturbance::HooksHang(a));
        }
        if before_master {
            kinds.push(Disturbance::BeforeMasterFails(a));
            kinds.push(Disturbance::BeforeMasterHangs(a));
        }
        let disturbance = kinds[below(&mut rng, kinds.len() as u64) as usize];
        let hold = i_max * below(&mut rng, 5) as u32 + Duration::from_micros(below(&mut rng, 1000));
        let web: IpAddr = INSTANCES[0].1.parse().expect("address");
        let holder = world.holders(web).first().copied();
        let graceful_on = |world: &World, h: HostId, k: usize| {
            let others = (0..hosts).any(|o| o != h && eligible(world, o, INSTANCES[k].0));
            holder == Some(h) && others
        };
        match disturbance {
            Disturbance::Crash(h) => world.crash(h),
            Disturbance::Stop(h) => {
                if instances > 0 && graceful_on(&world, h, 0) {
                    guard.borrow_mut().graceful = Some((0, world.now() + hold));
                }
                world.stop(h);
            }
            Disturbance::Cut(a, b) => world.set_cut(a, b, true),
            Disturbance::Loss(h, percent) => world.hosts[h].loss_percent = percent,
            Disturbance::Delay(h, d) => world.hosts[h].delay = d,
            Disturbance::LinkFlap(h) => world.set_link(h, false),
            Disturbance::Remake(h) => world.delete_interface(h),
            Disturbance::CheckFails(h) => world.set_check(h, "svc", false),
            Disturbance::Switchover => {
                if let Some(h) = holder {
                    let graceful = graceful_on(&world, h, 0);
                    if world.switchover(h, "web") && graceful {
                        guard.borrow_mut().graceful = Some((0, world.now() + hold));
                    }
                }
            }
            Disturbance::Maintenance(h, k) => {
                if k < instances {
                    if k == 0 && graceful_on(&world, h, 0) {
                        guard.borrow_mut().graceful = Some((0, world.now() + hold));
                    }
                    world.maintenance(h, INSTANCES[k].0, true);
                }
            }
            Disturbance::Reload(h, p) => {
                specs[h].priority = p;
                if world.running(h) {
                    let yaml = specs[h].yaml();
                    world.reload(h, &yaml);
                } else {
                    world.hosts[h].yaml = specs[h].yaml();
                }
            }
            Disturbance::BeforeMasterFails(h) => {
                world.hosts[h]
                    .hooks
                    .insert("before".into(), HookPlan::Exit(1, hook_time(&mut rng)));
            }
            Disturbance::BeforeMasterHangs(h) => {
                world.hosts[h].hooks.insert("before".into(), HookPlan::Hang);
            }
            Disturbance::HooksHang(h) => {
                world.hosts[h].hooks.insert("hook".into(), HookPlan::Hang);
            }
        }
        world.run_for(hold);
        guard.borrow_mut().graceful = None;
        match disturbance {
            Disturbance::Crash(h) | Disturbance::Stop(h) => start(&mut world, h),
            Disturbance::Cut(a, b) => world.set_cut(a, b, false),
            Disturbance::Loss(h, _) => world.hosts[h].loss_percent = 0,
            Disturbance::Delay(h, _) => world.hosts[h].delay = Duration::ZERO,
            Disturbance::LinkFlap(h) => world.set_link(h, true),
            Disturbance::Remake(h) => world.create_interface(h),
            Disturbance::CheckFails(h) => world.set_check(h, "svc", true),
            Disturbance::Maintenance(h, k) if k < instances => {
                world.maintenance(h, INSTANCES[k].0, false);
            }
            Disturbance::BeforeMasterFails(h) | Disturbance::BeforeMasterHangs(h) => {
                let plan = HookPlan::Exit(0, hook_time(&mut rng));
                world.hosts[h].hooks.insert("before".into(), plan);
            }
            Disturbance::HooksHang(h) => {
                let plan = HookPlan::Exit(0, hook_time(&mut rng));
                world.hosts[h].hooks.insert("hook".into(), plan);
            }
            _ => {}
        }
        // Now and then someone deletes `web`'s VIP on a host that holds it,
        // or adds it on one that does not: the agents must put it right.
        if instances > 0 && below(&mut tamper_rng, 6) == 0 {
            tampered = true;
            let h = below(&mut tamper_rng, hosts as u64) as usize;
            if world.holders(web).contains(&h) {
                world.delete_address(h, web);
            } else {
                world.add_address(h, web);
            }
        }
        world.run_for(calm);
        assert_converged(
            &world,
            &specs,
            &format!("seed {seed}: phase {phase} after {disturbance:?} held {hold:?}"),
        );
    }
    world.run_for(calm);
    assert_hook_order(&world, false);
    if !tampered {
        assert_no_repairs(&world, &format!("seed {seed}"));
    }
}

/// With nothing changed behind their backs, no agent repaired an address:
/// none took the echo of its own job for someone else's change.
fn assert_no_repairs(world: &World, context: &str) {
    for h in 0..world.hosts.len() {
        let Some(status) = world.status(h) else {
            continue;
        };
        for instance in &status.instances {
            assert_eq!(
                instance.counters.address_repairs, 0,
                "{context}: host {h} {} repaired addresses nobody else touched",
                instance.name
            );
        }
    }
}
