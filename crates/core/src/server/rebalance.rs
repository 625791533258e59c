//! Rebalancing: keeping every key on exactly `replicas(key, view)` as views change.
//!
//! Rebalancing works from two views the view leader hands out with heartbeat replies: the
//! current view and the *stable* view (the newest whose rebalancing every member finished).
//! Between them every replica of a key in the stable view still holds it, since copies are
//! dropped only when a view becomes stable. So all servers agree, without talking, on one
//! sender per key (the first live stable replica) and on the receivers (new replicas minus
//! stable ones): each new copy is sent once, keys never pass through the view leader, and a
//! copy is dropped only after the view leader reports that every new holder has its copies.
//!
//! Keys stay writable meanwhile: a client writes a moving key on its stable and its new
//! replicas together, so every live stable replica keeps the newest committed value — the
//! copy its sender sends is never older than what a later view needs — and a new replica
//! that took a write before its copy arrived keeps the newer version when it does.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::event::Event;
use crate::id::{Addr, Epoch, Member, ServerId, Version, View};
use crate::msg::{Item, Msg};
use crate::outbox::Outbox;
use crate::ring::{position, Ring};
use crate::time::{Time, Timers};
use crate::twopc::participant::Participant;

use super::config::ServerConfig;
use super::storage::Storage;
use super::timer::Timer;

/// What rebalancing works on besides its own state: the rest of the server.
pub(crate) struct Cx<'a> {
    /// This server's id.
    pub(crate) me: &'a ServerId,
    /// Its config (replicas, vnodes, transfer batch and retry period).
    pub(crate) config: &'a ServerConfig,
    /// Its bucket.
    pub(crate) storage: &'a mut Storage,
    /// Its pending transactions: a key's copy waits for its transaction's outcome.
    pub(crate) tx: &'a Participant,
    /// Its timers.
    pub(crate) timers: &'a mut Timers<Timer>,
    /// Its outputs.
    pub(crate) out: &'a mut Outbox,
}

/// Copies on their way to one receiver.
#[derive(Clone, Debug, Default)]
struct Outgoing {
    addr: Addr,
    unacked: BTreeSet<String>,
}

/// This server's part of rebalancing towards `epoch`.
#[derive(Clone, Debug, Default)]
struct Job {
    epoch: Epoch,
    outgoing: BTreeMap<ServerId, Outgoing>,
    /// Keys to send once their pending transaction is decided (a copy must carry the outcome).
    deferred: BTreeSet<String>,
}

/// The server's two views and the transfers between them.
///
/// Methods that may finish this server's part return whether it did: the server must then
/// heartbeat at once, since rebalancing is reported done only when every member said so.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rebalancer {
    current: View,
    stable: View,
    current_ring: Ring,
    stable_ring: Ring,
    /// The newest epoch for which this server's own transfers are all acknowledged.
    rebalanced: Epoch,
    job: Job,
    /// Copies receivers acknowledged since the stable view, so none is sent twice.
    sent: BTreeMap<(String, ServerId), Version>,
    /// Copies this server no longer replicates may be held: look for them once transfers are
    /// done (set when a view becomes stable, or a key's transaction ends off its replicas).
    strays: bool,
}

impl Rebalancer {
    /// The view the server works in.
    pub(crate) fn current(&self) -> &View {
        &self.current
    }

    /// The newest fully rebalanced view it knows.
    pub(crate) fn stable(&self) -> &View {
        &self.stable
    }

    /// The newest epoch its own rebalancing finished for.
    pub(crate) fn rebalanced(&self) -> Epoch {
        self.rebalanced
    }

    /// `key`'s replicas in the current view, primary first.
    pub(crate) fn placement(&self, key: &str, r: usize) -> Vec<ServerId> {
        self.current_ring.replicas(key, r).into_iter().cloned().collect()
    }

    /// Copies sent and not yet acknowledged, and copies waiting for their transaction.
    pub(crate) fn unacked_copies(&self) -> usize {
        self.job.outgoing.values().map(|o| o.unacked.len()).sum::<usize>() + self.job.deferred.len()
    }

