//! A real cluster as the views see it: the records its nodes stream to an observer (or wrote
//! to their events files), turned into the same trace entries the simulator makes, so the ring,
//! the message diagram, the log and the 2PC table draw a live cluster exactly as a simulated
//! one. Plain Rust, tested natively; the sockets are in `remote`.
//!
//! A message is seen twice: its sender records a `send` and its receiver a `recv`, each naming
//! the frame's id, which is unique per sending process. A receive is matched to its send by
//! (sender, frame id). Clients do not listen, so a node names a client's connection
//! `client#N`; the page's own client is recognised by the ids of the frames it sent.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::Hash;

use ringside_core::replication::Role;
use ringside_core::ring::{position, Ring};
use ringside_core::view_leader::ReplicaState;
use ringside_core::wire::Frame;
use ringside_core::{Addr, Event, Member, Msg, ServerId, Time};
use ringside_sim::{TraceEntry, TraceKind};

use crate::model::{ClusterFacts, Fate, Journal, Placement, MESSAGES_KEPT};
use crate::records::{Record, RecordKind};

/// Microseconds per unit of the live clock: a real 2PC round takes a few hundred microseconds,
/// so the diagram's time axis counts in tens of them.
pub const UNIT_US: u64 = 10;

/// Milliseconds per unit of the live clock (for the diagram's labels).
pub const MS_PER_UNIT: f64 = UNIT_US as f64 / 1000.0;

/// The page's own client in the views.
pub const BROWSER: &str = "c1";

/// The lane of every client the page does not run: a node knows a client only by its
/// connection (`client#N`, numbered by each node for itself), so they share one lane.
pub const CLIENTS: &str = "clients";

/// A node the page has heard of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveNode {
    /// Its name in the views: `vl`, `s1`, …
    pub name: Addr,
    /// Where it listens.
    pub addr: Addr,
    /// `viewleader` or `server`, once it said hello.
    pub role: Option<String>,
    /// A server's id.
    pub id: Option<ServerId>,
    /// Whether its stream is open (or, in a replay, whether it was last seen alive).
    pub up: bool,
    /// A view-leader replica's Raft state, from its latest `replica` record.
    pub raft: Option<ReplicaState>,
}

/// A cluster seen from outside.
#[derive(Debug)]
pub struct Live {
    /// The view leader's replicas' addresses (one for a lone view leader).
    pub view_leaders: Vec<Addr>,
    /// Replicas per key and ring points per server, as the cluster was started with.
    pub replicas: usize,
    /// Ring points per server.
    pub vnodes: u32,
    /// Messages, log, movement and transactions, read from the trace entries.
    pub journal: Journal,
    /// Known nodes by address.
    pub nodes: BTreeMap<Addr, LiveNode>,
    /// The view: epoch and members (named as in the views).
    pub epoch: u64,
    /// Members of the view, addresses as the views name them.
    pub members: Vec<Member>,
    /// Whether the view leader says rebalancing is under way.
    pub rebalancing: bool,
    /// Each server's keys, by its id, from its last `query_all_keys` answer.
    pub holdings: BTreeMap<ServerId, Vec<String>>,
    /// The latest moment anything but routine traffic happened (live clock units).
    pub latest: Time,
    origin_us: Option<u64>,
    next_msg: u64,
    /// (sender name, frame id) → message number.
    sent: Recent<(Addr, u64), u64>,
    /// Receives seen before their send: (sender name, frame id) → (time, receiver name).
    early: Recent<(Addr, u64), (Time, Addr)>,
    /// Frames the page's client sent: id → (the node's address, message).
    page_sent: Recent<u64, (Addr, Msg)>,
    /// The page's own polling (views, key lists): not drawn.
    hidden: Recent<u64, ()>,
    /// (node address, `client#N`) → the lane that connection is (the page's client).
    aliases: HashMap<(Addr, Addr), Addr>,
    /// The client lanes messages have named so far.
    clients: BTreeSet<Addr>,
    placement: Option<Placement>,
}

/// A map that forgets its oldest entries beyond a bound: what matches a receive to its send
/// is needed only for a moment, and a page may watch for hours.
#[derive(Debug)]
struct Recent<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone, V> Recent<K, V> {
    fn new() -> Self {
        Recent { map: HashMap::new(), order: VecDeque::new() }
    }

    fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > MESSAGES_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Takes an entry out; its place in the order is dropped when it comes to the front.
    fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key)
    }
}

