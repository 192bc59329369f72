//! Links that heal themselves, on real interfaces: an instance whose interface
//! is deleted and made again under the same name (a veth re-created, a
//! macvlan rebuilt) faults, comes back on the new interface and fails over both ways
//! as before. (A carrier change lost in a notification overrun is
//! `netns_link_overrun`.)

mod support;

use std::time::{Duration, Instant};

use support::agents::{
    agent, can_run_lab, config, holds_for, lab, state_between, wait_until, MARGIN, SETTLE,
};
use support::rfc::master_down_interval;
use twinstar::lab::{Agent, Lab, Namespace};

const INTERVAL: Duration = Duration::from_millis(100);

/// How long after a deleted interface, or a carrier change, the instance's
/// state must show it, beyond the lab's [`MARGIN`] that `state_between` adds.
/// RFC 9568 sets no delay: the kernel's notification (or, after lost
/// notifications, a dump of every link) is acted on as it is read.
const NOTICED: Duration = Duration::ZERO;

fn logs(a: &Agent, b: &Agent) -> String {
    format!("A:\n{}\nB:\n{}", a.log(), b.log())
}

/// On a failing test, prints what the logs do not show: each link's
/// counters in the lab (a packet dropped on a veth or the bridge), each
/// agent's status (its own counters) and where its threads wait.
struct Diagnose<'a> {
    lab: &'a Lab,
    agents: [&'a Agent; 2],
}

impl Drop for Diagnose<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let namespaces = self
            .lab
            .hosts
            .iter()
            .map(|h| &h.ns)
            .chain([self.lab.bridge()]);
        for ns in namespaces {
            if let Ok(out) = ns.ip(&["-s", "-d", "link"]) {
                eprintln!("{}:\n{}", ns.name(), String::from_utf8_lossy(&out.stdout));
            }
        }
        for agent in self.agents {
            let status = std::fs::read_to_string(agent.runtime_dir().join("status.json"));
            eprintln!("status: {}", status.unwrap_or_default());
            let Some(pid) = agent.pid() else { continue };
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten();
            for task in tasks.flatten() {
                let path = task.path();
                let read =
                    |name: &str| std::fs::read_to_string(path.join(name)).unwrap_or_default();
                eprintln!(
                    "{pid}/{:?}: {} wchan={} {}",
                    task.file_name(),
                    read("comm").trim(),
                    read("wchan"),
                    read("stat")
                );
            }
        }
    }
}

/// A (150) and B (100) with `yaml` for each; A is Master, B Backup, and only
/// A holds `vip`, checked with `holds`.
fn elect(lab: &Lab, tag: &str, yaml: [String; 2], holds: impl Fn(usize) -> bool) -> (Agent, Agent) {
    let [yaml_a, yaml_b] = yaml;
    let a = agent(lab, tag, 0, &yaml_a);
    a.wait_for_state("web", "master", SETTLE).unwrap();
    let b = agent(lab, tag, 1, &yaml_b);
    b.wait_for_state("web", "backup", SETTLE).unwrap();
    assert!(
        wait_until(MARGIN, || holds(0) && !holds(1)),
        "only A should hold the VIP\n{}",
        logs(&a, &b)
    );
    (a, b)
}

/// Pulls A's cable, then plugs it back: B takes over within its
/// Master_Down_Interval, and A (higher priority, preempting) takes back
/// within its own once it hears B again. Both ways, the VIP follows.
fn fail_over_both_ways(lab: &Lab, a: &Agent, b: &Agent, holds: impl Fn(usize) -> bool) {
    let cut = Instant::now();
    lab.set_cable(0, false).unwrap();
    // RFC 9568 §6.4.2: B's Master_Down_Interval runs from A's last advert, at
    // most one Advertisement_Interval before the cut.
    let mdi_b = master_down_interval(100, INTERVAL);
    state_between(b, "web", "master", cut, mdi_b - INTERVAL, mdi_b);
    assert!(
        wait_until(MARGIN, || holds(1)),
        "B took over without its VIP\n{}",
        logs(a, b)
    );
    let plugged = Instant::now();
    lab.set_cable(0, true).unwrap();
    // A leaves Fault as Backup and preempts B after its own
    // Master_Down_Interval (§6.4.2: it discards lower-priority adverts).
    let mdi_a = master_down_interval(150, INTERVAL);
    state_between(a, "web", "master", plugged, mdi_a, mdi_a);
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    assert!(
        wait_until(MARGIN, || holds(0) && !holds(1)),
        "after failing back, only A should hold the VIP\n{}",
        logs(a, b)
    );
}

