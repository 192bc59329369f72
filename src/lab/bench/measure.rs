//! What the benchmark measures outside the agents: CPU time of their
//! processes from the kernel's per-process CPU clocks, resident memory from
//! /proc (VmRSS and PSS), and summary statistics.

use std::time::Duration;

/// CPU time (user + system) used so far by `pids`, to the nanosecond.
///
/// /proc/PID/stat counts in clock ticks (10 ms): over a 10 s window that is
/// 0.1 % of a core, about the whole floor of one router at 10 ms. Each
/// process's CPU-time clock (`clock_getcpuclockid` + `clock_gettime`) gives the
/// scheduler's own run-time sum in nanoseconds instead. It is the sum over the
/// whole thread group *including threads that already exited* (the kernel
/// folds an exiting thread's run time into its process), which summing
/// /proc/PID/task/*/schedstat would lose: a worker thread that ends inside
/// the window would take its time with it. A process that is gone counts 0.
pub fn cpu_time(pids: &[u32]) -> Duration {
    pids.iter().filter_map(|pid| process_cpu_time(*pid)).sum()
}

fn process_cpu_time(pid: u32) -> Option<Duration> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid place for the clock id to be written.
    if unsafe { libc::clock_getcpuclockid(i32::try_from(pid).ok()?, &mut clock) } != 0 {
        return None;
    }
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid timespec to write into.
    if unsafe { libc::clock_gettime(clock, &mut time) } != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(time.tv_sec).ok()?,
        u32::try_from(time.tv_nsec).ok()?,
    ))
}

/// Resident memory of `pids` in KiB (VmRSS summed): every page mapped, the
/// binary's and shared libraries' pages counted in full in each process.
pub fn rss_kib(pids: &[u32]) -> u64 {
    sum_field(pids, "status", "VmRSS:")
}

/// Proportional resident memory of `pids` in KiB (/proc/PID/smaps_rollup
/// `Pss:` summed): a page shared by n processes counts 1/n in each, so
/// keepalived's parent and child, which share most of their pages after the
/// fork, are not counted twice.
pub fn pss_kib(pids: &[u32]) -> u64 {
    sum_field(pids, "smaps_rollup", "Pss:")
}

fn sum_field(pids: &[u32], file: &str, field: &str) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok())
        .filter_map(|text| kib_field(&text, field))
        .sum()
}

/// The value of the `field` line (`Name:   1234 kB`) of a /proc file, in KiB.
fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// Median, minimum and maximum of some samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median (mean of the middle two for an even count).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
}

/// Summarises `samples`; `None` when there are none.
pub fn summarise(samples: &[f64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some(Summary {
        median,
        min: sorted[0],
        max: sorted[n - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_odd_and_even_counts() {
        let s = summarise(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = summarise(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        assert_eq!(summarise(&[]), None);
    }

    #[test]
    fn own_process_has_cpu_time_and_memory() {
        let me = std::process::id();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(rss_kib(&[me]) > 100);
        assert!(pss_kib(&[me]) > 100);
        assert!(pss_kib(&[me]) <= rss_kib(&[me]) + 64);
        assert!(cpu_time(&[me]) > Duration::ZERO);
    }

    #[test]
    fn cpu_time_keeps_the_time_of_threads_that_exited() {
        let me = std::process::id();
        let before = cpu_time(&[me]);
        std::thread::spawn(|| {
            let started = std::time::Instant::now();
            let mut x = 0u64;
            while started.elapsed() < Duration::from_millis(50) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        })
        .join()
        .unwrap();
        // The thread is gone; its ~50 ms of spinning stays counted (the
        // bound leaves room for a loaded machine preempting the spinner).
        assert!(cpu_time(&[me]) - before >= Duration::from_millis(5));
    }

    #[test]
    fn proc_fields_are_read_in_kib() {
        let smaps = "55d0-7ffd ---p 00000000 00:00 0  [rollup]\nRss:  10812 kB\nPss:   4070 kB\nPss_Anon: 1200 kB\n";
        assert_eq!(kib_field(smaps, "Pss:"), Some(4070));
        assert_eq!(kib_field(smaps, "Rss:"), Some(10812));
        let status = "Name:\ttwinstar\nVmRSS:\t   10812 kB\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(10812));
        assert_eq!(kib_field(status, "Pss:"), None);
        assert_eq!(cpu_time(&[u32::MAX]), Duration::ZERO);
        assert_eq!(pss_kib(&[u32::MAX]), 0);
    }
}
