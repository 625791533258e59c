//! What is done to a simulated world from outside — by a script, a test or a learner — and to
//! the messages in flight.

use ringside_core::{Addr, TxId};
use serde::{Deserialize, Serialize};

use crate::config::Faults;

/// Something done to the world from outside: by a script, a test or a learner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Start a new server process at the next free address.
    AddServer,
    /// Kill a server process: its memory is gone.
    Crash {
        /// The node.
        node: Addr,
    },
    /// Start a fresh process at a crashed node's address (new id, empty memory).
    Restart {
        /// The node.
        node: Addr,
    },
    /// Start a new client process at the next free address.
    AddClient,
    /// `setr` from a client.
    SetR {
        /// The client.
        client: Addr,
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// `getr` from a client.
    GetR {
        /// The client.
        client: Addr,
        /// The key.
        key: String,
    },
    /// `lock_get` from a client.
    LockGet {
        /// The client.
        client: Addr,
        /// The lock.
        name: String,
    },
    /// `lock_release` from a client.
    LockRelease {
        /// The client.
        client: Addr,
        /// The lock.
        name: String,
    },
    /// Cut these nodes off from all others.
    Partition {
        /// One side; every other node is the other side.
        side: Vec<Addr>,
    },
    /// Remove the partition.
    Heal,
    /// Change the network's faults.
    SetFaults {
        /// The new faults.
        faults: Faults,
    },
    /// Crash a client the moment it would send a 2PC decision: it has its votes and has
    /// decided, but no participant ever hears the outcome (the blocking problem).
    CrashCoordinator {
        /// The client.
        client: Addr,
        /// Only this transaction's decision springs the trap (any, if none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tx: Option<TxId>,
    },
}

/// What to do to an in-flight message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", content = "ms", rename_all = "snake_case")]
pub enum Tamper {
    /// Lose it.
    Drop,
    /// Hold it back this many ms more.
    Delay(u64),
    /// Deliver it twice.
    Duplicate,
}
