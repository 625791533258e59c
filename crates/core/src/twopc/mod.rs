//! Two-phase commit, one file per side:
//!
//! - `coordinator`: the client's side — the transactions of its `setr`s, their votes, the
//!   decision, and telling it to every participant;
//! - `participant`: the server's side — the vote, the prepared (READY) state, applying the
//!   decision, and the classic termination protocol when the decision is late;
//! - `paxos`: the server's side of Paxos Commit, which decides a transaction whose coordinator
//!   went silent instead of blocking it.
//!
//! The messages the sides exchange are in [`crate::msg`] (`Prepare`, `Vote`, `Commit`,
//! `Abort`, `Done`, `DecisionRequest`, `DecisionReply`, and Paxos Commit's `Takeover`,
//! `Promise`, `Accept`, `Accepted`).

use serde::{Deserialize, Serialize};

pub(crate) mod coordinator;
pub(crate) mod participant;
pub(crate) mod paxos;

pub use participant::{Pending, PendingPhase};

/// How a server's participants reach the decision of a transaction whose coordinator went
/// silent (see `docs/architecture.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitProtocol {
    /// The course's two-phase commit: a participant left waiting asks the coordinator and
    /// the others, and blocks when every one that answers is prepared too.
    Classic,
    /// Paxos Commit: the coordinator's commit is the first ballot of a Paxos instance whose
    /// acceptors are the participants, and a participant left waiting takes over with a
    /// higher ballot. The transaction is decided while a majority of its participants live.
    #[default]
    Paxos,
}

impl CommitProtocol {
    /// The name used by flags and links.
    pub fn name(self) -> &'static str {
        match self {
            CommitProtocol::Classic => "classic",
            CommitProtocol::Paxos => "paxos",
        }
    }

    /// Reads a name given by [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<CommitProtocol> {
        match name {
            "classic" => Some(CommitProtocol::Classic),
            "paxos" => Some(CommitProtocol::Paxos),
            _ => None,
        }
    }
}
