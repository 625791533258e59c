//! The storage server: a bucket of versioned key/value pairs, a 2PC participant, and the
//! rebalancing that keeps every key on exactly `replicas(key, view)`.
//!
//! Rebalancing works from two views the view leader hands out with heartbeat replies: the
//! current view and the *stable* view (the newest whose rebalancing every member finished).
//! Between them every replica of a key in the stable view still holds it, since copies are
//! dropped only when a view becomes stable. So all servers agree, without talking, on one
//! sender per key (the first live stable replica) and on the receivers (new replicas minus
//! stable ones): each new copy is sent once, keys never pass through the view leader, and a
//! copy is dropped only after the view leader reports that every new holder has its copies.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::event::Event;
use crate::id::{Addr, Epoch, Member, ServerId, TxId, Version, View};
use crate::msg::{HeartbeatStatus, Item, LocalReply, Msg, NoReason, ReadAnswer, Transmit, TxState, VoteAnswer};
use crate::ring::{position, Ring};
use crate::rng::Rng;
use crate::time::{Time, Timers};
use crate::twopc::{Participant, Pending, PendingPhase};
use crate::Node;

/// How a server behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The id; `None` picks a fresh random one from the seed, as a new process does.
    pub id: Option<ServerId>,
    /// Where this server listens (sent in heartbeats).
    pub addr: Addr,
    /// Where the view leader listens.
    pub view_leader: Addr,
    /// Seeds the id and any jitter.
    pub seed: u64,
    /// Heartbeat period (ms).
    pub heartbeat_ms: u64,
    /// How long after sending an accepted heartbeat this server may still vote and answer
    /// reads (ms). At most the view leader's failure timeout: a server that might have been
    /// declared failed must stop serving, or it would accept writes nobody will ever read.
    pub lease_ms: u64,
    /// How long a prepared transaction waits for the decision before asking around (ms).
    pub decision_timeout_ms: u64,
    /// Resend period for unacknowledged copies (ms).
    pub transfer_retry_ms: u64,
    /// Copies per transfer message.
    pub transfer_batch: usize,
    /// Replicas per key (R).
    pub replicas: usize,
    /// Virtual nodes per server.
    pub vnodes: u32,
}

impl ServerConfig {
    /// Demo timings for a server at `addr` reporting to `view_leader`.
    pub fn new(addr: Addr, view_leader: Addr, seed: u64) -> Self {
        ServerConfig {
            id: None,
            addr,
            view_leader,
            seed,
            heartbeat_ms: 500,
            lease_ms: 2_400,
            decision_timeout_ms: 2_000,
            transfer_retry_ms: 1_000,
            transfer_batch: 1_000,
            replicas: 3,
            vnodes: 1,
        }
    }
}

/// One stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The value.
    pub value: String,
    /// Its version (higher is newer).
    pub version: Version,
    /// The key's ring position, kept to avoid hashing the key again on every view change.
    pub pos: u64,
    /// The epoch this copy was placed for. A copy sent for an epoch this server has not
    /// learned yet must survive until it has: under its older view it looks like a stray.
    pub placed: Epoch,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Heartbeat,
    Transfers,
    Decision(TxId),
}

/// Copies on their way to one receiver.
#[derive(Clone, Debug, Default)]
struct Outgoing {
    addr: Addr,
    unacked: BTreeSet<String>,
}

/// This server's part of rebalancing towards `epoch`.
#[derive(Clone, Debug, Default)]
struct Rebalance {
    epoch: Epoch,
    outgoing: BTreeMap<ServerId, Outgoing>,
    /// Keys to send once their pending transaction is decided (a copy must carry the outcome).
    deferred: BTreeSet<String>,
}

