//! Configuration: the YAML model, its defaults, and validation that reports every
//! mistake with file:line:col and what would be right.
//!
//! Reading happens in two steps so that errors do not stop at the first: the text
//! becomes a located YAML tree (`yaml.rs`), which a schema walker (`parse.rs`) turns
//! into the typed [`Config`].
//!
//! `parse.rs` reads the top level and the instances and hands each other section
//! to its own file: `parse_health.rs` (`checks:` and `track:`, with one check's
//! body in `parse_health/check.rs`), `parse_notify.rs` (hooks, sync groups,
//! events, script user) and `parse_control.rs` (control socket, metrics). They
//! import none of each other, only the model and the shared readers in
//! `reader.rs`.

mod duration;
mod error;
mod health;
mod heartbeat;
mod ifname;
mod interop;
mod model;
mod parse;
mod parse_control;
mod parse_health;
mod parse_notify;
mod parse_quorum;
mod peers;
mod reader;
pub mod reference;
mod unique;
mod vip;
mod yaml;

use std::path::Path;

pub use duration::{format as format_duration, parse as parse_duration};
pub use error::{ConfigError, ConfigErrors};
pub use model::{
    defaults, AddressFamily, Check, CheckKind, Command, Config, Control, EtcdQuorum, EtcdTls,
    EventSinks, Garp, Hook, Hooks, HttpCheck, Instance, InterfaceName, Ipv4Checksum, Metrics,
    OnQuorumLoss, Quorum, SyncGroup, Track, VipLifetime, VirtualIp, VrrpVersion,
};
pub use parse::parse_str;

/// Reads and validates a configuration file. A file that cannot be read is
/// reported as a [`ConfigError`] with line and column 0.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file_name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, &file_name),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            file: file_name,
            line: 0,
            col: 0,
            message: format!("cannot read the configuration: {e}"),
        }])),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_control;
#[cfg(test)]
mod tests_health;
#[cfg(test)]
mod tests_heartbeat;
#[cfg(test)]
mod tests_interop;
#[cfg(test)]
mod tests_lifetime;
#[cfg(test)]
mod tests_vip;
