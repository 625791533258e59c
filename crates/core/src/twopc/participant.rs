//! Two-phase commit on the participant side: the vote, the prepared (READY) state, applying
//! the decision, and the cooperative termination protocol that asks the coordinator and the
//! other participants when the decision is late.
//!
//! The participant decides nothing about storage or copies: it answers with what the server
//! knows (handed in as a [`VoteContext`]) and gives decided transactions back to the server,
//! which stores the value and moves copies.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::id::{Addr, Epoch, Member, ServerId, TxId, TxSecret, Version};
use crate::limits::TooLarge;
use crate::msg::{Msg, NoReason, Proposal, TxState, VoteAnswer};
use crate::outbox::Outbox;
use crate::peer::Peer;

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
    /// Paxos Commit: the coordinator went silent and this participant leads a ballot to
    /// decide the transaction.
    Recovering {
        /// Rounds so far, each with a higher ballot.
        round: u32,
        /// This round's ballot.
        ballot: u64,
        /// Participants that promised it, this one included.
        promised_by: Vec<ServerId>,
        /// The highest-ballot proposal they had accepted.
        best: Option<Proposal>,
        /// What this ballot proposes, once a majority promised: `best`'s outcome, or abort.
        proposal: Option<Proposal>,
        /// Participants that accepted the proposal.
        accepted_by: Vec<ServerId>,
    },
}

/// A transaction prepared on this participant and not yet decided.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Paxos Commit: the highest ballot this participant promised (0: only the coordinator's).
    pub promised: u64,
    /// Paxos Commit: the outcome this participant accepted, at the highest ballot it did.
    pub accepted: Option<Proposal>,
    /// What its commit or abort must carry; kept inside the core, so no observer shows it.
    pub(crate) secret: TxSecret,
}

impl Pending {
    /// Whether the termination protocol gave up deciding it (classic), or its takeovers have
    /// found no majority for a while (Paxos Commit: too many participants are unreachable).
    pub fn is_blocked(&self) -> bool {
        match self.phase {
            PendingPhase::Blocked { .. } => true,
            PendingPhase::Recovering { round, .. } => round > crate::twopc::paxos::ROUNDS_BEFORE_BLOCKED,
            _ => false,
        }
    }
}

/// How many decided transactions a participant remembers for late questions; old ones go first.
const OUTCOMES_KEPT: usize = 1 << 16;
/// How many aborts that came before their prepare are kept, apart from the outcomes: anyone
/// may send an abort, and a flood of them must not push real outcomes out.
const EARLY_ABORTS_KEPT: usize = 1 << 12;

/// What the server knows when a prepare arrives: everything the vote depends on besides the
/// participant's own transactions.
#[derive(Clone, Debug)]
pub(crate) struct VoteContext<'a> {
    /// This server's id.
    pub(crate) me: &'a ServerId,
    /// Whether its lease lets it vote now.
    pub(crate) serving: bool,
    /// The epoch of its current view.
    pub(crate) epoch: Epoch,
    /// The key's stored version (0 when it has none).
    pub(crate) version: Version,
    /// What is too large about the write, if anything is.
    pub(crate) too_large: Option<TooLarge>,
}

/// What a decision timeout led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Asked {
    /// The transaction is blocked: ask again more slowly.
    pub(crate) blocked: bool,
    /// The key of a transaction that became blocked just now: its copies may move.
    pub(crate) newly_blocked: Option<String>,
    /// The outcome reached at once (a takeover that needs no other participant), for the
    /// server to apply: `Some(Some(version))` to commit, `Some(None)` to abort.
    pub(crate) decided: Option<Option<Version>>,
}

/// The participant's transactions: pending ones (one per key at most) and remembered outcomes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Participant {
    pub(super) pending: BTreeMap<TxId, Pending>,
    by_key: BTreeMap<String, TxId>,
    outcomes: BTreeMap<TxId, TxState>,
    order: VecDeque<TxId>,
    /// Aborts that overtook their prepare, with the secret the prepare must carry to be
    /// voted down by them.
    early_aborts: BTreeMap<TxId, TxSecret>,
    early_order: VecDeque<TxId>,
}

impl Participant {
    /// Prepared, undecided transactions, by id.
    pub(crate) fn pending(&self) -> impl Iterator<Item = &Pending> {
        self.pending.values()
    }

    /// Transaction `tx`, if it is pending here.
    pub(crate) fn pending_tx(&self, tx: &TxId) -> Option<&Pending> {
        self.pending.get(tx)
    }

    /// How `tx` ended here, if it did and is still remembered.
    pub(crate) fn outcome(&self, tx: &TxId) -> Option<&TxState> {
        self.outcomes.get(tx)
    }

