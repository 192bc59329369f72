//! Ctrl-C in the lab commands: the handler only records it, and the long
//! waits check it, so that an interrupted demo or chaos batch still removes
//! its namespaces and agents through the usual guards.

use std::sync::atomic::{AtomicBool, Ordering};

use super::LabError;

/// Set by the SIGINT handler.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Replaces SIGINT's default (ending the process at once, leaving the lab
/// behind) with a note that [`check`] reports.
pub fn catch() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(on_sigint),
            nix::sys::signal::SaFlags::empty(),
            nix::sys::signal::SigSet::empty(),
        );
        let _ = nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGINT, &action);
    }
}

/// [`LabError::Interrupted`] once Ctrl-C was pressed.
pub fn check() -> Result<(), LabError> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(LabError::Interrupted);
    }
    Ok(())
}
