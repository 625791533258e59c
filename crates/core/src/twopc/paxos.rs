//! Paxos Commit on the participant side (Gray and Lamport, "Consensus on Transaction Commit"):
//! the participants of a transaction are the acceptors of one Paxos instance whose value is
//! the transaction's outcome, so the outcome survives its coordinator.
//!
//! - Ballot 0 is the coordinator's. Its `commit` — sent only once every participant voted
//!   yes — is ballot 0's proposal: a participant accepts it unless it promised a higher
//!   ballot, and answers `accepted`. Once a majority accepted, the outcome is chosen: the
//!   coordinator returns the write and tells everyone (`decision_reply`), and only then is the
//!   value applied, because a participant that applied an outcome not yet chosen could see
//!   the others choose the other one.
//! - An abort needs no ballot: the coordinator decides it instead of a commit, so no ballot
//!   can ever find a commit accepted, and every ballot ends in abort too.
//! - A participant whose decision is late takes over with a ballot only it uses: phase 1
//!   (`takeover` → `promise`: accept nothing lower, and say what you accepted), then phase 2
//!   (`accept` → `accepted`) of the highest-ballot outcome the promises of a majority report,
//!   or abort if none reports one. A majority that accepted chose the outcome; the leader
//!   applies it and tells the others. Any two majorities share a participant, so a commit a
//!   majority accepted at ballot 0 is reported to every later leader: it is never undone.
//! - A participant that never prepared the transaction rules it out when asked, as in the
//!   classic termination protocol: its vote can then only be no, so nobody committed.
//!
//! - The takeover goes to the coordinator too, which is no acceptor: it answers only with an
//!   outcome it knows for certain (an abort, or a commit a majority accepted). Without it, a
//!   participant that missed the news of a chosen commit, after the other acceptors that
//!   chose it crashed, could never gather a majority — and the write had returned committed.
//!
//! Participants take over one after another (the decision timer is staggered by their place
//! in the prepare), so usually one ballot suffices; two leaders at once only cost a round.
//! What still blocks: a majority of the participants unreachable for good.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::participant::{Asked, Participant, PendingPhase};
use crate::event::Event;
use crate::id::{Addr, ServerId, TxId, Version, MAX_NUMBER};
use crate::msg::{Msg, Proposal, TxState};
use crate::outbox::Outbox;

/// Takeover rounds without a decision before the transaction shows as blocked: a majority of
/// its participants is not answering. It keeps trying, more slowly.
pub(crate) const ROUNDS_BEFORE_BLOCKED: u32 = 2;

/// How a participant answers the coordinator's commit (ballot 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CommitAnswer {
    /// Accepted at ballot 0.
    Accepted,
    /// The outcome is known here already: committed, or aborted.
    Known { committed: bool },
    /// A participant took over with a higher ballot, which this one promised: too late.
    Refused,
    /// Neither pending nor remembered here.
    Unknown,
}

/// The smallest ballot above `above` owned by the participant at `place` of `n`: participant
/// `i` owns `i + 1`, `i + 1 + n`, `i + 1 + 2n`, …, so no two ever lead the same ballot, and 0
/// stays the coordinator's. `None` past [`MAX_NUMBER`].
pub(crate) fn next_ballot(above: u64, place: usize, n: usize) -> Option<u64> {
    let (n, own) = (n as u64, place as u64 + 1);
    let mut ballot = (above / n).checked_mul(n)?.checked_add(own)?;
    if ballot <= above {
        ballot = ballot.checked_add(n)?;
    }
    (ballot <= MAX_NUMBER).then_some(ballot)
}

/// A fellow participant's promise (phase 1b).
pub(crate) struct Promised {
    /// Who promised.
    pub(crate) server: ServerId,
    /// The ballot promised.
    pub(crate) ballot: u64,
    /// What it had accepted.
    pub(crate) accepted: Option<Proposal>,
}

/// How many participants of `n` make a majority.
fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// The outcome `version` stands for (`None`: abort).
fn state_of(version: Option<Version>) -> TxState {
    match version {
        Some(version) => TxState::Committed { version },
        None => TxState::Aborted,
    }
}

fn refuse(out: &mut Outbox, from: &Addr, reason: String) {
    out.event(Event::BadMessage { from: from.clone(), reason: reason.clone() });
    out.send(from, Msg::Error { op: None, reason });
}

