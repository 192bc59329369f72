//! A throw-away test lab in network namespaces: agent hosts and a client on one
//! bridge, built with iproute2 and removed again (also on failure) by guards.
//!
//! Used by `twinstar lab` to show a failover, and by the integration tests. Only
//! documentation addresses are used (192.0.2.0/24, 2001:db8::/64), and only inside
//! namespaces the lab created itself.

mod agent;
pub mod bench;
pub mod chaos;
pub mod demo;
pub mod etcd;
mod hogs;
mod interrupt;
pub mod keepalived;
mod netns;
mod ping;
pub mod quorum;
mod topology;

pub use agent::{Agent, AgentStatus};
pub use netns::{enter_namespace, netns_names, LabError, Namespace};
pub use ping::Pinger;
pub use topology::{Host, Lab};
