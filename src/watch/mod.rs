//! `twinstar watch`: VRRP on the wire, live, with no configuration and no
//! agent. It only listens (an AF_PACKET socket, so it sees each advert's
//! source MAC and TTL) and shows per interface and VRID the routers heard,
//! their settings, who is Master, and the anomalies that break VRRP.
//!
//! - [`frame`]: an Ethernet frame → the advert it carries (v2 and v3);
//! - [`segment`]: the routers per VRID, the Master and the changes (sans-IO);
//! - [`anomaly`]: what is flagged;
//! - [`render`]: the table and the JSON lines;
//! - [`live`]: the loop around the capture socket, the only I/O.

pub mod anomaly;
pub mod frame;
mod live;
pub mod render;
pub mod segment;

pub use live::{run, WatchError, WatchOptions};
