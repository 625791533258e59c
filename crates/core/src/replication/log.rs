//! A replica's log: the entries after its last snapshot, addressed by their index in the whole
//! history (the first entry ever is index 1; index 0, term 0 is the empty history).

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::{Index, Term};

/// One entry: the term of the leader that appended it, and its command (`None` is the no-op a
/// new leader appends, so that it can commit what earlier terms left).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<C> {
    /// The term it was appended in.
    pub term: Term,
    /// What it does to the replicated state; `None` for a leader's first entry.
    pub cmd: Option<C>,
}

/// The entries after `base`, the last index a snapshot covers.
#[derive(Clone, Debug)]
pub(crate) struct Log<C> {
    base: Index,
    base_term: Term,
    entries: Vec<Entry<C>>,
}

impl<C: Clone> Log<C> {
    pub(crate) fn new(base: Index, base_term: Term, entries: Vec<Entry<C>>) -> Self {
        Log { base, base_term, entries }
    }

    /// The last index a snapshot covers (entries at or below it are gone).
    pub(crate) fn base(&self) -> Index {
        self.base
    }

    pub(crate) fn last_index(&self) -> Index {
        self.base + self.entries.len() as u64
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.last().map_or(self.base_term, |e| e.term)
    }

    /// The term of the entry at `index`: known for the snapshot's last index and every entry
    /// after it, `None` below the snapshot or past the end.
    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        if index == self.base {
            return Some(self.base_term);
        }
        self.get(index).map(|e| e.term)
    }

    pub(crate) fn get(&self, index: Index) -> Option<&Entry<C>> {
        let offset = index.checked_sub(self.base + 1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// Up to `max` entries from `from` on (`from` just past the snapshot or later).
    pub(crate) fn slice(&self, from: Index, max: usize) -> Vec<Entry<C>> {
        let start = from.saturating_sub(self.base + 1) as usize;
        self.entries.iter().skip(start).take(max).cloned().collect()
    }

    pub(crate) fn push(&mut self, entry: Entry<C>) {
        self.entries.push(entry);
    }

    /// Drops the entry at `index` and every one after it.
    pub(crate) fn truncate_from(&mut self, index: Index) {
        let keep = index.saturating_sub(self.base + 1) as usize;
        self.entries.truncate(keep);
    }

    /// Forgets every entry up to `index`, now covered by a snapshot whose last entry had `term`;
    /// entries after it stay when they follow on from it, otherwise the log starts empty there.
    pub(crate) fn compact(&mut self, index: Index, term: Term) {
        if self.term(index) == Some(term) && index <= self.last_index() {
            let drop = (index - self.base) as usize;
            self.entries.drain(..drop);
        } else {
            self.entries.clear();
        }
        self.base = index;
        self.base_term = term;
    }

    /// Whether a log ending at (`index`, `term`) is at least as up to date as this one (Raft
    /// §5.4.1: the later last term wins, then the longer log).
    pub(crate) fn behind_or_equal(&self, index: Index, term: Term) -> bool {
        term > self.last_term() || (term == self.last_term() && index >= self.last_index())
    }
}
