//! `file` and `process` checks: values read from the filesystem.
//!
//! Both are blocking reads of small local files; the monitor runs them on the
//! blocking pool so a stuck filesystem cannot stall the event loop.

use std::path::Path;

/// Reads a `file` check: the whole file, trimmed, as a signed integer
/// (keepalived `track_file` semantics). The error says what is wrong, for status.
pub fn read_track_file(path: &Path) -> Result<i64, String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{} is missing", path.display()),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    text.parse().map_err(|_| {
        let shown: String = text.chars().take(40).collect();
        format!("{} holds {shown:?}, not an integer", path.display())
    })
}

/// Counts the processes named `name`: those whose `/proc/PID/comm` equals it,
/// or (since `comm` is cut to 15 bytes) whose `argv[0]` file name does.
/// Processes that vanish while being looked at are simply not counted.
pub fn count_processes(name: &str) -> usize {
    count_processes_in(Path::new("/proc"), name)
}

fn count_processes_in(proc_root: &Path, name: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| process_is_named(&e.path(), name))
        .count()
}

fn process_is_named(dir: &Path, name: &str) -> bool {
    if let Ok(comm) = std::fs::read(dir.join("comm")) {
        if comm.strip_suffix(b"\n").unwrap_or(&comm) == name.as_bytes() {
            return true;
        }
    }
    let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
        return false;
    };
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or(&[]);
    let file_name = argv0.rsplit(|&b| b == b'/').next().unwrap_or(&[]);
    !file_name.is_empty() && file_name == name.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::test_util::TempDir;

    #[test]
    fn reads_integers_and_explains_the_rest() {
        let dir = TempDir::new("readers");
        let file = dir.file("weight", "  -17\n", 0o644);
        assert_eq!(read_track_file(&file), Ok(-17));
        let file = dir.file("zero", "0", 0o644);
        assert_eq!(read_track_file(&file), Ok(0));
        let garbled = dir.file("garbled", "12abc\n", 0o644);
        assert_eq!(
            read_track_file(&garbled),
            Err(format!(
                "{} holds \"12abc\", not an integer",
                garbled.display()
            ))
        );
        let empty = dir.file("empty", "\n", 0o644);
        assert_eq!(
            read_track_file(&empty),
            Err(format!("{} is empty", empty.display()))
        );
        let missing = dir.0.join("missing");
        assert_eq!(
            read_track_file(&missing),
            Err(format!("{} is missing", missing.display()))
        );
    }

    #[test]
    fn counts_by_comm_and_by_argv0() {
        let dir = TempDir::new("proc");
        let add = |pid: &str, comm: &str, cmdline: &[u8]| {
            let p = dir.0.join(pid);
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("comm"), comm).unwrap();
            std::fs::write(p.join("cmdline"), cmdline).unwrap();
        };
        add(
            "1",
            "haproxy\n",
            b"/usr/sbin/haproxy\0-f\0/etc/haproxy.cfg\0",
        );
        add("2", "haproxy\n", b"haproxy\0");
        // comm is cut to 15 bytes; argv[0] has the full name.
        add(
            "3",
            "postgres-export\n",
            b"/opt/bin/postgres-exporter\0--x\0",
        );
        // Kernel threads have an empty command line.
        add("4", "kworker/0:1\n", b"");
        add("self", "haproxy\n", b"haproxy\0");
        std::fs::create_dir(dir.0.join("5")).unwrap(); // vanished
        assert_eq!(count_processes_in(&dir.0, "haproxy"), 2);
        assert_eq!(count_processes_in(&dir.0, "postgres-exporter"), 1);
        assert_eq!(count_processes_in(&dir.0, "kworker/0:1"), 1);
        assert_eq!(count_processes_in(&dir.0, "nginx"), 0);
        assert_eq!(count_processes_in(&dir.0, ""), 0);
    }

    #[test]
    fn counts_real_processes() {
        // The test binary itself is running.
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_str().unwrap();
        assert!(count_processes(name) >= 1, "{name}");
        assert_eq!(count_processes("no-such-twinstar-process"), 0);
    }
}