#[test]
fn master_whose_interface_is_recreated_faults_comes_back_and_fails_over_again() {
    if !can_run_lab("master_whose_interface_is_recreated") {
        return;
    }
    let lab = lab("lm", 2);
    let vip = "192.0.2.50";
    let holds = |host: usize| lab.hosts[host].has_address(vip).unwrap_or(false);
    let yaml = |priority| config(91, priority, "100ms", "192.0.2.50/24", "");
    let (a, b) = elect(&lab, "lm", [yaml(150), yaml(100)], holds);
    let _diagnose = Diagnose {
        lab: &lab,
        agents: [&a, &b],
    };

    let deleted = Instant::now();
    lab.delete_interface(0).unwrap();
    state_between(&a, "web", "fault", deleted, Duration::ZERO, NOTICED);
    // A's last advert went out at most one interval before the deletion.
    let mdi_b = master_down_interval(100, INTERVAL);
    state_between(&b, "web", "master", deleted, mdi_b - INTERVAL, mdi_b);

    let created = Instant::now();
    lab.create_interface(0).unwrap();
    // The interface has carrier from the last of the `ip` commands on, at
    // most this long after `created`.
    let making = created.elapsed();
    // Back on the new interface: Backup (RFC 9568 §6.4.1, not the owner),
    // then Master once its Master_Down_Interval passes without a better
    // Master, B's adverts being lower. Were A still on the old index, it
    // would stay in Fault.
    let mdi_a = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", created, mdi_a, mdi_a + making);
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    assert!(
        wait_until(MARGIN, || holds(0) && !holds(1)),
        "A is Master again but the VIP is not on its new interface alone\n{}",
        logs(&a, &b)
    );
    assert!(
        a.log().contains("bound to the re-created interface"),
        "{}",
        a.log()
    );
    fail_over_both_ways(&lab, &a, &b, holds);
}

/// Adds `mv7`, a macvlan on host `ns`'s eth0 (bridge mode), with `address`,
/// up: a stacked interface like a VLAN or a container's, which operators
/// delete and make again. (The lab kernel has macvlan; VLAN and bonding may
/// be missing from it.)
fn add_macvlan(ns: &Namespace, address: &str) {
    let steps: [&[&str]; 3] = [
        &[
            "link", "add", "link", "eth0", "name", "mv7", "type", "macvlan", "mode", "bridge",
        ],
        &["addr", "add", address, "dev", "mv7"],
        &["link", "set", "mv7", "up"],
    ];
    for step in steps {
        ns.ip(step).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Whether `address` is configured on `mv7` in `ns`.
fn on_macvlan(ns: &Namespace, address: &str) -> bool {
    ns.ip(&["-o", "addr", "show", "dev", "mv7"])
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .any(|w| w.split('/').next() == Some(address))
        })
        .unwrap_or(false)
}

