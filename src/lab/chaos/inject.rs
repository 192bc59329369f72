//! Carrying out one fault on the chaos lab, from injection to healing, with a
//! guard for everything that must be undone even when a step fails (a stopped
//! agent continued, a cable plugged back, CPU hogs killed; the segment's drop
//! rules are in [`super::filters`], the third host's adverts in [`super::rogue`]).

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::filters::{LossMethod, Lossy, Rules};
use super::rogue::Sender;
use super::schedule::{Fault, FaultKind, Target};
use super::verdict::FaultWindow;
use super::world::{format_mac, ChaosLab, STARTUP, VIP};
use crate::lab::hogs::Hogs;
use crate::lab::LabError;

/// A timestamped line of what the lab did, for the timeline.
pub type Journal = Vec<(Duration, String)>;

/// Injects `fault`, waits out its duration, heals it; returns its window
/// (`until` is set by the caller once the lab settled). `master` is the agent
/// answering for the VIP now.
pub fn inject(
    world: &mut ChaosLab,
    fault: &Fault,
    master: usize,
    loss: LossMethod,
    epoch: Instant,
    journal: &mut Journal,
) -> Result<FaultWindow, LabError> {
    let target = match fault.target {
        Target::Master => Some(master),
        Target::Backup => Some(1 - master),
        Target::Segment => None,
    };
    let start = epoch.elapsed();
    let mut note = |what: String| journal.push((epoch.elapsed(), what));
    let index = target.unwrap_or(0);
    let host = format!("h{}", index + 1);
    let mut loss_percent = None;
    match fault.kind {
        FaultKind::Kill => {
            note(format!("SIGKILL {host}"));
            world.agents[index].kill();
            std::thread::sleep(fault.duration);
            world.restart(index)?;
            note(format!("restarted {host}"));
        }
        FaultKind::Stop => {
            let pid = world.agents[index]
                .pid()
                .ok_or_else(|| LabError::Step(format!("the agent on {host} is not running")))?;
            note(format!("SIGSTOP {host}"));
            let stopped = Stopped::new(pid)?;
            std::thread::sleep(fault.duration);
            drop(stopped);
            note(format!("SIGCONT {host}"));
        }
        FaultKind::LinkFlap => {
            note(format!("cable of {host} pulled"));
            let pulled = Unplugged::new(world, index)?;
            std::thread::sleep(fault.duration);
            pulled.plug()?;
            note(format!("cable of {host} plugged"));
        }
        FaultKind::Partition => {
            let (a, b) = (world.lab.hosts[0].port(), world.lab.hosts[1].port());
            note("partition h1 | h2".into());
            let rules = Rules::add(
                world,
                &[
                    format!("iifname \"{a}\" oifname \"{b}\" drop"),
                    format!("iifname \"{b}\" oifname \"{a}\" drop"),
                ],
            )?;
            std::thread::sleep(fault.duration);
            rules.remove()?;
            note("partition healed".into());
        }
        FaultKind::Loss => {
            loss_percent = Some(fault.loss_percent);
            note(format!(
                "{}% loss between the agents ({})",
                fault.loss_percent,
                loss.name()
            ));
            let lossy = Lossy::new(world, loss, fault.loss_percent)?;
            std::thread::sleep(fault.duration);
            lossy.remove()?;
            note("loss ended".into());
        }
        FaultKind::VipDeleted => {
            world.lab.hosts[index]
                .ns
                .ip(&["addr", "del", &format!("{VIP}/24"), "dev", "eth0"])?;
            note(format!("VIP deleted on {host}"));
        }
        FaultKind::InterfaceRecreated => {
            let mac = format_mac(world.macs[index]);
            world.lab.delete_interface(index)?;
            note(format!("eth0 of {host} deleted"));
            std::thread::sleep(fault.duration);
            world.lab.recreate_interface(index, &mac)?;
            note(format!("eth0 of {host} re-created"));
        }
        FaultKind::CpuHog => {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            note(format!("{cores} CPU hogs"));
            let mut hogs = Hogs::start(cores)?;
            std::thread::sleep(fault.duration);
            hogs.stop();
            note("CPU hogs ended".into());
        }
        FaultKind::RogueAdvert | FaultKind::AdvertFlood => {
            let rogue = &world.lab.hosts[2];
            let flood = fault.kind == FaultKind::AdvertFlood;
            note(if flood {
                "advert flood from h3".into()
            } else {
                format!("rogue adverts from h3, priority {}", fault.rogue_priority)
            });
            let sender = Sender::start(
                rogue.ns.name().to_string(),
                rogue.ipv4,
                flood,
                fault.rogue_priority,
            );
            std::thread::sleep(fault.duration);
            let sent = sender.stop()?;
            note(format!("h3 stopped after {sent} adverts"));
        }
        FaultKind::Reload => reload(world, fault, index, &mut note)?,
    }
    Ok(FaultWindow {
        kind: fault.kind,
        target,
        start,
        end: epoch.elapsed(),
        until: epoch.elapsed(),
        loss_percent,
    })
}

