//! The deterministic world: nodes running the real roles, a virtual clock, and a seeded network
//! that loses, duplicates, delays and reorders messages and can be partitioned.
//!
//! Everything that happens is an item in one priority queue keyed by (time, sequence):
//! `step` takes the earliest, hands it to its node, drains the node's transmits and events,
//! re-arms the node's timer, and checks the invariants.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use ringside_core::view_leader::{ReplicaSet, ViewDurable};
use ringside_core::{
    Addr, Client, ClientConfig, Command, Event, Msg, OpId, Peer, Rng, Server, ServerConfig, Time, TxId, ViewLeader,
    ViewLeaderConfig,
};
use serde::Serialize;

use crate::action::{Action, During, Tamper};
use crate::config::{Durations, Faults, SimConfig};
use crate::history::History;
use crate::invariants::{Checker, Violation};
use crate::slot::{Kind, Role, Slot};
use crate::trace::{Trace, TraceEntry, TraceKind};

/// A message in the queue, boxed so the heap moves small items.
#[derive(Debug)]
struct Delivery {
    id: u64,
    sent: Time,
    from: Addr,
    to: Addr,
    msg: Msg,
}

#[derive(Debug)]
enum Item {
    Deliver(Box<Delivery>),
    Wake { node: Addr },
    Act(Action),
}

#[derive(Debug)]
struct Scheduled {
    at: Time,
    seq: u64,
    item: Item,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A message on its way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InFlight {
    /// Its number.
    pub id: u64,
    /// When it was sent.
    pub sent: Time,
    /// Sender.
    pub from: Addr,
    /// Receiver.
    pub to: Addr,
    /// When it is due.
    pub due: Time,
    /// The message.
    pub msg: Msg,
}

/// A client armed to crash inside a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    /// Only this transaction springs it (any, if none).
    pub tx: Option<TxId>,
    /// Which of the transaction's messages the crash cuts.
    pub during: During,
    /// How many of them get out first.
    pub after: u32,
}

impl Trap {
    /// Where in `sends` the process dies, if this batch springs the trap: everything before
    /// the index goes out.
    fn cut(&self, sends: &[ringside_core::Transmit]) -> Option<usize> {
        let mut seen = 0;
        let mut last = None;
        for (i, t) in sends.iter().enumerate() {
            let tx = match (&t.msg, self.during) {
                (Msg::Prepare { tx, .. }, During::Prepare) => tx,
                (Msg::Commit { tx, .. } | Msg::Abort { tx, .. }, During::Decision) => tx,
                _ => continue,
            };
            if self.tx.is_some_and(|want| want != *tx) {
                continue;
            }
            if seen == self.after {
                return Some(i);
            }
            seen += 1;
            last = Some(i + 1);
        }
        last
    }
}

/// The address of the view leader in a world with one; replicas are `vl1`, `vl2`, ….
pub const VIEW_LEADER: &str = "vl";

/// The view leader's addresses in a world with `n` replicas.
pub fn view_leader_addrs(n: usize) -> Vec<Addr> {
    match n {
        0 | 1 => vec![Addr::from(VIEW_LEADER)],
        n => (1..=n).map(|i| Addr(format!("{VIEW_LEADER}{i}"))).collect(),
    }
}

/// The simulated world.
#[derive(Debug)]
pub struct Sim {
    config: SimConfig,
    now: Time,
    rng: Rng,
    seq: u64,
    next_msg: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: BTreeMap<Addr, Slot>,
    /// The view leader's replicas (one address for a lone view leader).
    view_leaders: Vec<Addr>,
    /// What each view-leader replica's disk holds: it survives a crash.
    disks: BTreeMap<Addr, ViewDurable>,
    /// Nodes cut off from the rest, if a partition is in place.
    partition: Option<BTreeSet<Addr>>,
    /// Lock commands in flight, by client and op: the lock's name, whether it is a get, and
    /// when it was invoked.
    lock_calls: BTreeMap<(Addr, OpId), (String, bool, Time)>,
    /// Clients to crash the moment they would send a 2PC decision (of one transaction, or any).
    traps: BTreeMap<Addr, Trap>,
    faults: Faults,
    trace: Trace,
    checker: Checker,
    history: History,
    /// Transactions whose participant started the termination protocol, and when: the
    /// decision was late there. Taken out once the participant learns it, or dies.
    late: BTreeMap<(Addr, TxId), Time>,
    /// The longest any participant waited, past its decision timeout, for a decision it got.
    longest_late_ms: u64,
    /// Events of the last step, for observers (the browser's log, tests).
    recent: Vec<(Addr, Event)>,
    /// Scratch buffers for draining a node, kept to avoid allocating per step.
    sends: Vec<ringside_core::Transmit>,
    events: Vec<Event>,
    steps: u64,
    deliveries: u64,
    /// Replicated operations invoked while the view leader's view was rebalancing, and those
    /// of them on a key whose replicas differed between its stable and current views.
    in_transition: Transition,
    servers_started: u32,
    clients_started: u32,
}

