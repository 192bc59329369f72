//! Interfaces, addresses and link state through rtnetlink.
//!
//! The daemon never shells out to `ip`: it reads links and addresses, adds and removes
//! virtual IPs over netlink sockets opened in the network namespace of the calling
//! thread. Carrier changes are followed by [`super::link_watch`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, CacheInfo,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::sys::AsyncSocket;
use rtnetlink::AddressMessageBuilder;
use tokio::task::JoinHandle;
use tracing::debug;

pub use super::link_watch::{watch_links, LinkEvent, LinkWatch};
use super::PlatformError;

/// A connection to the kernel's routing netlink for reading links and managing
/// addresses. Its connection task runs on the tokio runtime it was opened on and is
/// stopped when this value is dropped.
pub struct Netlink {
    handle: rtnetlink::Handle,
    task: JoinHandle<()>,
    /// Held while an address dump is read: the kernel runs one dump per
    /// netlink socket at a time and refuses another meanwhile (EBUSY), so
    /// the address workers of many instances take turns (in order: the
    /// lock is fair) instead of failing.
    dumping: tokio::sync::Mutex<()>,
}

/// What the daemon needs to know about an interface: its index for sockets and
/// netlink, its MAC for announcements, and whether it can carry traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Hardware (MAC) address, the source of gratuitous ARP and NA frames.
    pub mac: [u8; 6],
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier present (IFF_LOWER_UP).
    pub carrier: bool,
}

/// One address assigned to an interface, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The local address.
    pub address: IpAddr,
    /// Prefix length of the subnet it belongs to.
    pub prefix_len: u8,
    /// IPv4 secondary address (IFA_F_SECONDARY): another address in the subnet of a
    /// primary one. Never true for IPv6.
    pub secondary: bool,
}

/// An address together with the flags the selection of source addresses needs.
pub(super) struct RawAddress {
    pub(super) address: InterfaceAddress,
    flags: AddressFlags,
}

/// The errno carried by a netlink error reply, if that is what `error` is.
pub(super) fn errno(error: &rtnetlink::Error) -> Option<i32> {
    match error {
        rtnetlink::Error::NetlinkError(message) => Some(message.raw_code().abs()),
        _ => None,
    }
}

/// Spawns a netlink connection future on the current runtime, without panicking
/// when there is none.
pub(super) fn spawn_connection<F>(connection: F) -> Result<JoinHandle<()>, PlatformError>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| PlatformError::NoRuntime)?;
    Ok(runtime.spawn(connection))
}

impl Netlink {
    /// Opens a netlink connection; spawns its connection task on the current tokio runtime.
    ///
    /// The socket belongs to the network namespace of the calling thread.
    pub fn connect() -> Result<Netlink, PlatformError> {
        let (mut connection, handle, _unsolicited) =
            rtnetlink::new_connection().map_err(PlatformError::Connect)?;
        // Strict checking (Linux 4.20 and later) makes the kernel filter an
        // address dump by the interface asked for. Without it every dump is
        // of the whole host: a Master of a thousand VIPs read a thousand
        // addresses for each instance's check of its own, and netlink-proto
        // kept room for a thousand responses (88 kB) for good. An older
        // kernel refuses the option and the dump is filtered here instead.
        let strict = connection
            .socket_mut()
            .socket_mut()
            .set_netlink_get_strict_chk(true);
        if let Err(e) = strict {
            debug!("netlink strict checking is not available: {e}");
        }
        let task = spawn_connection(connection)?;
        Ok(Netlink {
            handle,
            task,
            dumping: tokio::sync::Mutex::new(()),
        })
    }

