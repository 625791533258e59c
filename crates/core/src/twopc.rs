//! Two-phase commit on the participant side: the per-key pending transaction, its states, and
//! the record of decided transactions that the termination protocol answers from.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::id::{Addr, Epoch, Member, ServerId, TxId, Version};
use crate::msg::TxState;

/// Where a prepared transaction stands on a participant (the course's READY state and beyond).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum PendingPhase {
    /// Voted yes; waiting for the coordinator's decision.
    Ready,
    /// The coordinator went silent; asking the coordinator and the other participants.
    Asking {
        /// Termination rounds so far.
        round: u32,
        /// Participants that answered "prepared" too.
        prepared: Vec<ServerId>,
    },
    /// Everyone who answered is prepared as well: nobody may decide without the coordinator.
    Blocked {
        /// Participants that answered "prepared" too.
        prepared: Vec<ServerId>,
    },
}

/// A transaction prepared on this participant and not yet decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The transaction.
    pub tx: TxId,
    /// The key it writes.
    pub key: String,
    /// The value it writes.
    pub value: String,
    /// The epoch it was prepared in.
    pub epoch: Epoch,
    /// The coordinator's address.
    pub coordinator: Addr,
    /// Every participant, this one included.
    pub participants: Vec<Member>,
    /// Where it stands.
    pub phase: PendingPhase,
}

impl Pending {
    /// Whether the termination protocol gave up deciding it.
    pub fn is_blocked(&self) -> bool {
        matches!(self.phase, PendingPhase::Blocked { .. })
    }
}

/// How many decided transactions a participant remembers for late questions; old ones go first.
const OUTCOMES_KEPT: usize = 1 << 16;

/// The participant's transactions: pending ones (one per key at most) and remembered outcomes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Participant {
    pub(crate) pending: BTreeMap<TxId, Pending>,
    pub(crate) by_key: BTreeMap<String, TxId>,
    outcomes: BTreeMap<TxId, TxState>,
    order: VecDeque<TxId>,
}

impl Participant {
    pub(crate) fn outcome(&self, tx: &TxId) -> Option<&TxState> {
        self.outcomes.get(tx)
    }

    pub(crate) fn remember(&mut self, tx: TxId, state: TxState) {
        if self.outcomes.insert(tx, state).is_none() {
            self.order.push_back(tx);
            if self.order.len() > OUTCOMES_KEPT {
                if let Some(old) = self.order.pop_front() {
                    self.outcomes.remove(&old);
                }
            }
        }
    }

    pub(crate) fn prepare(&mut self, pending: Pending) {
        self.by_key.insert(pending.key.clone(), pending.tx);
        self.pending.insert(pending.tx, pending);
    }

    /// Takes a pending transaction out, freeing its key.
    pub(crate) fn take(&mut self, tx: &TxId) -> Option<Pending> {
        let p = self.pending.remove(tx)?;
        self.by_key.remove(&p.key);
        Some(p)
    }

    pub(crate) fn pending_on(&self, key: &str) -> Option<&Pending> {
        self.by_key.get(key).and_then(|tx| self.pending.get(tx))
    }

    /// A committed version, if the transaction committed here.
    pub(crate) fn committed_version(&self, tx: &TxId) -> Option<Version> {
        match self.outcomes.get(tx) {
            Some(TxState::Committed { version }) => Some(*version),
            _ => None,
        }
    }
}
