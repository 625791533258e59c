//! Two-phase commit on the coordinator side: the client's `setr` as a transaction — the
//! prepares, the votes, the decision, and telling it to every participant.
//!
//! A write's decision is remembered so that a participant asking later (the termination
//! protocol) gets the same answer; a commit a majority applied returns to the caller while
//! the rest of the participants are told in the background.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::client::op::{OpOutput, Stage};
use crate::client::timer::Timer;
use crate::client::{Placement, ViewAge};
use crate::error::OpError;
use crate::event::Event;
use crate::id::{next_version, Addr, Epoch, Member, OpId, ServerId, TxId, TxSecret, Version};
use crate::msg::{Msg, NoReason, TxState, VoteAnswer};
use crate::outbox::Outbox;
use crate::time::{Deadline, Time, Timers};

/// How many times phase two's decision is sent again to a participant that does not
/// acknowledge it; after that the participant learns it through the termination protocol.
pub(crate) const DECISION_RESENDS: u32 = 2;

/// How many decisions the coordinator remembers for participants' late questions.
const DECISIONS_KEPT: usize = 1 << 16;

/// What a coordinator step works on besides its own state: the client's outputs.
pub(crate) struct Cx<'a> {
    /// The time of the input being handled.
    pub(crate) now: Time,
    /// How long to wait for answers (ms).
    pub(crate) rpc_timeout_ms: u64,
    /// The client's timers.
    pub(crate) timers: &'a mut Timers<Timer>,
    /// The client's outputs.
    pub(crate) out: &'a mut Outbox,
}

/// One `setr` operation.
#[derive(Clone, Debug)]
pub(crate) struct Write {
    /// The key.
    pub(crate) key: String,
    /// The value.
    pub(crate) value: String,
    /// Its attempt, from 1.
    pub(crate) attempt: u32,
    /// The epoch its latest transaction was prepared in.
    pub(crate) epoch: Epoch,
    /// Set when a participant showed that a newer view overtook the latest transaction: how
    /// new its view was, and what the participant said. The write then runs again at once in a
    /// newer view.
    pub(crate) overtaken: Option<(ViewAge, String)>,
    /// Where the attempt stands.
    pub(crate) phase: SetPhase,
}

/// Where a `setr` attempt stands.
#[derive(Clone, Debug)]
pub(crate) enum SetPhase {
    /// Waiting for a view to pick the participants.
    NeedView,
    /// Waiting out the backoff before the next attempt, which starts at its deadline.
    Backoff(Deadline),
    /// Prepares sent; collecting votes (yes votes carry each replica's version).
    Voting { tx: TxId, participants: Vec<Member>, yes: BTreeMap<ServerId, Version> },
    /// Decided; waiting for acknowledgements. `learners` accepted the commit (Paxos Commit)
    /// without applying it yet: they apply it once told it was chosen.
    Finishing {
        tx: TxId,
        participants: Vec<Member>,
        unacked: BTreeSet<ServerId>,
        learners: BTreeSet<ServerId>,
        resends: u32,
        after: AfterDecision,
    },
}

/// What happens once the decision is acknowledged (see [`Stage::Deciding`]).
#[derive(Clone, Debug)]
pub(crate) enum AfterDecision {
    Succeed(Version),
    Fail(OpError),
    Retry(String),
    /// A newer view overtook the transaction: run again in it.
    Rerun(String),
}

/// A commit that a majority of its participants applied, so its `setr` has returned, being
/// told to the rest.
#[derive(Clone, Debug)]
struct Telling {
    version: Version,
    participants: Vec<Member>,
    unacked: BTreeSet<ServerId>,
    resends: u32,
}

/// What the client must do after a coordinator step.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// Nothing: the write waits for answers or its timer.
    Wait,
    /// The backoff is over: the next attempt needs a view.
    NeedView,
    /// The cached view may be stale (a participant said so or fell silent): forget it.
    ForgetView,
    /// The operation ended with this result.
    Finish(Result<OpOutput, OpError>),
    /// The attempt failed for a transient reason: back off and try again.
    Retry(String),
    /// A newer view overtook the attempt: run again in it at once.
    Rerun(String),
}

impl Write {
    /// A new `setr`, waiting for a view.
    pub(crate) fn new(key: String, value: String) -> Self {
        Write { key, value, attempt: 1, epoch: Epoch(0), overtaken: None, phase: SetPhase::NeedView }
    }

