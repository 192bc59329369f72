//! CPU hogs for the lab: busy loops that take every core, to show that the
//! agents keep their timers on a saturated machine (bench scenario and chaos
//! fault alike).

use std::process::{Child, Command, Stdio};

use super::LabError;

/// Busy loops, killed by their pids when stopped or dropped.
pub(crate) struct Hogs(Vec<Child>);

impl Hogs {
    /// Starts `count` busy loops; those already started are killed again if
    /// a later one cannot start.
    pub(crate) fn start(count: usize) -> Result<Hogs, LabError> {
        let mut hogs = Hogs(Vec::new());
        for _ in 0..count {
            hogs.0.push(
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdin(Stdio::null())
                    .spawn()?,
            );
        }
        Ok(hogs)
    }

    /// Kills and reaps every loop.
    pub(crate) fn stop(&mut self) {
        for mut child in self.0.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        self.stop();
    }
}
