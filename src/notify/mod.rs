//! What twinstar tells other tools as things happen: the typed records of the
//! event stream ([`record`]), the stream that writes them ([`events`]), and
//! the hooks run on transitions ([`hooks`]). The agent decides what to tell
//! and when; this module delivers it.

pub mod events;
pub mod hooks;
pub mod record;
