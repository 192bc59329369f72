//! What a panic does in the agent: it takes the whole process down at once.
//!
//! tokio catches a panic inside a spawned task and reports it only to whoever
//! awaits the task's handle; nobody awaits the socket readers or the address
//! workers. A reader that died that way leaves a deaf Backup that takes the
//! virtual IPs from a live Master (two Masters); a dead address worker leaves
//! a Master without its addresses. Neither is visible from outside. So
//! `twinstar run` installs [`install_abort_on_panic`]: the panic is logged and
//! the process aborts, systemd restarts it (`Restart=on-failure`), and the
//! other hosts see a Master that stopped advertising. The release profile is
//! also built with `panic = "abort"`, so the hook is what every build does.

use std::panic::PanicHookInfo;

/// Installs a panic hook that logs the panic and aborts the process, whatever
/// thread or task panicked.
pub fn install_abort_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        let report = describe(info);
        tracing::error!("{report}; aborting");
        // The log may go to the journal only; stderr is the last word that
        // is sure to reach whoever started us.
        eprintln!("twinstar: {report}; aborting");
        std::process::abort();
    }));
}

/// One line about a panic: where, on which thread, and its message.
pub fn describe(info: &PanicHookInfo<'_>) -> String {
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    match info.location() {
        Some(at) => format!(
            "panic on thread {thread} at {}:{}: {message}",
            at.file(),
            at.line()
        ),
        None => format!("panic on thread {thread}: {message}"),
    }
}
