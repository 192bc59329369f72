//! "Never two Masters": the quorum guard against split brain, on real agents
//! in namespaces with a real 3-member etcd (Debian's `etcd-server`): hosts a
//! and b run twinstar and an etcd member each, a witness host runs the third
//! member, all on a management link; a client and the VIP are on the service
//! link. A sampler (the chaos suite's, 100 Hz) records which hosts hold the
//! VIP and which answer the client's ARP for it, throughout each fault.
//!
//! Bounds come from RFC 9568 (Master_Down_Interval, tests/support/rfc.rs)
//! and from the lease: a key outlives its holder's last renewal by the lease
//! ttl, and the last renewal was at most a third of the ttl before a fault.
//! etcd may keep a lease longer after a leader change (a new leader restarts
//! every lease's ttl), so the latest bounds add one more ttl and two election
//! timeouts, then [`MARGIN`] for a loaded machine.
//!
//! The first test runs without the guard and shows the split brain it
//! prevents: cutting only the link between the two agents makes both Master.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::agents::{agent, config, wait_until, MARGIN, SETTLE};
use support::etcd::can_run_etcd;
use support::rfc::master_down_interval;
use twinstar::lab::chaos::sampler::{Probe, Sample, Sampler};
use twinstar::lab::chaos::world::parse_mac;
use twinstar::lab::etcd::ELECTION_TIMEOUT_MS;
use twinstar::lab::quorum::{QuorumLab, WITNESS};
use twinstar::lab::Agent;

const VIP: &str = "192.0.2.50";
const VIP_WITH_PREFIX: &str = "192.0.2.50/24";
const INTERVAL: Duration = Duration::from_millis(100);
const PRIORITIES: [u8; 2] = [200, 100];
/// The lease ttl of the lab (the documented default).
const TTL: Duration = Duration::from_secs(2);
/// Both hosts: a = 0 (preferred Master), b = 1.
const BOTH: u8 = 0b11;

/// One election timeout of the lab's etcd members.
fn election() -> Duration {
    Duration::from_millis(u64::from(ELECTION_TIMEOUT_MS))
}

/// The latest a Backup may take over once the Master's key can no longer
/// be renewed (from the fault): the Backup's Master_Down_Interval, the
/// lease running out (a full ttl after a renewal just before the fault,
/// plus one more if a leader change restarted it, after up to two election
/// timeouts), and a third of the ttl for the Backup's next attempt.
fn lease_takeover_latest() -> Duration {
    master_down_interval(PRIORITIES[1], INTERVAL) + TTL * 2 + election() * 2 + TTL / 3
}

struct Run {
    agents: Vec<Agent>,
    quorum: QuorumLab,
    tag: String,
}

impl Run {
    /// Builds the lab and starts both agents, with the guard (`on_loss`) or
    /// without (`None`); returns once a is Master and b Backup.
    fn start(tag: &str, on_loss: Option<&str>) -> Run {
        let prefix = format!("tq{tag}{}", std::process::id());
        let dir = dir_of(tag);
        std::fs::create_dir_all(&dir).expect("lab dir");
        let quorum = QuorumLab::build(&prefix, &dir).unwrap_or_else(|e| panic!("lab: {e}"));
        let agents = (0..2)
            .map(|i| {
                let extra = on_loss
                    .map(|on_loss| quorum.quorum_keys(i, TTL, on_loss))
                    .unwrap_or_default();
                let text = config(51, PRIORITIES[i], "100ms", VIP_WITH_PREFIX, &extra);
                agent(&quorum.lab, &format!("quorum-{tag}"), i, &text)
            })
            .collect();
        let run = Run {
            agents,
            quorum,
            tag: tag.to_owned(),
        };
        let settled = wait_until(SETTLE + TTL, || {
            run.state(0).as_deref() == Some("master") && run.state(1).as_deref() == Some("backup")
        });
        assert!(settled, "a Master and b Backup\n{}", run.logs());
        run
    }

    fn state(&self, index: usize) -> Option<String> {
        self.agents[index].status().and_then(|s| s.state("web"))
    }

