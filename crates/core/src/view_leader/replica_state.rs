//! One view-leader replica's Raft state as an observer sees it: what the page's inspector shows,
//! for a simulated replica and for a real one (whose node streams it to its watchers whenever it
//! changes).

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::{ViewCommand, ViewLeader};
use crate::id::Addr;
use crate::replication::{majority_of, Index, Role, Term};
use crate::time::Time;

/// The newest log entries a [`ReplicaState`] carries.
pub const ENTRIES_SHOWN: usize = 8;

/// A replica's role, term, vote, leader, commit point and newest log entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaState {
    /// Follower, candidate or leader.
    pub role: Role,
    /// Whether it leads and a majority answered it within an election timeout: it answers
    /// view and lock commands.
    pub serving: bool,
    /// Its current term.
    pub term: Term,
    /// The replica it voted for in that term.
    pub vote: Option<Addr>,
    /// The leader it knows of in that term (itself, when it leads).
    pub leader: Option<Addr>,
    /// Its place in the replica list, from 0.
    pub me: usize,
    /// How many replicas there are.
    pub replicas: usize,
    /// The last index known committed.
    pub commit: Index,
    /// Its log's last index.
    pub last: Index,
    /// The last index its snapshot covers (0: none yet).
    pub snapshot: Index,
    /// The newest entries, oldest first, at most [`ENTRIES_SHOWN`].
    pub entries: Vec<ShownEntry>,
}

/// A log entry with its index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownEntry {
    /// Its place in the log.
    pub index: Index,
    /// The term it was appended in.
    pub term: Term,
    /// What it does; `None` for the no-op a new leader appends.
    pub cmd: Option<ViewCommand>,
}

impl ReplicaState {
    /// How many replicas make a majority.
    pub fn majority(&self) -> usize {
        majority_of(self.replicas)
    }

    /// Whether the entry at `index` is committed.
    pub fn committed(&self, index: Index) -> bool {
        index <= self.commit
    }
}

impl ViewLeader {
    /// This replica's Raft state at `now`, unless `shown` still describes it; `None` too for a
    /// lone view leader. What an observer is sent on every turn, so a state unchanged costs a
    /// few comparisons and no allocation.
    pub fn replica_state_since(&self, now: Time, shown: Option<&ReplicaState>) -> Option<ReplicaState> {
        let (r, set) = (self.replica()?, self.replica_set()?);
        let place = |i: Option<usize>| i.and_then(|i| set.replicas.get(i));
        // Two logs with an entry of the same index and term hold the same entries up to it
        // (Raft's log matching), so the newest entry stands for the ones shown.
        let newest = |s: &ReplicaState| s.entries.last().map(|e| (e.index, e.term));
        let unchanged = shown.is_some_and(|s| {
            s.role == r.role()
                && s.serving == r.serving_at(now)
                && s.term == r.term()
                && s.vote.as_ref() == place(r.vote())
                && s.leader.as_ref() == place(r.leader())
                && (s.commit, s.last, s.snapshot) == (r.commit(), r.last_index(), r.snapshot_index())
                && newest(s) == r.entry(r.last_index()).map(|e| (r.last_index(), e.term))
        });
        if unchanged {
            None
        } else {
            self.replica_state(now)
        }
    }

    /// This replica's Raft state at `now`; `None` for a lone view leader.
    pub fn replica_state(&self, now: Time) -> Option<ReplicaState> {
        let (r, set) = (self.replica()?, self.replica_set()?);
        let place = |i: usize| set.replicas.get(i).cloned();
        let kept = r.last_index() - r.snapshot_index();
        let older = usize::try_from(kept).unwrap_or(usize::MAX).saturating_sub(ENTRIES_SHOWN);
        Some(ReplicaState {
            role: r.role(),
            serving: r.serving_at(now),
            term: r.term(),
            vote: r.vote().and_then(place),
            leader: r.leader().and_then(place),
            me: set.me,
            replicas: set.replicas.len(),
            commit: r.commit(),
            last: r.last_index(),
            snapshot: r.snapshot_index(),
            entries: r
                .entries()
                .skip(older)
                .map(|(index, e)| ShownEntry { index, term: e.term, cmd: e.cmd.clone() })
                .collect(),
        })
    }
}
