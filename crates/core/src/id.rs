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

/// The largest epoch or version a frame may carry: 2^53 − 1, the largest integer every JSON
/// reader (a browser's among them) holds exactly. A larger one is refused as the frame is read,
/// so no peer can push a counter to where adding one wraps it to 0.
pub const MAX_NUMBER: u64 = (1 << 53) - 1;

/// Reads a number from the wire, refusing one above [`MAX_NUMBER`].
fn bounded<'de, D: serde::Deserializer<'de>>(d: D, what: &str) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n > MAX_NUMBER {
        return Err(serde::de::Error::custom(format_args!("{what} {n} is out of range: at most {MAX_NUMBER}")));
    }
    Ok(n)
}

/// Reads a [`Version`] from the wire (for `#[serde(deserialize_with)]`).
pub(crate) fn bounded_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Version, D::Error> {
    bounded(d, "version")
}

/// Reads a Paxos Commit ballot from the wire (for `#[serde(deserialize_with)]`).
pub(crate) fn bounded_ballot<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    bounded(d, "ballot")
}

/// Reads an optional [`Version`] from the wire (for `#[serde(deserialize_with)]`).
pub(crate) fn bounded_optional_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Version>, D::Error> {
    match Option::<u64>::deserialize(d)? {
        Some(n) if n > MAX_NUMBER => {
            Err(serde::de::Error::custom(format_args!("version {n} is out of range: at most {MAX_NUMBER}")))
        }
        v => Ok(v),
    }
}

/// Reads a [`Time`](crate::time::Time) from the wire (for `#[serde(deserialize_with)]`).
pub(crate) fn bounded_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<crate::time::Time, D::Error> {
    bounded(d, "time").map(crate::time::Time)
}

/// The view's version: 0 before any server joined, +1 per join and per failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl<'de> Deserialize<'de> for Epoch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Epoch, D::Error> {
        bounded(d, "epoch").map(Epoch)
    }
}

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

/// What a coordinator puts in a transaction's `prepare` and repeats in its `commit` or `abort`:
/// only whoever sent the prepare can decide the transaction. 128 bits, written as 32 lowercase
/// hex digits; made by [`TxSecret::derive`] from a key the coordinator never sends. Observers
/// see [`TxSecret::HIDDEN`] (`"hidden"`) in its place, which matches nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxSecret(Option<u128>);

impl TxSecret {
    /// What a `watch` record or an events file shows instead of a secret.
    pub const HIDDEN: TxSecret = TxSecret(None);

    /// The secret with these bits.
    pub fn new(bits: u128) -> TxSecret {
        TxSecret(Some(bits))
    }

    /// The secret of transaction `tx` under the coordinator's `key`: the first half of
    /// SHA-256(key, client, seq), so one secret seen tells nothing of the next.
    pub fn derive(key: u128, tx: TxId) -> TxSecret {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(key.to_le_bytes());
        hash.update(tx.client.to_le_bytes());
        hash.update(tx.seq.to_le_bytes());
        let digest = hash.finalize();
        let mut half = [0u8; 16];
        half.copy_from_slice(&digest[..16]);
        TxSecret::new(u128::from_le_bytes(half))
    }

    /// Whether `other` is the same secret, compared in time independent of where they differ.
    /// A hidden secret matches nothing.
    pub fn matches(&self, other: &TxSecret) -> bool {
        let (Some(a), Some(b)) = (self.0, other.0) else { return false };
        (a ^ b).to_le_bytes().iter().fold(0u8, |acc, x| acc | x) == 0
    }

    /// The secret as on the wire (32 hex digits), for a shell that hides it from observers.
    pub fn wire_text(&self) -> Option<String> {
        self.0.map(|bits| alloc::format!("{bits:032x}"))
    }
}

/// Never printed: a secret in a log or a trace would let its reader decide the transaction.
impl fmt::Debug for TxSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "TxSecret(..)" } else { "TxSecret(hidden)" })
    }
}

impl Serialize for TxSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(bits) => s.collect_str(&format_args!("{bits:032x}")),
            None => s.serialize_str("hidden"),
        }
    }
}

impl<'de> Deserialize<'de> for TxSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TxSecret, D::Error> {
        let text = String::deserialize(d)?;
        if text == "hidden" {
            return Ok(TxSecret::HIDDEN);
        }
        let hex = text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match u128::from_str_radix(&text, 16) {
            Ok(bits) if hex => Ok(TxSecret::new(bits)),
            _ => Err(serde::de::Error::custom("a transaction secret is 32 lowercase hex digits")),
        }
    }
}

/// A key's version: every committed write gets one larger than any replica had, so the highest
/// version is the latest value, and a late copy never overwrites a newer one. At most
/// [`MAX_NUMBER`]: a key whose replicas reached it takes no more writes.
pub type Version = u64;

/// The version a write above `v` gets, if there is one left.
pub fn next_version(v: Version) -> Option<Version> {
    v.checked_add(1).filter(|n| *n <= MAX_NUMBER)
}

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