/// Replicated operations invoked inside a transition (see [`Sim::in_transition`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transition {
    /// Invoked while the view leader's current view was not yet stable.
    pub rebalancing: usize,
    /// Of those, the ones on a key that was moving: its stable and current replicas differed.
    pub moving_key: usize,
}

impl Sim {
    /// A world with a view leader and nothing else yet.
    pub fn new(config: SimConfig) -> Self {
        let mut sim = Sim {
            rng: Rng::new(config.seed),
            now: Time::ZERO,
            seq: 0,
            next_msg: 1,
            queue: BinaryHeap::new(),
            nodes: BTreeMap::new(),
            view_leaders: view_leader_addrs(config.view_leaders),
            disks: BTreeMap::new(),
            partition: None,
            traps: BTreeMap::new(),
            lock_calls: BTreeMap::new(),
            late: BTreeMap::new(),
            longest_late_ms: 0,
            faults: config.faults,
            trace: Trace::new(config.trace),
            checker: Checker::new(config.seed, config.replicas, config.vnodes),
            history: History::default(),
            recent: Vec::new(),
            sends: Vec::new(),
            events: Vec::new(),
            steps: 0,
            deliveries: 0,
            in_transition: Transition::default(),
            servers_started: 0,
            clients_started: 0,
            config,
        };
        for addr in sim.view_leaders.clone() {
            let vl = ViewLeader::new(sim.view_leader_config(&addr), Time::ZERO);
            sim.nodes.insert(addr.clone(), Slot::new(Kind::ViewLeader, Role::ViewLeader(vl)));
            sim.drain(&addr);
        }
        sim
    }

    fn view_leader_config(&mut self, addr: &Addr) -> ViewLeaderConfig {
        let replication = (self.view_leaders.len() > 1).then(|| ReplicaSet {
            replicas: self.view_leaders.clone(),
            me: self.view_leaders.iter().position(|a| a == addr).unwrap_or(0),
            seed: self.rng.next_u64(),
        });
        ViewLeaderConfig { timing: self.config.timing.membership(), replication, ..ViewLeaderConfig::default() }
    }

    fn start_view_leader(&mut self, addr: &Addr) {
        let config = self.view_leader_config(addr);
        let disk = self.disks.get(addr).cloned().unwrap_or_default();
        let vl = ViewLeader::restore(config, self.now, disk);
        if let Some(slot) = self.nodes.get_mut(addr) {
            slot.role = Some(Role::ViewLeader(vl));
            slot.incarnation += 1;
            slot.armed = None;
            slot.stalled_until = None;
        }
        self.drain(addr);
    }

    /// A world with `servers` servers and `clients` clients started at time zero.
    pub fn with_cluster(config: SimConfig, servers: usize, clients: usize) -> Self {
        let mut sim = Sim::new(config);
        for _ in 0..servers {
            sim.act(Action::AddServer);
        }
        for _ in 0..clients {
            sim.act(Action::AddClient);
        }
        sim
    }

    // ---- getters

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Virtual time now.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Messages delivered.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// How many replicated operations were invoked inside a transition.
    pub fn in_transition(&self) -> Transition {
        self.in_transition
    }

    /// Counts a replicated operation on `key` invoked now, if a transition is under way.
    fn count_transition(&mut self, key: &str) {
        let vl = self.view_leader();
        if !vl.rebalancing() {
            return;
        }
        let (r, vnodes) = (self.config.replicas, self.config.vnodes);
        let ids = |view: &ringside_core::View| view.members.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
        let mut old = ringside_core::ring::replicas(key, &ids(vl.stable()), r, vnodes);
        let mut new = ringside_core::ring::replicas(key, &ids(vl.view()), r, vnodes);
        old.sort();
        new.sort();
        self.in_transition.rebalancing += 1;
        self.in_transition.moving_key += usize::from(!old.is_empty() && old != new);
    }