    /// The rtnetlink handle, for the requests kept in sibling modules.
    pub(super) fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }

    /// Looks an interface up by name: index, MAC, and whether it is up and has carrier.
    pub async fn link_by_name(&self, name: &str) -> Result<LinkInfo, PlatformError> {
        let query_error = |source| PlatformError::LinkQuery {
            name: name.to_owned(),
            source,
        };
        let mut links = self.handle.link().get().match_name(name).execute();
        let message = match links.try_next().await {
            Ok(Some(message)) => message,
            Ok(None) => return Err(PlatformError::NoSuchInterface(name.to_owned())),
            Err(error) if errno(&error) == Some(libc::ENODEV) => {
                return Err(PlatformError::NoSuchInterface(name.to_owned()))
            }
            Err(error) => return Err(query_error(error)),
        };
        let (index, carrier) = (message.header.index, link_carrier(&message));
        let up = message.header.flags.contains(LinkFlags::Up);
        let mut mac = None;
        let mut mac_len = 0;
        for attribute in &message.attributes {
            if let LinkAttribute::Address(bytes) = attribute {
                mac_len = bytes.len();
                mac = <[u8; 6]>::try_from(bytes.as_slice()).ok();
            }
        }
        let mac = mac.ok_or_else(|| PlatformError::NotEthernet {
            name: name.to_owned(),
            length: mac_len,
        })?;
        Ok(LinkInfo {
            index,
            name: link_name(&message).unwrap_or_else(|| name.to_owned()),
            mac,
            up,
            carrier,
        })
    }

    /// Lists every address on the interface, IPv4 and IPv6, in the kernel's order.
    pub async fn addresses(&self, index: u32) -> Result<Vec<InterfaceAddress>, PlatformError> {
        Ok(self
            .raw_addresses(index)
            .await?
            .into_iter()
            .map(|raw| raw.address)
            .collect())
    }

    /// Lists every address of the host: (interface index, address).
    pub async fn all_addresses(&self) -> Result<Vec<(u32, InterfaceAddress)>, PlatformError> {
        let _dumping = self.dumping.lock().await;
        let mut stream = self.handle.address().get().execute();
        let mut found = Vec::new();
        while let Some(message) = stream
            .try_next()
            .await
            .map_err(PlatformError::ListAllAddresses)?
        {
            if let Some(raw) = parse_address(&message) {
                found.push((message.header.index, raw.address));
            }
        }
        Ok(found)
    }

    async fn raw_addresses(&self, index: u32) -> Result<Vec<RawAddress>, PlatformError> {
        let list_error = |source| PlatformError::ListAddresses {
            interface_index: index,
            source,
        };
        let _dumping = self.dumping.lock().await;
        let mut request = self.handle.address().get().set_link_index_filter(index);
        // The kernel dumps only this interface's addresses when the socket
        // checks strictly (see `connect`); otherwise the filter above
        // drops the others.
        request.message_mut().header.index = index;
        let mut stream = request.execute();
        let mut found = Vec::new();
        while let Some(message) = stream.try_next().await.map_err(list_error)? {
            if let Some(raw) = parse_address(&message) {
                found.push(raw);
            }
        }
        Ok(found)
    }

    /// Primary IPv4 (first non-secondary IPv4 address), the source of IPv4 adverts
    /// (RFC 9568 §5.1.1.1).
    pub async fn primary_ipv4(&self, index: u32) -> Result<Option<Ipv4Addr>, PlatformError> {
        let addresses = self.addresses(index).await?;
        Ok(addresses.iter().find_map(|a| match a.address {
            IpAddr::V4(v4) if !a.secondary => Some(v4),
            _ => None,
        }))
    }

    /// The IPv6 link-local (fe80::/10) address, the source of IPv6 adverts and NAs
    /// (RFC 9568 §5.1.2.1). An address that finished DAD is preferred over a tentative
    /// one; one that failed DAD is never returned.
    pub async fn link_local_ipv6(&self, index: u32) -> Result<Option<Ipv6Addr>, PlatformError> {
        let addresses = self.raw_addresses(index).await?;
        let link_locals: Vec<(Ipv6Addr, AddressFlags)> = addresses
            .iter()
            .filter_map(|raw| match raw.address.address {
                IpAddr::V6(v6)
                    if is_link_local(v6) && !raw.flags.contains(AddressFlags::Dadfailed) =>
                {
                    Some((v6, raw.flags))
                }
                _ => None,
            })
            .collect();
        let settled = link_locals
            .iter()
            .find(|(_, flags)| !flags.contains(AddressFlags::Tentative));
        Ok(settled.or(link_locals.first()).map(|(address, _)| *address))
    }

    /// Adds an address, or renews one already there; IPv6 with IFA_F_NODAD (a
    /// VIP must be usable at once). `lifetime` is the kernel's valid and
    /// preferred lifetime, in whole seconds (`None`: forever).
    ///
    /// Skipping DAD is deliberate: the address is virtual and owned by whichever router
    /// is Master, so a tentative period would only delay the takeover.
    ///
    /// The request replaces (NLM_F_REPLACE): without it the kernel answers
    /// EEXIST for an address that is there and leaves its lifetime alone, so
    /// a refresh would not renew it, and a VIP left with a lifetime by an
    /// earlier run would lapse although we now want it for good.
    pub async fn add_address(
        &self,
        index: u32,
        address: IpAddr,
        prefix_len: u8,
        lifetime: Option<Duration>,
    ) -> Result<(), PlatformError> {
        self.add_address_with(index, address, prefix_len, lifetime, true)
            .await
    }

    /// [`add_address`](Self::add_address) without the route to the
    /// address's subnet (IFA_F_NOPREFIXROUTE): for a VIP on a virtual MAC
    /// interface, whose subnet is already reached through the interface
    /// below. A second route there would let the host's own traffic leave
    /// through the macvlan, from the virtual MAC, whichever route the kernel
    /// happens to list first.
    pub async fn add_address_without_prefix_route(
        &self,
        index: u32,
        address: IpAddr,
        prefix_len: u8,
        lifetime: Option<Duration>,
    ) -> Result<(), PlatformError> {
        self.add_address_with(index, address, prefix_len, lifetime, false)
            .await
    }

    async fn add_address_with(
        &self,
        index: u32,
        address: IpAddr,
        prefix_len: u8,
        lifetime: Option<Duration>,
        prefix_route: bool,
    ) -> Result<(), PlatformError> {
        let mut request = self
            .handle
            .address()
            .add(index, address, prefix_len)
            .replace();
        let message = request.message_mut();
        message
            .attributes
            .push(AddressAttribute::CacheInfo(cache_info(lifetime)));
        let mut flags = AddressFlags::empty();
        if address.is_ipv6() {
            message.header.flags |= AddressHeaderFlags::Nodad;
            flags |= AddressFlags::Nodad;
        }
        if !prefix_route {
            flags |= AddressFlags::Noprefixroute;
        }
        if !flags.is_empty() {
            message.attributes.push(AddressAttribute::Flags(flags));
        }
        match request.execute().await {
            Ok(()) => Ok(()),
            Err(error) if errno(&error) == Some(libc::EEXIST) => Ok(()),
            Err(source) => Err(PlatformError::AddAddress {
                address,
                prefix_len,
                interface_index: index,
                source,
            }),
        }
    }

    /// Removes an address; absent = Ok.
    ///
    /// The kernel matches address and prefix length, so a wrong prefix counts as
    /// absent. Removing an IPv4 primary also removes the secondaries of its subnet
    /// unless `net.ipv4.conf.<if>.promote_secondaries` is set.
    pub async fn remove_address(
        &self,
        index: u32,
        address: IpAddr,
        prefix_len: u8,
    ) -> Result<(), PlatformError> {
        let message = match address {
            IpAddr::V4(v4) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(index)
                .address(v4, prefix_len)
                .build(),
            IpAddr::V6(v6) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(index)
                .address(v6, prefix_len)
                .build(),
        };
        match self.handle.address().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(error) if errno(&error) == Some(libc::EADDRNOTAVAIL) => Ok(()),
            Err(source) => Err(PlatformError::RemoveAddress {
                address,
                prefix_len,
                interface_index: index,
                source,
            }),
        }
    }
}

