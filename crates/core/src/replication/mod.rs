//! The view leader's replication: Raft (Ongaro & Ousterhout, 2014) over a fixed set of
//! replicas, as a sans-IO state machine generic over the command it orders (`C`) and the state
//! its snapshots hold (`S`).
//!
//! A [`Replica`] takes messages from its peers (by place in the replica list), the time and
//! commands to propose; everything it wants done comes out of [`Replica::take_ready`] as one
//! [`Ready`]: writes to make durable, then messages to send, then committed entries to apply
//! — in that order, so nothing it promised (a vote, an acknowledged entry) can be forgotten by
//! a crash. Why Raft rather than Viewstamped Replication is in `docs/architecture.md`.
//!
//! Beyond the paper: a leader steps down when it has not heard from a majority for an election
//! timeout (so a leader cut off from the rest stops answering), and a replica that heard from
//! its leader within an election timeout ignores vote requests (so a replica coming back from
//! a partition with a high term cannot depose a working leader).

mod log;
mod msg;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

pub use self::log::Entry;
use self::log::Log;
pub use self::msg::{Apply, Durable, HardState, RaftMsg, Ready, Snapshot, Write};
use crate::rng::Rng;
use crate::time::Time;

/// A position in the replicated log; the first entry is 1.
pub type Index = u64;

/// A Raft term: each has at most one leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Term(pub u64);

impl core::fmt::Display for Term {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a replica behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// This replica's place in the list, `0..replicas`.
    pub me: usize,
    /// How many replicas there are.
    pub replicas: usize,
    /// A follower that hears no leader for a time drawn from `[election_ms, 2 × election_ms)`
    /// stands for election.
    pub election_ms: u64,
    /// How often a leader sends its followers what they lack (or an empty append).
    pub heartbeat_ms: u64,
    /// The most entries one append carries.
    pub max_entries: usize,
    /// Applied entries past the last snapshot at which [`Replica::wants_snapshot`] says yes.
    pub compact_after: u64,
    /// Seeds the election timeouts.
    pub seed: u64,
}

impl ReplicationConfig {
    /// Replica `me` of `replicas`, with an election timeout of `election_ms` and heartbeats
    /// every `heartbeat_ms`.
    pub fn new(me: usize, replicas: usize, election_ms: u64, heartbeat_ms: u64, seed: u64) -> Self {
        ReplicationConfig { me, replicas, election_ms, heartbeat_ms, max_entries: 64, compact_after: 256, seed }
    }

    /// How many replicas make a majority.
    pub fn majority(&self) -> usize {
        majority_of(self.replicas)
    }
}

/// How many of `replicas` make a majority.
pub const fn majority_of(replicas: usize) -> usize {
    replicas / 2 + 1
}

/// What a replica is doing in its term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Takes entries from a leader.
    Follower,
    /// Asks for votes.
    Candidate,
    /// Orders commands.
    Leader,
}

impl Role {
    /// Its name, as the page and the logs show it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// Why a command could not be proposed here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotLeader {
    /// The leader this replica knows of in its term, by place.
    pub leader: Option<usize>,
}

/// What a leader knows of one follower.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    /// The next index to send it.
    next: Index,
    /// The last index known to match the leader's log.
    matched: Index,
    /// Whether it answered since the last quorum check.
    heard: bool,
    /// The latest `sent` it echoed: it heard this leader then or later.
    acked: Time,
}

/// One replica. See the module doc for the run loop.
#[derive(Debug)]
pub struct Replica<C, S> {
    config: ReplicationConfig,
    rng: Rng,
    state: HardState,
    log: Log<C>,
    /// The latest snapshot, sent to followers that need what it replaced.
    snapshot: Option<Snapshot<S>>,
    commit: Index,
    applied: Index,
    role: Role,
    leader: Option<usize>,
    votes: Vec<bool>,
    progress: Vec<Progress>,
    election_due: Time,
    /// When this replica last heard from its term's leader (itself, if it leads).
    heard_leader: Option<Time>,
    heartbeat_due: Time,
    quorum_due: Time,
    /// The index of the entry that opened this leader's term.
    term_start: Index,
    /// The latest time handed in.
    now: Time,
    ready: Ready<C, S>,
}

impl<C: Clone, S: Clone> Replica<C, S> {
    /// A replica with an empty disk.
    pub fn new(config: ReplicationConfig, now: Time) -> Self {
        Replica::restore(config, now, Durable::default())
    }

