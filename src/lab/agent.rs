//! A `twinstar run` process inside a lab host, stopped by its pid when dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::netns::LabError;
use super::topology::Host;

/// A running agent and its files (config, runtime directory, log).
#[derive(Debug)]
pub struct Agent {
    child: Option<Child>,
    dir: PathBuf,
    program: PathBuf,
    namespace: String,
    env: Vec<(String, String)>,
}

impl Agent {
    /// Writes `config` under `dir` and starts `program run` in `host`'s namespace,
    /// with `dir/run` as runtime directory and `dir/agent.log` as log.
    pub fn start(host: &Host, program: &Path, dir: &Path, config: &str) -> Result<Agent, LabError> {
        Self::start_with_env(host, program, dir, config, &[])
    }

    /// Like [`start`](Self::start), with extra environment variables (such as
    /// `NOTIFY_SOCKET`) for the agent.
    pub fn start_with_env(
        host: &Host,
        program: &Path,
        dir: &Path,
        config: &str,
        env: &[(&str, &str)],
    ) -> Result<Agent, LabError> {
        fs::create_dir_all(dir)?;
        fs::write(dir.join("config.yaml"), config)?;
        let mut agent = Agent {
            child: None,
            dir: dir.to_path_buf(),
            program: program.to_path_buf(),
            namespace: host.ns.name().to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        agent.spawn()?;
        Ok(agent)
    }

    fn spawn(&mut self) -> Result<(), LabError> {
        let _ = fs::remove_file(self.dir.join("run/status.json"));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("agent.log"))?;
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &self.namespace])
            .arg(&self.program)
            .arg("run")
            .arg("--config")
            .arg(self.dir.join("config.yaml"))
            .arg("--runtime-dir")
            .arg(self.dir.join("run"))
            .env("TWINSTAR_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// Starts the agent again after it stopped (same config and directory).
    pub fn restart(&mut self) -> Result<(), LabError> {
        self.stop(Signal::SIGKILL);
        self.spawn()
    }

    /// The runtime directory (`--runtime-dir`), where the control socket is.
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// The config file path, to rewrite before [`reload`](Self::reload).
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.yaml")
    }

    /// Sends SIGHUP: re-read the config.
    pub fn reload(&self) -> Result<(), LabError> {
        self.signal(Signal::SIGHUP)
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn signal(&self, signal: Signal) -> Result<(), LabError> {
        if let Some(pid) = self.pid() {
            kill(Pid::from_raw(pid as i32), signal).map_err(|e| LabError::Io(e.into()))?;
        }
        Ok(())
    }

    /// SIGTERM and wait up to 5 s: returns the exit status (graceful stop).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        self.stop(Signal::SIGTERM)
    }

    /// SIGKILL: the agent dies without resigning (as in a crash).
    pub fn kill(&mut self) {
        self.stop(Signal::SIGKILL);
    }

    fn stop(&mut self, signal: Signal) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = kill(Pid::from_raw(child.id() as i32), signal);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// The latest status snapshot, if the agent wrote one.
    pub fn status(&self) -> Option<AgentStatus> {
        let text = fs::read_to_string(self.dir.join("run/status.json")).ok()?;
        serde_json::from_str(&text).ok().map(AgentStatus)
    }

    /// Polls until `instance` is in `state` ("master", "backup", ...), or times out.
    pub fn wait_for_state(
        &self,
        instance: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<(), LabError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.status().and_then(|s| s.state(instance)).as_deref() == Some(state) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::Timeout(format!(
                    "{instance} to become {state} in {}\n{}",
                    self.namespace,
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop(Signal::SIGTERM);
    }
}

/// A parsed `status.json`.
#[derive(Debug, Clone)]
pub struct AgentStatus(pub Value);

impl AgentStatus {
    fn instance(&self, name: &str) -> Option<&Value> {
        self.0["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == name)
    }

    /// The state of `instance`.
    pub fn state(&self, instance: &str) -> Option<String> {
        Some(self.instance(instance)?["state"].as_str()?.to_string())
    }

    /// A counter of `instance` (e.g. `adverts_received`).
    pub fn counter(&self, instance: &str, name: &str) -> u64 {
        self.instance(instance)
            .and_then(|i| i["counters"][name].as_u64())
            .unwrap_or(0)
    }

    /// Packets dropped on `interface` for `reason` (e.g. `bad_ttl`).
    pub fn dropped(&self, interface: &str, reason: &str) -> u64 {
        self.0["dropped"][interface][reason].as_u64().unwrap_or(0)
    }
}
