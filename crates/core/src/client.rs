//! The client: the library behind the command line and the coordinator of two-phase commit.
//!
//! Every command returns an [`OpId`] at once; its result arrives later as
//! [`Event::OpDone`]. Replicated operations place keys with the view from the view leader,
//! cached by epoch, and retry with exponential backoff through view changes up to a limit.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, OpError};
use crate::event::Event;
use crate::id::{Addr, Epoch, Member, OpId, ServerId, TxId, Version};
use crate::msg::{LocalReply, LockAnswer, Msg, NoReason, ReadAnswer, Transmit, TxState, VoteAnswer};
use crate::ring::Ring;
use crate::rng::Rng;
use crate::time::{Time, Timers};
use crate::Node;

/// How a client behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// The requester name for locks; `None` makes one from the client's random id.
    pub name: Option<String>,
    /// Seeds the client id (and so its transaction ids) and the backoff jitter.
    pub seed: u64,
    /// Where the view leader listens.
    pub view_leader: Addr,
    /// Replicas per key (R); must match the servers'.
    pub replicas: usize,
    /// Virtual nodes per server; must match the servers'.
    pub vnodes: u32,
    /// How long to wait for any answer (ms).
    pub rpc_timeout_ms: u64,
    /// Attempts of a replicated operation before giving up.
    pub max_attempts: u32,
    /// First backoff between attempts (ms); doubles per attempt.
    pub backoff_ms: u64,
    /// Largest backoff (ms).
    pub backoff_max_ms: u64,
    /// How often `lock_get` asks again while queued (ms).
    pub lock_retry_ms: u64,
}

impl ClientConfig {
    /// Demo timings for a client of the view leader at `view_leader`.
    pub fn new(view_leader: Addr, seed: u64) -> Self {
        ClientConfig {
            name: None,
            seed,
            view_leader,
            replicas: 3,
            vnodes: 1,
            rpc_timeout_ms: 1_000,
            max_attempts: 8,
            backoff_ms: 100,
            backoff_max_ms: 2_000,
            lock_retry_ms: 5_000,
        }
    }
}

/// What a finished operation produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "output", rename_all = "snake_case")]
pub enum OpOutput {
    /// Done (print, set).
    Done,
    /// A value (get, getr); `getr` also gives its version.
    Value {
        /// The value.
        value: String,
        /// Its version, for `getr`.
        version: Option<Version>,
    },
    /// A server's keys.
    Keys {
        /// The keys.
        keys: Vec<String>,
    },
    /// The view.
    Servers {
        /// The epoch.
        epoch: Epoch,
        /// The servers.
        servers: Vec<Member>,
        /// Whether rebalancing for this epoch is under way.
        rebalancing: bool,
    },
    /// `setr` committed at this version on every replica.
    Written {
        /// The version.
        version: Version,
    },
    /// The lock is held.
    Granted,
    /// The lock was released.
    Released {
        /// Who holds it now.
        next_holder: Option<String>,
    },
    /// Left the lock's queue.
    LeftQueue,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Op(OpId),
    ViewFetch,
    /// Resend a returned write's commit to the participants that have not acknowledged it.
    Tell(TxId),
}

#[derive(Clone, Debug)]
struct CachedView {
    epoch: Epoch,
    members: Vec<Member>,
    ring: Ring,
}

impl CachedView {
    fn replicas(&self, key: &str, r: usize) -> Vec<Member> {
        self.ring
            .replicas(key, r)
            .into_iter()
            .filter_map(|id| self.members.iter().find(|m| &m.id == id).cloned())
            .collect()
    }
}

/// An unfinished operation of a client, as [`Client::operations`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpStatus {
    /// The operation.
    pub op: OpId,
    /// The command, in the course's words (`setr k v`, `lock_get atm`, …).
    pub what: String,
    /// Its attempt, from 1.
    pub attempt: u32,
    /// What it waits for.
    pub stage: Stage,
}

/// What an unfinished operation waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// An answer from the one node asked.
    Asking,
    /// The view, before it can pick replicas.
    NeedView,
    /// The end of a backoff before the next attempt.
    Backoff,
    /// 2PC phase one: prepares sent, votes arriving.
    Voting {
        /// The transaction.
        tx: TxId,
        /// Its participants.
        participants: Vec<ServerId>,
        /// Those that voted yes so far.
        yes: Vec<ServerId>,
    },
    /// 2PC phase two: decided, waiting for acknowledgements — of a commit from a majority of
    /// the participants, of an abort from all.
    Deciding {
        /// The transaction.
        tx: TxId,
        /// Its participants.
        participants: Vec<ServerId>,
        /// Commit (or abort).
        commit: bool,
        /// Participants yet to acknowledge.
        unacked: Vec<ServerId>,
    },
    /// `getr`: answers from every replica.
    Reading {
        /// The replicas asked.
        replicas: Vec<ServerId>,
        /// Those that answered.
        answered: Vec<ServerId>,
    },
    /// Queued for a lock, asking again periodically.
    LockQueued,
}

/// What happens once the decision is acknowledged (see [`Stage::Deciding`]).
#[derive(Clone, Debug)]
enum AfterDecision {
    Succeed(Version),
    Fail(OpError),
    Retry(String),
}

