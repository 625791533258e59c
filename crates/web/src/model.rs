//! What the views draw, derived from the world: the ring's servers and keys, the messages of
//! the sequence diagram, and the movement per view change. Plain Rust, tested natively.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::f64::consts::TAU;
use std::sync::atomic::{AtomicU64, Ordering};

use ringside_core::ring::{position, Ring};
use ringside_core::{Addr, Event, Member, Msg, Names, ServerId, Time, TxId};
use ringside_sim::narrate;
use ringside_sim::{Action, Kind, Sim, TraceEntry, TraceKind};

use crate::palette;
use crate::wait_for::Refused;

/// A ring position as an angle in radians, clockwise from the top.
pub fn angle(pos: u64) -> f64 {
    // The top 53 bits fit a float exactly, so the last position stays short of a full turn.
    (pos >> 11) as f64 / (1u64 << 53) as f64 * TAU
}

/// A server on the ring.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerMark {
    /// Its id.
    pub id: ServerId,
    /// Where it listens (its lane in the diagram).
    pub addr: Addr,
    /// Its virtual nodes' angles.
    pub points: Vec<f64>,
    /// Keys it holds a copy of.
    pub holds: usize,
    /// Keys the view makes it a replica of.
    pub owns: usize,
}

/// A key on the ring.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyMark {
    /// The key.
    pub key: String,
    /// Its angle.
    pub angle: f64,
    /// Its replicas in the view leader's view, primary first.
    pub replicas: Vec<ServerId>,
    /// Servers holding a copy now.
    pub holders: Vec<ServerId>,
    /// Whether the copies sit exactly on the replicas (computed once: the ring is drawn every
    /// frame).
    pub placed: bool,
}

impl KeyMark {
    fn new(key: &str, pos: u64, replicas: Vec<ServerId>, holders: Vec<ServerId>) -> KeyMark {
        let want: BTreeSet<&ServerId> = replicas.iter().collect();
        let have: BTreeSet<&ServerId> = holders.iter().collect();
        let placed = want == have;
        KeyMark { key: key.to_string(), angle: angle(pos), replicas, holders, placed }
    }
}

/// One arc of the ring and the server whose point ends it (a key in the arc has that server
/// as its primary).
#[derive(Clone, Debug, PartialEq)]
pub struct Arc {
    /// Start angle (exclusive).
    pub from: f64,
    /// End angle (the server's point).
    pub to: f64,
    /// The owner.
    pub owner: ServerId,
}

/// A server whose process runs but that the view leaves out: one just started, not admitted
/// yet, or one the view leader declared failed. Drawn where it would sit on the ring.
#[derive(Clone, Debug, PartialEq)]
pub struct Outsider {
    /// Its id.
    pub id: ServerId,
    /// Its lane.
    pub addr: Addr,
    /// Where its virtual nodes would sit.
    pub points: Vec<f64>,
    /// Whether it never was in a view (it is starting, not failed).
    pub starting: bool,
}

/// Numbers placements as they are computed (0 is the empty default).
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// The ring as the view leader's current view places it, with every stored key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placement {
    /// A number no other placement computed in this page has: a picture drawn from a
    /// placement is redrawn only when this changes, not compared key by key.
    pub generation: u64,
    /// The view's epoch.
    pub epoch: u64,
    /// Servers in the view, in id order.
    pub servers: Vec<ServerMark>,
    /// Every key some live server holds.
    pub keys: Vec<KeyMark>,
    /// Ownership arcs, clockwise.
    pub arcs: Vec<Arc>,
    /// Servers running outside the view.
    pub outside: Vec<Outsider>,
}

impl Placement {
    /// Reads the placement off the world.
    pub fn of(sim: &Sim) -> Placement {
        let mut holders: BTreeMap<&str, (u64, Vec<ServerId>)> = BTreeMap::new();
        for (_, server) in sim.servers() {
            for (key, entry) in server.bucket() {
                holders.entry(key.as_str()).or_insert_with(|| (entry.pos, Vec::new())).1.push(server.id().clone());
            }
        }
        let view = sim.view_leader().view();
        let vnodes = sim.config().vnodes;
        let mut placement = Placement::build(view.epoch.0, &view.members, vnodes, sim.config().replicas, holders);
        placement.outside = sim
            .servers()
            .filter(|(_, s)| !view.members.iter().any(|m| &m.id == s.id()))
            .map(|(addr, s)| Outsider {
                id: s.id().clone(),
                addr: addr.clone(),
                points: Ring::new([s.id()], vnodes).points().map(|(pos, _)| angle(pos)).collect(),
                starting: s.view().epoch.0 == 0,
            })
            .collect();
        placement
    }

