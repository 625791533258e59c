//! What a node records for an observer: the records of its watch stream and of its events
//! file (one JSON object a line), parsed into typed records. Plain Rust, tested natively.

use ringside_core::view_leader::ReplicaState;
use ringside_core::wire::Frame;
use ringside_core::{Addr, Event, Msg, ServerId};
use serde_json::Value;

use crate::replicas;

/// One record of a node's observer stream or events file.
#[derive(Clone, Debug)]
pub struct Record {
    /// Microseconds since the Unix epoch.
    pub t: u64,
    /// The recording node's address.
    pub node: Addr,
    /// What it recorded.
    pub kind: RecordKind,
}

/// What a node recorded.
#[derive(Clone, Debug)]
pub enum RecordKind {
    /// The first record: who the node is.
    Hello {
        /// `viewleader` or `server`.
        role: String,
        /// A server's id.
        id: Option<ServerId>,
    },
    /// A frame it wrote to `peer`.
    Send {
        /// The peer's address, or `client#N`.
        peer: Addr,
        /// The frame.
        frame: Frame,
    },
    /// A frame it read from `peer`.
    Recv {
        /// The sender's address, or `client#N`.
        peer: Addr,
        /// The frame.
        frame: Frame,
    },
    /// An event of its role.
    Event {
        /// The event.
        event: Event,
    },
    /// The node stopped streaming to this observer.
    Dropped {
        /// Why.
        reason: String,
    },
    /// A view-leader replica's Raft state changed (or, right after `hello`, what it is).
    Replica {
        /// The state.
        state: ReplicaState,
    },
    /// A frame between view-leader replicas (`raft`): the page's build does not decode them, so
    /// they are known only to have passed.
    Raft,
}

impl Record {
    /// Parses one record (a stream's text frame, a file's line).
    pub fn parse(text: &str) -> Result<Record, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not a Ringside node record: {e}"))?;
        Record::from_value(value).map_err(|e| format!("not a Ringside node record: {e}"))
    }

    /// Reads a record out of its JSON, field by field: every JSON the page reads goes through
    /// `serde_json::Value`, so the wasm holds one decoder per message type, not one per source.
    pub(crate) fn from_value(mut v: Value) -> Result<Record, String> {
        let field = |v: &mut Value, name: &str| -> Result<Value, String> {
            match v.get_mut(name).map(Value::take) {
                Some(Value::Null) | None => Err(format!("missing field `{name}`")),
                Some(x) => Ok(x),
            }
        };
        let text = |v: &mut Value, name: &str| -> Result<String, String> {
            field(v, name)?.as_str().map(str::to_string).ok_or_else(|| format!("`{name}` is not a string"))
        };
        let t = field(&mut v, "t")?.as_u64().ok_or("`t` is not a whole number")?;
        let node = Addr(text(&mut v, "node")?);
        let kind = match text(&mut v, "kind")?.as_str() {
            "hello" => RecordKind::Hello { role: text(&mut v, "role")?, id: text(&mut v, "id").ok().map(ServerId) },
            "send" | "recv" if v["frame"]["msg"]["cmd"] == "raft" => RecordKind::Raft,
            kind @ ("send" | "recv") => {
                let peer = Addr(text(&mut v, "peer")?);
                let frame = frame_of(field(&mut v, "frame")?)?;
                if kind == "send" {
                    RecordKind::Send { peer, frame }
                } else {
                    RecordKind::Recv { peer, frame }
                }
            }
            "event" => {
                RecordKind::Event { event: Event::from_json_value(field(&mut v, "event")?).map_err(|e| e.to_string())? }
            }
            "replica" => RecordKind::Replica {
                state: replicas::state_of(&v["state"]).ok_or("`state` is not a replica's Raft state")?,
            },
            "dropped" => RecordKind::Dropped { reason: text(&mut v, "reason")? },
            other => return Err(format!("unknown kind `{other}`")),
        };
        Ok(Record { t, node, kind })
    }
}

/// A frame out of its JSON. The message goes through `Msg::from_json_value`, which decodes
/// it in one pass: serde's decoder for an internally tagged enum would buffer every field
/// first, and cost the wasm tens of kilobytes.
pub fn frame_of(mut v: Value) -> Result<Frame, String> {
    let msg = v.get_mut("msg").map(Value::take).ok_or("missing field `msg`")?;
    let msg = Msg::from_json_value(msg).map_err(|e| e.to_string())?;
    let number = |v: &Value, name: &str| v.get(name).and_then(Value::as_u64);
    let version = number(&v, "v").ok_or("missing field `v`")?;
    Ok(Frame {
        v: u32::try_from(version).map_err(|_| format!("`v` {version} is out of range"))?,
        id: number(&v, "id").ok_or("missing field `id`")?,
        re: number(&v, "re"),
        from: v.get("from").and_then(Value::as_str).map(|a| Addr(a.to_string())),
        msg,
    })
}

/// Parses an events file (or several concatenated): one record per line, blank lines skipped.
/// Returns the records in time order and says which line was bad, if one was.
pub fn parse_events(text: &str) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        records.push(Record::parse(line).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    if records.is_empty() {
        return Err("not a Ringside events file: no records".into());
    }
    records.sort_by_key(|r| r.t);
    Ok(records)
}

/// Whether a text looks like an events file rather than an exported simulator run.
pub fn is_events_file(text: &str) -> bool {
    text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| Record::parse(l).is_ok())
}