    /// Records how `tx` ended.
    pub(crate) fn remember(&mut self, tx: TxId, state: TxState) {
        // The first outcome stands: a transaction decided here never changes its mind.
        if let alloc::collections::btree_map::Entry::Vacant(slot) = self.outcomes.entry(tx) {
            slot.insert(state);
            self.order.push_back(tx);
            if self.order.len() > OUTCOMES_KEPT {
                if let Some(old) = self.order.pop_front() {
                    self.outcomes.remove(&old);
                }
            }
        }
    }

    /// An abort for a transaction neither pending nor decided here: its prepare may still be on
    /// the way, and is voted down if it carries this secret.
    pub(crate) fn abort_early(&mut self, tx: TxId, secret: TxSecret) {
        if self.early_aborts.insert(tx, secret).is_none() {
            self.early_order.push_back(tx);
            if self.early_order.len() > EARLY_ABORTS_KEPT {
                if let Some(old) = self.early_order.pop_front() {
                    self.early_aborts.remove(&old);
                }
            }
        }
    }

    /// Whether a decision carrying `secret` may decide `tx`: it repeats the secret of `tx`'s
    /// prepare, or `tx` is not pending here (then the decision changes nothing).
    pub(crate) fn secret_fits(&self, tx: &TxId, secret: &TxSecret) -> bool {
        self.pending.get(tx).is_none_or(|p| p.secret.matches(secret))
    }

    fn prepare(&mut self, pending: Pending) {
        self.by_key.insert(pending.key.clone(), pending.tx);
        self.pending.insert(pending.tx, pending);
    }

    /// Takes a pending transaction out, freeing its key.
    fn take(&mut self, tx: &TxId) -> Option<Pending> {
        let p = self.pending.remove(tx)?;
        self.by_key.remove(&p.key);
        Some(p)
    }

    /// The transaction pending on `key`, if any.
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

    /// Phase one: votes on `prepare` (sent by `from` to the server it believes is `expected`)
    /// and answers the coordinator. Returns whether the transaction is prepared now, so its
    /// decision timer must be armed.
    pub(crate) fn vote(
        &mut self,
        from: &Addr,
        prepare: Pending,
        expected: ServerId,
        cx: &VoteContext<'_>,
        out: &mut Outbox,
    ) -> bool {
        let tx = prepare.tx;
        let key = prepare.key.clone();
        let mut prepared = false;
        // Only while the transaction is undecided here: an outcome is never rewritten.
        if self.outcome(&tx).is_none() && self.early_aborts.get(&tx).is_some_and(|s| s.matches(&prepare.secret)) {
            self.early_aborts.remove(&tx);
            self.remember(tx, TxState::Aborted);
        }
        let answer = if let Some(state) = self.outcome(&tx) {
            match state {
                // A prepare repeated after the decision: the coordinator has decided already.
                TxState::Committed { .. } => VoteAnswer::Yes { version: cx.version },
                _ => VoteAnswer::No { reason: NoReason::Aborted },
            }
        } else if self.pending.contains_key(&tx) {
            VoteAnswer::Yes { version: cx.version }
        } else if let Some(too_large) = &cx.too_large {
            VoteAnswer::No { reason: NoReason::TooLarge(too_large.clone()) }
        } else if expected != *cx.me {
            VoteAnswer::No { reason: NoReason::WrongServer { id: cx.me.clone() } }
        } else if !cx.serving {
            VoteAnswer::No { reason: NoReason::Isolated }
        } else if prepare.epoch != cx.epoch {
            VoteAnswer::No { reason: NoReason::EpochMismatch { epoch: cx.epoch } }
        } else if let Some(other) = self.pending_on(&prepare.key) {
            VoteAnswer::No { reason: NoReason::KeyBusy { tx: other.tx } }
        } else {
            self.prepare(prepare);
            prepared = true;
            VoteAnswer::Yes { version: cx.version }
        };
        let (yes, reason) = match &answer {
            VoteAnswer::Yes { .. } => (true, None),
            VoteAnswer::No { reason } => (false, Some(reason.clone())),
        };
        out.event(Event::Voted { tx, key, yes, reason });
        out.send(from, Msg::Vote { tx, server: cx.me.clone(), vote: answer });
        prepared
    }

    /// Applies a decision to a pending transaction (from the coordinator or from a peer in the
    /// termination protocol): remembers and reports it, and hands the transaction back for the
    /// server to store. `None` if it was not pending here.
    pub(crate) fn decide(&mut self, tx: TxId, commit: Option<Version>, out: &mut Outbox) -> Option<Pending> {
        let p = self.take(&tx)?;
        match commit {
            Some(version) => {
                self.remember(tx, TxState::Committed { version });
                out.event(Event::Committed { tx, key: p.key.clone(), version });
            }
            None => {
                self.remember(tx, TxState::Aborted);
                out.event(Event::Aborted { tx, key: Some(p.key.clone()) });
            }
        }
        Some(p)
    }