impl Drop for Netlink {
    fn drop(&mut self) {
        // The connection task would otherwise live until the kernel sent it something.
        self.task.abort();
    }
}

/// The kernel's "no lifetime" (INFINITY_LIFE_TIME).
const INFINITE_LIFETIME: u32 = u32::MAX;

/// IFA_CACHEINFO for a lifetime: valid and preferred alike, whole seconds
/// rounded up (the kernel counts seconds), `None` infinite.
fn cache_info(lifetime: Option<Duration>) -> CacheInfo {
    let seconds = lifetime.map_or(INFINITE_LIFETIME, |l| {
        let whole = l.as_secs() + u64::from(l.subsec_nanos() > 0);
        u32::try_from(whole).unwrap_or(INFINITE_LIFETIME - 1)
    });
    let mut info = CacheInfo::default();
    info.ifa_valid = seconds;
    info.ifa_preferred = seconds;
    info
}

fn is_link_local(address: Ipv6Addr) -> bool {
    address.segments()[0] & 0xffc0 == 0xfe80
}

pub(super) fn parse_address(message: &AddressMessage) -> Option<RawAddress> {
    let mut local = None;
    let mut peer = None;
    let mut flags = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(address) => local = Some(*address),
            AddressAttribute::Address(address) => peer = Some(*address),
            AddressAttribute::Flags(all) => flags = Some(*all),
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
    // point-to-point links and the only one present for plain IPv6 addresses.
    let address = local.or(peer)?;
    // IFA_FLAGS carries all 32 bits; the header only the low eight.
    let flags = flags
        .unwrap_or_else(|| AddressFlags::from_bits_retain(u32::from(message.header.flags.bits())));
    Some(RawAddress {
        address: InterfaceAddress {
            address,
            prefix_len: message.header.prefix_len,
            secondary: flags.contains(AddressFlags::Secondary),
        },
        flags,
    })
}

