//! The wire format: one JSON text frame per message, an envelope around the core's `Msg`
//! (the envelope itself is the core's, shared with the browser's client).
//!
//! ```json
//! {"v":1,"id":7,"from":"127.0.0.1:38001","msg":{"cmd":"get","op":3,"key":"a"}}
//! ```
//!
//! `v` is the protocol version, `id` the sender's number for this frame, `re` (on replies) the
//! `id` of the frame answered, and `from` the address a listening node can be reached at
//! (clients, which do not listen, leave it out and are answered on their own connection).
//! `docs/protocol.md` shows every message.

pub use ringside_core::wire::{BadFrame, Frame, PROTOCOL_VERSION};

/// The largest frame a node accepts by default (1 MiB).
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// The largest frame a client accepts: a `query_all_keys` answer lists a whole bucket, and a
/// client only ever reads answers from nodes it chose to ask.
pub const CLIENT_MAX_FRAME: usize = 256 << 20;
