//! Real-time scheduling for the event loop: a VRRP Master must advertise on
//! time even when every core is busy, or its Backups take over needlessly.

use std::io;

/// CPU time (µs) an RT thread may use without blocking before SIGXCPU, and
/// before SIGKILL. The event loop blocks in epoll every few milliseconds.
const RTTIME_SOFT_US: u64 = 1_000_000;
const RTTIME_HARD_US: u64 = 2_000_000;

/// Makes the calling thread SCHED_FIFO at `priority` (1..=99), with
/// SCHED_RESET_ON_FORK so that threads and processes it creates (scripts,
/// hooks, the blocking pool) run as normal tasks, and RLIMIT_RTTIME set so
/// that a loop that stops blocking is stopped instead of hogging a core.
pub fn enable_realtime(priority: u8) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: RTTIME_SOFT_US,
        rlim_max: RTTIME_HARD_US,
    };
    // SAFETY: setrlimit reads a valid rlimit struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: sched_setscheduler reads a valid sched_param; pid 0 is this thread.
    let policy = libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK;
    if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realtime_applies_to_this_thread_and_not_to_children() {
        // Run on a thread of its own so the test harness thread stays normal.
        std::thread::spawn(|| {
            if enable_realtime(5).is_err() {
                eprintln!("skipping: no privilege for real-time scheduling");
                return;
            }
            // SAFETY: sched_getscheduler has no preconditions.
            let policy = unsafe { libc::sched_getscheduler(0) };
            assert_eq!(policy & !libc::SCHED_RESET_ON_FORK, libc::SCHED_FIFO);
            let child = std::thread::spawn(|| unsafe { libc::sched_getscheduler(0) })
                .join()
                .unwrap();
            assert_eq!(
                child,
                libc::SCHED_OTHER,
                "a new thread starts as a normal task"
            );
        })
        .join()
        .unwrap();
    }
}
