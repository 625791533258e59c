//! The words people read: one line of plain language for each event and each message, and
//! the words of every answer and reason inside them.
//!
//! Machines read the records themselves (the wire enum, [`Event`]); these lines are for logs,
//! the simulator's narration and the browser's log, so every front-end says the same thing.
//! `describe_with` takes the [`Names`] a front-end knows (`s2` for a server's random id, `c1`
//! for a client's transactions); `Display` and [`Msg::summary`] know none and show the ids, as
//! a node's own log must.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::client::op::OpOutput;
use crate::error::OpError;
use crate::event::Event;
use crate::id::{Addr, ServerId, MAX_NUMBER};
use crate::msg::{HeartbeatStatus, LocalReply, LockAnswer, Msg, NoReason, Proposal, ReadAnswer, TxState, VoteAnswer};
use crate::names::Names;
use crate::replication::RaftMsg;
use crate::view_leader::{ViewCommand, ViewState};

/// Why a failed server stays out, wherever its refusal is narrated: a partition that heals does
/// not bring it back, because the view leader never readmits a failed id.
const NEVER_READMITTED: &str = "a failed id is never readmitted — restart it to join as a new server";

impl Msg {
    /// A short description of the message's content (`prepare tx…: k=v (epoch 3)`), with ids.
    pub fn summary(&self) -> String {
        self.describe_with(&Names::NONE)
    }

    /// A short description of the message's content, with the labels `names` knows
    /// (`prepare c1's write #1: k=v (epoch 3)`).
    pub fn describe_with(&self, names: &Names) -> String {
        match self {
            Msg::Print { text, .. } => format!("print “{text}”"),
            Msg::Set { key, value, .. } => format!("set {key}={value}"),
            Msg::Get { key, .. } => format!("get {key}"),
            Msg::QueryAllKeys { .. } => "query_all_keys".into(),
            Msg::Reply { result, .. } => match result {
                LocalReply::Ok => "reply ok".into(),
                LocalReply::Value { value } => format!("reply {value}"),
                LocalReply::NotFound { key } => format!("reply not found: {key}"),
                LocalReply::Keys { keys } => format!("reply {}", plural(keys.len(), "key", "keys")),
            },
            Msg::Heartbeat { id, epoch, rebalanced, .. } => {
                format!("heartbeat from {} (knows epoch {epoch}, rebalanced {rebalanced})", names.server(id))
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
                HeartbeatStatus::Retry => "heartbeat: retry later".into(),
                HeartbeatStatus::NotLeader { leader } => format!("heartbeat: {}", not_leader(leader.as_ref(), names)),
            },
            Msg::QueryServers { .. } => "query_servers".into(),
            Msg::Servers { epoch, servers: members, rebalancing, .. } => {
                format!(
                    "servers: epoch {epoch}, {}{}",
                    servers(members.len()),
                    if *rebalancing { ", rebalancing" } else { "" }
                )
            }
            Msg::LockGet { name, requester, .. } => format!("lock_get {name} for {requester}"),
            Msg::LockRelease { name, requester, .. } => format!("lock_release {name} by {requester}"),
            Msg::LockReply { result, .. } => result.to_string(),
            Msg::Prepare { tx, epoch, key, value, .. } => {
                format!("prepare {}: {key}={value} (epoch {epoch})", names.tx(*tx))
            }
            Msg::Vote { tx, vote, .. } => match vote {
                VoteAnswer::Yes { .. } => format!("vote yes on {}", names.tx(*tx)),
                VoteAnswer::No { reason } => {
                    format!("vote no on {}: {}", names.tx(*tx), reason.describe_with("the key", names))
                }
            },
            Msg::Commit { tx, version, .. } => format!("commit {} at version {version}", names.tx(*tx)),
            Msg::Abort { tx, .. } => format!("abort {}", names.tx(*tx)),
            Msg::Done { tx, committed, .. } => {
                format!("done {} ({})", names.tx(*tx), if *committed { "committed" } else { "aborted" })
            }
            Msg::DecisionRequest { tx, .. } => format!("what became of {}?", names.tx(*tx)),
            Msg::DecisionReply { tx, state } => format!("{}: {state}", names.tx(*tx)),
            Msg::Takeover { tx, ballot, .. } => format!("take over {} at ballot {ballot}?", names.tx(*tx)),
            Msg::Promise { tx, ballot, accepted, .. } => match accepted {
                Some(p) => format!("promise ballot {ballot} on {}; accepted {p}", names.tx(*tx)),
                None => format!("promise ballot {ballot} on {}; accepted nothing", names.tx(*tx)),
            },
            Msg::Accept { tx, proposal, .. } => format!("accept {proposal} for {}?", names.tx(*tx)),
            Msg::Accepted { tx, ballot, .. } => format!("accepted ballot {ballot} of {}", names.tx(*tx)),
            Msg::GetR { key, epoch, .. } => format!("getr {key} (epoch {epoch})"),
            Msg::GetRReply { result, .. } => result.describe_with(names),
            Msg::Transfer { epoch, items } => {
                format!("transfer {} (epoch {epoch})", plural(items.len(), "copy", "copies"))
            }
            Msg::TransferAck { keys, .. } => format!("stored {}", plural(keys.len(), "copy", "copies")),
            Msg::Raft { msg } => raft(msg),
            Msg::NotLeader { leader, .. } => not_leader(leader.as_ref(), names),
            Msg::Error { reason, .. } => format!("error: {}", names.relabel(reason)),
        }
    }
}

