//! Running one script or hook: clean environment, no capabilities, the
//! configured user, its own process group, and a hard time limit.
//!
//! Everything that can go wrong is folded into a [`ScriptOutcome`] rather than
//! an error, because for a check or hook "could not run" is just another way of
//! failing: the caller needs the reason, not a different code path.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::Child;
use tokio::time::Instant;

use super::run_as::{check_command_safe_for_root, RunAs, SCRIPT_PATH};
use crate::config::Command;

/// `$0` of shell commands, so `$1`.. are the arguments and messages from `sh`
/// name something recognisable.
const SHELL_ARG0: &str = "twinstar-hook";
/// Most output bytes looked at; the rest is read and thrown away so the script
/// never blocks on a full pipe.
const READ_LIMIT: usize = 64 * 1024;
/// Longest last line kept, in bytes.
const LINE_LIMIT: usize = 512;
/// How long output is still read after the script exited, in case a
/// background process it left behind holds the pipe open.
const LINGER: Duration = Duration::from_millis(100);
/// How long reaping a killed script may take before it is left to tokio.
const REAP_LIMIT: Duration = Duration::from_secs(5);

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptResult {
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal (not by the time limit).
    Signaled(i32),
    /// Still running at the time limit; its process group was killed.
    TimedOut,
    /// Could not be started, or the shell could not run the command.
    CannotRun(String),
}

impl ScriptResult {
    /// Only exit status 0 is success.
    pub fn is_success(&self) -> bool {
        matches!(self, ScriptResult::Exited(0))
    }
}

impl fmt::Display for ScriptResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptResult::Exited(code) => write!(f, "exit {code}"),
            ScriptResult::Signaled(sig) => match Signal::try_from(*sig) {
                Ok(s) => write!(f, "killed by {s}"),
                Err(_) => write!(f, "killed by signal {sig}"),
            },
            ScriptResult::TimedOut => f.write_str("timed out"),
            ScriptResult::CannotRun(reason) => write!(f, "cannot run: {reason}"),
        }
    }
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptOutcome {
    /// How it ended.
    pub result: ScriptResult,
    /// The last non-empty line of stdout and stderr together (at most 512
    /// bytes, from the first 64 KiB of output), for status and logs.
    pub last_line: Option<String>,
    /// From start to the end of the run.
    pub duration: Duration,
}

/// Runs `command` with `args` appended (for a shell command they are `$1`..),
/// as `run_as`, with only `PATH`, `HOME`, `LANG=C` and `env` in its
/// environment, stdin from `/dev/null`, in a new process group that is killed
/// with SIGKILL at `timeout`.
///
/// Processes the script leaves running after it exits (in its group) are not
/// killed; only a timeout, or dropping this future, kills the whole group.
pub async fn run(
    command: &Command,
    args: &[String],
    env: &[(String, String)],
    run_as: &RunAs,
    timeout: Duration,
) -> ScriptOutcome {
    let started = Instant::now();
    let (result, last_line) = run_inner(command, args, env, run_as, started + timeout).await;
    if let ScriptResult::CannotRun(reason) = &result {
        tracing::warn!(command = %command, "cannot run `{command}`: {reason}");
    }
    ScriptOutcome {
        result,
        last_line,
        duration: started.elapsed(),
    }
}

async fn run_inner(
    command: &Command,
    args: &[String],
    env: &[(String, String)],
    run_as: &RunAs,
    deadline: Instant,
) -> (ScriptResult, Option<String>) {
    let cannot = |reason: String| (ScriptResult::CannotRun(reason), None);
    let (program, base_args): (&str, Vec<&str>) = match command {
        Command::Shell(script) => ("/bin/sh", vec!["-c", script, SHELL_ARG0]),
        Command::Argv(argv) => match argv.split_first() {
            Some((program, rest)) => (program, rest.iter().map(String::as_str).collect()),
            None => return cannot("empty command".to_owned()),
        },
    };
    if run_as.is_root() {
        if let Err(e) = check_command_safe_for_root(command) {
            return cannot(if e.reason.contains("not found") {
                format!("{}: not found", e.path.display())
            } else {
                format!("refused to run as root: {e}")
            });
        }
    }
    let (reader, mut child) = match spawn(program, &base_args, args, env, run_as) {
        Ok(spawned) => spawned,
        Err(e) => return cannot(describe_spawn_error(program, &e)),
    };
    // The child is its own group leader, so its pid is the group id.
    let mut group = GroupGuard(child.id().map(|pid| Pid::from_raw(pid as i32)));
    let mut capture = LastLine::default();
    let ended = supervise(&mut child, reader, &mut capture, deadline).await;
    let last_line = capture.finish();
    let result = match ended {
        Some(Ok(status)) => {
            group.disarm();
            interpret(command, status, last_line.as_deref())
        }
        Some(Err(e)) => {
            group.kill();
            ScriptResult::CannotRun(format!("waiting for it failed: {e}"))
        }
        None => {
            group.kill();
            // Reap it so no zombie is left; a process stuck in the kernel is
            // left to tokio's background reaper.
            let _ = tokio::time::timeout(REAP_LIMIT, child.wait()).await;
            ScriptResult::TimedOut
        }
    };
    (result, last_line)
}

