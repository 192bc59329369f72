//! A Linux interface name as a small value type, so that a [`VirtualIp`] can
//! name the interface it lives on and still be `Copy`: VIP lists are compared,
//! diffed and copied between the agent and its address workers all the time.
//!
//! [`VirtualIp`]: super::VirtualIp

use std::fmt;

/// Longest interface name Linux accepts: IFNAMSIZ (16) less the NUL.
pub const IFNAME_MAX: usize = 15;

/// A valid Linux interface name (`dev_valid_name`): 1 to 15 bytes, not `.`
/// or `..`, without `/`, `:` or whitespace.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceName {
    len: u8,
    bytes: [u8; IFNAME_MAX],
}

impl InterfaceName {
    /// The name, if Linux would accept it; otherwise what is wrong with it.
    pub fn new(name: &str) -> Result<Self, String> {
        let bad_char = |c: char| c == '/' || c == ':' || c.is_whitespace();
        if name.is_empty()
            || name.len() > IFNAME_MAX
            || name == "."
            || name == ".."
            || name.contains(bad_char)
        {
            return Err(format!(
                "interface `{name}` is not a valid Linux interface name; use 1 to 15 characters without `/`, `:` or spaces"
            ));
        }
        let mut bytes = [0; IFNAME_MAX];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Ok(InterfaceName {
            // At most 15, checked above.
            len: name.len() as u8,
            bytes,
        })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Built from a `&str` cut at its own length, so always valid UTF-8;
        // the fallback is never taken.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for InterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl PartialEq<str> for InterfaceName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_valid_names_and_rejects_what_linux_rejects() {
        assert_eq!(InterfaceName::new("eth0").unwrap().as_str(), "eth0");
        assert_eq!(
            InterfaceName::new("bond0.100-long1").unwrap().as_str(),
            "bond0.100-long1"
        );
        for bad in ["", ".", "..", "a/b", "eth0:1", "eth 0", "sixteen-chars-xx"] {
            assert!(InterfaceName::new(bad).is_err(), "{bad:?}");
        }
    }
}
