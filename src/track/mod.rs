//! Tracked objects (health checks) and the scripts behind checks and hooks.
//!
//! The pieces are small and separately testable:
//! - [`hysteresis`]: pure rise/fall counting, so one flaky result moves nothing;
//! - [`run_as`]: who scripts run as, and the refusal of root scripts that
//!   another user could rewrite;
//! - [`process`]: running one command with a clean environment, no
//!   capabilities, its own process group and a hard time limit;
//! - [`native`]: TCP, HTTP and ICMP probes done in-process (no fork per check);
//! - [`readers`]: `file` and `process` checks, read from the filesystem;
//! - [`monitor`]: the per-check task that schedules runs and reports changes.
//!
//! `interface` checks are not run here: the daemon follows link events itself.

pub mod hysteresis;
pub mod monitor;
pub mod native;
pub mod process;
pub mod readers;
pub mod run_as;
#[cfg(test)]
mod test_util;

pub use hysteresis::Hysteresis;
pub use monitor::{spawn, CheckUpdate, Monitor};
pub use native::Probe;
pub use process::{run, ScriptOutcome, ScriptResult};
pub use run_as::{check_command_safe_for_root, check_safe_for_root, RunAs, TrackError, UnsafePath};
