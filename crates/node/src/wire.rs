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

/// About how many bytes `msg` takes as a frame: its JSON, counted without being kept, and room
/// for the envelope. What bounds a connection's queue by bytes.
pub fn encoded_len(msg: &ringside_core::Msg) -> usize {
    /// `{"v":1,"id":N,"re":N,"from":"host:port","msg":}` with large numbers and a long address.
    const ENVELOPE: usize = 96;
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(ENVELOPE);
    // Writing to a counter cannot fail, and every message serializes.
    let _ = serde_json::to_writer(&mut count, msg);
    count.0
}

#[cfg(test)]
mod tests {
    use ringside_core::{Msg, OpId};

    use super::*;

    #[test]
    fn a_frames_length_is_counted_within_its_envelope() {
        let msg = Msg::Set { op: OpId(1), key: "k".into(), value: "\u{0}".repeat(100) };
        let frame =
            Frame { v: 1, id: u64::MAX, re: Some(u64::MAX), from: Some("127.0.0.1:38000".into()), msg: msg.clone() };
        let exact = frame.encode().len();
        assert!(exact <= encoded_len(&msg) && encoded_len(&msg) <= exact + 96, "{exact} vs {}", encoded_len(&msg));
    }
}
