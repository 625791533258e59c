//! The view leader: membership by heartbeats, epochs, rebalancing progress, and locks.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::event::Event;
use crate::id::{Addr, Epoch, Member, OpId, ServerId, View, MAX_NUMBER};

/// The newest epoch a restarted leader takes from a server's heartbeat: half the largest number
/// a frame may carry. A view formed above it still has 2^52 view changes before its epoch could
/// pass [`MAX_NUMBER`], more than any cluster makes; a server claiming more is believed no
/// further than that and joins as a new server.
pub const RECOVERY_CEILING: u64 = MAX_NUMBER / 2;
use crate::limits::Limits;
use crate::locks::{Handover, LockGetOutcome, LockReleaseError, LockTable, Refusal, Released};
use crate::msg::{HeartbeatStatus, LockAnswer, Msg, Transmit};
use crate::peer::{members_only, Peer};
use crate::time::{Deadline, Time, Timers};
use crate::timing::Timing;
use crate::Node;

/// How a view leader behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewLeaderConfig {
    /// The cluster's timing: a server whose last heartbeat is older than its failure timeout
    /// is failed, forever; a failure timer that fires more than a heartbeat period late means
    /// the leader itself was paused (see [`ViewLeader::handle_timeout`](Node::handle_timeout)).
    pub timing: Timing,
    /// How long lock names may be and how many locks and waiters are kept.
    pub limits: Limits,
}

impl Default for ViewLeaderConfig {
    /// Notices a failure within a few seconds, for a live demo.
    fn default() -> Self {
        ViewLeaderConfig { timing: Timing::DEMO, limits: Limits::default() }
    }
}

/// What the view leader knows of a live server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRecord {
    /// Where it listens.
    pub addr: Addr,
    /// When its last heartbeat arrived.
    pub last_heartbeat: Time,
    /// Whether it finished rebalancing for the current epoch.
    pub rebalanced: bool,
}

/// A heartbeat's fields.
struct Beat {
    id: ServerId,
    addr: Addr,
    known: Epoch,
    known_stable: Epoch,
    rebalanced: Epoch,
    sent: Time,
}

/// A restarted view leader's first failure timeout: it gathers the servers still alive before
/// forming a view, so their keys are not moved as if only the first to call were left.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Recovery {
    /// When the gathering ends.
    until: Time,
    /// Every server heard meanwhile, by id.
    heard: BTreeMap<ServerId, Addr>,
    /// The newest epoch any of them knew.
    newest: Epoch,
}

