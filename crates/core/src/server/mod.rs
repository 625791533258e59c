//! The storage server: a thin router over its parts.
//!
//! - `storage`: the bucket of versioned key/value pairs and the local RPCs on it;
//! - `lease`: heartbeats and the lease that lets the server vote and answer reads;
//! - `rebalance`: the current and stable views, and the copies that move between them;
//! - `held`: prepares and reads from an epoch the server has not learned yet, held until it
//!   has;
//! - the 2PC participant in `crate::twopc::participant`: votes, decisions, termination, and
//!   in `crate::twopc::paxos` the takeover of Paxos Commit.
//!
//! [`Server`] owns one of each, hands every message to the part it concerns, and gives a part
//! what it needs of the others as arguments.

mod config;
mod held;
mod lease;
mod rebalance;
mod storage;
mod timer;

#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::event::Event;
use crate::id::{Addr, Epoch, OpId, ServerId, TxId, Version, View};
use crate::leaders::Leaders;
use crate::msg::{HeartbeatStatus, LocalReply, Msg, ReadAnswer, Transmit};
use crate::outbox::Outbox;
use crate::peer::{members_only, Peer};
use crate::ring::position;
use crate::rng::Rng;
use crate::time::{Deadline, Time, Timers};
use crate::twopc::participant::{Participant, VoteContext};
use crate::twopc::paxos::{CommitAnswer, Promised};
use crate::twopc::{CommitProtocol, Pending, PendingPhase};
use crate::Node;

pub use config::ServerConfig;
pub use storage::Entry;

use held::{Ask, Held, HeldRequests};
use lease::Lease;
use rebalance::{Cx, Rebalancer};
use storage::Storage;
use timer::Timer;

/// A storage server.
///
/// Run loop, as for every role: after each `handle_*` call, drain
/// [`poll_transmit`](Node::poll_transmit) and [`poll_event`](Node::poll_event), then arm one
/// timer for [`poll_timeout`](Node::poll_timeout) and call `handle_timeout` when it passes.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    id: ServerId,
    storage: Storage,
    rebalance: Rebalancer,
    tx: Participant,
    lease: Lease,
    /// The view leader's replicas, and the one heartbeats go to.
    leaders: Leaders,
    /// Whether the last heartbeat is still unanswered: the next one goes to another replica.
    unanswered: bool,
    /// Requests from an epoch ahead of this server's current view.
    held: HeldRequests,
    timers: Timers<Timer>,
    out: Outbox,
}

impl Server {
    /// A fresh server process: empty bucket, no view yet, first heartbeat due at once.
    pub fn new(config: ServerConfig, now: Time) -> Self {
        let mut rng = Rng::new(config.seed);
        let id = config.id.clone().unwrap_or_else(|| ServerId::random(&mut rng));
        let mut timers = Timers::default();
        timers.set(Timer::Heartbeat, now);
        Server {
            leaders: Leaders::new(config.view_leaders.clone()),
            unanswered: false,
            held: HeldRequests::default(),
            config,
            id,
            storage: Storage::default(),
            rebalance: Rebalancer::default(),
            tx: Participant::default(),
            lease: Lease::default(),
            timers,
            out: Outbox::default(),
        }
    }

    /// This process's id.
    pub fn id(&self) -> &ServerId {
        &self.id
    }

    /// Where it listens.
    pub fn addr(&self) -> &Addr {
        &self.config.addr
    }

    /// The view it works in.
    pub fn view(&self) -> &View {
        self.rebalance.current()
    }

    /// The newest fully rebalanced view it knows.
    pub fn stable_view(&self) -> &View {
        self.rebalance.stable()
    }

    /// The newest epoch its own rebalancing finished for.
    pub fn rebalanced(&self) -> Epoch {
        self.rebalance.rebalanced()
    }

    /// The bucket, by key.
    pub fn bucket(&self) -> &BTreeMap<String, Entry> {
        self.storage.bucket()
    }

    /// How this server decides a transaction whose coordinator went silent.
    pub fn commit_protocol(&self) -> CommitProtocol {
        self.config.commit
    }

    /// Prepared, undecided transactions.
    pub fn pending(&self) -> impl Iterator<Item = &Pending> {
        self.tx.pending()
    }

