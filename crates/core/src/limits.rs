//! How much a peer may ask a node to keep: the size of a key, a value and a lock's names, and
//! how many locks and waiters the view leader holds. Frames are bounded by the shell; these
//! bound what outlives a frame. A request over a limit is refused with a reason and changes
//! nothing.

use alloc::format;
use alloc::string::String;
use serde::{Deserialize, Serialize};

/// The limits a node enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest key (bytes of UTF-8).
    pub key_bytes: usize,
    /// Largest value (bytes of UTF-8).
    pub value_bytes: usize,
    /// Largest lock name, and largest requester name (bytes of UTF-8).
    pub lock_name_bytes: usize,
    /// Most locks the view leader holds at once.
    pub locks: usize,
    /// Most requesters waiting in all the view leader's lock queues together.
    pub waiters: usize,
}

impl Default for Limits {
    /// 1 KiB keys, 64 KiB values, 256-byte lock names, 10,000 locks and 10,000 waiters.
    fn default() -> Self {
        Limits { key_bytes: 1024, value_bytes: 64 * 1024, lock_name_bytes: 256, locks: 10_000, waiters: 10_000 }
    }
}

/// What was too large, as a vote or an error says it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TooLarge {
    /// `key`, `value`, `lock name` or `requester`.
    pub what: String,
    /// Its size (bytes).
    pub bytes: u64,
    /// The most allowed (bytes).
    pub limit: u64,
}

impl TooLarge {
    /// The refusal's words.
    pub fn describe(&self) -> String {
        format!("the {} is {} bytes: at most {} are kept", self.what, self.bytes, self.limit)
    }
}

impl Limits {
    /// Whether a key and a value may be stored.
    pub fn entry(&self, key: &str, value: &str) -> Result<(), TooLarge> {
        check("key", key, self.key_bytes)?;
        check("value", value, self.value_bytes)
    }

    /// Whether a lock and its requester may be named so.
    pub fn lock(&self, name: &str, requester: &str) -> Result<(), TooLarge> {
        check("lock name", name, self.lock_name_bytes)?;
        check("requester", requester, self.lock_name_bytes)
    }
}

fn check(what: &str, text: &str, limit: usize) -> Result<(), TooLarge> {
    if text.len() <= limit {
        return Ok(());
    }
    Err(TooLarge { what: what.into(), bytes: text.len() as u64, limit: limit as u64 })
}
