//! The one message enum every role speaks. Its JSON (internally tagged by `cmd`) is the wire
//! format of the native nodes, so field names here are part of the protocol.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::id::{Addr, Epoch, Member, OpId, ServerId, TxId, TxSecret, Version, View};
use crate::limits::TooLarge;
use crate::replication::RaftMsg;
use crate::tagged_enum;
use crate::time::Time;
use crate::view_leader::{ViewCommand, ViewState};

tagged_enum! {
    /// A message between two roles.
    #[tag = "cmd", twin = MsgTwin]
    pub enum Msg {
        /// Client → server: log this text.
        Print {
            /// Matches the reply.
            op: OpId,
            /// What to log.
            text: String,
        },
        /// Client → server: store locally (no replication), replacing any old value.
        Set {
            /// Matches the reply.
            op: OpId,
            /// The key.
            key: String,
            /// The value.
            value: String,
        },
        /// Client → server: the local value of a key.
        Get {
            /// Matches the reply.
            op: OpId,
            /// The key.
            key: String,
        },
        /// Client → server: every key (not value) this server holds.
        QueryAllKeys {
            /// Matches the reply.
            op: OpId,
        },
        /// Server → client: the answer to a local RPC.
        Reply {
            /// The request's op.
            op: OpId,
            /// What happened.
            result: LocalReply,
        },

        /// Server → view leader, every heartbeat period (and at once when rebalancing finishes).
        Heartbeat {
            /// The sender's id for this process lifetime.
            id: ServerId,
            /// Where the sender listens.
            addr: Addr,
            /// The newest epoch the sender knows.
            epoch: Epoch,
            /// The epoch of the newest fully rebalanced view the sender knows.
            stable: Epoch,
            /// The newest epoch for which the sender finished its own part of rebalancing.
            rebalanced: Epoch,
            /// The sender's clock when it sent this; the reply echoes it, so the sender knows
            /// which heartbeat an acceptance is for and extends its lease from then.
            #[serde(deserialize_with = "crate::id::bounded_time")]
            sent: Time,
        },
        /// View leader → server.
        HeartbeatReply {
            /// Whose heartbeat this answers.
            id: ServerId,
            /// The heartbeat's `sent`, echoed.
            #[serde(deserialize_with = "crate::id::bounded_time")]
            sent: Time,
            /// Accepted, denied or told to retry.
            status: HeartbeatStatus,
        },

        /// Client → view leader: the current view.
        QueryServers {
            /// Matches the reply.
            op: OpId,
        },
        /// View leader → client.
        Servers {
            /// The request's op.
            op: OpId,
            /// The current epoch.
            epoch: Epoch,
            /// Every live server, sorted by id.
            servers: Vec<Member>,
            /// Whether rebalancing for this epoch is still under way.
            rebalancing: bool,
            /// While rebalancing, the members of the stable view (the newest whose
            /// rebalancing every member finished): a key whose replicas differ between the two
            /// views is written on both sets. Left out when empty.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            stable: Vec<Member>,
        },
        /// Client (or server) → view leader: take a lock.
        LockGet {
            /// Matches the reply.
            op: OpId,
            /// The lock's name.
            name: String,
            /// Who wants it.
            requester: String,
            /// The asking process's random id, told apart from others of the same requester
            /// name (left out, as by the course's clients: 0).
            #[serde(default, skip_serializing_if = "is_zero")]
            session: u64,
        },
        /// Client (or server) → view leader: give a lock back, or stop waiting for it.
        LockRelease {
            /// Matches the reply.
            op: OpId,
            /// The lock's name.
            name: String,
            /// Who releases it.
            requester: String,
            /// The releasing process's random id: a release it sent before its own later
            /// `lock_get` of this lock is stale, and ignored (left out: 0).
            #[serde(default, skip_serializing_if = "is_zero")]
            session: u64,
        },
        /// View leader → requester.
        LockReply {
            /// The request's op.
            op: OpId,
            /// What happened.
            result: LockAnswer,
        },

        /// Coordinator → participant: phase one of 2PC.
        Prepare {
            /// The transaction.
            tx: TxId,
            /// The epoch the coordinator placed the key in.
            epoch: Epoch,
            /// The server id the coordinator expects at this address.
            server: ServerId,
            /// The key written.
            key: String,
            /// The value written.
            value: String,
            /// Every participant, for the termination protocol.
            participants: Vec<Member>,
            /// What the decision must repeat: only the sender of this prepare decides it.
            secret: TxSecret,
        },
        /// Participant → coordinator: its vote.
        Vote {
            /// The transaction.
            tx: TxId,
            /// The voter.
            server: ServerId,
            /// Yes (with the key's current version) or no (with the reason).
            vote: VoteAnswer,
        },
        /// Coordinator → participant: phase two, commit at this version.
        Commit {
            /// The transaction.
            tx: TxId,
            /// The version the value gets: above every participant's current one.
            #[serde(deserialize_with = "crate::id::bounded_version")]
            version: Version,
            /// The prepare's secret.
            secret: TxSecret,
        },
        /// Coordinator → participant: phase two, abort.
        Abort {
            /// The transaction.
            tx: TxId,
            /// The prepare's secret.
            secret: TxSecret,
        },
        /// Participant → coordinator: the decision is applied.
        Done {
            /// The transaction.
            tx: TxId,
            /// The participant.
            server: ServerId,
            /// Whether it committed (false: aborted).
            committed: bool,
        },
        /// Participant → coordinator and fellow participants: what became of this transaction?
        /// (The cooperative termination protocol, run when the coordinator went silent.)
        DecisionRequest {
            /// The transaction.
            tx: TxId,
            /// The participant asked (none: the coordinator). Another process now at that address
            /// must not answer for it.
            server: Option<ServerId>,
        },
        /// The answer to a decision request.
        DecisionReply {
            /// The transaction.
            tx: TxId,
            /// What the answerer knows.
            state: TxState,
        },

        /// Participant whose decision is late → the other participants (Paxos Commit, phase 1):
        /// promise to accept nothing below `ballot`, and say what you accepted.
        Takeover {
            /// The transaction.
            tx: TxId,
            /// The participant asked; another process at its address does not answer for it.
            server: ServerId,
            /// The taker-over's ballot: above every one it knows of, and never 0 (the
            /// coordinator's).
            #[serde(deserialize_with = "crate::id::bounded_ballot")]
            ballot: u64,
        },
        /// The answer to a takeover: promised, with the proposal accepted so far.
        Promise {
            /// The transaction.
            tx: TxId,
            /// The promising participant.
            server: ServerId,
            /// The ballot promised.
            #[serde(deserialize_with = "crate::id::bounded_ballot")]
            ballot: u64,
            /// What it accepted before, if anything.
            accepted: Option<Proposal>,
        },
        /// A taker-over whose ballot a majority promised → the other participants (phase 2):
        /// accept this outcome.
        Accept {
            /// The transaction.
            tx: TxId,
            /// The participant asked.
            server: ServerId,
            /// The outcome proposed, at the taker-over's ballot.
            proposal: Proposal,
        },
        /// Participant → whoever proposed at `ballot`: accepted. At ballot 0 it answers the
        /// coordinator's `commit`, which in Paxos Commit is the first ballot's proposal.
        Accepted {
            /// The transaction.
            tx: TxId,
            /// The accepting participant.
            server: ServerId,
            /// The ballot accepted.
            #[serde(deserialize_with = "crate::id::bounded_ballot")]
            ballot: u64,
        },

        /// Client → replica: the key's committed value, placed in this epoch.
        #[serde(rename = "getr")]
        GetR {
            /// Matches the reply.
            op: OpId,
            /// The epoch the client placed the key in.
            epoch: Epoch,
            /// The key.
            key: String,
        },
        /// Replica → client.
        #[serde(rename = "getr_reply")]
        GetRReply {
            /// The request's op.
            op: OpId,
            /// The replica.
            server: ServerId,
            /// What it holds.
            result: ReadAnswer,
        },

        /// Server → server during rebalancing: new copies for the receiver.
        Transfer {
            /// The epoch being rebalanced to.
            epoch: Epoch,
            /// The copies.
            items: Vec<Item>,
        },
        /// Receiver → sender: these copies are stored.
        TransferAck {
            /// The epoch of the transfer.
            epoch: Epoch,
            /// The keys stored.
            keys: Vec<String>,
        },

        /// View-leader replica → replica: Raft's messages (elections, the log, snapshots). The
        /// page's simulated replicas pass them in memory, and a real replica's state reaches it
        /// in `replica` records instead, so neither their encoder nor their decoder is in the
        /// wasm (the page is held to 450 KB gzipped).
        #[cfg_attr(target_arch = "wasm32", serde(skip))]
        Raft {
            /// The message (boxed: a snapshot is large next to every other message).
            msg: alloc::boxed::Box<RaftMsg<ViewCommand, ViewState>>,
        },
        /// View-leader replica → client: this replica does not lead; ask `leader`, or another
        /// replica when it knows of none.
        NotLeader {
            /// The request's op.
            op: OpId,
            /// The leader it knows of.
            leader: Option<Addr>,
        },

        /// Any role → peer: the message could not be handled.
        Error {
            /// The op of the offending request, when it had one.
            op: Option<OpId>,
            /// Why, in words.
            reason: String,
        },
    }
}