    /// The placement of a view with `vnodes` points per server and `replicas` per key, given
    /// every stored key's ring position and the servers holding a copy.
    pub fn build(
        epoch: u64,
        members: &[Member],
        vnodes: u32,
        replicas: usize,
        holders: BTreeMap<&str, (u64, Vec<ServerId>)>,
    ) -> Placement {
        let ring = Ring::new(members.iter().map(|m| &m.id), vnodes);
        let keys: Vec<KeyMark> = holders
            .into_iter()
            .map(|(key, (pos, holders))| {
                KeyMark::new(key, pos, ring.replicas_at(pos, replicas).into_iter().cloned().collect(), holders)
            })
            .collect();
        let mut points: BTreeMap<&ServerId, Vec<f64>> = BTreeMap::new();
        let mut ordered: Vec<(f64, ServerId)> = Vec::new();
        for (pos, id) in ring.points() {
            points.entry(id).or_default().push(angle(pos));
            ordered.push((angle(pos), id.clone()));
        }
        let arcs = ordered
            .iter()
            .enumerate()
            .map(|(i, (to, owner))| {
                let from = if i == 0 { ordered.last().map_or(0.0, |(a, _)| a - TAU) } else { ordered[i - 1].0 };
                Arc { from, to: *to, owner: owner.clone() }
            })
            .collect();
        // Copies held and replicas owned per server, counted in one pass over the keys.
        let mut counts: BTreeMap<&ServerId, (usize, usize)> = BTreeMap::new();
        for k in &keys {
            for id in &k.holders {
                counts.entry(id).or_default().0 += 1;
            }
            for id in &k.replicas {
                counts.entry(id).or_default().1 += 1;
            }
        }
        let servers = members
            .iter()
            .map(|m| {
                let (holds, owns) = counts.get(&m.id).copied().unwrap_or_default();
                ServerMark {
                    id: m.id.clone(),
                    addr: m.addr.clone(),
                    points: points.get(&m.id).cloned().unwrap_or_default(),
                    holds,
                    owns,
                }
            })
            .collect();
        let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
        Placement { generation, epoch, servers, keys, arcs, outside: Vec::new() }
    }

    /// The server with this id.
    pub fn server(&self, id: &ServerId) -> Option<&ServerMark> {
        self.servers.iter().find(|s| &s.id == id)
    }
}

/// One message of the run, from its send to its fate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgLine {
    /// Its number.
    pub id: u64,
    /// Sender.
    pub from: Addr,
    /// Receiver.
    pub to: Addr,
    /// When it was sent.
    pub sent: Time,
    /// When it is (or was) due.
    pub due: Time,
    /// What became of it.
    pub fate: Fate,
    /// A duplicate the network (or the learner) made of another message.
    pub copy_of: Option<u64>,
    /// The message.
    pub msg: Msg,
}

/// What became of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// On its way.
    InFlight,
    /// Handled by its receiver.
    Delivered(Time),
    /// Lost, and why.
    Dropped(Time, String),
}

impl MsgLine {
    /// One line saying what it is, with the labels `names` knows.
    pub fn summary(&self, names: &Names) -> String {
        self.msg.describe_with(names)
    }

    /// Heartbeats and their replies: the traffic that is always there.
    pub fn routine(&self) -> bool {
        narrate::is_routine(&self.msg)
    }

    /// The key the message is about, if any.
    pub fn key(&self) -> Option<&str> {
        match &self.msg {
            Msg::Set { key, .. } | Msg::Get { key, .. } | Msg::Prepare { key, .. } | Msg::GetR { key, .. } => Some(key),
            _ => None,
        }
    }

    /// When it ended (delivered or dropped), if it has.
    pub fn ended(&self) -> Option<Time> {
        match &self.fate {
            Fate::InFlight => None,
            Fate::Delivered(t) | Fate::Dropped(t, _) => Some(*t),
        }
    }
}

/// Copies moved by one view change against the least it could move.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Move {
    /// The epoch the change led to.
    pub epoch: u64,
    /// What changed, in words.
    pub what: String,
    /// Copies sent for this epoch so far.
    pub moved: u64,
    /// Copies the change needs at least: per key, the new replicas holding no copy of it yet.
    pub minimum: u64,
}