/// A storage server.
///
/// Run loop, as for every role: after each `handle_*` call, drain
/// [`poll_transmit`](Node::poll_transmit) and [`poll_event`](Node::poll_event), then arm one
/// timer for [`poll_timeout`](Node::poll_timeout) and call `handle_timeout` when it passes.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    id: ServerId,
    bucket: BTreeMap<String, Entry>,
    current: View,
    stable: View,
    current_ring: Ring,
    stable_ring: Ring,
    /// The newest epoch for which this server's own transfers are all acknowledged.
    rebalanced: Epoch,
    job: Rebalance,
    /// Copies receivers acknowledged since the stable view, so none is sent twice.
    sent: BTreeMap<(String, ServerId), Version>,
    tx: Participant,
    /// Send times of heartbeats not answered yet, oldest first.
    unanswered: VecDeque<Time>,
    /// Until when this server may vote and answer reads.
    lease_until: Option<Time>,
    /// The view leader declared this id failed: it never serves again.
    denied: bool,
    /// Copies this server no longer replicates may be held: look for them once transfers are
    /// done (set when a view becomes stable, or a key's transaction ends off its replicas).
    strays: bool,
    timers: Timers<Timer>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Server {
    /// A fresh server process: empty bucket, no view yet, first heartbeat due at once.
    pub fn new(config: ServerConfig, now: Time) -> Self {
        let mut rng = Rng::new(config.seed);
        let id = config.id.clone().unwrap_or_else(|| ServerId::random(&mut rng));
        let mut timers = Timers::default();
        timers.set(Timer::Heartbeat, now);
        Server {
            config,
            id,
            bucket: BTreeMap::new(),
            current: View::default(),
            stable: View::default(),
            current_ring: Ring::default(),
            stable_ring: Ring::default(),
            rebalanced: Epoch(0),
            job: Rebalance::default(),
            sent: BTreeMap::new(),
            tx: Participant::default(),
            unanswered: VecDeque::new(),
            lease_until: None,
            denied: false,
            strays: false,
            timers,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
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
        &self.current
    }

    /// The newest fully rebalanced view it knows.
    pub fn stable_view(&self) -> &View {
        &self.stable
    }

    /// The newest epoch its own rebalancing finished for.
    pub fn rebalanced(&self) -> Epoch {
        self.rebalanced
    }

    /// The bucket, by key.
    pub fn bucket(&self) -> &BTreeMap<String, Entry> {
        &self.bucket
    }

    /// Prepared, undecided transactions.
    pub fn pending(&self) -> impl Iterator<Item = &Pending> {
        self.tx.pending.values()
    }

    /// Copies sent and not yet acknowledged.
    pub fn unacked_copies(&self) -> usize {
        self.job.outgoing.values().map(|o| o.unacked.len()).sum::<usize>() + self.job.deferred.len()
    }

    /// `key`'s replicas in this server's current view, primary first.
    pub fn placement(&self, key: &str) -> Vec<ServerId> {
        self.current_ring.replicas(key, self.config.replicas).into_iter().cloned().collect()
    }

    fn send(&mut self, to: &Addr, msg: Msg) {
        self.transmits.push_back(Transmit { to: to.clone(), msg });
    }

    fn heartbeat(&mut self, now: Time) {
        let msg = Msg::Heartbeat {
            id: self.id.clone(),
            addr: self.config.addr.clone(),
            epoch: self.current.epoch,
            stable: self.stable.epoch,
            rebalanced: self.rebalanced,
        };
        let vl = self.config.view_leader.clone();
        self.send(&vl, msg);
        // Older unanswered heartbeats can no longer extend the lease beyond now.
        while self.unanswered.front().is_some_and(|t| *t + self.config.lease_ms <= now) {
            self.unanswered.pop_front();
        }
        self.unanswered.push_back(now);
        self.timers.set(Timer::Heartbeat, now + self.config.heartbeat_ms);
    }

    /// Whether this server may vote and answer reads now.
    fn serving(&self, now: Time) -> bool {
        !self.denied && self.lease_until.is_some_and(|t| now < t)
    }

    fn handle_heartbeat_reply(&mut self, now: Time, id: ServerId, status: HeartbeatStatus) {
        if id != self.id {
            return;
        }
        match status {
            HeartbeatStatus::Ok { view, stable, .. } => {
                // Replies carry no send time; crediting the oldest unanswered heartbeat can
                // only make the lease shorter than the truth, never longer.
                if let Some(sent) = self.unanswered.pop_front() {
                    let until = sent + self.config.lease_ms;
                    self.lease_until = Some(self.lease_until.map_or(until, |t| t.max(until)));
                }
                let mut changed = false;
                if let Some(view) = view.filter(|v| v.epoch > self.current.epoch) {
                    self.current_ring = Ring::new(view.members.iter().map(|m| &m.id), self.config.vnodes);
                    self.events.push_back(Event::ViewLearned { epoch: view.epoch, servers: view.members.len() });
                    self.current = view;
                    changed = true;
                }
                if let Some(stable) = stable.filter(|v| v.epoch > self.stable.epoch) {
                    self.stable_ring = Ring::new(stable.members.iter().map(|m| &m.id), self.config.vnodes);
                    self.stable = stable;
                    self.sent.clear();
                    self.strays = true;
                    changed = true;
                }
                if changed {
                    self.replan(now);
                }
            }
            HeartbeatStatus::Denied => {
                self.denied = true;
                self.events.push_back(Event::Denied);
            }
            HeartbeatStatus::Retry => self.events.push_back(Event::ToldToRetry),
        }
    }

    /// The stable and current replica lists of a key at ring position `pos`.
    fn replica_sets(&self, pos: u64) -> (Vec<&ServerId>, Vec<&ServerId>) {
        let r = self.config.replicas;
        (self.stable_ring.replicas_at(pos, r), self.current_ring.replicas_at(pos, r))
    }

    /// Whether the key's copies may still be moving: its replica set differs between the
    /// stable and the current view. Writes to such a key wait (the vote is no).
    fn key_rebalancing(&self, pos: u64) -> bool {
        if self.stable.epoch == self.current.epoch {
            return false;
        }
        let (old, new) = self.replica_sets(pos);
        old.len() != new.len() || new.iter().any(|s| !old.contains(s))
    }

    /// Who must receive a copy of this key from this server: nobody unless this server is the
    /// key's agreed sender, the first stable replica still alive (or any holder, when every
    /// stable replica is gone).
    fn receivers(&self, key: &str, entry: &Entry) -> Vec<Member> {
        let (old, new) = self.replica_sets(entry.pos);
        if old.len() == new.len() && new.iter().all(|s| old.contains(s)) {
            return Vec::new();
        }
        let sender = old.iter().find(|s| self.current.contains(s)).copied().unwrap_or(&self.id);
        if *sender != self.id {
            return Vec::new();
        }
        new.into_iter()
            .filter(|s| !old.contains(s) && **s != self.id)
            .filter(|s| self.sent.get(&(String::from(key), (*s).clone())) != Some(&entry.version))
            .filter_map(|s| self.current.member(s).cloned())
            .collect()
    }

    /// Recomputes this server's transfers for the current pair of views and sends them.
    fn replan(&mut self, now: Time) {
        let epoch = self.current.epoch;
        let mut job = Rebalance { epoch, ..Rebalance::default() };
        if self.current.contains(&self.id) && self.stable.epoch != epoch {
            for (key, entry) in &self.bucket {
                let receivers = self.receivers(key, entry);
                if receivers.is_empty() {
                    continue;
                }
                if self.tx.pending_on(key).is_some_and(|p| !p.is_blocked()) {
                    job.deferred.insert(key.clone());
                    continue;
                }
                for m in receivers {
                    let out = job.outgoing.entry(m.id).or_default();
                    out.addr = m.addr;
                    out.unacked.insert(key.clone());
                }
            }
        }
        // Copies already on their way to a live server stay owed (an ack may be in flight, and
        // a late commit's forward must arrive): a superfluous copy is dropped at the next
        // stable view, a missing one would be lost.
        for (id, old) in core::mem::take(&mut self.job.outgoing) {
            if self.current.contains(&id) {
                let out = job.outgoing.entry(id).or_default();
                out.addr = old.addr;
                out.unacked.extend(old.unacked);
            }
        }
        self.job = job;
        let copies = self.unacked_copies();
        if copies > 0 {
            self.events.push_back(Event::RebalanceStarted { epoch, copies });
        }
        let receivers: Vec<ServerId> = self.job.outgoing.keys().cloned().collect();
        for id in receivers {
            self.send_copies(&id);
        }
        self.timers.set(Timer::Transfers, now + self.config.transfer_retry_ms);
        self.finish_if_done(now);
    }

    /// Sends every unacknowledged copy for receiver `id`, in batches.
    fn send_copies(&mut self, id: &ServerId) {
        let Some(out) = self.job.outgoing.get(id) else { return };
        let addr = out.addr.clone();
        let items: Vec<Item> = out
            .unacked
            .iter()
            .filter_map(|k| {
                self.bucket.get(k).map(|e| Item { key: k.clone(), value: e.value.clone(), version: e.version })
            })
            .collect();
        let epoch = self.job.epoch;
        for batch in items.chunks(self.config.transfer_batch.max(1)) {
            self.events.push_back(Event::TransferSent { epoch, to: id.clone(), keys: batch.len() });
            self.send(&addr, Msg::Transfer { epoch, items: batch.to_vec() });
        }
    }

    fn finish_if_done(&mut self, now: Time) {
        if !self.job.outgoing.is_empty() || !self.job.deferred.is_empty() {
            return;
        }
        self.timers.cancel(&Timer::Transfers);
        if self.current.contains(&self.id) && self.rebalanced < self.current.epoch {
            self.rebalanced = self.current.epoch;
            self.events.push_back(Event::RebalanceFinished { epoch: self.rebalanced });
            // Tell the view leader now rather than at the next period: rebalancing is reported
            // done only when every member said so.
            self.heartbeat(now);
        }
        // A server outside the view keeps what it has: it is not the cluster's copy any more,
        // but nothing tells it that its data has a home elsewhere.
        if self.strays && self.stable.epoch == self.current.epoch && self.current.contains(&self.id) {
            self.strays = false;
            self.drop_strays();
        }
    }

    /// Drops keys this server no longer replicates. Called only when the current view is
    /// stable, i.e. every receiver acknowledged its copies.
    fn drop_strays(&mut self) {
        let r = self.config.replicas;
        let ring = &self.current_ring;
        let me = &self.id;
        let tx = &self.tx;
        let before = self.bucket.len();
        let epoch = self.current.epoch;
        self.bucket.retain(|k, e| e.placed > epoch || tx.pending_on(k).is_some() || ring.replicas_at(e.pos, r).contains(&me));
        let dropped = before - self.bucket.len();
        if dropped > 0 {
            self.events.push_back(Event::CopiesDropped { epoch: self.current.epoch, keys: dropped });
        }
    }

    fn handle_transfer(&mut self, now: Time, from: &Addr, epoch: Epoch, items: Vec<Item>) {
        let mut keys = Vec::with_capacity(items.len());
        let mut stored = 0;
        let total = items.len();
        for item in items {
            let newer = self.bucket.get(&item.key).is_none_or(|e| e.version < item.version);
            if newer {
                let pos = position(&item.key);
                if !self.current_ring.replicas_at(pos, self.config.replicas).contains(&&self.id) {
                    self.strays = true;
                }
                self.bucket.insert(item.key.clone(), Entry { value: item.value, version: item.version, pos, placed: epoch });
                stored += 1;
            }
            keys.push(item.key);
        }
        self.events.push_back(Event::TransferReceived { from: from.clone(), keys: total, stored });
        self.send(from, Msg::TransferAck { epoch, keys });
        // A late or repeated copy for a view that is already stable is dropped at once.
        self.finish_if_done(now);
    }

    fn handle_transfer_ack(&mut self, now: Time, from: &Addr, keys: Vec<String>) {
        let Some((id, out)) = self.job.outgoing.iter_mut().find(|(_, o)| &o.addr == from) else { return };
        let id = id.clone();
        let mut acked = 0;
        for key in keys {
            if out.unacked.remove(&key) {
                acked += 1;
                let version = self.bucket.get(&key).map_or(0, |e| e.version);
                self.sent.insert((key, id.clone()), version);
            }
        }
        if acked == 0 {
            return;
        }
        if out.unacked.is_empty() {
            self.job.outgoing.remove(&id);
        }
        self.events.push_back(Event::TransferAcked { from: id, keys: acked });
        self.finish_if_done(now);
    }

    // ---- two-phase commit, participant side

    fn vote(&mut self, now: Time, from: &Addr, prepare: Pending, expected: ServerId) {
        let tx = prepare.tx;
        let pos = position(&prepare.key);
        let answer = if let Some(state) = self.tx.outcome(&tx) {
            match state {
                // A prepare repeated after the decision: the coordinator has decided already.
                TxState::Committed { .. } => VoteAnswer::Yes { version: self.bucket.get(&prepare.key).map_or(0, |e| e.version) },
                _ => VoteAnswer::No { reason: NoReason::Aborted },
            }
        } else if self.tx.pending.contains_key(&tx) {
            VoteAnswer::Yes { version: self.bucket.get(&prepare.key).map_or(0, |e| e.version) }
        } else if expected != self.id {
            VoteAnswer::No { reason: NoReason::WrongServer { id: self.id.clone() } }
        } else if !self.serving(now) {
            VoteAnswer::No { reason: NoReason::Isolated }
        } else if prepare.epoch != self.current.epoch {
            VoteAnswer::No { reason: NoReason::EpochMismatch { epoch: self.current.epoch } }
        } else if let Some(other) = self.tx.pending_on(&prepare.key) {
            VoteAnswer::No { reason: NoReason::KeyBusy { tx: other.tx } }
        } else if self.key_rebalancing(pos) {
            VoteAnswer::No { reason: NoReason::Rebalancing }
        } else {
            let version = self.bucket.get(&prepare.key).map_or(0, |e| e.version);
            self.timers.set(Timer::Decision(tx), now + self.config.decision_timeout_ms);
            self.tx.prepare(prepare.clone());
            VoteAnswer::Yes { version }
        };
        let (yes, reason) = match &answer {
            VoteAnswer::Yes { .. } => (true, None),
            VoteAnswer::No { reason } => (false, Some(reason.clone())),
        };
        self.events.push_back(Event::Voted { tx, key: prepare.key, yes, reason });
        self.send(from, Msg::Vote { tx, server: self.id.clone(), vote: answer });
    }

    /// Applies a decision to a pending transaction (from the coordinator or from a peer in the
    /// termination protocol). Returns whether the transaction was pending here.
    fn decide(&mut self, now: Time, tx: TxId, commit: Option<Version>) -> bool {
        let Some(p) = self.tx.take(&tx) else { return false };
        self.timers.cancel(&Timer::Decision(tx));
        match commit {
            Some(version) => {
                let pos = position(&p.key);
                let newer = self.bucket.get(&p.key).is_none_or(|e| e.version < version);
                if newer {
                    let placed = self.current.epoch;
                    self.bucket.insert(p.key.clone(), Entry { value: p.value, version, pos, placed });
                }
                self.tx.remember(tx, TxState::Committed { version });
                self.events.push_back(Event::Committed { tx, key: p.key.clone(), version });
                if p.epoch != self.current.epoch {
                    self.forward_late_commit(now, &p.key, pos);
                }
            }
            None => {
                self.tx.remember(tx, TxState::Aborted);
                self.events.push_back(Event::Aborted { tx, key: Some(p.key.clone()) });
            }
        }
        if !self.current_ring.replicas_at(position(&p.key), self.config.replicas).contains(&&self.id) {
            self.strays = true;
        }
        if self.job.deferred.remove(&p.key) {
            self.replan(now);
        } else {
            self.finish_if_done(now);
        }
        true
    }

    /// A commit decided in an older epoch reached this server after the view moved on: the
    /// key's current replicas may have been given the older value, so push the new one to them.
    fn forward_late_commit(&mut self, now: Time, key: &str, pos: u64) {
        let targets: Vec<Member> = self
            .current_ring
            .replicas_at(pos, self.config.replicas)
            .into_iter()
            .filter(|s| **s != self.id)
            .filter_map(|s| self.current.member(s).cloned())
            .collect();
        for m in targets {
            let out = self.job.outgoing.entry(m.id.clone()).or_default();
            out.addr = m.addr;
            out.unacked.insert(String::from(key));
            self.send_copies(&m.id);
        }
        self.timers.set(Timer::Transfers, now + self.config.transfer_retry_ms);
    }

    fn answer_decision_request(&mut self, from: &Addr, tx: TxId, asked: Option<ServerId>) {
        let state = if asked.as_ref() != Some(&self.id) {
            TxState::Unknown
        } else if let Some(state) = self.tx.outcome(&tx) {
            state.clone()
        } else if self.tx.pending.contains_key(&tx) {
            TxState::Prepared
        } else {
            // Never prepared here: rule it out, so a prepare arriving late is voted down and
            // the asker may safely abort.
            self.tx.remember(tx, TxState::Aborted);
            self.events.push_back(Event::Aborted { tx, key: None });
            TxState::Aborted
        };
        self.send(from, Msg::DecisionReply { tx, state });
    }

    fn handle_decision_reply(&mut self, now: Time, from: &Addr, tx: TxId, state: TxState) {
        match state {
            TxState::Committed { version } => {
                self.decide(now, tx, Some(version));
            }
            TxState::Aborted => {
                self.decide(now, tx, None);
            }
            TxState::Unknown => {}
            TxState::Prepared => {
                let Some(p) = self.tx.pending.get_mut(&tx) else { return };
                let Some(peer) = p.participants.iter().find(|m| &m.addr == from).map(|m| m.id.clone()) else {
                    return;
                };
                if let PendingPhase::Asking { prepared, .. } | PendingPhase::Blocked { prepared } = &mut p.phase {
                    if !prepared.contains(&peer) {
                        prepared.push(peer);
                    }
                }
            }
        }
    }

    /// The decision timer of a prepared transaction fired: start or continue the cooperative
    /// termination protocol.
    fn decision_timeout(&mut self, now: Time, tx: TxId) {
        let me = self.id.clone();
        let Some(p) = self.tx.pending.get_mut(&tx) else { return };
        let others = p.participants.iter().filter(|m| m.id != me).count();
        let mut newly_blocked = false;
        p.phase = match core::mem::replace(&mut p.phase, PendingPhase::Ready) {
            PendingPhase::Ready => {
                self.events.push_back(Event::TerminationStarted { tx, key: p.key.clone() });
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
            p.participants.iter().filter(|m| m.id != me).map(|m| (m.addr.clone(), Some(m.id.clone()))).collect();
        ask.push((p.coordinator.clone(), None));
        let key = p.key.clone();
        let blocked = p.is_blocked();
        for (addr, server) in ask {
            self.send(&addr, Msg::DecisionRequest { tx, server });
        }
        // Blocked transactions keep asking, more slowly: only the coordinator can free them.
        let period = if blocked { self.config.decision_timeout_ms * 4 } else { self.config.decision_timeout_ms };
        self.timers.set(Timer::Decision(tx), now + period);
        if newly_blocked {
            self.events.push_back(Event::Blocked { tx, key: key.clone() });
            // The key's committed value can move now; a late commit will be forwarded.
            if self.job.deferred.remove(&key) {
                self.replan(now);
            }
        }
    }

    fn read(&self, now: Time, epoch: Epoch, key: &str) -> ReadAnswer {
        if !self.serving(now) {
            return ReadAnswer::Isolated;
        }
        if epoch != self.current.epoch {
            return ReadAnswer::WrongEpoch { epoch: self.current.epoch };
        }
        if let Some(p) = self.tx.pending_on(key) {
            return ReadAnswer::Pending { tx: p.tx };
        }
        let pos = position(key);
        if self.key_rebalancing(pos) && !self.replica_sets(pos).0.contains(&&self.id) {
            return ReadAnswer::Rebalancing;
        }
        match self.bucket.get(key) {
            Some(e) => ReadAnswer::Value { value: e.value.clone(), version: e.version },
            None => ReadAnswer::NotFound,
        }
    }

    fn reject(&mut self, from: &Addr, msg: &Msg) {
        let reason = format!("a server does not handle `{}`", msg.name());
        self.events.push_back(Event::BadMessage { from: from.clone(), reason: reason.clone() });
        self.send(from, Msg::Error { op: msg.op(), reason });
    }
}

impl Node for Server {
    fn handle_message(&mut self, now: Time, from: &Addr, msg: Msg) {
        match msg {
            Msg::Print { op, text } => {
                self.events.push_back(Event::Printed { text });
                self.send(from, Msg::Reply { op, result: LocalReply::Ok });
            }
            Msg::Set { op, key, value } => {
                let pos = position(&key);
                let version = self.bucket.get(&key).map_or(0, |e| e.version) + 1;
                let placed = self.current.epoch;
                self.bucket.insert(key, Entry { value, version, pos, placed });
                self.send(from, Msg::Reply { op, result: LocalReply::Ok });
            }
            Msg::Get { op, key } => {
                let result = match self.bucket.get(&key) {
                    Some(e) => LocalReply::Value { value: e.value.clone() },
                    None => LocalReply::NotFound { key },
                };
                self.send(from, Msg::Reply { op, result });
            }
            Msg::QueryAllKeys { op } => {
                let keys = self.bucket.keys().cloned().collect();
                self.send(from, Msg::Reply { op, result: LocalReply::Keys { keys } });
            }
            Msg::HeartbeatReply { id, status } => self.handle_heartbeat_reply(now, id, status),
            Msg::Prepare { tx, epoch, server, key, value, participants } => {
                let pending = Pending {
                    tx,
                    key,
                    value,
                    epoch,
                    coordinator: from.clone(),
                    participants,
                    phase: PendingPhase::Ready,
                };
                self.vote(now, from, pending, server);
            }
            Msg::Commit { tx, version } => {
                let known = self.decide(now, tx, Some(version)) || self.tx.committed_version(&tx).is_some();
                if known {
                    self.send(from, Msg::Done { tx, server: self.id.clone(), committed: true });
                } else {
                    let reason = format!("unknown transaction {tx}");
                    self.send(from, Msg::Error { op: None, reason });
                }
            }
            Msg::Abort { tx } => {
                if !self.decide(now, tx, None) && self.tx.outcome(&tx).is_none() {
                    // The abort overtook its prepare: remember it so the prepare is voted down.
                    self.tx.remember(tx, TxState::Aborted);
                }
                let committed = self.tx.committed_version(&tx).is_some();
                self.send(from, Msg::Done { tx, server: self.id.clone(), committed });
            }
            Msg::DecisionRequest { tx, server } => self.answer_decision_request(from, tx, server),
            Msg::DecisionReply { tx, state } => self.handle_decision_reply(now, from, tx, state),
            Msg::GetR { op, epoch, key } => {
                let result = self.read(now, epoch, &key);
                self.send(from, Msg::GetRReply { op, server: self.id.clone(), result });
            }
            Msg::Transfer { epoch, items } => self.handle_transfer(now, from, epoch, items),
            Msg::TransferAck { keys, .. } => self.handle_transfer_ack(now, from, keys),
            Msg::Error { reason, .. } => {
                self.events.push_back(Event::BadMessage { from: from.clone(), reason });
            }
            other => self.reject(from, &other),
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::Heartbeat => self.heartbeat(now),
                Timer::Transfers => {
                    let receivers: Vec<ServerId> = self.job.outgoing.keys().cloned().collect();
                    for id in receivers {
                        self.send_copies(&id);
                    }
                    if !self.job.outgoing.is_empty() {
                        self.timers.set(Timer::Transfers, now + self.config.transfer_retry_ms);
                    }
                }
                Timer::Decision(tx) => self.decision_timeout(now, tx),
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