/// A node's outgoing message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transmit {
    /// Where to.
    pub to: Addr,
    /// What.
    pub msg: Msg,
}

/// The answer to a local key/value RPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LocalReply {
    /// Done (print, set).
    Ok,
    /// The value (get).
    Value {
        /// The value.
        value: String,
    },
    /// No such key (get).
    NotFound {
        /// The key asked for.
        key: String,
    },
    /// The keys held (query_all_keys), sorted.
    Keys {
        /// The keys.
        keys: Vec<String>,
    },
}

/// The view leader's answer to a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HeartbeatStatus {
    /// Accepted. Views travel only when the server's epochs are behind.
    Ok {
        /// The current epoch.
        epoch: Epoch,
        /// The current membership, when the server's epoch differs.
        view: Option<View>,
        /// The newest fully rebalanced view, when the server's differs.
        stable: Option<View>,
    },
    /// This id was declared failed; it will never be accepted again.
    Denied,
    /// A live server already uses this address, or the join is not committed yet; try again
    /// later.
    Retry,
    /// This view-leader replica does not lead: heartbeat `leader` instead, or another replica
    /// when it knows of none.
    NotLeader {
        /// The leader it knows of.
        leader: Option<Addr>,
    },
}

/// The view leader's answer to a lock request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LockAnswer {
    /// The requester holds the lock.
    Granted,
    /// Held by another: the requester is queued at this place (1 = next) and should ask again.
    Retry {
        /// Place in the queue.
        position: usize,
    },
    /// Waiting would close this cycle of requesters (the asker first); not queued.
    Deadlock {
        /// Who waits for whom, starting with the asker.
        cycle: Vec<String>,
    },
    /// Released; the head of the queue, if any, now holds it.
    Released {
        /// The new holder.
        next_holder: Option<String>,
    },
    /// The requester left the lock's queue.
    LeftQueue,
    /// No such lock.
    UnknownLock,
    /// The requester neither holds nor waits for the lock.
    NotHolderOrWaiter,
}

