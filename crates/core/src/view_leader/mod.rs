//! The view leader: membership by heartbeats, epochs, rebalancing progress, and locks.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

mod replica_state;
mod replicated;
mod state;

pub use self::replica_state::{ReplicaState, ShownEntry, ENTRIES_SHOWN};
pub use self::replicated::{ReplicaSet, ViewDurable, ViewWrite};
use self::replicated::{Replicated, Turned};
pub use self::state::{Outcome, Registration, ViewCommand, ViewState};
use crate::event::Event;
use crate::id::{Addr, Epoch, Member, OpId, ServerId, View, MAX_NUMBER};
use crate::limits::Limits;
use crate::locks::{LockTable, Request};
use crate::msg::{HeartbeatStatus, LockAnswer, Msg, Transmit};
use crate::outbox::Outbox;
use crate::peer::{members_only, Peer};
use crate::replication::{NotLeader, Replica};
use crate::time::{Deadline, Time, Timers};
use crate::timing::Timing;
use crate::Node;

/// The newest epoch a restarted leader takes from a server's heartbeat: half the largest number
/// a frame may carry. A view formed above it still has 2^52 view changes before its epoch could
/// pass [`MAX_NUMBER`], more than any cluster makes; a server claiming more is believed no
/// further than that and joins as a new server.
pub const RECOVERY_CEILING: u64 = MAX_NUMBER / 2;

/// How a view leader behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewLeaderConfig {
    /// The cluster's timing: a server whose last heartbeat is older than its failure timeout
    /// is failed, forever; a failure timer that fires more than a heartbeat period late means
    /// the leader itself was paused (see [`ViewLeader::handle_timeout`](Node::handle_timeout)).
    pub timing: Timing,
    /// How long lock names may be and how many locks and waiters are kept.
    pub limits: Limits,
    /// This replica's place among the view leader's replicas; `None` for a lone view leader,
    /// which keeps its state in memory only.
    pub replication: Option<ReplicaSet>,
}

