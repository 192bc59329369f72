//! `twinstar lab`: watch an election, a host loss and a graceful handover happen in
//! namespaces, with what a pinging client saw set against what RFC 9568 promises.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Agent, Lab, LabError, Pinger};
use crate::config::format_duration;
use crate::vrrp::{master_down_interval, skew_time};

/// What `twinstar lab` runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Advertisement interval of both agents.
    pub interval: Duration,
    /// How many host-loss rounds to measure.
    pub rounds: u32,
    /// The twinstar binary to run as agent.
    pub program: PathBuf,
}

const VIP: &str = "192.0.2.50";
const PRIORITIES: [u8; 2] = [150, 100];

/// Builds the lab, runs the demo, and removes everything again, also on Ctrl-C or error.
pub fn run(options: &DemoOptions) -> Result<(), LabError> {
    crate::lab::interrupt::catch();
    let prefix = format!("tslab{}", std::process::id());
    let workdir = std::env::temp_dir().join(format!("twinstar-lab-{}", std::process::id()));
    println!("building the lab: namespaces {prefix}-h1, {prefix}-h2 (agents), {prefix}-cl (client), {prefix}-br (bridge)");
    let result = (|| {
        let lab = Lab::build(&prefix, 2)?;
        demo(options, &lab, &workdir)
    })();
    let _ = std::fs::remove_dir_all(&workdir);
    println!("cleaned up: namespaces, agents and addresses removed");
    result
}

fn config(priority: u8, interval: Duration) -> String {
    format!(
        "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    advert_interval: {}\n    virtual_ips:\n      - {VIP}/24\n",
        format_duration(interval)
    )
}

fn demo(options: &DemoOptions, lab: &Lab, workdir: &std::path::Path) -> Result<(), LabError> {
    let interval = options.interval;
    let mut agents = Vec::new();
    for (i, &priority) in PRIORITIES.iter().enumerate() {
        let dir = workdir.join(format!("h{}", i + 1));
        agents.push(Agent::start(
            &lab.hosts[i],
            &options.program,
            &dir,
            &config(priority, interval),
        )?);
    }
    let mdi = master_down_interval(PRIORITIES[1], interval);
    let skew = skew_time(PRIORITIES[1], interval);
    let settle = mdi * 2 + Duration::from_secs(5);
    println!(
        "two agents: h1 {} priority {}, h2 {} priority {}, VIP {VIP}, adverts every {}",
        lab.hosts[0].ipv4,
        PRIORITIES[0],
        lab.hosts[1].ipv4,
        PRIORITIES[1],
        format_duration(interval)
    );
    wait_state(&agents[0], "master", settle)?;
    wait_state(&agents[1], "backup", settle)?;
    println!("election: h1 is Master and holds {VIP}; h2 is Backup (it hears h1's adverts)");

    let pinger = Pinger::start(&lab.client.ns, VIP, Duration::from_millis(2))?;
    wait_replies(&pinger, 50, settle)?;
    println!("client {} pings {VIP} every 2 ms", lab.client.ipv4);
    println!();
    println!(
        "host loss (cable pulled at the bridge); theory: Master_Down_Interval = {}",
        ms(mdi)
    );
    for round in 1..=options.rounds {
        pinger.reset();
        wait_replies(&pinger, 20, settle)?;
        lab.set_cable(0, false)?;
        wait_state(&agents[1], "master", settle)?;
        wait_replies(&pinger, 50, settle)?;
        println!(
            "  round {round}: h2 took over; client outage {}",
            ms(pinger.largest_gap())
        );
        lab.set_cable(0, true)?;
        wait_state(&agents[0], "master", settle)?;
        wait_state(&agents[1], "backup", settle)?;
        wait_replies(&pinger, 50, settle)?;
    }
    println!("  h1 came back each time and preempted (it has the higher priority)");
    println!();
    println!(
        "graceful handover (SIGTERM to h1: priority-0 advert); theory: Skew_Time = {}",
        ms(skew)
    );
    pinger.reset();
    wait_replies(&pinger, 20, settle)?;
    let stopped = agents[0].terminate();
    wait_state(&agents[1], "master", settle)?;
    wait_replies(&pinger, 50, settle)?;
    println!(
        "  h1 exited ({}); h2 took over; client outage {}",
        stopped.map_or("unknown status".to_string(), |s| s.to_string()),
        ms(pinger.largest_gap())
    );
    println!(
        "  h1 holds the VIP: {}; h2 holds it: {}",
        lab.hosts[0].has_address(VIP)?,
        lab.hosts[1].has_address(VIP)?
    );
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn wait_state(agent: &Agent, state: &str, timeout: Duration) -> Result<(), LabError> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        crate::lab::interrupt::check()?;
        if agent.status().and_then(|s| s.state("web")).as_deref() == Some(state) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(LabError::Timeout(format!(
        "an agent to become {state}; its log:\n{}",
        agent.log()
    )))
}

fn wait_replies(pinger: &Pinger, count: usize, timeout: Duration) -> Result<(), LabError> {
    let deadline = Instant::now() + timeout;
    let start = pinger.replies();
    while Instant::now() < deadline {
        crate::lab::interrupt::check()?;
        if pinger.replies() >= start + count {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(LabError::Timeout(format!(
        "{count} ping replies from {VIP}"
    )))
}