    /// The stable and current replica lists of a key at ring position `pos`.
    fn replica_sets(&self, pos: u64, r: usize) -> (Vec<&ServerId>, Vec<&ServerId>) {
        (self.stable_ring.replicas_at(pos, r), self.current_ring.replicas_at(pos, r))
    }

    /// Whether `me` is one of the current replicas of whatever sits at `pos`.
    pub(crate) fn replicates(&self, pos: u64, me: &ServerId, r: usize) -> bool {
        self.current_ring.replicas_at(pos, r).contains(&me)
    }

    /// Whether `me` was one of the stable replicas of whatever sits at `pos`.
    pub(crate) fn replicated(&self, pos: u64, me: &ServerId, r: usize) -> bool {
        self.stable_ring.replicas_at(pos, r).contains(&me)
    }

    /// Copies this server no longer replicates may be here now.
    pub(crate) fn mark_strays(&mut self) {
        self.strays = true;
    }

    /// Who must receive a copy of this key from this server: nobody unless this server is the
    /// key's agreed sender, the first stable replica still alive (or any holder, when every
    /// stable replica is gone).
    fn receivers(&self, key: &str, pos: u64, version: Version, me: &ServerId, r: usize) -> Vec<Member> {
        let (old, new) = self.replica_sets(pos, r);
        if old.len() == new.len() && new.iter().all(|s| old.contains(s)) {
            return Vec::new();
        }
        let sender = old.iter().find(|s| self.current.contains(s)).copied().unwrap_or(me);
        if sender != me {
            return Vec::new();
        }
        new.into_iter()
            .filter(|s| !old.contains(s) && *s != me)
            .filter(|s| self.sent.get(&(String::from(key), (*s).clone())) != Some(&version))
            .filter_map(|s| self.current.member(s).cloned())
            .collect()
    }

    /// Takes in the views of an accepted heartbeat's reply (each only if newer) and replans
    /// when either changed.
    pub(crate) fn learn(&mut self, now: Time, view: Option<View>, stable: Option<View>, cx: &mut Cx<'_>) -> bool {
        let vnodes = cx.config.vnodes;
        let mut changed = false;
        if let Some(view) = view.filter(|v| v.epoch > self.current.epoch) {
            self.current_ring = Ring::new(view.members.iter().map(|m| &m.id), vnodes);
            cx.out.event(Event::ViewLearned { epoch: view.epoch, servers: view.members.len() });
            self.current = view;
            changed = true;
        }
        if let Some(stable) = stable.filter(|v| v.epoch > self.stable.epoch) {
            self.stable_ring = Ring::new(stable.members.iter().map(|m| &m.id), vnodes);
            self.stable = stable;
            self.sent.clear();
            self.strays = true;
            changed = true;
        }
        changed && self.replan(now, cx)
    }

