//! twinstar: a VRRPv3 (RFC 9568) virtual-IP failover agent for Linux.
//!
//! The crate is split the way the agent is built:
//! - [`wire`]: checked views over packet bytes and owned representations;
//! - [`vrrp`]: the sans-IO per-virtual-router state machine (no sockets, no clock);
//! - [`config`]: the YAML model, validated with file:line:col errors;
//! - [`platform`]: raw VRRP sockets, netlink, AF_PACKET announcements;
//! - [`daemon`]: the event loop that wires the core to the platform;
//! - [`control`]: the control socket, the typed status document, metrics;
//! - [`notify`]: the typed records of the event stream;
//! - [`track`]: health checks (tracked objects) and the scripts behind checks and hooks.

pub mod agent;
pub mod config;
pub mod control;
pub mod daemon;
pub mod lab;
pub mod notify;
pub mod platform;
pub mod track;
pub mod vrrp;
pub mod wire;
