use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::*;

type Cmd = u64;
/// The test's replicated state: every command applied, in order.
type Machine = Vec<Cmd>;

fn config(me: usize, replicas: usize, seed: u64) -> ReplicationConfig {
    let mut config = ReplicationConfig::new(me, replicas, 100, 30, seed * 31 + me as u64);
    config.compact_after = 8;
    config.max_entries = 4;
    config
}

#[test]
fn a_lone_replica_leads_and_commits_at_once() {
    let mut r: Replica<Cmd, Machine> = Replica::new(config(0, 1, 1), Time(0));
    assert_eq!(r.propose(Time(0), 5), Err(NotLeader { leader: None }));
    let due = r.poll_timeout();
    assert!((100..200).contains(&due.0));
    r.handle_timeout(due);
    assert_eq!(r.role(), Role::Leader);
    assert_eq!(r.term(), Term(1));
    assert_eq!(r.propose(due, 5), Ok((2, Term(1))));
    let ready = r.take_ready();
    assert_eq!(
        ready.writes,
        [
            Write::State(HardState { term: Term(1), vote: Some(0) }),
            Write::Entry(1, Entry { term: Term(1), cmd: None }),
            Write::Entry(2, Entry { term: Term(1), cmd: Some(5) }),
        ]
    );
    assert!(ready.messages.is_empty());
    assert_eq!(
        ready.apply,
        [Apply::Entry { index: 1, term: Term(1), cmd: None }, Apply::Entry { index: 2, term: Term(1), cmd: Some(5) },]
    );
}

#[test]
fn a_candidate_asks_everyone_and_a_majority_makes_it_leader() {
    let mut a: Replica<Cmd, Machine> = Replica::new(config(0, 3, 1), Time(0));
    let mut b: Replica<Cmd, Machine> = Replica::new(config(1, 3, 1), Time(0));
    let due = a.poll_timeout();
    a.handle_timeout(due);
    let ready = a.take_ready();
    assert_eq!(ready.writes, [Write::State(HardState { term: Term(1), vote: Some(0) })]);
    let ask = RaftMsg::RequestVote { term: Term(1), last_index: 0, last_term: Term(0) };
    assert_eq!(ready.messages, [(1, ask.clone()), (2, ask.clone())]);
    b.handle_message(due, 0, ask);
    let ready = b.take_ready();
    // The vote is written before it is sent: the owner acts on `writes` first.
    assert_eq!(
        ready.writes,
        [
            Write::State(HardState { term: Term(1), vote: None }),
            Write::State(HardState { term: Term(1), vote: Some(0) })
        ]
    );
    assert_eq!(ready.messages, [(0, RaftMsg::Vote { term: Term(1), granted: true })]);
    a.handle_message(due, 1, RaftMsg::Vote { term: Term(1), granted: true });
    assert_eq!(a.role(), Role::Leader);
    let ready = a.take_ready();
    let noop = Entry { term: Term(1), cmd: None };
    assert_eq!(ready.writes, [Write::Entry(1, noop.clone())]);
    let append = RaftMsg::Append {
        term: Term(1),
        prev_index: 0,
        prev_term: Term(0),
        entries: alloc::vec![noop],
        commit: 0,
        sent: due,
    };
    assert_eq!(ready.messages, [(1, append.clone()), (2, append.clone())]);
    // A second vote in the same term goes to nobody else.
    let rival = RaftMsg::RequestVote { term: Term(1), last_index: 5, last_term: Term(1) };
    b.handle_message(due, 2, rival);
    assert_eq!(b.take_ready().messages, [(2, RaftMsg::Vote { term: Term(1), granted: false })]);
}

#[test]
fn a_follower_heard_from_its_leader_ignores_a_higher_term() {
    let mut b: Replica<Cmd, Machine> = Replica::new(config(1, 3, 1), Time(0));
    let append = RaftMsg::Append {
        term: Term(2),
        prev_index: 0,
        prev_term: Term(0),
        entries: Vec::new(),
        commit: 0,
        sent: Time(9),
    };
    b.handle_message(Time(10), 0, append);
    b.take_ready();
    b.handle_message(Time(20), 2, RaftMsg::RequestVote { term: Term(9), last_index: 9, last_term: Term(9) });
    assert!(b.take_ready().is_empty());
    assert_eq!(b.term(), Term(2));
    // Once the leader has been silent for an election timeout, the higher term is taken.
    b.handle_message(Time(200), 2, RaftMsg::RequestVote { term: Term(9), last_index: 9, last_term: Term(9) });
    assert_eq!(b.term(), Term(9));
    assert_eq!(b.vote(), Some(2));
}