fn not_leader(leader: Option<&Addr>, names: &Names) -> String {
    match leader {
        Some(leader) => format!("not the leader: ask {}", names.addr(leader)),
        None => "not the leader, and no leader known".into(),
    }
}

/// `append join, lock_get after 4 (term 2, commit 5)`.
fn raft(msg: &RaftMsg<ViewCommand, ViewState>) -> String {
    match msg {
        RaftMsg::RequestVote { term, last_index, last_term } => {
            format!("vote for me in term {term}? (my log ends at {last_index}, term {last_term})")
        }
        RaftMsg::Vote { term, granted: true } => format!("vote granted in term {term}"),
        RaftMsg::Vote { term, granted: false } => format!("vote refused in term {term}"),
        RaftMsg::Append { term, prev_index, entries, commit, .. } if entries.is_empty() => {
            format!("append nothing after {prev_index} (term {term}, commit {commit})")
        }
        RaftMsg::Append { term, prev_index, entries, commit, .. } => {
            let names: Vec<&str> = entries.iter().map(|e| e.cmd.as_ref().map_or("no-op", ViewCommand::name)).collect();
            format!("append {} after {prev_index} (term {term}, commit {commit})", names.join(", "))
        }
        RaftMsg::Appended { index, .. } => format!("appended: my log matches through {index}"),
        RaftMsg::Refused { rejected, last, .. } => format!("refused: no match at {rejected} (my log ends at {last})"),
        RaftMsg::InstallSnapshot { term, snapshot, .. } => {
            format!("install the snapshot through {} (term {term})", snapshot.index)
        }
    }
}

/// `commit at version 4 (ballot 1)`, `abort (ballot 2)`.
impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(version) => write!(f, "commit at version {version} (ballot {})", self.ballot),
            None => write!(f, "abort (ballot {})", self.ballot),
        }
    }
}

/// A plain-language description of the event (`server 5e41ab08 joined at s1: epoch 1`).
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe_with(&Names::NONE))
    }
}