    /// A replica that restarts from what its disk holds. Its owner restores its own state from
    /// `durable.snapshot`; the entries after it are applied again as they are found committed.
    pub fn restore(config: ReplicationConfig, now: Time, durable: Durable<C, S>) -> Self {
        let (base, base_term) = durable.snapshot.as_ref().map_or((0, Term(0)), |s| (s.index, s.term));
        let mut replica = Replica {
            rng: Rng::new(config.seed),
            state: durable.state,
            log: Log::new(base, base_term, durable.entries),
            snapshot: durable.snapshot,
            commit: base,
            applied: base,
            role: Role::Follower,
            leader: None,
            votes: alloc::vec![false; config.replicas],
            progress: alloc::vec![Progress::default(); config.replicas],
            election_due: now,
            heard_leader: None,
            heartbeat_due: now,
            quorum_due: now,
            term_start: 0,
            now,
            ready: Ready::default(),
            config,
        };
        replica.reset_election(now);
        replica
    }

    /// Its config.
    pub fn config(&self) -> &ReplicationConfig {
        &self.config
    }

    /// What it is doing.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Its term.
    pub fn term(&self) -> Term {
        self.state.term
    }

    /// Whom it voted for in its term.
    pub fn vote(&self) -> Option<usize> {
        self.state.vote
    }

    /// The leader of its term, if it knows one.
    pub fn leader(&self) -> Option<usize> {
        self.leader
    }

    /// How far it knows the log is committed.
    pub fn commit(&self) -> Index {
        self.commit
    }

    /// The last index it handed its owner to apply.
    pub fn applied(&self) -> Index {
        self.applied
    }