impl Default for ViewLeaderConfig {
    /// Notices a failure within a few seconds, for a live demo.
    fn default() -> Self {
        ViewLeaderConfig { timing: Timing::DEMO, limits: Limits::default(), replication: None }
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
/// Every change it decides is a [`ViewCommand`] applied to its [`ViewState`]; what stays
/// outside is its own clock-keeping (when each member last heartbeat, the failure timers, a
/// restart's gathering), which a leader keeps for itself.
///
/// Run loop, as for every role: after each `handle_*` call or command, drain
/// [`poll_transmit`](Node::poll_transmit) and [`poll_event`](Node::poll_event), then arm one
/// timer for [`poll_timeout`](Node::poll_timeout) and call `handle_timeout` when it passes.
#[derive(Debug)]
pub struct ViewLeader {
    config: ViewLeaderConfig,
    state: ViewState,
    /// When each member's last heartbeat arrived.
    heard: BTreeMap<ServerId, Time>,
    /// Failure deadlines, one per live server.
    deadlines: Timers<ServerId>,
    recovery: Option<Recovery>,
    /// The Raft half of a replica; `None` for a lone view leader.
    replicated: Option<Replicated>,
    out: Outbox,
}

impl ViewLeader {
    /// A view leader with an empty view at epoch 0 (a replica with an empty disk).
    pub fn new(config: ViewLeaderConfig, now: Time) -> Self {
        ViewLeader::restore(config, now, ViewDurable::default())
    }

    /// A replica restarting from what its disk holds (a lone view leader has no disk and
    /// starts empty). Its state is the disk's snapshot; the entries after it take effect again
    /// as the replicas find them committed.
    pub fn restore(config: ViewLeaderConfig, now: Time, durable: ViewDurable) -> Self {
        let state = durable.snapshot.as_ref().map(|s| s.state.clone()).unwrap_or_default();
        let replicated = config.replication.clone().map(|set| Replicated::new(set, &config.timing, now, durable));
        ViewLeader {
            config,
            state,
            heard: BTreeMap::new(),
            deadlines: Timers::default(),
            recovery: None,
            replicated,
            out: Outbox::default(),
        }
    }

    /// The next write to make durable. A replica's messages wait until every write before
    /// them was taken (and, by the shell, synced to disk): `poll_transmit` gives nothing while
    /// one is left. A lone view leader has none.
    pub fn poll_write(&mut self) -> Option<ViewWrite> {
        self.replicated.as_mut()?.poll_write()
    }

    /// The Raft replica, for a replicated view leader.
    pub fn replica(&self) -> Option<&Replica<ViewCommand, ViewState>> {
        self.replicated.as_ref().map(|r| &r.raft)
    }

    /// This replica's place among the replicas, for a replicated view leader.
    pub fn replica_set(&self) -> Option<&ReplicaSet> {
        self.replicated.as_ref().map(|r| &r.set)
    }

    /// Whether this view leader answers: a lone one always, a replica when it leads.
    pub fn leads(&self) -> bool {
        self.replicated.as_ref().is_none_or(Replicated::leads)
    }

    /// The replica this one knows to lead, if any (itself when it leads).
    pub fn leader_hint(&self) -> Option<&Addr> {
        self.replicated.as_ref().and_then(Replicated::leader)
    }

    /// The current view.
    pub fn view(&self) -> &View {
        &self.state.view
    }

    /// The current epoch.
    pub fn epoch(&self) -> Epoch {
        self.state.view.epoch
    }

    /// The newest fully rebalanced view.
    pub fn stable(&self) -> &View {
        &self.state.stable
    }

    /// Whether rebalancing for the current epoch is still under way.
    pub fn rebalancing(&self) -> bool {
        self.state.rebalancing()
    }

    /// Every live server's record, by id.
    pub fn servers(&self) -> impl Iterator<Item = (&ServerId, ServerRecord)> + '_ {
        self.state.servers.iter().map(|(id, r)| {
            let last_heartbeat = self.heard.get(id).copied().unwrap_or_default();
            (id, ServerRecord { addr: r.addr.clone(), last_heartbeat, rebalanced: r.rebalanced })
        })
    }

    /// Live server `id`'s record.
    pub fn server(&self, id: &ServerId) -> Option<ServerRecord> {
        self.servers().find(|(i, _)| *i == id).map(|(_, r)| r)
    }

    /// The state every change is applied to.
    pub fn state(&self) -> &ViewState {
        &self.state
    }

    /// When the view leader declares live server `id` failed unless it heartbeats first: the
    /// failure timeout after its last heartbeat.
    pub fn failure_deadline(&self, id: &ServerId) -> Option<Deadline> {
        let due = self.deadlines.at(id)?;
        Some(Deadline { due, span_ms: self.config.timing.failure_timeout_ms })
    }

    /// The ids declared failed.
    pub fn failed(&self) -> &BTreeSet<ServerId> {
        &self.state.failed
    }

    /// The lock table.
    pub fn locks(&self) -> &LockTable {
        &self.state.locks
    }

    /// Whether this leader is gathering the servers of a previous life before forming a view.
    pub fn recovering(&self) -> bool {
        self.recovery.is_some()
    }

    fn refuse(&mut self, from: &Addr, op: Option<OpId>, reason: String) {
        self.out.event(Event::BadMessage { from: from.clone(), reason: reason.clone() });
        self.out.send(from, Msg::Error { op, reason });
    }

    /// A lone view leader applies `cmd` at once; a replica that leads proposes it, and it
    /// takes effect when committed.
    fn decide(&mut self, now: Time, cmd: ViewCommand) -> Outcome {
        if let Some(replicated) = &mut self.replicated {
            replicated.propose_change(now, cmd);
            return Outcome::Done;
        }
        let outcome = self.state.apply(cmd, &self.config.limits, &mut self.out);
        self.sync_deadlines(now);
        outcome
    }

    /// Keeps the failure timers in step with the members: a new member's timer starts now, a
    /// removed one's stops. Only a leader keeps them.
    fn sync_deadlines(&mut self, now: Time) {
        if !self.leads() {
            self.deadlines = Timers::default();
            self.heard.clear();
            return;
        }
        for id in self.state.servers.keys() {
            if self.deadlines.at(id).is_none() {
                self.deadlines.set(id.clone(), now + self.config.timing.failure_timeout_ms);
                self.heard.insert(id.clone(), now);
            }
        }
        let state = &self.state;
        self.heard.retain(|id, _| state.servers.contains_key(id));
        let gone: Vec<ServerId> =
            self.deadlines.keys().filter(|id| !state.servers.contains_key(*id)).cloned().collect();
        for id in gone {
            self.deadlines.cancel(&id);
        }
    }

    /// After every input, a replica takes what Raft produced: committed changes take effect.
    /// A newly elected leader gives every member a fresh failure timeout before it may fail
    /// anyone: the last leader's timers are not known to it, and failing a server for the
    /// election's silence would move its keys for nothing.
    fn after_input(&mut self, now: Time) {
        let Some(replicated) = &mut self.replicated else { return };
        let turned = replicated.pump(&mut self.state, &self.config.limits, &mut self.out);
        if let Turned::Elected = turned {
            self.deadlines = Timers::default();
            self.heard.clear();
        }
        self.sync_deadlines(now);
    }

    /// A non-leading replica's answer to what only a leader answers.
    fn redirect(&mut self, from: &Addr, msg: Msg) {
        let leader = self.leader_hint().cloned();
        match msg {
            Msg::Heartbeat { id, sent, .. } => {
                self.out.send(from, Msg::HeartbeatReply { id, sent, status: HeartbeatStatus::NotLeader { leader } });
            }
            Msg::QueryServers { op } | Msg::LockGet { op, .. } | Msg::LockRelease { op, .. } => {
                self.out.send(from, Msg::NotLeader { op, leader });
            }
            _ => {}
        }
    }

    fn handle_raft(&mut self, now: Time, peer: Peer<'_>, msg: crate::replication::RaftMsg<ViewCommand, ViewState>) {
        let from = peer.addr();
        let Some(replicated) = &mut self.replicated else {
            return self.refuse(from, None, String::from("this view leader is not replicated"));
        };
        let place = replicated.place(from).filter(|p| *p != replicated.set.me && peer.is_member());
        let Some(place) = place else {
            return self.refuse(from, None, format!("{from} is not one of the view leader's replicas"));
        };
        match msg.check(replicated.raft.config().max_entries) {
            Ok(()) => replicated.raft.handle_message(now, place, msg),
            Err(reason) => self.refuse(from, None, reason),
        }
    }

    fn handle_heartbeat(&mut self, now: Time, from: &Addr, beat: Beat) {
        let Beat { id, addr, known, known_stable, rebalanced, sent } = beat;
        let status = if self.state.failed.contains(&id) {
            self.out.event(Event::HeartbeatDenied { id: id.clone() });
            HeartbeatStatus::Denied
        } else if let Some(record) = self.state.servers.get(&id) {
            let done = rebalanced == self.state.view.epoch && !record.rebalanced;
            self.heard.insert(id.clone(), now);
            self.deadlines.set(id.clone(), now + self.config.timing.failure_timeout_ms);
            if done {
                self.decide(now, ViewCommand::Rebalanced { id: id.clone(), epoch: rebalanced });
            }
            self.accepted(known, known_stable)
        } else if let Some(recovery) = &mut self.recovery {
            recovery.heard.retain(|_, a| *a != addr);
            recovery.heard.insert(id.clone(), addr);
            if known.0 <= RECOVERY_CEILING {
                recovery.newest = recovery.newest.max(known);
            }
            HeartbeatStatus::Retry
        } else if known > self.state.view.epoch
            && self.state.view.epoch == Epoch(0)
            && known.0 <= RECOVERY_CEILING
            && self.replicated.is_none()
        {
            // A server knows a newer epoch than a leader that never formed a view: this leader
            // restarted and forgot it. Gather every live server for one failure timeout (each
            // heartbeats within it), then form one view above every epoch they knew. A leader
            // with a view of its own is not restarting, whatever epoch a newcomer claims: it
            // joins like any new server. Nor does an epoch above the recovery ceiling.
            let heard = BTreeMap::from([(id.clone(), addr)]);
            self.recovery = Some(Recovery { until: now + self.config.timing.failure_timeout_ms, heard, newest: known });
            self.out.event(Event::Recovering { epoch: known });
            HeartbeatStatus::Retry
        } else if self.state.servers.values().any(|r| r.addr == addr) {
            self.out.event(Event::AddressBusy { id: id.clone(), addr });
            HeartbeatStatus::Retry
        } else {
            self.decide(now, ViewCommand::Join { id: id.clone(), addr });
            // A replica's join takes effect once committed: the server's next heartbeat finds it.
            match self.state.servers.contains_key(&id) {
                true => self.accepted(known, known_stable),
                false => HeartbeatStatus::Retry,
            }
        };
        self.out.send(from, Msg::HeartbeatReply { id, sent, status });
    }

    fn accepted(&self, known: Epoch, known_stable: Epoch) -> HeartbeatStatus {
        let state = &self.state;
        HeartbeatStatus::Ok {
            epoch: state.view.epoch,
            view: (known != state.view.epoch).then(|| state.view.clone()),
            stable: (known_stable != state.stable.epoch).then(|| state.stable.clone()),
        }
    }

    fn finish_recovery(&mut self, now: Time) {
        let Some(Recovery { heard, newest, .. }) = self.recovery.take() else { return };
        let heard = heard.into_iter().map(|(id, addr)| Member { id, addr }).collect();
        self.decide(now, ViewCommand::Recover { heard, newest });
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
        for id in self.state.servers.keys() {
            self.deadlines.set(id.clone(), fresh);
        }
        if let Some(recovery) = &mut self.recovery {
            recovery.until = recovery.until.max(fresh);
        }
        self.out.event(Event::LeaderPaused { late_ms, servers: self.state.servers.len() });
    }

    fn lock_command(&mut self, now: Time, from: &Addr, op: OpId, cmd: ViewCommand) {
        if let Some(replicated) = &mut self.replicated {
            // Asking again changes nothing for a holder or a waiter: answered from the state,
            // not logged (as heartbeats that change nothing are not).
            // A new request of a process that tells its requests apart is logged all the same:
            // the table must learn which request holds or queues it.
            if let ViewCommand::LockGet { name, requester, request } = &cmd {
                let locks = &self.state.locks;
                let place = locks.queue(name).position(|w| w == requester);
                let known = request.session == 0 || locks.request_of(name, requester) == Some(*request);
                let result = match (locks.holder(name) == Some(requester.as_str()) && known, place.filter(|_| known)) {
                    (true, _) => Some(LockAnswer::Granted),
                    (false, Some(place)) => Some(LockAnswer::Retry { position: place + 1 }),
                    (false, None) => None,
                };
                if let Some(result) = result {
                    return self.out.send(from, Msg::LockReply { op, result });
                }
            }
            if let Err(NotLeader { leader }) = replicated.propose_lock(now, from, op, cmd) {
                let leader = leader.and_then(|p| replicated.set.replicas.get(p)).cloned();
                self.out.send(from, Msg::NotLeader { op, leader });
            }
            return;
        }
        match self.decide(now, cmd) {
            Outcome::Lock(result) => self.out.send(from, Msg::LockReply { op, result }),
            Outcome::Refused(reason) => self.refuse(from, Some(op), reason),
            Outcome::Done => {}
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
            Msg::Raft { msg } => self.handle_raft(now, peer, *msg),
            ref beat @ Msg::Heartbeat { .. } if !peer.is_member() => self.refuse(from, None, members_only(beat)),
            // A member speaks for its own address only: a heartbeat naming another would keep a
            // dead server alive from elsewhere, or take over a live one's id.
            Msg::Heartbeat { addr, .. } if addr != *from => {
                let reason = format!("a heartbeat's addr must be the sender's own ({from}), not {addr}");
                self.refuse(from, None, reason);
            }
            msg
            @ (Msg::Heartbeat { .. } | Msg::QueryServers { .. } | Msg::LockGet { .. } | Msg::LockRelease { .. })
                if !self.leads() =>
            {
                self.redirect(from, msg)
            }
            Msg::Heartbeat { id, addr, .. } if self.state.servers.get(&id).is_some_and(|r| r.addr != addr) => {
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
                    epoch: self.state.view.epoch,
                    servers: self.state.view.members.clone(),
                    rebalancing: self.rebalancing(),
                    stable: if self.rebalancing() { self.state.stable.members.clone() } else { Vec::new() },
                };
                self.out.send(from, reply);
            }
            Msg::LockGet { op, name, requester, session } => {
                let request = Request { session, op: op.0 };
                self.lock_command(now, from, op, ViewCommand::LockGet { name, requester, request });
            }
            Msg::LockRelease { op, name, requester, session } => {
                let request = Request { session, op: op.0 };
                self.lock_command(now, from, op, ViewCommand::LockRelease { name, requester, request });
            }
            // An error reply from a peer ends there: answering it could ping-pong forever.
            Msg::Error { reason, .. } => {
                self.out.event(Event::BadMessage { from: from.clone(), reason });
            }
            other => {
                let reason = format!("the view leader does not handle `{}`", other.name());
                self.refuse(from, other.op(), reason);
            }
        }
        self.after_input(now);
    }

    fn handle_timeout(&mut self, now: Time) {
        if let Some(replicated) = self.replicated.as_mut().filter(|r| now >= r.raft.poll_timeout()) {
            replicated.raft.handle_timeout(now);
        }
        // A leader that just stepped down must not decide failures below.
        self.after_input(now);
        self.notice_pause(now);
        let mut expired = Vec::new();
        while let Some(id) = self.deadlines.pop_expired(now) {
            expired.push(id);
        }
        for id in expired {
            self.decide(now, ViewCommand::Fail { id });
        }
        if self.recovery.as_ref().is_some_and(|r| r.until <= now) {
            self.finish_recovery(now);
        }
        self.after_input(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.replicated.as_ref().is_some_and(Replicated::has_writes) {
            return None;
        }
        self.out.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.out.poll_event()
    }

    fn poll_timeout(&self) -> Option<Time> {
        let recovery = self.recovery.as_ref().map(|r| r.until);
        let raft = self.replicated.as_ref().map(|r| r.raft.poll_timeout());
        [self.deadlines.next(), recovery, raft].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests;
