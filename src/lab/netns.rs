//! Network namespaces as guards: created on construction, deleted on drop.

use std::io;
use std::process::{Command, Output, Stdio};

use nix::sched::{setns, CloneFlags};

/// Why a lab step failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A command could not run or exited non-zero.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its stderr, or the spawn error.
        detail: String,
    },
    /// Something did not happen in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// Reading or writing a lab file failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The lab was interrupted (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// A lab step could not be carried out (what and why).
    #[error("{0}")]
    Step(String),
}

/// Runs a command to completion; non-zero exit is an error carrying stderr.
pub fn run(program: &str, args: &[&str]) -> Result<Output, LabError> {
    let command = format!("{program} {}", args.join(" "));
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if !output.status.success() {
        let detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(LabError::Command { command, detail });
    }
    Ok(output)
}

/// The names of the network namespaces that exist now (`ip netns list`), to
/// prove a lab left none behind.
pub fn netns_names() -> Vec<String> {
    run("ip", &["netns", "list"])
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|line| line.split_whitespace().next())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Moves the calling thread into the namespace `name` (see [`Namespace::enter`]);
/// for threads that must own their data and so cannot borrow the guard.
pub fn enter_namespace(name: &str) -> Result<(), LabError> {
    let file = std::fs::File::open(format!("/run/netns/{name}"))?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| LabError::Io(e.into()))
}

/// A network namespace this process created; deleted when dropped.
#[derive(Debug)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Creates the namespace (a stale one of the same name, from a crashed run of
    /// ours, is replaced) and brings its loopback up.
    pub fn create(name: &str) -> Result<Self, LabError> {
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        run("ip", &["netns", "add", name])?;
        let ns = Namespace {
            name: name.to_string(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS...`.
    pub fn ip(&self, args: &[&str]) -> Result<Output, LabError> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs a program inside the namespace and waits for it.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<Output, LabError> {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// A command that runs `program` inside the namespace, for the caller to spawn.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", self.name.as_str(), program]);
        command
    }

    /// Moves the calling thread into this namespace, so sockets it opens from now on
    /// belong here. Call it on a thread of its own: the rest of the process stays put.
    pub fn enter(&self) -> Result<(), LabError> {
        enter_namespace(&self.name)
    }

    /// Runs `body` on a scoped thread that has entered this namespace, and returns
    /// its result; a panic in `body` is passed on to the caller.
    pub fn run_inside<T: Send>(&self, body: impl FnOnce() -> T + Send) -> Result<T, LabError> {
        std::thread::scope(|scope| {
            let inside = scope.spawn(|| {
                self.enter()?;
                Ok(body())
            });
            inside
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Sets a sysctl inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), LabError> {
        self.exec("sysctl", &["-q", "-w", &format!("{key}={value}")])
            .map(|_| ())
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}
