//! One agent per runtime directory: an exclusive `flock(2)` on
//! `<runtime_dir>/twinstar.lock`, taken before the agent touches anything
//! else there or on the host.
//!
//! A second agent started with the same runtime directory (a stray manual
//! `twinstar run` next to the service, say) would remove the first one's
//! virtual IPs as stale, replace its control socket and overwrite its
//! status; instead it finds the lock held and exits, naming the holder. The
//! lock is the kernel's and goes with the process, so a crashed agent never
//! leaves a stale lock behind; the file itself stays (removing it would let
//! two agents each lock a different file of the same name).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock file's name inside the runtime directory.
pub const LOCK_FILE: &str = "twinstar.lock";

/// Why the runtime directory could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another agent holds the lock.
    #[error(
        "another twinstar (pid {}) is running with runtime directory {}; stop it first or give this one another --runtime-dir",
        holder.map_or_else(|| "unknown".to_owned(), |pid| pid.to_string()),
        dir.display()
    )]
    Held {
        /// The holder's pid, as it wrote it into the lock file.
        holder: Option<u32>,
        /// The runtime directory.
        dir: PathBuf,
    },
    /// The lock file could not be opened, locked or written.
    #[error("lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RuntimeLock {
    _file: Flock<File>,
}

impl RuntimeLock {
    /// Takes the lock of `runtime_dir` without waiting and writes our pid into
    /// the file, or says who holds it.
    pub fn acquire(runtime_dir: &Path) -> Result<Self, LockError> {
        let path = runtime_dir.join(LOCK_FILE);
        let io = |source: std::io::Error| LockError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map_err(io)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                return Err(LockError::Held {
                    holder: read_pid(&mut file),
                    dir: runtime_dir.to_owned(),
                })
            }
            Err((_, errno)) => return Err(io(errno.into())),
        };
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(RuntimeLock { _file: file })
    }
}

/// The pid the holder wrote, if it has written one yet.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("twinstar-lock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create directory");
        dir
    }

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_holder() {
        let dir = temp_dir("second");
        let first = RuntimeLock::acquire(&dir).expect("first lock");
        let second = RuntimeLock::acquire(&dir).expect_err("the directory is taken");
        let message = second.to_string();
        assert!(
            message.contains(&format!(
                "another twinstar (pid {}) is running with runtime directory {}",
                std::process::id(),
                dir.display()
            )),
            "{message}"
        );
        drop(first);
        let again = RuntimeLock::acquire(&dir);
        assert!(again.is_ok(), "released with its holder: {again:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
