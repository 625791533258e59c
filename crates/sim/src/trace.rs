//! The trace: every send, delivery, drop, timer, action and role event, in order, with a
//! stable hash. The hash is SHA-256 over each entry's JSON, so the same seed and actions give
//! the same hash on every platform, natively and in the browser.

use ringside_core::{Addr, Event, Msg, Time};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::action::Action;

/// One thing that happened in the simulated world.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// Virtual time.
    pub t: Time,
    /// What happened.
    #[serde(flatten)]
    pub kind: TraceKind,
}

/// The kinds of trace entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceKind {
    /// A node sent a message; it is due at `due` unless dropped.
    Send {
        /// The message's number in this run.
        id: u64,
        /// Sender.
        from: Addr,
        /// Receiver.
        to: Addr,
        /// When it is due.
        due: Time,
        /// The message.
        msg: Msg,
    },
    /// A message arrived and was handled.
    Deliver {
        /// The message's number.
        id: u64,
        /// Sender.
        from: Addr,
        /// Receiver.
        to: Addr,
    },
    /// A message was lost.
    Drop {
        /// The message's number.
        id: u64,
        /// Sender.
        from: Addr,
        /// Receiver.
        to: Addr,
        /// Why: "lost", "partition", "node down".
        reason: String,
    },
    /// A message was duplicated by the network; the copy has its own number.
    Duplicate {
        /// The original's number.
        id: u64,
        /// The copy's number.
        copy: u64,
    },
    /// A node's timer fired.
    Timer {
        /// The node.
        node: Addr,
    },
    /// A scripted or interactive action.
    Action {
        /// The action.
        action: Action,
    },
    /// A role reported an event.
    Event {
        /// The node.
        node: Addr,
        /// The event.
        event: Event,
    },
}

/// The trace of a run: its newest entries (when kept) and its running hash over all of them.
///
/// A long run need not hold every entry: [`Trace::keep_newest`] bounds the entries held in
/// memory, and the oldest are forgotten as new ones arrive. The hash is computed as each entry
/// is appended, so it covers every entry whether or not it is still held; entries keep their
/// numbers (0 for the first of the run), so a reader can ask for those after the last it read.
#[derive(Clone, Debug)]
pub struct Trace {
    keep: bool,
    /// The most entries held at once.
    bound: usize,
    entries: Vec<TraceEntry>,
    hasher: Sha256,
    len: u64,
}

impl Trace {
    /// A trace that hashes every entry and keeps them all when `keep` is set.
    pub fn new(keep: bool) -> Self {
        Trace { keep, bound: usize::MAX, entries: Vec::new(), hasher: Sha256::new(), len: 0 }
    }

    /// From now on holds at most `bound` entries (at least one): when a new entry would pass
    /// it, the older half is forgotten at once, so each entry is moved at most once on average.
    pub fn keep_newest(&mut self, bound: usize) {
        self.bound = bound.max(1);
        self.forget_old();
    }

    /// Whether entries are recorded at all (a trace that is off costs nothing).
    pub fn enabled(&self) -> bool {
        self.keep
    }

    /// Appends an entry.
    pub fn push(&mut self, entry: TraceEntry) {
        if !self.keep {
            return;
        }
        // Serializing our own plain data types cannot fail.
        let line = serde_json::to_vec(&entry).unwrap_or_default();
        self.hasher.update(&line);
        self.hasher.update(b"\n");
        self.len += 1;
        self.entries.push(entry);
        self.forget_old();
    }

    fn forget_old(&mut self) {
        if self.entries.len() > self.bound {
            let held = self.bound.div_ceil(2);
            self.entries.drain(..self.entries.len() - held);
        }
    }

    /// The entries held: every one, unless [`Trace::keep_newest`] bounded them.
    pub fn entries(&self) -> &[TraceEntry] {
        &self.entries
    }

    /// The number of the first entry held (how many were forgotten before it).
    pub fn first(&self) -> u64 {
        self.len - self.entries.len() as u64
    }

    /// The entries numbered `n` and later that are still held.
    pub fn since(&self, n: u64) -> &[TraceEntry] {
        let skip = n.saturating_sub(self.first()).min(self.entries.len() as u64);
        &self.entries[skip as usize..]
    }

    /// The hash of everything so far, as 64 hex digits.
    pub fn hash(&self) -> String {
        let digest = self.hasher.clone().finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// How many entries were hashed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(t: u64) -> TraceEntry {
        TraceEntry { t: Time(t), kind: TraceKind::Timer { node: Addr::from("s1") } }
    }

    #[test]
    fn a_bounded_trace_forgets_old_entries_but_hashes_them_all() {
        let (mut all, mut bounded) = (Trace::new(true), Trace::new(true));
        bounded.keep_newest(10);
        for t in 0..1_000 {
            all.push(timer(t));
            bounded.push(timer(t));
            assert!(bounded.entries().len() <= 10);
            assert_eq!(bounded.hash(), all.hash());
        }
        assert_eq!(bounded.len(), 1_000);
        let held = bounded.entries().len() as u64;
        assert!(held >= 5, "at least half the bound stays: {held}");
        assert_eq!(bounded.first(), 1_000 - held);
        assert_eq!(bounded.entries(), &all.entries()[(1_000 - held) as usize..]);
    }

    #[test]
    fn since_gives_the_entries_after_a_number_that_are_still_held() {
        let mut trace = Trace::new(true);
        trace.keep_newest(4);
        for t in 0..9 {
            trace.push(timer(t));
        }
        // The bound of 4 was passed at the fifth entry (3 and 4 were left) and at the eighth
        // (6 and 7 were left): 6, 7 and 8 are held.
        assert_eq!(trace.first(), 6);
        assert_eq!(trace.entries().len(), 3);
        assert_eq!(trace.since(8), &[timer(8)]);
        assert_eq!(trace.since(0), trace.entries(), "forgotten entries are skipped");
        assert!(trace.since(9).is_empty());
        assert!(trace.since(100).is_empty());
    }
}