#[test]
fn a_checked_message_has_its_numbers_in_range() {
    let big = RaftMsg::<Cmd, Machine>::Appended { term: Term(1), index: u64::MAX, sent: Time(0) };
    assert!(big.check(4).unwrap_err().contains("index"));
    let many = RaftMsg::<Cmd, Machine>::Append {
        term: Term(1),
        prev_index: 0,
        prev_term: Term(0),
        entries: alloc::vec![Entry { term: Term(1), cmd: None }; 5],
        commit: 0,
        sent: Time(0),
    };
    assert!(many.check(4).unwrap_err().contains("at most 4"));
    let future = RaftMsg::<Cmd, Machine>::Append {
        term: Term(1),
        prev_index: 0,
        prev_term: Term(0),
        entries: alloc::vec![Entry { term: Term(2), cmd: None }],
        commit: 0,
        sent: Time(0),
    };
    assert!(future.check(4).is_err());
}

type InFlight = (usize, usize, RaftMsg<Cmd, Machine>);

/// A seeded world of replicas: messages delayed, dropped, duplicated and reordered; replicas
/// crash (losing what they had not yet written) and restart from their disks; partitions come
/// and go. Every step checks Raft's safety properties.
struct World {
    now: Time,
    rng: Rng,
    replicas: Vec<Option<Replica<Cmd, Machine>>>,
    disks: Vec<Durable<Cmd, Machine>>,
    machines: Vec<(Index, Machine)>,
    restart_at: Vec<Option<Time>>,
    /// Messages in flight by (delivery time, sequence): (from, to, message).
    queue: BTreeMap<(Time, u64), InFlight>,
    seq: u64,
    side: Vec<bool>,
    healed_at: Option<Time>,
    leaders: BTreeMap<Term, usize>,
    applied: BTreeMap<Index, (Term, Option<Cmd>)>,
    /// For each applied index, a term by which it was committed: leaders of later terms hold it.
    committed_by: BTreeMap<Index, Term>,
    proposed: u64,
    /// What the faults did, so the test can tell it was not vacuous.
    crashes: u64,
    installs: u64,
    seed: u64,
    faults: bool,
}

impl World {
    fn new(seed: u64, n: usize) -> World {
        World {
            now: Time(0),
            rng: Rng::new(seed),
            replicas: (0..n).map(|i| Some(Replica::new(config(i, n, seed), Time(0)))).collect(),
            disks: (0..n).map(|_| Durable::default()).collect(),
            machines: (0..n).map(|_| (0, Vec::new())).collect(),
            restart_at: alloc::vec![None; n],
            queue: BTreeMap::new(),
            seq: 0,
            side: alloc::vec![false; n],
            healed_at: None,
            leaders: BTreeMap::new(),
            applied: BTreeMap::new(),
            committed_by: BTreeMap::new(),
            proposed: 0,
            crashes: 0,
            installs: 0,
            seed,
            faults: true,
        }
    }

    fn process(&mut self, p: usize) {
        // A crash between the input and the disk write: the write and everything after it
        // never happened.
        if self.faults && self.rng.chance(3_000) {
            self.crash(p);
            return;
        }
        let Some(replica) = self.replicas[p].as_mut() else { return };
        let ready = replica.take_ready();
        for write in &ready.writes {
            self.disks[p].write(write);
        }
        for (to, msg) in ready.messages {
            self.seq += 1;
            let cut = self.side[p] != self.side[to];
            if cut || (self.faults && self.rng.chance(50_000)) {
                continue;
            }
            let copies = if self.faults && self.rng.chance(20_000) { 2 } else { 1 };
            for _ in 0..copies {
                self.seq += 1;
                let at = self.now + self.rng.range(1, 15);
                self.queue.insert((at, self.seq), (p, to, msg.clone()));
            }
        }
        for apply in ready.apply {
            self.apply(p, apply);
        }
        let replica = self.replicas[p].as_mut().expect("live");
        if replica.wants_snapshot() {
            let (index, machine) = self.machines[p].clone();
            replica.compact(index, machine);
            for write in &replica.take_ready().writes {
                self.disks[p].write(write);
            }
        }
        self.check_disk(p);
    }

