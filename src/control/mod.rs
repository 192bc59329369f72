//! Operating a running agent: the control socket's protocol, its client (used
//! by the CLI verbs), the typed status document, the human status table, and
//! Prometheus metrics.
//!
//! The daemon side of the socket lives in `daemon/control.rs`, next to the
//! state it answers about.

pub mod client;
pub mod metrics;
pub mod protocol;
pub mod status;
pub mod table;
pub mod verbs;

pub use protocol::{Request, Response, CONTROL_SOCKET};
pub use status::Status;