    fn holds(&self, index: usize) -> bool {
        self.quorum.lab.hosts[index]
            .has_address(VIP)
            .unwrap_or(false)
    }

    fn logs(&self) -> String {
        format!(
            "--- agent a ---\n{}\n--- agent b ---\n{}\n{}",
            self.agents[0].log(),
            self.agents[1].log(),
            self.quorum.member_logs()
        )
    }

    /// Starts the 100 Hz sampler; times are measured from `epoch`.
    fn sampler(&self, epoch: Instant) -> Sampler {
        let lab = &self.quorum.lab;
        let mac = |host: &twinstar::lab::Host| {
            parse_mac(&host.mac().expect("mac")).expect("a MAC address")
        };
        let probe = Probe {
            client: &lab.client.ns,
            client_mac: mac(&lab.client),
            client_ip: lab.client.ipv4,
            host_macs: lab.hosts.iter().map(mac).collect(),
            agents: lab.hosts.iter().map(|h| &h.ns).collect(),
            bridge: lab.bridge(),
            vip: VIP.parse().expect("VIP"),
        };
        Sampler::start(&probe, epoch).unwrap_or_else(|e| panic!("sampler: {e}"))
    }
}

/// The samples at or after `from` (since the epoch).
fn after(samples: &[Sample], from: Duration) -> Vec<Sample> {
    samples.iter().filter(|s| s.at >= from).copied().collect()
}

/// Asserts that no sample saw the VIP on two hosts, or two hosts answering
/// the client for it.
fn never_two_holders(samples: &[Sample], context: impl Fn() -> String) {
    assert!(samples.len() > 10, "too few samples: {}", samples.len());
    if let Some(bad) = samples
        .iter()
        .find(|s| s.holders.count_ones() > 1 || s.answers() > 1)
    {
        panic!(
            "two holders of the VIP at {:?}: {bad:?}\n{}",
            bad.at,
            context()
        );
    }
}

/// The first sample from `from` on where exactly `holders` hold the VIP.
fn first_with(samples: &[Sample], from: Duration, holders: u8) -> Option<Duration> {
    samples
        .iter()
        .find(|s| s.at >= from && s.holders == holders)
        .map(|s| s.at)
}

fn dir_of(tag: &str) -> PathBuf {
    support::agents::dir(&format!("quorum-{tag}"), 9)
}

#[test]
fn without_the_guard_cutting_the_agents_link_makes_two_masters() {
    if !can_run_etcd("without_the_guard_cutting_the_agents_link_makes_two_masters") {
        return;
    }
    let run = Run::start("base", None);
    let epoch = Instant::now();
    let sampler = run.sampler(epoch);
    std::thread::sleep(Duration::from_millis(300));
    let cut_at = epoch.elapsed();
    run.quorum.cut_agents_link(true).expect("cut");
    // RFC 9568 §6.4.2: b hears no advert and becomes Master after its
    // Master_Down_Interval, while a never stops being Master.
    let latest = master_down_interval(PRIORITIES[1], INTERVAL) + MARGIN;
    let both = wait_until(latest, || run.holds(0) && run.holds(1));
    std::thread::sleep(Duration::from_millis(200));
    let (samples, _) = sampler.stop();
    assert!(both, "b did not become a second Master\n{}", run.logs());
    let two = after(&samples, cut_at)
        .iter()
        .filter(|s| s.holders == BOTH)
        .count();
    println!(
        "split brain: both hosts held the VIP in {two} samples after the cut ({:?} of lab {})",
        first_with(&samples, cut_at, BOTH).map(|t| t - cut_at),
        run.tag
    );
    assert!(two > 0, "the sampler never saw two holders");
}

