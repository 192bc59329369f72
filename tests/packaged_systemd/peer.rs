//! The systemd host's peer: a plain `twinstar run` in a network namespace the
//! test made; dropping it stops the agent by its pid, then deletes the namespace.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use twinstar::lab::Namespace;

/// A running peer agent, its files and its namespace.
pub struct Peer {
    child: Child,
    dir: PathBuf,
    /// Dropped after the agent is stopped (fields drop after `Drop::drop`).
    namespace: Namespace,
}

impl Peer {
    /// Writes `config` under `dir` and starts `program run` inside `ns`.
    pub fn start(ns: Namespace, program: &Path, dir: &Path, config: &str) -> Peer {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        fs::write(dir.join("config.yaml"), config).expect("peer config");
        let log = fs::File::create(dir.join("agent.log")).expect("peer log");
        let child = ns
            .command(&program.display().to_string())
            .arg("run")
            .arg("--config")
            .arg(dir.join("config.yaml"))
            .arg("--runtime-dir")
            .arg(dir.join("run"))
            .env("TWINSTAR_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the peer");
        Peer {
            child,
            dir: dir.to_path_buf(),
            namespace: ns,
        }
    }

    /// The peer's network namespace.
    pub fn netns(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.namespace.name()))
    }

    /// Rewrites the configuration and sends SIGHUP, then waits until the log
    /// says the reload was applied.
    pub fn reload(&self, config: &str) {
        let reloads = || self.log().matches("configuration reloaded").count();
        let before = reloads();
        fs::write(self.dir.join("config.yaml"), config).expect("peer config");
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGHUP).expect("SIGHUP the peer");
        assert!(
            super::support::agents::wait_until(Duration::from_secs(5), || reloads() > before),
            "the peer did not reload:\n{}",
            self.log()
        );
    }

    /// What the peer logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        for _ in 0..300 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
