//! The wire format: one JSON text frame per message, an envelope around [`Msg`].
//!
//! ```
//! use ringside_core::wire::Frame;
//! let frame = Frame::decode(r#"{"v":1,"id":7,"from":"127.0.0.1:38001","msg":{"cmd":"get","op":3,"key":"a"}}"#).unwrap();
//! assert_eq!(frame.id, 7);
//! ```
//!
//! `v` is the protocol version, `id` the sender's number for this frame, `re` (on replies) the
//! `id` of the frame answered, and `from` the address a listening node can be reached at
//! (clients, which do not listen, leave it out and are answered on their own connection).
//! It lives in the core so that every shell — the native nodes and the browser's client —
//! speaks exactly the same frames. `docs/protocol.md` shows every message.

use alloc::format;
use alloc::string::String;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::id::Addr;
use crate::msg::Msg;
use crate::one_line::OneLine;
use crate::tagged::TagFirst;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// One frame on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Protocol version.
    pub v: u32,
    /// The sender's number for this frame.
    pub id: u64,
    /// The frame this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub re: Option<u64>,
    /// Where the sender listens, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Addr>,
    /// The message.
    pub msg: Msg,
}

/// [`Frame`] decoded through [`TagFirst`].
#[derive(Deserialize)]
struct TagFirstFrame {
    v: u32,
    id: u64,
    #[serde(default)]
    re: Option<u64>,
    #[serde(default)]
    from: Option<Addr>,
    msg: TagFirst<Msg>,
}

impl Frame {
    /// The frame's JSON text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a frame always serializes")
    }

    /// Parses a text frame, or says in one line what is wrong with it and which frame it was
    /// (so the error reply can name it).
    pub fn decode(text: &str) -> Result<Frame, BadFrame> {
        if text.trim().is_empty() {
            return Err(BadFrame {
                re: None,
                reason: String::from("empty frame: send one JSON object per text frame"),
            });
        }
        // Frames whose message starts with its `cmd` (all that nodes send) decode in one pass;
        // the rest, and every bad frame, go through serde's decoder, whose errors are the ones
        // reported.
        let parsed = match serde_json::from_str::<TagFirstFrame>(text) {
            Ok(TagFirstFrame { v, id, re, from, msg: TagFirst(msg) }) => Ok(Frame { v, id, re, from, msg }),
            Err(_) => serde_json::from_str::<Frame>(text),
        };
        match parsed {
            Ok(frame) if frame.v != PROTOCOL_VERSION => Err(BadFrame {
                re: Some(frame.id),
                reason: format!("unsupported protocol version {} (this node speaks {PROTOCOL_VERSION})", frame.v),
            }),
            Ok(frame) => Ok(frame),
            Err(e) => Err(BadFrame::explain(text, &e)),
        }
    }
}

/// A frame that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadFrame {
    /// The offending frame's `id`, when it had a readable one.
    pub re: Option<u64>,
    /// What was wrong, in words.
    pub reason: String,
}

impl BadFrame {
    fn explain(text: &str, error: &serde_json::Error) -> BadFrame {
        /// Only for naming the frame in the error: a readable `id` of any otherwise broken frame.
        #[derive(Deserialize)]
        struct Head {
            id: Option<u64>,
        }
        let head = serde_json::from_str::<Head>(text).ok();
        let kind = match error.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "malformed JSON",
            serde_json::error::Category::Data => "wrong message shape",
            serde_json::error::Category::Io => "unreadable frame",
        };
        // serde's words quote what the peer sent (an unknown command's name): kept to one line.
        BadFrame { re: head.and_then(|h| h.id), reason: format!("{kind}: {}", OneLine(error)) }
    }
}

impl fmt::Display for BadFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::OpId;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn epochs_and_versions_past_the_largest_are_refused_as_read() {
        let big = u64::MAX;
        for (text, what) in [
            (
                format!(
                    r#"{{"v":1,"id":1,"msg":{{"cmd":"heartbeat","id":"z","addr":"127.0.0.1:9","epoch":{big},"stable":0,"rebalanced":0}}}}"#
                ),
                "epoch",
            ),
            (
                format!(
                    r#"{{"v":1,"id":2,"msg":{{"cmd":"commit","tx":{{"client":1,"seq":1}},"version":{big},"secret":"{SECRET}"}}}}"#
                ),
                "version",
            ),
        ] {
            let bad = Frame::decode(&text).expect_err(&text);
            assert!(bad.reason.contains(&format!("{what} {big} is out of range")), "{bad}");
        }
        let most = crate::id::MAX_NUMBER;
        let text = format!(
            r#"{{"v":1,"id":3,"msg":{{"cmd":"commit","tx":{{"client":1,"seq":1}},"version":{most},"secret":"{SECRET}"}}}}"#
        );
        assert!(Frame::decode(&text).is_ok(), "the largest version itself is read");
        assert_eq!(crate::id::next_version(most), None, "and nothing goes above it");
    }

    #[test]
    fn round_trips_and_leaves_out_empty_fields() {
        let frame = Frame { v: 1, id: 7, re: None, from: None, msg: Msg::Get { op: OpId(3), key: "a".into() } };
        let text = frame.encode();
        assert_eq!(text, r#"{"v":1,"id":7,"msg":{"cmd":"get","op":3,"key":"a"}}"#);
        assert_eq!(Frame::decode(&text), Ok(frame));
    }

    #[test]
    fn says_what_is_wrong() {
        let reason = |text: &str| Frame::decode(text).unwrap_err();
        assert!(reason("").reason.starts_with("empty frame"));
        assert!(reason("{not json").reason.starts_with("malformed JSON"));
        let unknown = reason(r#"{"v":1,"id":4,"msg":{"cmd":"frobnicate"}}"#);
        assert_eq!(unknown.re, Some(4));
        assert!(unknown.reason.contains("unknown variant `frobnicate`"), "{}", unknown.reason);
        let types = reason(r#"{"v":1,"id":5,"msg":{"cmd":"get","op":"three","key":"a"}}"#);
        assert!(types.reason.starts_with("wrong message shape: invalid type"), "{}", types.reason);
        assert_eq!(types.re, Some(5));
        let version = reason(r#"{"v":2,"id":6,"msg":{"cmd":"query_servers","op":1}}"#);
        assert_eq!(version.reason, "unsupported protocol version 2 (this node speaks 1)");
        assert!(reason(r#"[1,2]"#).reason.starts_with("wrong message shape"));
        let untagged = reason(r#"{"v":1,"id":7,"msg":{"op":1,"key":"a"}}"#);
        assert!(untagged.reason.contains("missing field `cmd`"), "{}", untagged.reason);
    }

    #[test]
    fn takes_fields_in_any_order() {
        let get = r#"{"v":1,"id":2,"msg":{"cmd":"get","op":1,"key":"a"}}"#;
        let shuffled = r#"{"msg":{"key":"a","op":1,"cmd":"get"},"id":2,"v":1}"#;
        assert_eq!(Frame::decode(shuffled), Frame::decode(get));
        assert!(Frame::decode(get).is_ok());
    }
}
