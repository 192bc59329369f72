//! The status file: the typed status as JSON under the runtime directory,
//! rewritten atomically after changes, so operators and tests can see state
//! and counters without a control connection.

use std::io;
use std::path::{Path, PathBuf};

use crate::control::status::Status;

/// Where the snapshot goes: `<runtime-dir>/status.json`.
pub fn path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("status.json")
}

/// Writes the snapshot atomically (temporary file, then rename).
pub fn write(runtime_dir: &Path, status: &Status) -> io::Result<()> {
    let target = path(runtime_dir);
    let tmp = runtime_dir.join(".status.json.tmp");
    let text = status.to_json_pretty().map_err(io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &target)
}
