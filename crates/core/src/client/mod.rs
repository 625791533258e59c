//! The client: the library behind the command line and the coordinator of two-phase commit.
//!
//! Every command returns an [`OpId`] at once; its result arrives later as
//! [`Event::OpDone`]. Replicated operations place keys with the view from the view leader,
//! cached by epoch (`view`: a moving key is written and read on both its replica sets). An
//! attempt that a newer view overtook runs again at once in it; one that failed otherwise is
//! retried with exponential backoff, up to a limit.
//!
//! [`Client`] is a router over its parts: the local RPCs, locks and retries are here; `getr`
//! is in `getr`, `setr` in the 2PC coordinator (`crate::twopc::coordinator`), and what
//! operations give back in `op`.

mod getr;
pub(crate) mod op;
pub(crate) mod timer;
mod view;

#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{ClientError, OpError};
use crate::event::Event;
use crate::id::{Addr, Epoch, Member, OpId, ServerId, TxId};
use crate::leaders::Leaders;
use crate::msg::{LocalReply, LockAnswer, Msg, Transmit};
use crate::outbox::Outbox;
use crate::peer::{members_only, Peer};
use crate::rng::Rng;
use crate::time::{Deadline, Time, Timers};
use crate::twopc::coordinator::{self, Coordinator, SetPhase, Step, Write};
use crate::Node;

use getr::{GetPhase, Read};
use timer::Timer;
use view::CachedView;
pub(crate) use view::{Placement, ViewAge};

pub use op::{OpOutput, OpStatus, Stage};