impl Live {
    /// A cluster led by the view leader at `view_leaders` (its replicas, or one address),
    /// started with `replicas` and `vnodes`.
    pub fn new(view_leaders: Vec<Addr>, replicas: usize, vnodes: u32) -> Live {
        let mut live = Live {
            view_leaders: view_leaders.clone(),
            replicas,
            vnodes,
            journal: Journal::default(),
            nodes: BTreeMap::new(),
            epoch: 0,
            members: Vec::new(),
            rebalancing: false,
            holdings: BTreeMap::new(),
            latest: Time::ZERO,
            origin_us: None,
            next_msg: 1,
            sent: Recent::new(),
            early: Recent::new(),
            page_sent: Recent::new(),
            hidden: Recent::new(),
            aliases: HashMap::new(),
            clients: BTreeSet::new(),
            placement: None,
        };
        // Named as the simulator names them: `vl`, or `vl1`, `vl2`, … for replicas.
        for (addr, name) in view_leaders.iter().zip(ringside_sim::view_leader_addrs(view_leaders.len())) {
            live.node(addr, Some(name.as_str()));
        }
        live
    }

    /// Who leads the replicas, as their `replica` records last said; `None` for a lone view
    /// leader.
    pub fn leadership(&self) -> Option<String> {
        if self.view_leaders.len() < 2 {
            return None;
        }
        let leader = self
            .view_leaders
            .iter()
            .filter_map(|a| self.nodes.get(a))
            .filter(|n| n.up)
            .filter_map(|n| n.raft.as_ref().filter(|r| r.role == Role::Leader).map(|r| (r.term.0, &n.name)))
            .max();
        Some(match leader {
            Some((term, name)) => crate::replicas::leads(name, term),
            None => "no replica says it leads".to_string(),
        })
    }

    /// The view leader's addresses as `--viewleader` takes them.
    pub fn view_leader_list(&self) -> String {
        self.view_leaders.iter().map(|a| a.0.as_str()).collect::<Vec<_>>().join(",")
    }

    /// The view name of the node at `addr`, naming it on first sight: the cluster's label when
    /// given (`s2`), else the next free `sN`.
    pub fn node(&mut self, addr: &Addr, label: Option<&str>) -> Addr {
        if let Some(n) = self.nodes.get_mut(addr) {
            if let Some(label) = label {
                n.name = Addr::from(label);
            }
            return n.name.clone();
        }
        let name = match label {
            Some(l) => Addr::from(l),
            None => {
                let taken: BTreeSet<&str> = self.nodes.values().map(|n| n.name.as_str()).collect();
                let free = (1..).find(|i| !taken.contains(format!("s{i}").as_str())).unwrap_or(0);
                Addr(format!("s{free}"))
            }
        };
        self.nodes.insert(
            addr.clone(),
            LiveNode { name: name.clone(), addr: addr.clone(), role: None, id: None, up: false, raft: None },
        );
        name
    }

    /// The node a view name stands for.
    pub fn by_name(&self, name: &Addr) -> Option<&LiveNode> {
        self.nodes.values().find(|n| &n.name == name)
    }

    fn name_of(&mut self, addr: &Addr) -> Addr {
        if is_client(addr) || addr.as_str() == BROWSER {
            return addr.clone();
        }
        self.node(addr, None)
    }

    /// The lane of a peer the node at `node` knows as `peer`: the page's client, the other
    /// clients' lane, or the peer's name.
    fn lane_of(&mut self, node: &Addr, peer: &Addr) -> Addr {
        match self.aliases.get(&(node.clone(), peer.clone())) {
            Some(lane) => lane.clone(),
            None if is_client(peer) => Addr::from(CLIENTS),
            None => self.name_of(peer),
        }
    }

    /// The live clock of a wall-clock microsecond.
    pub fn clock(&mut self, t_us: u64) -> Time {
        let origin = *self.origin_us.get_or_insert(t_us);
        Time(t_us.saturating_sub(origin) / UNIT_US)
    }

    fn push(&mut self, t: Time, kind: TraceKind) {
        let entry = TraceEntry { t, kind };
        // The journal asks the cluster about the moment of the entry: the rest of `self`. It
        // keeps only the newest messages and log lines.
        let mut journal = std::mem::take(&mut self.journal);
        journal.take(&entry, self);
        self.journal = journal;
    }