    /// The trace.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The client history recorded so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Every node, by address.
    pub fn nodes(&self) -> &BTreeMap<Addr, Slot> {
        &self.nodes
    }

    /// The view leader: the replica that leads in the newest term, or else any live replica
    /// (a lone view leader is never crashed; the simulator never crashes every replica).
    pub fn view_leader(&self) -> &ViewLeader {
        crate::invariants::view_leader(&self.nodes, self.now).expect("a view-leader replica is always alive")
    }

    /// The view leader's replicas' addresses (one for a lone view leader).
    pub fn view_leader_addrs(&self) -> &[Addr] {
        &self.view_leaders
    }

    /// Every live view-leader replica, by address.
    pub fn view_leaders(&self) -> impl Iterator<Item = (&Addr, &ViewLeader)> {
        self.nodes.iter().filter_map(|(a, s)| match &s.role {
            Some(Role::ViewLeader(vl)) => Some((a, vl)),
            _ => None,
        })
    }

    /// Live servers, by address.
    pub fn servers(&self) -> impl Iterator<Item = (&Addr, &Server)> {
        self.nodes.iter().filter_map(|(a, s)| match &s.role {
            Some(Role::Server(srv)) => Some((a, srv)),
            _ => None,
        })
    }

    /// Live clients, by address.
    pub fn clients(&self) -> impl Iterator<Item = (&Addr, &Client)> {
        self.nodes.iter().filter_map(|(a, s)| match &s.role {
            Some(Role::Client(c)) => Some((a, c)),
            _ => None,
        })
    }

    /// Events of the last step.
    pub fn recent_events(&self) -> &[(Addr, Event)] {
        &self.recent
    }

    /// Messages on their way, earliest first.
    pub fn in_flight(&self) -> Vec<InFlight> {
        let mut out: Vec<(u64, InFlight)> = self
            .queue
            .iter()
            .filter_map(|Reverse(s)| match &s.item {
                Item::Deliver(d) => Some((
                    s.seq,
                    InFlight {
                        id: d.id,
                        sent: d.sent,
                        from: d.from.clone(),
                        to: d.to.clone(),
                        due: s.at,
                        msg: d.msg.clone(),
                    },
                )),
                _ => None,
            })
            .collect();
        out.sort_by_key(|(seq, m)| (m.due, *seq));
        out.into_iter().map(|(_, m)| m).collect()
    }