    /// Another participant (or a new process at its address) asks how `tx` ended here;
    /// `asked` is the server it meant.
    pub(crate) fn answer_request(
        &mut self,
        from: &Addr,
        tx: TxId,
        asked: Option<ServerId>,
        me: &ServerId,
        out: &mut Outbox,
    ) {
        let state = if asked.as_ref() != Some(me) {
            TxState::Unknown
        } else if let Some(state) = self.outcome(&tx) {
            state.clone()
        } else if self.pending.contains_key(&tx) {
            TxState::Prepared
        } else {
            self.rule_out(tx, out)
        };
        out.send(from, Msg::DecisionReply { tx, state });
    }

    /// `tx` was never prepared here and someone asks about it: rule it out, so a prepare
    /// arriving late is voted down and the asker may safely abort.
    pub(super) fn rule_out(&mut self, tx: TxId, out: &mut Outbox) -> TxState {
        self.remember(tx, TxState::Aborted);
        out.event(Event::Aborted { tx, key: None });
        TxState::Aborted
    }

    /// An answer to this participant's question about `tx`. Returns the decision it carries
    /// (`Some(Some(version))` to commit, `Some(None)` to abort), for the server to apply.
    pub(crate) fn handle_reply(&mut self, from: &Addr, tx: TxId, state: TxState) -> Option<Option<Version>> {
        match state {
            TxState::Committed { version } => Some(Some(version)),
            TxState::Aborted => Some(None),
            TxState::Unknown => None,
            TxState::Prepared => {
                let p = self.pending.get_mut(&tx)?;
                let peer = p.participants.iter().find(|m| &m.addr == from).map(|m| m.id.clone())?;
                if let PendingPhase::Asking { prepared, .. } | PendingPhase::Blocked { prepared } = &mut p.phase {
                    if !prepared.contains(&peer) {
                        prepared.push(peer);
                    }
                }
                None
            }
        }
    }

    /// The decision timer of a prepared transaction fired: start or continue the cooperative
    /// termination protocol. `None` if the transaction is no longer pending.
    pub(crate) fn decision_timeout(&mut self, tx: TxId, me: &ServerId, out: &mut Outbox) -> Option<Asked> {
        let p = self.pending.get_mut(&tx)?;
        let others = p.participants.iter().filter(|m| m.id != *me).count();
        let mut newly_blocked = false;
        p.phase = match core::mem::replace(&mut p.phase, PendingPhase::Ready) {
            // A server runs one protocol: a Paxos takeover never reaches the classic one.
            PendingPhase::Ready | PendingPhase::Recovering { .. } => {
                out.event(Event::TerminationStarted { tx, key: p.key.clone() });
                PendingPhase::Asking { round: 1, prepared: Vec::new() }
            }
            PendingPhase::Asking { round, prepared } if round >= 2 || prepared.len() == others => {
                // A full round brought no decision: everyone who answered is prepared too.
                newly_blocked = true;
                PendingPhase::Blocked { prepared }
            }
            PendingPhase::Asking { round, prepared } => PendingPhase::Asking { round: round + 1, prepared },
            blocked @ PendingPhase::Blocked { .. } => blocked,
        };
        let mut ask: Vec<(Addr, Option<ServerId>)> =
            p.participants.iter().filter(|m| m.id != *me).map(|m| (m.addr.clone(), Some(m.id.clone()))).collect();
        ask.push((p.coordinator.clone(), None));
        let key = p.key.clone();
        let blocked = p.is_blocked();
        for (addr, server) in ask {
            out.send(&addr, Msg::DecisionRequest { tx, server });
        }
        let newly_blocked = newly_blocked.then(|| {
            out.event(Event::Blocked { tx, key: key.clone() });
            key
        });
        Some(Asked { blocked, newly_blocked, decided: None })
    }

    /// Whether `from` may tell this participant how `tx` ended: its coordinator (on the
    /// connection the prepare came by) or a fellow participant that proved it is a member.
    /// Anyone else could forge an outcome.
    pub(crate) fn may_decide(&self, from: Peer<'_>, tx: &TxId) -> bool {
        let addr = from.addr();
        self.pending.get(tx).is_some_and(|p| {
            p.coordinator == *addr || (from.is_member() && p.participants.iter().any(|m| m.addr == *addr))
        })
    }
}