    /// Takes in one record of a node's stream.
    pub fn absorb(&mut self, record: Record) {
        let t = self.clock(record.t);
        let node = self.name_of(&record.node);
        match record.kind {
            RecordKind::Hello { role, id } => {
                if let Some(n) = self.nodes.get_mut(&record.node) {
                    n.role = Some(role);
                    n.id = id;
                    n.up = true;
                }
            }
            RecordKind::Send { peer, frame } => {
                let to = self.lane_of(&record.node, &peer);
                if to.as_str() == BROWSER && frame.re.is_some_and(|re| self.hidden.contains(&re)) {
                    return;
                }
                self.send(t, node, to, frame);
            }
            RecordKind::Recv { peer, frame } => {
                if is_client(&peer) {
                    if let Some((to, msg)) = self.page_sent.get(&frame.id) {
                        if *to == record.node && *msg == frame.msg {
                            self.aliases.insert((record.node.clone(), peer.clone()), Addr::from(BROWSER));
                            if self.hidden.contains(&frame.id) {
                                return;
                            }
                        }
                    }
                }
                if let Msg::Transfer { items, .. } = &frame.msg {
                    if let Some(id) = self.nodes.get(&record.node).and_then(|n| n.id.clone()) {
                        self.received(&id, items.iter().map(|i| i.key.as_str()));
                    }
                }
                let from = self.lane_of(&record.node, &peer);
                if let Some(re) = frame.re {
                    self.answered(t, &node, re, &from);
                }
                let watched = from.as_str() == BROWSER || self.nodes.values().any(|n| n.name == from && n.up);
                if watched {
                    self.receive(t, from, frame.id, node);
                } else {
                    // The sender streams nothing (a command-line client, an unwatched node):
                    // its send is known only from here.
                    self.send(t, from.clone(), node.clone(), frame.clone());
                    self.receive(t, from, frame.id, node);
                }
            }
            RecordKind::Event { event } => {
                if let (Event::CopiesDropped { .. }, Some(id)) =
                    (&event, self.nodes.get(&record.node).and_then(|n| n.id.clone()))
                {
                    self.dropped(&id);
                }
                self.learn(&event);
                if !matches!(event, Event::ViewLearned { .. } | Event::OpDone { .. }) {
                    self.latest = self.latest.max(t);
                }
                self.push(t, TraceKind::Event { node, event });
            }
            RecordKind::Replica { mut state } => {
                // Replicas by their lanes, as the simulator's are.
                state.vote = state.vote.map(|a| self.name_of(&a));
                state.leader = state.leader.map(|a| self.name_of(&a));
                if let Some(n) = self.nodes.get_mut(&record.node) {
                    n.raft = Some(state);
                }
            }
            RecordKind::Raft => {}
            RecordKind::Dropped { reason } => {
                self.journal.log.push((t, node.0.clone(), format!("stopped streaming to this page: {reason}")));
            }
        }
    }

    fn send(&mut self, t: Time, from: Addr, to: Addr, frame: Frame) {
        let id = self.next_msg;
        self.next_msg += 1;
        if !ringside_sim::narrate::is_routine(&frame.msg) {
            self.latest = self.latest.max(t);
        }
        for lane in [&from, &to] {
            if (lane.as_str() == BROWSER || lane.as_str() == CLIENTS) && !self.clients.contains(lane) {
                self.clients.insert(lane.clone());
            }
        }
        let key = (from.clone(), frame.id);
        self.sent.insert(key.clone(), id);
        self.push(t, TraceKind::Send { id, from: from.clone(), to: to.clone(), due: t, msg: frame.msg });
        if let Some((at, by)) = self.early.remove(&key) {
            self.push(at, TraceKind::Deliver { id, from, to: by });
        }
    }

    fn receive(&mut self, t: Time, from: Addr, frame_id: u64, by: Addr) {
        let key = (from.clone(), frame_id);
        match self.sent.get(&key) {
            Some(&id) => self.push(t, TraceKind::Deliver { id, from, to: by }),
            None => {
                self.early.insert(key, (t, by));
            }
        }
    }

    /// `by` read an answer to its frame `re` from `peer`, so that frame arrived, whether or not
    /// `peer`'s stream says so: a node's first records are gone before the page watches it.
    fn answered(&mut self, t: Time, by: &Addr, re: u64, peer: &Addr) {
        let Some(&id) = self.sent.get(&(by.clone(), re)) else { return };
        if self.journal.messages.get(&id).is_some_and(|m| m.fate == Fate::InFlight) {
            self.push(t, TraceKind::Deliver { id, from: by.clone(), to: peer.clone() });
        }
    }