/// The Master stops gracefully (a transition begins); the other agent reloads
/// a changed file while it takes over; the Master starts again and both reload
/// while it comes back.
fn reload(
    world: &mut ChaosLab,
    fault: &Fault,
    master: usize,
    note: &mut dyn FnMut(String),
) -> Result<(), LabError> {
    let other = 1 - master;
    let began = Instant::now();
    if let Some(pid) = world.agents[master].pid() {
        signal(pid, Signal::SIGTERM)?;
    }
    note(format!("SIGTERM h{}", master + 1));
    std::thread::sleep(fault.reload_offsets.0);
    sighup(world, other)?;
    note(format!("SIGHUP h{} (garp count changed)", other + 1));
    world.agents[master].terminate();
    std::thread::sleep(fault.duration.saturating_sub(began.elapsed()));
    world.restart(master)?;
    note(format!("restarted h{}", master + 1));
    // SIGHUP before the agent installed its handlers would end it: wait until
    // it wrote its first status.
    let deadline = Instant::now() + STARTUP;
    while world.agents[master].status().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(fault.reload_offsets.1);
    sighup(world, master)?;
    sighup(world, other)?;
    note("SIGHUP h1 and h2 (garp count changed)".into());
    Ok(())
}

/// Rewrites agent `index`'s file with the other garp count and sends SIGHUP.
fn sighup(world: &mut ChaosLab, index: usize) -> Result<(), LabError> {
    let config = &mut world.configs[index];
    config.garp_count = if config.garp_count == 1 { 2 } else { 1 };
    std::fs::write(world.agents[index].config_path(), config.text())?;
    world.agents[index].reload()
}

fn signal(pid: u32, signal: Signal) -> Result<(), LabError> {
    let pid = i32::try_from(pid).map_err(|_| LabError::Step(format!("pid {pid} out of range")))?;
    kill(Pid::from_raw(pid), signal).map_err(|e| LabError::Io(e.into()))
}

/// A SIGSTOPped process, continued when dropped.
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Result<Stopped, LabError> {
        signal(pid, Signal::SIGSTOP)?;
        Ok(Stopped(pid))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = signal(self.0, Signal::SIGCONT);
    }
}

/// A pulled cable, plugged back when dropped.
struct Unplugged<'a> {
    world: &'a ChaosLab,
    index: usize,
    plugged: bool,
}

impl<'a> Unplugged<'a> {
    fn new(world: &'a ChaosLab, index: usize) -> Result<Unplugged<'a>, LabError> {
        world.lab.set_cable(index, false)?;
        Ok(Unplugged {
            world,
            index,
            plugged: false,
        })
    }

    fn plug(mut self) -> Result<(), LabError> {
        self.plugged = true;
        self.world.lab.set_cable(self.index, true)
    }
}

impl Drop for Unplugged<'_> {
    fn drop(&mut self) {
        if !self.plugged {
            let _ = self.world.lab.set_cable(self.index, true);
        }
    }
}
