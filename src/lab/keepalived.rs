//! A real keepalived in a lab namespace, as a guard: configured and started on
//! construction, stopped by its pid (SIGTERM, then SIGKILL) when dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::Namespace;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Where the Debian package installs keepalived.
pub const KEEPALIVED: &str = "/usr/sbin/keepalived";

/// How long keepalived gets to exit after SIGTERM before SIGKILL.
const STOP_BOUND: Duration = Duration::from_secs(3);

/// The keepalived binary: the first `keepalived` on PATH, else [`KEEPALIVED`]
/// (Debian installs it in /usr/sbin, which is not on every user's PATH).
pub fn program() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("keepalived"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from(KEEPALIVED)])
        .find(|candidate| candidate.is_file())
}

/// True when keepalived is installed (see [`program`]).
pub fn available() -> bool {
    program().is_some()
}

/// A VRRPv3 keepalived configuration: one BACKUP instance `VI` on eth0 with
/// preemption on, no scripts and no users.
pub fn config(vrid: u8, priority: u8, advert_int: &str, vip: &str) -> String {
    format!(
        "global_defs {{\n    vrrp_version 3\n    router_id twinstar_lab\n}}\n\
         vrrp_instance VI {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {vrid}\n    \
         priority {priority}\n    advert_int {advert_int}\n    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
    )
}

/// A keepalived process running in a namespace.
#[derive(Debug)]
pub struct Keepalived {
    child: Option<Child>,
    dir: PathBuf,
}

impl Keepalived {
    /// Writes `config` to `dir/keepalived.conf` and starts keepalived in `ns`
    /// in the foreground, logging to `dir/keepalived.log`.
    pub fn start(ns: &Namespace, dir: &Path, config: &str) -> std::io::Result<Keepalived> {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir)?;
        let conf = dir.join("keepalived.conf");
        fs::write(&conf, config)?;
        let log = fs::File::create(dir.join("keepalived.log"))?;
        let program = program().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("keepalived is neither on PATH nor at {KEEPALIVED}"),
            )
        })?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .arg(&program)
            .args(["-n", "-l", "-D", "-P", "-f"])
            .arg(&conf)
            .arg("-p")
            .arg(dir.join("keepalived.pid"))
            .arg("-r")
            .arg(dir.join("vrrp.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        Ok(Keepalived {
            child: Some(child),
            dir: dir.to_path_buf(),
        })
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Its log so far (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("keepalived.log")).unwrap_or_default()
    }

    /// Stops keepalived: SIGTERM, then SIGKILL if it outlives the bound.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // `ip netns exec` execs keepalived, so the child's pid is keepalived's.
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_BOUND;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.reap_vrrp_child();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        self.reap_vrrp_child();
    }

    /// The pids of keepalived's processes (the parent and its VRRP child).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.child.as_ref().map(Child::id).into_iter().collect();
        if let Some(vrrp) = fs::read_to_string(self.dir.join("vrrp.pid"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            pids.push(vrrp);
        }
        pids
    }

    /// SIGKILL to both processes: keepalived dies without resigning. The
    /// parent is stopped first and the VRRP child killed before it: a child
    /// that outlived its parent by a moment would see it go and resign with
    /// a priority-0 advert, and a running parent would restart the child.
    pub fn kill(&mut self) {
        let pids = self.pids();
        if let Some(parent) = pids.first() {
            let _ = kill(Pid::from_raw(*parent as i32), Signal::SIGSTOP);
        }
        for pid in pids.iter().rev() {
            let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Kills keepalived's VRRP child by its pid file if it outlived the parent.
    fn reap_vrrp_child(&self) {
        let Ok(text) = fs::read_to_string(self.dir.join("vrrp.pid")) else {
            return;
        };
        let Ok(pid) = text.trim().parse::<i32>() else {
            return;
        };
        let pid = Pid::from_raw(pid);
        // Signal 0 only probes; a process that is gone leaves nothing to do.
        if kill(pid, None).is_ok() {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        self.stop();
    }
}
