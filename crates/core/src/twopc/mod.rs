//! Two-phase commit, one file per side:
//!
//! - `coordinator`: the client's side — the transactions of its `setr`s, their votes, the
//!   decision, and telling it to every participant;
//! - `participant`: the server's side — the vote, the prepared (READY) state, applying the
//!   decision, and the termination protocol when the decision is late.
//!
//! The messages both sides exchange are in [`crate::msg`] (`Prepare`, `Vote`, `Commit`,
//! `Abort`, `Done`, `DecisionRequest`, `DecisionReply`).

pub(crate) mod coordinator;
pub(crate) mod participant;

pub use participant::{Pending, PendingPhase};