    /// Until when this server may vote and answer reads without hearing from the view leader
    /// again; `None` while it may not at all (no heartbeat accepted yet, or declared failed).
    pub fn lease(&self) -> Option<Deadline> {
        Some(Deadline { due: self.lease.until()?, span_ms: self.config.lease_ms })
    }

    /// When prepared transaction `tx` next asks around for its decision (the first time, the
    /// termination protocol starts).
    pub fn decision_deadline(&self, tx: &TxId) -> Option<Deadline> {
        let due = self.timers.at(&Timer::Decision(*tx))?;
        let blocked = self.tx.pending_tx(tx).is_some_and(Pending::is_blocked);
        Some(Deadline { due, span_ms: self.decision_period(blocked) })
    }

    /// How long a prepared transaction waits before asking (again) how it ended.
    fn decision_period(&self, blocked: bool) -> u64 {
        // Blocked transactions keep asking, more slowly: only the coordinator can free them.
        if blocked {
            self.config.decision_timeout_ms * 4
        } else {
            self.config.decision_timeout_ms
        }
    }

    /// Copies sent and not yet acknowledged.
    pub fn unacked_copies(&self) -> usize {
        self.rebalance.unacked_copies()
    }

    /// `key`'s replicas in this server's current view, primary first.
    pub fn placement(&self, key: &str) -> Vec<ServerId> {
        self.rebalance.placement(key, self.config.replicas)
    }

    /// Rebalancing and what it works on besides its own state, borrowed apart.
    fn rebalancing(&mut self) -> (&mut Rebalancer, Cx<'_>) {
        let cx = Cx {
            me: &self.id,
            config: &self.config,
            storage: &mut self.storage,
            tx: &self.tx,
            timers: &mut self.timers,
            out: &mut self.out,
        };
        (&mut self.rebalance, cx)
    }

