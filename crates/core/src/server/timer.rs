//! The server's timers.

use crate::id::TxId;

/// What a server waits for. The order breaks ties between timers due at the same time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The next heartbeat to the view leader.
    Heartbeat,
    /// Resending unacknowledged copies.
    Transfers,
    /// A prepared transaction's wait for the decision.
    Decision(TxId),
}