/// A network partition over its stretch of time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cut {
    /// The nodes cut off from all others.
    pub side: Vec<Addr>,
    /// When it was cut.
    pub from: Time,
    /// When it healed (or another cut replaced it); `None` while it holds.
    pub to: Option<Time>,
}

impl Cut {
    /// The partition in a few words: `partition: {s1,s2} | rest`.
    pub fn label(&self) -> String {
        let names: Vec<&str> = self.side.iter().map(|a| a.as_str()).collect();
        format!("partition: {{{}}} | rest", names.join(","))
    }

    /// Whether `a` and `b` are on different sides, so messages between them are lost.
    pub fn divides(&self, a: &Addr, b: &Addr) -> bool {
        self.side.contains(a) != self.side.contains(b)
    }
}

/// A 2PC state as the course names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxPhase {
    /// Coordinator: prepares sent, votes not all in. Participant: no prepare handled yet.
    Init,
    /// Participant: voted yes; may no longer decide alone.
    Ready,
    /// Committed (coordinator: decided to commit).
    Commit,
    /// Aborted (or voted no).
    Abort,
    /// Participant: prepared, the coordinator silent, every other participant prepared too.
    Blocked,
}

impl TxPhase {
    /// The course's name for it.
    pub fn name(self) -> &'static str {
        match self {
            TxPhase::Init => "INIT",
            TxPhase::Ready => "READY",
            TxPhase::Commit => "COMMIT",
            TxPhase::Abort => "ABORT",
            TxPhase::Blocked => "BLOCKED",
        }
    }
}

/// One transaction as both sides of 2PC see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxRow {
    /// The transaction.
    pub tx: TxId,
    /// The key it writes.
    pub key: String,
    /// The coordinating client.
    pub coordinator: Addr,
    /// The coordinator's state.
    pub decided: TxPhase,
    /// Whether the coordinator crashed before every participant acknowledged.
    pub coordinator_crashed: bool,
    /// Each participant (id, address) and its state.
    pub participants: Vec<(ServerId, Addr, TxPhase)>,
    /// Whether a participant is asking the others how it ended (termination protocol).
    pub asking: bool,
}

impl TxRow {
    /// Whether every participant knows the outcome.
    pub fn finished(&self) -> bool {
        self.participants.iter().all(|(_, _, s)| matches!(s, TxPhase::Commit | TxPhase::Abort))
    }
}

/// A log line repeated word for word by the same node within this many lines is left out.
const REPEATS_WITHIN: usize = 16;

/// Transactions kept in the table: beyond this, the oldest finished ones are forgotten...
const TX_ROWS: usize = 40;
/// ...and beyond this the oldest, finished or not (a burst of writes must stay cheap).
const TX_ROWS_MAX: usize = 400;

/// Messages kept for the diagram, the newest: a page left playing or watching for hours must
/// not grow without bound. At 32 servers' heartbeats this is over a minute of virtual time,
/// far more than the diagram's look-back.
pub const MESSAGES_KEPT: usize = 50_000;

/// Log lines kept, at least (the log panel shows the newest 150): beyond twice as many, the
/// older half is forgotten.
const LOG_KEPT: usize = 5_000;

/// What the journal needs to know of the cluster a trace comes from, simulated or live, to
/// chart a view change's least movement.
pub trait ClusterFacts {
    /// Ring positions per server.
    fn vnodes(&self) -> u32;
    /// Replicas per key.
    fn replicas(&self) -> usize;
    /// Every key some server holds now, with the servers holding a copy.
    fn holders(&self) -> BTreeMap<String, BTreeSet<ServerId>>;
    /// The view leader's members now.
    fn members(&self) -> Vec<ServerId>;
    /// The lane of the node at `addr` (a live cluster names its nodes `vl`, `s1`, …).
    fn lane(&self, addr: &Addr) -> Addr {
        addr.clone()
    }
}

impl ClusterFacts for Sim {
    fn vnodes(&self) -> u32 {
        self.config().vnodes
    }

    fn replicas(&self) -> usize {
        self.config().replicas
    }

    fn holders(&self) -> BTreeMap<String, BTreeSet<ServerId>> {
        let mut holders: BTreeMap<String, BTreeSet<ServerId>> = BTreeMap::new();
        for (_, server) in self.servers() {
            for key in server.bucket().keys() {
                holders.entry(key.clone()).or_default().insert(server.id().clone());
            }
        }
        holders
    }

