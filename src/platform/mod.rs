//! Platform I/O: the only code that talks to the kernel.
//!
//! - [`netlink`]: links, addresses and carrier changes through rtnetlink;
//! - [`address_watch`]: the kernel's address notifications, for reconciling VIPs;
//! - [`announce`]: gratuitous ARP and unsolicited Neighbor Advertisements on AF_PACKET.

pub mod address_watch;
pub mod announce;
mod error;
pub mod netlink;
pub mod sched;
pub mod vrrp_socket;

pub use error::PlatformError;
