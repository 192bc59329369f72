//! A zeroed buffer on pages of its own, resident only where written.
//!
//! A zeroed block from the heap (`vec![0; n]`, glibc's `calloc`) is cleared
//! by writing every byte unless it comes fresh from the top of the heap, so
//! whether its pages are resident depends on what the heap held before: the
//! receive buffer of the 1000-instance Master, which reads little, was 4 KiB
//! resident in one run and all of its 64 KiB in another. An anonymous
//! mapping is zero-filled by the kernel page by page, as each is first
//! written, so a buffer costs the pages reads have used, and no more.

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// `len` zero bytes on an anonymous private mapping (or, should the kernel
/// refuse the mapping, on the heap), unmapped when dropped.
pub struct ZeroedPages {
    memory: Memory,
}

enum Memory {
    Mapped { start: NonNull<u8>, len: usize },
    Heap(Box<[u8]>),
}

impl ZeroedPages {
    /// A buffer of `len` zero bytes.
    pub fn new(len: usize) -> ZeroedPages {
        if len == 0 {
            return ZeroedPages {
                memory: Memory::Heap(Box::default()),
            };
        }
        // SAFETY: a new private anonymous mapping, placed by the kernel; it
        // touches no memory of the process, and the result is checked below.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        let memory = match NonNull::new(start.cast::<u8>()) {
            Some(start) if start.as_ptr().cast() != libc::MAP_FAILED => {
                Memory::Mapped { start, len }
            }
            _ => Memory::Heap(vec![0; len].into_boxed_slice()),
        };
        ZeroedPages { memory }
    }
}

impl Deref for ZeroedPages {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.memory {
            // SAFETY: the mapping is `len` readable bytes, zero-filled by the
            // kernel (so initialised), and lives until `self` is dropped; the
            // borrow of `self` keeps it from being written meanwhile.
            Memory::Mapped { start, len } => unsafe {
                std::slice::from_raw_parts(start.as_ptr(), *len)
            },
            Memory::Heap(bytes) => bytes,
        }
    }
}

impl DerefMut for ZeroedPages {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.memory {
            // SAFETY: as in `deref`, and the mapping is writable; the unique
            // borrow of `self` makes this the only reference to it.
            Memory::Mapped { start, len } => unsafe {
                std::slice::from_raw_parts_mut(start.as_ptr(), *len)
            },
            Memory::Heap(bytes) => bytes,
        }
    }
}

impl Drop for ZeroedPages {
    fn drop(&mut self) {
        if let Memory::Mapped { start, len } = self.memory {
            // SAFETY: the mapping was made by `new` with this length and no
            // reference to it outlives `self`.
            unsafe {
                libc::munmap(start.as_ptr().cast(), len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages of `bytes` (a whole mapping, page-aligned) that the process
    /// has in memory, from `mincore(2)`. A page only read maps the kernel's
    /// shared zero page and counts too, so measure before reading.
    fn pages_in_memory(bytes: &[u8]) -> usize {
        let mut vector = vec![0u8; bytes.len().div_ceil(4096)];
        // SAFETY: the range is one mapping of ours, page-aligned as mmap
        // returns it, and the vector has a byte for each of its pages.
        let status = unsafe {
            libc::mincore(
                bytes.as_ptr() as *mut libc::c_void,
                bytes.len(),
                vector.as_mut_ptr(),
            )
        };
        assert_eq!(status, 0, "mincore: {}", std::io::Error::last_os_error());
        vector.iter().filter(|v| **v & 1 == 1).count()
    }

    #[test]
    fn zeroed_and_in_memory_only_where_written() {
        let mut buffer = ZeroedPages::new(64 * 1024);
        assert_eq!(buffer.len(), 64 * 1024);
        assert_eq!(pages_in_memory(&buffer), 0);
        buffer[0] = 1;
        buffer[3 * 4096 + 5] = 2;
        assert_eq!(pages_in_memory(&buffer), 2, "the two pages written");
        assert_eq!((buffer[0], buffer[3 * 4096 + 5]), (1, 2));
        assert_eq!(buffer.iter().filter(|b| **b != 0).count(), 2);
    }

    #[test]
    fn an_empty_buffer_maps_nothing() {
        let buffer = ZeroedPages::new(0);
        assert!(buffer.is_empty());
    }
}