impl Event {
    /// A plain-language description of the event with the labels `names` knows
    /// (`s1 joined with id 5e41ab08: epoch 1`).
    pub fn describe_with(&self, names: &Names) -> String {
        let tx = |tx| names.tx(tx);
        // A server by its label, or as "server <id>" when it has none.
        let who = |id: &ServerId| match names.server_label(id) {
            Some(label) => label.to_string(),
            None => format!("server {id}"),
        };
        let labels = |ids: &[ServerId]| ids.iter().map(|id| names.server(id)).collect::<Vec<_>>().join(" ");
        match self {
            Event::ServerJoined { id, addr, epoch } => match names.server_label(id) {
                Some(label) if label == names.addr(addr) => format!("{label} joined with id {id}: epoch {epoch}"),
                Some(label) => format!("{label} joined with id {id} at {}: epoch {epoch}", names.addr(addr)),
                None => format!("server {id} joined at {}: epoch {epoch}", names.addr(addr)),
            },
            Event::ServerFailed { id, epoch } => {
                format!("{} missed its heartbeats for the failure timeout: declared failed, epoch {epoch}", who(id))
            }
            Event::HeartbeatDenied { id } => {
                let who = who(id);
                format!("refused a heartbeat of {who}: declared failed, it stays out after a heal; {NEVER_READMITTED}")
            }
            Event::AddressBusy { id, addr } => {
                format!("{} must retry: {} belongs to a live server", who(id), names.addr(addr))
            }
            Event::Recovering { epoch } => {
                format!("a server knows epoch {epoch}: restarted, gathering live servers before forming a view")
            }
            Event::LeaderPaused { late_ms, servers: n } => format!(
                "was paused: its failure timers fired {late_ms} ms late, so {} got a fresh failure timeout instead of being failed",
                servers(*n)
            ),
            Event::LeaderElected { term } => {
                format!("leads term {term}: a majority elected it and it applied everything committed before")
            }
            Event::LeaderLost { term } => format!("no longer leads term {term}"),
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
            Event::Printed { text } => format!("prints “{text}”"),
            Event::ViewLearned { epoch, servers: n } => format!("learned epoch {epoch} ({})", servers(*n)),
            Event::Denied => format!("is refused by the view leader: it was declared failed, and {NEVER_READMITTED}"),
            Event::ToldToRetry => {
                "told to retry: its address is still held, or the view leader is gathering servers".into()
            }
            Event::RebalanceStarted { epoch, copies } => {
                format!("rebalancing to epoch {epoch}: {} to send", plural(*copies, "copy", "copies"))
            }
            Event::TransferSent { to, keys, .. } => {
                format!("sent {} to {}", plural(*keys, "copy", "copies"), names.server(to))
            }
            Event::TransferReceived { from, keys, stored } => {
                format!("received {} from {} ({stored} new)", plural(*keys, "copy", "copies"), names.addr(from))
            }
            Event::TransferAcked { from, keys } => {
                format!("{} confirmed {}", names.server(from), plural(*keys, "copy", "copies"))
            }
            Event::RebalanceFinished { epoch } => format!("finished its part of rebalancing for epoch {epoch}"),
            Event::CopiesDropped { keys, .. } => {
                format!("dropped {} it no longer replicates", plural(*keys, "copy", "copies"))
            }
            Event::Voted { tx: t, key, yes: true, reason: None } => format!("votes yes on {} ({key}): READY", tx(*t)),
            Event::Voted { tx: t, key, reason, .. } => match reason {
                Some(reason) => format!("votes no on {} ({key}): {}", tx(*t), reason.describe_with(key, names)),
                None => format!("votes no on {} ({key})", tx(*t)),
            },
            Event::Committed { tx: t, key, version } => format!("committed {}: {key} at version {version}", tx(*t)),
            Event::Aborted { tx: t, key: Some(key) } => format!("aborted {} ({key})", tx(*t)),
            Event::Aborted { tx: t, key: None } => format!("rules out {}: never prepared here", tx(*t)),
            Event::TerminationStarted { tx: t, key } => {
                format!("no decision for {} ({key}): asking the other participants", tx(*t))
            }
            Event::Blocked { tx: t, key } => {
                format!("BLOCKED on {} ({key}): all prepared, only the coordinator knows", tx(*t))
            }
            Event::NoMajority { tx: t, key } => {
                format!("BLOCKED on {} ({key}): no majority of the participants answers its takeover", tx(*t))
            }
            Event::TxDecided { tx: t, key, commit, .. } => {
                format!("decides {} for {} ({key})", if *commit { "COMMIT" } else { "ABORT" }, tx(*t))
            }
            Event::OpRetrying { op, attempt, reason } => {
                format!("op {} retries (attempt {attempt}): {}", op.0, names.relabel(reason))
            }
            Event::WriteOnBothSets { tx: t, key, stable, new } => format!(
                "writes {key} on both its replica sets while it moves ({}): stable {}, new {}",
                tx(*t),
                labels(stable),
                labels(new)
            ),
            Event::OpRerun { op, epoch, reason } => {
                format!("op {} runs again at once in epoch {epoch}: {}", op.0, names.relabel(reason))
            }
            Event::LockWaiting { name, position, .. } => format!("waits for lock {name} (place {position})"),
            Event::OpDone { op, result } => match result {
                Ok(out) => format!("op {} done: {out}", op.0),
                Err(e) => format!("op {} failed: {}", op.0, e.describe_with(names)),
            },
            Event::BadMessage { from, reason } => {
                format!("bad message from {}: {}", names.addr(from), names.relabel(reason))
            }
        }
    }
}

