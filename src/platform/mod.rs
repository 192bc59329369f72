//! Platform I/O: the only code that talks to the kernel.
//!
//! - [`netlink`]: links and addresses through rtnetlink;
//! - [`link_watch`]: carrier changes, deletions and re-creations of links, resynced
//!   after lost notifications;
//! - [`address_watch`]: the kernel's address notifications, for reconciling VIPs;
//! - [`multicast`]: rtnetlink notifications that say when some were lost;
//! - [`announce`]: gratuitous ARP and unsolicited Neighbor Advertisements on AF_PACKET;
//! - [`capture`]: the receive-only AF_PACKET socket of `twinstar watch`;
//! - [`accept_filter`]: the nftables table that enforces Accept_Mode False;
//! - [`heap`] and [`startup_pages`]: memory given back to the kernel;
//! - [`pages`]: zeroed buffers resident only where written.

pub mod accept_filter;
pub mod address_watch;
pub mod announce;
pub mod capture;
mod error;
pub mod heap;
pub mod link_watch;
pub mod macvlan;
pub mod multicast;
pub mod netlink;
pub mod pages;
pub mod sched;
pub mod startup_pages;
pub mod sysctl;
pub mod vrrp_socket;

pub use error::PlatformError;