pub(super) fn link_name(message: &LinkMessage) -> Option<String> {
    message
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::IfName(name) => Some(name.clone()),
            _ => None,
        })
}

/// Carrier is IFF_LOWER_UP, the kernel's carrier bit itself. The operational state is
/// not consulted: it is updated later by the kernel's link-watch work (up to a second
/// behind), and it is never up without IFF_LOWER_UP, so it could only report a carrier
/// that is already gone.
pub(super) fn link_carrier(message: &LinkMessage) -> bool {
    message.header.flags.contains(LinkFlags::LowerUp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_prefix_is_fe80_slash_10() {
        assert!(is_link_local("fe80::1".parse().unwrap()));
        assert!(is_link_local("febf::1".parse().unwrap()));
        assert!(!is_link_local("fec0::1".parse().unwrap()));
        assert!(!is_link_local("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn lifetimes_are_whole_seconds_and_none_is_infinite() {
        let info = cache_info(Some(Duration::from_secs(2)));
        assert_eq!((info.ifa_valid, info.ifa_preferred), (2, 2));
        let info = cache_info(Some(Duration::from_millis(2100)));
        assert_eq!((info.ifa_valid, info.ifa_preferred), (3, 3));
        let info = cache_info(None);
        assert_eq!((info.ifa_valid, info.ifa_preferred), (u32::MAX, u32::MAX));
    }

    #[test]
    fn secondary_flag_comes_from_ifa_flags_when_present() {
        let mut message = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(2)
            .address(Ipv4Addr::new(192, 0, 2, 7), 24)
            .build();
        message.attributes.push(AddressAttribute::Flags(
            AddressFlags::Secondary | AddressFlags::Permanent,
        ));
        let raw = parse_address(&message).unwrap();
        assert_eq!(raw.address.address, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
        assert_eq!(raw.address.prefix_len, 24);
        assert!(raw.address.secondary);
    }
}