    /// What it waits for, for observers.
    pub(crate) fn stage(&self) -> Stage {
        let ids = |members: &[Member]| members.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
        match &self.phase {
            SetPhase::NeedView => Stage::NeedView,
            SetPhase::Backoff(next_attempt) => Stage::Backoff { next_attempt: *next_attempt },
            SetPhase::Voting { tx, participants, yes } => {
                Stage::Voting { tx: *tx, participants: ids(participants), yes: yes.keys().cloned().collect() }
            }
            SetPhase::Finishing { tx, participants, unacked, after, .. } => Stage::Deciding {
                tx: *tx,
                participants: ids(participants),
                commit: matches!(after, AfterDecision::Succeed(_)),
                unacked: unacked.iter().cloned().collect(),
            },
        }
    }
}

/// A remembered decision, and whether it is the transaction's outcome for certain: an abort
/// always is; under Paxos Commit a commit is only once a majority accepted it (before, a
/// participant's takeover may still choose abort).
#[derive(Clone, Debug)]
struct Decided {
    state: TxState,
    chosen: bool,
}

/// The coordinator's transactions: the writes' current transactions, the commits still being
/// told, and the decisions remembered for late questions.
#[derive(Clone, Debug)]
pub(crate) struct Coordinator {
    /// The client id, which names its transactions.
    client: u64,
    /// Keys the transactions' secrets; never sent.
    secret_key: u128,
    next_tx: u64,
    txs: BTreeMap<TxId, OpId>,
    telling: BTreeMap<TxId, Telling>,
    decisions: BTreeMap<TxId, Decided>,
    decision_order: VecDeque<TxId>,
}

impl Coordinator {
    /// The coordinator of client `client`, its secrets keyed by `secret_key`.
    pub(crate) fn new(client: u64, secret_key: u128) -> Self {
        Coordinator {
            client,
            secret_key,
            next_tx: 1,
            txs: BTreeMap::new(),
            telling: BTreeMap::new(),
            decisions: BTreeMap::new(),
            decision_order: VecDeque::new(),
        }
    }

    /// The write whose current transaction is `tx`.
    pub(crate) fn op_of(&self, tx: &TxId) -> Option<OpId> {
        self.txs.get(tx).copied()
    }

    /// Returned writes whose commit is still being told, with the participants yet to
    /// acknowledge it, oldest first.
    pub(crate) fn telling(&self) -> Vec<(TxId, Vec<ServerId>)> {
        self.telling.iter().map(|(tx, t)| (*tx, t.unacked.iter().cloned().collect())).collect()
    }

    /// Whether no returned write's commit is still being told.
    pub(crate) fn told(&self) -> bool {
        self.telling.is_empty()
    }

    /// What `tx`'s prepare, commit and abort carry.
    fn secret(&self, tx: TxId) -> TxSecret {
        TxSecret::derive(self.secret_key, tx)
    }

    fn remember(&mut self, tx: TxId, state: TxState) {
        let chosen = !matches!(state, TxState::Committed { .. });
        if self.decisions.insert(tx, Decided { state, chosen }).is_none() {
            self.decision_order.push_back(tx);
            if self.decision_order.len() > DECISIONS_KEPT {
                if let Some(old) = self.decision_order.pop_front() {
                    self.decisions.remove(&old);
                }
            }
        }
    }

    /// Phase one of a new attempt: a fresh transaction, a prepare for each member of the key's
    /// placement (queued in `sends`) — both replica sets of a moving key.
    pub(crate) fn prepare(
        &mut self,
        op: OpId,
        write: &mut Write,
        epoch: Epoch,
        placement: Placement,
        sends: &mut Vec<(Addr, Msg)>,
        out: &mut Outbox,
    ) {
        let tx = TxId { client: self.client, seq: self.next_tx };
        self.next_tx += 1;
        let replicas = placement.members;
        if placement.moving {
            let (stable, new) = replicas.iter().map(|m| m.id.clone()).partition(|id| placement.settled.contains(id));
            out.event(Event::WriteOnBothSets { tx, key: write.key.clone(), stable, new });
        }
        for m in &replicas {
            let msg = Msg::Prepare {
                tx,
                epoch,
                server: m.id.clone(),
                key: write.key.clone(),
                value: write.value.clone(),
                participants: replicas.clone(),
                secret: self.secret(tx),
            };
            sends.push((m.addr.clone(), msg));
        }
        self.txs.insert(tx, op);
        write.epoch = epoch;
        write.overtaken = None;
        write.phase = SetPhase::Voting { tx, participants: replicas, yes: BTreeMap::new() };
    }

