//! What replicas say to each other, and what a replica hands its owner to make durable.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::log::Entry;
use super::{Index, Term};
use crate::id::MAX_NUMBER;
use crate::time::Time;

/// A message between view-leader replicas (Raft's RPCs, each answer a message of its own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rpc")]
pub enum RaftMsg<C, S> {
    /// A candidate asks for a vote in `term`; its log ends at (`last_index`, `last_term`).
    RequestVote {
        /// The candidate's term.
        term: Term,
        /// Its log's last index.
        last_index: Index,
        /// The term of that entry.
        last_term: Term,
    },
    /// The answer to a `request_vote`.
    Vote {
        /// The voter's term.
        term: Term,
        /// Whether it voted for the candidate.
        granted: bool,
    },
    /// The leader's entries after (`prev_index`, `prev_term`), and how far it knows the log is
    /// committed; with no entries, a heartbeat.
    Append {
        /// The leader's term.
        term: Term,
        /// The index just before the first entry sent.
        prev_index: Index,
        /// The term of that entry.
        prev_term: Term,
        /// The entries, in order.
        entries: Vec<Entry<C>>,
        /// The leader's commit index.
        commit: Index,
        /// When the leader sent it, by its clock: the answer echoes it, and the leader's
        /// lease runs from it.
        sent: Time,
    },
    /// A follower's log now matches the leader's up to `index`.
    Appended {
        /// The follower's term.
        term: Term,
        /// The last index known to match.
        index: Index,
        /// The `sent` of the append (or snapshot) answered.
        sent: Time,
    },
    /// A follower's log has no entry at `rejected` with the term the leader named; its log
    /// ends at `last`.
    Refused {
        /// The follower's term.
        term: Term,
        /// The `prev_index` it could not match.
        rejected: Index,
        /// Its last index, where the leader should look next.
        last: Index,
        /// The `sent` of the append answered.
        sent: Time,
    },
    /// The leader's snapshot, for a follower that needs entries the leader no longer keeps.
    InstallSnapshot {
        /// The leader's term.
        term: Term,
        /// The snapshot.
        snapshot: Snapshot<S>,
        /// When the leader sent it, by its clock.
        sent: Time,
    },
}

impl<C, S> RaftMsg<C, S> {
    /// The sender's term.
    pub fn term(&self) -> Term {
        match self {
            RaftMsg::RequestVote { term, .. }
            | RaftMsg::Vote { term, .. }
            | RaftMsg::Append { term, .. }
            | RaftMsg::Appended { term, .. }
            | RaftMsg::Refused { term, .. }
            | RaftMsg::InstallSnapshot { term, .. } => *term,
        }
    }

    /// The message's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            RaftMsg::RequestVote { .. } => "request_vote",
            RaftMsg::Vote { .. } => "vote",
            RaftMsg::Append { .. } => "append",
            RaftMsg::Appended { .. } => "appended",
            RaftMsg::Refused { .. } => "refused",
            RaftMsg::InstallSnapshot { .. } => "install_snapshot",
        }
    }

    /// Why a peer's message cannot be taken: a term or index past what a frame may carry (so
    /// no arithmetic on it can overflow), or more entries than a leader sends at once.
    pub fn check(&self, max_entries: usize) -> Result<(), String> {
        let mut numbers = Vec::new();
        match self {
            RaftMsg::RequestVote { term, last_index, last_term } => {
                numbers.extend([("term", term.0), ("last_index", *last_index), ("last_term", last_term.0)]);
            }
            RaftMsg::Vote { term, .. } => numbers.push(("term", term.0)),
            RaftMsg::Append { term, prev_index, prev_term, entries, commit, sent } => {
                numbers.push(("sent", sent.0));
                if entries.len() > max_entries {
                    return Err(format!("an append carries at most {max_entries} entries, not {}", entries.len()));
                }
                numbers.extend([("term", term.0), ("prev_index", *prev_index), ("prev_term", prev_term.0)]);
                numbers.push(("commit", *commit));
                numbers.extend(entries.iter().map(|e| ("an entry's term", e.term.0)));
                // The last entry's index must fit too.
                numbers.push(("prev_index + entries", prev_index.saturating_add(entries.len() as u64)));
                if entries.iter().any(|e| e.term > *term) {
                    return Err(String::from("an append carries an entry from a term after its own"));
                }
            }
            RaftMsg::Appended { term, index, sent } => {
                numbers.extend([("term", term.0), ("index", *index), ("sent", sent.0)]);
            }
            RaftMsg::Refused { term, rejected, last, sent } => {
                numbers.extend([("term", term.0), ("rejected", *rejected), ("last", *last), ("sent", sent.0)]);
            }
            RaftMsg::InstallSnapshot { term, snapshot, sent } => {
                numbers.push(("sent", sent.0));
                numbers.extend([
                    ("term", term.0),
                    ("snapshot index", snapshot.index),
                    ("snapshot term", snapshot.term.0),
                ]);
            }
        }
        match numbers.into_iter().find(|(_, n)| *n > MAX_NUMBER) {
            Some((what, n)) => Err(format!("{what} {n} is past the largest number a frame may carry ({MAX_NUMBER})")),
            None => Ok(()),
        }
    }
}

