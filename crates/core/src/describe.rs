//! The words people read: one line of plain language for each event and each message.
//!
//! Machines read the records themselves (the wire enum, [`Event`]); these lines are for logs,
//! the simulator's narration and the browser's log, so every front-end says the same thing.

use alloc::format;
use alloc::string::String;
use core::fmt;

use crate::event::Event;
use crate::msg::{HeartbeatStatus, LocalReply, LockAnswer, Msg, ReadAnswer, TxState, VoteAnswer};

impl Msg {
    /// A short description of the message's content (`prepare tx…: k=v (epoch 3)`).
    pub fn summary(&self) -> String {
        match self {
            Msg::Print { text, .. } => format!("print {text:?}"),
            Msg::Set { key, value, .. } => format!("set {key}={value}"),
            Msg::Get { key, .. } => format!("get {key}"),
            Msg::QueryAllKeys { .. } => "query_all_keys".into(),
            Msg::Reply { result, .. } => match result {
                LocalReply::Ok => "reply ok".into(),
                LocalReply::Value { value } => format!("reply {value}"),
                LocalReply::NotFound { key } => format!("reply not found: {key}"),
                LocalReply::Keys { keys } => format!("reply {} keys", keys.len()),
            },
            Msg::Heartbeat { id, epoch, rebalanced, .. } => {
                format!("heartbeat {id} (knows epoch {epoch}, rebalanced {rebalanced})")
            }
            Msg::HeartbeatReply { status, .. } => match status {
                HeartbeatStatus::Ok { epoch, view, stable } => {
                    let mut s = format!("heartbeat ok, epoch {epoch}");
                    if let Some(v) = view {
                        s += &format!(", view of {}", servers(v.members.len()));
                    }
                    if let Some(v) = stable {
                        s += &format!(", epoch {} fully rebalanced", v.epoch);
                    }
                    s
                }
                HeartbeatStatus::Denied => "heartbeat denied: this id was declared failed".into(),
                HeartbeatStatus::Retry => "heartbeat: retry, address in use".into(),
            },
            Msg::QueryServers { .. } => "query_servers".into(),
            Msg::Servers { epoch, servers, rebalancing, .. } => {
                format!(
                    "servers: epoch {epoch}, {} servers{}",
                    servers.len(),
                    if *rebalancing { ", rebalancing" } else { "" }
                )
            }
            Msg::LockGet { name, requester, .. } => format!("lock_get {name} for {requester}"),
            Msg::LockRelease { name, requester, .. } => format!("lock_release {name} by {requester}"),
            Msg::LockReply { result, .. } => match result {
                LockAnswer::Granted => "granted".into(),
                LockAnswer::Retry { position } => format!("retry (queued, place {position})"),
                LockAnswer::Deadlock { cycle } => format!("deadlock: {}", cycle.join(" waits for ")),
                LockAnswer::Released { next_holder: Some(n) } => format!("released, now held by {n}"),
                LockAnswer::Released { next_holder: None } => "released".into(),
                LockAnswer::LeftQueue => "left the queue".into(),
                LockAnswer::UnknownLock => "error: unknown lock".into(),
                LockAnswer::NotHolderOrWaiter => "error: not holder nor waiter".into(),
            },
            Msg::Prepare { tx, epoch, key, value, .. } => format!("prepare {tx}: {key}={value} (epoch {epoch})"),
            Msg::Vote { tx, vote, .. } => match vote {
                VoteAnswer::Yes { .. } => format!("vote yes on {tx}"),
                VoteAnswer::No { reason } => format!("vote no on {tx}: {reason:?}"),
            },
            Msg::Commit { tx, version } => format!("commit {tx} at version {version}"),
            Msg::Abort { tx } => format!("abort {tx}"),
            Msg::Done { tx, committed, .. } => {
                format!("done {tx} ({})", if *committed { "committed" } else { "aborted" })
            }
            Msg::DecisionRequest { tx, .. } => format!("what became of {tx}?"),
            Msg::DecisionReply { tx, state } => match state {
                TxState::Committed { .. } => format!("{tx} committed"),
                TxState::Aborted => format!("{tx} aborted"),
                TxState::Prepared => format!("{tx}: prepared here too, no decision"),
                TxState::Unknown => format!("{tx}: not the participant you asked"),
            },
            Msg::GetR { key, epoch, .. } => format!("getr {key} (epoch {epoch})"),
            Msg::GetRReply { result, .. } => match result {
                ReadAnswer::Value { value, version } => format!("value {value} (version {version})"),
                ReadAnswer::NotFound => "not found".into(),
                ReadAnswer::Pending { tx } => format!("pending: {tx} undecided"),
                ReadAnswer::Rebalancing => "copy not here yet (rebalancing)".into(),
                ReadAnswer::Isolated => "not serving: lost touch with the view leader".into(),
                ReadAnswer::WrongEpoch { epoch } => format!("wrong epoch, I am at {epoch}"),
            },
            Msg::Transfer { epoch, items } => format!("transfer {} copies (epoch {epoch})", items.len()),
            Msg::TransferAck { keys, .. } => format!("stored {} copies", keys.len()),
            Msg::Error { reason, .. } => format!("error: {reason}"),
        }
    }
}

