//! What twinstar tells other tools: hooks on transitions and the JSON-lines
//! event stream. The agent decides what to tell (typed [`record`]s, hook runs
//! in order); this module delivers it.

pub mod events;
pub mod hooks;
pub mod record;