    fn members(&self) -> Vec<ServerId> {
        self.view_leader().view().members.iter().map(|m| m.id.clone()).collect()
    }
}

/// A write of a key whose replica set is changing: it went to the key's stable replicas still
/// alive and to its new ones, every one of them voting.
#[derive(Clone, Debug, PartialEq)]
pub struct DualWrite {
    /// The key.
    pub key: String,
    /// Its stable replicas that took the write.
    pub stable: Vec<ServerId>,
    /// Its new replicas outside the stable set.
    pub new: Vec<ServerId>,
}

/// Everything the views read from the trace, kept up to date as the trace grows.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    /// How many trace entries were read.
    seen: u64,
    /// The newest messages ([`MESSAGES_KEPT`]) by number.
    pub messages: BTreeMap<u64, MsgLine>,
    /// Every message numbered below this was forgotten (or never seen).
    forgotten_below: u64,
    /// Narration lines: (time, node or "", text).
    pub log: Vec<(Time, String, String)>,
    /// Who is who, learnt from the trace: the words of the log, the inspector and the diagram
    /// name servers and transactions by their lanes.
    pub names: Names,
    /// One entry per view change.
    pub moves: Vec<Move>,
    /// Every partition of the run, oldest first.
    pub cuts: Vec<Cut>,
    /// The last lock request refused as a deadlock, for the wait-for graph.
    pub refused: Option<Refused>,
    /// The last write of a moving key, which went to both its replica sets.
    pub dual: Option<DualWrite>,
    /// Recent transactions, by id.
    txs: BTreeMap<TxId, TxRow>,
    /// Their ids, oldest first.
    tx_order: VecDeque<TxId>,
    /// Bumped whenever a bucket or the view may have changed: the ring needs redrawing data.
    pub placement_version: u64,
    members: Vec<ServerId>,
}

impl Journal {
    /// Reads the trace entries not seen yet; `sim` is the world they came from (for the view
    /// changes' minimum movement).
    pub fn absorb(&mut self, sim: &Sim) {
        let trace = sim.trace();
        if trace.len() < self.seen {
            *self = Journal::default();
        }
        // Read after every step, the journal never falls behind the entries the trace holds.
        for entry in trace.since(self.seen) {
            self.take(entry, sim);
        }
        self.seen = trace.len();
    }

    /// Whether message `id` was forgotten, being older than the newest [`MESSAGES_KEPT`].
    pub fn forgot(&self, id: u64) -> bool {
        id < self.forgotten_below
    }

    /// Forgets the oldest messages and log lines beyond what is kept.
    fn forget_old(&mut self) {
        while self.messages.len() > MESSAGES_KEPT {
            if let Some((id, _)) = self.messages.pop_first() {
                self.forgotten_below = id + 1;
            }
        }
        if self.log.len() > 2 * LOG_KEPT {
            self.log.drain(..self.log.len() - LOG_KEPT);
        }
    }

    /// Starts the view's members from a view learned outside the trace (a live cluster watched
    /// after it formed), so the first view change seen is charted against the right ring.
    pub fn know_members(&mut self, members: impl IntoIterator<Item = ServerId>) {
        if self.members.is_empty() {
            self.members = members.into_iter().collect();
        }
    }