    /// Phase two: tell every participant the decision and wait for their acknowledgements.
    fn decide(&mut self, op: OpId, write: &mut Write, after: AfterDecision, silent_out: bool, cx: &mut Cx<'_>) {
        let SetPhase::Voting { tx, participants, yes } = &mut write.phase else { return };
        let (tx, participants, yes) = (*tx, core::mem::take(participants), core::mem::take(yes));
        let (state, msg) = match after {
            AfterDecision::Succeed(version) => {
                (TxState::Committed { version }, Msg::Commit { tx, version, secret: self.secret(tx) })
            }
            _ => (TxState::Aborted, Msg::Abort { tx, secret: self.secret(tx) }),
        };
        // An abort for want of votes waits only for those that voted yes, which hold the key: a
        // silent one may be dead (until the view leader says so, a wait for it would take every
        // resend), and if it prepared after all, it asks how the transaction ended and hears it
        // from the decisions remembered here.
        let waits = |m: &&Member| !silent_out || yes.contains_key(&m.id);
        write.phase = SetPhase::Finishing {
            tx,
            participants: participants.clone(),
            unacked: participants.iter().filter(waits).map(|m| m.id.clone()).collect(),
            learners: BTreeSet::new(),
            resends: 0,
            after,
        };
        cx.out.event(Event::TxDecided {
            tx,
            key: write.key.clone(),
            commit: matches!(state, TxState::Committed { .. }),
            participants: participants.iter().map(|m| m.id.clone()).collect(),
        });
        self.remember(tx, state);
        for m in &participants {
            cx.out.send(&m.addr, msg.clone());
        }
        cx.timers.set(Timer::Op(op), cx.now + cx.rpc_timeout_ms);
    }

    /// A participant's vote on `tx`, the current transaction of write `op`.
    pub(crate) fn handle_vote(
        &mut self,
        op: OpId,
        write: &mut Write,
        tx: TxId,
        server: ServerId,
        vote: VoteAnswer,
        cx: &mut Cx<'_>,
    ) -> Step {
        let SetPhase::Voting { tx: current, participants, yes } = &mut write.phase else { return Step::Wait };
        // Only the participants' votes count: a stray yes must not stand in for a missing one.
        if *current != tx || !participants.iter().any(|m| m.id == server) {
            return Step::Wait;
        }
        match vote {
            VoteAnswer::Yes { version } => {
                yes.insert(server, version);
                if yes.len() == participants.len() {
                    let after = match next_version(yes.values().max().copied().unwrap_or(0)) {
                        Some(version) => AfterDecision::Succeed(version),
                        None => AfterDecision::Fail(OpError::VersionsUsedUp { key: write.key.clone() }),
                    };
                    self.decide(op, write, after, false, cx);
                }
                Step::Wait
            }
            VoteAnswer::No { reason } => {
                let mut step = Step::Wait;
                let after = match reason {
                    NoReason::KeyBusy { tx: other } if other.client != self.client => {
                        AfterDecision::Fail(OpError::Conflict { tx: other })
                    }
                    NoReason::KeyBusy { tx: other } => {
                        AfterDecision::Retry(format!("our earlier {other} is still pending at {server}"))
                    }
                    NoReason::EpochMismatch { epoch } => {
                        step = Step::ForgetView;
                        let reason = format!("{server} is at epoch {epoch}");
                        if epoch > write.epoch {
                            write.overtaken = Some((ViewAge { epoch: write.epoch, settled: true }, reason.clone()));
                            AfterDecision::Rerun(reason)
                        } else {
                            AfterDecision::Retry(reason)
                        }
                    }
                    NoReason::WrongServer { id } => {
                        step = Step::ForgetView;
                        let reason = format!("expected {server}, found {id}");
                        write.overtaken = Some((ViewAge { epoch: write.epoch, settled: true }, reason.clone()));
                        AfterDecision::Rerun(reason)
                    }
                    NoReason::TooLarge(too_large) => AfterDecision::Fail(OpError::TooLarge(too_large)),
                    NoReason::Aborted => AfterDecision::Retry(format!("{server} ruled the transaction out")),
                    NoReason::Isolated => {
                        step = Step::ForgetView;
                        AfterDecision::Retry(format!("{server} lost touch with the view leader"))
                    }
                };
                self.decide(op, write, after, false, cx);
                step
            }
        }
    }