    /// The page's client wrote `frame` to the node at `to`; `hidden` for its own polling.
    pub fn page_send(&mut self, t_us: u64, to: &Addr, frame: &Frame, hidden: bool) {
        let t = self.clock(t_us);
        self.page_sent.insert(frame.id, (to.clone(), frame.msg.clone()));
        if hidden {
            self.hidden.insert(frame.id, ());
        } else {
            let to = self.name_of(to);
            self.send(t, Addr::from(BROWSER), to, frame.clone());
        }
    }

    /// The page's client read `frame` from the node at `from`.
    pub fn page_recv(&mut self, t_us: u64, from: &Addr, frame: &Frame) {
        if frame.re.is_some_and(|re| self.hidden.contains(&re)) {
            return;
        }
        let t = self.clock(t_us);
        let from = self.name_of(from);
        self.receive(t, from, frame.id, Addr::from(BROWSER));
    }

    /// The page's client reported `event` (its 2PC decisions, retries, waits).
    pub fn page_event(&mut self, t_us: u64, event: Event) {
        let t = self.clock(t_us);
        self.push(t, TraceKind::Event { node: Addr::from(BROWSER), event });
    }

    /// A node's stream closed: its lane shows it down.
    pub fn node_gone(&mut self, addr: &Addr) {
        if let Some(n) = self.nodes.get_mut(addr) {
            n.up = false;
        }
    }

    /// The view, as `query_servers` answered.
    pub fn set_view(&mut self, epoch: u64, servers: &[Member], rebalancing: bool) {
        let members: Vec<Member> =
            servers.iter().map(|m| Member { id: m.id.clone(), addr: self.name_of(&m.addr) }).collect();
        if epoch != self.epoch || members != self.members {
            self.placement = None;
        }
        self.journal.know_members(members.iter().map(|m| m.id.clone()));
        self.epoch = epoch;
        self.members = members;
        self.rebalancing = rebalancing;
    }

    /// A server's keys, as `query_all_keys` answered.
    pub fn set_keys(&mut self, id: ServerId, mut keys: Vec<String>) {
        keys.sort_unstable();
        if self.holdings.get(&id) != Some(&keys) {
            self.holdings.insert(id, keys);
            self.placement = None;
        }
    }

    /// Keeps the view and the keys up to date from the events alone (a replayed file has no
    /// answers to ask for): joins and failures change the members, a commit puts its key on
    /// the committing server.
    fn learn(&mut self, event: &Event) {
        match event {
            Event::ServerJoined { id, addr, epoch } => {
                let name = self.name_of(addr);
                self.members.retain(|m| &m.id != id);
                self.members.push(Member { id: id.clone(), addr: name });
                self.members.sort_by(|a, b| a.id.cmp(&b.id));
                self.epoch = self.epoch.max(epoch.0);
                self.rebalancing = true;
            }
            Event::ServerFailed { id, epoch } => {
                self.members.retain(|m| &m.id != id);
                self.holdings.remove(id);
                self.epoch = self.epoch.max(epoch.0);
                self.rebalancing = true;
            }
            Event::RebalancingDone { epoch } if epoch.0 == self.epoch => self.rebalancing = false,
            _ => return,
        }
        self.placement = None;
    }

