//! `twinstar remove-vips`: takes this configuration's virtual IPs off this
//! host, and does nothing else (no advert, no hook). systemd runs it after the
//! agent exited for any reason, SIGKILL and OOM kill included, so that a VIP
//! is never left behind on a host whose agent is gone, even before its kernel
//! lifetime runs out, and never while a restarted agent holds it.

use std::fmt;

use crate::config::{Config, VirtualIp};
use crate::platform::netlink::Netlink;
use crate::platform::PlatformError;

/// What happened to one configured VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VipRemoval {
    /// It was on the interface and has been removed.
    Removed,
    /// It was not on the interface.
    Absent,
    /// The interface does not exist on this host.
    NoInterface,
    /// It could not be listed or removed.
    Failed(String),
}

/// One line of the report: instance, interface, VIP and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipRemovalLine {
    /// The instance.
    pub instance: String,
    /// The interface the VIP lives on.
    pub interface: String,
    /// The VIP.
    pub vip: VirtualIp,
    /// What happened.
    pub outcome: VipRemoval,
}

impl fmt::Display for VipRemovalLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (vip, interface, instance) = (&self.vip, &self.interface, &self.instance);
        match &self.outcome {
            VipRemoval::Removed => write!(f, "{instance}: removed {vip} from {interface}"),
            VipRemoval::Absent => write!(f, "{instance}: {vip} was not on {interface}"),
            VipRemoval::NoInterface => {
                write!(f, "{instance}: no interface {interface}; nothing to remove")
            }
            VipRemoval::Failed(e) => {
                write!(f, "{instance}: removing {vip} from {interface} failed: {e}")
            }
        }
    }
}

/// Removes every VIP of `config` (address and prefix length, on the
/// interface it lives on: its own `interface`, else its instance's) from this
/// host, in the calling thread's network namespace; one line per VIP. Must
/// run inside a tokio runtime.
pub async fn remove_vips(config: &Config) -> Result<Vec<VipRemovalLine>, PlatformError> {
    let netlink = Netlink::connect()?;
    let mut lines = Vec::new();
    for instance in &config.instances {
        for vip in &instance.virtual_ips {
            let interface = instance.vip_interface(vip);
            lines.push(VipRemovalLine {
                instance: instance.name.clone(),
                interface: interface.to_owned(),
                vip: *vip,
                outcome: remove_one(&netlink, interface, vip).await,
            });
        }
    }
    Ok(lines)
}

/// Takes `vip` off `interface` if it is there. The interface is looked up
/// per VIP, since the VIPs of one instance may live on several.
async fn remove_one(netlink: &Netlink, interface: &str, vip: &VirtualIp) -> VipRemoval {
    let on = match netlink.link_by_name(interface).await {
        Ok(link) => netlink
            .addresses(link.index)
            .await
            .map(|on| (link.index, on)),
        Err(e) => Err(e),
    };
    let (index, on) = match on {
        Ok(found) => found,
        Err(PlatformError::NoSuchInterface(_)) => return VipRemoval::NoInterface,
        Err(e) => return VipRemoval::Failed(e.to_string()),
    };
    let there = on
        .iter()
        .any(|a| a.address == vip.addr && a.prefix_len == vip.prefix_len);
    if !there {
        return VipRemoval::Absent;
    }
    match netlink
        .remove_address(index, vip.addr, vip.prefix_len)
        .await
    {
        Ok(()) => VipRemoval::Removed,
        Err(e) => VipRemoval::Failed(e.to_string()),
    }
}