    /// A participant acknowledged `tx` of a commit already returned; returns whether `tx` was
    /// one (otherwise the acknowledgement is for a write still in flight: see
    /// [`handle_done`](Self::handle_done)). Only an acknowledgement that it committed counts.
    /// `accepted`: the participant accepted the commit (Paxos Commit) rather than applied it.
    pub(crate) fn handle_told(
        &mut self,
        tx: TxId,
        server: &ServerId,
        committed: bool,
        accepted: bool,
        cx: &mut Cx<'_>,
    ) -> bool {
        let Some(telling) = self.telling.get_mut(&tx) else { return false };
        if !committed || !telling.unacked.remove(server) {
            return true;
        }
        // It was told the commit was chosen when the write returned; an acceptance that
        // answers a resend says that message was lost, so it is told again.
        if accepted && telling.resends > 0 {
            if let Some(m) = telling.participants.iter().find(|m| m.id == *server) {
                cx.out.send(&m.addr, Msg::DecisionReply { tx, state: TxState::Committed { version: telling.version } });
            }
        }
        if telling.unacked.is_empty() {
            self.telling.remove(&tx);
            cx.timers.cancel(&Timer::Tell(tx));
        }
        true
    }

    /// A participant acknowledged the decision on `tx`, the current transaction of write `op`,
    /// saying whether `committed` there — or, `accepted`, that it accepted the commit at ballot
    /// 0 of Paxos Commit, which it applies once told the commit was chosen.
    pub(crate) fn handle_done(
        &mut self,
        write: &mut Write,
        tx: TxId,
        server: ServerId,
        committed: bool,
        accepted: bool,
        cx: &mut Cx<'_>,
    ) -> Step {
        let SetPhase::Finishing { tx: current, participants, unacked, learners, resends, after } = &mut write.phase
        else {
            return Step::Wait;
        };
        let expected = matches!(after, AfterDecision::Succeed(_));
        if *current != tx {
            return Step::Wait;
        }
        // A commit counts as applied only where the participant says it committed: `setr`
        // never reports a write that was not applied.
        if committed != expected || !unacked.remove(&server) {
            return Step::Wait;
        }
        if accepted {
            learners.insert(server);
        }
        let chosen = 2 * (participants.len() - unacked.len()) > participants.len();
        if let (AfterDecision::Succeed(version), true) = (&*after, chosen || unacked.is_empty()) {
            if let Some(decided) = self.decisions.get_mut(&tx) {
                decided.chosen = true;
            }
            // Chosen: a majority accepted it. Who accepted it, and who has not answered yet,
            // apply it once told so.
            if !learners.is_empty() {
                let told = Msg::DecisionReply { tx, state: TxState::Committed { version: *version } };
                for m in participants.iter().filter(|m| learners.contains(&m.id) || unacked.contains(&m.id)) {
                    cx.out.send(&m.addr, told.clone());
                }
                learners.clear();
            }
        }
        if unacked.is_empty() {
            return self.finish(write);
        }
        // A commit that a majority applied outlives this coordinator: a participant left
        // waiting finds it there through the termination protocol. So the write returns now,
        // and the rest are told in the background.
        let AfterDecision::Succeed(version) = *after else { return Step::Wait };
        if !chosen {
            return Step::Wait;
        }
        let telling = Telling {
            version,
            participants: core::mem::take(participants),
            unacked: core::mem::take(unacked),
            resends: *resends,
        };
        self.txs.remove(&tx);
        self.telling.insert(tx, telling);
        cx.timers.set(Timer::Tell(tx), cx.now + cx.rpc_timeout_ms);
        Step::Finish(Ok(OpOutput::Written { version }))
    }

    /// A returned commit's resend timer fired.
    pub(crate) fn tell_timeout(&mut self, tx: TxId, cx: &mut Cx<'_>) {
        let secret = self.secret(tx);
        let Some(telling) = self.telling.get_mut(&tx) else { return };
        if telling.resends >= DECISION_RESENDS {
            self.telling.remove(&tx);
            return;
        }
        telling.resends += 1;
        let commit = Msg::Commit { tx, version: telling.version, secret };
        for to in unacked_addrs(&telling.participants, &telling.unacked) {
            cx.out.send(&to, commit.clone());
        }
        cx.timers.set(Timer::Tell(tx), cx.now + cx.rpc_timeout_ms);
    }

