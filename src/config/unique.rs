//! What must be unique across instances: names, a virtual router per
//! (link, vrid, family), an address per interface. Checked after every
//! instance was read, so each clash names the line of the first use.

use std::collections::HashMap;
use std::net::IpAddr;

use super::model::AddressFamily;
use super::reader::Checker;
use super::yaml::Pos;

/// What must be unique across instances, with positions for the messages.
#[derive(Default)]
pub(super) struct Ident {
    pub(super) name: Option<(String, Pos)>,
    pub(super) interface: Option<String>,
    pub(super) vrid: Option<(u8, Pos)>,
    pub(super) family: Option<AddressFamily>,
    /// Each VIP's address on the interface it lives on, with its position.
    pub(super) vips: Vec<(String, IpAddr, Pos)>,
    /// The `heartbeat` links, each with where it is written.
    pub(super) heartbeat: Vec<(String, Pos)>,
}

pub(super) fn check_unique<'a>(ck: &mut Checker, idents: impl Iterator<Item = &'a Ident>) {
    let mut names: HashMap<&str, Pos> = HashMap::new();
    let mut routers: HashMap<(&str, u8, AddressFamily), (&str, Pos)> = HashMap::new();
    let mut addresses: HashMap<(&str, IpAddr), (&str, Pos)> = HashMap::new();
    for id in idents {
        let name = id.name.as_ref().map_or("", |(n, _)| n.as_str());
        if let Some((n, pos)) = &id.name {
            match names.get(n.as_str()) {
                Some(first) => ck.error(
                    *pos,
                    format!(
                        "instance name `{n}` is already used on line {}; names must be unique",
                        first.line
                    ),
                ),
                None => {
                    names.insert(n, *pos);
                }
            }
        }
        let (Some((vrid, vrid_pos)), Some(family)) = (id.vrid, id.family) else {
            continue;
        };
        // A heartbeat link is a link this virtual router speaks on, exactly as
        // its main interface: adverts there are told apart by vrid alone.
        let main = id
            .interface
            .iter()
            .map(|ifname| (ifname.as_str(), vrid_pos));
        let links = id
            .heartbeat
            .iter()
            .map(|(ifname, pos)| (ifname.as_str(), *pos));
        for (ifname, pos) in main.chain(links) {
            let key = (ifname, vrid, family);
            match routers.get(&key) {
                Some((other, first)) => ck.error(
                    pos,
                    format!(
                        "vrid {vrid} is already used for {family} on {ifname} by instance `{other}` \
                         (line {}); each virtual router on a link (its interface or a heartbeat \
                         link) needs its own vrid",
                        first.line
                    ),
                ),
                None => {
                    routers.insert(key, (name, pos));
                }
            }
        }
        // Two instances adding one address to one interface would take it
        // from each other; the same address on two interfaces is allowed
        // (a VIP written with its interface names which one it means).
        for (ifname, address, pos) in &id.vips {
            match addresses.get(&(ifname.as_str(), *address)) {
                Some((other, first)) if *other != name => ck.error(
                    *pos,
                    format!(
                        "{address} on {ifname} is already a virtual IP of instance `{other}` \
                         (line {}); an address on an interface belongs to one instance",
                        first.line
                    ),
                ),
                Some(_) => {}
                None => {
                    addresses.insert((ifname.as_str(), *address), (name, *pos));
                }
            }
        }
    }
}