/// A participant's vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "vote", rename_all = "snake_case")]
pub enum VoteAnswer {
    /// Prepared; the key's current version is given so the commit can go above it.
    Yes {
        /// The participant's version of the key (0: absent).
        #[serde(deserialize_with = "crate::id::bounded_version")]
        version: Version,
    },
    /// Not prepared.
    No {
        /// Why.
        reason: NoReason,
    },
}

/// Why a participant voted no.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NoReason {
    /// Another transaction on this key is pending here.
    KeyBusy {
        /// That transaction.
        tx: TxId,
    },
    /// The participant is in another epoch.
    EpochMismatch {
        /// The participant's epoch.
        epoch: Epoch,
    },
    /// The coordinator expected another server id at this address.
    WrongServer {
        /// The id actually here.
        id: ServerId,
    },
    /// This transaction was already aborted here (the termination protocol ruled it out).
    Aborted,
    /// The participant's lease ran out: no heartbeat it sent within the failure timeout was
    /// accepted, so the view leader may have declared it failed.
    Isolated,
    /// The key or the value is larger than the participant keeps.
    TooLarge(TooLarge),
}

/// An outcome proposed in Paxos Commit at a ballot: commit at a version, or abort.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The ballot it was proposed at (0: the coordinator's commit).
    #[serde(deserialize_with = "crate::id::bounded_ballot")]
    pub ballot: u64,
    /// The version to commit at; `null` to abort.
    #[serde(deserialize_with = "crate::id::bounded_optional_version")]
    pub version: Option<Version>,
}

/// What a node knows of a transaction, for the termination protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TxState {
    /// Committed at this version.
    Committed {
        /// The committed version.
        #[serde(deserialize_with = "crate::id::bounded_version")]
        version: Version,
    },
    /// Aborted (or, for a participant that never prepared, now ruled out).
    Aborted,
    /// Prepared and waiting for the decision, like the asker.
    Prepared,
    /// The answerer is not the participant asked (a new process at its address): no news.
    Unknown,
}

/// A replica's answer to `getr`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReadAnswer {
    /// The committed value.
    Value {
        /// The value.
        value: String,
        /// Its version.
        #[serde(deserialize_with = "crate::id::bounded_version")]
        version: Version,
    },
    /// No committed value.
    NotFound,
    /// A write of this key is between the phases here: its outcome is not known yet.
    Pending {
        /// The pending transaction.
        tx: TxId,
    },
    /// This server replicates the key in neither its current nor its stable view (it gave
    /// its copy up once the view became stable): the asker's stable view is older.
    NotReplica,
    /// The replica's lease ran out: it may have been declared failed, so it does not answer.
    Isolated,
    /// The replica is in another epoch.
    WrongEpoch {
        /// The replica's epoch.
        epoch: Epoch,
    },
}