#[test]
fn backup_whose_macvlan_is_rebuilt_comes_back_and_takes_over_when_needed() {
    if !can_run_lab("backup_whose_macvlan_is_rebuilt") {
        return;
    }
    let lab = lab("lv", 2);
    let vip = "198.51.100.50";
    let own = ["198.51.100.11/24", "198.51.100.12/24"];
    for (host, address) in lab.hosts.iter().zip(own) {
        add_macvlan(&host.ns, address);
    }
    let holds = |host: usize| on_macvlan(&lab.hosts[host].ns, vip);
    let yaml = |priority| {
        config(92, priority, "100ms", "198.51.100.50/24", "")
            .replace("interface: eth0", "interface: mv7")
    };
    let (a, b) = elect(&lab, "lv", [yaml(150), yaml(100)], holds);

    let deleted = Instant::now();
    lab.hosts[1].ns.ip(&["link", "del", "mv7"]).unwrap();
    state_between(&b, "web", "fault", deleted, Duration::ZERO, NOTICED);
    holds_for(
        "A stays Master while B's macvlan is gone",
        Duration::from_millis(500),
        || a.status().and_then(|s| s.state("web")).as_deref() == Some("master"),
        || logs(&a, &b),
    );

    let created = Instant::now();
    add_macvlan(&lab.hosts[1].ns, own[1]);
    let making = created.elapsed();
    state_between(
        &b,
        "web",
        "backup",
        created,
        Duration::ZERO,
        NOTICED + making,
    );
    // Back as Backup, B must hear A on its new socket: otherwise it would
    // take over after its Master_Down_Interval.
    let mdi_b = master_down_interval(100, INTERVAL);
    holds_for(
        "B stays Backup, hearing A on the rebuilt macvlan",
        mdi_b * 3,
        || b.status().and_then(|s| s.state("web")).as_deref() == Some("backup"),
        || logs(&a, &b),
    );
    assert!(holds(0) && !holds(1), "{}", logs(&a, &b));

    // A fails: B takes over on the rebuilt macvlan within its
    // Master_Down_Interval of A's last advert (RFC 9568 §6.4.2).
    let cut = Instant::now();
    lab.hosts[0].ns.ip(&["link", "set", "mv7", "down"]).unwrap();
    state_between(&b, "web", "master", cut, mdi_b - INTERVAL, mdi_b);
    assert!(
        wait_until(MARGIN, || holds(1)),
        "B is Master but its VIP is not on the rebuilt macvlan\n{}",
        logs(&a, &b)
    );
    // A comes back and preempts: B hears it and yields.
    let back = Instant::now();
    lab.hosts[0].ns.ip(&["link", "set", "mv7", "up"]).unwrap();
    let mdi_a = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", back, mdi_a, mdi_a);
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    assert!(
        wait_until(MARGIN, || holds(0) && !holds(1)),
        "{}",
        logs(&a, &b)
    );
}

#[test]
fn ipv6_master_whose_interface_is_recreated_comes_back_with_its_new_link_local() {
    if !can_run_lab("ipv6_master_whose_interface_is_recreated") {
        return;
    }
    let lab = lab("l6", 2);
    let vip = "2001:db8::50";
    let holds = |host: usize| lab.hosts[host].has_address(vip).unwrap_or(false);
    let yaml = |priority| config(94, priority, "100ms", "2001:db8::50/64", "");
    let (a, b) = elect(&lab, "l6", [yaml(150), yaml(100)], holds);

    let deleted = Instant::now();
    lab.delete_interface(0).unwrap();
    state_between(&a, "web", "fault", deleted, Duration::ZERO, NOTICED);
    let mdi_b = master_down_interval(100, INTERVAL);
    state_between(&b, "web", "master", deleted, mdi_b - INTERVAL, mdi_b);

    // IPv6 adverts come from the link-local address (RFC 9568 §5.1.2.1),
    // which the new interface gets anew: A must look it up again to speak.
    let created = Instant::now();
    lab.create_interface(0).unwrap();
    let making = created.elapsed();
    let mdi_a = master_down_interval(150, INTERVAL);
    state_between(&a, "web", "master", created, mdi_a, mdi_a + making);
    b.wait_for_state("web", "backup", MARGIN).unwrap();
    assert!(
        wait_until(MARGIN, || holds(0) && !holds(1)),
        "A is Master again but the VIP is not on its new interface alone\n{}",
        logs(&a, &b)
    );
}