    /// Puts keys a server committed or was sent into its holdings. A live page learns them
    /// from the servers' answers too; a replayed file has only these.
    pub fn received<'k>(&mut self, id: &ServerId, keys: impl IntoIterator<Item = &'k str>) {
        let held = self.holdings.entry(id.clone()).or_default();
        for key in keys {
            if let Err(at) = held.binary_search_by(|k| k.as_str().cmp(key)) {
                held.insert(at, key.to_string());
                self.placement = None;
            }
        }
    }

    /// A server dropped the copies it no longer replicates: those its view does not place on
    /// it.
    fn dropped(&mut self, id: &ServerId) {
        let ring = Ring::new(self.members.iter().map(|m| &m.id), self.vnodes);
        let replicas = self.replicas;
        if let Some(held) = self.holdings.get_mut(id) {
            held.retain(|key| ring.replicas(key, replicas).contains(&id));
            self.placement = None;
        }
    }

    /// The ring: the view's members and every key a server reported holding.
    pub fn placement(&mut self) -> &Placement {
        if self.placement.is_none() {
            let mut holders: BTreeMap<&str, (u64, Vec<ServerId>)> = BTreeMap::new();
            for (id, keys) in &self.holdings {
                for key in keys {
                    holders.entry(key.as_str()).or_insert_with(|| (position(key), Vec::new())).1.push(id.clone());
                }
            }
            self.placement = Some(Placement::build(self.epoch, &self.members, self.vnodes, self.replicas, holders));
        }
        self.placement.get_or_insert_with(Placement::default)
    }

    /// The ring as [`Live::placement`] last computed it.
    pub fn placement_cached(&self) -> &Placement {
        static EMPTY: Placement = Placement {
            generation: 0,
            epoch: 0,
            servers: Vec::new(),
            keys: Vec::new(),
            arcs: Vec::new(),
            outside: Vec::new(),
        };
        self.placement.as_ref().unwrap_or(&EMPTY)
    }

    /// The servers whose stream is open.
    pub fn servers_up(&self) -> Vec<ServerId> {
        self.nodes.values().filter(|n| n.up).filter_map(|n| n.id.clone()).collect()
    }

    /// The diagram's lanes: the view leader, the servers by number, then clients.
    pub fn lanes(&self) -> Vec<(Addr, bool)> {
        let mut lanes: Vec<(Addr, bool)> = self.nodes.values().map(|n| (n.name.clone(), n.up)).collect();
        let rank = |a: &Addr| match a.as_str().chars().next() {
            Some('v') => 0,
            Some('s') => 1,
            _ => 2,
        };
        lanes.sort_by_key(|(a, _)| (rank(a), crate::palette::number(a), a.0.clone()));
        lanes.extend(self.clients.iter().map(|c| (c.clone(), true)));
        lanes
    }
}

impl ClusterFacts for Live {
    fn vnodes(&self) -> u32 {
        self.vnodes
    }

    fn replicas(&self) -> usize {
        self.replicas
    }

    fn holders(&self) -> BTreeMap<String, BTreeSet<ServerId>> {
        let mut holders: BTreeMap<String, BTreeSet<ServerId>> = BTreeMap::new();
        for (id, keys) in &self.holdings {
            for key in keys {
                holders.entry(key.clone()).or_default().insert(id.clone());
            }
        }
        holders
    }

    fn members(&self) -> Vec<ServerId> {
        self.members.iter().map(|m| m.id.clone()).collect()
    }

    fn lane(&self, addr: &Addr) -> Addr {
        self.nodes.get(addr).map_or_else(|| addr.clone(), |n| n.name.clone())
    }
}