/// How a client behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// The requester name for locks; `None` makes one from the client's random id.
    pub name: Option<String>,
    /// Seeds the client id (and so its transaction ids) and the backoff jitter.
    pub seed: u64,
    /// Keys the secrets its transactions carry. A real process draws it from the operating
    /// system's randomness: it must not follow from `seed`, whose stream the client id shows.
    pub secret_key: u128,
    /// Where the view leader's replicas listen (one address for a lone view leader).
    pub view_leaders: Vec<Addr>,
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
    /// Demo timings for a client of the view leader at `view_leader`. Its `secret_key`
    /// follows from `seed`, which is right for a replayable simulation only: a real process
    /// sets its own.
    pub fn new(view_leader: Addr, seed: u64) -> Self {
        ClientConfig {
            name: None,
            seed,
            secret_key: u128::from(seed).rotate_left(64) ^ 0x005E_C2E7,
            view_leaders: alloc::vec![view_leader],
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

#[derive(Clone, Debug)]
enum Op {
    /// A local RPC to one server.
    Local {
        peer: Addr,
    },
    QueryServers {
        attempt: u32,
    },
    SetR(Write),
    GetR(Read),
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

/// A client and 2PC coordinator.
///
/// Run loop, as for every role: after each command or `handle_*` call, drain
/// [`poll_transmit`](Node::poll_transmit) and [`poll_event`](Node::poll_event), then arm one
/// timer for [`poll_timeout`](Node::poll_timeout) and call `handle_timeout` when it passes.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    /// The view leader's replicas, and the one asked.
    leaders: Leaders,
    name: String,
    /// This process's random id, which tells its lock requests apart from another process's
    /// under the same name.
    session: u64,
    rng: Rng,
    next_op: u64,
    view: Option<CachedView>,
    /// The op of the outstanding view query, if any.
    fetch: Option<OpId>,
    ops: BTreeMap<OpId, Op>,
    coordinator: Coordinator,
    timers: Timers<Timer>,
    out: Outbox,
}

impl Client {
    /// A fresh client process with no view cached.
    pub fn new(config: ClientConfig, _now: Time) -> Self {
        let mut rng = Rng::new(config.seed);
        let id = rng.next_u64();
        let name = config.name.clone().unwrap_or_else(|| format!("client-{:04x}", id & 0xffff));
        let coordinator = Coordinator::new(id, config.secret_key);
        Client {
            leaders: Leaders::new(config.view_leaders.clone()),
            config,
            name,
            session: id,
            rng,
            next_op: 1,
            view: None,
            fetch: None,
            ops: BTreeMap::new(),
            coordinator,
            timers: Timers::default(),
            out: Outbox::default(),
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
        self.coordinator.telling()
    }

    /// No operation unfinished and no returned write's commit still being told.
    pub fn idle(&self) -> bool {
        self.ops.is_empty() && self.coordinator.told()
    }

    /// Every unfinished operation and what it is waiting for, oldest first (for observers:
    /// the browser's inspector shows a coordinator's transactions with this).
    pub fn operations(&self) -> Vec<OpStatus> {
        self.ops
            .iter()
            .map(|(op, state)| {
                let (what, attempt, stage) = match state {
                    Op::Local { peer } => (format!("local RPC to {peer}"), 1, Stage::Asking),
                    Op::QueryServers { attempt } => ("query_servers".into(), *attempt, Stage::Asking),
                    Op::SetR(w) => (format!("setr {} {}", w.key, w.value), w.attempt, w.stage()),
                    Op::GetR(r) => (format!("getr {}", r.key), r.attempt, r.stage()),
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
            .map_or_else(Vec::new, |v| v.replicas(key, self.config.replicas).into_iter().cloned().collect())
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
        self.ops.insert(op, Op::SetR(Write::new(key, value)));
        self.need_view(now, op);
        Ok(op)
    }

    /// `getr key`: the latest committed value among the replicas.
    pub fn getr(&mut self, now: Time, key: String) -> Result<OpId, ClientError> {
        check_key(&key)?;
        let op = self.new_op();
        self.ops.insert(op, Op::GetR(Read::new(key)));
        self.need_view(now, op);
        Ok(op)
    }

    /// `lock_get name`: asks until granted (or a deadlock is reported).
    pub fn lock_get(&mut self, now: Time, name: String) -> Result<OpId, ClientError> {
        if name.is_empty() {
            return Err(ClientError::EmptyLockName);
        }
        let op = self.new_op();
        let msg = Msg::LockGet { op, name: name.clone(), requester: self.name.clone(), session: self.session };
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
        let msg = Msg::LockRelease { op, name: name.clone(), requester: self.name.clone(), session: self.session };
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

    fn local(&mut self, now: Time, server: Addr, make: impl FnOnce(OpId) -> Msg) -> OpId {
        let op = self.new_op();
        self.out.send(&server, make(op));
        self.ops.insert(op, Op::Local { peer: server });
        self.timers.set(Timer::Op(op), now + self.config.rpc_timeout_ms);
        op
    }

    fn send_to_view_leader(&mut self, now: Time, op: OpId, msg: Msg) {
        self.out.send(self.leaders.current(), msg);
        self.timers.set(Timer::Op(op), now + self.config.rpc_timeout_ms);
    }

    fn complete(&mut self, op: OpId, result: Result<OpOutput, OpError>) {
        if self.ops.remove(&op).is_some() {
            self.timers.cancel(&Timer::Op(op));
            self.out.event(Event::OpDone { op, result });
        }
    }

    /// Write `op` and what the coordinator needs of the client, borrowed apart.
    fn write(&mut self, now: Time, op: OpId) -> Option<(&mut Coordinator, &mut Write, coordinator::Cx<'_>)> {
        let Some(Op::SetR(write)) = self.ops.get_mut(&op) else { return None };
        let cx = coordinator::Cx {
            now,
            rpc_timeout_ms: self.config.rpc_timeout_ms,
            timers: &mut self.timers,
            out: &mut self.out,
        };
        Some((&mut self.coordinator, write, cx))
    }

    /// Does what a coordinator step asks of the client.
    fn apply(&mut self, now: Time, op: OpId, step: Step) {
        match step {
            Step::Wait => {}
            Step::NeedView => self.need_view(now, op),
            Step::ForgetView => {
                // Fetched now, the newer view is likely here by the time the attempt ends.
                self.view = None;
                self.fetch_view(now);
            }
            Step::Finish(result) => self.complete(op, result),
            Step::Retry(reason) => self.retry_later(now, op, reason),
            Step::Rerun(reason) => self.rerun(now, op, reason),
        }
    }

    /// Starts the op's next attempt with the cached view, or fetches a view first.
    fn need_view(&mut self, now: Time, op: OpId) {
        if self.view.as_ref().is_some_and(|v| !v.members.is_empty()) {
            self.start_attempt(now, op);
            return;
        }
        self.fetch_view(now);
    }

    /// Asks the view leader for the view, unless a request is out already.
    fn fetch_view(&mut self, now: Time) {
        if self.fetch.is_none() {
            let fetch = self.new_op();
            self.fetch = Some(fetch);
            self.out.send(self.leaders.current(), Msg::QueryServers { op: fetch });
            self.timers.set(Timer::ViewFetch, now + self.config.rpc_timeout_ms);
        }
    }

    fn learn_view(&mut self, now: Time, epoch: Epoch, servers: &[Member], rebalancing: bool, stable: &[Member]) {
        if self.view.as_ref().is_some_and(|v| v.epoch > epoch) {
            return;
        }
        self.view = Some(CachedView::new(epoch, servers, rebalancing, stable, self.config.vnodes));
        self.fetch = None;
        self.timers.cancel(&Timer::ViewFetch);
        let waiting = self.ops_needing_view();
        for op in waiting {
            // An attempt overtaken by a view change runs again only in a newer view: in the
            // same one it would meet the same answer, so it waits out a backoff instead.
            let age = self.view.as_ref().map(CachedView::age);
            match self.ops.get(&op).and_then(Op::rerun_after) {
                Some((after, reason)) if age <= Some(after) => self.retry_later(now, op, reason),
                Some((_, reason)) => {
                    self.out.event(Event::OpRerun { op, epoch, reason });
                    self.start_attempt(now, op);
                }
                None => self.start_attempt(now, op),
            }
        }
    }

    /// The attempt ended because the view changed under it: run again at once in a newer view,
    /// fetching one if none is cached — or, with no newer view to be had, back off as usual.
    fn rerun(&mut self, now: Time, op: OpId, reason: String) {
        let Some((after, _)) = self.ops.get(&op).and_then(Op::rerun_after) else {
            return self.retry_later(now, op, reason);
        };
        match self.ops.get_mut(&op) {
            Some(Op::SetR(write)) => write.phase = SetPhase::NeedView,
            Some(Op::GetR(read)) => read.phase = GetPhase::NeedView,
            _ => return,
        }
        match self.view.as_ref().map(CachedView::age) {
            Some(age) if age > after => {
                self.out.event(Event::OpRerun { op, epoch: age.epoch, reason });
                self.start_attempt(now, op);
            }
            Some(_) => self.retry_later(now, op, reason),
            None => self.fetch_view(now),
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
            Some(Op::SetR(Write { key, .. }) | Op::GetR(Read { key, .. })) => key.clone(),
            _ => return,
        };
        let placement = view.placement(&key, r);
        if placement.members.is_empty() {
            self.complete(op, Err(OpError::NoServers));
            return;
        }
        if placement.settled.is_empty() {
            // Whoever holds the key now may hold a newer version than any live replica knows.
            let reason = format!("every stable replica of {key} is gone: waiting for the view to settle");
            self.retry_later(now, op, reason);
            return;
        }
        let mut sends = Vec::new();
        match self.ops.get_mut(&op) {
            Some(Op::SetR(write)) => self.coordinator.prepare(op, write, epoch, placement, &mut sends, &mut self.out),
            Some(Op::GetR(read)) => read.start(op, epoch, placement, &mut sends),
            _ => return,
        }
        for (to, msg) in sends {
            self.out.send(&to, msg);
        }
        self.timers.set(Timer::Op(op), now + self.config.rpc_timeout_ms);
    }

    /// The attempt failed for a transient reason: back off and try again, or give up.
    fn retry_later(&mut self, now: Time, op: OpId, reason: String) {
        let max = self.config.max_attempts;
        let attempt = match self.ops.get_mut(&op) {
            Some(Op::SetR(write)) => {
                write.overtaken = None;
                &mut write.attempt
            }
            Some(Op::GetR(read)) => {
                read.overtaken = None;
                &mut read.attempt
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
        let next_attempt = Deadline { due: now + delay, span_ms: delay };
        match self.ops.get_mut(&op) {
            Some(Op::SetR(write)) => write.phase = SetPhase::Backoff(next_attempt),
            Some(Op::GetR(read)) => read.phase = GetPhase::Backoff(next_attempt),
            _ => {}
        }
        self.out.event(Event::OpRetrying { op, attempt: next, reason });
        self.timers.set(Timer::Op(op), next_attempt.due);
    }

    // ---- answers

    fn handle_done(&mut self, now: Time, tx: TxId, server: ServerId, committed: bool, accepted: bool) {
        let cx = &mut coordinator::Cx {
            now,
            rpc_timeout_ms: self.config.rpc_timeout_ms,
            timers: &mut self.timers,
            out: &mut self.out,
        };
        if self.coordinator.handle_told(tx, &server, committed, accepted, cx) {
            return;
        }
        let Some(op) = self.coordinator.op_of(&tx) else { return };
        let Some((coordinator, write, mut cx)) = self.write(now, op) else { return };
        let step = coordinator.handle_done(write, tx, server, committed, accepted, &mut cx);
        self.apply(now, op, step);
    }

    fn handle_decision_request(&mut self, now: Time, from: &Addr, tx: TxId) {
        if self.coordinator.answer_decided(from, tx, &mut self.out) {
            return;
        }
        // Otherwise, unless the transaction is ours and undecided, it is not ours or so old
        // it was forgotten: stay silent rather than guess, and let the participant keep asking
        // the others.
        let Some(op) = self.coordinator.op_of(&tx) else { return };
        if let Some((coordinator, write, mut cx)) = self.write(now, op) {
            coordinator.abort_undecided(op, write, from, tx, &mut cx);
        }
    }

    fn handle_getr_reply(&mut self, now: Time, op: OpId, server: ServerId, result: crate::msg::ReadAnswer) {
        let Some(Op::GetR(read)) = self.ops.get_mut(&op) else { return };
        if read.handle_reply(server, result) {
            self.conclude_read(now, op);
        }
    }

    fn conclude_read(&mut self, now: Time, op: OpId) {
        let Some(Op::GetR(read)) = self.ops.get_mut(&op) else { return };
        let Some(concluded) = read.conclude() else { return };
        if concluded.stale_view {
            self.view = None;
        }
        match concluded.result {
            Ok(done) => self.complete(op, done),
            Err(reason) if concluded.overtaken => self.rerun(now, op, reason),
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
                self.out.event(Event::LockWaiting { op, name, position });
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

    // ---- timers

    fn op_timeout(&mut self, now: Time, op: OpId) {
        let max = self.config.max_attempts;
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
                let error = if self.leaders.replicated() {
                    OpError::NoLeader { replicas: self.leaders.list().len() }
                } else {
                    OpError::Timeout { peer: self.leaders.current().clone() }
                };
                self.complete(op, Err(error));
            }
            // Unanswered: that replica may be down, so the next one is asked (a queued
            // requester asking again is no sign of trouble).
            Op::QueryServers { .. } | Op::LockRelease { .. } | Op::LockGet { waiting: false, .. }
                if self.leaders.replicated() =>
            {
                self.leaders.next();
                self.count_and_ask_again(now, op);
            }
            Op::QueryServers { .. } | Op::LockGet { .. } | Op::LockRelease { .. } => self.count_and_ask_again(now, op),
            Op::SetR(_) => {
                let Some((coordinator, write, mut cx)) = self.write(now, op) else { return };
                let step = coordinator.handle_timeout(op, write, &mut cx);
                self.apply(now, op, step);
            }
            Op::GetR(read) => match read.phase {
                GetPhase::NeedView => {}
                GetPhase::Backoff(_) => {
                    read.phase = GetPhase::NeedView;
                    self.need_view(now, op);
                }
                GetPhase::Reading { .. } => self.conclude_read(now, op),
            },
        }
    }

    /// Asks the view leader again for `op` (a query or lock command), counting an attempt.
    fn count_and_ask_again(&mut self, now: Time, op: OpId) {
        let Some(entry) = self.ops.get_mut(&op) else { return };
        match entry {
            Op::QueryServers { attempt } | Op::LockRelease { attempt, .. } => *attempt += 1,
            Op::LockGet { attempt, waiting, .. } => {
                // A queued requester asks again forever, as the course's client does; an
                // unanswered one counts attempts.
                if !*waiting {
                    *attempt += 1;
                }
                *waiting = false;
            }
            _ => return,
        }
        self.ask_view_leader(now, op);
    }

    /// Sends `op`'s request (a query, a lock command or the view fetch) to the replica
    /// believed to lead.
    fn ask_view_leader(&mut self, now: Time, op: OpId) {
        let msg = match self.ops.get(&op) {
            Some(Op::QueryServers { .. }) => Msg::QueryServers { op },
            Some(Op::LockGet { name, .. }) => {
                Msg::LockGet { op, name: name.clone(), requester: self.name.clone(), session: self.session }
            }
            Some(Op::LockRelease { name, .. }) => {
                Msg::LockRelease { op, name: name.clone(), requester: self.name.clone(), session: self.session }
            }
            _ if self.fetch == Some(op) => {
                self.out.send(self.leaders.current(), Msg::QueryServers { op });
                self.timers.set(Timer::ViewFetch, now + self.config.rpc_timeout_ms);
                return;
            }
            _ => return,
        };
        self.send_to_view_leader(now, op, msg);
    }

    /// A replica that does not lead named the one that does: ask it at once. Knowing none, the
    /// request's timer moves on to the next replica.
    fn redirected(&mut self, now: Time, op: OpId, leader: Option<Addr>) {
        let vl_op =
            matches!(self.ops.get(&op), Some(Op::QueryServers { .. } | Op::LockGet { .. } | Op::LockRelease { .. }));
        if !(vl_op || self.fetch == Some(op)) {
            return;
        }
        if let Some(leader) = leader {
            if self.leaders.follow(Some(&leader)) {
                self.ask_view_leader(now, op);
            }
        }
    }

    fn view_fetch_timeout(&mut self, now: Time) {
        self.fetch = None;
        let waiting = self.ops_needing_view();
        let reason = format!("no answer from the view leader at {}", self.leaders.current());
        if self.leaders.replicated() {
            self.leaders.next();
        }
        for op in waiting {
            self.retry_later(now, op, reason.clone());
        }
    }
}

impl Op {
    fn needs_view(&self) -> bool {
        matches!(
            self,
            Op::SetR(Write { phase: SetPhase::NeedView, .. }) | Op::GetR(Read { phase: GetPhase::NeedView, .. })
        )
    }

    /// For a write or read whose last attempt a newer view overtook: how new that attempt's
    /// view was, and what said so.
    fn rerun_after(&self) -> Option<(ViewAge, String)> {
        match self {
            Op::SetR(Write { overtaken, .. }) | Op::GetR(Read { overtaken, .. }) => overtaken.clone(),
            _ => None,
        }
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
    fn handle_message(&mut self, now: Time, peer: Peer<'_>, msg: Msg) {
        let from = peer.addr();
        match msg {
            ref ask @ (Msg::DecisionRequest { .. } | Msg::Takeover { .. }) if !peer.is_member() => {
                let reason = members_only(ask);
                self.out.event(Event::BadMessage { from: from.clone(), reason: reason.clone() });
                self.out.send(from, Msg::Error { op: None, reason });
            }
            Msg::Reply { op, result } => self.handle_reply(op, result),
            Msg::Servers { op, epoch, servers, rebalancing, stable } => {
                self.learn_view(now, epoch, &servers, rebalancing, &stable);
                if matches!(self.ops.get(&op), Some(Op::QueryServers { .. })) {
                    self.complete(op, Ok(OpOutput::Servers { epoch, servers, rebalancing }));
                }
            }
            Msg::LockReply { op, result } => self.handle_lock_reply(now, op, result),
            Msg::Vote { tx, server, vote } => {
                let Some(op) = self.coordinator.op_of(&tx) else { return };
                let Some((coordinator, write, mut cx)) = self.write(now, op) else { return };
                let step = coordinator.handle_vote(op, write, tx, server, vote, &mut cx);
                self.apply(now, op, step);
            }
            Msg::Done { tx, server, committed } => self.handle_done(now, tx, server, committed, false),
            // Paxos Commit: a participant accepted this client's commit (ballot 0).
            Msg::Accepted { tx, server, ballot: 0 } => self.handle_done(now, tx, server, true, true),
            Msg::DecisionRequest { tx, .. } => self.handle_decision_request(now, from, tx),
            Msg::Takeover { tx, .. } => self.coordinator.answer_takeover(from, tx, &mut self.out),
            Msg::GetRReply { op, server, result } => self.handle_getr_reply(now, op, server, result),
            Msg::NotLeader { op, leader } => self.redirected(now, op, leader),
            Msg::Error { op: Some(op), reason }
                if matches!(
                    self.ops.get(&op),
                    Some(Op::Local { .. } | Op::QueryServers { .. } | Op::LockGet { .. } | Op::LockRelease { .. })
                ) =>
            {
                self.complete(op, Err(OpError::Remote { reason }));
            }
            Msg::Error { reason, .. } => self.out.event(Event::BadMessage { from: from.clone(), reason }),
            other => {
                let reason = format!("a client does not handle `{}`", other.name());
                self.out.event(Event::BadMessage { from: from.clone(), reason: reason.clone() });
                self.out.send(from, Msg::Error { op: other.op(), reason });
            }
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::Op(op) => self.op_timeout(now, op),
                Timer::ViewFetch => self.view_fetch_timeout(now),
                Timer::Tell(tx) => {
                    let cx = &mut coordinator::Cx {
                        now,
                        rpc_timeout_ms: self.config.rpc_timeout_ms,
                        timers: &mut self.timers,
                        out: &mut self.out,
                    };
                    self.coordinator.tell_timeout(tx, cx);
                }
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