impl Participant {
    /// The coordinator's commit of pending `tx` at `version`: ballot 0's proposal.
    pub(crate) fn accept_commit(&mut self, tx: TxId, version: Version) -> CommitAnswer {
        let Some(p) = self.pending.get_mut(&tx) else {
            return match self.outcome(&tx) {
                Some(TxState::Committed { .. }) => CommitAnswer::Known { committed: true },
                Some(_) => CommitAnswer::Known { committed: false },
                None => CommitAnswer::Unknown,
            };
        };
        let first = Proposal { ballot: 0, version: Some(version) };
        if p.accepted.as_ref() == Some(&first) {
            // A resend: accepted before any promise, and that stays true.
            return CommitAnswer::Accepted;
        }
        if p.promised > 0 {
            return CommitAnswer::Refused;
        }
        p.accepted = Some(first);
        CommitAnswer::Accepted
    }

    /// The decision timer of pending `tx` fired: take over with a fresh ballot (phase 1).
    pub(crate) fn lead(&mut self, tx: TxId, me: &ServerId, out: &mut Outbox) -> Option<Asked> {
        let p = self.pending.get_mut(&tx)?;
        let round = match p.phase {
            PendingPhase::Recovering { round, .. } => round + 1,
            _ => {
                out.event(Event::TerminationStarted { tx, key: p.key.clone() });
                1
            }
        };
        let n = p.participants.len();
        let ballot =
            p.participants.iter().position(|m| m.id == *me).and_then(|place| next_ballot(p.promised, place, n));
        // Not among its own transaction's participants, or out of ballots: it cannot lead.
        let Some(ballot) = ballot else { return Some(Asked { blocked: true, newly_blocked: None, decided: None }) };
        p.promised = ballot;
        p.phase = PendingPhase::Recovering {
            round,
            ballot,
            promised_by: alloc::vec![me.clone()],
            best: p.accepted.clone(),
            proposal: None,
            accepted_by: Vec::new(),
        };
        for m in p.participants.iter().filter(|m| m.id != *me) {
            out.send(&m.addr, Msg::Takeover { tx, server: m.id.clone(), ballot });
        }
        // The coordinator is no acceptor, but it may know the outcome chosen when the
        // acceptors that chose it are gone; it names no participant, so the leader names itself.
        out.send(&p.coordinator, Msg::Takeover { tx, server: me.clone(), ballot });
        let newly_blocked = (round == ROUNDS_BEFORE_BLOCKED + 1).then(|| {
            out.event(Event::NoMajority { tx, key: p.key.clone() });
            p.key.clone()
        });
        let decided = self.advance(tx, me, out);
        Some(Asked { blocked: round > ROUNDS_BEFORE_BLOCKED, newly_blocked, decided })
    }

    /// Moves this participant's ballot on: to phase 2 once a majority promised, to the
    /// outcome once a majority accepted. Returns the outcome chosen, for the server to apply.
    fn advance(&mut self, tx: TxId, me: &ServerId, out: &mut Outbox) -> Option<Option<Version>> {
        let p = self.pending.get_mut(&tx)?;
        let need = majority(p.participants.len());
        let PendingPhase::Recovering { ballot, promised_by, best, proposal, accepted_by, .. } = &mut p.phase else {
            return None;
        };
        if proposal.is_none() && promised_by.len() >= need {
            let chosen = Proposal { ballot: *ballot, version: best.as_ref().and_then(|b| b.version) };
            // Its own acceptance counts only if it promised nobody a higher ballot since.
            if p.promised <= *ballot {
                p.promised = *ballot;
                p.accepted = Some(chosen.clone());
                accepted_by.push(me.clone());
            }
            for m in p.participants.iter().filter(|m| m.id != *me) {
                out.send(&m.addr, Msg::Accept { tx, server: m.id.clone(), proposal: chosen.clone() });
            }
            *proposal = Some(chosen);
        }
        let chosen = proposal.as_ref().filter(|_| accepted_by.len() >= need)?.version;
        for m in p.participants.iter().filter(|m| m.id != *me) {
            out.send(&m.addr, Msg::DecisionReply { tx, state: state_of(chosen) });
        }
        Some(chosen)
    }

    /// Participant `from` takes `tx` over at `ballot`, asking `asked` (phase 1).
    pub(crate) fn answer_takeover(
        &mut self,
        from: &Addr,
        tx: TxId,
        asked: &ServerId,
        ballot: u64,
        me: &ServerId,
        out: &mut Outbox,
    ) {
        let Some(p) = self.known_or_pending(from, tx, asked, me, out) else { return };
        // A ballot at or below one promised already is too late: its leader will try higher.
        if ballot > p.promised {
            p.promised = ballot;
            out.send(from, Msg::Promise { tx, server: me.clone(), ballot, accepted: p.accepted.clone() });
        }
    }