    fn apply(&mut self, p: usize, apply: Apply<Cmd, Machine>) {
        let seed = self.seed;
        match apply {
            Apply::Entry { index, term, cmd } => {
                let (applied, machine) = &mut self.machines[p];
                assert_eq!(index, *applied + 1, "seed {seed}: replica {p} applied out of order");
                *applied = index;
                machine.extend(cmd);
                let now_term = self.replicas[p].as_ref().map_or(term, |r| r.term());
                let by = self.committed_by.entry(index).or_insert(now_term);
                *by = (*by).min(now_term);
                let first = *self.applied.entry(index).or_insert((term, cmd));
                assert_eq!(first, (term, cmd), "seed {seed}: two replicas applied different entries at {index}");
            }
            Apply::Snapshot(snapshot) => {
                let expected: Machine = (1..=snapshot.index).filter_map(|i| self.applied[&i].1).collect();
                assert_eq!(snapshot.state, expected, "seed {seed}: a snapshot holds what was never applied");
                self.installs += 1;
                self.machines[p] = (snapshot.index, snapshot.state);
            }
        }
    }

    /// What is on disk is what the replica holds in memory: a restart finds the same log.
    fn check_disk(&self, p: usize) {
        let Some(replica) = &self.replicas[p] else { return };
        let disk = &self.disks[p];
        assert_eq!(disk.snapshot.as_ref().map_or(0, |s| s.index), replica.snapshot_index(), "seed {}", self.seed);
        let memory: Vec<_> = replica.entries().map(|(_, e)| e.clone()).collect();
        assert_eq!(disk.entries, memory, "seed {}: replica {p}'s disk differs from its log", self.seed);
        assert_eq!(disk.state.term, replica.term(), "seed {}", self.seed);
    }

    fn crash(&mut self, p: usize) {
        if self.replicas[p].take().is_some() {
            self.crashes += 1;
            self.restart_at[p] = Some(self.now + self.rng.range(50, 600));
        }
    }

    fn restart(&mut self, p: usize) {
        let n = self.replicas.len();
        let durable = self.disks[p].clone();
        self.machines[p] = durable.snapshot.as_ref().map_or((0, Vec::new()), |s| (s.index, s.state.clone()));
        let seed = self.seed + self.now.0;
        self.replicas[p] = Some(Replica::restore(config(p, n, seed), self.now, durable));
        self.restart_at[p] = None;
    }

    fn check(&mut self) {
        let seed = self.seed;
        for (p, replica) in self.replicas.iter().enumerate() {
            let Some(r) = replica else { continue };
            if r.role() == Role::Leader {
                let first = *self.leaders.entry(r.term()).or_insert(p);
                assert_eq!(first, p, "seed {seed}: two leaders in term {}", r.term());
                // Leader completeness: every entry committed before its term is in the leader's
                // log (or its snapshot, checked when taken).
                for (index, (term, cmd)) in self.applied.range(r.snapshot_index() + 1..) {
                    if self.committed_by[index] >= r.term() {
                        continue;
                    }
                    let entry = r.entry(*index);
                    assert_eq!(
                        entry.map(|e| (e.term, e.cmd)),
                        Some((*term, *cmd)),
                        "seed {seed}: leader {p} of term {} lacks applied entry {index}",
                        r.term()
                    );
                }
            }
        }
        // Leases: at most one replica may answer from its state at any moment.
        let serving: Vec<usize> = self
            .replicas
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_some_and(|r| r.serving_at(self.now)))
            .map(|(p, _)| p)
            .collect();
        assert!(serving.len() <= 1, "seed {seed}: replicas {serving:?} all serve at {}", self.now);
        // Log matching: two logs with the same term at an index agree on everything before.
        let live: Vec<&Replica<Cmd, Machine>> = self.replicas.iter().flatten().collect();
        for (i, a) in live.iter().enumerate() {
            for b in &live[i + 1..] {
                let from = a.snapshot_index().max(b.snapshot_index()) + 1;
                let to = a.last_index().min(b.last_index());
                let Some(last_same) =
                    (from..=to).rev().find(|ix| a.entry(*ix).map(|e| e.term) == b.entry(*ix).map(|e| e.term))
                else {
                    continue;
                };
                for ix in from..=last_same {
                    assert_eq!(a.entry(ix), b.entry(ix), "seed {seed}: logs match at {last_same} but differ at {ix}");
                }
            }
        }
    }

    fn step(&mut self, until: Time) -> bool {
        let timer =
            self.replicas.iter().enumerate().filter_map(|(p, r)| r.as_ref().map(|r| (r.poll_timeout(), p))).min();
        let restart = self.restart_at.iter().enumerate().filter_map(|(p, t)| t.map(|t| (t, p))).min();
        let delivery = self.queue.keys().next().copied();
        let next = [timer.map(|t| t.0), restart.map(|t| t.0), delivery.map(|d| d.0)].into_iter().flatten().min();
        let Some(at) = next.filter(|t| *t <= until) else { return false };
        self.now = self.now.max(at);
        if restart.is_some_and(|(t, _)| t == at) {
            self.restart(restart.expect("due").1);
        } else if delivery.is_some_and(|d| d.0 == at) {
            let (from, to, msg) = self.queue.remove(&delivery.expect("due")).expect("queued");
            if let Some(r) = self.replicas[to].as_mut() {
                r.handle_message(at, from, msg);
                self.process(to);
            }
        } else if let Some((_, p)) = timer {
            self.replicas[p].as_mut().expect("live").handle_timeout(at);
            self.process(p);
        }
        self.faults_and_load();
        self.check();
        true
    }

    fn faults_and_load(&mut self) {
        if !self.faults {
            return;
        }
        let n = self.replicas.len();
        if self.rng.chance(20_000) {
            let p = self.rng.range(0, n as u64 - 1) as usize;
            if let Some(r) = self.replicas[p].as_mut() {
                self.proposed += 1;
                let cmd = self.proposed;
                if r.propose(self.now, cmd).is_ok() {
                    self.process(p);
                }
            }
        }
        if self.rng.chance(2_000) {
            // The leader most of all.
            let leader = self.replicas.iter().position(|r| r.as_ref().is_some_and(|r| r.role() == Role::Leader));
            let p = match leader {
                Some(l) if self.rng.chance(600_000) => l,
                _ => self.rng.range(0, n as u64 - 1) as usize,
            };
            self.crash(p);
        }
        if self.rng.chance(1_000) {
            for side in &mut self.side {
                *side = self.rng.chance(400_000);
            }
            self.healed_at = Some(self.now + self.rng.range(100, 1_500));
        }
        if self.healed_at.is_some_and(|t| t <= self.now) {
            self.side.iter_mut().for_each(|s| *s = false);
            self.healed_at = None;
        }
    }

    fn run_until(&mut self, until: Time) {
        while self.step(until) {}
        self.now = until;
    }
}

