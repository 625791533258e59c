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
use crate::id::{Addr, Epoch, Member, OpId, ServerId, TxId, Version, View};
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

    /// Whether this server is one of the current replicas of whatever sits at `pos`.
    fn replicates(&self, pos: u64) -> bool {
        self.current_ring.replicas_at(pos, self.config.replicas).contains(&&self.id)
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
        let keys: Vec<String> = out.unacked.iter().cloned().collect();
        self.send_keys(id, &keys);
    }

    /// Sends these keys' copies to receiver `id`, in batches.
    fn send_keys(&mut self, id: &ServerId, keys: &[String]) {
        let Some(out) = self.job.outgoing.get(id) else { return };
        let addr = out.addr.clone();
        let items: Vec<Item> = keys
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
        self.bucket
            .retain(|k, e| e.placed > epoch || tx.pending_on(k).is_some() || ring.replicas_at(e.pos, r).contains(&me));
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
                if !self.replicates(pos) {
                    self.strays = true;
                }
                self.bucket
                    .insert(item.key.clone(), Entry { value: item.value, version: item.version, pos, placed: epoch });
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
        let key = prepare.key.clone();
        let pos = position(&key);
        let answer = if let Some(state) = self.tx.outcome(&tx) {
            match state {
                // A prepare repeated after the decision: the coordinator has decided already.
                TxState::Committed { .. } => {
                    VoteAnswer::Yes { version: self.bucket.get(&prepare.key).map_or(0, |e| e.version) }
                }
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
            self.tx.prepare(prepare);
            VoteAnswer::Yes { version }
        };
        let (yes, reason) = match &answer {
            VoteAnswer::Yes { .. } => (true, None),
            VoteAnswer::No { reason } => (false, Some(reason.clone())),
        };
        self.events.push_back(Event::Voted { tx, key, yes, reason });
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
        if !self.replicates(position(&p.key)) {
            self.strays = true;
        }
        self.release_deferred(now, &p.key);
        true
    }

    /// The key's transaction is decided (or blocked): its copies, if it was waiting to send
    /// them, go out now. Only this key's copies: the rest of the plan is unchanged.
    fn release_deferred(&mut self, now: Time, key: &str) {
        if self.job.deferred.remove(key) {
            let receivers = self.bucket.get(key).map(|e| self.receivers(key, e)).unwrap_or_default();
            self.queue_copies(now, key, receivers);
        }
        self.finish_if_done(now);
    }

    /// Owes `key`'s copy to each receiver and sends it, arming the resend timer.
    fn queue_copies(&mut self, now: Time, key: &str, receivers: Vec<Member>) {
        for m in receivers {
            let out = self.job.outgoing.entry(m.id.clone()).or_default();
            out.addr = m.addr;
            out.unacked.insert(String::from(key));
            self.send_keys(&m.id, &[String::from(key)]);
            self.timers.set(Timer::Transfers, now + self.config.transfer_retry_ms);
        }
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
        self.queue_copies(now, key, targets);
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
            self.release_deferred(now, &key);
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
        self.refuse(from, msg.op(), format!("a server does not handle `{}`", msg.name()));
    }

    fn refuse(&mut self, from: &Addr, op: Option<OpId>, reason: String) {
        self.events.push_back(Event::BadMessage { from: from.clone(), reason: reason.clone() });
        self.send(from, Msg::Error { op, reason });
    }

    /// Whether `from` may tell this server how `tx` ended: its coordinator or a fellow
    /// participant. Anyone else could forge an outcome.
    fn may_decide(&self, from: &Addr, tx: &TxId) -> bool {
        self.tx
            .pending
            .get(tx)
            .is_some_and(|p| p.coordinator == *from || p.participants.iter().any(|m| m.addr == *from))
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
            // Only the view leader speaks for the view: a forged reply could deny or isolate us.
            Msg::HeartbeatReply { .. } if *from != self.config.view_leader => {
                self.refuse(from, None, String::from("heartbeat replies are taken only from the view leader"));
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
            Msg::DecisionReply { tx, state } if self.may_decide(from, &tx) => {
                self.handle_decision_reply(now, from, tx, state)
            }
            Msg::DecisionReply { tx, .. } => {
                let reason = format!("{from} is neither coordinator nor participant of a pending {tx}");
                self.refuse(from, None, reason);
            }
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::OpId;
    use crate::testing::drain;
    use alloc::string::ToString;
    use alloc::vec;

    const VL: &str = "vl";
    const CL: &str = "cl";

    fn addr(id: &str) -> Addr {
        Addr(format!("srv-{id}"))
    }

    fn sid(id: &str) -> ServerId {
        ServerId::from(id)
    }

    fn member(id: &str) -> Member {
        Member { id: sid(id), addr: addr(id) }
    }

    fn view(epoch: u64, ids: &[&str]) -> View {
        View { epoch: Epoch(epoch), members: ids.iter().map(|id| member(id)).collect() }
    }

    fn config(id: &str) -> ServerConfig {
        ServerConfig {
            id: Some(sid(id)),
            // Periodic heartbeats stay out of the outputs of tests that run for a few seconds.
            heartbeat_ms: 10_000,
            ..ServerConfig::new(addr(id), Addr::from(VL), 1)
        }
    }

    fn to(to: Addr, msg: Msg) -> Transmit {
        Transmit { to, msg }
    }

    fn heartbeat(id: &str, epoch: u64, stable: u64, rebalanced: u64) -> Transmit {
        let msg = Msg::Heartbeat {
            id: sid(id),
            addr: addr(id),
            epoch: Epoch(epoch),
            stable: Epoch(stable),
            rebalanced: Epoch(rebalanced),
        };
        to(Addr::from(VL), msg)
    }

    fn accepted(id: &str, epoch: u64, current: Option<View>, stable: Option<View>) -> Msg {
        Msg::HeartbeatReply { id: sid(id), status: HeartbeatStatus::Ok { epoch: Epoch(epoch), view: current, stable } }
    }

    /// A server whose first heartbeat (sent at 0) was accepted at `now` with these views, so its
    /// lease runs until 2400. Its outputs so far are drained.
    fn joined(id: &str, current: View, stable: View, now: Time) -> Server {
        let mut s = Server::new(config(id), Time(0));
        s.handle_timeout(Time(0));
        let epoch = current.epoch.0;
        s.handle_message(now, &Addr::from(VL), accepted(id, epoch, Some(current), Some(stable)));
        drain(&mut s);
        s
    }

    /// Server `id` in the settled view {a, b, c} of epoch 3.
    fn settled(id: &str) -> Server {
        joined(id, view(3, &["a", "b", "c"]), view(3, &["a", "b", "c"]), Time(0))
    }

    fn tx(seq: u64) -> TxId {
        TxId { client: 7, seq }
    }

    fn prepare(tx: TxId, epoch: u64, server: &str, key: &str, value: &str) -> Msg {
        Msg::Prepare {
            tx,
            epoch: Epoch(epoch),
            server: sid(server),
            key: key.to_string(),
            value: value.to_string(),
            participants: vec![member("a"), member("b"), member("c")],
        }
    }

    fn vote(tx: TxId, server: &str, vote: VoteAnswer) -> Transmit {
        to(Addr::from(CL), Msg::Vote { tx, server: sid(server), vote })
    }

    fn yes(version: Version) -> VoteAnswer {
        VoteAnswer::Yes { version }
    }

    fn no(reason: NoReason) -> VoteAnswer {
        VoteAnswer::No { reason }
    }

    fn voted(tx: TxId, key: &str, reason: Option<NoReason>) -> Event {
        Event::Voted { tx, key: key.to_string(), yes: reason.is_none(), reason }
    }

    fn done(tx: TxId, server: &str, committed: bool) -> Transmit {
        to(Addr::from(CL), Msg::Done { tx, server: sid(server), committed })
    }

    fn ask(dest: Addr, tx: TxId, server: Option<&str>) -> Transmit {
        to(dest, Msg::DecisionRequest { tx, server: server.map(sid) })
    }

    /// What a participant of a/b/c sends when it starts asking how `tx` ended: the others by
    /// name, then the coordinator.
    fn ask_everyone(tx: TxId) -> Vec<Transmit> {
        vec![ask(addr("b"), tx, Some("b")), ask(addr("c"), tx, Some("c")), ask(Addr::from(CL), tx, None)]
    }

    fn set(key: &str, value: &str) -> Msg {
        Msg::Set { op: OpId(1), key: key.to_string(), value: value.to_string() }
    }

    fn getr(op: u64, epoch: u64, key: &str) -> Msg {
        Msg::GetR { op: OpId(op), epoch: Epoch(epoch), key: key.to_string() }
    }

    fn read(op: u64, server: &str, result: ReadAnswer) -> Transmit {
        to(Addr::from(CL), Msg::GetRReply { op: OpId(op), server: sid(server), result })
    }

    fn item(key: &str, value: &str, version: Version) -> Item {
        Item { key: key.to_string(), value: value.to_string(), version }
    }

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|k| k.to_string()).collect()
    }

    /// (key, value, version) of every stored entry.
    fn contents(s: &Server) -> Vec<(&str, &str, Version)> {
        s.bucket().iter().map(|(k, e)| (k.as_str(), e.value.as_str(), e.version)).collect()
    }

    #[test]
    fn local_rpcs_print_set_get_and_list_keys() {
        let mut s = Server::new(config("a"), Time(0));
        let cl = Addr::from(CL);
        s.handle_message(Time(0), &cl, Msg::Print { op: OpId(1), text: "hello".to_string() });
        s.handle_message(Time(0), &cl, Msg::Set { op: OpId(2), key: "y".to_string(), value: "1".to_string() });
        s.handle_message(Time(0), &cl, Msg::Set { op: OpId(3), key: "x".to_string(), value: "2".to_string() });
        s.handle_message(Time(0), &cl, Msg::Set { op: OpId(4), key: "y".to_string(), value: "3".to_string() });
        s.handle_message(Time(0), &cl, Msg::Get { op: OpId(5), key: "y".to_string() });
        s.handle_message(Time(0), &cl, Msg::Get { op: OpId(6), key: "z".to_string() });
        s.handle_message(Time(0), &cl, Msg::QueryAllKeys { op: OpId(7) });
        let reply = |op, result| to(Addr::from(CL), Msg::Reply { op: OpId(op), result });
        assert_eq!(
            drain(&mut s),
            (
                vec![
                    reply(1, LocalReply::Ok),
                    reply(2, LocalReply::Ok),
                    reply(3, LocalReply::Ok),
                    reply(4, LocalReply::Ok),
                    reply(5, LocalReply::Value { value: "3".to_string() }),
                    reply(6, LocalReply::NotFound { key: "z".to_string() }),
                    reply(7, LocalReply::Keys { keys: keys(&["x", "y"]) }),
                ],
                vec![Event::Printed { text: "hello".to_string() }],
            )
        );
        // A local set replaces the value and moves its version up.
        assert_eq!(contents(&s), vec![("x", "2", 1), ("y", "3", 2)]);
    }

    #[test]
    fn heartbeats_carry_the_epochs_and_replies_teach_the_view() {
        let mut s = Server::new(config("a"), Time(0));
        assert_eq!(s.poll_timeout(), Some(Time(0)));
        s.handle_timeout(Time(0));
        assert_eq!(drain(&mut s), (vec![heartbeat("a", 0, 0, 0)], vec![]));
        assert_eq!(s.poll_timeout(), Some(Time(10_000)));

        // A reply for another id is not ours; a retry is reported and changes nothing.
        let abc = view(3, &["a", "b", "c"]);
        s.handle_message(Time(50), &Addr::from(VL), accepted("z", 3, Some(abc.clone()), Some(abc.clone())));
        s.handle_message(
            Time(60),
            &Addr::from(VL),
            Msg::HeartbeatReply { id: sid("a"), status: HeartbeatStatus::Retry },
        );
        assert_eq!(drain(&mut s), (vec![], vec![Event::ToldToRetry]));
        assert_eq!(s.view(), &View::default());

        // Learning a settled view: nothing to move, so it says at once that it is rebalanced.
        s.handle_message(Time(100), &Addr::from(VL), accepted("a", 3, Some(abc.clone()), Some(abc.clone())));
        assert_eq!(
            drain(&mut s),
            (
                vec![heartbeat("a", 3, 3, 3)],
                vec![Event::ViewLearned { epoch: Epoch(3), servers: 3 }, Event::RebalanceFinished { epoch: Epoch(3) }],
            )
        );
        assert_eq!((s.view(), s.stable_view(), s.rebalanced()), (&abc, &abc, Epoch(3)));
        assert_eq!(s.poll_timeout(), Some(Time(10_100)));
        s.handle_timeout(Time(10_100));
        assert_eq!(drain(&mut s), (vec![heartbeat("a", 3, 3, 3)], vec![]));
    }

    #[test]
    fn votes_and_reads_only_within_the_lease() {
        let mut s = Server::new(config("a"), Time(0));
        s.handle_timeout(Time(0));
        drain(&mut s);
        // No heartbeat accepted yet.
        s.handle_message(Time(10), &Addr::from(CL), prepare(tx(1), 0, "a", "k1", "v"));
        s.handle_message(Time(10), &Addr::from(CL), getr(1, 0, "k1"));
        assert_eq!(
            drain(&mut s),
            (
                vec![vote(tx(1), "a", no(NoReason::Isolated)), read(1, "a", ReadAnswer::Isolated)],
                vec![voted(tx(1), "k1", Some(NoReason::Isolated))],
            )
        );

        // The reply at 1000 answers the heartbeat sent at 0: the lease runs until 0 + 2400.
        let abc = view(3, &["a", "b", "c"]);
        s.handle_message(Time(1_000), &Addr::from(VL), accepted("a", 3, Some(abc.clone()), Some(abc)));
        drain(&mut s);
        s.handle_message(Time(2_399), &Addr::from(CL), prepare(tx(2), 3, "a", "k1", "v"));
        s.handle_message(Time(2_400), &Addr::from(CL), prepare(tx(3), 3, "a", "k3", "v"));
        s.handle_message(Time(2_400), &Addr::from(CL), getr(2, 3, "k3"));
        assert_eq!(
            drain(&mut s),
            (
                vec![
                    vote(tx(2), "a", yes(0)),
                    vote(tx(3), "a", no(NoReason::Isolated)),
                    read(2, "a", ReadAnswer::Isolated),
                ],
                vec![voted(tx(2), "k1", None), voted(tx(3), "k3", Some(NoReason::Isolated))],
            )
        );

        // The heartbeat sent on learning the view (at 1000) is accepted: serving again.
        s.handle_message(Time(2_500), &Addr::from(VL), accepted("a", 3, None, None));
        s.handle_message(Time(2_500), &Addr::from(CL), getr(3, 3, "k3"));
        assert_eq!(drain(&mut s), (vec![read(3, "a", ReadAnswer::NotFound)], vec![]));
    }

    #[test]
    fn forged_heartbeat_and_decision_replies_are_refused() {
        let mut s = settled("a");
        let stranger = Addr::from("mallory");
        s.handle_message(Time(100), &stranger, Msg::HeartbeatReply { id: sid("a"), status: HeartbeatStatus::Denied });
        let reason = String::from("heartbeat replies are taken only from the view leader");
        assert_eq!(
            drain(&mut s),
            (
                vec![to(stranger.clone(), Msg::Error { op: None, reason: reason.clone() })],
                vec![Event::BadMessage { from: stranger.clone(), reason }]
            )
        );
        // Still serving: the forged denial changed nothing.
        s.handle_message(Time(200), &Addr::from(CL), prepare(tx(1), 3, "a", "k1", "v"));
        assert_eq!(drain(&mut s).0, vec![vote(tx(1), "a", yes(0))]);
        // Only the coordinator or a participant may say how the transaction ended.
        s.handle_message(Time(300), &stranger, Msg::DecisionReply { tx: tx(1), state: TxState::Aborted });
        let reason = String::from("mallory is neither coordinator nor participant of a pending tx0007.1");
        assert_eq!(
            drain(&mut s),
            (
                vec![to(stranger.clone(), Msg::Error { op: None, reason: reason.clone() })],
                vec![Event::BadMessage { from: stranger, reason }]
            )
        );
        assert_eq!(s.pending().count(), 1);
    }

    #[test]
    fn a_denied_server_never_serves_again() {
        let mut s = settled("a");
        s.handle_message(
            Time(100),
            &Addr::from(VL),
            Msg::HeartbeatReply { id: sid("a"), status: HeartbeatStatus::Denied },
        );
        s.handle_message(Time(200), &Addr::from(CL), prepare(tx(1), 3, "a", "k1", "v"));
        assert_eq!(
            drain(&mut s),
            (
                vec![vote(tx(1), "a", no(NoReason::Isolated))],
                vec![Event::Denied, voted(tx(1), "k1", Some(NoReason::Isolated))]
            )
        );
        // Even an accepted heartbeat (a stale reply) does not bring it back.
        s.handle_message(Time(300), &Addr::from(VL), accepted("a", 3, None, None));
        s.handle_message(Time(300), &Addr::from(CL), getr(1, 3, "k1"));
        assert_eq!(drain(&mut s), (vec![read(1, "a", ReadAnswer::Isolated)], vec![]));
    }

    #[test]
    fn prepare_votes_yes_once_per_key() {
        let mut s = settled("a");
        let cl = Addr::from(CL);
        s.handle_message(Time(100), &cl, set("k1", "old"));
        drain(&mut s);
        s.handle_message(Time(200), &cl, prepare(tx(1), 3, "a", "k1", "v1"));
        s.handle_message(Time(210), &cl, prepare(tx(2), 3, "a", "k1", "v2"));
        // A repeated prepare gets the same vote; another key is independent.
        s.handle_message(Time(220), &cl, prepare(tx(1), 3, "a", "k1", "v1"));
        s.handle_message(Time(230), &cl, prepare(tx(3), 3, "a", "k3", "v3"));
        assert_eq!(
            drain(&mut s),
            (
                vec![
                    vote(tx(1), "a", yes(1)),
                    vote(tx(2), "a", no(NoReason::KeyBusy { tx: tx(1) })),
                    vote(tx(1), "a", yes(1)),
                    vote(tx(3), "a", yes(0)),
                ],
                vec![
                    voted(tx(1), "k1", None),
                    voted(tx(2), "k1", Some(NoReason::KeyBusy { tx: tx(1) })),
                    voted(tx(1), "k1", None),
                    voted(tx(3), "k3", None),
                ],
            )
        );
        let pending: Vec<(TxId, &str)> = s.pending().map(|p| (p.tx, p.key.as_str())).collect();
        assert_eq!(pending, vec![(tx(1), "k1"), (tx(3), "k3")]);
    }

    #[test]
    fn prepare_votes_no_for_another_server_id_or_epoch() {
        let mut s = settled("a");
        let cl = Addr::from(CL);
        s.handle_message(Time(100), &cl, prepare(tx(1), 3, "z", "k1", "v"));
        s.handle_message(Time(100), &cl, prepare(tx(2), 2, "a", "k1", "v"));
        s.handle_message(Time(100), &cl, prepare(tx(3), 4, "a", "k1", "v"));
        let wrong = NoReason::WrongServer { id: sid("a") };
        let epoch = NoReason::EpochMismatch { epoch: Epoch(3) };
        assert_eq!(
            drain(&mut s),
            (
                vec![
                    vote(tx(1), "a", no(wrong.clone())),
                    vote(tx(2), "a", no(epoch.clone())),
                    vote(tx(3), "a", no(epoch.clone()))
                ],
                vec![
                    voted(tx(1), "k1", Some(wrong)),
                    voted(tx(2), "k1", Some(epoch.clone())),
                    voted(tx(3), "k1", Some(epoch))
                ],
            )
        );
        assert_eq!(s.pending().count(), 0);
    }

    #[test]
    fn commit_stores_the_value_at_the_coordinators_version() {
        let mut s = settled("a");
        let cl = Addr::from(CL);
        s.handle_message(Time(100), &cl, prepare(tx(1), 3, "a", "k1", "v"));
        drain(&mut s);
        s.handle_message(Time(200), &cl, Msg::Commit { tx: tx(1), version: 5 });
        assert_eq!(
            drain(&mut s),
            (vec![done(tx(1), "a", true)], vec![Event::Committed { tx: tx(1), key: "k1".to_string(), version: 5 }])
        );
        assert_eq!(
            s.bucket().get("k1"),
            Some(&Entry { value: "v".to_string(), version: 5, pos: position("k1"), placed: Epoch(3) })
        );
        assert_eq!(s.pending().count(), 0);

        // A repeated commit is acknowledged again; a commit for a transaction never seen is not.
        s.handle_message(Time(300), &cl, Msg::Commit { tx: tx(1), version: 5 });
        s.handle_message(Time(300), &cl, Msg::Commit { tx: tx(9), version: 5 });
        let unknown = Msg::Error { op: None, reason: format!("unknown transaction {}", tx(9)) };
        assert_eq!(drain(&mut s), (vec![done(tx(1), "a", true), to(cl.clone(), unknown)], vec![]));

        // The key is free again.
        s.handle_message(Time(400), &cl, prepare(tx(2), 3, "a", "k1", "w"));
        assert_eq!(drain(&mut s), (vec![vote(tx(2), "a", yes(5))], vec![voted(tx(2), "k1", None)]));
    }

    #[test]
    fn abort_frees_the_key_and_keeps_the_old_value() {
        let mut s = settled("a");
        let cl = Addr::from(CL);
        s.handle_message(Time(100), &cl, set("k1", "old"));
        s.handle_message(Time(100), &cl, prepare(tx(1), 3, "a", "k1", "v"));
        drain(&mut s);
        s.handle_message(Time(200), &cl, Msg::Abort { tx: tx(1) });
        assert_eq!(
            drain(&mut s),
            (vec![done(tx(1), "a", false)], vec![Event::Aborted { tx: tx(1), key: Some("k1".to_string()) }])
        );
        assert_eq!(contents(&s), vec![("k1", "old", 1)]);
        s.handle_message(Time(300), &cl, prepare(tx(2), 3, "a", "k1", "w"));
        assert_eq!(drain(&mut s), (vec![vote(tx(2), "a", yes(1))], vec![voted(tx(2), "k1", None)]));
    }

    #[test]
    fn an_abort_that_overtakes_its_prepare_rules_the_prepare_out() {
        let mut s = settled("a");
        let cl = Addr::from(CL);
        s.handle_message(Time(100), &cl, Msg::Abort { tx: tx(1) });
        assert_eq!(drain(&mut s), (vec![done(tx(1), "a", false)], vec![]));
        s.handle_message(Time(200), &cl, prepare(tx(1), 3, "a", "k1", "v"));
        assert_eq!(
            drain(&mut s),
            (vec![vote(tx(1), "a", no(NoReason::Aborted))], vec![voted(tx(1), "k1", Some(NoReason::Aborted))])
        );
        assert_eq!(s.pending().count(), 0);
    }

    #[test]
    fn a_silent_coordinator_starts_termination_and_a_committed_peer_decides() {
        let mut s = settled("a");
        let cl = Addr::from(CL);
        s.handle_message(Time(0), &cl, prepare(tx(1), 3, "a", "k1", "v"));
        drain(&mut s);
        assert_eq!(s.poll_timeout(), Some(Time(2_000)));
        s.handle_timeout(Time(2_000));
        assert_eq!(
            drain(&mut s),
            (ask_everyone(tx(1)), vec![Event::TerminationStarted { tx: tx(1), key: "k1".to_string() }],)
        );

        s.handle_message(
            Time(2_100),
            &addr("b"),
            Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 4 } },
        );
        assert_eq!(drain(&mut s), (vec![], vec![Event::Committed { tx: tx(1), key: "k1".to_string(), version: 4 }]));
        assert_eq!(contents(&s), vec![("k1", "v", 4)]);
        assert_eq!(s.pending().count(), 0);

        // The coordinator's late commit is acknowledged; others asking now learn the outcome.
        s.handle_message(Time(2_200), &cl, Msg::Commit { tx: tx(1), version: 4 });
        s.handle_message(Time(2_200), &addr("c"), Msg::DecisionRequest { tx: tx(1), server: Some(sid("a")) });
        let reply = to(addr("c"), Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 4 } });
        assert_eq!(drain(&mut s), (vec![done(tx(1), "a", true), reply], vec![]));
    }

    #[test]
    fn an_aborted_peer_aborts_the_transaction() {
        let mut s = settled("a");
        s.handle_message(Time(0), &Addr::from(CL), prepare(tx(1), 3, "a", "k1", "v"));
        s.handle_timeout(Time(2_000));
        drain(&mut s);
        s.handle_message(Time(2_100), &addr("c"), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted });
        assert_eq!(drain(&mut s), (vec![], vec![Event::Aborted { tx: tx(1), key: Some("k1".to_string()) }]));
        assert_eq!(s.pending().count(), 0);
    }

    #[test]
    fn every_peer_prepared_blocks_the_transaction() {
        let mut s = settled("a");
        s.handle_message(Time(0), &Addr::from(CL), prepare(tx(1), 3, "a", "k1", "v"));
        s.handle_timeout(Time(2_000));
        drain(&mut s);
        // An unknown answer (a new process at c's address) counts for nothing.
        s.handle_message(Time(2_100), &addr("b"), Msg::DecisionReply { tx: tx(1), state: TxState::Prepared });
        s.handle_message(Time(2_100), &addr("c"), Msg::DecisionReply { tx: tx(1), state: TxState::Unknown });
        s.handle_message(Time(2_100), &addr("c"), Msg::DecisionReply { tx: tx(1), state: TxState::Prepared });
        assert_eq!(drain(&mut s), (vec![], vec![]));
        assert_eq!(s.poll_timeout(), Some(Time(4_000)));
        s.handle_timeout(Time(4_000));
        assert_eq!(drain(&mut s), (ask_everyone(tx(1)), vec![Event::Blocked { tx: tx(1), key: "k1".to_string() }],));
        let phases: Vec<&PendingPhase> = s.pending().map(|p| &p.phase).collect();
        assert_eq!(phases, vec![&PendingPhase::Blocked { prepared: vec![sid("b"), sid("c")] }]);
        // Blocked, it keeps asking the coordinator, four times more slowly.
        assert_eq!(s.poll_timeout(), Some(Time(10_000)));
        s.handle_timeout(Time(10_000));
        drain(&mut s);
        assert_eq!(s.poll_timeout(), Some(Time(12_000)));
    }

    #[test]
    fn a_decision_request_for_a_transaction_never_prepared_rules_it_out() {
        let mut s = settled("a");
        s.handle_message(Time(100), &addr("b"), Msg::DecisionRequest { tx: tx(1), server: Some(sid("a")) });
        assert_eq!(
            drain(&mut s),
            (
                vec![to(addr("b"), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted })],
                vec![Event::Aborted { tx: tx(1), key: None }],
            )
        );
        s.handle_message(Time(200), &Addr::from(CL), prepare(tx(1), 3, "a", "k1", "v"));
        assert_eq!(
            drain(&mut s),
            (vec![vote(tx(1), "a", no(NoReason::Aborted))], vec![voted(tx(1), "k1", Some(NoReason::Aborted))])
        );
    }

    #[test]
    fn a_decision_request_for_another_server_id_gets_no_news() {
        let mut s = settled("a");
        s.handle_message(Time(100), &addr("b"), Msg::DecisionRequest { tx: tx(1), server: Some(sid("z")) });
        s.handle_message(Time(100), &addr("b"), Msg::DecisionRequest { tx: tx(1), server: None });
        let unknown = to(addr("b"), Msg::DecisionReply { tx: tx(1), state: TxState::Unknown });
        assert_eq!(drain(&mut s), (vec![unknown.clone(), unknown], vec![]));
        // Nothing was ruled out: the prepare still succeeds, and then the answer is "prepared".
        s.handle_message(Time(200), &Addr::from(CL), prepare(tx(1), 3, "a", "k1", "v"));
        s.handle_message(Time(300), &addr("b"), Msg::DecisionRequest { tx: tx(1), server: Some(sid("a")) });
        assert_eq!(
            drain(&mut s),
            (
                vec![
                    vote(tx(1), "a", yes(0)),
                    to(addr("b"), Msg::DecisionReply { tx: tx(1), state: TxState::Prepared }),
                ],
                vec![voted(tx(1), "k1", None)],
            )
        );
    }

    #[test]
    fn getr_answers_value_not_found_pending_and_wrong_epoch() {
        let mut s = settled("a");
        let cl = Addr::from(CL);
        s.handle_message(Time(100), &cl, prepare(tx(1), 3, "a", "k1", "v"));
        s.handle_message(Time(100), &cl, Msg::Commit { tx: tx(1), version: 2 });
        s.handle_message(Time(100), &cl, prepare(tx(2), 3, "a", "k3", "w"));
        drain(&mut s);
        s.handle_message(Time(200), &cl, getr(1, 3, "k1"));
        s.handle_message(Time(200), &cl, getr(2, 3, "k6"));
        s.handle_message(Time(200), &cl, getr(3, 3, "k3"));
        s.handle_message(Time(200), &cl, getr(4, 2, "k1"));
        assert_eq!(
            drain(&mut s),
            (
                vec![
                    read(1, "a", ReadAnswer::Value { value: "v".to_string(), version: 2 }),
                    read(2, "a", ReadAnswer::NotFound),
                    read(3, "a", ReadAnswer::Pending { tx: tx(2) }),
                    read(4, "a", ReadAnswer::WrongEpoch { epoch: Epoch(3) }),
                ],
                vec![],
            )
        );
    }

    // Placement facts the rebalancing tests rely on (SHA-256, so fixed forever): on the ring
    // the order is d, c, b, a; with {a, b, c} → {a, b, c, d}:
    //   k0: [c, b, a] → [d, c, b]  (sender c, a drops it)
    //   k1: [a, c, b] → [a, d, c]  (sender a, b drops it)
    //   k3: [b, a, c] → [b, a, d]  (sender b, c drops it)
    //   k6: [c, b, a] → [c, b, a]  (unchanged)
    fn check_placement() {
        let ids = |names: &[&str]| names.iter().map(|n| sid(n)).collect::<Vec<_>>();
        let (abc, abcd) = (ids(&["a", "b", "c"]), ids(&["a", "b", "c", "d"]));
        let placed = |key, servers: &[ServerId]| crate::ring::replicas(key, servers, 3, 1);
        assert_eq!(placed("k0", &abc), ids(&["c", "b", "a"]));
        assert_eq!(placed("k0", &abcd), ids(&["d", "c", "b"]));
        assert_eq!(placed("k1", &abc), ids(&["a", "c", "b"]));
        assert_eq!(placed("k1", &abcd), ids(&["a", "d", "c"]));
        assert_eq!(placed("k3", &abc), ids(&["b", "a", "c"]));
        assert_eq!(placed("k3", &abcd), ids(&["b", "a", "d"]));
        assert_eq!(placed("k6", &abc), ids(&["c", "b", "a"]));
        assert_eq!(placed("k6", &abcd), ids(&["c", "b", "a"]));
    }

    /// Server `id` of the settled view {a, b, c} at epoch 3, holding k0, k1, k3 and k6, then
    /// told at 300 that d joined (epoch 4). Returns the outputs of learning the new view.
    fn holder_learning_d(id: &str) -> (Server, (Vec<Transmit>, Vec<Event>)) {
        let mut s = settled(id);
        for key in ["k0", "k1", "k3", "k6"] {
            s.handle_message(Time(200), &Addr::from(CL), set(key, &format!("v-{key}")));
        }
        drain(&mut s);
        s.handle_message(Time(300), &Addr::from(VL), accepted(id, 4, Some(view(4, &["a", "b", "c", "d"])), None));
        let out = drain(&mut s);
        (s, out)
    }

    #[test]
    fn each_moving_key_is_sent_once_by_its_agreed_sender() {
        check_placement();
        let learned = Event::ViewLearned { epoch: Epoch(4), servers: 4 };
        let started = Event::RebalanceStarted { epoch: Epoch(4), copies: 1 };
        let sent = Event::TransferSent { epoch: Epoch(4), to: sid("d"), keys: 1 };
        for (id, key) in [("a", "k1"), ("b", "k3"), ("c", "k0")] {
            let (_, out) = holder_learning_d(id);
            let transfer = Msg::Transfer { epoch: Epoch(4), items: vec![item(key, &format!("v-{key}"), 1)] };
            assert_eq!(
                out,
                (vec![to(addr("d"), transfer)], vec![learned.clone(), started.clone(), sent.clone()]),
                "{id}"
            );
        }

        // The newcomer has nothing to send: its own part is done at once.
        let mut d = Server::new(config("d"), Time(0));
        d.handle_timeout(Time(0));
        drain(&mut d);
        d.handle_message(
            Time(100),
            &Addr::from(VL),
            accepted("d", 4, Some(view(4, &["a", "b", "c", "d"])), Some(view(3, &["a", "b", "c"]))),
        );
        assert_eq!(
            drain(&mut d),
            (vec![heartbeat("d", 4, 3, 4)], vec![learned, Event::RebalanceFinished { epoch: Epoch(4) }])
        );
        // Until the view is stable it does not answer for a key it did not replicate before.
        d.handle_message(Time(200), &Addr::from(CL), getr(1, 4, "k1"));
        assert_eq!(drain(&mut d), (vec![read(1, "d", ReadAnswer::Rebalancing)], vec![]));
    }

    #[test]
    fn writes_to_a_moving_key_wait_for_the_stable_view() {
        let (mut a, _) = holder_learning_d("a");
        let cl = Addr::from(CL);
        let moving = |key| Msg::Prepare {
            tx: tx(1),
            epoch: Epoch(4),
            server: sid("a"),
            key: String::from(key),
            value: "v".to_string(),
            participants: vec![member("a"), member("d"), member("c")],
        };
        a.handle_message(Time(400), &cl, moving("k1"));
        let still = Msg::Prepare {
            tx: tx(2),
            epoch: Epoch(4),
            server: sid("a"),
            key: "k6".to_string(),
            value: "v".to_string(),
            participants: vec![member("c"), member("b"), member("a")],
        };
        a.handle_message(Time(400), &cl, still);
        assert_eq!(
            drain(&mut a),
            (
                vec![vote(tx(1), "a", no(NoReason::Rebalancing)), vote(tx(2), "a", yes(1))],
                vec![voted(tx(1), "k1", Some(NoReason::Rebalancing)), voted(tx(2), "k6", None)],
            )
        );
    }

    #[test]
    fn acked_transfers_finish_rebalancing_and_the_stable_view_drops_old_copies() {
        let (mut a, _) = holder_learning_d("a");
        // Unacknowledged copies are sent again.
        assert_eq!(a.poll_timeout(), Some(Time(1_300)));
        a.handle_timeout(Time(1_300));
        let transfer = Msg::Transfer { epoch: Epoch(4), items: vec![item("k1", "v-k1", 1)] };
        assert_eq!(
            drain(&mut a),
            (vec![to(addr("d"), transfer)], vec![Event::TransferSent { epoch: Epoch(4), to: sid("d"), keys: 1 }])
        );

        a.handle_message(Time(1_400), &addr("d"), Msg::TransferAck { epoch: Epoch(4), keys: keys(&["k1"]) });
        assert_eq!(
            drain(&mut a),
            (
                vec![heartbeat("a", 4, 3, 4)],
                vec![Event::TransferAcked { from: sid("d"), keys: 1 }, Event::RebalanceFinished { epoch: Epoch(4) }],
            )
        );
        assert_eq!((a.rebalanced(), a.unacked_copies()), (Epoch(4), 0));
        // A repeated ack changes nothing.
        a.handle_message(Time(1_450), &addr("d"), Msg::TransferAck { epoch: Epoch(4), keys: keys(&["k1"]) });
        assert_eq!(drain(&mut a), (vec![], vec![]));
        // Copies stay until every new holder has its copies: the view is stable.
        assert_eq!(a.bucket().keys().collect::<Vec<_>>(), vec!["k0", "k1", "k3", "k6"]);

        a.handle_message(Time(1_500), &Addr::from(VL), accepted("a", 4, None, Some(view(4, &["a", "b", "c", "d"]))));
        assert_eq!(drain(&mut a), (vec![], vec![Event::CopiesDropped { epoch: Epoch(4), keys: 1 }]));
        assert_eq!(a.bucket().keys().collect::<Vec<_>>(), vec!["k1", "k3", "k6"]);
    }

    #[test]
    fn a_transfer_stores_only_newer_versions_and_acks_every_key() {
        let mut s = settled("a");
        let b = addr("b");
        s.handle_message(
            Time(100),
            &b,
            Msg::Transfer { epoch: Epoch(3), items: vec![item("k1", "old", 3), item("k3", "x", 2)] },
        );
        assert_eq!(
            drain(&mut s),
            (
                vec![to(b.clone(), Msg::TransferAck { epoch: Epoch(3), keys: keys(&["k1", "k3"]) })],
                vec![Event::TransferReceived { from: b.clone(), keys: 2, stored: 2 }],
            )
        );
        let items = vec![item("k1", "new", 5), item("k3", "older", 1), item("k6", "fresh", 1)];
        s.handle_message(Time(200), &b, Msg::Transfer { epoch: Epoch(3), items });
        assert_eq!(
            drain(&mut s),
            (
                vec![to(b.clone(), Msg::TransferAck { epoch: Epoch(3), keys: keys(&["k1", "k3", "k6"]) })],
                vec![Event::TransferReceived { from: b, keys: 3, stored: 2 }],
            )
        );
        assert_eq!(contents(&s), vec![("k1", "new", 5), ("k3", "x", 2), ("k6", "fresh", 1)]);
    }

    #[test]
    fn an_unexpected_message_gets_an_error_reply() {
        let mut s = settled("a");
        let cl = Addr::from(CL);
        s.handle_message(Time(100), &cl, Msg::QueryServers { op: OpId(4) });
        let reason = "a server does not handle `query_servers`".to_string();
        assert_eq!(
            drain(&mut s),
            (
                vec![to(cl.clone(), Msg::Error { op: Some(OpId(4)), reason: reason.clone() })],
                vec![Event::BadMessage { from: cl, reason }],
            )
        );
    }
}
