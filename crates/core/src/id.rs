//! Names of things: servers, addresses, epochs, transactions, operations.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// A server's identity for one process lifetime: a restarted process picks a new one, and the
/// view leader never accepts a failed id again. Its ring position is the SHA-256 of this text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerId(pub String);

impl ServerId {
    /// A fresh random id: eight hex digits, short enough to read in a log or on the ring.
    pub fn random(rng: &mut Rng) -> Self {
        ServerId(alloc::format!("{:08x}", rng.next_u64() >> 32))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ServerId {
    fn from(s: &str) -> Self {
        ServerId(s.into())
    }
}

/// Where a node can be reached: `host:port` natively, a node name in the simulator. The core
/// treats it as an opaque label that the shell maps to a connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Addr(pub String);

impl Addr {
    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Addr {
    fn from(s: &str) -> Self {
        Addr(s.into())
    }
}

/// The view's version: 0 before any server joined, +1 per join and per failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A client's handle on one operation it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpId(pub u64);

/// A two-phase-commit transaction: unique across clients because it carries the coordinator's
/// random id, and across one client's attempts by the sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxId {
    /// The coordinating client's random id.
    pub client: u64,
    /// The client's transaction counter.
    pub seq: u64,
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{:04x}.{}", self.client & 0xffff, self.seq)
    }
}

/// A key's version: every committed write gets one larger than any replica had, so the highest
/// version is the latest value, and a late copy never overwrites a newer one.
pub type Version = u64;

/// A server in a view.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Member {
    /// Its id (and ring identity).
    pub id: ServerId,
    /// Where to reach it.
    pub addr: Addr,
}

/// A numbered set of live servers, sorted by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// The epoch this membership belongs to.
    pub epoch: Epoch,
    /// The servers, sorted by id.
    pub members: Vec<Member>,
}

impl View {
    /// The member with this id.
    pub fn member(&self, id: &ServerId) -> Option<&Member> {
        self.members.binary_search_by(|m| m.id.cmp(id)).ok().map(|i| &self.members[i])
    }

    /// Whether `id` is in the view.
    pub fn contains(&self, id: &ServerId) -> bool {
        self.member(id).is_some()
    }
}
