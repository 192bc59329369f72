//! twinstar: a VRRPv3 (RFC 9568) virtual-IP failover agent for Linux.
//!
//! The crate is split the way the agent is built:
//! - [`wire`]: checked views over packet bytes and owned representations;
//! - [`vrrp`]: the sans-IO per-virtual-router state machine (no sockets, no clock);
//! - [`agent`]: the sans-IO agent of one host above the routers: health, sync
//!   groups, handover, hooks in order, switchover, maintenance, drops;
//! - [`config`]: the YAML model, validated with file:line:col errors;
//! - [`platform`]: raw VRRP sockets, netlink, AF_PACKET announcements;
//! - [`quorum`]: the quorum lease as data, between the agent and the etcd worker;
//! - [`daemon`]: the I/O shell: the event loop that feeds the agent and
//!   carries out its effects;
//! - [`notify`]: the event stream and hook runs;
//! - [`control`]: the control socket, the typed status document, metrics;
//! - [`import`]: `twinstar import-keepalived`, keepalived.conf to twinstar YAML;
//! - [`track`]: health checks (tracked objects) and the scripts behind checks and hooks;
//! - [`watch`]: `twinstar watch`, VRRP on the wire as a listener sees it.

pub mod agent;
pub mod config;
pub mod control;
pub mod daemon;
pub mod import;
pub mod lab;
pub mod notify;
pub mod platform;
pub mod quorum;
pub mod track;
pub mod vrrp;
pub mod watch;
pub mod wire;