/// Runs one seed; returns how many crashes and snapshot installs it saw, and its last term.
fn sweep(seed: u64, n: usize) -> (u64, u64, Term) {
    let mut world = World::new(seed, n);
    world.run_until(Time(30_000));
    // Faults stop: every replica restarts, the network heals and stops losing messages.
    world.faults = false;
    world.side.iter_mut().for_each(|s| *s = false);
    for p in 0..n {
        if world.replicas[p].is_none() {
            world.restart(p);
        }
    }
    world.run_until(Time(33_000));
    let leader = world.replicas.iter().flatten().find(|r| r.role() == Role::Leader).map(|r| r.config().me);
    let leader = leader.unwrap_or_else(|| panic!("seed {seed}: no leader 3 s after the faults stopped"));
    let before = world.applied.len();
    for cmd in 0..5 {
        world.replicas[leader].as_mut().expect("live").propose(world.now, 1_000_000 + cmd).expect("leads");
        world.process(leader);
    }
    world.run_until(Time(35_000));
    assert!(world.applied.len() >= before + 5, "seed {seed}: a healed cluster did not commit");
    let commit = world.replicas[leader].as_ref().expect("live").commit();
    for (p, (applied, _)) in world.machines.iter().enumerate() {
        let r = world.replicas[p].as_ref().expect("live");
        assert_eq!(
            *applied,
            commit,
            "seed {seed}: replica {p} ({}, term {}, commit {}, last {}, snapshot {}) did not catch up with leader {leader} (term {})",
            r.role().name(),
            r.term(),
            r.commit(),
            r.last_index(),
            r.snapshot_index(),
            world.replicas[leader].as_ref().expect("live").term()
        );
    }
    (world.crashes, world.installs, world.replicas[leader].as_ref().expect("live").term())
}

#[test]
fn safety_holds_under_crashes_partitions_and_a_lossy_network() {
    let (mut crashes, mut installs, mut terms) = (0, 0, 0);
    for (seed, n) in (0..60).map(|s| (s, 3)).chain((100..120).map(|s| (s, 5))) {
        let (c, i, t) = sweep(seed, n);
        crashes += c;
        installs += i;
        terms += t.0;
    }
    // The faults bite: replicas crash, laggards need snapshots, leaders come and go.
    assert!(
        crashes > 1_000 && installs > 100 && terms > 1_000,
        "{crashes} crashes, {installs} installs, {terms} terms"
    );
}
