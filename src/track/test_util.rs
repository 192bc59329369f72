//! Helpers shared by the track tests.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::RunAs;

/// A directory under the system temp dir (mode 0755, so the `nobody` user can
/// read what is in it), removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "twinstar-track-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap();
        chmod(&path, 0o755);
        TempDir(path)
    }

    /// Writes `name` with `text` and `mode`; returns its path.
    pub(crate) fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        chmod(&path, mode);
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// An unprivileged identity: `nobody` when the tests run as root, else the
/// current user.
pub(crate) fn unprivileged() -> RunAs {
    if nix::unistd::Uid::effective().is_root() {
        RunAs::resolve("nobody").unwrap()
    } else {
        RunAs::current()
    }
}
