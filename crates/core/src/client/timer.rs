//! The client's timers, shared by its parts (the 2PC coordinator arms them too).

use crate::id::{OpId, TxId};

/// What a client waits for. The order breaks ties between timers due at the same time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// An operation's answer timeout, backoff or lock re-ask.
    Op(OpId),
    /// The answer to the view query that operations wait for.
    ViewFetch,
    /// Resend a returned write's commit to the participants that have not acknowledged it.
    Tell(TxId),
}