    /// Participant `from` proposes an outcome of `tx` at its ballot, asking `asked` (phase 2).
    pub(crate) fn answer_accept(
        &mut self,
        from: &Addr,
        tx: TxId,
        asked: &ServerId,
        proposal: Proposal,
        me: &ServerId,
        out: &mut Outbox,
    ) {
        let Some(p) = self.known_or_pending(from, tx, asked, me, out) else { return };
        if proposal.ballot > 0 && proposal.ballot >= p.promised {
            p.promised = proposal.ballot;
            out.send(from, Msg::Accepted { tx, server: me.clone(), ballot: proposal.ballot });
            p.accepted = Some(proposal);
        }
    }

    /// What a takeover or accept from `from` works on: `tx` pending here, asked of this very
    /// participant by a fellow one. Answers at once what it can — the outcome known here, or
    /// "aborted" for a transaction never prepared here (now ruled out) — and refuses the rest.
    fn known_or_pending(
        &mut self,
        from: &Addr,
        tx: TxId,
        asked: &ServerId,
        me: &ServerId,
        out: &mut Outbox,
    ) -> Option<&mut crate::twopc::Pending> {
        let state = if asked != me {
            Some(TxState::Unknown)
        } else if let Some(state) = self.outcome(&tx) {
            Some(state.clone())
        } else if !self.pending.contains_key(&tx) {
            Some(self.rule_out(tx, out))
        } else {
            None
        };
        if let Some(state) = state {
            out.send(from, Msg::DecisionReply { tx, state });
            return None;
        }
        let p = self.pending.get_mut(&tx)?;
        if !p.participants.iter().any(|m| m.addr == *from) {
            refuse(out, from, format!("{from} is not a participant of {tx}"));
            return None;
        }
        Some(p)
    }

    /// A promise for this participant's ballot on `tx`, from `from`.
    pub(crate) fn handle_promise(
        &mut self,
        from: &Addr,
        tx: TxId,
        promise: Promised,
        me: &ServerId,
        out: &mut Outbox,
    ) -> Option<Option<Version>> {
        let Promised { server, ballot, accepted } = promise;
        let p = self.pending.get_mut(&tx)?;
        if !p.participants.iter().any(|m| m.id == server && m.addr == *from) {
            return None;
        }
        let PendingPhase::Recovering { ballot: ours, promised_by, best, proposal: None, .. } = &mut p.phase else {
            return None;
        };
        if ballot != *ours || promised_by.contains(&server) {
            return None;
        }
        promised_by.push(server);
        if let Some(a) = accepted.filter(|a| a.ballot < ballot) {
            if best.as_ref().is_none_or(|b| a.ballot > b.ballot) {
                *best = Some(a);
            }
        }
        self.advance(tx, me, out)
    }

    /// Participant `server` accepted this participant's proposal for `tx` at `ballot`.
    pub(crate) fn handle_accepted(
        &mut self,
        from: &Addr,
        tx: TxId,
        server: ServerId,
        ballot: u64,
        me: &ServerId,
        out: &mut Outbox,
    ) -> Option<Option<Version>> {
        let p = self.pending.get_mut(&tx)?;
        if !p.participants.iter().any(|m| m.id == server && m.addr == *from) {
            return None;
        }
        let PendingPhase::Recovering { ballot: ours, proposal: Some(_), accepted_by, .. } = &mut p.phase else {
            return None;
        };
        if ballot != *ours || accepted_by.contains(&server) {
            return None;
        }
        accepted_by.push(server);
        self.advance(tx, me, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_are_owned_by_place_and_grow() {
        // Three participants: place 0 owns 1, 4, 7…; place 2 owns 3, 6, 9…
        assert_eq!(next_ballot(0, 0, 3), Some(1));
        assert_eq!(next_ballot(1, 0, 3), Some(4));
        assert_eq!(next_ballot(3, 0, 3), Some(4));
        assert_eq!(next_ballot(0, 2, 3), Some(3));
        assert_eq!(next_ballot(3, 2, 3), Some(6));
        assert_eq!(next_ballot(5, 1, 3), Some(8));
        assert_eq!(next_ballot(0, 0, 1), Some(1));
        assert_eq!(next_ballot(MAX_NUMBER, 0, 3), None);
    }
}
