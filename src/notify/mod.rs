//! What the agent tells the outside world as it happens: the typed records of
//! the event stream, shared by the daemon that writes them and by anything
//! that reads the stream.

pub mod record;