    /// Its log's last index.
    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }

    /// The last index its snapshot covers (0 without one).
    pub fn snapshot_index(&self) -> Index {
        self.log.base()
    }

    /// Its snapshot, if it took or received one.
    pub fn snapshot(&self) -> Option<&Snapshot<S>> {
        self.snapshot.as_ref()
    }

    /// The entries it keeps, with their indices.
    pub fn entries(&self) -> impl Iterator<Item = (Index, &Entry<C>)> + '_ {
        (self.log.base() + 1..=self.log.last_index()).filter_map(|i| self.log.get(i).map(|e| (i, e)))
    }

    /// The entry at `index`, if it keeps it.
    pub fn entry(&self, index: Index) -> Option<&Entry<C>> {
        self.log.get(index)
    }

    /// Whether its owner may answer from its state: it leads, it has committed an entry of its
    /// own term (so it applied everything committed before it), and it holds a lease — a
    /// majority heard from it within the last election timeout, so none of them will help
    /// elect another leader before the lease ends (a follower that heard its leader ignores
    /// vote requests for an election timeout). A leader cut off or paused stops answering by
    /// itself, before another can be elected.
    pub fn serving(&self) -> bool {
        self.serving_at(self.now)
    }

    /// [`Replica::serving`] at `now` (an observer's clock, which may be ahead of the last time
    /// this replica was handed).
    pub fn serving_at(&self, now: Time) -> bool {
        self.role == Role::Leader && self.commit >= self.term_start && now < self.lease_until()
    }

    /// Until when a majority's last answers keep this leader's lease.
    pub fn lease_until(&self) -> Time {
        let me = self.config.me;
        let acked = |p: usize| if p == me { self.now } else { self.progress[p].acked };
        let places = 0..self.progress.len();
        // The newest time that a majority answered at or after (a handful of replicas: no sort,
        // and no allocation on every command that asks).
        let heard_by_majority = |t: &Time| places.clone().filter(|p| acked(*p) >= *t).count() >= self.config.majority();
        let since = places.clone().map(acked).filter(heard_by_majority).max().unwrap_or(Time::ZERO);
        since + self.config.election_ms
    }

    /// Whether enough has been applied since the last snapshot that its owner should take one
    /// (with [`Replica::compact`]).
    pub fn wants_snapshot(&self) -> bool {
        self.applied.saturating_sub(self.log.base()) >= self.config.compact_after
    }

    /// Everything produced since the last call; see [`Ready`] for the order to act on it.
    pub fn take_ready(&mut self) -> Ready<C, S> {
        core::mem::take(&mut self.ready)
    }

    /// When [`Replica::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Time {
        match self.role {
            Role::Leader => self.heartbeat_due.min(self.quorum_due),
            Role::Follower | Role::Candidate => self.election_due,
        }
    }

    /// Appends `cmd` to the log if this replica leads; returns the index and term it will be
    /// committed at, unless another leader replaces it (its owner learns which when it applies
    /// that index).
    pub fn propose(&mut self, now: Time, cmd: C) -> Result<(Index, Term), NotLeader> {
        self.now = self.now.max(now);
        if self.role != Role::Leader {
            return Err(NotLeader { leader: self.leader });
        }
        let index = self.append(Entry { term: self.state.term, cmd: Some(cmd) });
        self.broadcast(now);
        self.advance_commit();
        Ok((index, self.state.term))
    }

    /// Replaces the log up to `index` (at most what was applied) by `state`, the owner's state
    /// after applying it.
    pub fn compact(&mut self, index: Index, state: S) {
        let Some(term) = self.log.term(index).filter(|_| index > self.log.base() && index <= self.applied) else {
            return;
        };
        self.log.compact(index, term);
        let snapshot = Snapshot { index, term, state };
        self.ready.writes.push(Write::Snapshot { snapshot: snapshot.clone(), keep_after: true });
        self.snapshot = Some(snapshot);
    }

    /// Time passed: an election, a heartbeat or a quorum check may be due.
    pub fn handle_timeout(&mut self, now: Time) {
        self.now = self.now.max(now);
        match self.role {
            Role::Leader => {
                if now >= self.quorum_due {
                    self.check_quorum(now);
                }
                if self.role == Role::Leader && now >= self.heartbeat_due {
                    self.broadcast(now);
                }
            }
            Role::Follower | Role::Candidate if now >= self.election_due => self.campaign(now),
            Role::Follower | Role::Candidate => {}
        }
    }

    /// A message from the replica at place `from`. The owner checks it first
    /// ([`RaftMsg::check`]) and only hands over messages from other replicas of the list.
    pub fn handle_message(&mut self, now: Time, from: usize, msg: RaftMsg<C, S>) {
        if from >= self.config.replicas || from == self.config.me {
            return;
        }
        self.now = self.now.max(now);
        let term = msg.term();
        if let RaftMsg::RequestVote { .. } = msg {
            // A replica that hears its leader does not help depose it.
            let in_lease = self.heard_leader.is_some_and(|t| now < t + self.config.election_ms);
            if term > self.state.term && in_lease {
                return;
            }
        }
        if term > self.state.term {
            let leader = matches!(msg, RaftMsg::Append { .. } | RaftMsg::InstallSnapshot { .. }).then_some(from);
            self.become_follower(now, term, leader);
        }
        if term < self.state.term {
            // A stale sender learns the term; answers from an older term are dropped.
            match msg {
                RaftMsg::RequestVote { .. } => self.send(from, RaftMsg::Vote { term: self.state.term, granted: false }),
                RaftMsg::Append { sent, .. } | RaftMsg::InstallSnapshot { sent, .. } => {
                    let last = self.log.last_index();
                    self.send(from, RaftMsg::Refused { term: self.state.term, rejected: 0, last, sent });
                }
                RaftMsg::Vote { .. } | RaftMsg::Appended { .. } | RaftMsg::Refused { .. } => {}
            }
            return;
        }
        match msg {
            RaftMsg::RequestVote { last_index, last_term, .. } => {
                self.handle_request_vote(now, from, last_index, last_term)
            }
            RaftMsg::Vote { granted, .. } => self.handle_vote(now, from, granted),
            RaftMsg::Append { prev_index, prev_term, entries, commit, sent, .. } => {
                self.heard_from_leader(now, from);
                self.handle_append(from, (prev_index, prev_term), entries, commit, sent);
            }
            RaftMsg::InstallSnapshot { snapshot, sent, .. } => {
                self.heard_from_leader(now, from);
                self.handle_snapshot(from, snapshot, sent);
            }
            RaftMsg::Appended { index, sent, .. } => {
                self.acked(from, sent);
                self.handle_appended(from, index);
            }
            RaftMsg::Refused { rejected, last, sent, .. } => {
                self.acked(from, sent);
                self.handle_refused(from, rejected, last);
            }
        }
    }

    /// A follower echoed `sent`: it heard this leader then or later. A time to come is not an
    /// echo of anything this leader sent.
    fn acked(&mut self, from: usize, sent: Time) {
        if self.role == Role::Leader && sent <= self.now {
            let progress = &mut self.progress[from];
            progress.acked = progress.acked.max(sent);
        }
    }

    fn send(&mut self, to: usize, msg: RaftMsg<C, S>) {
        self.ready.messages.push((to, msg));
    }

    fn others(&self) -> impl Iterator<Item = usize> {
        let me = self.config.me;
        (0..self.config.replicas).filter(move |p| *p != me)
    }

    fn save_state(&mut self) {
        self.ready.writes.push(Write::State(self.state));
    }

    fn reset_election(&mut self, now: Time) {
        let base = self.config.election_ms.max(1);
        self.election_due = now + self.rng.range(base, 2 * base - 1);
    }

    fn append(&mut self, entry: Entry<C>) -> Index {
        self.log.push(entry.clone());
        let index = self.log.last_index();
        self.ready.writes.push(Write::Entry(index, entry));
        self.progress[self.config.me].matched = index;
        index
    }

    fn become_follower(&mut self, now: Time, term: Term, leader: Option<usize>) {
        if term > self.state.term {
            self.state = HardState { term, vote: None };
            self.save_state();
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.heard_leader = None;
        self.reset_election(now);
    }

    fn heard_from_leader(&mut self, now: Time, from: usize) {
        if self.role != Role::Follower {
            // A candidate (or, impossibly, a second leader) of this term defers to its leader.
            self.role = Role::Follower;
        }
        self.leader = Some(from);
        self.heard_leader = Some(now);
        self.reset_election(now);
    }

    fn campaign(&mut self, now: Time) {
        self.state = HardState { term: Term(self.state.term.0 + 1), vote: Some(self.config.me) };
        self.save_state();
        self.role = Role::Candidate;
        self.leader = None;
        self.heard_leader = None;
        self.votes.iter_mut().for_each(|v| *v = false);
        self.votes[self.config.me] = true;
        self.reset_election(now);
        if self.config.majority() == 1 {
            return self.become_leader(now);
        }
        let (term, last_index, last_term) = (self.state.term, self.log.last_index(), self.log.last_term());
        for peer in self.others().collect::<Vec<_>>() {
            self.send(peer, RaftMsg::RequestVote { term, last_index, last_term });
        }
    }

    fn handle_request_vote(&mut self, now: Time, from: usize, last_index: Index, last_term: Term) {
        let free = self.state.vote.is_none_or(|v| v == from);
        let granted = free && self.role == Role::Follower && self.log.behind_or_equal(last_index, last_term);
        if granted {
            if self.state.vote.is_none() {
                self.state.vote = Some(from);
                self.save_state();
            }
            self.reset_election(now);
        }
        self.send(from, RaftMsg::Vote { term: self.state.term, granted });
    }

    fn handle_vote(&mut self, now: Time, from: usize, granted: bool) {
        if self.role != Role::Candidate || !granted {
            return;
        }
        self.votes[from] = true;
        if self.votes.iter().filter(|v| **v).count() >= self.config.majority() {
            self.become_leader(now);
        }
    }

    fn become_leader(&mut self, now: Time) {
        self.role = Role::Leader;
        self.leader = Some(self.config.me);
        self.heard_leader = Some(now);
        let next = self.log.last_index() + 1;
        for p in &mut self.progress {
            *p = Progress { next, matched: 0, heard: false, acked: Time::ZERO };
        }
        // Entries of earlier terms commit only with one of this term above them (§5.4.2).
        self.term_start = self.append(Entry { term: self.state.term, cmd: None });
        self.quorum_due = now + self.config.election_ms;
        self.broadcast(now);
        self.advance_commit();
    }

    /// Sends every follower what it lacks, or an empty append as a heartbeat.
    fn broadcast(&mut self, now: Time) {
        for peer in self.others().collect::<Vec<_>>() {
            self.replicate(peer);
        }
        self.heartbeat_due = now + self.config.heartbeat_ms;
    }

    fn replicate(&mut self, peer: usize) {
        let term = self.state.term;
        let progress = self.progress[peer];
        if progress.next <= self.log.base() {
            if let Some(snapshot) = self.snapshot.clone() {
                return self.send(peer, RaftMsg::InstallSnapshot { term, snapshot, sent: self.now });
            }
        }
        let next = progress.next.max(self.log.base() + 1);
        let prev_index = next - 1;
        let prev_term = self.log.term(prev_index).unwrap_or_default();
        let entries = self.log.slice(next, self.config.max_entries);
        // A follower known to match gets the next entries before it answers (pipelining); one
        // still being probed gets them again until it says where its log matches.
        if progress.matched + 1 == next {
            self.progress[peer].next = next + entries.len() as u64;
        }
        let sent = self.now;
        self.send(peer, RaftMsg::Append { term, prev_index, prev_term, entries, commit: self.commit, sent });
    }

    fn handle_append(&mut self, from: usize, prev: (Index, Term), entries: Vec<Entry<C>>, commit: Index, sent: Time) {
        let (prev_index, prev_term) = prev;
        let term = self.state.term;
        let base = self.log.base();
        // What the snapshot covers is committed, so it matches the leader's log.
        let (prev_index, prev_term, entries) = if prev_index < base {
            let skip = (base - prev_index) as usize;
            if skip >= entries.len() {
                let index = prev_index + entries.len() as u64;
                return self.send(from, RaftMsg::Appended { term, index, sent });
            }
            (base, self.log.term(base).unwrap_or_default(), entries[skip..].to_vec())
        } else {
            (prev_index, prev_term, entries)
        };
        if self.log.term(prev_index) != Some(prev_term) {
            let last = self.log.last_index();
            return self.send(from, RaftMsg::Refused { term, rejected: prev_index, last, sent });
        }
        let mut index = prev_index;
        for entry in entries {
            index += 1;
            match self.log.term(index) {
                Some(t) if t == entry.term => continue,
                Some(_) => {
                    debug_assert!(index > self.commit, "a leader replaced a committed entry");
                    self.log.truncate_from(index);
                }
                None => {}
            }
            self.log.push(entry.clone());
            self.ready.writes.push(Write::Entry(index, entry));
        }
        self.commit = self.commit.max(commit.min(index));
        self.apply_committed();
        self.send(from, RaftMsg::Appended { term, index, sent });
    }

    fn handle_snapshot(&mut self, from: usize, snapshot: Snapshot<S>, sent: Time) {
        let term = self.state.term;
        if snapshot.index <= self.commit {
            return self.send(from, RaftMsg::Appended { term, index: self.commit, sent });
        }
        let keep_after = self.log.term(snapshot.index) == Some(snapshot.term);
        self.log.compact(snapshot.index, snapshot.term);
        self.commit = snapshot.index;
        self.applied = snapshot.index;
        self.ready.writes.push(Write::Snapshot { snapshot: snapshot.clone(), keep_after });
        self.ready.apply.push(Apply::Snapshot(snapshot.clone()));
        let index = snapshot.index;
        self.snapshot = Some(snapshot);
        self.send(from, RaftMsg::Appended { term, index, sent });
    }

    fn handle_appended(&mut self, from: usize, index: Index) {
        if self.role != Role::Leader || index > self.log.last_index() {
            return;
        }
        let progress = &mut self.progress[from];
        progress.heard = true;
        if index > progress.matched {
            progress.matched = index;
        }
        progress.next = progress.next.max(progress.matched + 1);
        self.advance_commit();
        // More to send, or a follower that was probing and now matches: keep it coming.
        if self.progress[from].next <= self.log.last_index() {
            self.replicate(from);
        }
    }

    fn handle_refused(&mut self, from: usize, rejected: Index, last: Index) {
        if self.role != Role::Leader {
            return;
        }
        let progress = &mut self.progress[from];
        progress.heard = true;
        if rejected <= progress.matched {
            return; // an answer to an append sent before the follower matched
        }
        progress.next = (progress.matched + 1).max(rejected.min(last + 1));
        self.replicate(from);
    }

    /// The newest index a majority holds becomes committed, if this term wrote it (§5.4.2).
    fn advance_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let mut matched: Vec<Index> = self.progress.iter().map(|p| p.matched).collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = matched[self.config.majority() - 1];
        if candidate > self.commit && self.log.term(candidate) == Some(self.state.term) {
            self.commit = candidate;
            self.apply_committed();
        }
    }

    fn apply_committed(&mut self) {
        while self.applied < self.commit {
            let index = self.applied + 1;
            let Some(entry) = self.log.get(index) else { break };
            self.ready.apply.push(Apply::Entry { index, term: entry.term, cmd: entry.cmd.clone() });
            self.applied = index;
        }
    }

    /// A leader that a majority stopped answering steps down: it may be cut off, and another
    /// may lead the rest.
    fn check_quorum(&mut self, now: Time) {
        let me = self.config.me;
        let heard = self.progress.iter().enumerate().filter(|(p, pr)| *p == me || pr.heard).count();
        for p in &mut self.progress {
            p.heard = false;
        }
        self.quorum_due = now + self.config.election_ms;
        if heard < self.config.majority() {
            self.role = Role::Follower;
            self.leader = None;
            self.heard_leader = None;
            self.reset_election(now);
        } else {
            self.heard_leader = Some(now);
        }
    }
}
