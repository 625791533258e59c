//! Plain-language lines for trace entries: the narrated message sequence of `ringside-sim run`.

use ringside_core::msg::{HeartbeatStatus, LocalReply, LockAnswer, ReadAnswer, TxState, VoteAnswer};
use ringside_core::{Event, Msg};

use crate::action::Action;
use crate::trace::{TraceEntry, TraceKind};

/// Whether a message is routine background (heartbeats), hidden unless asked for.
pub fn is_routine(msg: &Msg) -> bool {
    matches!(
        msg,
        Msg::Heartbeat { .. }
            | Msg::HeartbeatReply { status: HeartbeatStatus::Ok { view: None, stable: None, .. }, .. }
    )
}

/// A short description of a message's content.
pub fn summarize(msg: &Msg) -> String {
    match msg {
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
        Msg::Done { tx, committed, .. } => format!("done {tx} ({})", if *committed { "committed" } else { "aborted" }),
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

/// A plain-language description of an event.
pub fn describe(event: &Event) -> String {
    match event {
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
        Event::TransferReceived { from, keys, stored } => format!("received {keys} copies from {from} ({stored} new)"),
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
        Event::TerminationStarted { tx, key } => format!("no decision for {tx} ({key}): asking the other participants"),
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
    }
}

/// A plain-language description of an action.
pub fn describe_action(action: &Action) -> String {
    match action {
        Action::AddServer => "a new server process starts".into(),
        Action::Crash { node } => format!("{node} crashes (its memory is gone)"),
        Action::Restart { node } => format!("{node} restarts as a fresh process with a new id"),
        Action::AddClient => "a new client starts".into(),
        Action::SetR { client, key, value } => format!("{client}: setr {key} {value}"),
        Action::GetR { client, key } => format!("{client}: getr {key}"),
        Action::LockGet { client, name } => format!("{client}: lock_get {name}"),
        Action::LockRelease { client, name } => format!("{client}: lock_release {name}"),
        Action::Partition { side } => format!("network partition: {side:?} cut off from the rest"),
        Action::Heal => "the partition heals".into(),
        Action::SetFaults { faults } => format!("network faults now {faults:?}"),
        Action::CrashCoordinator { client, tx: None } => {
            format!("{client} is set to crash the moment it would send a 2PC decision")
        }
        Action::CrashCoordinator { client, tx: Some(tx) } => {
            format!("{client} is set to crash the moment it would send its decision for {tx}")
        }
    }
}

/// The narrated line of a trace entry; `None` for routine entries when `all` is off.
pub fn line(entry: &TraceEntry, all: bool) -> Option<String> {
    let t = entry.t;
    match &entry.kind {
        TraceKind::Send { from, to, msg, .. } if all || !is_routine(msg) => {
            Some(format!("{t:>9}  {from:>3} → {to:<3}  {}", summarize(msg)))
        }
        TraceKind::Drop { from, to, reason, .. } => {
            Some(format!("{t:>9}  {from:>3} ✗ {to:<3}  message lost ({reason})"))
        }
        TraceKind::Duplicate { .. } if all => Some(format!("{t:>9}  network duplicated a message")),
        TraceKind::Deliver { .. } | TraceKind::Timer { .. } if all => None,
        TraceKind::Action { action } => Some(format!("{t:>9}  ▶ {}", describe_action(action))),
        TraceKind::Event { node, event } => {
            let routine = matches!(
                event,
                Event::TransferSent { .. } | Event::TransferAcked { .. } | Event::TransferReceived { .. }
            );
            (all || !routine).then(|| format!("{t:>9}  {node:>3} ★ {}", describe(event)))
        }
        _ => None,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn servers(n: usize) -> String {
    plural(n, "server", "servers")
}
