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

/// The trace of a run: its entries (when kept) and its running hash.
#[derive(Clone, Debug)]
pub struct Trace {
    keep: bool,
    entries: Vec<TraceEntry>,
    hasher: Sha256,
    len: u64,
}

impl Trace {
    /// A trace that hashes every entry and keeps them all when `keep` is set.
    pub fn new(keep: bool) -> Self {
        Trace { keep, entries: Vec::new(), hasher: Sha256::new(), len: 0 }
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
    }

    /// The entries so far.
    pub fn entries(&self) -> &[TraceEntry] {
        &self.entries
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