/// The replicated state as of `index`, whose entry had `term`: what replaces the log up to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot<S> {
    /// The last index it covers.
    pub index: Index,
    /// The term of that entry.
    pub term: Term,
    /// The owner's state after applying every entry up to `index`.
    pub state: S,
}

/// A replica's term and its vote in that term: what it must never forget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// The newest term it knows.
    pub term: Term,
    /// The replica it voted for in that term, by place.
    pub vote: Option<usize>,
}

/// One change to a replica's disk, applied in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write<C, S> {
    /// Its term or vote changed.
    State(HardState),
    /// An entry at `index`: it replaces the stored entry there and drops every one after it.
    Entry(Index, Entry<C>),
    /// A snapshot replaces every stored entry up to its index; the stored entries after it stay
    /// only if `keep_after` (they follow on from it), otherwise none does.
    Snapshot {
        /// The snapshot.
        snapshot: Snapshot<S>,
        /// Whether the entries after its index stay.
        keep_after: bool,
    },
}

/// What the owner applies to its state, in log order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Apply<C, S> {
    /// A committed entry (`cmd` is `None` for a leader's no-op).
    Entry {
        /// Its index.
        index: Index,
        /// Its term: with the index, it tells a proposal that was committed from one that was
        /// replaced by another leader's entry.
        term: Term,
        /// What it does.
        cmd: Option<C>,
    },
    /// The state from a leader's snapshot replaces the owner's.
    Snapshot(Snapshot<S>),
}

/// Everything a replica produced since its owner last asked, in the order the owner must act
/// on it: make `writes` durable (fsync), then send `messages`, then apply `apply`. A vote or an
/// acknowledgement that went out before its write reached the disk could be forgotten by a
/// crash and given twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready<C, S> {
    /// What to make durable first.
    pub writes: Vec<Write<C, S>>,
    /// Then what to send, to replicas by place.
    pub messages: Vec<(usize, RaftMsg<C, S>)>,
    /// Then what to apply.
    pub apply: Vec<Apply<C, S>>,
}

impl<C, S> Default for Ready<C, S> {
    fn default() -> Self {
        Ready { writes: Vec::new(), messages: Vec::new(), apply: Vec::new() }
    }
}

impl<C, S> Ready<C, S> {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.messages.is_empty() && self.apply.is_empty()
    }
}

/// What a replica finds on its disk when it starts: what its writes left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Durable<C, S> {
    /// Its term and vote.
    pub state: HardState,
    /// Its last snapshot, if it took one.
    pub snapshot: Option<Snapshot<S>>,
    /// The entries after the snapshot (or from index 1), in order.
    pub entries: Vec<Entry<C>>,
}

impl<C, S> Default for Durable<C, S> {
    fn default() -> Self {
        Durable { state: HardState::default(), snapshot: None, entries: Vec::new() }
    }
}

impl<C: Clone, S: Clone> Durable<C, S> {
    /// Applies `write` as a disk would: what a replica that restarts from this will find.
    pub fn write(&mut self, write: &Write<C, S>) {
        let base = self.snapshot.as_ref().map_or(0, |s| s.index);
        match write {
            Write::State(state) => self.state = *state,
            Write::Entry(index, entry) => {
                let keep = index.saturating_sub(base + 1) as usize;
                self.entries.truncate(keep);
                self.entries.push(entry.clone());
            }
            Write::Snapshot { snapshot, keep_after } => {
                let drop = snapshot.index.saturating_sub(base) as usize;
                if *keep_after && drop <= self.entries.len() {
                    self.entries.drain(..drop);
                } else {
                    self.entries.clear();
                }
                self.snapshot = Some(snapshot.clone());
            }
        }
    }
}
