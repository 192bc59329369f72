//! Per-interface kernel settings under `/proc/sys/net/{ipv4,ipv6}/conf/IFACE/`,
//! read and written as files (the values are small integers).

use std::path::PathBuf;

use super::PlatformError;

/// One per-interface setting, such as `net.ipv4.conf.eth0.arp_ignore`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InterfaceSetting {
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// The interface name, as it appears under `conf/` (dots included).
    pub interface: String,
    /// The setting's file name, such as `arp_ignore`.
    pub key: &'static str,
}

impl InterfaceSetting {
    /// An IPv4 setting of `interface`.
    pub fn ipv4(interface: &str, key: &'static str) -> Self {
        InterfaceSetting {
            family: "ipv4",
            interface: interface.to_owned(),
            key,
        }
    }

    /// An IPv6 setting of `interface`.
    pub fn ipv6(interface: &str, key: &'static str) -> Self {
        InterfaceSetting {
            family: "ipv6",
            interface: interface.to_owned(),
            key,
        }
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/sys/net/{}/conf/{}/{}",
            self.family, self.interface, self.key
        ))
    }

    /// The value now, trimmed.
    pub fn read(&self) -> Result<String, PlatformError> {
        let path = self.path();
        std::fs::read_to_string(&path)
            .map(|value| value.trim().to_owned())
            .map_err(|source| PlatformError::Sysctl {
                path: path.display().to_string(),
                step: "read",
                source,
            })
    }

    /// Writes `value`.
    pub fn write(&self, value: &str) -> Result<(), PlatformError> {
        let path = self.path();
        std::fs::write(&path, value).map_err(|source| PlatformError::Sysctl {
            path: path.display().to_string(),
            step: "write",
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_dots_in_interface_names() {
        let setting = InterfaceSetting::ipv4("vrrp.51", "arp_ignore");
        assert_eq!(
            setting.path(),
            PathBuf::from("/proc/sys/net/ipv4/conf/vrrp.51/arp_ignore")
        );
        let setting = InterfaceSetting::ipv6("vrrp6.7", "addr_gen_mode");
        assert_eq!(
            setting.path(),
            PathBuf::from("/proc/sys/net/ipv6/conf/vrrp6.7/addr_gen_mode")
        );
    }
}
