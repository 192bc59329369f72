//! Errors of the platform layer, each naming the operation and the thing it acted on.

use std::io;
use std::net::IpAddr;

/// What went wrong talking to the kernel, phrased so the daemon can log it as is
/// ("adding 192.0.2.50/24 to interface 3 failed: ...").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    /// Netlink and the announcement socket are driven by tokio; there was no runtime
    /// to spawn the netlink connection task on.
    #[error("no tokio runtime to drive the netlink connection; call this from inside one")]
    NoRuntime,
    /// The rtnetlink socket could not be opened (for example, out of file descriptors).
    #[error("opening a netlink socket failed: {0}")]
    Connect(#[source] io::Error),
    /// The kernel knows no interface by this name in the current network namespace.
    #[error("no interface named {0:?} in this network namespace")]
    NoSuchInterface(String),
    /// The interface has no 6-byte hardware address, so it cannot carry ARP or NA.
    #[error("interface {name:?} has no Ethernet address (hardware address length {length})")]
    NotEthernet {
        /// Interface name.
        name: String,
        /// Length of the hardware address the kernel reported (0 when absent).
        length: usize,
    },
    /// Asking the kernel about an interface failed.
    #[error("looking up interface {name:?} failed: {source}")]
    LinkQuery {
        /// Interface name.
        name: String,
        /// What netlink reported.
        #[source]
        source: rtnetlink::Error,
    },
    /// Listing the addresses of an interface failed.
    #[error("listing the addresses of interface {interface_index} failed: {source}")]
    ListAddresses {
        /// Interface index.
        interface_index: u32,
        /// What netlink reported.
        #[source]
        source: rtnetlink::Error,
    },
    /// Adding an address failed for a reason other than it being there already.
    #[error("adding {address}/{prefix_len} to interface {interface_index} failed: {source}")]
    AddAddress {
        /// The address being added.
        address: IpAddr,
        /// Its prefix length.
        prefix_len: u8,
        /// Interface index.
        interface_index: u32,
        /// What netlink reported.
        #[source]
        source: rtnetlink::Error,
    },
    /// Removing an address failed for a reason other than it being absent.
    #[error("removing {address}/{prefix_len} from interface {interface_index} failed: {source}")]
    RemoveAddress {
        /// The address being removed.
        address: IpAddr,
        /// Its prefix length.
        prefix_len: u8,
        /// Interface index.
        interface_index: u32,
        /// What netlink reported.
        #[source]
        source: rtnetlink::Error,
    },
    /// Subscribing to link notifications (RTNLGRP_LINK) failed.
    #[error("subscribing to link notifications failed: {0}")]
    WatchLinks(#[source] io::Error),
    /// Subscribing to address notifications (RTNLGRP_IPV4_IFADDR/IPV6_IFADDR) failed.
    #[error("subscribing to address notifications failed: {0}")]
    WatchAddresses(#[source] io::Error),
    /// Listing every address of the host failed.
    #[error("listing the host's addresses failed: {0}")]
    ListAllAddresses(#[source] rtnetlink::Error),
    /// The AF_PACKET socket for announcements could not be opened (needs CAP_NET_RAW).
    #[error("opening the AF_PACKET announcement socket failed: {0}")]
    OpenPacketSocket(#[source] io::Error),
    /// Sending a gratuitous ARP or unsolicited Neighbor Advertisement failed.
    #[error("sending {kind} for {address} on interface {interface_index} failed: {source}")]
    SendAnnouncement {
        /// "gratuitous ARP" or "unsolicited neighbor advertisement".
        kind: &'static str,
        /// The virtual address being announced.
        address: IpAddr,
        /// Interface index.
        interface_index: u32,
        /// What the socket reported.
        #[source]
        source: io::Error,
    },
    /// Making, setting up or deleting a virtual MAC interface failed.
    #[error("cannot {step} the virtual MAC interface {name:?}: {source}")]
    Macvlan {
        /// The macvlan's name.
        name: String,
        /// "create", "set up" or "delete".
        step: &'static str,
        /// What netlink reported.
        #[source]
        source: rtnetlink::Error,
    },
    /// Reading or writing a kernel setting under /proc/sys failed.
    #[error("cannot {step} {path}: {source}")]
    Sysctl {
        /// The file.
        path: String,
        /// "read" or "write".
        step: &'static str,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
}