    /// Reads one trace entry; `cluster` is the cluster at that moment.
    pub fn take(&mut self, entry: &TraceEntry, cluster: &dyn ClusterFacts) {
        let t = entry.t;
        // A live cluster's other clients share one lane: it names none of their transactions.
        let label = |addr: &Addr| Some(cluster.lane(addr)).filter(|lane| lane.as_str() != crate::live::CLIENTS);
        narrate::learn(&mut self.names, entry, &label);
        match &entry.kind {
            TraceKind::Send { id, from, to, due, msg } => {
                if let Msg::Prepare { tx, key, participants, .. } = msg {
                    let participants: Vec<(ServerId, Addr)> =
                        participants.iter().map(|m| (m.id.clone(), cluster.lane(&m.addr))).collect();
                    self.prepared(*tx, key, from, participants);
                }
                let line = MsgLine {
                    id: *id,
                    from: from.clone(),
                    to: to.clone(),
                    sent: t,
                    due: *due,
                    fate: Fate::InFlight,
                    copy_of: None,
                    msg: msg.clone(),
                };
                self.messages.insert(*id, line);
            }
            TraceKind::Deliver { id, .. } => {
                if let Some(m) = self.messages.get_mut(id) {
                    m.fate = Fate::Delivered(t);
                }
            }
            TraceKind::Drop { id, from, to, reason } => {
                if let Some(m) = self.messages.get_mut(id) {
                    m.fate = Fate::Dropped(t, reason.clone());
                    let what = m.summary(&self.names);
                    self.say(t, String::new(), format!("{from} → {to} {what}: lost ({reason})"));
                }
            }
            TraceKind::Duplicate { id, copy } => {
                if let Some(original) = self.messages.get(id).cloned() {
                    // The copy's due time is not in the trace; it is known once it lands.
                    let line = MsgLine { id: *copy, sent: t, copy_of: Some(*id), fate: Fate::InFlight, ..original };
                    self.messages.insert(*copy, line);
                }
            }
            TraceKind::Event { node, event } => {
                if matches!(
                    event,
                    Event::Committed { .. }
                        | Event::TransferReceived { .. }
                        | Event::CopiesDropped { .. }
                        | Event::ServerJoined { .. }
                        | Event::ServerFailed { .. }
                        | Event::Recovered { .. }
                ) {
                    self.placement_version += 1;
                }
                self.view_change(event, cluster);
                self.tx_event(node, event);
                if let Event::LockDeadlock { name, cycle, .. } = event {
                    self.refused = Some(Refused { lock: name.clone(), cycle: cycle.clone() });
                }
                if let Event::WriteOnBothSets { key, stable, new, .. } = event {
                    self.dual = Some(DualWrite { key: key.clone(), stable: stable.clone(), new: new.clone() });
                }
                if let Event::TransferSent { epoch, keys, .. } = event {
                    if let Some(m) = self.moves.iter_mut().rev().find(|m| m.epoch == epoch.0) {
                        m.moved += *keys as u64;
                    }
                }
                let line = event.describe_with(&self.names);
                self.say(t, node.0.clone(), line);
            }
            TraceKind::Action { action } => {
                self.placement_version += 1;
                if let Action::Partition { .. } | Action::Heal = action {
                    if let Some(open) = self.cuts.last_mut().filter(|c| c.to.is_none()) {
                        open.to = Some(t);
                    }
                }
                if let Action::Partition { side } = action {
                    self.cuts.push(Cut { side: side.clone(), from: t, to: None });
                }
                if let Action::Crash { node } = action {
                    for row in self.txs.values_mut().filter(|r| r.coordinator == *node && !r.finished()) {
                        row.coordinator_crashed = true;
                    }
                }
                self.log.push((t, String::new(), narrate::describe_action(action, &self.names)))
            }
            TraceKind::Timer { .. } => {}
        }
        self.forget_old();
    }

    /// Adds a line to the log, unless the node said the very same lately: a refused heartbeat
    /// or a lost one comes back every period and would bury everything else.
    fn say(&mut self, t: Time, node: String, text: String) {
        let recent = &self.log[self.log.len().saturating_sub(REPEATS_WITHIN)..];
        if !recent.iter().any(|(_, n, line)| *n == node && *line == text) {
            self.log.push((t, node, text));
        }
    }

    fn prepared(&mut self, tx: TxId, key: &str, coordinator: &Addr, participants: Vec<(ServerId, Addr)>) {
        if self.txs.contains_key(&tx) {
            return;
        }
        if self.tx_order.len() >= TX_ROWS {
            let txs = &self.txs;
            let finished = self.tx_order.iter().position(|id| txs.get(id).is_some_and(TxRow::finished));
            let old = finished.or((self.tx_order.len() >= TX_ROWS_MAX).then_some(0));
            if let Some(id) = old.and_then(|i| self.tx_order.remove(i)) {
                self.txs.remove(&id);
            }
        }
        self.tx_order.push_back(tx);
        self.txs.insert(
            tx,
            TxRow {
                tx,
                key: key.to_string(),
                coordinator: coordinator.clone(),
                decided: TxPhase::Init,
                coordinator_crashed: false,
                participants: participants.into_iter().map(|(id, addr)| (id, addr, TxPhase::Init)).collect(),
                asking: false,
            },
        );
    }

    /// The partition in place, if any.
    pub fn partition(&self) -> Option<&Cut> {
        self.cuts.last().filter(|c| c.to.is_none())
    }