    /// Recomputes this server's transfers for the current pair of views and sends them.
    fn replan(&mut self, now: Time, cx: &mut Cx<'_>) -> bool {
        let epoch = self.current.epoch;
        let r = cx.config.replicas;
        let mut job = Job { epoch, ..Job::default() };
        if self.current.contains(cx.me) && self.stable.epoch != epoch {
            for (key, entry) in cx.storage.bucket() {
                let receivers = self.receivers(key, entry.pos, entry.version, cx.me, r);
                if receivers.is_empty() {
                    continue;
                }
                if cx.tx.pending_on(key).is_some_and(|p| !p.is_blocked()) {
                    job.deferred.insert(key.clone());
                    continue;
                }
                for m in receivers {
                    let out = job.outgoing.entry(m.id).or_default();
                    out.addr = m.addr;
                    out.unacked.insert(key.clone());
                }
            }
            // A key this server holds only as a prepared write — a commit a majority applied
            // returns before the rest are told — may be committed at the other stable
            // replicas: its copy waits for the outcome here, or nobody would send it.
            for p in cx.tx.pending().filter(|p| !p.is_blocked() && cx.storage.get(&p.key).is_none()) {
                if !self.receivers(&p.key, position(&p.key), 0, cx.me, r).is_empty() {
                    job.deferred.insert(p.key.clone());
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
            cx.out.event(Event::RebalanceStarted { epoch, copies });
        }
        self.resend_all(cx);
        cx.timers.set(Timer::Transfers, now + cx.config.transfer_retry_ms);
        self.finish_if_done(cx)
    }

    /// Sends every unacknowledged copy again, to every receiver.
    fn resend_all(&mut self, cx: &mut Cx<'_>) {
        let receivers: Vec<ServerId> = self.job.outgoing.keys().cloned().collect();
        for id in receivers {
            self.send_copies(&id, cx);
        }
    }

    /// The resend timer fired: copies still unacknowledged go out again.
    pub(crate) fn handle_timeout(&mut self, now: Time, cx: &mut Cx<'_>) {
        self.resend_all(cx);
        if !self.job.outgoing.is_empty() {
            cx.timers.set(Timer::Transfers, now + cx.config.transfer_retry_ms);
        }
    }

    /// Sends every unacknowledged copy for receiver `id`, in batches.
    fn send_copies(&mut self, id: &ServerId, cx: &mut Cx<'_>) {
        let Some(out) = self.job.outgoing.get(id) else { return };
        let keys: Vec<String> = out.unacked.iter().cloned().collect();
        self.send_keys(id, &keys, cx);
    }

    /// Sends these keys' copies to receiver `id`, in batches.
    fn send_keys(&mut self, id: &ServerId, keys: &[String], cx: &mut Cx<'_>) {
        let Some(out) = self.job.outgoing.get(id) else { return };
        let addr = out.addr.clone();
        let items: Vec<Item> = keys
            .iter()
            .filter_map(|k| {
                cx.storage.get(k).map(|e| Item { key: k.clone(), value: e.value.clone(), version: e.version })
            })
            .collect();
        let epoch = self.job.epoch;
        for batch in items.chunks(cx.config.transfer_batch.max(1)) {
            cx.out.event(Event::TransferSent { epoch, to: id.clone(), keys: batch.len() });
            cx.out.send(&addr, Msg::Transfer { epoch, items: batch.to_vec() });
        }
    }

    fn finish_if_done(&mut self, cx: &mut Cx<'_>) -> bool {
        if !self.job.outgoing.is_empty() || !self.job.deferred.is_empty() {
            return false;
        }
        cx.timers.cancel(&Timer::Transfers);
        let mut report = false;
        if self.current.contains(cx.me) && self.rebalanced < self.current.epoch {
            self.rebalanced = self.current.epoch;
            cx.out.event(Event::RebalanceFinished { epoch: self.rebalanced });
            // Tell the view leader now rather than at the next period: rebalancing is reported
            // done only when every member said so.
            report = true;
        }
        // A server outside the view keeps what it has: it is not the cluster's copy any more,
        // but nothing tells it that its data has a home elsewhere.
        if self.strays && self.stable.epoch == self.current.epoch && self.current.contains(cx.me) {
            self.strays = false;
            self.drop_strays(cx);
        }
        report
    }

    /// Drops keys this server no longer replicates. Called only when the current view is
    /// stable, i.e. every receiver acknowledged its copies.
    fn drop_strays(&mut self, cx: &mut Cx<'_>) {
        let r = cx.config.replicas;
        let ring = &self.current_ring;
        let me = cx.me;
        let tx = cx.tx;
        let epoch = self.current.epoch;
        let dropped = cx
            .storage
            .retain(|k, e| e.placed > epoch || tx.pending_on(k).is_some() || ring.replicas_at(e.pos, r).contains(&me));
        if dropped > 0 {
            cx.out.event(Event::CopiesDropped { epoch: self.current.epoch, keys: dropped });
        }
    }

    /// A batch of copies from `from`, placed for `epoch`: keeps the newer ones, acknowledges all.
    pub(crate) fn handle_transfer(&mut self, from: &Addr, epoch: Epoch, items: Vec<Item>, cx: &mut Cx<'_>) -> bool {
        let mut keys = Vec::with_capacity(items.len());
        let mut stored = 0;
        let total = items.len();
        let mut refused = None;
        for item in items {
            // A copy larger than this server keeps is neither stored nor acknowledged, so the
            // sender keeps it (and says so in its log: limits differ across the cluster).
            if let Err(too_large) = cx.config.limits.entry(&item.key, &item.value) {
                refused.get_or_insert(too_large);
                continue;
            }
            if cx.storage.store_if_newer(&item.key, item.value, item.version, epoch) {
                if !self.replicates(position(&item.key), cx.me, cx.config.replicas) {
                    self.strays = true;
                }
                stored += 1;
            }
            keys.push(item.key);
        }
        cx.out.event(Event::TransferReceived { from: from.clone(), keys: total, stored });
        cx.out.send(from, Msg::TransferAck { epoch, keys });
        if let Some(too_large) = refused {
            let reason = format!("copies refused: {}", too_large.describe());
            cx.out.event(Event::BadMessage { from: from.clone(), reason: reason.clone() });
            cx.out.send(from, Msg::Error { op: None, reason });
        }
        // A late or repeated copy for a view that is already stable is dropped at once.
        self.finish_if_done(cx)
    }

    /// A receiver acknowledged these keys' copies.
    pub(crate) fn handle_transfer_ack(&mut self, from: &Addr, keys: Vec<String>, cx: &mut Cx<'_>) -> bool {
        let Some((id, out)) = self.job.outgoing.iter_mut().find(|(_, o)| &o.addr == from) else { return false };
        let id = id.clone();
        let mut acked = 0;
        for key in keys {
            if out.unacked.remove(&key) {
                acked += 1;
                let version = cx.storage.version(&key);
                self.sent.insert((key, id.clone()), version);
            }
        }
        if acked == 0 {
            return false;
        }
        if out.unacked.is_empty() {
            self.job.outgoing.remove(&id);
        }
        cx.out.event(Event::TransferAcked { from: id, keys: acked });
        self.finish_if_done(cx)
    }

    /// The key's transaction is decided (or blocked): its copies, if it was waiting to send
    /// them, go out now. Only this key's copies: the rest of the plan is unchanged.
    pub(crate) fn release_deferred(&mut self, now: Time, key: &str, cx: &mut Cx<'_>) -> bool {
        if self.job.deferred.remove(key) {
            let r = cx.config.replicas;
            let receivers =
                cx.storage.get(key).map(|e| self.receivers(key, e.pos, e.version, cx.me, r)).unwrap_or_default();
            self.queue_copies(now, key, receivers, cx);
        }
        self.finish_if_done(cx)
    }

    /// Owes `key`'s copy to each receiver and sends it, arming the resend timer.
    fn queue_copies(&mut self, now: Time, key: &str, receivers: Vec<Member>, cx: &mut Cx<'_>) {
        for m in receivers {
            let out = self.job.outgoing.entry(m.id.clone()).or_default();
            out.addr = m.addr;
            out.unacked.insert(String::from(key));
            self.send_keys(&m.id, &[String::from(key)], cx);
            cx.timers.set(Timer::Transfers, now + cx.config.transfer_retry_ms);
        }
    }

    /// A commit decided in an older epoch reached this server after the view moved on: the
    /// key's current replicas may have been given the older value, so push the new one to them.
    pub(crate) fn forward_late_commit(&mut self, now: Time, key: &str, pos: u64, cx: &mut Cx<'_>) {
        let targets: Vec<Member> = self
            .current_ring
            .replicas_at(pos, cx.config.replicas)
            .into_iter()
            .filter(|s| *s != cx.me)
            .filter_map(|s| self.current.member(s).cloned())
            .collect();
        self.queue_copies(now, key, targets, cx);
    }
}
