//! What a client's operations give back: the output of a finished one, and the status of an
//! unfinished one for observers.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::id::{Epoch, Member, OpId, ServerId, TxId, Version};
use crate::time::Deadline;

/// What a finished operation produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "output", rename_all = "snake_case")]
pub enum OpOutput {
    /// Done (print, set).
    Done,
    /// A value (get, getr); `getr` also gives its version.
    Value {
        /// The value.
        value: String,
        /// Its version, for `getr`.
        version: Option<Version>,
    },
    /// A server's keys.
    Keys {
        /// The keys.
        keys: Vec<String>,
    },
    /// The view.
    Servers {
        /// The epoch.
        epoch: Epoch,
        /// The servers.
        servers: Vec<Member>,
        /// Whether rebalancing for this epoch is under way.
        rebalancing: bool,
    },
    /// `setr` committed at this version on every replica.
    Written {
        /// The version.
        version: Version,
    },
    /// The lock is held.
    Granted,
    /// The lock was released.
    Released {
        /// Who holds it now.
        next_holder: Option<String>,
    },
    /// Left the lock's queue.
    LeftQueue,
}

/// An unfinished operation of a client, as [`Client::operations`](crate::Client::operations)
/// reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpStatus {
    /// The operation.
    pub op: OpId,
    /// The command, in the course's words (`setr k v`, `lock_get atm`, …).
    pub what: String,
    /// Its attempt, from 1.
    pub attempt: u32,
    /// What it waits for.
    pub stage: Stage,
}

/// What an unfinished operation waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// An answer from the one node asked.
    Asking,
    /// The view, before it can pick replicas.
    NeedView,
    /// The end of a backoff before the next attempt.
    Backoff {
        /// When the next attempt starts, and the backoff drawn for it.
        next_attempt: Deadline,
    },
    /// 2PC phase one: prepares sent, votes arriving.
    Voting {
        /// The transaction.
        tx: TxId,
        /// Its participants.
        participants: Vec<ServerId>,
        /// Those that voted yes so far.
        yes: Vec<ServerId>,
    },
    /// 2PC phase two: decided, waiting for acknowledgements — of a commit from a majority of
    /// the participants, of an abort from all.
    Deciding {
        /// The transaction.
        tx: TxId,
        /// Its participants.
        participants: Vec<ServerId>,
        /// Commit (or abort).
        commit: bool,
        /// Participants yet to acknowledge.
        unacked: Vec<ServerId>,
    },
    /// `getr`: answers from every replica.
    Reading {
        /// The replicas asked.
        replicas: Vec<ServerId>,
        /// Those that answered.
        answered: Vec<ServerId>,
    },
    /// Queued for a lock, asking again periodically.
    LockQueued,
}