    /// The first invariant violation, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.checker.violation()
    }

    /// Keys whose every up-to-date copy was lost to crashes or failures (R replicas gone).
    pub fn lost_keys(&self) -> &BTreeMap<String, Time> {
        self.checker.lost_keys()
    }

    /// When the next item is due.
    pub fn next_due(&self) -> Option<Time> {
        self.queue.peek().map(|Reverse(s)| s.at)
    }

    // ---- driving

    /// From now on holds at most the newest `bound` trace entries in memory (a page left
    /// playing for hours); the trace hash still covers every entry.
    pub fn keep_trace(&mut self, bound: usize) {
        self.trace.keep_newest(bound);
    }

    /// Schedules an action at virtual time `at` (now, if `at` has passed).
    pub fn schedule(&mut self, at: Time, action: Action) {
        let at = at.max(self.now);
        self.push(at, Item::Act(action));
    }

    /// Performs an action now. Client actions return the client's op id.
    pub fn act(&mut self, action: Action) -> Option<OpId> {
        self.trace.push(TraceEntry { t: self.now, kind: TraceKind::Action { action: action.clone() } });
        let now = self.now;
        let timing = self.config.timing;
        let op = match action {
            Action::AddServer => {
                self.servers_started += 1;
                let addr = Addr(format!("s{}", self.servers_started));
                self.start_server(&addr);
                None
            }
            Action::Stall { node, ms } => {
                if let Some(slot) = self.nodes.get_mut(&node).filter(|s| s.role.is_some()) {
                    let until = now + ms;
                    slot.stalled_until = Some(slot.stalled_until.map_or(until, |u| u.max(until)));
                }
                None
            }
            Action::AddClient => {
                self.clients_started += 1;
                let addr = Addr(format!("c{}", self.clients_started));
                let seed = self.rng.next_u64();
                let client = Client::new(self.client_config(&addr, seed, &timing), now);
                self.nodes.insert(addr.clone(), Slot::new(Kind::Client, Role::Client(client)));
                None
            }
            Action::Crash { node } => {
                self.checker.server_gone(now, &node, &self.nodes);
                // A dead participant waits for nothing any more.
                self.late.retain(|(at, _), _| *at != node);
                // A lone view leader is never crashed (it has no disk to come back from), nor
                // the last live replica.
                let replicas_alive = self.view_leaders().filter(|(a, _)| **a != node).count();
                let spare =
                    |s: &&mut Slot| s.kind != Kind::ViewLeader || (self.view_leaders.len() > 1 && replicas_alive > 0);
                if let Some(slot) = self.nodes.get_mut(&node).filter(spare) {
                    slot.role = None;
                    slot.armed = None;
                    slot.stalled_until = None;
                    self.history.crashed(&node);
                }
                None
            }
            Action::Restart { node } => {
                match self.nodes.get(&node).map(|s| (s.kind, s.role.is_none())) {
                    Some((Kind::Server, true)) => self.start_server(&node),
                    Some((Kind::ViewLeader, true)) => self.start_view_leader(&node),
                    Some((Kind::Client, true)) => {
                        let seed = self.rng.next_u64();
                        let client = Client::new(self.client_config(&node, seed, &timing), now);
                        if let Some(slot) = self.nodes.get_mut(&node) {
                            slot.role = Some(Role::Client(client));
                            slot.incarnation += 1;
                            slot.stalled_until = None;
                        }
                    }
                    _ => {}
                }
                None
            }
            Action::Client { client, command } => {
                let op = self.client_op(
                    &client,
                    |c| command.apply(c, now, None).ok(),
                    // Reads and writes of the replicated store go into the history the
                    // linearizability check reads.
                    |h, c, op| match &command {
                        Command::SetR { key, value } => h.invoked_write(c, op, now, key, value),
                        Command::GetR { key } => h.invoked_read(c, op, now, key),
                        _ => {}
                    },
                );
                if let (Command::SetR { key, .. } | Command::GetR { key }, Some(_)) = (&command, op) {
                    self.count_transition(key);
                }
                // Lock commands, for the check that no two clients are told they hold a lock.
                match (&command, op) {
                    (Command::LockGet { name }, Some(op)) => {
                        self.lock_calls.insert((client, op), (name.clone(), true, now));
                    }
                    (Command::LockRelease { name }, Some(op)) => {
                        // The release may take effect any time from now: the lock counts as free.
                        self.checker.lock_released(now, &client, name);
                        self.lock_calls.insert((client, op), (name.clone(), false, now));
                    }
                    _ => {}
                }
                op
            }
            Action::Partition { side } => {
                self.partition = Some(side.into_iter().collect());
                None
            }
            Action::Heal => {
                self.partition = None;
                None
            }
            Action::SetFaults { faults } => {
                self.faults = faults;
                None
            }
            Action::CrashInTransaction { client, during, after } => {
                self.traps.insert(client, Trap { tx: None, during, after });
                None
            }
            Action::CrashCoordinator { client, tx } => {
                self.traps.insert(client, Trap { tx, during: During::Decision, after: 0 });
                None
            }
        };
        self.check();
        op
    }

    fn client_config(&self, addr: &Addr, seed: u64, t: &Durations) -> ClientConfig {
        ClientConfig {
            name: Some(addr.0.clone()),
            replicas: self.config.replicas,
            vnodes: self.config.vnodes,
            rpc_timeout_ms: t.rpc_timeout_ms,
            max_attempts: t.max_attempts,
            backoff_ms: t.backoff_ms,
            backoff_max_ms: t.backoff_max_ms,
            lock_retry_ms: t.lock_retry_ms,
            view_leaders: self.view_leaders.clone(),
            ..ClientConfig::new(Addr::from(VIEW_LEADER), seed)
        }
    }

    fn start_server(&mut self, addr: &Addr) {
        let t = self.config.timing;
        let seed = self.rng.next_u64();
        // Heartbeat and lease by the nodes' own rule; the rest from the world's durations.
        let config = ServerConfig {
            decision_timeout_ms: t.decision_timeout_ms,
            transfer_retry_ms: t.transfer_retry_ms,
            transfer_batch: 1_000,
            replicas: self.config.replicas,
            vnodes: self.config.vnodes,
            commit: self.config.commit,
            view_leaders: self.view_leaders.clone(),
            ..ServerConfig::for_timing(addr.clone(), Addr::from(VIEW_LEADER), seed, &t.membership())
        };
        let server = Server::new(config, self.now);
        let slot = self.nodes.entry(addr.clone()).or_insert(Slot {
            kind: Kind::Server,
            role: None,
            incarnation: 0,
            armed: None,
            stalled_until: None,
        });
        slot.role = Some(Role::Server(server));
        slot.incarnation += 1;
        slot.armed = None;
        slot.stalled_until = None;
        self.drain(addr);
    }

    fn client_op(
        &mut self,
        addr: &Addr,
        start: impl FnOnce(&mut Client) -> Option<OpId>,
        record: impl FnOnce(&mut History, &Addr, OpId),
    ) -> Option<OpId> {
        let Some(Role::Client(client)) = self.nodes.get_mut(addr).and_then(|s| s.role.as_mut()) else { return None };
        let op = start(client)?;
        record(&mut self.history, addr, op);
        self.drain(addr);
        Some(op)
    }

    fn push(&mut self, at: Time, item: Item) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { at, seq: self.seq, item }));
    }

    /// Until when the process at `node` is paused, if it is now.
    fn stalled_until(&self, node: &Addr) -> Option<Time> {
        self.nodes.get(node).filter(|s| s.stalled(self.now)).and_then(|s| s.stalled_until)
    }

    /// Handles the earliest item. Returns false when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.recent.clear();
        loop {
            let Some(Reverse(next)) = self.queue.pop() else { return false };
            self.now = self.now.max(next.at);
            match next.item {
                Item::Deliver(d) => {
                    // A paused process reads nothing: what it is sent waits, in order.
                    if let Some(until) = self.stalled_until(&d.to) {
                        self.push(until, Item::Deliver(d));
                        continue;
                    }
                    let Delivery { id, from, to, msg, .. } = *d;
                    self.deliver(id, from, to, msg);
                }
                Item::Wake { node } => {
                    let now = self.now;
                    let Some(slot) = self.nodes.get_mut(&node) else { continue };
                    // A wake-up for a deadline that moved or a process that died is stale.
                    if slot.armed != Some(next.at) || slot.role.is_none() {
                        continue;
                    }
                    // A paused process's timer fires when it resumes, late.
                    if let Some(until) = slot.stalled_until.filter(|_| slot.stalled(now)) {
                        slot.armed = Some(until);
                        self.push(until, Item::Wake { node });
                        continue;
                    }
                    slot.armed = None;
                    if let Some(role) = slot.role.as_mut() {
                        role.node().handle_timeout(now);
                    }
                    if self.trace.enabled() {
                        self.trace.push(TraceEntry { t: now, kind: TraceKind::Timer { node: node.clone() } });
                    }
                    self.drain(&node);
                }
                Item::Act(action) => {
                    self.act(action);
                }
            }
            self.steps += 1;
            self.check();
            return true;
        }
    }

    /// Steps until virtual time `t` (items due at `t` included), then sets the clock to `t`.
    pub fn run_until(&mut self, t: Time) {
        while self.next_due().is_some_and(|due| due <= t) {
            self.step();
        }
        self.now = self.now.max(t);
    }

    /// Runs until `done` holds or virtual time reaches `limit`; returns whether `done` held.
    pub fn run_while_not(&mut self, limit: Time, mut done: impl FnMut(&Sim) -> bool) -> bool {
        while !done(self) {
            match self.next_due() {
                Some(due) if due <= limit => {
                    self.step();
                }
                _ => {
                    self.now = self.now.max(limit);
                    return done(self);
                }
            }
        }
        true
    }

    /// The longest a live participant waited past its decision timeout for a decision it
    /// got (ms), and how many still wait now (each for how long, at most).
    pub fn late_decisions(&self) -> (u64, usize, u64) {
        // Only members of the view count: a server failed while it waited serves nobody.
        let view = self.view_leader().view();
        let members: BTreeMap<&Addr, &Server> = self.servers().filter(|(_, s)| view.contains(s.id())).collect();
        let pending = |at: &Addr, tx: &TxId| members.get(at).is_some_and(|s| s.pending().any(|p| p.tx == *tx));
        let waiting: Vec<u64> =
            self.late.iter().filter(|((at, tx), _)| pending(at, tx)).map(|(_, since)| self.now.0 - since.0).collect();
        (self.longest_late_ms, waiting.len(), waiting.iter().copied().max().unwrap_or(0))
    }

    /// Since when the participant at `at` has waited past its decision timeout for `tx`, if
    /// it still does.
    pub fn late_since(&self, at: &Addr, tx: &TxId) -> Option<Time> {
        self.late.get(&(at.clone(), *tx)).copied()
    }

    /// Clients armed to crash before sending their next 2PC decision.
    pub fn traps(&self) -> &BTreeMap<Addr, Trap> {
        &self.traps
    }

    /// Whether the cluster is at rest: a view leader answers (a replica leads, with a lease) and
    /// reports the current epoch rebalanced,
    /// every member of its view is a live process that knows it, and no copies are owed.
    pub fn settled(&self) -> bool {
        let vl = self.view_leader();
        crate::invariants::serving(vl, self.now)
            && !vl.rebalancing()
            && vl.view().members.iter().all(|m| {
                self.servers().any(|(_, s)| {
                    s.id() == &m.id
                        && s.view().epoch == vl.epoch()
                        && s.stable_view().epoch == vl.epoch()
                        && s.unacked_copies() == 0
                })
            })
    }

    fn deliver(&mut self, id: u64, from: Addr, to: Addr, msg: Msg) {
        let now = self.now;
        let cut = self.partition.as_ref().is_some_and(|side| side.contains(&from) != side.contains(&to));
        let alive = self.nodes.get(&to).is_some_and(|s| s.role.is_some());
        if cut || !alive {
            let reason = if cut { "partition" } else { "node down" };
            self.trace.push(TraceEntry { t: now, kind: TraceKind::Drop { id, from, to, reason: reason.into() } });
            return;
        }
        self.deliveries += 1;
        if self.trace.enabled() {
            self.trace.push(TraceEntry { t: now, kind: TraceKind::Deliver { id, from: from.clone(), to: to.clone() } });
        }
        // Clients are the world's only non-members: every node proves its membership.
        let client = self.nodes.get(&from).is_some_and(|s| s.kind == Kind::Client);
        let peer = if client { Peer::Client(&from) } else { Peer::Member(&from) };
        if let Some(role) = self.nodes.get_mut(&to).and_then(|s| s.role.as_mut()) {
            role.node().handle_message(now, peer, msg);
        }
        self.drain(&to);
    }

    /// Takes everything a node wants done after an input: sends, events, its next deadline.
    fn drain(&mut self, addr: &Addr) {
        let now = self.now;
        let Some(slot) = self.nodes.get_mut(addr) else { return };
        let Some(role) = slot.role.as_mut() else { return };
        let mut sends = std::mem::take(&mut self.sends);
        let mut events = std::mem::take(&mut self.events);
        // A replica's writes reach its disk before any message it sends after them.
        if let Role::ViewLeader(vl) = role {
            let disk = self.disks.entry(addr.clone()).or_default();
            while let Some(write) = vl.poll_write() {
                disk.write(&write);
            }
        }
        {
            let node = role.node();
            while let Some(t) = node.poll_transmit() {
                sends.push(t);
            }
            while let Some(e) = node.poll_event() {
                events.push(e);
            }
        }
        // One wake-up per node is queued at a time; a deadline that moved leaves the old one
        // stale (it no longer matches `armed` and is skipped).
        let deadline = role.poll_timeout().map(|t| t.max(now));
        if deadline != slot.armed {
            slot.armed = deadline;
            if let Some(at) = deadline {
                self.push(at, Item::Wake { node: addr.clone() });
            }
        }
        // Events first: the narration reads "decided, then sent", as the role did it.
        for e in events.drain(..) {
            self.observe(addr, e);
        }
        if let Some(cut) = self.traps.get(addr).and_then(|trap| trap.cut(&sends)) {
            // The trap springs: what comes before the cut leaves, then the process dies.
            self.traps.remove(addr);
            sends.truncate(cut);
            for t in sends.drain(..) {
                self.send(addr.clone(), t.to, t.msg);
            }
            self.sends = sends;
            self.events = events;
            self.act(Action::Crash { node: addr.clone() });
            return;
        }
        for t in sends.drain(..) {
            self.send(addr.clone(), t.to, t.msg);
        }
        self.sends = sends;
        self.events = events;
    }

    fn send(&mut self, from: Addr, to: Addr, msg: Msg) {
        let id = self.next_msg;
        self.next_msg += 1;
        let faults = self.faults;
        let (lo, hi) = self.config.latency_ms;
        let mut latency = self.rng.range(lo, hi);
        if self.rng.chance(faults.delay_ppm) {
            latency += faults.delay_ms;
        }
        let due = self.now + latency;
        if self.trace.enabled() {
            let kind = TraceKind::Send { id, from: from.clone(), to: to.clone(), due, msg: msg.clone() };
            self.trace.push(TraceEntry { t: self.now, kind });
        }
        if self.rng.chance(faults.drop_ppm) {
            self.trace.push(TraceEntry { t: self.now, kind: TraceKind::Drop { id, from, to, reason: "lost".into() } });
            return;
        }
        if self.rng.chance(faults.duplicate_ppm) {
            let copy = self.next_msg;
            self.next_msg += 1;
            self.trace.push(TraceEntry { t: self.now, kind: TraceKind::Duplicate { id, copy } });
            let again = self.now + self.rng.range(lo, hi);
            self.push(
                again,
                Item::Deliver(Box::new(Delivery {
                    id: copy,
                    sent: self.now,
                    from: from.clone(),
                    to: to.clone(),
                    msg: msg.clone(),
                })),
            );
        }
        self.push(due, Item::Deliver(Box::new(Delivery { id, sent: self.now, from, to, msg })));
    }

    fn observe(&mut self, node: &Addr, event: Event) {
        let now = self.now;
        match &event {
            Event::TerminationStarted { tx, .. } => {
                self.late.entry((node.clone(), *tx)).or_insert(now);
            }
            Event::Committed { tx, .. } | Event::Aborted { tx, .. } => {
                if let Some(since) = self.late.remove(&(node.clone(), *tx)) {
                    self.longest_late_ms = self.longest_late_ms.max(now.0 - since.0);
                }
            }
            _ => {}
        }
        if let Event::OpDone { op, result } = &event {
            self.history.completed(node, *op, now, result);
            if let Some((name, get, invoked)) = self.lock_calls.remove(&(node.clone(), *op)) {
                self.checker.lock_done(now, self.steps, node, &name, (get, invoked), result);
            }
        }
        if self.config.check {
            self.checker.observe(now, self.steps, node, &event, &self.nodes);
        }
        if self.trace.enabled() {
            self.trace.push(TraceEntry { t: now, kind: TraceKind::Event { node: node.clone(), event: event.clone() } });
        }
        self.recent.push((node.clone(), event));
    }

    fn check(&mut self) {
        if self.config.check {
            self.checker.after_step(self.now, self.steps, &self.nodes);
        }
    }

    /// The end-of-run checks, for a world brought to rest: every key exactly on its replicas,
    /// and no acknowledged write lost.
    pub fn check_at_rest(&mut self) {
        self.checker.at_rest(self.now, self.steps, &self.nodes, &self.history);
    }

    /// Drops or delays one in-flight message, or sends a copy of it (for interactive fault
    /// injection). Returns false when no such message is in flight.
    pub fn tamper(&mut self, id: u64, how: Tamper) -> bool {
        let items = std::mem::take(&mut self.queue).into_vec();
        let mut found = None;
        for Reverse(s) in items {
            match &s.item {
                Item::Deliver(d) if d.id == id && found.is_none() => found = Some(s),
                _ => self.queue.push(Reverse(s)),
            }
        }
        let Some(s) = found else { return false };
        let Item::Deliver(d) = s.item else { return false };
        let now = self.now;
        match how {
            Tamper::Drop => {
                let Delivery { id, from, to, .. } = *d;
                self.trace.push(TraceEntry {
                    t: now,
                    kind: TraceKind::Drop { id, from, to, reason: "dropped by hand".into() },
                });
            }
            Tamper::Delay(ms) => {
                self.queue.push(Reverse(Scheduled { at: s.at + ms, seq: s.seq, item: Item::Deliver(d) }))
            }
            Tamper::Duplicate => {
                let copy = self.next_msg;
                self.next_msg += 1;
                self.trace.push(TraceEntry { t: now, kind: TraceKind::Duplicate { id: d.id, copy } });
                let twin = Delivery { id: copy, sent: now, from: d.from.clone(), to: d.to.clone(), msg: d.msg.clone() };
                self.push(s.at, Item::Deliver(Box::new(twin)));
                self.queue.push(Reverse(Scheduled { at: s.at, seq: s.seq, item: Item::Deliver(d) }));
            }
        }
        true
    }
}