/// Starts the process with its output on one close-on-exec pipe.
fn spawn(
    program: &str,
    base_args: &[&str],
    args: &[String],
    env: &[(String, String)],
    run_as: &RunAs,
) -> io::Result<(pipe::Receiver, Child)> {
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let write_end_2: OwnedFd = write_end.try_clone()?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(base_args)
        .args(args)
        .env_clear()
        .env("PATH", SCRIPT_PATH)
        .env("HOME", run_as.home())
        .env("LANG", "C")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::from(write_end_2))
        .process_group(0);
    let switch = run_as.switch().map(|s| {
        let groups: Vec<libc::gid_t> = s.groups.iter().map(|g| g.as_raw()).collect();
        (s.uid.as_raw(), s.gid.as_raw(), groups)
    });
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, setgroups, setgid, setuid) on data
    // prepared before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let cleared = libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            );
            if cleared != 0 {
                let e = io::Error::last_os_error();
                // EINVAL: a kernel without ambient capabilities has none to clear.
                if e.raw_os_error() != Some(libc::EINVAL) {
                    return Err(e);
                }
            }
            if let Some((uid, gid, groups)) = &switch {
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                    || libc::setgid(*gid) != 0
                    || libc::setuid(*uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    // Registered before the spawn, so no failure after it can leave a child
    // nobody waits for.
    let reader = pipe::Receiver::from_owned_fd(read_end)?;
    let child = cmd.spawn()?;
    // `cmd` (holding the parent's copies of the write end) is dropped here, so
    // the reader sees end-of-file once the script and its children are done.
    drop(cmd);
    Ok((reader, child))
}

/// Waits for the child and reads its output until both are done or the
/// deadline passes; `None` means the deadline passed with the child running.
async fn supervise(
    child: &mut Child,
    mut reader: pipe::Receiver,
    capture: &mut LastLine,
    deadline: Instant,
) -> Option<io::Result<ExitStatus>> {
    let mut buf = vec![0u8; 8192];
    let mut status: Option<io::Result<ExitStatus>> = None;
    let mut eof = false;
    let mut linger_until = deadline;
    loop {
        if status.is_some() && eof {
            return status;
        }
        tokio::select! {
            s = child.wait(), if status.is_none() => {
                status = Some(s);
                linger_until = deadline.min(Instant::now() + LINGER);
            }
            r = reader.read(&mut buf), if !eof => match r {
                Ok(0) | Err(_) => eof = true,
                Ok(n) => capture.feed(&buf[..n]),
            },
            _ = tokio::time::sleep_until(linger_until) => return status,
        }
    }
}

/// Turns an exit status into a result; a shell's 126 and 127 mean it could not
/// run the command, which is reported as such rather than as a failing check.
fn interpret(command: &Command, status: ExitStatus, last_line: Option<&str>) -> ScriptResult {
    match (status.code(), status.signal()) {
        (Some(code @ (126 | 127)), _) if matches!(command, Command::Shell(_)) => {
            let what = if code == 126 {
                "not executable"
            } else {
                "command not found"
            };
            let said = last_line.unwrap_or("the shell could not run the command");
            ScriptResult::CannotRun(format!("{said} (shell exit {code}: {what})"))
        }
        (Some(code), _) => ScriptResult::Exited(code),
        (None, Some(sig)) => ScriptResult::Signaled(sig),
        (None, None) => ScriptResult::CannotRun(format!("ended with unknown status {status}")),
    }
}

fn describe_spawn_error(program: &str, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOENT) if program.contains('/') && Path::new(program).exists() => {
            format!("{program}: bad interpreter (the #! interpreter is missing)")
        }
        Some(libc::ENOENT) if program.contains('/') => format!("{program}: not found"),
        Some(libc::ENOENT) => format!("{program}: not found in {SCRIPT_PATH}"),
        Some(libc::EACCES) => format!("{program}: not executable (permission denied)"),
        Some(libc::ENOEXEC) => format!("{program}: not an executable format (exec format error)"),
        _ => format!("{program}: {e}"),
    }
}

/// Kills the process group when dropped armed: a timed-out run, or a run whose
/// future was dropped (the check was stopped), leaves nothing behind.
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH: every member is already gone.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Keeps the last non-empty line of the output, bounded in what it reads and keeps.
#[derive(Default)]
struct LastLine {
    current: Vec<u8>,
    last: Option<Vec<u8>>,
    seen: usize,
}

impl LastLine {
    fn feed(&mut self, bytes: &[u8]) {
        let room = READ_LIMIT.saturating_sub(self.seen);
        let bytes = &bytes[..bytes.len().min(room)];
        self.seen += bytes.len();
        let mut pieces = bytes.split(|&b| b == b'\n').peekable();
        while let Some(piece) = pieces.next() {
            let keep = LINE_LIMIT.saturating_sub(self.current.len());
            self.current
                .extend_from_slice(&piece[..piece.len().min(keep)]);
            // Every piece but the last was followed by a newline.
            if pieces.peek().is_some() {
                self.end_line();
            }
        }
    }

    fn end_line(&mut self) {
        if !self.current.trim_ascii().is_empty() {
            self.last = Some(self.current.clone());
        }
        self.current.clear();
    }

    fn finish(mut self) -> Option<String> {
        // A line cut off by the read limit is a fragment; prefer a whole line.
        if self.seen < READ_LIMIT || self.last.is_none() {
            self.end_line();
        }
        self.last
            .map(|l| String::from_utf8_lossy(l.trim_ascii()).into_owned())
    }
}

#[cfg(test)]
mod tests;