    /// The transactions in the table, newest first.
    pub fn recent_txs(&self) -> impl Iterator<Item = &TxRow> {
        self.tx_order.iter().rev().filter_map(|id| self.txs.get(id))
    }

    fn tx_event(&mut self, node: &Addr, event: &Event) {
        let (tx, state) = match event {
            Event::TxDecided { tx, commit, .. } => {
                if let Some(row) = self.txs.get_mut(tx) {
                    row.decided = if *commit { TxPhase::Commit } else { TxPhase::Abort };
                }
                return;
            }
            Event::Voted { tx, yes, .. } => (tx, if *yes { TxPhase::Ready } else { TxPhase::Abort }),
            Event::Committed { tx, .. } => {
                // A participant commits only once the coordinator decided to: this says so when
                // the coordinator's own report is not in the trace (a live cluster's command-line
                // clients).
                if let Some(row) = self.txs.get_mut(tx).filter(|r| r.decided == TxPhase::Init) {
                    row.decided = TxPhase::Commit;
                }
                (tx, TxPhase::Commit)
            }
            Event::Aborted { tx, .. } => (tx, TxPhase::Abort),
            Event::Blocked { tx, .. } | Event::NoMajority { tx, .. } => (tx, TxPhase::Blocked),
            Event::TerminationStarted { tx, .. } => {
                if let Some(row) = self.txs.get_mut(tx) {
                    row.asking = true;
                }
                return;
            }
            _ => return,
        };
        let Some(row) = self.txs.get_mut(tx) else { return };
        if let Some(p) = row.participants.iter_mut().find(|(_, addr, _)| addr == node) {
            // A repeated prepare is answered again; it never undoes a decision.
            if !(state == TxPhase::Ready && matches!(p.2, TxPhase::Commit | TxPhase::Abort)) {
                p.2 = state;
            }
        }
    }

    /// On a view change, the least movement it needs: for every key held anywhere when the
    /// change happens, each server that becomes a replica without having been one. Read the
    /// trace after every step for the keys to be those of that moment.
    fn view_change(&mut self, event: &Event, cluster: &dyn ClusterFacts) {
        let before = self.members.clone();
        let (epoch, what) = match event {
            Event::ServerJoined { id, epoch, .. } => {
                self.members.push(id.clone());
                (epoch.0, format!("{} joined", self.names.server(id)))
            }
            Event::ServerFailed { id, epoch } => {
                self.members.retain(|m| m != id);
                (epoch.0, format!("{} failed", self.names.server(id)))
            }
            Event::Recovered { epoch, .. } => {
                self.members = cluster.members();
                (epoch.0, "the view leader gathered the servers again".to_string())
            }
            _ => return,
        };
        let new = Ring::new(self.members.iter(), cluster.vnodes());
        let r = cluster.replicas();
        let keys = cluster.holders();
        // The least this change can move: per key, the new replicas holding no copy yet. Not
        // "the replicas that were not replicas before": when a second change comes before the
        // first one's copies arrived, this one has to send them too.
        let minimum = keys
            .iter()
            .map(|(key, holding)| {
                new.replicas_at(position(key), r).into_iter().filter(|id| !holding.contains(*id)).count() as u64
            })
            .sum();
        // With nothing stored (or no view before) there is nothing to move: not worth a bar.
        if before.is_empty() || keys.is_empty() {
            return;
        }
        self.moves.push(Move { epoch, what, moved: 0, minimum });
    }
}