/// One key's copy in a transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Its version.
    #[serde(deserialize_with = "crate::id::bounded_version")]
    pub version: Version,
}

impl Msg {
    /// The command name as on the wire (`cmd`), for logs and diagrams.
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Print { .. } => "print",
            Msg::Set { .. } => "set",
            Msg::Get { .. } => "get",
            Msg::QueryAllKeys { .. } => "query_all_keys",
            Msg::Reply { .. } => "reply",
            Msg::Heartbeat { .. } => "heartbeat",
            Msg::HeartbeatReply { .. } => "heartbeat_reply",
            Msg::QueryServers { .. } => "query_servers",
            Msg::Servers { .. } => "servers",
            Msg::LockGet { .. } => "lock_get",
            Msg::LockRelease { .. } => "lock_release",
            Msg::LockReply { .. } => "lock_reply",
            Msg::Prepare { .. } => "prepare",
            Msg::Vote { .. } => "vote",
            Msg::Commit { .. } => "commit",
            Msg::Abort { .. } => "abort",
            Msg::Done { .. } => "done",
            Msg::DecisionRequest { .. } => "decision_request",
            Msg::DecisionReply { .. } => "decision_reply",
            Msg::Takeover { .. } => "takeover",
            Msg::Promise { .. } => "promise",
            Msg::Accept { .. } => "accept",
            Msg::Accepted { .. } => "accepted",
            Msg::GetR { .. } => "getr",
            Msg::GetRReply { .. } => "getr_reply",
            Msg::Transfer { .. } => "transfer",
            Msg::TransferAck { .. } => "transfer_ack",
            Msg::Raft { .. } => "raft",
            Msg::NotLeader { .. } => "not_leader",
            Msg::Error { .. } => "error",
        }
    }

    /// The transaction secret a message carries, so a shell can hide it from observers.
    pub fn secret(&self) -> Option<&TxSecret> {
        match self {
            Msg::Prepare { secret, .. } | Msg::Commit { secret, .. } | Msg::Abort { secret, .. } => Some(secret),
            _ => None,
        }
    }

    /// The op a request carries, for error replies.
    pub fn op(&self) -> Option<OpId> {
        match self {
            Msg::Print { op, .. }
            | Msg::Set { op, .. }
            | Msg::Get { op, .. }
            | Msg::QueryAllKeys { op }
            | Msg::QueryServers { op }
            | Msg::LockGet { op, .. }
            | Msg::LockRelease { op, .. }
            | Msg::GetR { op, .. } => Some(*op),
            _ => None,
        }
    }
}

/// The fast decoder of `tagged`, on the wire enum.
/// Whether a session is unset (for serde: an unset one is left out).
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use alloc::string::{String, ToString};

    use super::*;
    use crate::tagged::TagFirst;

    fn fast(text: &str) -> Result<Msg, String> {
        serde_json::from_str::<TagFirst<Msg>>(text).map(|m| m.0).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_what_serde_writes_as_serde_does() {
        let messages = [
            Msg::Vote {
                tx: TxId { client: 9, seq: 1 },
                server: ServerId("s1".into()),
                vote: VoteAnswer::No { reason: NoReason::Isolated },
            },
            Msg::QueryAllKeys { op: OpId(4) },
            Msg::GetR { op: OpId(5), epoch: Epoch(2), key: "k".into() },
        ];
        for msg in messages {
            let text = serde_json::to_string(&msg).unwrap();
            assert_eq!(fast(&text), Ok(msg.clone()), "{text}");
            assert_eq!(serde_json::from_str::<Msg>(&text).unwrap(), msg);
        }
    }

    #[test]
    fn refuses_what_only_the_full_decoder_takes() {
        let late = r#"{"op":4,"cmd":"query_all_keys"}"#;
        assert_eq!(fast(late), Err("`cmd` is not the first field at line 1 column 5".to_string()));
        assert_eq!(serde_json::from_str::<Msg>(late).unwrap(), Msg::QueryAllKeys { op: OpId(4) });
        assert!(fast("{}").unwrap_err().starts_with("missing field `cmd`"));
        let unknown = fast(r#"{"cmd":"frobnicate","op":4}"#).unwrap_err();
        assert!(unknown.starts_with("unknown variant `frobnicate`, expected one of `print`"), "{unknown}");
    }
}
