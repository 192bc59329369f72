//! Who scripts run as, and when a root script is too dangerous to run.
//!
//! Scripts and hooks run as `script_user` with that user's groups, so a
//! compromised or buggy script cannot do more than the user may. Running them as
//! root is allowed, but only for files no other user could have rewritten:
//! otherwise any local user able to edit the script (or rename a directory above
//! it) gets root.

use std::ffi::CString;
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use nix::unistd::{Gid, Uid, User};

use crate::config::{defaults, Command};

/// The `PATH` scripts get, and the one bare command names are resolved with.
pub const SCRIPT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the identity for scripts could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// `script_user` names no user (and is not the default, which falls back).
    #[error("script_user {0:?}: no such user")]
    NoSuchUser(String),
    /// The user database could not be read.
    #[error("script_user {user:?}: looking the user up failed: {source}")]
    UserLookup {
        /// The user looked up.
        user: String,
        /// The error from the user database.
        source: nix::Error,
    },
    /// The user's supplementary groups could not be listed.
    #[error("script_user {user:?}: listing the user's groups failed: {source}")]
    Groups {
        /// The user whose groups were listed.
        user: String,
        /// The error from the group database.
        source: nix::Error,
    },
    /// The name cannot be passed to the C library.
    #[error("script_user {0:?}: the name contains a NUL byte")]
    BadName(String),
}

/// The credentials a child switches to before it executes the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Switch {
    pub(crate) uid: Uid,
    pub(crate) gid: Gid,
    pub(crate) groups: Vec<Gid>,
}

/// The identity scripts and hooks run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    name: String,
    home: PathBuf,
    /// `None` when the agent is not root: scripts run as the agent's own user.
    switch: Option<Switch>,
}

impl RunAs {
    /// Looks `script_user` up. When the agent is not root there is nothing to
    /// switch to, so scripts run as the agent's own user whatever is configured.
    /// The default user falls back to [`defaults::SCRIPT_USER_FALLBACK`] when it
    /// does not exist, so a fresh install works before the user is created.
    pub fn resolve(script_user: &str) -> Result<RunAs, TrackError> {
        if !Uid::effective().is_root() {
            return Ok(RunAs::current());
        }
        let user = match lookup(script_user)? {
            Some(user) => user,
            None if script_user == defaults::SCRIPT_USER => {
                tracing::warn!(
                    "no user {:?}; scripts and hooks run as {:?}",
                    defaults::SCRIPT_USER,
                    defaults::SCRIPT_USER_FALLBACK
                );
                lookup(defaults::SCRIPT_USER_FALLBACK)?.ok_or_else(|| {
                    TrackError::NoSuchUser(defaults::SCRIPT_USER_FALLBACK.to_owned())
                })?
            }
            None => return Err(TrackError::NoSuchUser(script_user.to_owned())),
        };
        let c_name =
            CString::new(user.name.as_str()).map_err(|_| TrackError::BadName(user.name.clone()))?;
        let groups =
            nix::unistd::getgrouplist(&c_name, user.gid).map_err(|source| TrackError::Groups {
                user: user.name.clone(),
                source,
            })?;
        Ok(RunAs {
            home: home_or_root(&user.dir),
            switch: Some(Switch {
                uid: user.uid,
                gid: user.gid,
                groups,
            }),
            name: user.name,
        })
    }

    /// The agent's own identity: nothing is switched.
    pub fn current() -> RunAs {
        let uid = Uid::effective();
        let user = User::from_uid(uid).ok().flatten();
        RunAs {
            name: user
                .as_ref()
                .map(|u| u.name.clone())
                .unwrap_or_else(|| uid.to_string()),
            home: user
                .map(|u| home_or_root(&u.dir))
                .unwrap_or_else(|| PathBuf::from("/")),
            switch: None,
        }
    }

    /// The user's name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `HOME` for scripts: the user's home directory if it exists, else `/`.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Whether scripts run with uid 0, and so must pass [`check_safe_for_root`].
    pub fn is_root(&self) -> bool {
        match &self.switch {
            Some(s) => s.uid.is_root(),
            None => Uid::effective().is_root(),
        }
    }