/// The lanes of the sequence diagram, in order — the view leader, servers, clients — each
/// with whether its process runs.
pub fn lanes(sim: &Sim) -> Vec<(Addr, bool)> {
    let rank = |k: Kind| match k {
        Kind::ViewLeader => 0,
        Kind::Server => 1,
        Kind::Client => 2,
    };
    let mut nodes: Vec<_> = sim.nodes().iter().collect();
    // Numbers sort as numbers: s2 before s10.
    nodes.sort_by_key(|(a, s)| (rank(s.kind), palette::number(a)));
    nodes.into_iter().map(|(a, s)| (a.clone(), s.role.is_some())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_sim::{Action, Setup};

    /// Steps to `until`, reading the trace after every step as the page does.
    fn run(sim: &mut Sim, j: &mut Journal, until: u64) {
        while sim.next_due().is_some_and(|t| t.0 <= until) {
            sim.step();
            j.absorb(sim);
        }
    }

    fn settled_world(j: &mut Journal) -> Sim {
        let mut sim = Setup::default().world();
        run(&mut sim, j, 1_500);
        for i in 0..12 {
            sim.act(Action::setr(Addr::from("c1"), format!("k{i}"), "v".into()));
        }
        run(&mut sim, j, 3_000);
        sim
    }

    #[test]
    fn angles_cover_the_circle_clockwise_from_the_top() {
        assert_eq!(angle(0), 0.0);
        assert!((angle(u64::MAX / 2) - TAU / 2.0).abs() < 1e-9);
        assert!(angle(u64::MAX) < TAU);
    }

    #[test]
    fn placement_puts_every_key_on_its_replicas() {
        let sim = settled_world(&mut Journal::default());
        let p = Placement::of(&sim);
        assert_eq!(p.servers.len(), 3);
        assert_eq!(p.keys.len(), 12);
        assert!(p.keys.iter().all(|k| k.placed), "{:?}", p.keys);
        assert!(p.servers.iter().all(|s| s.holds == 12 && s.owns == 12));
        assert_eq!(p.arcs.len(), 3);
        let span: f64 = p.arcs.iter().map(|a| a.to - a.from).sum();
        assert!((span - TAU).abs() < 1e-9, "arcs cover the ring once: {span}");
    }

    #[test]
    fn journal_follows_messages_and_charts_a_join() {
        let mut j = Journal::default();
        let mut sim = settled_world(&mut j);
        assert!(j.messages.values().any(|m| matches!(m.msg, Msg::Prepare { .. })));
        assert!(j.messages.values().filter(|m| !matches!(m.fate, Fate::InFlight)).count() > 10);
        assert!(j.moves.is_empty(), "forming the first view moves nothing");
        sim.act(Action::AddServer);
        run(&mut sim, &mut j, 5_000);
        let join = j.moves.last().expect("the join is charted");
        assert!(join.minimum > 0);
        assert_eq!(join.moved, join.minimum, "{join:?}");
        assert!(j.log.iter().any(|(_, _, text)| text.contains("join")), "{:?}", j.log);
    }

    #[test]
    fn a_second_join_before_the_first_ones_copies_counts_them_in_its_least() {
        // Two servers started together join in two view changes; the first one's copies go
        // out under the second's epoch. No change may chart more than its least.
        let mut j = Journal::default();
        let mut sim = settled_world(&mut j);
        sim.act(Action::AddServer);
        sim.act(Action::AddServer);
        run(&mut sim, &mut j, 5_000);
        assert_eq!(j.moves.len(), 2, "{:?}", j.moves);
        assert!(j.moves.iter().all(|m| m.moved <= m.minimum), "{:?}", j.moves);
        let sent: u64 = j.moves.iter().map(|m| m.moved).sum();
        assert_eq!(sent, j.moves.last().map_or(0, |m| m.minimum), "the last change's least is what was sent");
    }

    #[test]
    fn a_started_server_is_drawn_outside_the_view_until_admitted() {
        let mut j = Journal::default();
        let mut sim = settled_world(&mut j);
        sim.act(Action::AddServer);
        let p = Placement::of(&sim);
        assert_eq!(p.servers.len(), 3);
        let [s4] = &p.outside[..] else { panic!("one outsider: {:?}", p.outside) };
        assert_eq!(s4.addr, Addr::from("s4"));
        assert!(s4.starting && s4.points.len() == 1);
        run(&mut sim, &mut j, 5_000);
        let p = Placement::of(&sim);
        assert!(p.outside.is_empty() && p.servers.len() == 4);
        let joined = p.server(&s4.id).expect("s4 joined");
        assert_eq!(joined.points, s4.points, "drawn where it then sits");
    }

    #[test]
    fn the_journal_keeps_each_partition_and_when_it_healed() {
        let mut j = Journal::default();
        let mut sim = settled_world(&mut j);
        let side = vec![Addr::from("s1"), Addr::from("s2")];
        sim.act(Action::Partition { side: side.clone() });
        j.absorb(&sim);
        let from = sim.now();
        let open = j.partition().expect("a partition in place");
        assert_eq!(open, &Cut { side: side.clone(), from, to: None });
        assert_eq!(open.label(), "partition: {s1,s2} | rest");
        assert!(open.divides(&Addr::from("s1"), &Addr::from("vl")));
        assert!(!open.divides(&Addr::from("s1"), &Addr::from("s2")));
        assert!(!open.divides(&Addr::from("s3"), &Addr::from("c1")));
        run(&mut sim, &mut j, 3_500);
        sim.act(Action::Heal);
        j.absorb(&sim);
        assert_eq!(j.partition(), None);
        assert_eq!(j.cuts, vec![Cut { side, from, to: Some(sim.now()) }]);
    }

    #[test]
    fn the_transaction_table_follows_both_sides_of_2pc() {
        let mut j = Journal::default();
        settled_world(&mut j);
        assert_eq!(j.recent_txs().count(), 12);
        for row in j.recent_txs() {
            assert_eq!(row.decided, TxPhase::Commit);
            assert_eq!(row.coordinator, Addr::from("c1"));
            assert!(row.participants.iter().all(|(_, _, s)| *s == TxPhase::Commit), "{row:?}");
            assert!(row.finished() && !row.coordinator_crashed);
        }
    }

    #[test]
    fn the_log_says_a_repeated_refusal_once() {
        let mut j = Journal::default();
        let mut sim = settled_world(&mut j);
        sim.act(Action::Partition { side: vec![Addr::from("s2")] });
        run(&mut sim, &mut j, 8_000);
        sim.act(Action::Heal);
        run(&mut sim, &mut j, 10_000);
        let said = |what: &str| j.log.iter().filter(|(_, _, text)| text.contains(what)).count();
        assert_eq!(said("refused a heartbeat of s2"), 1, "{:?}", j.log);
        assert_eq!(said("s2 → vl heartbeat from s2 (knows epoch 3, rebalanced 3): lost (partition)"), 1);
        assert_eq!(said("s2 missed its heartbeats"), 1);
    }

    #[test]
    fn a_replayed_world_restarts_the_journal() {
        let mut j = Journal::default();
        settled_world(&mut j);
        let n = j.messages.len();
        let fresh = Setup::default().world();
        j.absorb(&fresh);
        assert!(j.messages.len() < n);
    }

    #[test]
    fn the_journal_keeps_the_newest_messages_and_log_lines() {
        let cluster = Setup::default().world();
        let mut j = Journal::default();
        let (from, to) = (Addr::from("c1"), Addr::from("s1"));
        let total = MESSAGES_KEPT as u64 + 10;
        for id in 1..=total {
            let msg = Msg::Get { op: ringside_core::OpId(id), key: "k".into() };
            let send = TraceKind::Send { id, from: from.clone(), to: to.clone(), due: Time(id + 5), msg };
            j.take(&TraceEntry { t: Time(id), kind: send }, &cluster);
        }
        assert_eq!(j.messages.len(), MESSAGES_KEPT);
        assert_eq!(j.messages.keys().next(), Some(&11));
        assert!(j.forgot(10) && !j.forgot(11) && !j.forgot(total));
        // The fate of a forgotten message is no longer news.
        j.take(&TraceEntry { t: Time(total), kind: TraceKind::Deliver { id: 3, from, to } }, &cluster);
        assert!(!j.messages.contains_key(&3));
        for i in 0..2 * LOG_KEPT + 1 {
            j.take(&TraceEntry { t: Time(i as u64), kind: TraceKind::Action { action: Action::Heal } }, &cluster);
        }
        assert_eq!(j.log.len(), LOG_KEPT);
        assert_eq!(j.log.last().map(|(t, ..)| t.0), Some(2 * LOG_KEPT as u64), "the newest line stays");
    }

    #[test]
    fn a_journal_reads_a_bounded_trace_as_a_whole_one() {
        let setup = Setup::default();
        let (mut whole, mut bounded) = (setup.world(), setup.world());
        bounded.keep_trace(8);
        let (mut a, mut b) = (Journal::default(), Journal::default());
        run(&mut whole, &mut a, 2_000);
        run(&mut bounded, &mut b, 2_000);
        assert!(bounded.trace().first() > 0);
        assert_eq!(a.messages, b.messages);
        assert_eq!(a.log, b.log);
    }

    #[test]
    fn lanes_order_leader_servers_clients_by_number() {
        let mut sim = Setup { servers: 11, clients: 2, ..Setup::default() }.world();
        sim.act(Action::AddClient);
        let names: Vec<String> = lanes(&sim).into_iter().map(|(a, _)| a.0).collect();
        assert_eq!(names[0], "vl");
        assert_eq!(names[1], "s1");
        assert_eq!(names[2], "s2");
        assert_eq!(names[11], "s11");
        assert_eq!(&names[12..], ["c1", "c2", "c3"]);
    }
}