impl NoReason {
    /// Why the vote on `key` was no, with the labels `names` knows (`x is held by c2's write #1`).
    pub fn describe_with(&self, key: &str, names: &Names) -> String {
        match self {
            NoReason::KeyBusy { tx } => format!("{key} is held by {}, still undecided here", names.tx(*tx)),
            NoReason::EpochMismatch { epoch } => {
                format!("the write was prepared for another epoch; this server is at epoch {epoch}")
            }
            NoReason::WrongServer { id } => {
                format!("this is a restarted process ({}): the write's view names the one before it", names.server(id))
            }
            NoReason::Aborted => "already ruled out here by the termination protocol".into(),
            NoReason::Isolated => "its lease ran out: it lost touch with the view leader".into(),
            NoReason::TooLarge(too_large) => too_large.describe(),
        }
    }
}

/// Why a vote was no, with ids (`the key is held by tx0007.1, still undecided here`).
impl fmt::Display for NoReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe_with("the key", &Names::NONE))
    }
}

impl OpError {
    /// Why the operation failed, with the labels `names` knows.
    pub fn describe_with(&self, names: &Names) -> String {
        match self {
            OpError::NotFound { key } => format!("not found: {key}"),
            OpError::NoServers => "no servers in the view: nothing can be stored".into(),
            OpError::VersionsUsedUp { key } => {
                format!("aborted: {key}'s replicas hold the largest version there is ({MAX_NUMBER}), so no write can go above it")
            }
            OpError::Conflict { tx } => format!("aborted: the key is being written by {}", names.tx(*tx)),
            OpError::TooLarge(too_large) => format!("refused: {}", too_large.describe()),
            OpError::GaveUp { attempts, reason } => {
                format!("gave up after {attempts} attempts: {}", names.relabel(reason))
            }
            OpError::Deadlock { cycle } => format!("deadlock: {}", cycle.join(" waits for ")),
            OpError::UnknownLock => "unknown lock".into(),
            OpError::NotHolderOrWaiter => "not the holder nor a waiter of this lock".into(),
            OpError::Timeout { peer } => format!("no answer from {}", names.addr(peer)),
            OpError::NoLeader { replicas } => format!(
                "no view-leader replica leads: none of the {replicas} answered as leader (with fewer than {} of \
                 them up, none can be elected)",
                crate::replication::majority_of(*replicas)
            ),
            OpError::Unconfirmed { tx, version } => format!(
                "unconfirmed: {} was decided to commit at version {version}, but no majority of the replicas \
                 confirmed it; it may or may not have been applied",
                names.tx(*tx)
            ),
            OpError::Remote { reason } => format!("error from peer: {}", names.relabel(reason)),
        }
    }
}

/// Why the operation failed, with ids.
impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe_with(&Names::NONE))
    }
}

/// What a finished operation gave (`committed at version 2`).
impl fmt::Display for OpOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpOutput::Done => f.write_str("ok"),
            OpOutput::Value { value, version: Some(v) } => write!(f, "{value} (version {v})"),
            OpOutput::Value { value, version: None } => f.write_str(value),
            OpOutput::Keys { keys } => f.write_str(&plural(keys.len(), "key", "keys")),
            OpOutput::Servers { epoch, servers: members, rebalancing } => write!(
                f,
                "epoch {epoch}, {}, {}",
                servers(members.len()),
                if *rebalancing { "rebalancing under way" } else { "rebalancing done" }
            ),
            OpOutput::Written { version } => write!(f, "committed at version {version}"),
            OpOutput::Granted => f.write_str("lock granted"),
            OpOutput::Released { next_holder: Some(next) } => write!(f, "released; {next} holds it now"),
            OpOutput::Released { next_holder: None } => f.write_str("released; nobody was waiting"),
            OpOutput::LeftQueue => f.write_str("left the lock's queue"),
        }
    }
}