fn is_client(addr: &Addr) -> bool {
    addr.as_str().starts_with("client#")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_core::{Epoch, OpId};

    const VL: &str = "127.0.0.1:39000";
    const S1: &str = "127.0.0.1:38000";
    const S2: &str = "127.0.0.1:38001";

    fn rec(t: u64, node: &str, body: serde_json::Value) -> Record {
        let mut v = serde_json::json!({"t": t, "node": node});
        v.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        Record::from_value(v).unwrap()
    }

    fn hello(t: u64, node: &str, role: &str) -> Record {
        rec(t, node, serde_json::json!({"kind": "hello", "role": role, "id": null}))
    }

    fn frame(id: u64, from: Option<&str>, msg: serde_json::Value) -> serde_json::Value {
        let mut f = serde_json::json!({"v": 1, "id": id, "msg": msg});
        if let Some(from) = from {
            f["from"] = from.into();
        }
        f
    }

    fn live() -> Live {
        let mut live = Live::new(vec![Addr::from(VL)], 3, 1);
        live.node(&Addr::from(S1), Some("s1"));
        live.node(&Addr::from(S2), Some("s2"));
        for (node, role) in [(VL, "viewleader"), (S1, "server"), (S2, "server")] {
            live.absorb(hello(1_000, node, role));
        }
        live
    }

    #[test]
    fn a_send_and_its_receive_make_one_delivered_message_in_either_order() {
        let mut live = live();
        let hb = frame(
            7,
            Some(S1),
            serde_json::json!({"cmd": "heartbeat", "id": "ab", "addr": S1, "epoch": 0, "stable": 0, "rebalanced": 0, "sent": 0}),
        );
        live.absorb(rec(2_000, S1, serde_json::json!({"kind": "send", "peer": VL, "frame": hb})));
        live.absorb(rec(2_150, VL, serde_json::json!({"kind": "recv", "peer": S1, "frame": hb})));
        // The other order: the receiver's stream is ahead of the sender's.
        let hb2 = frame(
            8,
            Some(S2),
            serde_json::json!({"cmd": "heartbeat", "id": "cd", "addr": S2, "epoch": 0, "stable": 0, "rebalanced": 0, "sent": 0}),
        );
        live.absorb(rec(3_100, VL, serde_json::json!({"kind": "recv", "peer": S2, "frame": hb2})));
        live.absorb(rec(3_000, S2, serde_json::json!({"kind": "send", "peer": VL, "frame": hb2})));
        let msgs: Vec<_> = live.journal.messages.values().collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert_eq!((msgs[0].from.as_str(), msgs[0].to.as_str()), ("s1", "vl"));
        assert_eq!(msgs[0].sent, Time(100));
        assert_eq!(msgs[0].fate, Fate::Delivered(Time(115)));
        assert_eq!((msgs[1].from.as_str(), msgs[1].to.as_str()), ("s2", "vl"));
        assert_eq!(msgs[1].fate, Fate::Delivered(Time(210)));
        assert_eq!(live.latest, Time::ZERO, "heartbeats are routine: the diagram's moment stays");
    }

    #[test]
    fn an_answer_shows_its_request_delivered_when_the_receivers_stream_missed_it() {
        let mut live = live();
        let s4 = "127.0.0.1:38003";
        live.node(&Addr::from(s4), Some("s4"));
        let transfer = frame(
            5,
            Some(S2),
            serde_json::json!({"cmd": "transfer", "epoch": 4, "items": [{"key": "apple", "value": "red", "version": 1}]}),
        );
        live.absorb(rec(2_000, S2, serde_json::json!({"kind": "send", "peer": s4, "frame": transfer})));
        let mut ack = frame(1, Some(s4), serde_json::json!({"cmd": "transfer_ack", "epoch": 4, "keys": ["apple"]}));
        ack["re"] = 5.into();
        live.absorb(rec(2_300, S2, serde_json::json!({"kind": "recv", "peer": s4, "frame": ack})));
        let sent = live.journal.messages.values().find(|m| matches!(m.msg, Msg::Transfer { .. })).unwrap();
        assert_eq!((sent.from.as_str(), sent.to.as_str()), ("s2", "s4"));
        assert_eq!(sent.fate, Fate::Delivered(Time(130)), "delivered no later than its answer came back");
        // s4's own receive record, when it does come, gives the exact moment.
        live.absorb(rec(2_100, s4, serde_json::json!({"kind": "recv", "peer": S2, "frame": transfer})));
        let sent = live.journal.messages.values().find(|m| matches!(m.msg, Msg::Transfer { .. })).unwrap();
        assert_eq!(sent.fate, Fate::Delivered(Time(110)));
    }

    #[test]
    fn replicas_get_lanes_of_their_own_and_the_centre_says_who_leads() {
        let vls = ["127.0.0.1:39000", "127.0.0.1:39001", "127.0.0.1:39002"].map(Addr::from).to_vec();
        let mut live = Live::new(vls.clone(), 3, 1);
        assert_eq!(live.view_leader_list(), "127.0.0.1:39000,127.0.0.1:39001,127.0.0.1:39002");
        for vl in &vls {
            live.absorb(hello(1_000, vl.as_str(), "viewleader"));
        }
        let names: Vec<String> = live.lanes().into_iter().map(|(a, _)| a.0).collect();
        assert_eq!(names, ["vl1", "vl2", "vl3"]);
        assert_eq!(live.leadership().as_deref(), Some("no replica says it leads"));
        // Each replica's `replica` records are its Raft state, replicas named by their lanes.
        let state = |role: &str, term: u64, leader: &Addr| {
            let state = serde_json::json!({"role": role, "serving": role == "leader", "term": term,
                "vote": leader.as_str(), "leader": leader.as_str(), "me": 1, "replicas": 3, "commit": 2, "last": 3,
                "snapshot": 0, "entries": [{"index": 3, "term": term, "cmd": {"do": "lock_get", "name": "x", "requester": "c1"}}]});
            serde_json::json!({"kind": "replica", "state": state})
        };
        live.absorb(rec(2_000, vls[1].as_str(), state("leader", 2, &vls[1])));
        live.absorb(rec(2_000, vls[0].as_str(), state("follower", 2, &vls[1])));
        assert_eq!(live.leadership().as_deref(), Some("vl2 leads · term 2"));
        let raft = live.nodes[&vls[0]].raft.clone().expect("its state");
        assert_eq!(
            (raft.vote.as_ref().map(Addr::as_str), raft.leader.as_ref().map(Addr::as_str)),
            (Some("vl2"), Some("vl2"))
        );
        assert_eq!((raft.commit, raft.entries.len()), (2, 1));
        live.absorb(rec(3_000, vls[1].as_str(), state("follower", 3, &vls[2])));
        live.absorb(rec(3_100, vls[2].as_str(), state("leader", 3, &vls[2])));
        assert_eq!(live.leadership().as_deref(), Some("vl3 leads · term 3"));
        assert_eq!(Live::new(vec![Addr::from(VL)], 3, 1).leadership(), None);
        // Their own frames are passed over, not drawn, and not taken for errors.
        let append = frame(4, Some(vls[0].as_str()), serde_json::json!({"cmd": "raft", "msg": {"rpc": "append"}}));
        live.absorb(rec(
            3_200,
            vls[2].as_str(),
            serde_json::json!({"kind": "send", "peer": vls[0].as_str(), "frame": append}),
        ));
        assert!(live.journal.messages.is_empty() && live.journal.log.iter().all(|(_, _, l)| !l.contains("record")));
    }

    #[test]
    fn a_watched_clusters_log_names_servers_by_their_lanes() {
        let mut live = live();
        let hb = frame(
            7,
            Some(S2),
            serde_json::json!({"cmd": "heartbeat", "id": "cd", "addr": S2, "epoch": 0, "stable": 0, "rebalanced": 0, "sent": 0}),
        );
        live.absorb(rec(2_000, S2, serde_json::json!({"kind": "send", "peer": VL, "frame": hb})));
        let got = serde_json::json!({"event": "transfer_received", "from": S2, "keys": 2, "stored": 2});
        live.absorb(rec(2_100, S1, serde_json::json!({"kind": "event", "event": got})));
        let sent = serde_json::json!({"event": "transfer_sent", "epoch": 1, "to": "cd", "keys": 2});
        live.absorb(rec(2_200, S2, serde_json::json!({"kind": "event", "event": sent})));
        let lines: Vec<&str> = live.journal.log.iter().map(|(_, _, text)| text.as_str()).collect();
        assert_eq!(lines, ["received 2 copies from s2 (2 new)", "sent 2 copies to s2"]);
    }

    #[test]
    fn the_page_client_is_one_lane_and_its_polling_is_hidden() {
        let mut live = live();
        let get = Frame {
            v: 1,
            id: 3,
            re: None,
            from: None,
            msg: Msg::GetR { op: OpId(1), epoch: Epoch(1), key: "x".into() },
        };
        live.page_send(5_000, &Addr::from(S1), &get, false);
        let poll = Frame { v: 1, id: 4, re: None, from: None, msg: Msg::QueryAllKeys { op: OpId(2) } };
        live.page_send(5_000, &Addr::from(S1), &poll, true);
        for f in [&get, &poll] {
            let f = serde_json::to_value(f).unwrap();
            live.absorb(rec(5_100, S1, serde_json::json!({"kind": "recv", "peer": "client#9", "frame": f})));
        }
        let reply =
            frame(40, Some(S1), serde_json::json!({"cmd": "reply", "op": 2, "result": {"status": "keys", "keys": []}}));
        let mut reply_to_poll = reply.clone();
        reply_to_poll["re"] = 4.into();
        live.absorb(rec(5_200, S1, serde_json::json!({"kind": "send", "peer": "client#9", "frame": reply_to_poll})));
        let msgs: Vec<_> = live.journal.messages.values().collect();
        assert_eq!(msgs.len(), 1, "only the getr is drawn: {msgs:?}");
        assert_eq!((msgs[0].from.as_str(), msgs[0].to.as_str()), (BROWSER, "s1"));
        assert_eq!(msgs[0].fate, Fate::Delivered(Time(410)));
        assert!(live.lanes().iter().any(|(a, _)| a.as_str() == BROWSER));
        assert!(!live.lanes().iter().any(|(a, _)| a.as_str() == "client#9" || a.as_str() == CLIENTS));
    }

    #[test]
    fn an_unwatched_client_gets_a_lane_of_its_own() {
        let mut live = live();
        let set = frame(2, None, serde_json::json!({"cmd": "set", "op": 1, "key": "k", "value": "v"}));
        live.absorb(rec(9_000, S1, serde_json::json!({"kind": "recv", "peer": "client#4", "frame": set})));
        let m = live.journal.messages.values().next().expect("drawn");
        assert_eq!((m.from.as_str(), m.to.as_str()), (CLIENTS, "s1"));
        assert!(matches!(m.fate, Fate::Delivered(_)));
        let at = live.clock(9_000);
        assert_eq!(live.latest, at);
    }

    #[test]
    fn events_change_the_view_and_are_logged() {
        let mut live = live();
        let joined = serde_json::json!({"kind": "event", "event": {"event": "server_joined", "id": "ab", "addr": S1, "epoch": 1}});
        live.absorb(rec(4_000, VL, joined));
        assert_eq!(live.epoch, 1);
        assert_eq!(live.members, vec![Member { id: ServerId::from("ab"), addr: Addr::from("s1") }]);
        assert!(
            live.journal.log.iter().any(|(_, node, text)| node == "vl" && text.contains("joined")),
            "{:?}",
            live.journal.log
        );
        live.set_keys(ServerId::from("ab"), vec!["x".into()]);
        let p = live.placement();
        assert_eq!(p.servers.len(), 1);
        assert_eq!(p.keys.len(), 1);
        assert!(p.keys[0].placed);
        let failed = serde_json::json!({"kind": "event", "event": {"event": "server_failed", "id": "ab", "epoch": 2}});
        live.absorb(rec(5_000, VL, failed));
        assert!(live.members.is_empty());
        assert!(live.placement().keys.is_empty());
    }

    #[test]
    fn old_messages_and_matches_are_forgotten_beyond_a_bound() {
        let mut live = live();
        for i in 0..(MESSAGES_KEPT as u64 + 10) {
            let hb = frame(
                i + 1,
                Some(S1),
                serde_json::json!({"cmd": "heartbeat", "id": "ab", "addr": S1, "epoch": 0, "stable": 0, "rebalanced": 0, "sent": 0}),
            );
            live.absorb(rec(2_000 + i, S1, serde_json::json!({"kind": "send", "peer": VL, "frame": hb})));
        }
        assert_eq!(live.journal.messages.len(), MESSAGES_KEPT);
        assert_eq!(live.sent.map.len(), MESSAGES_KEPT);
        assert!(!live.sent.contains(&(Addr::from("s1"), 1)), "the oldest send is forgotten");
        assert!(live.sent.contains(&(Addr::from("s1"), MESSAGES_KEPT as u64 + 10)));
    }

    #[test]
    fn a_command_line_clients_transaction_is_read_off_its_participants() {
        let mut live = live();
        let participants = serde_json::json!([{"id": "ab", "addr": S1}, {"id": "cd", "addr": S2}]);
        let tx = serde_json::json!({"client": 7, "seq": 1});
        for (t, node, server) in [(6_000, S1, "ab"), (6_010, S2, "cd")] {
            let prepare = frame(
                t,
                None,
                serde_json::json!({"cmd": "prepare", "tx": tx, "epoch": 2, "server": server, "key": "k", "value": "v", "participants": participants, "secret": "hidden"}),
            );
            live.absorb(rec(t, node, serde_json::json!({"kind": "recv", "peer": "client#2", "frame": prepare})));
        }
        let row = live.journal.recent_txs().next().expect("a row for the transaction");
        assert_eq!(row.coordinator.as_str(), CLIENTS);
        let names: Vec<&str> = row.participants.iter().map(|(_, lane, _)| lane.as_str()).collect();
        assert_eq!(names, ["s1", "s2"], "participants are named by their lanes");
        assert_eq!(row.decided, crate::model::TxPhase::Init);
        for node in [S1, S2] {
            let committed = serde_json::json!({"kind": "event", "event": {"event": "committed", "tx": tx, "key": "k", "version": 1}});
            live.absorb(rec(7_000, node, committed));
        }
        let row = live.journal.recent_txs().next().unwrap();
        assert_eq!(row.decided, crate::model::TxPhase::Commit, "a participant commits only after the decision");
        assert!(row.finished());
    }
}