    /// The credentials to switch to in the child, if any.
    pub(crate) fn switch(&self) -> Option<&Switch> {
        self.switch.as_ref()
    }
}

fn lookup(name: &str) -> Result<Option<User>, TrackError> {
    User::from_name(name).map_err(|source| TrackError::UserLookup {
        user: name.to_owned(),
        source,
    })
}

fn home_or_root(dir: &Path) -> PathBuf {
    if dir.is_absolute() && dir.is_dir() {
        dir.to_path_buf()
    } else {
        PathBuf::from("/")
    }
}

/// A script refused to run as root: `path` could be changed by another user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} {reason}", path.display())]
pub struct UnsafePath {
    /// The offending file or directory.
    pub path: PathBuf,
    /// Why, e.g. "is writable by group 1000".
    pub reason: String,
}

/// Refuses `path` for a root script when the file, or any directory on its
/// canonical path from `/`, is writable by a non-root user: owned by one,
/// group-writable with a non-root group, or world-writable. A world-writable
/// directory with the sticky bit (like `/tmp`) is fine when the next component
/// is owned by root, since then only root can rename or replace it.
pub fn check_safe_for_root(path: &Path) -> Result<(), UnsafePath> {
    let canonical = std::fs::canonicalize(path).map_err(|e| UnsafePath {
        path: path.to_path_buf(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            "is not found".to_owned()
        } else {
            format!("cannot be resolved: {e}")
        },
    })?;
    let mut prefixes = Vec::new();
    let mut current = PathBuf::new();
    for component in canonical.components() {
        match component {
            Component::RootDir | Component::Normal(_) => {
                current.push(component);
                prefixes.push(current.clone());
            }
            // A canonical path has no `.`, `..` or prefix.
            _ => {}
        }
    }
    let stat = |p: &Path| {
        std::fs::symlink_metadata(p).map_err(|e| UnsafePath {
            path: p.to_path_buf(),
            reason: format!("cannot be examined: {e}"),
        })
    };
    for (i, prefix) in prefixes.iter().enumerate() {
        let meta = stat(prefix)?;
        let unsafe_because = |reason: String| UnsafePath {
            path: prefix.clone(),
            reason,
        };
        if meta.uid() != 0 {
            return Err(unsafe_because(format!("is owned by uid {}", meta.uid())));
        }
        let mode = meta.mode();
        if mode & 0o020 != 0 && meta.gid() != 0 {
            return Err(unsafe_because(format!(
                "is writable by group {}",
                meta.gid()
            )));
        }
        if mode & 0o002 != 0 {
            let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
            let next_is_root_owned = match prefixes.get(i + 1) {
                Some(next) => stat(next)?.uid() == 0,
                None => false,
            };
            if !(sticky_dir && next_is_root_owned) {
                return Err(unsafe_because("is writable by everyone".to_owned()));
            }
        }
    }
    Ok(())
}

/// [`check_safe_for_root`] for what a command executes: `argv[0]` (looked up
/// in [`SCRIPT_PATH`] when it has no `/`), or for a shell command `/bin/sh`
/// and the first word when it is a path.
pub fn check_command_safe_for_root(command: &Command) -> Result<(), UnsafePath> {
    match command {
        Command::Argv(argv) => {
            let program = argv.first().map(String::as_str).unwrap_or("");
            if program.contains('/') {
                check_safe_for_root(Path::new(program))
            } else {
                match find_in_path(program) {
                    Some(found) => check_safe_for_root(&found),
                    None => Err(UnsafePath {
                        path: PathBuf::from(program),
                        reason: format!("is not found in {SCRIPT_PATH}"),
                    }),
                }
            }
        }
        Command::Shell(script) => {
            check_safe_for_root(Path::new("/bin/sh"))?;
            match script.split_whitespace().next() {
                Some(word) if word.contains('/') => {
                    let word = word.trim_matches(|c| c == '"' || c == '\'');
                    check_safe_for_root(Path::new(word))
                }
                _ => Ok(()),
            }
        }
    }
}

