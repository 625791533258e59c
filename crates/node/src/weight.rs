//! About how many bytes a message holds, for bounding a connection's queue without encoding
//! the message in the node's task: encoding is the writer's work, done on the connection's own
//! task, so it runs beside the protocol rather than in its way.
//!
//! The weight is the message's strings and lists plus a fixed cost per message and per element.
//! The frame a message becomes is longer only by JSON's field names, quotes and escapes, so a
//! queue bounded by weight is bounded in memory by what it holds.

use ringside_core::msg::{HeartbeatStatus, LocalReply, LockAnswer, ReadAnswer};
use ringside_core::{Member, Msg, View};

/// What any message costs besides its strings: the envelope and the fixed fields.
const BASE: usize = 128;
/// What each element of a list costs besides its strings.
const ELEMENT: usize = 16;

/// About how many bytes `msg` holds.
pub fn weight(msg: &Msg) -> usize {
    BASE + match msg {
        Msg::Print { text, .. } => text.len(),
        Msg::Set { key, value, .. } => key.len() + value.len(),
        Msg::Get { key, .. } | Msg::GetR { key, .. } => key.len(),
        Msg::Reply { result, .. } => match result {
            LocalReply::Ok => 0,
            LocalReply::Value { value } => value.len(),
            LocalReply::NotFound { key } => key.len(),
            LocalReply::Keys { keys } => strings(keys),
        },
        Msg::Heartbeat { id, addr, .. } => id.0.len() + addr.0.len(),
        Msg::HeartbeatReply { id, status, .. } => {
            id.0.len()
                + match status {
                    HeartbeatStatus::Ok { view, stable, .. } => {
                        view_weight(view.as_ref()) + view_weight(stable.as_ref())
                    }
                    HeartbeatStatus::NotLeader { leader } => leader.as_ref().map_or(0, |a| a.0.len()),
                    HeartbeatStatus::Denied | HeartbeatStatus::Retry => 0,
                }
        }
        Msg::Servers { servers, .. } => members(servers),
        Msg::LockGet { name, requester, .. } | Msg::LockRelease { name, requester, .. } => name.len() + requester.len(),
        Msg::LockReply { result, .. } => match result {
            LockAnswer::Deadlock { cycle } => strings(cycle),
            LockAnswer::Released { next_holder } => next_holder.as_ref().map_or(0, String::len),
            _ => 0,
        },
        Msg::Prepare { server, key, value, participants, .. } => {
            server.0.len() + key.len() + value.len() + members(participants)
        }
        Msg::Vote { server, .. }
        | Msg::Done { server, .. }
        | Msg::Takeover { server, .. }
        | Msg::Promise { server, .. }
        | Msg::Accept { server, .. }
        | Msg::Accepted { server, .. } => server.0.len(),
        Msg::GetRReply { server, result, .. } => {
            server.0.len()
                + match result {
                    ReadAnswer::Value { value, .. } => value.len(),
                    _ => 0,
                }
        }
        Msg::Transfer { items, .. } => items.iter().map(|item| ELEMENT + item.key.len() + item.value.len()).sum(),
        Msg::TransferAck { keys, .. } => strings(keys),
        Msg::Error { reason, .. } => reason.len(),
        Msg::NotLeader { leader, .. } => leader.as_ref().map_or(0, |a| a.0.len()),
        // Rare next to data, and holding nested entries and snapshots: measured exactly.
        Msg::Raft { msg } => serde_json::to_vec(msg).map_or(0, |v| v.len()),
        Msg::QueryAllKeys { .. }
        | Msg::QueryServers { .. }
        | Msg::Commit { .. }
        | Msg::Abort { .. }
        | Msg::DecisionRequest { .. }
        | Msg::DecisionReply { .. } => 0,
    }
}

fn strings(list: &[String]) -> usize {
    list.iter().map(|s| ELEMENT + s.len()).sum()
}

fn members(list: &[Member]) -> usize {
    list.iter().map(|m| ELEMENT + m.id.0.len() + m.addr.0.len()).sum()
}

fn view_weight(view: Option<&View>) -> usize {
    view.map_or(0, |v| members(&v.members))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_core::msg::Item;
    use ringside_core::wire::{Frame, PROTOCOL_VERSION};
    use ringside_core::{Addr, Epoch, OpId, ServerId};

    fn frame_len(msg: &Msg) -> usize {
        let frame = Frame {
            v: PROTOCOL_VERSION,
            id: 1,
            re: Some(1),
            from: Some(Addr::from("127.0.0.1:38000")),
            msg: msg.clone(),
        };
        frame.encode().len()
    }

    /// The bound counts what a message holds: its frame is neither much larger nor much smaller.
    #[test]
    fn weight_follows_the_frame_a_message_becomes() {
        let item = |i: usize| Item { key: format!("key{i}"), value: "v".repeat(100), version: 1 };
        let messages = [
            Msg::Reply { op: OpId(1), result: LocalReply::Value { value: "x".repeat(64 * 1024) } },
            Msg::Transfer { epoch: Epoch(4), items: (0..1000).map(item).collect() },
            Msg::GetRReply {
                op: OpId(1),
                server: ServerId("bb4733cd".into()),
                result: ReadAnswer::Value { value: "y".repeat(5000), version: 3 },
            },
            Msg::TransferAck { epoch: Epoch(4), keys: (0..1000).map(|i| format!("key{i}")).collect() },
            Msg::QueryServers { op: OpId(1) },
        ];
        for msg in &messages {
            let (weight, len) = (weight(msg), frame_len(msg));
            assert!(len <= 4 * weight && weight <= 4 * len, "{}: weight {weight}, frame {len} bytes", msg.name());
        }
    }
}