    /// Runs a rebalancing step; heartbeats at once when it finished this server's part.
    fn rebalance_step(&mut self, now: Time, step: impl FnOnce(&mut Rebalancer, &mut Cx<'_>) -> bool) {
        let (rebalance, mut cx) = self.rebalancing();
        if step(rebalance, &mut cx) {
            self.heartbeat(now);
        }
    }

    // ---- membership: heartbeats and the lease

    fn heartbeat(&mut self, now: Time) {
        let msg = Msg::Heartbeat {
            id: self.id.clone(),
            addr: self.config.addr.clone(),
            epoch: self.rebalance.current().epoch,
            stable: self.rebalance.stable().epoch,
            rebalanced: self.rebalance.rebalanced(),
            sent: now,
        };
        self.unanswered = true;
        self.out.send(self.leaders.current(), msg);
        self.timers.set(Timer::Heartbeat, now + self.config.heartbeat_ms);
    }

    fn handle_heartbeat_reply(&mut self, now: Time, id: ServerId, sent: Time, status: HeartbeatStatus) {
        // A reply naming a time not yet come is not an answer to anything this server sent.
        if id != self.id || sent > now {
            return;
        }
        self.unanswered = false;
        match status {
            HeartbeatStatus::Ok { view, stable, .. } => {
                self.lease.accepted(sent, self.config.lease_ms);
                self.rebalance_step(now, |rebalance, cx| rebalance.learn(now, view, stable, cx));
                // What arrived after this heartbeat left waits for the answer to the next one.
                self.answer_held(now, sent);
                if !self.held.is_empty() && !self.unanswered {
                    self.heartbeat(now);
                }
            }
            HeartbeatStatus::Denied => {
                self.lease.deny();
                self.out.event(Event::Denied);
                self.answer_held(now, now);
            }
            HeartbeatStatus::Retry => self.out.event(Event::ToldToRetry),
            // With a leader named, heartbeat it at once; knowing none, the next replica gets
            // the next heartbeat (at once would ping-pong while no replica leads).
            HeartbeatStatus::NotLeader { leader } => {
                if self.leaders.follow(leader.as_ref()) && leader.is_some() {
                    self.heartbeat(now);
                }
            }
        }
    }

    // ---- two-phase commit: the participant, and what its decisions do to the bucket

    // Called from two places (a new prepare, a held one): kept out of line, the page's wasm
    // carries one copy of it.
    #[inline(never)]
    fn vote(&mut self, now: Time, from: &Addr, prepare: Pending, expected: ServerId) {
        let tx = prepare.tx;
        let wait = self.first_decision_wait(&prepare);
        let cx = VoteContext {
            me: &self.id,
            serving: self.lease.serving(now),
            epoch: self.rebalance.current().epoch,
            version: self.storage.version(&prepare.key),
            too_large: self.config.limits.entry(&prepare.key, &prepare.value).err(),
        };
        if self.tx.vote(from, prepare, expected, &cx, &mut self.out) {
            self.timers.set(Timer::Decision(tx), now + wait);
        }
    }

    /// How long a newly prepared transaction waits for its decision. In Paxos Commit the
    /// participants take over one after another, by their place in the prepare, so that one
    /// ballot usually suffices.
    fn first_decision_wait(&self, prepare: &Pending) -> u64 {
        let t = self.config.decision_timeout_ms;
        let (n, place) = (prepare.participants.len(), prepare.participants.iter().position(|m| m.id == self.id));
        match (self.config.commit, place) {
            (CommitProtocol::Paxos, Some(place)) if n > 0 => t + t * place as u64 / n as u64,
            _ => t,
        }
    }

    /// Applies a decision to a pending transaction (from the coordinator or from a peer in the
    /// termination protocol). Returns whether the transaction was pending here.
    fn decide(&mut self, now: Time, tx: TxId, commit: Option<Version>) -> bool {
        let Some(p) = self.tx.decide(tx, commit, &mut self.out) else { return false };
        self.timers.cancel(&Timer::Decision(tx));
        let pos = position(&p.key);
        let epoch = self.rebalance.current().epoch;
        if let Some(version) = commit {
            self.storage.store_if_newer(&p.key, p.value, version, epoch);
            if p.epoch != epoch {
                let (rebalance, mut cx) = self.rebalancing();
                rebalance.forward_late_commit(now, &p.key, pos, &mut cx);
            }
        }
        if !self.rebalance.replicates(pos, &self.id, self.config.replicas) {
            self.rebalance.mark_strays();
        }
        self.rebalance_step(now, |rebalance, cx| rebalance.release_deferred(now, &p.key, cx));
        true
    }

    /// The decision timer of a prepared transaction fired: ask around.
    fn decision_timeout(&mut self, now: Time, tx: TxId) {
        let asked = match self.config.commit {
            CommitProtocol::Classic => self.tx.decision_timeout(tx, &self.id, &mut self.out),
            CommitProtocol::Paxos => self.tx.lead(tx, &self.id, &mut self.out),
        };
        let Some(asked) = asked else { return };
        if let Some(commit) = asked.decided {
            self.decide(now, tx, commit);
            return;
        }
        self.timers.set(Timer::Decision(tx), now + self.decision_period(asked.blocked));
        if let Some(key) = asked.newly_blocked {
            // The key's committed value can move now; a late commit will be forwarded.
            self.rebalance_step(now, |rebalance, cx| rebalance.release_deferred(now, &key, cx));
        }
    }

    /// `getr`: the key's committed value, if this server may answer for it now.
    fn read(&self, now: Time, epoch: Epoch, key: &str) -> ReadAnswer {
        let current = self.rebalance.current().epoch;
        if !self.lease.serving(now) {
            return ReadAnswer::Isolated;
        }
        if epoch != current {
            return ReadAnswer::WrongEpoch { epoch: current };
        }
        if let Some(p) = self.tx.pending_on(key) {
            return ReadAnswer::Pending { tx: p.tx };
        }
        // A new replica answers with what it has, which may predate its copy: the client
        // takes the newest answer and counts on the stable replicas for the latest.
        let (pos, r) = (position(key), self.config.replicas);
        if !self.rebalance.replicates(pos, &self.id, r) && !self.rebalance.replicated(pos, &self.id, r) {
            return ReadAnswer::NotReplica;
        }
        match self.storage.get(key) {
            Some(e) => ReadAnswer::Value { value: e.value.clone(), version: e.version },
            None => ReadAnswer::NotFound,
        }
    }

    /// Holds a request naming an epoch ahead of this server's (see `held`) and heartbeats to
    /// learn it; hands the request back when it is to be answered now.
    fn hold_if_ahead(&mut self, now: Time, from: &Addr, epoch: Epoch, ask: Ask) -> Option<Ask> {
        if epoch <= self.rebalance.current().epoch || !self.lease.serving(now) {
            return Some(ask);
        }
        match self.held.hold(Held { since: now, from: from.clone(), ask }) {
            Ok(()) => {
                // A heartbeat already unanswered is answered with the newest view too; one
                // sent before this request is followed by another when it is.
                if !self.unanswered {
                    self.heartbeat(now);
                }
                None
            }
            Err(held) => Some(held.ask),
        }
    }

    /// Answers a request, held or new.
    fn answer(&mut self, now: Time, from: &Addr, ask: Ask) {
        match ask {
            Ask::Prepare { pending, expected } => self.vote(now, from, *pending, expected),
            Ask::Read { op, epoch, key } => {
                let result = self.read(now, epoch, &key);
                self.out.send(from, Msg::GetRReply { op, server: self.id.clone(), result });
            }
        }
    }

    /// Answers the held requests that arrived at or before `until`, and those this server has
    /// caught up with.
    fn answer_held(&mut self, now: Time, until: Time) {
        for held in self.held.take_until(until, self.rebalance.current().epoch) {
            self.answer(now, &held.from, held.ask);
        }
    }

    fn reject(&mut self, from: &Addr, msg: &Msg) {
        self.refuse(from, msg.op(), format!("a server does not handle `{}`", msg.name()));
    }

    fn refuse(&mut self, from: &Addr, op: Option<OpId>, reason: String) {
        self.out.event(Event::BadMessage { from: from.clone(), reason: reason.clone() });
        self.out.send(from, Msg::Error { op, reason });
    }
}

impl Node for Server {
    fn handle_message(&mut self, now: Time, peer: Peer<'_>, msg: Msg) {
        let from = peer.addr();
        match msg {
            ref m @ (Msg::HeartbeatReply { .. }
            | Msg::Transfer { .. }
            | Msg::TransferAck { .. }
            | Msg::DecisionRequest { .. }
            | Msg::Takeover { .. }
            | Msg::Promise { .. }
            | Msg::Accept { .. }
            | Msg::Accepted { .. })
                if !peer.is_member() =>
            {
                self.refuse(from, None, members_only(m))
            }
            ref m @ (Msg::Takeover { .. } | Msg::Promise { .. } | Msg::Accept { .. } | Msg::Accepted { .. })
                if self.config.commit == CommitProtocol::Classic =>
            {
                let reason = format!("this server runs classic two-phase commit, which has no `{}`", m.name());
                self.refuse(from, None, reason)
            }
            Msg::Print { op, text } => {
                self.out.event(Event::Printed { text });
                self.out.send(from, Msg::Reply { op, result: LocalReply::Ok });
            }
            Msg::Set { op, key, value } => match self.config.limits.entry(&key, &value) {
                Ok(()) => {
                    let result = self.storage.set(key, value, self.rebalance.current().epoch);
                    self.out.send(from, Msg::Reply { op, result });
                }
                Err(too_large) => self.refuse(from, Some(op), too_large.describe()),
            },
            Msg::Get { op, key } => {
                let result = self.storage.get_local(key);
                self.out.send(from, Msg::Reply { op, result });
            }
            Msg::QueryAllKeys { op } => {
                let result = self.storage.keys();
                self.out.send(from, Msg::Reply { op, result });
            }
            // Only the view leader speaks for the view: a forged reply could deny or isolate us.
            Msg::HeartbeatReply { .. } if !self.leaders.contains(from) => {
                self.refuse(from, None, String::from("heartbeat replies are taken only from the view leader"));
            }
            Msg::HeartbeatReply { id, sent, status } => self.handle_heartbeat_reply(now, id, sent, status),
            Msg::Prepare { tx, epoch, server, key, value, participants, secret } => {
                let pending = Pending {
                    tx,
                    key,
                    value,
                    epoch,
                    coordinator: from.clone(),
                    participants,
                    phase: PendingPhase::Ready,
                    promised: 0,
                    accepted: None,
                    secret,
                };
                let ask = Ask::Prepare { pending: alloc::boxed::Box::new(pending), expected: server };
                if let Some(ask) = self.hold_if_ahead(now, from, epoch, ask) {
                    self.answer(now, from, ask);
                }
            }
            // Only the prepare's sender knows its secret: nobody else decides the transaction.
            Msg::Commit { tx, secret, .. } | Msg::Abort { tx, secret } if !self.tx.secret_fits(&tx, &secret) => {
                self.refuse(from, None, format!("the secret does not match {tx}'s prepare"));
            }
            Msg::Commit { tx, version, .. } if self.config.commit == CommitProtocol::Paxos => {
                let server = self.id.clone();
                let reply = match self.tx.accept_commit(tx, version) {
                    CommitAnswer::Accepted => Msg::Accepted { tx, server, ballot: 0 },
                    CommitAnswer::Known { committed } => Msg::Done { tx, server, committed },
                    // Left unanswered: the coordinator hears the outcome when it asks again.
                    CommitAnswer::Refused => return,
                    CommitAnswer::Unknown => Msg::Error { op: None, reason: format!("unknown transaction {tx}") },
                };
                self.out.send(from, reply);
            }
            Msg::Commit { tx, version, .. } => {
                let known = self.decide(now, tx, Some(version)) || self.tx.committed_version(&tx).is_some();
                if known {
                    self.out.send(from, Msg::Done { tx, server: self.id.clone(), committed: true });
                } else {
                    let reason = format!("unknown transaction {tx}");
                    self.out.send(from, Msg::Error { op: None, reason });
                }
            }
            Msg::Abort { tx, secret } => {
                if !self.decide(now, tx, None) && self.tx.outcome(&tx).is_none() {
                    // The abort overtook its prepare: the prepare with this secret is voted down.
                    self.tx.abort_early(tx, secret);
                }
                let committed = self.tx.committed_version(&tx).is_some();
                self.out.send(from, Msg::Done { tx, server: self.id.clone(), committed });
            }
            Msg::DecisionRequest { tx, server } => self.tx.answer_request(from, tx, server, &self.id, &mut self.out),
            // A decision told again (by the coordinator and by a taker-over) is no news.
            Msg::DecisionReply { tx, .. } if self.tx.outcome(&tx).is_some() => {}
            Msg::DecisionReply { tx, state } if self.tx.may_decide(peer, &tx) => {
                if let Some(commit) = self.tx.handle_reply(from, tx, state) {
                    self.decide(now, tx, commit);
                }
            }
            Msg::DecisionReply { tx, .. } => {
                let reason = format!("{from} is neither coordinator nor participant of a pending {tx}");
                self.refuse(from, None, reason);
            }
            Msg::Takeover { tx, server, ballot } => {
                self.tx.answer_takeover(from, tx, &server, ballot, &self.id, &mut self.out)
            }
            Msg::Accept { tx, server, proposal } => {
                self.tx.answer_accept(from, tx, &server, proposal, &self.id, &mut self.out)
            }
            Msg::Promise { tx, server, ballot, accepted } => {
                let promise = Promised { server, ballot, accepted };
                if let Some(commit) = self.tx.handle_promise(from, tx, promise, &self.id, &mut self.out) {
                    self.decide(now, tx, commit);
                }
            }
            Msg::Accepted { tx, server, ballot } => {
                if let Some(commit) = self.tx.handle_accepted(from, tx, server, ballot, &self.id, &mut self.out) {
                    self.decide(now, tx, commit);
                }
            }
            Msg::GetR { op, epoch, key } => {
                if let Some(ask) = self.hold_if_ahead(now, from, epoch, Ask::Read { op, epoch, key }) {
                    self.answer(now, from, ask);
                }
            }
            Msg::Transfer { epoch, items } => {
                self.rebalance_step(now, |rebalance, cx| rebalance.handle_transfer(from, epoch, items, cx));
            }
            Msg::TransferAck { keys, .. } => {
                self.rebalance_step(now, |rebalance, cx| rebalance.handle_transfer_ack(from, keys, cx));
            }
            Msg::Error { reason, .. } => {
                self.out.event(Event::BadMessage { from: from.clone(), reason });
            }
            other => self.reject(from, &other),
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::Heartbeat => {
                    // A period without an answer: that replica may be down; try the next.
                    if self.unanswered && self.leaders.replicated() {
                        self.leaders.next();
                    }
                    // Requests held a whole period without news are answered as they stand.
                    self.answer_held(now, Time(now.0.saturating_sub(self.config.heartbeat_ms)));
                    self.heartbeat(now)
                }
                Timer::Transfers => {
                    let (rebalance, mut cx) = self.rebalancing();
                    rebalance.handle_timeout(now, &mut cx);
                }
                Timer::Decision(tx) => self.decision_timeout(now, tx),
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.out.poll_event()
    }

    fn poll_timeout(&self) -> Option<Time> {
        self.timers.next()
    }
}
