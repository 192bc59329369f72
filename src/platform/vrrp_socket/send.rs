//! `sendmsg(2)` with one control message, the message header and the
//! control room on the stack.
//!
//! nix's `sendmsg` allocates the control buffer at every call; a Master
//! sends one advert per instance per interval, each with its source pinned
//! by a packet-info message, so that was an allocation and a free per
//! advert for what fits in 40 bytes.

use std::io;
use std::os::fd::RawFd;

use nix::sys::socket::SockaddrLike;

/// Room for one control message of the packet-info kinds, aligned as a
/// `cmsghdr` must be.
#[repr(C, align(8))]
struct ControlRoom([u8; 64]);

/// Sends `message` to `to` on `fd` without blocking, with one control
/// message of `level` and `kind` whose data is `data`.
pub(super) fn send_with_control<T: Copy>(
    fd: RawFd,
    message: &[u8],
    to: &impl SockaddrLike,
    level: libc::c_int,
    kind: libc::c_int,
    data: &T,
) -> io::Result<()> {
    let data_len = std::mem::size_of::<T>() as libc::c_uint;
    // SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes.
    let (space, len) = unsafe { (libc::CMSG_SPACE(data_len), libc::CMSG_LEN(data_len)) };
    let mut room = ControlRoom([0; 64]);
    if space as usize > room.0.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "control message larger than its room",
        ));
    }
    let mut iov = libc::iovec {
        iov_base: message.as_ptr().cast_mut().cast(),
        iov_len: message.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_name = to.as_ptr().cast_mut().cast();
    header.msg_namelen = to.len();
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = room.0.as_mut_ptr().cast();
    header.msg_controllen = space as _;
    // SAFETY: the header's control room is `space` bytes, aligned for a
    // cmsghdr and zeroed, so CMSG_FIRSTHDR returns a header inside it with
    // room for `data_len` bytes of data after it (checked above).
    unsafe {
        let control = libc::CMSG_FIRSTHDR(&header);
        (*control).cmsg_level = level;
        (*control).cmsg_type = kind;
        (*control).cmsg_len = len as _;
        std::ptr::copy_nonoverlapping(
            (data as *const T).cast::<u8>(),
            libc::CMSG_DATA(control),
            data_len as usize,
        );
    }
    // SAFETY: every pointer in the header is valid for the call: the
    // message, the address, the iovec and the control room all outlive it.
    let sent = unsafe { libc::sendmsg(fd, &header, libc::MSG_DONTWAIT) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
