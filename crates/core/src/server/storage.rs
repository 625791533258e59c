//! The bucket: versioned key/value pairs, and the local (unreplicated) RPCs on it.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::id::{next_version, Epoch, Version, MAX_NUMBER};
use crate::msg::LocalReply;
use crate::ring::position;

/// One stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The value.
    pub value: String,
    /// Its version (higher is newer).
    pub version: Version,
    /// The key's ring position, kept to avoid hashing the key again on every view change.
    pub pos: u64,
    /// The epoch this copy was placed for. A copy sent for an epoch this server has not
    /// learned yet must survive until it has: under its older view it looks like a stray.
    pub placed: Epoch,
}

/// A server's stored values, by key.
#[derive(Clone, Debug, Default)]
pub(crate) struct Storage {
    bucket: BTreeMap<String, Entry>,
}

impl Storage {
    /// Every entry, by key.
    pub(crate) fn bucket(&self) -> &BTreeMap<String, Entry> {
        &self.bucket
    }

    /// The key's entry.
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.bucket.get(key)
    }

    /// The key's stored version; 0 when it has none.
    pub(crate) fn version(&self, key: &str) -> Version {
        self.bucket.get(key).map_or(0, |e| e.version)
    }

    /// Stores `value` at `version` unless the stored copy is as new or newer; returns whether
    /// it was stored.
    pub(crate) fn store_if_newer(&mut self, key: &str, value: String, version: Version, placed: Epoch) -> bool {
        let newer = self.bucket.get(key).is_none_or(|e| e.version < version);
        if newer {
            self.bucket.insert(String::from(key), Entry { value, version, pos: position(key), placed });
        }
        newer
    }

    /// Keeps only the entries `keep` accepts; returns how many were dropped.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&String, &mut Entry) -> bool) -> usize {
        let before = self.bucket.len();
        self.bucket.retain(keep);
        before - self.bucket.len()
    }

    // ---- local RPCs

    /// `set`: replaces the value, one version up.
    pub(crate) fn set(&mut self, key: String, value: String, placed: Epoch) -> LocalReply {
        let pos = position(&key);
        // Past the largest version a local set keeps it: it never wraps to 0.
        let version = next_version(self.version(&key)).unwrap_or(MAX_NUMBER);
        self.bucket.insert(key, Entry { value, version, pos, placed });
        LocalReply::Ok
    }

    /// `get`: the value, whatever its version.
    pub(crate) fn get_local(&self, key: String) -> LocalReply {
        match self.bucket.get(&key) {
            Some(e) => LocalReply::Value { value: e.value.clone() },
            None => LocalReply::NotFound { key },
        }
    }

    /// `query_all_keys`: every stored key, in order.
    pub(crate) fn keys(&self) -> LocalReply {
        let keys: Vec<String> = self.bucket.keys().cloned().collect();
        LocalReply::Keys { keys }
    }
}