/// A plain-language description of the event (`server s1 joined at …: epoch 1`).
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line: String = match self {
            Event::ServerJoined { id, addr, epoch } => format!("server {id} joined at {addr}: epoch {epoch}"),
            Event::ServerFailed { id, epoch } => format!("server {id} missed its heartbeats: failed, epoch {epoch}"),
            Event::HeartbeatDenied { id } => format!("denied heartbeat of failed server {id}"),
            Event::AddressBusy { id, addr } => format!("{id} must retry: {addr} belongs to a live server"),
            Event::Recovering { epoch } => {
                format!("a server knows epoch {epoch}: restarted, gathering live servers before forming a view")
            }
            Event::Recovered { epoch, servers: n } => format!("recovered the view: epoch {epoch} ({})", servers(*n)),
            Event::RebalancingDone { epoch } => format!("every server finished rebalancing for epoch {epoch}"),
            Event::LockGranted { name, requester } => format!("lock {name} granted to {requester}"),
            Event::LockQueued { name, requester, position } => {
                format!("{requester} queued for lock {name} (place {position})")
            }
            Event::LockDeadlock { name, requester, cycle } => {
                format!("{requester} asking for {name} would deadlock: {}", cycle.join(" waits for "))
            }
            Event::LockReleased { name, requester } => format!("{requester} let go of lock {name}"),
            Event::Printed { text } => format!("prints {text:?}"),
            Event::ViewLearned { epoch, servers: n } => format!("learned epoch {epoch} ({})", servers(*n)),
            Event::Denied => "was denied: declared failed earlier".into(),
            Event::ToldToRetry => {
                "told to retry: its address is still held, or the view leader is gathering servers".into()
            }
            Event::RebalanceStarted { epoch, copies } => {
                format!("rebalancing to epoch {epoch}: {} to send", plural(*copies, "copy", "copies"))
            }
            Event::TransferSent { to, keys, .. } => format!("sent {keys} copies to {to}"),
            Event::TransferReceived { from, keys, stored } => {
                format!("received {keys} copies from {from} ({stored} new)")
            }
            Event::TransferAcked { from, keys } => format!("{from} confirmed {keys} copies"),
            Event::RebalanceFinished { epoch } => format!("finished its part of rebalancing for epoch {epoch}"),
            Event::CopiesDropped { keys, .. } => format!("dropped {keys} copies it no longer replicates"),
            Event::Voted { tx, key, yes, reason } => match reason {
                None if *yes => format!("votes yes on {tx} ({key}): READY"),
                _ => format!("votes no on {tx} ({key}): {reason:?}"),
            },
            Event::Committed { tx, key, version } => format!("committed {tx}: {key} at version {version}"),
            Event::Aborted { tx, key: Some(key) } => format!("aborted {tx} ({key})"),
            Event::Aborted { tx, key: None } => format!("rules out {tx}: never prepared here"),
            Event::TerminationStarted { tx, key } => {
                format!("no decision for {tx} ({key}): asking the other participants")
            }
            Event::Blocked { tx, key } => format!("BLOCKED on {tx} ({key}): all prepared, only the coordinator knows"),
            Event::TxDecided { tx, key, commit, .. } => {
                format!("decides {} {tx} ({key})", if *commit { "COMMIT" } else { "ABORT" })
            }
            Event::OpRetrying { op, attempt, reason } => format!("op {} retries (attempt {attempt}): {reason}", op.0),
            Event::LockWaiting { name, position, .. } => format!("waits for lock {name} (place {position})"),
            Event::OpDone { op, result } => match result {
                Ok(out) => format!("op {} done: {out:?}", op.0),
                Err(e) => format!("op {} failed: {e}", op.0),
            },
            Event::BadMessage { from, reason } => format!("bad message from {from}: {reason}"),
        };
        f.write_str(&line)
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn servers(n: usize) -> String {
    plural(n, "server", "servers")
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;

    use crate::error::OpError;
    use crate::id::{Addr, Epoch, OpId, ServerId, TxId, View};
    use crate::msg::NoReason;
    use crate::{Event, Msg, OpOutput};

    use super::*;

    #[test]
    fn events_read_as_plain_language() {
        let tx = TxId { client: 7, seq: 1 };
        let joined = Event::ServerJoined { id: ServerId::from("s1"), addr: Addr::from("a:1"), epoch: Epoch(2) };
        assert_eq!(joined.to_string(), "server s1 joined at a:1: epoch 2");
        assert_eq!(Event::ViewLearned { epoch: Epoch(3), servers: 1 }.to_string(), "learned epoch 3 (1 server)");
        let no = Event::Voted { tx, key: "k".into(), yes: false, reason: Some(NoReason::Rebalancing) };
        assert_eq!(no.to_string(), "votes no on tx0007.1 (k): Some(Rebalancing)");
        let done = Event::OpDone { op: OpId(4), result: Ok(OpOutput::Written { version: 2 }) };
        assert_eq!(done.to_string(), "op 4 done: Written { version: 2 }");
        let failed = Event::OpDone { op: OpId(5), result: Err(OpError::UnknownLock) };
        assert_eq!(failed.to_string(), "op 5 failed: unknown lock");
    }

    #[test]
    fn messages_summarize_their_content() {
        let tx = TxId { client: 7, seq: 1 };
        assert_eq!(Msg::Print { op: OpId(1), text: "hi".into() }.summary(), "print \"hi\"");
        assert_eq!(Msg::Commit { tx, version: 3 }.summary(), "commit tx0007.1 at version 3");
        let view = View { epoch: Epoch(2), members: vec![] };
        let status = HeartbeatStatus::Ok { epoch: Epoch(2), view: Some(view.clone()), stable: Some(view) };
        let reply = Msg::HeartbeatReply { id: ServerId::from("s1"), status };
        assert_eq!(reply.summary(), "heartbeat ok, epoch 2, view of 0 servers, epoch 2 fully rebalanced");
        assert_eq!(
            Msg::LockReply {
                op: OpId(1),
                result: LockAnswer::Deadlock { cycle: vec!["a".to_string(), "b".to_string()] }
            }
            .summary(),
            "deadlock: a waits for b"
        );
    }
}