#[derive(Clone, Debug)]
enum SetPhase {
    NeedView,
    Backoff,
    Voting { tx: TxId, participants: Vec<Member>, yes: BTreeMap<ServerId, Version> },
    Finishing { tx: TxId, participants: Vec<Member>, unacked: BTreeSet<ServerId>, resends: u32, after: AfterDecision },
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

/// How many times phase two's decision is sent again to a participant that does not
/// acknowledge it; after that the participant learns it through the termination protocol.
const DECISION_RESENDS: u32 = 2;

#[derive(Clone, Debug)]
enum GetPhase {
    NeedView,
    Backoff,
    Reading { epoch: Epoch, replicas: Vec<Member>, answers: BTreeMap<ServerId, ReadAnswer> },
}

#[derive(Clone, Debug)]
enum Op {
    /// A local RPC to one server.
    Local {
        peer: Addr,
    },
    QueryServers {
        attempt: u32,
    },
    SetR {
        key: String,
        value: String,
        attempt: u32,
        phase: SetPhase,
    },
    GetR {
        key: String,
        attempt: u32,
        phase: GetPhase,
    },
    /// `waiting`: queued at the view leader, asking again after the lock retry period.
    LockGet {
        name: String,
        attempt: u32,
        waiting: bool,
    },
    LockRelease {
        name: String,
        attempt: u32,
    },
}

/// How many decisions the coordinator remembers for participants' late questions.
const DECISIONS_KEPT: usize = 1 << 16;

/// A client and 2PC coordinator.
///
/// Run loop, as for every role: after each command or `handle_*` call, drain
/// [`poll_transmit`](Node::poll_transmit) and [`poll_event`](Node::poll_event), then arm one
/// timer for [`poll_timeout`](Node::poll_timeout) and call `handle_timeout` when it passes.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    id: u64,
    name: String,
    rng: Rng,
    next_op: u64,
    next_tx: u64,
    view: Option<CachedView>,
    /// The op of the outstanding view query, if any.
    fetch: Option<OpId>,
    ops: BTreeMap<OpId, Op>,
    txs: BTreeMap<TxId, OpId>,
    telling: BTreeMap<TxId, Telling>,
    decisions: BTreeMap<TxId, TxState>,
    decision_order: VecDeque<TxId>,
    timers: Timers<Timer>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Client {
    /// A fresh client process with no view cached.
    pub fn new(config: ClientConfig, _now: Time) -> Self {
        let mut rng = Rng::new(config.seed);
        let id = rng.next_u64();
        let name = config.name.clone().unwrap_or_else(|| format!("client-{:04x}", id & 0xffff));
        Client {
            config,
            id,
            name,
            rng,
            next_op: 1,
            next_tx: 1,
            view: None,
            fetch: None,
            ops: BTreeMap::new(),
            txs: BTreeMap::new(),
            telling: BTreeMap::new(),
            decisions: BTreeMap::new(),
            decision_order: VecDeque::new(),
            timers: Timers::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The requester name used for locks.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The epoch of the cached view, if any.
    pub fn cached_epoch(&self) -> Option<Epoch> {
        self.view.as_ref().map(|v| v.epoch)
    }

    /// The cached view's servers.
    pub fn cached_servers(&self) -> &[Member] {
        self.view.as_ref().map_or(&[], |v| &v.members)
    }

    /// Operations not finished yet.
    pub fn ops_in_flight(&self) -> usize {
        self.ops.len()
    }

    /// Writes that returned while their commit is still being told, each with the participants
    /// yet to acknowledge it, oldest first (for observers).
    pub fn telling(&self) -> Vec<(TxId, Vec<ServerId>)> {
        self.telling.iter().map(|(tx, t)| (*tx, t.unacked.iter().cloned().collect())).collect()
    }

    /// No operation unfinished and no returned write's commit still being told.
    pub fn idle(&self) -> bool {
        self.ops.is_empty() && self.telling.is_empty()
    }

    /// Every unfinished operation and what it is waiting for, oldest first (for observers:
    /// the browser's inspector shows a coordinator's transactions with this).
    pub fn operations(&self) -> Vec<OpStatus> {
        let ids = |members: &[Member]| members.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
        self.ops
            .iter()
            .map(|(op, state)| {
                let (what, attempt, stage) = match state {
                    Op::Local { peer } => (format!("local RPC to {peer}"), 1, Stage::Asking),
                    Op::QueryServers { attempt } => ("query_servers".into(), *attempt, Stage::Asking),
                    Op::SetR { key, value, attempt, phase } => {
                        let stage = match phase {
                            SetPhase::NeedView => Stage::NeedView,
                            SetPhase::Backoff => Stage::Backoff,
                            SetPhase::Voting { tx, participants, yes } => Stage::Voting {
                                tx: *tx,
                                participants: ids(participants),
                                yes: yes.keys().cloned().collect(),
                            },
                            SetPhase::Finishing { tx, participants, unacked, after, .. } => Stage::Deciding {
                                tx: *tx,
                                participants: ids(participants),
                                commit: matches!(after, AfterDecision::Succeed(_)),
                                unacked: unacked.iter().cloned().collect(),
                            },
                        };
                        (format!("setr {key} {value}"), *attempt, stage)
                    }
                    Op::GetR { key, attempt, phase } => {
                        let stage = match phase {
                            GetPhase::NeedView => Stage::NeedView,
                            GetPhase::Backoff => Stage::Backoff,
                            GetPhase::Reading { replicas, answers, .. } => {
                                Stage::Reading { replicas: ids(replicas), answered: answers.keys().cloned().collect() }
                            }
                        };
                        (format!("getr {key}"), *attempt, stage)
                    }
                    Op::LockGet { name, attempt, waiting } => {
                        (format!("lock_get {name}"), *attempt, if *waiting { Stage::LockQueued } else { Stage::Asking })
                    }
                    Op::LockRelease { name, attempt } => (format!("lock_release {name}"), *attempt, Stage::Asking),
                };
                OpStatus { op: *op, what, attempt, stage }
            })
            .collect()
    }

    /// `key`'s replicas in the cached view, primary first.
    pub fn placement(&self, key: &str) -> Vec<ServerId> {
        self.view
            .as_ref()
            .map_or_else(Vec::new, |v| v.ring.replicas(key, self.config.replicas).into_iter().cloned().collect())
    }

    // ---- commands

    /// `print text` on one server.
    pub fn print(&mut self, now: Time, server: Addr, text: String) -> OpId {
        self.local(now, server, |op| Msg::Print { op, text })
    }

    /// `set key value` on one server, unreplicated.
    pub fn set(&mut self, now: Time, server: Addr, key: String, value: String) -> Result<OpId, ClientError> {
        check_key(&key)?;
        Ok(self.local(now, server, |op| Msg::Set { op, key, value }))
    }

    /// `get key` from one server.
    pub fn get(&mut self, now: Time, server: Addr, key: String) -> Result<OpId, ClientError> {
        check_key(&key)?;
        Ok(self.local(now, server, |op| Msg::Get { op, key }))
    }

    /// `query_all_keys` of one server.
    pub fn query_all_keys(&mut self, now: Time, server: Addr) -> OpId {
        self.local(now, server, |op| Msg::QueryAllKeys { op })
    }

    /// `query_servers`: the current view from the view leader (also refreshes the cache).
    pub fn query_servers(&mut self, now: Time) -> OpId {
        let op = self.new_op();
        self.ops.insert(op, Op::QueryServers { attempt: 1 });
        self.send_to_view_leader(now, op, Msg::QueryServers { op });
        op
    }

    /// `setr key value`: a replicated write by two-phase commit.
    pub fn setr(&mut self, now: Time, key: String, value: String) -> Result<OpId, ClientError> {
        check_key(&key)?;
        let op = self.new_op();
        self.ops.insert(op, Op::SetR { key, value, attempt: 1, phase: SetPhase::NeedView });
        self.need_view(now, op);
        Ok(op)
    }

    /// `getr key`: the latest committed value among the replicas.
    pub fn getr(&mut self, now: Time, key: String) -> Result<OpId, ClientError> {
        check_key(&key)?;
        let op = self.new_op();
        self.ops.insert(op, Op::GetR { key, attempt: 1, phase: GetPhase::NeedView });
        self.need_view(now, op);
        Ok(op)
    }

    /// `lock_get name`: asks until granted (or a deadlock is reported).
    pub fn lock_get(&mut self, now: Time, name: String) -> Result<OpId, ClientError> {
        if name.is_empty() {
            return Err(ClientError::EmptyLockName);
        }
        let op = self.new_op();
        let msg = Msg::LockGet { op, name: name.clone(), requester: self.name.clone() };
        self.ops.insert(op, Op::LockGet { name, attempt: 1, waiting: false });
        self.send_to_view_leader(now, op, msg);
        Ok(op)
    }

    /// `lock_release name`.
    pub fn lock_release(&mut self, now: Time, name: String) -> Result<OpId, ClientError> {
        if name.is_empty() {
            return Err(ClientError::EmptyLockName);
        }
        let op = self.new_op();
        let msg = Msg::LockRelease { op, name: name.clone(), requester: self.name.clone() };
        self.ops.insert(op, Op::LockRelease { name, attempt: 1 });
        self.send_to_view_leader(now, op, msg);
        Ok(op)
    }

    // ---- plumbing

    fn new_op(&mut self) -> OpId {
        let op = OpId(self.next_op);
        self.next_op += 1;
        op
    }

    fn send(&mut self, to: &Addr, msg: Msg) {
        self.transmits.push_back(Transmit { to: to.clone(), msg });
    }

    fn local(&mut self, now: Time, server: Addr, make: impl FnOnce(OpId) -> Msg) -> OpId {
        let op = self.new_op();
        self.send(&server, make(op));
        self.ops.insert(op, Op::Local { peer: server });
        self.timers.set(Timer::Op(op), now + self.config.rpc_timeout_ms);
        op
    }

    fn send_to_view_leader(&mut self, now: Time, op: OpId, msg: Msg) {
        let vl = self.config.view_leader.clone();
        self.send(&vl, msg);
        self.timers.set(Timer::Op(op), now + self.config.rpc_timeout_ms);
    }

    fn complete(&mut self, op: OpId, result: Result<OpOutput, OpError>) {
        if self.ops.remove(&op).is_some() {
            self.timers.cancel(&Timer::Op(op));
            self.events.push_back(Event::OpDone { op, result });
        }
    }

    fn remember(&mut self, tx: TxId, state: TxState) {
        if self.decisions.insert(tx, state).is_none() {
            self.decision_order.push_back(tx);
            if self.decision_order.len() > DECISIONS_KEPT {
                if let Some(old) = self.decision_order.pop_front() {
                    self.decisions.remove(&old);
                }
            }
        }
    }

    /// Starts the op's next attempt with the cached view, or fetches a view first.
    fn need_view(&mut self, now: Time, op: OpId) {
        if self.view.as_ref().is_some_and(|v| !v.members.is_empty()) {
            self.start_attempt(now, op);
            return;
        }
        if self.fetch.is_none() {
            let fetch = self.new_op();
            self.fetch = Some(fetch);
            let vl = self.config.view_leader.clone();
            self.send(&vl, Msg::QueryServers { op: fetch });
            self.timers.set(Timer::ViewFetch, now + self.config.rpc_timeout_ms);
        }
    }

    fn learn_view(&mut self, now: Time, epoch: Epoch, servers: &[Member]) {
        if self.view.as_ref().is_some_and(|v| v.epoch > epoch) {
            return;
        }
        let ring = Ring::new(servers.iter().map(|m| &m.id), self.config.vnodes);
        self.view = Some(CachedView { epoch, members: servers.to_vec(), ring });
        self.fetch = None;
        self.timers.cancel(&Timer::ViewFetch);
        let waiting = self.ops_needing_view();
        for op in waiting {
            self.start_attempt(now, op);
        }
    }

    fn ops_needing_view(&self) -> Vec<OpId> {
        self.ops.iter().filter(|(_, o)| o.needs_view()).map(|(id, _)| *id).collect()
    }

    fn start_attempt(&mut self, now: Time, op: OpId) {
        let r = self.config.replicas;
        let Some(view) = &self.view else { return };
        let epoch = view.epoch;
        let key = match self.ops.get(&op) {
            Some(Op::SetR { key, .. } | Op::GetR { key, .. }) => key.clone(),
            _ => return,
        };
        let replicas = view.replicas(&key, r);
        if replicas.is_empty() {
            self.complete(op, Err(OpError::NoServers));
            return;
        }
        let tx = TxId { client: self.id, seq: self.next_tx };
        let Some(entry) = self.ops.get_mut(&op) else { return };
        let mut out = Vec::new();
        match entry {
            Op::SetR { key, value, phase, .. } => {
                self.next_tx += 1;
                for m in &replicas {
                    let msg = Msg::Prepare {
                        tx,
                        epoch,
                        server: m.id.clone(),
                        key: key.clone(),
                        value: value.clone(),
                        participants: replicas.clone(),
                    };
                    out.push((m.addr.clone(), msg));
                }
                self.txs.insert(tx, op);
                *phase = SetPhase::Voting { tx, participants: replicas, yes: BTreeMap::new() };
            }
            Op::GetR { key, phase, .. } => {
                for m in &replicas {
                    out.push((m.addr.clone(), Msg::GetR { op, epoch, key: key.clone() }));
                }
                *phase = GetPhase::Reading { epoch, replicas, answers: BTreeMap::new() };
            }
            _ => return,
        }
        for (to, msg) in out {
            self.send(&to, msg);
        }
        self.timers.set(Timer::Op(op), now + self.config.rpc_timeout_ms);
    }

    /// The attempt failed for a transient reason: back off and try again, or give up.
    fn retry_later(&mut self, now: Time, op: OpId, reason: String) {
        let max = self.config.max_attempts;
        let Some(entry) = self.ops.get_mut(&op) else { return };
        let attempt = match entry {
            Op::SetR { attempt, phase, .. } => {
                *phase = SetPhase::Backoff;
                attempt
            }
            Op::GetR { attempt, phase, .. } => {
                *phase = GetPhase::Backoff;
                attempt
            }
            _ => return,
        };
        if *attempt >= max {
            let attempts = *attempt;
            self.complete(op, Err(OpError::GaveUp { attempts, reason }));
            return;
        }
        *attempt += 1;
        let next = *attempt;
        let base = self.config.backoff_ms.saturating_mul(1 << (next - 2).min(16)).min(self.config.backoff_max_ms);
        // Jitter spreads competing clients apart so they do not collide again in lockstep.
        let delay = base + self.rng.range(0, base / 2);
        self.events.push_back(Event::OpRetrying { op, attempt: next, reason });
        self.timers.set(Timer::Op(op), now + delay);
    }

    /// Phase two: tell every participant the decision and wait for their acknowledgements.
    fn decide(&mut self, now: Time, op: OpId, after: AfterDecision) {
        let Some(Op::SetR { key, phase, .. }) = self.ops.get_mut(&op) else { return };
        let SetPhase::Voting { tx, participants, .. } = phase else { return };
        let (tx, participants) = (*tx, core::mem::take(participants));
        let key = key.clone();
        let (state, msg) = match after {
            AfterDecision::Succeed(version) => (TxState::Committed { version }, Msg::Commit { tx, version }),
            _ => (TxState::Aborted, Msg::Abort { tx }),
        };
        *phase = SetPhase::Finishing {
            tx,
            participants: participants.clone(),
            unacked: participants.iter().map(|m| m.id.clone()).collect(),
            resends: 0,
            after,
        };
        self.events.push_back(Event::TxDecided {
            tx,
            key,
            commit: matches!(state, TxState::Committed { .. }),
            participants: participants.iter().map(|m| m.id.clone()).collect(),
        });
        self.remember(tx, state);
        for m in &participants {
            self.send(&m.addr, msg.clone());
        }
        self.timers.set(Timer::Op(op), now + self.config.rpc_timeout_ms);
    }

    fn handle_vote(&mut self, now: Time, tx: TxId, server: ServerId, vote: VoteAnswer) {
        let Some(&op) = self.txs.get(&tx) else { return };
        let my_id = self.id;
        let Some(Op::SetR { phase: SetPhase::Voting { tx: current, participants, yes }, .. }) = self.ops.get_mut(&op)
        else {
            return;
        };
        // Only the participants' votes count: a stray yes must not stand in for a missing one.
        if *current != tx || !participants.iter().any(|m| m.id == server) {
            return;
        }
        match vote {
            VoteAnswer::Yes { version } => {
                yes.insert(server, version);
                if yes.len() == participants.len() {
                    let version = yes.values().max().copied().unwrap_or(0) + 1;
                    self.decide(now, op, AfterDecision::Succeed(version));
                }
            }
            VoteAnswer::No { reason } => {
                let after = match reason {
                    NoReason::KeyBusy { tx: other } if other.client != my_id => {
                        AfterDecision::Fail(OpError::Conflict { tx: other })
                    }
                    NoReason::KeyBusy { tx: other } => {
                        AfterDecision::Retry(format!("our earlier {other} is still pending at {server}"))
                    }
                    NoReason::EpochMismatch { epoch } => {
                        self.view = None;
                        AfterDecision::Retry(format!("{server} is at epoch {epoch}"))
                    }
                    NoReason::WrongServer { id } => {
                        self.view = None;
                        AfterDecision::Retry(format!("expected {server}, found {id}"))
                    }
                    NoReason::Rebalancing => AfterDecision::Retry(format!("the key is rebalancing at {server}")),
                    NoReason::Aborted => AfterDecision::Retry(format!("{server} ruled the transaction out")),
                    NoReason::Isolated => {
                        self.view = None;
                        AfterDecision::Retry(format!("{server} lost touch with the view leader"))
                    }
                };
                self.decide(now, op, after);
            }
        }
    }

    fn handle_done(&mut self, now: Time, tx: TxId, server: ServerId) {
        if let Some(telling) = self.telling.get_mut(&tx) {
            if telling.unacked.remove(&server) && telling.unacked.is_empty() {
                self.telling.remove(&tx);
                self.timers.cancel(&Timer::Tell(tx));
            }
            return;
        }
        let Some(&op) = self.txs.get(&tx) else { return };
        let Some(Op::SetR {
            phase: SetPhase::Finishing { tx: current, participants, unacked, resends, after }, ..
        }) = self.ops.get_mut(&op)
        else {
            return;
        };
        if *current != tx || !unacked.remove(&server) {
            return;
        }
        if unacked.is_empty() {
            self.finish(now, op);
            return;
        }
        // A commit that a majority applied outlives this coordinator: a participant left
        // waiting finds it there through the termination protocol. So the write returns now,
        // and the rest are told in the background.
        let AfterDecision::Succeed(version) = *after else { return };
        if 2 * (participants.len() - unacked.len()) <= participants.len() {
            return;
        }
        let telling = Telling {
            version,
            participants: core::mem::take(participants),
            unacked: core::mem::take(unacked),
            resends: *resends,
        };
        self.txs.remove(&tx);
        self.telling.insert(tx, telling);
        self.timers.set(Timer::Tell(tx), now + self.config.rpc_timeout_ms);
        self.complete(op, Ok(OpOutput::Written { version }));
    }

    fn tell_timeout(&mut self, now: Time, tx: TxId) {
        let Some(telling) = self.telling.get_mut(&tx) else { return };
        if telling.resends >= DECISION_RESENDS {
            self.telling.remove(&tx);
            return;
        }
        telling.resends += 1;
        let commit = Msg::Commit { tx, version: telling.version };
        let targets = unacked_addrs(&telling.participants, &telling.unacked);
        for to in targets {
            self.send(&to, commit.clone());
        }
        self.timers.set(Timer::Tell(tx), now + self.config.rpc_timeout_ms);
    }

    fn finish(&mut self, now: Time, op: OpId) {
        let Some(Op::SetR { phase: SetPhase::Finishing { tx, after, .. }, .. }) = self.ops.get(&op) else { return };
        let (tx, after) = (*tx, after.clone());
        self.txs.remove(&tx);
        match after {
            AfterDecision::Succeed(version) => self.complete(op, Ok(OpOutput::Written { version })),
            AfterDecision::Fail(error) => self.complete(op, Err(error)),
            AfterDecision::Retry(reason) => self.retry_later(now, op, reason),
        }
    }

    fn handle_decision_request(&mut self, now: Time, from: &Addr, tx: TxId) {
        if let Some(state) = self.decisions.get(&tx) {
            let state = state.clone();
            self.send(from, Msg::DecisionReply { tx, state });
            return;
        }
        let voting = self.txs.get(&tx).copied().filter(
            |op| matches!(self.ops.get(op), Some(Op::SetR { phase: SetPhase::Voting { tx: t, .. }, .. }) if *t == tx),
        );
        if let Some(op) = voting {
            // Undecided yet: a coordinator may always abort before deciding to commit.
            self.decide(
                now,
                op,
                AfterDecision::Retry(String::from("a participant timed out waiting for the decision")),
            );
            self.send(from, Msg::DecisionReply { tx, state: TxState::Aborted });
        }
        // Otherwise the transaction is not ours, or so old it was forgotten: stay silent
        // rather than guess, and let the participant keep asking the others.
    }

    fn handle_getr_reply(&mut self, now: Time, op: OpId, server: ServerId, result: ReadAnswer) {
        let Some(Op::GetR { phase: GetPhase::Reading { replicas, answers, .. }, .. }) = self.ops.get_mut(&op) else {
            return;
        };
        if replicas.iter().any(|m| m.id == server) {
            answers.insert(server, result);
            if answers.len() == replicas.len() {
                self.conclude_read(now, op);
            }
        }
    }

    /// Returns the newest committed value among the answers, or retries when an answer says
    /// the value may be changing under us.
    fn conclude_read(&mut self, now: Time, op: OpId) {
        let Some(Op::GetR { key, phase: GetPhase::Reading { epoch, replicas, answers }, .. }) = self.ops.get(&op)
        else {
            return;
        };
        let mut best: Option<(Version, &String)> = None;
        let mut usable = 0;
        let mut retry: Option<String> = None;
        let mut stale_view = false;
        for (server, answer) in answers {
            match answer {
                ReadAnswer::Value { value, version } => {
                    usable += 1;
                    if best.is_none_or(|(v, _)| *version > v) {
                        best = Some((*version, value));
                    }
                }
                ReadAnswer::NotFound => usable += 1,
                ReadAnswer::Pending { tx } => retry = Some(format!("{tx} is pending at {server}")),
                ReadAnswer::WrongEpoch { epoch: theirs } => {
                    stale_view = true;
                    retry = Some(format!("{server} is at epoch {theirs}, not {epoch}"));
                }
                ReadAnswer::Rebalancing => {}
                ReadAnswer::Isolated => stale_view = true,
            }
        }
        let silent: Vec<&str> =
            replicas.iter().filter(|m| !answers.contains_key(&m.id)).map(|m| m.id.as_str()).collect();
        if retry.is_none() && usable == 0 {
            retry = Some(if silent.is_empty() {
                String::from("the key's copies are still moving")
            } else {
                format!("no answer from {}", silent.join(", "))
            });
        }
        let result = match (retry, best) {
            (Some(reason), _) => Err(reason),
            (None, Some((version, value))) => Ok(Ok(OpOutput::Value { value: value.clone(), version: Some(version) })),
            (None, None) => Ok(Err(OpError::NotFound { key: key.clone() })),
        };
        // A silent replica may be dead: the next attempt should see the view without it.
        if stale_view || !silent.is_empty() {
            self.view = None;
        }
        match result {
            Ok(done) => self.complete(op, done),
            Err(reason) => self.retry_later(now, op, reason),
        }
    }

    fn handle_lock_reply(&mut self, now: Time, op: OpId, result: LockAnswer) {
        let Some(entry) = self.ops.get_mut(&op) else { return };
        let done = match (entry, result) {
            (Op::LockGet { .. }, LockAnswer::Granted) => Ok(OpOutput::Granted),
            (Op::LockGet { name, waiting, .. }, LockAnswer::Retry { position }) => {
                *waiting = true;
                let name = name.clone();
                self.events.push_back(Event::LockWaiting { op, name, position });
                self.timers.set(Timer::Op(op), now + self.config.lock_retry_ms);
                return;
            }
            (Op::LockGet { .. }, LockAnswer::Deadlock { cycle }) => Err(OpError::Deadlock { cycle }),
            (Op::LockRelease { .. }, LockAnswer::Released { next_holder }) => Ok(OpOutput::Released { next_holder }),
            (Op::LockRelease { .. }, LockAnswer::LeftQueue) => Ok(OpOutput::LeftQueue),
            (Op::LockRelease { .. }, LockAnswer::UnknownLock) => Err(OpError::UnknownLock),
            (Op::LockRelease { .. }, LockAnswer::NotHolderOrWaiter) => Err(OpError::NotHolderOrWaiter),
            (_, other) => Err(OpError::Remote { reason: format!("unexpected lock answer {other:?}") }),
        };
        self.complete(op, done);
    }

    fn handle_reply(&mut self, op: OpId, result: LocalReply) {
        if !matches!(self.ops.get(&op), Some(Op::Local { .. })) {
            return;
        }
        let done = match result {
            LocalReply::Ok => Ok(OpOutput::Done),
            LocalReply::Value { value } => Ok(OpOutput::Value { value, version: None }),
            LocalReply::NotFound { key } => Err(OpError::NotFound { key }),
            LocalReply::Keys { keys } => Ok(OpOutput::Keys { keys }),
        };
        self.complete(op, done);
    }

    fn op_timeout(&mut self, now: Time, op: OpId) {
        let max = self.config.max_attempts;
        let vl = self.config.view_leader.clone();
        let Some(entry) = self.ops.get_mut(&op) else { return };
        match entry {
            Op::Local { peer } => {
                let peer = peer.clone();
                self.complete(op, Err(OpError::Timeout { peer }));
            }
            Op::QueryServers { attempt }
            | Op::LockRelease { attempt, .. }
            | Op::LockGet { attempt, waiting: false, .. }
                if *attempt >= max =>
            {
                self.complete(op, Err(OpError::Timeout { peer: vl }));
            }
            Op::QueryServers { attempt } => {
                *attempt += 1;
                self.send_to_view_leader(now, op, Msg::QueryServers { op });
            }
            Op::LockGet { name, attempt, waiting } => {
                // A queued requester asks again forever, as the course's client does; an
                // unanswered one counts attempts.
                if !*waiting {
                    *attempt += 1;
                }
                *waiting = false;
                let msg = Msg::LockGet { op, name: name.clone(), requester: self.name.clone() };
                self.send_to_view_leader(now, op, msg);
            }
            Op::LockRelease { name, attempt } => {
                *attempt += 1;
                let msg = Msg::LockRelease { op, name: name.clone(), requester: self.name.clone() };
                self.send_to_view_leader(now, op, msg);
            }
            Op::SetR { phase, .. } => match phase {
                SetPhase::NeedView => {}
                SetPhase::Backoff => {
                    *phase = SetPhase::NeedView;
                    self.need_view(now, op);
                }
                SetPhase::Voting { participants, yes, .. } => {
                    let silent: Vec<&str> =
                        participants.iter().filter(|m| !yes.contains_key(&m.id)).map(|m| m.id.as_str()).collect();
                    let reason = format!("no vote from {}", silent.join(", "));
                    self.view = None;
                    self.decide(now, op, AfterDecision::Retry(reason));
                }
                SetPhase::Finishing { tx, participants, unacked, resends, after } => {
                    if *resends >= DECISION_RESENDS {
                        self.finish(now, op);
                        return;
                    }
                    *resends += 1;
                    let msg = match after {
                        AfterDecision::Succeed(version) => Msg::Commit { tx: *tx, version: *version },
                        _ => Msg::Abort { tx: *tx },
                    };
                    let targets = unacked_addrs(participants, unacked);
                    for to in targets {
                        self.send(&to, msg.clone());
                    }
                    self.timers.set(Timer::Op(op), now + self.config.rpc_timeout_ms);
                }
            },
            Op::GetR { phase, .. } => match phase {
                GetPhase::NeedView => {}
                GetPhase::Backoff => {
                    *phase = GetPhase::NeedView;
                    self.need_view(now, op);
                }
                GetPhase::Reading { .. } => self.conclude_read(now, op),
            },
        }
    }

    fn view_fetch_timeout(&mut self, now: Time) {
        self.fetch = None;
        let waiting = self.ops_needing_view();
        let reason = format!("no answer from the view leader at {}", self.config.view_leader);
        for op in waiting {
            self.retry_later(now, op, reason.clone());
        }
    }
}

impl Op {
    fn needs_view(&self) -> bool {
        matches!(self, Op::SetR { phase: SetPhase::NeedView, .. } | Op::GetR { phase: GetPhase::NeedView, .. })
    }
}

fn check_key(key: &str) -> Result<(), ClientError> {
    if key.is_empty() {
        Err(ClientError::EmptyKey)
    } else {
        Ok(())
    }
}

impl Node for Client {
    fn handle_message(&mut self, now: Time, from: &Addr, msg: Msg) {
        match msg {
            Msg::Reply { op, result } => self.handle_reply(op, result),
            Msg::Servers { op, epoch, servers, rebalancing } => {
                self.learn_view(now, epoch, &servers);
                if matches!(self.ops.get(&op), Some(Op::QueryServers { .. })) {
                    self.complete(op, Ok(OpOutput::Servers { epoch, servers, rebalancing }));
                }
            }
            Msg::LockReply { op, result } => self.handle_lock_reply(now, op, result),
            Msg::Vote { tx, server, vote } => self.handle_vote(now, tx, server, vote),
            Msg::Done { tx, server, .. } => self.handle_done(now, tx, server),
            Msg::DecisionRequest { tx, .. } => self.handle_decision_request(now, from, tx),
            Msg::GetRReply { op, server, result } => self.handle_getr_reply(now, op, server, result),
            Msg::Error { op: Some(op), reason }
                if matches!(
                    self.ops.get(&op),
                    Some(Op::Local { .. } | Op::QueryServers { .. } | Op::LockGet { .. } | Op::LockRelease { .. })
                ) =>
            {
                self.complete(op, Err(OpError::Remote { reason }));
            }
            Msg::Error { reason, .. } => self.events.push_back(Event::BadMessage { from: from.clone(), reason }),
            other => {
                let reason = format!("a client does not handle `{}`", other.name());
                self.events.push_back(Event::BadMessage { from: from.clone(), reason: reason.clone() });
                self.send(from, Msg::Error { op: other.op(), reason });
            }
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::Op(op) => self.op_timeout(now, op),
                Timer::ViewFetch => self.view_fetch_timeout(now),
                Timer::Tell(tx) => self.tell_timeout(now, tx),
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Time> {
        self.timers.next()
    }
}
/// The addresses of the participants yet to acknowledge the decision.
fn unacked_addrs(participants: &[Member], unacked: &BTreeSet<ServerId>) -> Vec<Addr> {
    participants.iter().filter(|m| unacked.contains(&m.id)).map(|m| m.addr.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::drain;
    use alloc::string::ToString;
    use alloc::vec;

    const VL: &str = "vl";
    const SEED: u64 = 42;

    fn addr(id: &str) -> Addr {
        Addr(format!("srv-{id}"))
    }

    fn sid(id: &str) -> ServerId {
        ServerId::from(id)
    }

    fn members(ids: &[&str]) -> Vec<Member> {
        ids.iter().map(|id| Member { id: sid(id), addr: addr(id) }).collect()
    }

    fn config() -> ClientConfig {
        ClientConfig { name: Some("cl".to_string()), ..ClientConfig::new(Addr::from(VL), SEED) }
    }

    /// This client's transaction `seq`: the client id is the first draw from its seed.
    fn tx(seq: u64) -> TxId {
        TxId { client: Rng::new(SEED).next_u64(), seq }
    }

    fn to(to: Addr, msg: Msg) -> Transmit {
        Transmit { to, msg }
    }

    fn to_vl(msg: Msg) -> Transmit {
        to(Addr::from(VL), msg)
    }

    /// `msg` to each of these servers, in order.
    fn to_each(ids: &[&str], msg: Msg) -> Vec<Transmit> {
        ids.iter().map(|id| to(addr(id), msg.clone())).collect()
    }

    fn servers(op: u64, epoch: u64, ids: &[&str]) -> Msg {
        Msg::Servers { op: OpId(op), epoch: Epoch(epoch), servers: members(ids), rebalancing: false }
    }

    /// A client that asked for the view (op 1) and got {a, b, c} at epoch 3.
    fn with_view(config: ClientConfig) -> Client {
        let mut c = Client::new(config, Time(0));
        let op = c.query_servers(Time(0));
        c.handle_message(Time(0), &Addr::from(VL), servers(op.0, 3, &["a", "b", "c"]));
        drain(&mut c);
        c
    }

    // In {a, b, c}, k1's replicas are a, c, b (primary first); in {a, b, c, d} they are a, d, c.
    const K1_ABC: [&str; 3] = ["a", "c", "b"];
    const K1_ABCD: [&str; 3] = ["a", "d", "c"];

    fn prepares(tx: TxId, epoch: u64, value: &str, ids: &[&str]) -> Vec<Transmit> {
        ids.iter()
            .map(|id| {
                let msg = Msg::Prepare {
                    tx,
                    epoch: Epoch(epoch),
                    server: sid(id),
                    key: "k1".to_string(),
                    value: value.to_string(),
                    participants: members(ids),
                };
                to(addr(id), msg)
            })
            .collect()
    }

    fn vote(c: &mut Client, now: u64, tx: TxId, server: &str, vote: VoteAnswer) {
        c.handle_message(Time(now), &addr(server), Msg::Vote { tx, server: sid(server), vote });
    }

    fn done(c: &mut Client, now: u64, tx: TxId, ids: &[&str], committed: bool) {
        for id in ids {
            c.handle_message(Time(now), &addr(id), Msg::Done { tx, server: sid(id), committed });
        }
    }

    fn decided(tx: TxId, commit: bool, ids: &[&str]) -> Event {
        Event::TxDecided { tx, key: "k1".to_string(), commit, participants: ids.iter().map(|id| sid(id)).collect() }
    }

    fn op_done(op: OpId, result: Result<OpOutput, OpError>) -> Event {
        Event::OpDone { op, result }
    }

    fn retrying(op: OpId, attempt: u32, reason: &str) -> Event {
        Event::OpRetrying { op, attempt, reason: reason.to_string() }
    }

    /// Runs the backoff timer, which is 100-150 ms after `now` for the first retry.
    fn after_first_backoff(c: &mut Client, now: u64) {
        let at = c.poll_timeout().unwrap();
        assert!(Time(now + 100) <= at && at <= Time(now + 150), "{at:?}");
        c.handle_timeout(at);
    }

    fn getr_reply(c: &mut Client, op: OpId, server: &str, result: ReadAnswer) {
        c.handle_message(Time(200), &addr(server), Msg::GetRReply { op, server: sid(server), result });
    }

    fn value(value: &str, version: Version) -> ReadAnswer {
        ReadAnswer::Value { value: value.to_string(), version }
    }

    #[test]
    fn query_servers_reports_and_caches_the_view() {
        let mut c = Client::new(config(), Time(0));
        let op = c.query_servers(Time(0));
        assert_eq!(drain(&mut c), (vec![to_vl(Msg::QueryServers { op })], vec![]));
        c.handle_message(Time(10), &Addr::from(VL), servers(op.0, 3, &["a", "b", "c"]));
        let output = OpOutput::Servers { epoch: Epoch(3), servers: members(&["a", "b", "c"]), rebalancing: false };
        assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(output))]));
        assert_eq!(c.cached_epoch(), Some(Epoch(3)));
        assert_eq!(c.placement("k1"), K1_ABC.iter().map(|id| sid(id)).collect::<Vec<_>>());
        assert_eq!(c.ops_in_flight(), 0);
    }

    #[test]
    fn setr_without_a_view_asks_the_view_leader_then_prepares_on_each_replica() {
        let mut c = Client::new(config(), Time(0));
        let op = c.setr(Time(0), "k1".to_string(), "v".to_string()).unwrap();
        assert_eq!(op, OpId(1));
        assert_eq!(drain(&mut c), (vec![to_vl(Msg::QueryServers { op: OpId(2) })], vec![]));
        c.handle_message(Time(10), &Addr::from(VL), servers(2, 3, &["a", "b", "c"]));
        assert_eq!(drain(&mut c), (prepares(tx(1), 3, "v", &K1_ABC), vec![]));
        assert_eq!(c.poll_timeout(), Some(Time(1_010)));
    }

    #[test]
    fn setr_commits_above_every_replicas_version() {
        let mut c = with_view(config());
        let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
        assert_eq!(drain(&mut c), (prepares(tx(1), 3, "v", &K1_ABC), vec![]));
        vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
        vote(&mut c, 110, tx(1), "c", VoteAnswer::Yes { version: 2 });
        assert_eq!(drain(&mut c), (vec![], vec![]));
        vote(&mut c, 120, tx(1), "b", VoteAnswer::Yes { version: 1 });
        assert_eq!(
            drain(&mut c),
            (to_each(&K1_ABC, Msg::Commit { tx: tx(1), version: 3 }), vec![decided(tx(1), true, &K1_ABC)])
        );
        done(&mut c, 130, tx(1), &["a"], true);
        assert_eq!(drain(&mut c), (vec![], vec![]));
        // Two of three applied it: the write returns, and c is still told.
        done(&mut c, 135, tx(1), &["c"], true);
        assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(OpOutput::Written { version: 3 }))]));
        assert_eq!((c.ops_in_flight(), c.idle()), (0, false));
        done(&mut c, 140, tx(1), &["b"], true);
        assert_eq!(drain(&mut c), (vec![], vec![]));
        assert_eq!((c.idle(), c.poll_timeout()), (true, None));
    }

    #[test]
    fn a_returned_commit_is_resent_to_the_participant_yet_to_acknowledge_it() {
        let mut c = with_view(config());
        let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
        drain(&mut c);
        for id in K1_ABC {
            vote(&mut c, 110, tx(1), id, VoteAnswer::Yes { version: 0 });
        }
        drain(&mut c);
        done(&mut c, 130, tx(1), &["a", "b"], true);
        assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(OpOutput::Written { version: 1 }))]));
        let commit = Msg::Commit { tx: tx(1), version: 1 };
        for resend in 1..=DECISION_RESENDS as u64 {
            let due = c.poll_timeout().expect("a resend is due");
            assert_eq!(due, Time(130 + resend * 1_000));
            c.handle_timeout(due);
            assert_eq!(drain(&mut c), (to_each(&["c"], commit.clone()), vec![]));
        }
        // Then c is left to learn the decision by asking, which the coordinator still answers.
        c.handle_timeout(c.poll_timeout().expect("the last wait"));
        assert_eq!((drain(&mut c), c.idle(), c.poll_timeout()), ((vec![], vec![]), true, None));
        c.handle_message(Time(5_000), &addr("c"), Msg::DecisionRequest { tx: tx(1), server: None });
        let reply = Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 1 } };
        assert_eq!(drain(&mut c), (vec![to(addr("c"), reply)], vec![]));
    }

    #[test]
    fn an_abort_waits_for_every_participant() {
        let mut c = with_view(config());
        let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
        drain(&mut c);
        vote(&mut c, 110, tx(1), "a", VoteAnswer::No { reason: NoReason::Rebalancing });
        drain(&mut c);
        done(&mut c, 130, tx(1), &["a", "b"], false);
        assert_eq!(drain(&mut c), (vec![], vec![]));
        assert_eq!(c.ops_in_flight(), 1);
        done(&mut c, 140, tx(1), &["c"], false);
        let (_, events) = drain(&mut c);
        assert!(events.iter().all(|e| !matches!(e, Event::OpDone { op: done, .. } if *done == op)), "{events:?}");
        assert!(matches!(events.as_slice(), [Event::OpRetrying { .. }]), "{events:?}");
    }

    #[test]
    fn operations_report_each_2pc_phase() {
        let mut c = with_view(config());
        let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
        drain(&mut c);
        let ids = |list: &[&str]| list.iter().map(|id| sid(id)).collect::<Vec<_>>();
        vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
        let voting = Stage::Voting { tx: tx(1), participants: ids(&K1_ABC), yes: ids(&["a"]) };
        assert_eq!(c.operations(), vec![OpStatus { op, what: "setr k1 v".into(), attempt: 1, stage: voting }]);
        vote(&mut c, 111, tx(1), "b", VoteAnswer::Yes { version: 0 });
        vote(&mut c, 112, tx(1), "c", VoteAnswer::Yes { version: 0 });
        done(&mut c, 120, tx(1), &["a"], true);
        // Unacknowledged participants come in id order.
        let deciding =
            Stage::Deciding { tx: tx(1), participants: ids(&K1_ABC), commit: true, unacked: ids(&["b", "c"]) };
        assert_eq!(c.operations()[0].stage, deciding);
        done(&mut c, 130, tx(1), &["b", "c"], true);
        assert!(c.operations().is_empty());
    }

    #[test]
    fn a_key_held_by_another_clients_tx_aborts_with_a_conflict() {
        let mut c = with_view(config());
        let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
        drain(&mut c);
        let other = TxId { client: 99, seq: 5 };
        vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
        vote(&mut c, 110, tx(1), "c", VoteAnswer::No { reason: NoReason::KeyBusy { tx: other } });
        assert_eq!(drain(&mut c), (to_each(&K1_ABC, Msg::Abort { tx: tx(1) }), vec![decided(tx(1), false, &K1_ABC)]));
        // A vote after the decision changes nothing.
        vote(&mut c, 120, tx(1), "b", VoteAnswer::Yes { version: 0 });
        done(&mut c, 130, tx(1), &K1_ABC, false);
        assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Err(OpError::Conflict { tx: other }))]));
    }

    #[test]
    fn an_epoch_mismatch_aborts_and_retries_with_a_fresh_view() {
        let mut c = with_view(config());
        let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
        drain(&mut c);
        vote(&mut c, 110, tx(1), "c", VoteAnswer::No { reason: NoReason::EpochMismatch { epoch: Epoch(4) } });
        assert_eq!(drain(&mut c), (to_each(&K1_ABC, Msg::Abort { tx: tx(1) }), vec![decided(tx(1), false, &K1_ABC)]));
        assert_eq!(c.cached_epoch(), None);
        done(&mut c, 200, tx(1), &K1_ABC, false);
        assert_eq!(drain(&mut c), (vec![], vec![retrying(op, 2, "c is at epoch 4")]));
        after_first_backoff(&mut c, 200);
        assert_eq!(drain(&mut c), (vec![to_vl(Msg::QueryServers { op: OpId(3) })], vec![]));
        c.handle_message(Time(400), &Addr::from(VL), servers(3, 4, &["a", "b", "c", "d"]));
        assert_eq!(drain(&mut c), (prepares(tx(2), 4, "v", &K1_ABCD), vec![]));
    }

    #[test]
    fn a_missing_vote_aborts_and_the_abort_is_resent_to_the_silent() {
        let mut c = with_view(config());
        let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
        drain(&mut c);
        vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
        assert_eq!(c.poll_timeout(), Some(Time(1_100)));
        c.handle_timeout(Time(1_100));
        assert_eq!(drain(&mut c), (to_each(&K1_ABC, Msg::Abort { tx: tx(1) }), vec![decided(tx(1), false, &K1_ABC)]));
        assert_eq!(c.cached_epoch(), None);
        done(&mut c, 1_200, tx(1), &["a", "c"], false);
        // b stays silent: the abort goes to it twice more, then the attempt ends anyway.
        c.handle_timeout(Time(2_100));
        c.handle_timeout(Time(3_100));
        assert_eq!(drain(&mut c), (to_each(&["b", "b"], Msg::Abort { tx: tx(1) }), vec![]));
        c.handle_timeout(Time(4_100));
        assert_eq!(drain(&mut c), (vec![], vec![retrying(op, 2, "no vote from c, b")]));
    }

    #[test]
    fn setr_with_no_servers_fails_clearly() {
        let mut c = Client::new(config(), Time(0));
        let op = c.setr(Time(0), "k1".to_string(), "v".to_string()).unwrap();
        drain(&mut c);
        c.handle_message(Time(10), &Addr::from(VL), servers(2, 0, &[]));
        assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Err(OpError::NoServers))]));
    }

    #[test]
    fn setr_gives_up_after_max_attempts_with_the_last_reason() {
        let mut c = with_view(ClientConfig { max_attempts: 2, ..config() });
        let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
        drain(&mut c);
        vote(&mut c, 110, tx(1), "a", VoteAnswer::No { reason: NoReason::Rebalancing });
        done(&mut c, 120, tx(1), &K1_ABC, false);
        assert_eq!(
            drain(&mut c),
            (
                to_each(&K1_ABC, Msg::Abort { tx: tx(1) }),
                vec![decided(tx(1), false, &K1_ABC), retrying(op, 2, "the key is rebalancing at a")],
            )
        );
        // The view is still good: the next attempt prepares at once.
        after_first_backoff(&mut c, 120);
        assert_eq!(drain(&mut c), (prepares(tx(2), 3, "v", &K1_ABC), vec![]));
        vote(&mut c, 300, tx(2), "c", VoteAnswer::No { reason: NoReason::Rebalancing });
        done(&mut c, 310, tx(2), &K1_ABC, false);
        let gave_up = OpError::GaveUp { attempts: 2, reason: "the key is rebalancing at c".to_string() };
        assert_eq!(
            drain(&mut c),
            (
                to_each(&K1_ABC, Msg::Abort { tx: tx(2) }),
                vec![decided(tx(2), false, &K1_ABC), op_done(op, Err(gave_up))]
            )
        );
    }

    #[test]
    fn a_decision_request_while_voting_aborts_the_transaction() {
        let mut c = with_view(config());
        let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
        drain(&mut c);
        vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
        c.handle_message(Time(2_110), &addr("a"), Msg::DecisionRequest { tx: tx(1), server: None });
        let mut expected = to_each(&K1_ABC, Msg::Abort { tx: tx(1) });
        expected.push(to(addr("a"), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted }));
        assert_eq!(drain(&mut c), (expected, vec![decided(tx(1), false, &K1_ABC)]));
        // Another participant asking later hears the same.
        c.handle_message(Time(2_120), &addr("c"), Msg::DecisionRequest { tx: tx(1), server: None });
        done(&mut c, 2_130, tx(1), &K1_ABC, false);
        assert_eq!(
            drain(&mut c),
            (
                vec![to(addr("c"), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted })],
                vec![retrying(op, 2, "a participant timed out waiting for the decision")],
            )
        );
    }

    #[test]
    fn a_decision_request_after_the_decision_gets_the_decision() {
        let mut c = with_view(config());
        let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
        drain(&mut c);
        for id in K1_ABC {
            vote(&mut c, 110, tx(1), id, VoteAnswer::Yes { version: 4 });
        }
        drain(&mut c);
        let committed = Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 5 } };
        c.handle_message(Time(2_110), &addr("b"), Msg::DecisionRequest { tx: tx(1), server: None });
        assert_eq!(drain(&mut c), (vec![to(addr("b"), committed.clone())], vec![]));
        done(&mut c, 2_120, tx(1), &K1_ABC, true);
        assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(OpOutput::Written { version: 5 }))]));
        // Still remembered after the operation ended; a transaction never seen gets silence.
        c.handle_message(Time(2_130), &addr("c"), Msg::DecisionRequest { tx: tx(1), server: None });
        c.handle_message(Time(2_130), &addr("c"), Msg::DecisionRequest { tx: tx(9), server: None });
        assert_eq!(drain(&mut c), (vec![to(addr("c"), committed)], vec![]));
    }

    #[test]
    fn getr_returns_the_highest_version_among_the_replicas() {
        let mut c = with_view(config());
        let op = c.getr(Time(100), "k1".to_string()).unwrap();
        let read = Msg::GetR { op, epoch: Epoch(3), key: "k1".to_string() };
        assert_eq!(drain(&mut c), (to_each(&K1_ABC, read), vec![]));
        getr_reply(&mut c, op, "a", value("v1", 1));
        // Not a replica of the key: ignored.
        getr_reply(&mut c, op, "d", value("v9", 9));
        getr_reply(&mut c, op, "c", value("v2", 2));
        assert_eq!(drain(&mut c), (vec![], vec![]));
        getr_reply(&mut c, op, "b", ReadAnswer::NotFound);
        let output = OpOutput::Value { value: "v2".to_string(), version: Some(2) };
        assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(output))]));
    }

    #[test]
    fn getr_is_not_found_when_no_replica_has_the_key() {
        let mut c = with_view(config());
        let op = c.getr(Time(100), "k1".to_string()).unwrap();
        drain(&mut c);
        for id in K1_ABC {
            getr_reply(&mut c, op, id, ReadAnswer::NotFound);
        }
        assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Err(OpError::NotFound { key: "k1".to_string() }))]));
    }

    #[test]
    fn getr_survives_a_silent_primary() {
        let mut c = with_view(config());
        let op = c.getr(Time(100), "k1".to_string()).unwrap();
        drain(&mut c);
        getr_reply(&mut c, op, "c", value("v2", 2));
        getr_reply(&mut c, op, "b", value("v1", 1));
        c.handle_timeout(Time(1_100));
        let output = OpOutput::Value { value: "v2".to_string(), version: Some(2) };
        assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(output))]));
        // The silent replica may be dead: the next operation fetches the view again.
        assert_eq!(c.cached_epoch(), None);
    }

    #[test]
    fn getr_retries_while_a_write_is_pending() {
        let mut c = with_view(config());
        let op = c.getr(Time(100), "k1".to_string()).unwrap();
        drain(&mut c);
        let other = TxId { client: 99, seq: 5 };
        getr_reply(&mut c, op, "a", ReadAnswer::Pending { tx: other });
        getr_reply(&mut c, op, "c", value("v1", 1));
        getr_reply(&mut c, op, "b", value("v1", 1));
        assert_eq!(drain(&mut c), (vec![], vec![retrying(op, 2, &format!("{other} is pending at a"))]));
        after_first_backoff(&mut c, 200);
        let read = Msg::GetR { op, epoch: Epoch(3), key: "k1".to_string() };
        assert_eq!(drain(&mut c), (to_each(&K1_ABC, read), vec![]));
        getr_reply(&mut c, op, "a", value("v2", 2));
        getr_reply(&mut c, op, "c", value("v2", 2));
        getr_reply(&mut c, op, "b", value("v1", 1));
        let output = OpOutput::Value { value: "v2".to_string(), version: Some(2) };
        assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(output))]));
    }

    #[test]
    fn lock_get_waits_while_queued_and_reports_deadlock() {
        let mut c = Client::new(config(), Time(0));
        let op = c.lock_get(Time(0), "L".to_string()).unwrap();
        let ask = Msg::LockGet { op, name: "L".to_string(), requester: "cl".to_string() };
        assert_eq!(drain(&mut c), (vec![to_vl(ask.clone())], vec![]));
        c.handle_message(Time(10), &Addr::from(VL), Msg::LockReply { op, result: LockAnswer::Retry { position: 2 } });
        assert_eq!(drain(&mut c), (vec![], vec![Event::LockWaiting { op, name: "L".to_string(), position: 2 }]));
        assert_eq!(c.poll_timeout(), Some(Time(5_010)));
        c.handle_timeout(Time(5_010));
        assert_eq!(drain(&mut c), (vec![to_vl(ask)], vec![]));
        c.handle_message(Time(5_020), &Addr::from(VL), Msg::LockReply { op, result: LockAnswer::Granted });
        assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(OpOutput::Granted))]));

        let op = c.lock_get(Time(6_000), "M".to_string()).unwrap();
        let cycle = vec!["cl".to_string(), "x".to_string()];
        c.handle_message(
            Time(6_010),
            &Addr::from(VL),
            Msg::LockReply { op, result: LockAnswer::Deadlock { cycle: cycle.clone() } },
        );
        let ask = Msg::LockGet { op, name: "M".to_string(), requester: "cl".to_string() };
        assert_eq!(drain(&mut c), (vec![to_vl(ask)], vec![op_done(op, Err(OpError::Deadlock { cycle }))]));
        assert_eq!(c.ops_in_flight(), 0);
    }

    #[test]
    fn lock_release_answers_become_results() {
        let mut c = Client::new(config(), Time(0));
        let answers = [
            (
                LockAnswer::Released { next_holder: Some("x".to_string()) },
                Ok(OpOutput::Released { next_holder: Some("x".to_string()) }),
            ),
            (LockAnswer::LeftQueue, Ok(OpOutput::LeftQueue)),
            (LockAnswer::UnknownLock, Err(OpError::UnknownLock)),
            (LockAnswer::NotHolderOrWaiter, Err(OpError::NotHolderOrWaiter)),
        ];
        let mut sent = Vec::new();
        let mut results = Vec::new();
        for (answer, result) in answers {
            let op = c.lock_release(Time(0), "L".to_string()).unwrap();
            c.handle_message(Time(10), &Addr::from(VL), Msg::LockReply { op, result: answer });
            sent.push(to_vl(Msg::LockRelease { op, name: "L".to_string(), requester: "cl".to_string() }));
            results.push(op_done(op, result));
        }
        assert_eq!(drain(&mut c), (sent, results));
    }

    #[test]
    fn local_rpcs_map_replies_errors_and_silence() {
        let mut c = Client::new(config(), Time(0));
        let (a, b) = (addr("a"), addr("b"));
        let get = c.get(Time(0), a.clone(), "k".to_string()).unwrap();
        let missing = c.get(Time(0), a.clone(), "z".to_string()).unwrap();
        let silent = c.get(Time(0), b.clone(), "k".to_string()).unwrap();
        let print = c.print(Time(0), a.clone(), "hi".to_string());
        let set = c.set(Time(0), a.clone(), "k".to_string(), "v".to_string()).unwrap();
        let keys = c.query_all_keys(Time(0), a.clone());
        let refused = c.query_all_keys(Time(0), a.clone());
        assert_eq!(
            drain(&mut c).0,
            vec![
                to(a.clone(), Msg::Get { op: get, key: "k".to_string() }),
                to(a.clone(), Msg::Get { op: missing, key: "z".to_string() }),
                to(b.clone(), Msg::Get { op: silent, key: "k".to_string() }),
                to(a.clone(), Msg::Print { op: print, text: "hi".to_string() }),
                to(a.clone(), Msg::Set { op: set, key: "k".to_string(), value: "v".to_string() }),
                to(a.clone(), Msg::QueryAllKeys { op: keys }),
                to(a.clone(), Msg::QueryAllKeys { op: refused }),
            ]
        );
        let reply = |c: &mut Client, op, result| c.handle_message(Time(10), &a, Msg::Reply { op, result });
        reply(&mut c, get, LocalReply::Value { value: "v".to_string() });
        reply(&mut c, missing, LocalReply::NotFound { key: "z".to_string() });
        reply(&mut c, print, LocalReply::Ok);
        reply(&mut c, set, LocalReply::Ok);
        reply(&mut c, keys, LocalReply::Keys { keys: vec!["k".to_string()] });
        c.handle_message(Time(10), &a, Msg::Error { op: Some(refused), reason: "busy".to_string() });
        assert_eq!(
            drain(&mut c),
            (
                vec![],
                vec![
                    op_done(get, Ok(OpOutput::Value { value: "v".to_string(), version: None })),
                    op_done(missing, Err(OpError::NotFound { key: "z".to_string() })),
                    op_done(print, Ok(OpOutput::Done)),
                    op_done(set, Ok(OpOutput::Done)),
                    op_done(keys, Ok(OpOutput::Keys { keys: vec!["k".to_string()] })),
                    op_done(refused, Err(OpError::Remote { reason: "busy".to_string() })),
                ],
            )
        );
        assert_eq!(c.poll_timeout(), Some(Time(1_000)));
        c.handle_timeout(Time(1_000));
        assert_eq!(drain(&mut c), (vec![], vec![op_done(silent, Err(OpError::Timeout { peer: b }))]));
        assert_eq!(c.ops_in_flight(), 0);
    }

    #[test]
    fn empty_keys_and_lock_names_are_refused_before_sending() {
        let mut c = Client::new(config(), Time(0));
        let a = addr("a");
        assert_eq!(c.setr(Time(0), String::new(), "v".to_string()), Err(ClientError::EmptyKey));
        assert_eq!(c.getr(Time(0), String::new()), Err(ClientError::EmptyKey));
        assert_eq!(c.set(Time(0), a.clone(), String::new(), "v".to_string()), Err(ClientError::EmptyKey));
        assert_eq!(c.get(Time(0), a, String::new()), Err(ClientError::EmptyKey));
        assert_eq!(c.lock_get(Time(0), String::new()), Err(ClientError::EmptyLockName));
        assert_eq!(c.lock_release(Time(0), String::new()), Err(ClientError::EmptyLockName));
        assert_eq!(drain(&mut c), (vec![], vec![]));
        assert_eq!((c.ops_in_flight(), c.poll_timeout()), (0, None));
    }

    #[test]
    fn an_unexpected_message_gets_an_error_reply() {
        let mut c = Client::new(config(), Time(0));
        let a = addr("a");
        c.handle_message(Time(0), &a, Msg::Get { op: OpId(7), key: "k".to_string() });
        let reason = "a client does not handle `get`".to_string();
        assert_eq!(
            drain(&mut c),
            (
                vec![to(a.clone(), Msg::Error { op: Some(OpId(7)), reason: reason.clone() })],
                vec![Event::BadMessage { from: a, reason }],
            )
        );
    }

    #[test]
    fn a_vote_from_a_server_outside_the_participants_does_not_count() {
        let mut c = with_view(config());
        c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
        drain(&mut c);
        vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
        vote(&mut c, 110, tx(1), "c", VoteAnswer::Yes { version: 0 });
        // d is no replica of k1 here: only b's vote may complete phase one.
        vote(&mut c, 110, tx(1), "d", VoteAnswer::Yes { version: 0 });
        assert_eq!(drain(&mut c), (vec![], vec![]));
        vote(&mut c, 120, tx(1), "b", VoteAnswer::Yes { version: 0 });
        assert_eq!(
            drain(&mut c),
            (to_each(&K1_ABC, Msg::Commit { tx: tx(1), version: 1 }), vec![decided(tx(1), true, &K1_ABC)])
        );
    }
}