#[test]
fn cutting_only_the_agents_link_leaves_exactly_one_holder() {
    if !can_run_etcd("cutting_only_the_agents_link_leaves_exactly_one_holder") {
        return;
    }
    let run = Run::start("cut", Some("release"));
    let epoch = Instant::now();
    let sampler = run.sampler(epoch);
    std::thread::sleep(Duration::from_millis(300));
    let cut_at = epoch.elapsed();
    run.quorum.cut_agents_link(true).expect("cut");
    // b's Master_Down fires, it finds a's key held and stays Backup; hold
    // the cut for longer than any takeover could take.
    std::thread::sleep(lease_takeover_latest() + MARGIN);
    let (samples, _) = sampler.stop();
    let during = after(&samples, cut_at);
    if let Some(bad) = during.iter().find(|s| s.holders != 0b01) {
        panic!(
            "not exactly a at {:?} ({:?} after the cut): {bad:?}\n{}",
            bad.at,
            bad.at - cut_at,
            run.logs()
        );
    }
    never_two_holders(&during, || run.logs());
    assert_eq!(run.state(1).as_deref(), Some("backup"), "{}", run.logs());
}

#[test]
fn an_isolated_master_drops_the_vip_before_the_backup_adds_it() {
    if !can_run_etcd("an_isolated_master_drops_the_vip_before_the_backup_adds_it") {
        return;
    }
    let run = Run::start("iso", Some("release"));
    let epoch = Instant::now();
    let sampler = run.sampler(epoch);
    std::thread::sleep(Duration::from_millis(300));
    let cut_at = epoch.elapsed();
    run.quorum.isolate(0).expect("isolate a");
    let served = wait_until(lease_takeover_latest() + MARGIN, || run.holds(1));
    std::thread::sleep(Duration::from_millis(300));
    let (samples, _) = sampler.stop();
    assert!(
        served,
        "b never served after a was isolated\n{}",
        run.logs()
    );
    let during = after(&samples, cut_at);
    never_two_holders(&during, || run.logs());
    let a_gone = first_with(&samples, cut_at, 0).expect("a never dropped the VIP");
    let b_on = first_with(&samples, cut_at, 0b10).expect("b never held the VIP alone");
    assert!(a_gone <= b_on, "b added the VIP before a dropped it");
    // a stops serving before its lease can run out: within the ttl of its
    // last renewal, at most the ttl after the cut.
    assert!(
        a_gone - cut_at <= TTL + MARGIN,
        "a kept the VIP {:?} after it was cut off",
        a_gone - cut_at
    );
    println!(
        "isolated Master: a dropped the VIP {:?} after the cut, b added it {:?} after \
         (outage {:?}; bound {:?})",
        a_gone - cut_at,
        b_on - cut_at,
        b_on - cut_at,
        lease_takeover_latest() + MARGIN
    );
}

/// Stops etcd member `member` and checks nothing moves for three lease
/// ttls (a keeps renewing through the two members left).
fn stopping_a_member_moves_nothing(tag: &str, member: usize) {
    let mut run = Run::start(tag, Some("release"));
    let epoch = Instant::now();
    let sampler = run.sampler(epoch);
    std::thread::sleep(Duration::from_millis(300));
    let stop_at = epoch.elapsed();
    run.quorum.members[member].kill();
    std::thread::sleep(TTL * 3 + election() * 2);
    let (samples, _) = sampler.stop();
    if let Some(bad) = after(&samples, stop_at).iter().find(|s| s.holders != 0b01) {
        panic!(
            "a transition {:?} after stopping member {member}: {bad:?}\n{}",
            bad.at - stop_at,
            run.logs()
        );
    }
    assert_eq!(run.state(0).as_deref(), Some("master"), "{}", run.logs());
    assert_eq!(run.state(1).as_deref(), Some("backup"), "{}", run.logs());
}

#[test]
fn stopping_the_witness_moves_nothing() {
    if !can_run_etcd("stopping_the_witness_moves_nothing") {
        return;
    }
    stopping_a_member_moves_nothing("wit", WITNESS);
}

#[test]
fn stopping_the_backups_etcd_member_moves_nothing() {
    if !can_run_etcd("stopping_the_backups_etcd_member_moves_nothing") {
        return;
    }
    stopping_a_member_moves_nothing("bmem", 1);
}

