//! Errors: local misuse of a role's commands, and why an operation failed.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use crate::id::{Addr, TxId, Version};
use crate::limits::TooLarge;

/// A command the client refused before sending anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// Keys must not be empty.
    EmptyKey,
    /// Lock names must not be empty.
    EmptyLockName,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::EmptyKey => f.write_str("the key must not be empty"),
            ClientError::EmptyLockName => f.write_str("the lock name must not be empty"),
        }
    }
}

impl core::error::Error for ClientError {}

/// Why an operation failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum OpError {
    /// No committed value for the key.
    NotFound {
        /// The key.
        key: String,
    },
    /// The view has no servers, so nothing can be stored.
    NoServers,
    /// Another transaction on the key was pending: at most one concurrent write wins.
    Conflict {
        /// The transaction that held the key.
        tx: TxId,
    },
    /// Retried through view changes up to the limit without success.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed.
        reason: String,
    },
    /// Waiting for the lock would deadlock.
    Deadlock {
        /// The cycle of requesters, this one first.
        cycle: Vec<String>,
    },
    /// No such lock.
    UnknownLock,
    /// Not the lock's holder nor one of its waiters.
    NotHolderOrWaiter,
    /// The peer did not answer in time.
    Timeout {
        /// Who was silent.
        peer: Addr,
    },
    /// No view-leader replica answered as the leader, each asked in turn: fewer than a
    /// majority of them may be up, and without a majority none is elected.
    NoLeader {
        /// How many replicas the list has.
        replicas: usize,
    },
    /// The key's replicas hold the largest version there is: no write can go above it.
    VersionsUsedUp {
        /// The key.
        key: String,
    },
    /// The key or the value is larger than the replicas keep.
    TooLarge(TooLarge),
    /// `setr` decided to commit and sent the decision, but fewer than a majority of the replicas
    /// said they applied it before the resends ran out: the write may have been applied or not.
    Unconfirmed {
        /// The transaction.
        tx: TxId,
        /// The version it commits at where it is applied.
        version: Version,
    },
    /// The peer answered with an error.
    Remote {
        /// Its reason.
        reason: String,
    },
}

// Its words are in `describe`, with the other words people read.
impl core::error::Error for OpError {}
