//! The adverts of one instance: its VIPs in configured order, the checksum
//! form and the VRRP versions it was configured with, and the last message
//! built, which most adverts repeat byte for byte.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, Ipv4Checksum, VrrpVersion};
use crate::wire::vrrp::{Addresses, Advertisement, ChecksumForm, Version};

/// Builds this instance's adverts, keeping the last one per destination and
/// version: most adverts repeat it.
#[derive(Debug)]
pub struct AdvertTemplate {
    addresses: Addresses,
    checksum: ChecksumForm,
    /// The configured `version`: one byte, where the list of versions it
    /// sends took sixteen in each instance.
    version: VrrpVersion,
    last: Vec<LastAdvert>,
}

/// The advert last built for one destination in one version.
#[derive(Debug)]
struct LastAdvert {
    destination: IpAddr,
    version: Version,
    priority: u8,
    interval: Duration,
    bytes: Arc<[u8]>,
}

impl AdvertTemplate {
    /// The template for `config`'s VIPs and checksum form.
    pub fn new(config: &config::Instance) -> Self {
        AdvertTemplate {
            addresses: advert_addresses(config),
            checksum: match config.ipv4_checksum {
                Ipv4Checksum::PseudoHeader => ChecksumForm::PseudoHeader,
                Ipv4Checksum::Rfc9568 => ChecksumForm::MessageOnly,
            },
            version: config.version,
            last: Vec::new(),
        }
    }

    /// The versions each advert goes out in, in sending order.
    pub fn versions(&self) -> &'static [Version] {
        match self.version {
            VrrpVersion::V3 => &[Version::V3],
            VrrpVersion::V2 => &[Version::V2],
            // VRRPv3 first: a `both` receiver then ignores the VRRPv2 twin.
            VrrpVersion::Both => &[Version::V3, Version::V2],
        }
    }

    /// The VRRPv3 advert with this priority and interval, sent from `source`
    /// to `destination` (the group, or a unicast peer: the checksum covers both).
    pub fn packet(
        &mut self,
        vrid: u8,
        priority: u8,
        interval: Duration,
        source: IpAddr,
        destination: IpAddr,
    ) -> Result<Arc<[u8]>, String> {
        self.packet_in(Version::V3, vrid, priority, interval, source, destination)
    }

    /// [`packet`](Self::packet) in the given VRRP version.
    pub fn packet_in(
        &mut self,
        version: Version,
        vrid: u8,
        priority: u8,
        interval: Duration,
        source: IpAddr,
        destination: IpAddr,
    ) -> Result<Arc<[u8]>, String> {
        let slot = self
            .last
            .iter()
            .position(|l| l.destination == destination && l.version == version);
        if let Some(last) = slot.map(|i| &self.last[i]) {
            if last.priority == priority && last.interval == interval {
                return Ok(last.bytes.clone());
            }
        }
        let addresses = self.addresses.clone();
        let advert = match version {
            Version::V3 => Advertisement::new(vrid, priority, interval, addresses),
            Version::V2 => Advertisement::new_v2(vrid, priority, interval, addresses),
        }
        .map_err(|e| e.to_string())?;
        let bytes: Arc<[u8]> = advert
            .to_bytes(source, destination, self.checksum)
            .map_err(|e| e.to_string())?
            .into();
        let last = LastAdvert {
            destination,
            version,
            priority,
            interval,
            bytes: bytes.clone(),
        };
        match slot {
            Some(i) => self.last[i] = last,
            None => {
                // One slot per destination and version, usually one in all:
                // a growing push would reserve four (224 bytes an instance).
                self.last.reserve_exact(1);
                self.last.push(last);
            }
        }
        Ok(bytes)
    }
}

/// The addresses an advert lists: the VIPs, in configured order.
pub(super) fn advert_addresses(config: &config::Instance) -> Addresses {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for vip in &config.virtual_ips {
        match vip.addr {
            IpAddr::V4(a) => v4.push(a),
            IpAddr::V6(a) => v6.push(a),
        }
    }
    if v6.is_empty() {
        Addresses::V4(v4)
    } else {
        Addresses::V6(v6)
    }
}
