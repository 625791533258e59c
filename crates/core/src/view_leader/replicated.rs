//! A view leader replica: the [`ViewState`] ordered by Raft ([`crate::replication`]) among the
//! replicas of the `--viewleader` list. Only the leader answers; it proposes every change as a
//! log entry and lets it take effect (and answers a lock command) once a majority committed it.
//! The other replicas apply the same entries and answer with where the leader is.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use super::state::{Outcome, ViewCommand, ViewState};
use crate::event::Event;
use crate::id::{Addr, OpId};
use crate::limits::Limits;
use crate::msg::Msg;
use crate::outbox::Outbox;
use crate::replication::{Apply, Durable, Index, NotLeader, Replica, ReplicationConfig, Term, Write};
use crate::time::Time;
use crate::timing::Timing;

/// This replica among the view leader's replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSet {
    /// Every replica's address, in the order of the `--viewleader` list.
    pub replicas: Vec<Addr>,
    /// This replica's place in it.
    pub me: usize,
    /// Seeds its election timeouts.
    pub seed: u64,
}

impl ReplicaSet {
    /// The consensus settings for a cluster with `timing`: an election timeout of one heartbeat
    /// period, so a new leader is elected (and found by the servers) well within their lease.
    pub fn replication(&self, timing: &Timing) -> ReplicationConfig {
        let election_ms = timing.heartbeat_ms.max(10);
        ReplicationConfig::new(self.me, self.replicas.len(), election_ms, (election_ms / 5).max(1), self.seed)
    }
}

/// The disk's contents for a view leader replica.
pub type ViewDurable = Durable<ViewCommand, ViewState>;
/// One write to a view leader replica's disk.
pub type ViewWrite = Write<ViewCommand, ViewState>;

/// A lock command waiting for its entry to commit.
#[derive(Clone, Debug)]
struct Waiting {
    term: Term,
    from: Addr,
    op: OpId,
}

/// What a replica adds to the view leader: its Raft half and what it waits on.
#[derive(Debug)]
pub(crate) struct Replicated {
    pub(crate) set: ReplicaSet,
    pub(crate) raft: Replica<ViewCommand, ViewState>,
    /// Lock commands proposed here, by log index.
    waiting: BTreeMap<Index, Waiting>,
    /// Membership changes proposed and not yet applied, so a heartbeat does not propose twice.
    in_flight: Vec<ViewCommand>,
    /// Writes to make durable before the next message goes out.
    writes: VecDeque<ViewWrite>,
    was_leader: bool,
    /// The term it last led.
    led: u64,
}

/// What a pump saw change in the replica's role.
pub(crate) enum Turned {
    /// Nothing.
    Same,
    /// It became the leader, serving.
    Elected,
    /// It stopped leading.
    Deposed,
}

impl Replicated {
    pub(crate) fn new(set: ReplicaSet, timing: &Timing, now: Time, durable: ViewDurable) -> Self {
        let raft = Replica::restore(set.replication(timing), now, durable);
        Replicated {
            set,
            raft,
            waiting: BTreeMap::new(),
            in_flight: Vec::new(),
            writes: VecDeque::new(),
            was_leader: false,
            led: 0,
        }
    }

    /// Whether it leads and has applied everything committed before its term.
    pub(crate) fn leads(&self) -> bool {
        self.raft.serving()
    }

    /// The address of the leader this replica knows of (none while it is itself a leader not
    /// yet serving: asking it again at once would find it no further).
    pub(crate) fn leader(&self) -> Option<&Addr> {
        let me = self.set.me;
        self.raft.leader().filter(|p| *p != me).and_then(|p| self.set.replicas.get(p))
    }

    /// The place of a peer in the replica list.
    pub(crate) fn place(&self, addr: &Addr) -> Option<usize> {
        self.set.replicas.iter().position(|a| a == addr)
    }

    pub(crate) fn poll_write(&mut self) -> Option<ViewWrite> {
        self.writes.pop_front()
    }

    pub(crate) fn has_writes(&self) -> bool {
        !self.writes.is_empty()
    }

    /// Proposes a membership change, once.
    pub(crate) fn propose_change(&mut self, now: Time, cmd: ViewCommand) {
        if self.in_flight.contains(&cmd) {
            return;
        }
        if self.raft.propose(now, cmd.clone()).is_ok() {
            self.in_flight.push(cmd);
        }
    }

    /// Proposes a lock command for `from`, answered when it commits.
    pub(crate) fn propose_lock(&mut self, now: Time, from: &Addr, op: OpId, cmd: ViewCommand) -> Result<(), NotLeader> {
        let (index, term) = self.raft.propose(now, cmd)?;
        self.waiting.insert(index, Waiting { term, from: from.clone(), op });
        Ok(())
    }

    /// Takes what Raft produced: writes are queued for the disk, messages for the peers, and
    /// committed entries are applied to `state`, answering the lock commands waiting on them.
    pub(crate) fn pump(&mut self, state: &mut ViewState, limits: &Limits, out: &mut Outbox) -> Turned {
        loop {
            let ready = self.raft.take_ready();
            if ready.is_empty() {
                break;
            }
            self.writes.extend(ready.writes);
            for (to, msg) in ready.messages {
                out.send(&self.set.replicas[to], Msg::Raft { msg: alloc::boxed::Box::new(msg) });
            }
            for apply in ready.apply {
                match apply {
                    Apply::Entry { index, term, cmd } => self.apply(index, term, cmd, state, limits, out),
                    Apply::Snapshot(snapshot) => *state = snapshot.state,
                }
            }
            if self.raft.wants_snapshot() {
                self.raft.compact(self.raft.applied(), state.clone());
            }
        }
        let leads = self.leads();
        let term = self.raft.term().0;
        let turned = match (self.was_leader, leads) {
            (false, true) => {
                out.event(Event::LeaderElected { term });
                Turned::Elected
            }
            (true, false) => {
                out.event(Event::LeaderLost { term: self.led });
                // What this replica proposed may still commit under the next leader, or not:
                // the asker tries again there.
                let leader = self.leader().cloned();
                for (_, Waiting { from, op, .. }) in core::mem::take(&mut self.waiting) {
                    out.send(&from, Msg::NotLeader { op, leader: leader.clone() });
                }
                self.in_flight.clear();
                Turned::Deposed
            }
            _ => Turned::Same,
        };
        if leads {
            self.led = term;
        }
        self.was_leader = leads;
        turned
    }

    fn apply(
        &mut self,
        index: Index,
        term: Term,
        cmd: Option<ViewCommand>,
        state: &mut ViewState,
        limits: &Limits,
        out: &mut Outbox,
    ) {
        let Some(cmd) = cmd else { return };
        self.in_flight.retain(|c| *c != cmd);
        let outcome = state.apply(cmd, limits, out);
        let Some(waiting) = self.waiting.remove(&index) else { return };
        if waiting.term != term {
            // Another leader's entry took this index: the command was lost with its term.
            let leader = self.leader().cloned();
            return out.send(&waiting.from, Msg::NotLeader { op: waiting.op, leader });
        }
        match outcome {
            Outcome::Lock(result) => out.send(&waiting.from, Msg::LockReply { op: waiting.op, result }),
            Outcome::Refused(reason) => out.send(&waiting.from, Msg::Error { op: Some(waiting.op), reason }),
            Outcome::Done => {}
        }
    }
}