#[test]
fn after_the_masters_agent_is_killed_the_backup_serves_once_the_lease_expires() {
    if !can_run_etcd("after_the_masters_agent_is_killed_the_backup_serves_once_the_lease_expires") {
        return;
    }
    let mut run = Run::start("kill", Some("release"));
    let killed = Instant::now();
    run.agents[0].kill();
    let served = wait_until(lease_takeover_latest() + MARGIN, || {
        run.state(1).as_deref() == Some("master") && run.holds(1)
    });
    let took = killed.elapsed();
    assert!(served, "b never served after a was killed\n{}", run.logs());
    // a's key lives at least 2/3 of the ttl after the kill (its last renewal
    // was at most a third of the ttl before), so b cannot have it earlier.
    assert!(
        took >= TTL * 2 / 3,
        "b served {took:?} after the kill, before a's lease could expire"
    );
    println!("Master killed: b served after {took:?} (lease ttl {TTL:?})");
}

/// Cuts both agents off every etcd member (their management cables) and
/// returns the run, the sampler's samples from the cut, and the cut time.
fn etcd_unreachable(tag: &str, on_loss: &str) -> (Run, Vec<Sample>) {
    let run = Run::start(tag, Some(on_loss));
    let epoch = Instant::now();
    let sampler = run.sampler(epoch);
    std::thread::sleep(Duration::from_millis(300));
    let cut_at = epoch.elapsed();
    run.quorum.set_mgmt_cable(0, false).expect("cut a");
    run.quorum.set_mgmt_cable(1, false).expect("cut b");
    std::thread::sleep(TTL * 3);
    let (samples, _) = sampler.stop();
    (run, after(&samples, cut_at))
}

#[test]
fn with_on_loss_release_an_unreachable_etcd_takes_the_vip_down() {
    if !can_run_etcd("with_on_loss_release_an_unreachable_etcd_takes_the_vip_down") {
        return;
    }
    let (run, samples) = etcd_unreachable("rel", "release");
    never_two_holders(&samples, || run.logs());
    let from = samples.first().map(|s| s.at).unwrap_or_default();
    let gone = first_with(&samples, from, 0).expect("a kept the VIP without the lease");
    assert!(
        gone - from <= TTL + MARGIN,
        "a kept the VIP {:?} without renewing",
        gone - from
    );
    let late = after(&samples, gone);
    assert!(
        late.iter().all(|s| s.holders == 0),
        "someone served without the lease\n{}",
        run.logs()
    );
    println!(
        "on_loss: release: no VIP {:?} after etcd became unreachable",
        gone - from
    );
}

#[test]
fn with_on_loss_keep_an_unreachable_etcd_keeps_plain_vrrp() {
    if !can_run_etcd("with_on_loss_keep_an_unreachable_etcd_keeps_plain_vrrp") {
        return;
    }
    let (run, samples) = etcd_unreachable("keep", "keep");
    if let Some(bad) = samples.iter().find(|s| s.holders != 0b01) {
        panic!("on_loss: keep moved the VIP: {bad:?}\n{}", run.logs());
    }
    assert_eq!(run.state(0).as_deref(), Some("master"), "{}", run.logs());
}

#[test]
fn the_lab_builds_a_three_member_cluster_with_a_leader() {
    if !can_run_etcd("the_lab_builds_a_three_member_cluster_with_a_leader") {
        return;
    }
    let prefix = format!("tqlab{}", std::process::id());
    let dir = dir_of("lab");
    std::fs::create_dir_all(&dir).expect("dir");
    let quorum = QuorumLab::build(&prefix, &dir).unwrap_or_else(|e| panic!("lab: {e}"));
    assert_eq!(quorum.members.len(), 3);
    // Any two members keep a leader: stop one, the other two still elect.
    let mut quorum = quorum;
    quorum.members[WITNESS].kill();
    let endpoints: Vec<String> = quorum.endpoints()[..2].to_vec();
    twinstar::lab::etcd::wait_for_leader(&quorum.lab.hosts[0].ns, &endpoints, SETTLE)
        .unwrap_or_else(|e| panic!("{e}\n{}", quorum.member_logs()));
}
