//! The virtual MAC interface of an instance (RFC 9568 §7.3, keepalived's
//! `use_vmac`): a macvlan on the advert interface whose MAC is the virtual
//! router MAC, made, adopted and deleted through rtnetlink.
//!
//! Bridge mode, where keepalived uses private mode: a multicast frame whose
//! source MAC is the MAC of one of the interface's macvlans counts, for the
//! kernel, as that macvlan's own frame coming back; in private mode it is
//! handed to that macvlan only. Every router of a virtual router has a
//! macvlan with the same virtual MAC, and the Master sends its adverts from
//! it, so in private mode a Backup's interface would never see the Master's
//! adverts (keepalived reads them on the macvlan instead). In bridge mode the
//! frame also goes up the interface below, where the agent's one socket per
//! interface receives every advert, whoever sends it and from which MAC.

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use rtnetlink::{LinkMacVlan, LinkUnspec};

use super::netlink::{errno, Netlink};
use super::PlatformError;

/// What the kernel has under a macvlan's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacvlanLink {
    /// Interface index.
    pub index: u32,
    /// The interface it sits on (IFLA_LINK), when it has one.
    pub parent: Option<u32>,
    /// Its MAC.
    pub mac: Option<[u8; 6]>,
    /// Whether it is a macvlan at all.
    pub is_macvlan: bool,
    /// Administratively up.
    pub up: bool,
}

impl MacvlanLink {
    /// Whether this is the macvlan wanted: on `parent`, with `mac`.
    pub fn matches(&self, parent: u32, mac: [u8; 6]) -> bool {
        self.is_macvlan && self.parent == Some(parent) && self.mac == Some(mac)
    }
}

impl Netlink {
    /// The link called `name`, with what decides whether it is our macvlan;
    /// `None` when there is none.
    pub async fn macvlan_by_name(&self, name: &str) -> Result<Option<MacvlanLink>, PlatformError> {
        let mut links = self.handle().link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(Some(message)) => Ok(Some(describe(&message))),
            Ok(None) => Ok(None),
            Err(error) if errno(&error) == Some(libc::ENODEV) => Ok(None),
            Err(source) => Err(PlatformError::LinkQuery {
                name: name.to_owned(),
                source,
            }),
        }
    }

    /// Makes the macvlan `name` on interface `parent` with `mac`, down (its
    /// sysctls are set before it is brought up), and returns its index.
    pub async fn add_macvlan(
        &self,
        name: &str,
        parent: u32,
        mac: [u8; 6],
    ) -> Result<u32, PlatformError> {
        let failed = |source| PlatformError::Macvlan {
            name: name.to_owned(),
            step: "create",
            source,
        };
        let message = LinkMacVlan::new(name, parent, MacVlanMode::Bridge)
            .address(mac.to_vec())
            .build();
        self.handle()
            .link()
            .add(message)
            .execute()
            .await
            .map_err(failed)?;
        match self.macvlan_by_name(name).await? {
            Some(link) => Ok(link.index),
            None => Err(PlatformError::NoSuchInterface(name.to_owned())),
        }
    }

    /// Sets interface `index` (named `name`, for errors) up.
    pub async fn set_link_up(&self, index: u32, name: &str) -> Result<(), PlatformError> {
        self.handle()
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|source| PlatformError::Macvlan {
                name: name.to_owned(),
                step: "set up",
                source,
            })
    }

    /// Deletes interface `index` (named `name`, for errors); one already
    /// gone is no error.
    pub async fn delete_link(&self, index: u32, name: &str) -> Result<(), PlatformError> {
        match self.handle().link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(error) if errno(&error) == Some(libc::ENODEV) => Ok(()),
            Err(source) => Err(PlatformError::Macvlan {
                name: name.to_owned(),
                step: "delete",
                source,
            }),
        }
    }
}

fn describe(message: &LinkMessage) -> MacvlanLink {
    let mut link = MacvlanLink {
        index: message.header.index,
        parent: None,
        mac: None,
        is_macvlan: false,
        up: message.header.flags.contains(LinkFlags::Up),
    };
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::Link(parent) => link.parent = Some(*parent),
            LinkAttribute::Address(bytes) => link.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok(),
            LinkAttribute::LinkInfo(infos) => {
                link.is_macvlan = infos
                    .iter()
                    .any(|info| matches!(info, LinkInfo::Kind(InfoKind::MacVlan)));
            }
            _ => {}
        }
    }
    link
}
