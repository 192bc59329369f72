//! Gives back the pages of code and read-only data that start-up touched.
//!
//! A one-instance agent's resident set was 9.7 MB, of which 0.9 MB its own
//! memory and 8.8 MB pages of files: 5.6 MB of the binary's code, 1.1 MB of
//! its read-only data, 1.5 MB of libc's. Reading the configuration, the
//! command line, the first netlink dumps and the sockets' set-up runs once,
//! and the kernel maps code 64 KiB around every page that faults
//! (`fault_around_bytes`), so most of the 8 MB of code ends up mapped though
//! the steady loop runs a small part of it.
//!
//! Those pages are clean copies of files in the page cache: dropping this
//! process's mappings of them ([`libc::MADV_DONTNEED`]) changes nothing but
//! the resident count, and the loop faults back in only what it runs. Only
//! mappings that can hold no page of our own are touched: not writable, of
//! a file, and with no anonymous (copied-on-write) page, which rules out the
//! relocated read-only data (RELRO) a dynamic loader wrote before sealing it.
//!
//! The main thread's stack is given back too, below the frame that gives it
//! back: parsing the configuration and the first netlink dumps run deeper
//! than the loop ever does, and the stack keeps every page it once reached
//! (68–72 kB resident at a thousand instances, 44–52 kB once the pages
//! below the loop were dropped). A page dropped there reads back as zeros
//! when the stack grows into it again, as a page never reached does.

use std::io;

/// One mapping of `/proc/self/smaps` that may be given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanMapping {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Resident bytes before.
    pub resident: usize,
}

/// Room kept below the frame of [`Release::give_back`] on the stack, for
/// the calls it makes after choosing the range (a signal handler that runs
/// meanwhile writes its frame before it reads it).
const STACK_KEPT: usize = 16 * 1024;

/// What [`plan`] found to give back: the clean file mappings, and the main
/// thread's stack mapping.
///
/// Planning and giving back are two steps so that the caller can report
/// the figure *before* the pages go. Whatever runs after the give-back
/// faults its code back in, 64 KiB around each page: a log line written
/// afterwards ran the logger's first-use paths (registering the call site,
/// the filter, the formatter) and kept some 320 kB of otherwise cold code
/// resident on a 1000-instance agent for good.
#[derive(Debug)]
pub struct Release {
    mappings: Vec<CleanMapping>,
    stack: Option<(usize, usize)>,
}

/// Reads this process's mappings and plans what [`Release::give_back`]
/// will drop.
pub fn plan() -> io::Result<Release> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    Ok(Release {
        mappings: clean_mappings(&smaps),
        stack: stack_mapping(&smaps),
    })
}

impl Release {
    /// Resident bytes of the file mappings to be dropped.
    pub fn file_bytes(&self) -> usize {
        self.mappings.iter().map(|m| m.resident).sum()
    }

    /// Drops this process's mappings of the planned clean file pages, and
    /// the main thread's stack below the caller when called on that thread;
    /// returns the bytes given back (counting the whole stack part, an
    /// upper bound). Safe at any time: a page dropped while in use faults
    /// back in from the page cache, and the stack below the caller is not
    /// in use.
    pub fn give_back(self) -> usize {
        let mut released = 0;
        let here = std::hint::black_box(0u8);
        let unused = self
            .stack
            .and_then(|mapping| unused_stack(mapping, std::ptr::addr_of!(here) as usize));
        if let Some((start, end)) = unused {
            // SAFETY: the range lies in this thread's own stack mapping,
            // wholly below the frame now running by more than its callees
            // use, so no live value is in it; a page dropped reads back as
            // zeros.
            let done = unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
            };
            if done == 0 {
                released += end - start;
            }
        }
        for mapping in self.mappings {
            // SAFETY: the range is a whole mapping of this process that is
            // not writable, backed by a file and holds no page of its own,
            // so every page in it reads back the same from the file after
            // this.
            let done = unsafe {
                libc::madvise(
                    mapping.start as *mut libc::c_void,
                    mapping.end - mapping.start,
                    libc::MADV_DONTNEED,
                )
            };
            if done == 0 {
                released += mapping.resident;
            }
        }
        released
    }
}

/// The mappings of `smaps` (the text of `/proc/<pid>/smaps`) that [`plan`]
/// may drop: read-only, file-backed, resident, no anonymous page, not locked.
pub fn clean_mappings(smaps: &str) -> Vec<CleanMapping> {
    let mut found = Vec::new();
    let mut current: Option<(CleanMapping, bool)> = None;
    let mut finish = |current: Option<(CleanMapping, bool)>| {
        if let Some((mapping, true)) = current {
            if mapping.resident > 0 {
                found.push(mapping);
            }
        }
    };
    for line in smaps.lines() {
        if let Some(header) = mapping_header(line) {
            finish(current.take());
            current = Some(header);
            continue;
        }
        let Some((mapping, eligible)) = current.as_mut() else {
            continue;
        };
        let Some((key, kb)) = field_kb(line) else {
            continue;
        };
        match key {
            "Rss" => mapping.resident = kb * 1024,
            "Anonymous" | "Locked" if kb > 0 => *eligible = false,
            _ => {}
        }
    }
    finish(current);
    found
}