/// The first regular file named `name` in [`SCRIPT_PATH`].
pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    SCRIPT_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

impl fmt::Display for RunAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::test_util::TempDir;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn root_only() -> bool {
        if !Uid::effective().is_root() {
            eprintln!("skipped: needs root");
            return false;
        }
        true
    }

    #[test]
    fn refuses_a_script_in_a_world_writable_directory() {
        if !root_only() {
            return;
        }
        let tmp = TempDir::new("unsafe");
        let dir = tmp.0.join("open");
        std::fs::create_dir(&dir).unwrap();
        chmod(&tmp.0, 0o755);
        chmod(&dir, 0o777);
        let script = dir.join("check.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        chmod(&script, 0o755);
        let err = check_safe_for_root(&script).unwrap_err();
        assert_eq!(err.path, dir);
        assert_eq!(err.reason, "is writable by everyone");
        let shell = Command::Shell(format!("{} arg", script.display()));
        assert_eq!(check_command_safe_for_root(&shell).unwrap_err().path, dir);
    }

    #[test]
    fn accepts_a_script_in_a_root_owned_private_directory() {
        if !root_only() {
            return;
        }
        let tmp = TempDir::new("safe");
        chmod(&tmp.0, 0o755);
        let script = tmp.0.join("check.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        chmod(&script, 0o755);
        // The temp dir itself is sticky and world-writable; our directory is root's.
        assert_eq!(check_safe_for_root(&script), Ok(()));
        let argv = Command::Argv(vec![script.display().to_string(), "x".into()]);
        assert_eq!(check_command_safe_for_root(&argv), Ok(()));
        assert_eq!(
            check_command_safe_for_root(&Command::Argv(vec!["sh".into()])),
            Ok(())
        );
    }

    #[test]
    fn refuses_group_writable_and_foreign_owned_files() {
        if !root_only() {
            return;
        }
        let tmp = TempDir::new("group");
        chmod(&tmp.0, 0o755);
        let script = tmp.0.join("check.sh");
        std::fs::write(&script, "exit 0\n").unwrap();
        chmod(&script, 0o775);
        nix::unistd::chown(&script, None, Some(Gid::from_raw(1000))).unwrap();
        let err = check_safe_for_root(&script).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} is writable by group 1000", script.display())
        );
        // Group-writable by root's group is fine.
        nix::unistd::chown(&script, None, Some(Gid::from_raw(0))).unwrap();
        assert_eq!(check_safe_for_root(&script), Ok(()));
        nix::unistd::chown(&script, Some(Uid::from_raw(65534)), None).unwrap();
        assert_eq!(
            check_safe_for_root(&script).unwrap_err().reason,
            "is owned by uid 65534"
        );
    }

    #[test]
    fn a_missing_script_is_refused_as_not_found() {
        let err = check_safe_for_root(Path::new("/nonexistent/twinstar/x")).unwrap_err();
        assert_eq!(err.reason, "is not found");
        let err = check_command_safe_for_root(&Command::Argv(vec!["no-such-twinstar-cmd".into()]))
            .unwrap_err();
        assert!(err.reason.contains("not found"), "{err}");
    }

    #[test]
    fn resolves_the_fallback_user_for_the_default() {
        if !root_only() {
            return;
        }
        // Only meaningful where no `twinstar` user exists.
        if User::from_name(defaults::SCRIPT_USER)
            .ok()
            .flatten()
            .is_some()
        {
            return;
        }
        let run_as = RunAs::resolve(defaults::SCRIPT_USER).unwrap();
        assert_eq!(run_as.name(), defaults::SCRIPT_USER_FALLBACK);
        assert!(!run_as.is_root());
        assert!(matches!(
            RunAs::resolve("no-such-twinstar-user"),
            Err(TrackError::NoSuchUser(_))
        ));
        assert!(RunAs::resolve("root").unwrap().is_root());
    }
}