/// The view leader's answer to a lock request (`released; c2 holds it now`).
impl fmt::Display for LockAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockAnswer::Granted => f.write_str("granted"),
            LockAnswer::Retry { position } => write!(f, "retry (queued, place {position})"),
            LockAnswer::Deadlock { cycle } => write!(f, "deadlock: {}", cycle.join(" waits for ")),
            LockAnswer::Released { next_holder: Some(n) } => write!(f, "released; {n} holds it now"),
            LockAnswer::Released { next_holder: None } => f.write_str("released; nobody was waiting"),
            LockAnswer::LeftQueue => f.write_str("left the queue"),
            LockAnswer::UnknownLock => f.write_str("error: unknown lock"),
            LockAnswer::NotHolderOrWaiter => f.write_str("error: not the holder nor a waiter"),
        }
    }
}

/// What a node knows of a transaction (`committed at version 3`).
impl fmt::Display for TxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxState::Committed { version } => write!(f, "committed at version {version}"),
            TxState::Aborted => f.write_str("aborted"),
            TxState::Prepared => f.write_str("prepared here too, no decision"),
            TxState::Unknown => f.write_str("not the participant you asked"),
        }
    }
}

impl ReadAnswer {
    /// A replica's answer to `getr`, with the labels `names` knows.
    pub fn describe_with(&self, names: &Names) -> String {
        match self {
            ReadAnswer::Value { value, version } => format!("value {value} (version {version})"),
            ReadAnswer::NotFound => "not found".into(),
            ReadAnswer::Pending { tx } => format!("pending: {} undecided", names.tx(*tx)),
            ReadAnswer::NotReplica => "not a replica of this key in my views".into(),
            ReadAnswer::Isolated => "not serving: lost touch with the view leader".into(),
            ReadAnswer::WrongEpoch { epoch } => format!("wrong epoch, I am at {epoch}"),
        }
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
    use crate::time::Time;
    use alloc::string::ToString;
    use alloc::vec;

    use crate::error::OpError;
    use crate::id::{Addr, Epoch, OpId, ServerId, TxId, View};
    use crate::msg::NoReason;
    use crate::{Event, Msg, OpOutput};

    use super::*;

    /// The page's book: s1 and s2 by their random ids, c1 and c2 by their clients' ids.
    fn names() -> Names {
        let mut names = Names::default();
        names.name_server(&ServerId::from("5e41ab08"), "s1");
        names.name_server(&ServerId::from("0c3f9a10"), "s2");
        names.name_client(7, "c1");
        names.name_client(9, "c2");
        names
    }

    #[test]
    fn events_read_as_plain_language() {
        let tx = TxId { client: 7, seq: 1 };
        let joined = Event::ServerJoined { id: ServerId::from("s1"), addr: Addr::from("a:1"), epoch: Epoch(2) };
        assert_eq!(joined.to_string(), "server s1 joined at a:1: epoch 2");
        assert_eq!(Event::ViewLearned { epoch: Epoch(3), servers: 1 }.to_string(), "learned epoch 3 (1 server)");
        let no =
            Event::Voted { tx, key: "k".into(), yes: false, reason: Some(NoReason::EpochMismatch { epoch: Epoch(3) }) };
        assert_eq!(
            no.to_string(),
            "votes no on tx0007.1 (k): the write was prepared for another epoch; this server is at epoch 3"
        );
        let done = Event::OpDone { op: OpId(4), result: Ok(OpOutput::Written { version: 2 }) };
        assert_eq!(done.to_string(), "op 4 done: committed at version 2");
        let failed = Event::OpDone { op: OpId(5), result: Err(OpError::UnknownLock) };
        assert_eq!(failed.to_string(), "op 5 failed: unknown lock");
    }

    #[test]
    fn with_names_servers_and_transactions_read_as_their_labels() {
        let names = names();
        let (s1, s2) = (ServerId::from("5e41ab08"), ServerId::from("0c3f9a10"));
        let busy = NoReason::KeyBusy { tx: TxId { client: 9, seq: 1 } };
        let no = Event::Voted { tx: TxId { client: 7, seq: 1 }, key: "x".into(), yes: false, reason: Some(busy) };
        assert_eq!(
            no.describe_with(&names),
            "votes no on c1's write #1 (x): x is held by c2's write #1, still undecided here"
        );
        let sent = Event::TransferSent { epoch: Epoch(3), to: s2.clone(), keys: 2 };
        assert_eq!(sent.describe_with(&names), "sent 2 copies to s2");
        assert_eq!(sent.to_string(), "sent 2 copies to 0c3f9a10", "a node's log has no labels");
        let joined = Event::ServerJoined { id: s1.clone(), addr: Addr::from("s1"), epoch: Epoch(1) };
        assert_eq!(joined.describe_with(&names), "s1 joined with id 5e41ab08: epoch 1");
        let retry = Event::OpRetrying { op: OpId(1), attempt: 2, reason: "no vote from 5e41ab08".into() };
        assert_eq!(retry.describe_with(&names), "op 1 retries (attempt 2): no vote from s1");
        let conflict = Event::OpDone { op: OpId(2), result: Err(OpError::Conflict { tx: TxId { client: 9, seq: 1 } }) };
        assert_eq!(conflict.describe_with(&names), "op 2 failed: aborted: the key is being written by c2's write #1");
    }

    #[test]
    fn a_refused_server_is_told_why_it_stays_out() {
        let names = names();
        let denied = Event::HeartbeatDenied { id: ServerId::from("0c3f9a10") };
        let text = denied.describe_with(&names);
        assert!(text.starts_with("refused a heartbeat of s2: declared failed"), "{text}");
        assert!(text.contains("never readmitted") && text.contains("restart it"), "{text}");
        assert!(Event::Denied.to_string().contains("never readmitted"));
    }

    #[test]
    fn answers_and_outputs_have_words_of_their_own() {
        assert_eq!(OpOutput::Released { next_holder: Some("c1".into()) }.to_string(), "released; c1 holds it now");
        assert_eq!(OpOutput::Value { value: "v".into(), version: Some(3) }.to_string(), "v (version 3)");
        assert_eq!(LockAnswer::Released { next_holder: None }.to_string(), "released; nobody was waiting");
        assert_eq!(TxState::Committed { version: 3 }.to_string(), "committed at version 3");
        let busy = NoReason::KeyBusy { tx: TxId { client: 7, seq: 1 } };
        assert_eq!(busy.to_string(), "the key is held by tx0007.1, still undecided here");
    }

    #[test]
    fn messages_summarize_their_content() {
        let tx = TxId { client: 7, seq: 1 };
        assert_eq!(Msg::Print { op: OpId(1), text: "hi".into() }.summary(), "print “hi”");
        assert_eq!(
            Msg::Commit { tx, version: 3, secret: crate::TxSecret::new(1) }.summary(),
            "commit tx0007.1 at version 3"
        );
        assert_eq!(
            Msg::Commit { tx, version: 3, secret: crate::TxSecret::new(1) }.describe_with(&names()),
            "commit c1's write #1 at version 3"
        );
        let view = View { epoch: Epoch(2), members: vec![] };
        let status = HeartbeatStatus::Ok { epoch: Epoch(2), view: Some(view.clone()), stable: Some(view) };
        let reply = Msg::HeartbeatReply { id: ServerId::from("s1"), sent: Time(0), status };
        assert_eq!(reply.summary(), "heartbeat ok, epoch 2, view of 0 servers, epoch 2 fully rebalanced");
        assert_eq!(
            Msg::LockReply {
                op: OpId(1),
                result: LockAnswer::Deadlock { cycle: vec!["a".to_string(), "b".to_string()] }
            }
            .summary(),
            "deadlock: a waits for b"
        );
        let no = VoteAnswer::No { reason: NoReason::KeyBusy { tx: TxId { client: 9, seq: 4 } } };
        let vote = Msg::Vote { tx, server: ServerId::from("5e41ab08"), vote: no };
        assert_eq!(
            vote.describe_with(&names()),
            "vote no on c1's write #1: the key is held by c2's write #4, still undecided here"
        );
    }
}