/// The bounds of the `[stack]` mapping of `smaps` (the main thread's).
pub fn stack_mapping(smaps: &str) -> Option<(usize, usize)> {
    smaps.lines().find_map(|line| {
        let (range, rest) = line.split_once(' ')?;
        if !rest.trim_end().ends_with("[stack]") {
            return None;
        }
        let (start, end) = range.split_once('-')?;
        Some((
            usize::from_str_radix(start, 16).ok()?,
            usize::from_str_radix(end, 16).ok()?,
        ))
    })
}

/// The part of the stack mapping `start..end` at least [`STACK_KEPT`]
/// below `sp`, whole pages only, if `sp` is inside that mapping (on the
/// thread whose stack it is) and such a part exists.
pub fn unused_stack((start, end): (usize, usize), sp: usize) -> Option<(usize, usize)> {
    let page = 4096;
    if !(start..end).contains(&sp) {
        return None;
    }
    let cut = sp.checked_sub(STACK_KEPT)? / page * page;
    (cut > start).then_some((start, cut))
}

/// A mapping's header line (`start-end perms offset dev inode [path]`), and
/// whether it may be given back as far as the header tells.
fn mapping_header(line: &str) -> Option<(CleanMapping, bool)> {
    let mut fields = line.split_ascii_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let _device = fields.next()?;
    let inode: u64 = fields.next()?.parse().ok()?;
    let path = fields.next().unwrap_or("");
    let eligible = perms.len() == 4
        && perms.as_bytes()[1] == b'-'
        && inode != 0
        && path.starts_with('/')
        && end > start;
    Some((
        CleanMapping {
            start,
            end,
            resident: 0,
        },
        eligible,
    ))
}

/// A `Key:   N kB` line.
fn field_kb(line: &str) -> Option<(&str, usize)> {
    let (key, rest) = line.split_once(':')?;
    let value = rest.trim().strip_suffix("kB")?.trim();
    Some((key, value.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 08:01 1234 /usr/sbin/twinstar
Size:               1024 kB
Rss:                 300 kB
Anonymous:             0 kB
Locked:                0 kB
55d0a0100000-55d0a0900000 r-xp 00100000 08:01 1234 /usr/sbin/twinstar
Size:               8192 kB
Rss:                5600 kB
Anonymous:             0 kB
Locked:                0 kB
55d0a0900000-55d0a0940000 r--p 00900000 08:01 1234 /usr/sbin/twinstar
Size:                256 kB
Rss:                 256 kB
Anonymous:           200 kB
Locked:                0 kB
55d0a0940000-55d0a0944000 rw-p 00940000 08:01 1234 /usr/sbin/twinstar
Rss:                  16 kB
Anonymous:            16 kB
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
Rss:                 260 kB
Anonymous:           260 kB
7f1000000000-7f1000200000 r-xp 00028000 08:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1176 kB
Anonymous:             0 kB
Locked:              100 kB
7f2000000000-7f2000010000 r--p 00000000 08:01 98 /usr/lib/locale/C.utf8/LC_CTYPE
Rss:                   0 kB
Anonymous:             0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
Rss:                   8 kB
Anonymous:             0 kB
";

    #[test]
    fn only_clean_resident_read_only_file_mappings_are_given_back() {
        let found = clean_mappings(SMAPS);
        assert_eq!(
            found,
            [
                CleanMapping {
                    start: 0x55d0a0000000,
                    end: 0x55d0a0100000,
                    resident: 300 * 1024,
                },
                CleanMapping {
                    start: 0x55d0a0100000,
                    end: 0x55d0a0900000,
                    resident: 5600 * 1024,
                },
            ],
            "RELRO (anonymous pages), writable, locked, empty and [vdso] mappings stay"
        );
    }

    /// The part of the `[stack]` mapping of `smaps` that may go, below `sp`.
    fn unused(smaps: &str, sp: usize) -> Option<(usize, usize)> {
        unused_stack(stack_mapping(smaps)?, sp)
    }

    #[test]
    fn the_stack_is_given_back_only_well_below_the_caller() {
        let smaps = "7ffd10000000-7ffd10021000 rw-p 00000000 00:00 0                          [stack]\nRss: 72 kB\n";
        let sp = 0x7ffd1001c123;
        assert_eq!(
            unused(smaps, sp),
            Some((0x7ffd10000000, 0x7ffd10018000)),
            "from the mapping's start to whole pages 16 KiB below the caller"
        );
        assert_eq!(
            unused(smaps, 0x7ffd10003000),
            None,
            "too close to the start"
        );
        assert_eq!(
            unused(smaps, 0x7f0000001000),
            None,
            "another thread's stack"
        );
        assert_eq!(unused(SMAPS, sp), None, "no [stack] mapping");
    }

    #[test]
    fn garbage_is_ignored() {
        assert!(clean_mappings("not smaps\n\u{0}\nRss: x kB\n-\n").is_empty());
    }

    #[test]
    fn this_process_keeps_running_after_giving_its_pages_back() {
        let before = resident_file_kb();
        let planned = plan().expect("smaps is readable");
        assert!(
            planned.file_bytes() > 0,
            "a test binary has clean code pages"
        );
        let released = planned.give_back();
        assert!(released > 0, "nothing was given back");
        // Code and data fault back in: the process goes on, and its
        // read-only data reads the same.
        assert_eq!(format!("{}", 6 * 7), "42");
        assert!(resident_file_kb() < before, "nothing was given back");
    }

    fn resident_file_kb() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("RssFile:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}