    /// Every acknowledgement is in (or the resends of an abort ran out): the write ends as decided.
    fn finish(&mut self, write: &Write) -> Step {
        let SetPhase::Finishing { tx, after, .. } = &write.phase else { return Step::Wait };
        self.txs.remove(tx);
        match after.clone() {
            AfterDecision::Succeed(version) => Step::Finish(Ok(OpOutput::Written { version })),
            AfterDecision::Fail(error) => Step::Finish(Err(error)),
            AfterDecision::Retry(reason) => Step::Retry(reason),
            AfterDecision::Rerun(reason) => Step::Rerun(reason),
        }
    }

    /// A participant asks how `tx` ended; returns whether it was answered from the remembered
    /// decisions (otherwise see [`abort_undecided`](Self::abort_undecided)).
    pub(crate) fn answer_decided(&self, from: &Addr, tx: TxId, out: &mut Outbox) -> bool {
        let Some(decided) = self.decisions.get(&tx) else { return false };
        out.send(from, Msg::DecisionReply { tx, state: decided.state.clone() });
        true
    }

    /// A participant takes `tx` over (Paxos Commit) and asks this coordinator too: it answers
    /// with the outcome only if that is certain. It matters when the participant missed the
    /// `decision_reply` of a chosen commit and the fellow acceptors that chose it are gone: the
    /// takeover could never gather a majority, and the write returned as committed.
    pub(crate) fn answer_takeover(&self, from: &Addr, tx: TxId, out: &mut Outbox) {
        let state = match (self.telling.get(&tx), self.decisions.get(&tx)) {
            (Some(telling), _) => TxState::Committed { version: telling.version },
            (None, Some(Decided { state, chosen: true })) => state.clone(),
            _ => return,
        };
        out.send(from, Msg::DecisionReply { tx, state });
    }

    /// A participant asks how `tx`, the transaction of write `op`, ended before it was decided.
    pub(crate) fn abort_undecided(&mut self, op: OpId, write: &mut Write, from: &Addr, tx: TxId, cx: &mut Cx<'_>) {
        if !matches!(write.phase, SetPhase::Voting { tx: t, .. } if t == tx) {
            return;
        }
        // Undecided yet: a coordinator may always abort before deciding to commit.
        let reason = String::from("a participant timed out waiting for the decision");
        self.decide(op, write, AfterDecision::Retry(reason), false, cx);
        cx.out.send(from, Msg::DecisionReply { tx, state: TxState::Aborted });
    }

    /// Write `op`'s timer fired.
    pub(crate) fn handle_timeout(&mut self, op: OpId, write: &mut Write, cx: &mut Cx<'_>) -> Step {
        match &mut write.phase {
            SetPhase::NeedView => Step::Wait,
            SetPhase::Backoff(_) => {
                write.phase = SetPhase::NeedView;
                Step::NeedView
            }
            SetPhase::Voting { participants, yes, .. } => {
                let silent: Vec<&str> =
                    participants.iter().filter(|m| !yes.contains_key(&m.id)).map(|m| m.id.as_str()).collect();
                let reason = format!("no vote from {}", silent.join(", "));
                self.decide(op, write, AfterDecision::Retry(reason), true, cx);
                Step::ForgetView
            }
            SetPhase::Finishing { tx, participants, unacked, resends, after, .. } => {
                if *resends >= DECISION_RESENDS {
                    // A commit that a majority applied returned already; fewer may be lost with
                    // them, so `setr` cannot say it was written.
                    if let AfterDecision::Succeed(version) = *after {
                        let tx = *tx;
                        self.txs.remove(&tx);
                        return Step::Finish(Err(OpError::Unconfirmed { tx, version }));
                    }
                    return self.finish(write);
                }
                *resends += 1;
                let secret = self.secret(*tx);
                let msg = match after {
                    AfterDecision::Succeed(version) => Msg::Commit { tx: *tx, version: *version, secret },
                    _ => Msg::Abort { tx: *tx, secret },
                };
                for to in unacked_addrs(participants, unacked) {
                    cx.out.send(&to, msg.clone());
                }
                cx.timers.set(Timer::Op(op), cx.now + cx.rpc_timeout_ms);
                Step::Wait
            }
        }
    }
}

/// The addresses of the participants yet to acknowledge the decision.
fn unacked_addrs(participants: &[Member], unacked: &BTreeSet<ServerId>) -> Vec<Addr> {
    participants.iter().filter(|m| unacked.contains(&m.id)).map(|m| m.addr.clone()).collect()
}
