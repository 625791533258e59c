//! Requests naming an epoch this server has not learned yet, held for its view to catch up.
//!
//! A client learns a new view from the view leader as soon as it forms; a server learns it
//! from the reply to its next heartbeat, up to a period later. A prepare or a read sent in
//! between names an epoch ahead of the server's, and refusing it would cost the client a
//! failed attempt and a backoff. Instead the server heartbeats at once and answers what it
//! holds when a reply to a heartbeat sent after the request has come, or after a heartbeat
//! period without one: then as usual, with a vote or an answer at its own epoch.
//!
//! What is held is bounded in count and in bytes; a request beyond either is answered at once.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use crate::id::{Addr, Epoch, OpId, ServerId};
use crate::time::Time;
use crate::twopc::Pending;

/// Requests held at most at once.
const MOST_HELD: usize = 1_024;
/// Bytes of keys and values held at most at once.
const MOST_HELD_BYTES: usize = 4 << 20;

/// A request held, and since when.
#[derive(Clone, Debug)]
pub(crate) struct Held {
    /// When it arrived.
    pub(crate) since: Time,
    /// Who sent it.
    pub(crate) from: Addr,
    /// What it asks.
    pub(crate) ask: Ask,
}

/// What a held request asks.
#[derive(Clone, Debug)]
pub(crate) enum Ask {
    /// A prepare, for the server it expected at this address (boxed: it is the large one).
    Prepare { pending: Box<Pending>, expected: ServerId },
    /// A `getr`.
    Read { op: OpId, epoch: Epoch, key: String },
}

impl Held {
    /// The epoch it names.
    fn epoch(&self) -> Epoch {
        match &self.ask {
            Ask::Prepare { pending, .. } => pending.epoch,
            Ask::Read { epoch, .. } => *epoch,
        }
    }

    fn bytes(&self) -> usize {
        match &self.ask {
            Ask::Prepare { pending, .. } => pending.key.len() + pending.value.len() + 64 * pending.participants.len(),
            Ask::Read { key, .. } => key.len(),
        }
    }
}

/// The held requests.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeldRequests {
    held: Vec<Held>,
    bytes: usize,
}

impl HeldRequests {
    /// Holds `request`, or hands it back when there is no room for it.
    pub(crate) fn hold(&mut self, request: Held) -> Result<(), Held> {
        let bytes = request.bytes();
        if self.held.len() >= MOST_HELD || self.bytes + bytes > MOST_HELD_BYTES {
            return Err(request);
        }
        self.bytes += bytes;
        self.held.push(request);
        Ok(())
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Takes out the requests that arrived at or before `at`, and those whose epoch the server
    /// knows now (`known`), oldest first.
    pub(crate) fn take_until(&mut self, at: Time, known: Epoch) -> Vec<Held> {
        let (due, kept): (Vec<Held>, Vec<Held>) =
            core::mem::take(&mut self.held).into_iter().partition(|h| h.since <= at || h.epoch() <= known);
        self.held = kept;
        self.bytes = self.held.iter().map(Held::bytes).sum();
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(since: u64, key: &str) -> Held {
        let ask = Ask::Read { op: OpId(1), epoch: Epoch(2), key: key.into() };
        Held { since: Time(since), from: Addr("c1".into()), ask }
    }

    #[test]
    fn holds_until_full_in_count_then_hands_back() {
        let mut held = HeldRequests::default();
        for n in 0..MOST_HELD {
            assert!(held.hold(read(n as u64, "k")).is_ok());
        }
        assert!(held.hold(read(0, "k")).is_err());
        assert_eq!(held.take_until(Time(9), Epoch(1)).len(), 10);
        // Known epochs come out whenever they arrived.
        assert_eq!(held.take_until(Time(0), Epoch(2)).len(), MOST_HELD - 10);
        assert!(held.hold(read(0, "k")).is_ok());
    }

    #[test]
    fn holds_until_full_in_bytes_then_hands_back() {
        let mut held = HeldRequests::default();
        let big = "k".repeat(MOST_HELD_BYTES / 2);
        assert!(held.hold(read(1, &big)).is_ok());
        assert!(held.hold(read(2, &big)).is_ok());
        assert!(held.hold(read(3, "k")).is_err());
        // Taking the first out frees its bytes.
        assert_eq!(held.take_until(Time(1), Epoch(1)).len(), 1);
        assert!(held.hold(read(3, "k")).is_ok());
        assert!(!held.is_empty());
    }
}