/// The membership and lock service.
///
/// Run loop, as for every role: after each `handle_*` call or command, drain
/// [`poll_transmit`](Node::poll_transmit) and [`poll_event`](Node::poll_event), then arm one
/// timer for [`poll_timeout`](Node::poll_timeout) and call `handle_timeout` when it passes.
#[derive(Debug)]
pub struct ViewLeader {
    config: ViewLeaderConfig,
    servers: BTreeMap<ServerId, ServerRecord>,
    failed: BTreeSet<ServerId>,
    view: View,
    /// The newest view whose rebalancing every member finished.
    stable: View,
    /// Failure deadlines, one per live server.
    deadlines: Timers<ServerId>,
    locks: LockTable,
    recovery: Option<Recovery>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl ViewLeader {
    /// A view leader with an empty view at epoch 0.
    pub fn new(config: ViewLeaderConfig, _now: Time) -> Self {
        ViewLeader {
            config,
            servers: BTreeMap::new(),
            failed: BTreeSet::new(),
            view: View::default(),
            stable: View::default(),
            deadlines: Timers::default(),
            locks: LockTable::new(),
            recovery: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The current view.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// The current epoch.
    pub fn epoch(&self) -> Epoch {
        self.view.epoch
    }

    /// The newest fully rebalanced view.
    pub fn stable(&self) -> &View {
        &self.stable
    }

    /// Whether rebalancing for the current epoch is still under way.
    pub fn rebalancing(&self) -> bool {
        self.stable.epoch != self.view.epoch
    }

    /// Every live server's record, by id.
    pub fn servers(&self) -> &BTreeMap<ServerId, ServerRecord> {
        &self.servers
    }

    /// When the view leader declares live server `id` failed unless it heartbeats first: the
    /// failure timeout after its last heartbeat.
    pub fn failure_deadline(&self, id: &ServerId) -> Option<Deadline> {
        let due = self.deadlines.at(id)?;
        Some(Deadline { due, span_ms: self.config.timing.failure_timeout_ms })
    }

    /// The ids declared failed.
    pub fn failed(&self) -> &BTreeSet<ServerId> {
        &self.failed
    }

    /// The lock table.
    pub fn locks(&self) -> &LockTable {
        &self.locks
    }

    /// Whether this leader is gathering the servers of a previous life before forming a view.
    pub fn recovering(&self) -> bool {
        self.recovery.is_some()
    }

    fn send(&mut self, to: &Addr, msg: Msg) {
        self.transmits.push_back(Transmit { to: to.clone(), msg });
    }

    fn refuse(&mut self, from: &Addr, op: Option<OpId>, reason: String) {
        self.events.push_back(Event::BadMessage { from: from.clone(), reason: reason.clone() });
        self.send(from, Msg::Error { op, reason });
    }

    fn rebuild_view(&mut self) {
        self.view.epoch = Epoch(self.view.epoch.0 + 1);
        self.view.members =
            self.servers.iter().map(|(id, r)| Member { id: id.clone(), addr: r.addr.clone() }).collect();
        for record in self.servers.values_mut() {
            record.rebalanced = false;
        }
    }

    /// Rebalancing of the current epoch is done once every member said so; an empty view is
    /// done at once.
    fn check_stable(&mut self) {
        if self.stable.epoch != self.view.epoch && self.servers.values().all(|r| r.rebalanced) {
            self.stable = self.view.clone();
            self.events.push_back(Event::RebalancingDone { epoch: self.view.epoch });
        }
    }

    fn handle_heartbeat(&mut self, now: Time, from: &Addr, beat: Beat) {
        let Beat { id, addr, known, known_stable, rebalanced, sent } = beat;
        let status = if self.failed.contains(&id) {
            self.events.push_back(Event::HeartbeatDenied { id: id.clone() });
            HeartbeatStatus::Denied
        } else if let Some(record) = self.servers.get_mut(&id) {
            record.last_heartbeat = now;
            if rebalanced == self.view.epoch && !record.rebalanced {
                record.rebalanced = true;
                self.check_stable();
            }
            self.deadlines.set(id.clone(), now + self.config.timing.failure_timeout_ms);
            self.accepted(known, known_stable)
        } else if let Some(recovery) = &mut self.recovery {
            recovery.heard.retain(|_, a| *a != addr);
            recovery.heard.insert(id.clone(), addr);
            if known.0 <= RECOVERY_CEILING {
                recovery.newest = recovery.newest.max(known);
            }
            HeartbeatStatus::Retry
        } else if known > self.view.epoch && self.view.epoch == Epoch(0) && known.0 <= RECOVERY_CEILING {
            // A server knows a newer epoch than a leader that never formed a view: this leader
            // restarted and forgot it. Gather every live server for one failure timeout (each
            // heartbeats within it), then form one view above every epoch they knew. A leader
            // with a view of its own is not restarting, whatever epoch a newcomer claims: it
            // joins like any new server. Nor does an epoch above the recovery ceiling.
            let heard = BTreeMap::from([(id.clone(), addr)]);
            self.recovery = Some(Recovery { until: now + self.config.timing.failure_timeout_ms, heard, newest: known });
            self.events.push_back(Event::Recovering { epoch: known });
            HeartbeatStatus::Retry
        } else if self.servers.values().any(|r| r.addr == addr) {
            self.events.push_back(Event::AddressBusy { id: id.clone(), addr });
            HeartbeatStatus::Retry
        } else {
            self.servers
                .insert(id.clone(), ServerRecord { addr: addr.clone(), last_heartbeat: now, rebalanced: false });
            self.deadlines.set(id.clone(), now + self.config.timing.failure_timeout_ms);
            self.rebuild_view();
            self.events.push_back(Event::ServerJoined { id: id.clone(), addr, epoch: self.view.epoch });
            self.check_stable();
            self.accepted(known, known_stable)
        };
        self.send(from, Msg::HeartbeatReply { id, sent, status });
    }

    fn accepted(&self, known: Epoch, known_stable: Epoch) -> HeartbeatStatus {
        HeartbeatStatus::Ok {
            epoch: self.view.epoch,
            view: (known != self.view.epoch).then(|| self.view.clone()),
            stable: (known_stable != self.stable.epoch).then(|| self.stable.clone()),
        }
    }

    fn finish_recovery(&mut self, now: Time) {
        let Some(Recovery { heard, newest, .. }) = self.recovery.take() else { return };
        let mut joined = Vec::new();
        for (id, addr) in heard {
            let taken = self.servers.values().any(|r| r.addr == addr);
            if !taken && !self.failed.contains(&id) && !self.servers.contains_key(&id) {
                self.servers
                    .insert(id.clone(), ServerRecord { addr: addr.clone(), last_heartbeat: now, rebalanced: false });
                self.deadlines.set(id.clone(), now + self.config.timing.failure_timeout_ms);
                joined.push((id, addr));
            }
        }
        self.view.epoch = self.view.epoch.max(newest);
        self.rebuild_view();
        let epoch = self.view.epoch;
        self.events.push_back(Event::Recovered { epoch, servers: self.view.members.len() });
        for (id, addr) in joined {
            self.events.push_back(Event::ServerJoined { id, addr, epoch });
        }
        self.check_stable();
    }

    /// A failure timer due more than a heartbeat period ago that has not fired: this leader
    /// was not running (a stopped process, a sleeping laptop, a frozen VM), and heartbeats sent
    /// meanwhile may still be waiting to be read. Failing servers now would fail them for the
    /// leader's own silence, so every member gets a fresh failure timeout instead (and a
    /// restarted leader's gathering is stretched by the same). A server that really died is
    /// failed one timeout later; a server paused past its lease still stops serving on its own.
    fn notice_pause(&mut self, now: Time) {
        let Some(due) = self.deadlines.next() else { return };
        let late_ms = now.0.saturating_sub(due.0);
        if late_ms <= self.config.timing.heartbeat_ms {
            return;
        }
        let fresh = now + self.config.timing.failure_timeout_ms;
        for id in self.servers.keys() {
            self.deadlines.set(id.clone(), fresh);
        }
        if let Some(recovery) = &mut self.recovery {
            recovery.until = recovery.until.max(fresh);
        }
        self.events.push_back(Event::LeaderPaused { late_ms, servers: self.servers.len() });
    }

    fn fail(&mut self, id: ServerId) {
        if self.servers.remove(&id).is_none() {
            return;
        }
        self.failed.insert(id.clone());
        self.rebuild_view();
        self.events.push_back(Event::ServerFailed { id: id.clone(), epoch: self.view.epoch });
        self.check_stable();
        for handover in self.locks.remove_requester(id.as_str()) {
            self.handed_over(handover);
        }
    }

    /// Why `lock_get` of `name` by `requester` would keep more than the limits allow.
    fn lock_refusal(&self, name: &str, requester: &str) -> Option<String> {
        let limits = &self.config.limits;
        if let Err(too_large) = limits.lock(name, requester) {
            return Some(too_large.describe());
        }
        match self.locks.holder(name) {
            None if self.locks.len() >= limits.locks => {
                Some(format!("the view leader keeps at most {} locks, and holds that many", limits.locks))
            }
            Some(holder) if holder != requester && !self.locks.queue(name).any(|w| w == requester) => {
                (self.locks.waiting() >= limits.waiters).then(|| {
                    format!("the view leader keeps at most {} waiters, and has that many queued", limits.waiters)
                })
            }
            _ => None,
        }
    }

    fn lock_get(&mut self, name: String, requester: String) -> LockAnswer {
        match self.locks.get(&name, &requester) {
            LockGetOutcome::Granted => {
                self.events.push_back(Event::LockGranted { name, requester });
                LockAnswer::Granted
            }
            LockGetOutcome::Queued { position } => {
                self.events.push_back(Event::LockQueued { name, requester, position });
                LockAnswer::Retry { position }
            }
            LockGetOutcome::Deadlock { cycle } => {
                self.events.push_back(Event::LockDeadlock { name, requester, cycle: cycle.clone() });
                LockAnswer::Deadlock { cycle }
            }
        }
    }

    /// Says who a lock went to, and which waiters it refused because they would deadlock
    /// (each hears it when it next asks).
    fn handed_over(&mut self, handover: Handover) {
        let Handover { name, next_holder, refused } = handover;
        if let Some(requester) = next_holder {
            self.events.push_back(Event::LockGranted { name: name.clone(), requester });
        }
        for Refusal { requester, cycle } in refused {
            self.events.push_back(Event::LockDeadlock { name: name.clone(), requester, cycle });
        }
    }

    fn lock_release(&mut self, name: String, requester: String) -> LockAnswer {
        match self.locks.release(&name, &requester) {
            Ok(Released::Released { next_holder, refused }) => {
                self.events.push_back(Event::LockReleased { name: name.clone(), requester });
                self.handed_over(Handover { name, next_holder: next_holder.clone(), refused });
                LockAnswer::Released { next_holder }
            }
            Ok(Released::LeftQueue) => {
                self.events.push_back(Event::LockReleased { name, requester });
                LockAnswer::LeftQueue
            }
            Err(LockReleaseError::UnknownLock) => LockAnswer::UnknownLock,
            Err(LockReleaseError::NotHolderOrWaiter) => LockAnswer::NotHolderOrWaiter,
        }
    }
}

impl Node for ViewLeader {
    fn handle_message(&mut self, now: Time, peer: Peer<'_>, msg: Msg) {
        // A shell may hand us a message before a timer it has not fired yet: failures that
        // are already due happen first, so a late heartbeat cannot revive a failed server.
        self.handle_timeout(now);
        let from = peer.addr();
        match msg {
            ref beat @ Msg::Heartbeat { .. } if !peer.is_member() => self.refuse(from, None, members_only(beat)),
            // A member speaks for its own address only: a heartbeat naming another would keep a
            // dead server alive from elsewhere, or take over a live one's id.
            Msg::Heartbeat { addr, .. } if addr != *from => {
                let reason = format!("a heartbeat's addr must be the sender's own ({from}), not {addr}");
                self.refuse(from, None, reason);
            }
            Msg::Heartbeat { id, addr, .. } if self.servers.get(&id).is_some_and(|r| r.addr != addr) => {
                let reason = format!("server {id} is alive at another address; its id is not yours to use");
                self.refuse(from, None, reason);
            }
            Msg::Heartbeat { id, addr, epoch, stable, rebalanced, sent } => {
                let beat = Beat { id, addr, known: epoch, known_stable: stable, rebalanced, sent };
                self.handle_heartbeat(now, from, beat)
            }
            Msg::QueryServers { op } => {
                let reply = Msg::Servers {
                    op,
                    epoch: self.view.epoch,
                    servers: self.view.members.clone(),
                    rebalancing: self.rebalancing(),
                };
                self.send(from, reply);
            }
            Msg::LockGet { op, name, requester } => match self.lock_refusal(&name, &requester) {
                None => {
                    let result = self.lock_get(name, requester);
                    self.send(from, Msg::LockReply { op, result });
                }
                Some(reason) => self.refuse(from, Some(op), reason),
            },
            Msg::LockRelease { op, name, requester } => {
                let result = self.lock_release(name, requester);
                self.send(from, Msg::LockReply { op, result });
            }
            // An error reply from a peer ends there: answering it could ping-pong forever.
            Msg::Error { reason, .. } => {
                self.events.push_back(Event::BadMessage { from: from.clone(), reason });
            }
            other => {
                let reason = format!("the view leader does not handle `{}`", other.name());
                self.refuse(from, other.op(), reason);
            }
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        self.notice_pause(now);
        let mut expired = Vec::new();
        while let Some(id) = self.deadlines.pop_expired(now) {
            expired.push(id);
        }
        for id in expired {
            self.fail(id);
        }
        if self.recovery.as_ref().is_some_and(|r| r.until <= now) {
            self.finish_recovery(now);
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Time> {
        let recovery = self.recovery.as_ref().map(|r| r.until);
        match (self.deadlines.next(), recovery) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests;
