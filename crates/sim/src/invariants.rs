//! The invariants, checked after every step (and at rest), each violation named with the step
//! and the seed that reproduce it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ringside_core::ring::Ring;
use ringside_core::{Addr, Epoch, Event, Member, OpError, OpOutput, ServerId, Time, TxId, ViewLeader};

#[cfg(not(target_arch = "wasm32"))]
use crate::consensus::Consensus;
use crate::history::History;
use crate::slot::{Role, Slot};

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The run's seed.
    pub seed: u64,
    /// The step after which it was found.
    pub step: u64,
    /// Virtual time.
    pub time: Time,
    /// Which invariant.
    pub invariant: &'static str,
    /// What exactly.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: invariant `{}` broken at step {} ({}): {}",
            self.seed, self.invariant, self.step, self.time, self.detail
        )
    }
}

/// The view leader the cluster hears: the replica serving as leader in the newest term, or
/// else the live replica with the newest term (a lone view leader is always it).
pub(crate) fn view_leader(nodes: &BTreeMap<Addr, Slot>, now: Time) -> Option<&ViewLeader> {
    let live = nodes.values().filter_map(|s| match &s.role {
        Some(Role::ViewLeader(vl)) => Some(vl),
        _ => None,
    });
    let term = |vl: &ViewLeader| vl.replica().map_or(0, |r| r.term().0);
    live.max_by_key(|vl| (serving(vl, now), term(vl)))
}

/// Whether `vl` answers at `now`: a lone view leader always, a replica while it leads with a
/// lease (by the world's clock, which may be ahead of the last time it was handed).
pub(crate) fn serving(vl: &ViewLeader, now: Time) -> bool {
    vl.replica().is_none_or(|r| r.serving_at(now))
}

/// Watches a run. Only the first violation is kept: later ones are usually its echoes.
#[derive(Clone, Debug)]
pub struct Checker {
    seed: u64,
    replicas: usize,
    vnodes: u32,
    violation: Option<Violation>,
    vl_epoch: Epoch,
    /// The membership of every epoch the view leader had.
    views: BTreeMap<Epoch, Vec<Member>>,
    server_epochs: BTreeMap<ServerId, Epoch>,
    /// Who holds each lock, as the clients were told.
    lock_holders: BTreeMap<String, Addr>,
    /// Per client and lock, its releases still running and when the last one finished.
    releases: BTreeMap<(Addr, String), (u32, Time)>,
    #[cfg(not(target_arch = "wasm32"))]
    consensus: Consensus,
    yes_votes: BTreeMap<TxId, BTreeSet<ServerId>>,
    decided: BTreeMap<TxId, bool>,
    committed: BTreeSet<TxId>,
    aborted: BTreeSet<TxId>,
    /// Per key, a time before which acknowledged writes may be lost: every server holding its
    /// newest copy crashed then (R replicas failed between completed rebalances).
    lost_before: BTreeMap<String, Time>,
}

impl Checker {
    /// A checker for a run with this seed and placement settings.
    pub fn new(seed: u64, replicas: usize, vnodes: u32) -> Self {
        let mut views = BTreeMap::new();
        views.insert(Epoch(0), Vec::new());
        Checker {
            seed,
            replicas,
            vnodes,
            violation: None,
            vl_epoch: Epoch(0),
            views,
            server_epochs: BTreeMap::new(),
            lock_holders: BTreeMap::new(),
            releases: BTreeMap::new(),
            #[cfg(not(target_arch = "wasm32"))]
            consensus: Consensus::default(),
            yes_votes: BTreeMap::new(),
            decided: BTreeMap::new(),
            committed: BTreeSet::new(),
            aborted: BTreeSet::new(),
            lost_before: BTreeMap::new(),
        }
    }

    /// Keys whose every up-to-date copy was lost, with when the last one went.
    pub fn lost_keys(&self) -> &BTreeMap<String, Time> {
        &self.lost_before
    }

    /// The first violation seen.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    fn fail(&mut self, time: Time, step: u64, invariant: &'static str, detail: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation { seed: self.seed, step, time, invariant, detail });
        }
    }

    /// A server is gone for the cluster: its process is about to die (called while its memory
    /// is still there), or the view leader declared it failed. A key whose newest copy goes
    /// with it has lost every replica that had it: writes to it acknowledged before now are no
    /// longer owed.
    pub fn server_gone(&mut self, now: Time, node: &Addr, nodes: &BTreeMap<Addr, Slot>) {
        let Some(Some(Role::Server(gone))) = nodes.get(node).map(|s| &s.role) else { return };
        let leader = view_leader(nodes, now);
        let failed = leader.map(ViewLeader::failed);
        // A stray of the stable view — a holder outside the key's replicas there — drops its
        // copy as soon as it hears that view is fully rebalanced, which says every replica had
        // it: it keeps the key only until then (and until a write it has prepared there is
        // decided), so it is no survivor. With the stable view's
        // replicas all gone, the key has lost its replica set (R failures between completed
        // rebalances), which the spec allows.
        let stable =
            leader.map(|vl| (vl.stable().epoch, Ring::new(vl.stable().members.iter().map(|m| &m.id), self.vnodes)));
        for (key, entry) in gone.bucket() {
            let stable_replicas =
                stable.as_ref().map(|(epoch, ring)| (*epoch, ring.replicas_at(entry.pos, self.replicas)));
            let doomed = |s: &ringside_core::Server, placed: Epoch| {
                stable_replicas
                    .as_ref()
                    .is_some_and(|(epoch, replicas)| placed <= *epoch && !replicas.contains(&s.id()))
            };
            let survives = nodes.iter().any(|(addr, slot)| {
                addr != node
                    && matches!(&slot.role, Some(Role::Server(s))
                        if !failed.is_some_and(|f| f.contains(s.id()))
                            && s.bucket().get(key).is_some_and(|e| e.version >= entry.version && !doomed(s, e.placed)))
            });
            if !survives {
                self.lost_before.insert(key.clone(), now);
            }
        }
        // A prepared transaction holds the newest value too: it dies with the server unless
        // another participant still has it prepared, or it was committed somewhere.
        for p in gone.pending() {
            let elsewhere = self.committed.contains(&p.tx)
                || nodes.iter().any(|(addr, slot)| {
                    addr != node
                        && matches!(&slot.role, Some(Role::Server(s))
                            if !failed.is_some_and(|f| f.contains(s.id())) && s.pending().any(|q| q.tx == p.tx))
                });
            if !elsewhere {
                self.lost_before.insert(p.key.clone(), now);
            }
        }
    }

    /// A role's event.
    pub fn observe(&mut self, now: Time, step: u64, node: &Addr, event: &Event, nodes: &BTreeMap<Addr, Slot>) {
        match event {
            Event::ServerFailed { id, .. } => {
                let addr = nodes.iter().find_map(|(a, slot)| match &slot.role {
                    Some(Role::Server(s)) if s.id() == id => Some(a.clone()),
                    _ => None,
                });
                if let Some(addr) = addr {
                    self.server_gone(now, &addr, nodes);
                }
            }
            Event::Voted { tx, yes: true, .. } => {
                if let Some(Some(Role::Server(s))) = nodes.get(node).map(|slot| &slot.role) {
                    self.yes_votes.entry(*tx).or_default().insert(s.id().clone());
                }
            }
            Event::TxDecided { tx, commit, participants, .. } => {
                if *commit {
                    let yes = self.yes_votes.get(tx);
                    let missing: Vec<&ServerId> =
                        participants.iter().filter(|p| !yes.is_some_and(|y| y.contains(*p))).collect();
                    if !missing.is_empty() {
                        let detail = format!("{tx} decided commit without a yes vote from {}", ids(missing));
                        self.fail(now, step, "commit needs every yes vote", detail);
                    }
                }
                self.decided.insert(*tx, *commit);
            }
            Event::Committed { tx, .. } => {
                if self.aborted.contains(tx) {
                    self.fail(now, step, "2PC atomicity", format!("{tx} committed at {node} but aborted elsewhere"));
                }
                if self.decided.get(tx) != Some(&true) {
                    self.fail(
                        now,
                        step,
                        "2PC atomicity",
                        format!("{tx} committed at {node} without a commit decision"),
                    );
                }
                self.committed.insert(*tx);
            }
            Event::Aborted { tx, .. } => {
                if self.committed.contains(tx) {
                    self.fail(now, step, "2PC atomicity", format!("{tx} aborted at {node} but committed elsewhere"));
                }
                self.aborted.insert(*tx);
            }
            _ => {}
        }
    }

    /// A client asked to release a lock: it may be free from now on, before the answer comes.
    pub fn lock_released(&mut self, now: Time, client: &Addr, name: &str) {
        if self.lock_holders.get(name) == Some(client) {
            self.lock_holders.remove(name);
        }
        self.releases.entry((client.clone(), name.to_string())).or_insert((0, now)).0 += 1;
    }

    /// A client's lock command finished: no two clients may be told they hold one lock at
    /// once. A client that died keeps what it held, as the view leader does. A grant while a
    /// release of the same client ran may already be undone, so it proves nothing about who
    /// holds the lock.
    pub fn lock_done(
        &mut self,
        now: Time,
        step: u64,
        client: &Addr,
        name: &str,
        (get, invoked): (bool, Time),
        result: &Result<OpOutput, OpError>,
    ) {
        let releases = self.releases.entry((client.clone(), name.to_string())).or_insert((0, Time::ZERO));
        if !get {
            releases.0 = releases.0.saturating_sub(1);
            releases.1 = now;
        }
        // A release that ran at any time during this get.
        let released_since = releases.0 > 0 || releases.1 >= invoked;
        match (get, result) {
            (true, Ok(OpOutput::Granted)) if released_since => {}
            (true, Ok(OpOutput::Granted)) => {
                if let Some(holder) = self.lock_holders.get(name).filter(|h| *h != client) {
                    let detail = format!("{client} was granted lock {name} while {holder} holds it");
                    self.fail(now, step, "one holder per lock", detail);
                }
                self.lock_holders.insert(name.to_string(), client.clone());
            }
            _ => {}
        }
    }

    /// The checks after every step.
    pub fn after_step(&mut self, now: Time, step: u64, nodes: &BTreeMap<Addr, Slot>) {
        // The page runs a lone view leader only; its wasm is held to 450 KB gzipped.
        #[cfg(not(target_arch = "wasm32"))]
        let mut problems = self.consensus.after_step(now, nodes);
        #[cfg(target_arch = "wasm32")]
        let mut problems = Vec::new();
        // The epoch the cluster hears grows, across failovers too. A replica deposed without
        // knowing it may answer from an older state until it steps down; servers ignore it.
        if let Some(vl) = view_leader(nodes, now).filter(|vl| serving(vl, now)) {
            if vl.epoch() < self.vl_epoch {
                problems.push((
                    "epochs only grow",
                    format!("view leader went from epoch {} to {}", self.vl_epoch, vl.epoch()),
                ));
            }
            self.vl_epoch = vl.epoch();
        }
        for slot in nodes.values() {
            match &slot.role {
                // Every replica applies the same changes: one membership per epoch.
                Some(Role::ViewLeader(vl)) => {
                    let members = self.views.entry(vl.epoch()).or_insert_with(|| vl.view().members.clone());
                    if *members != vl.view().members {
                        let detail = format!(
                            "epoch {} had {} members, and now {}",
                            vl.epoch(),
                            members.len(),
                            vl.view().members.len()
                        );
                        problems.push(("one view per epoch", detail));
                    }
                }
                Some(Role::Server(s)) => {
                    let epoch = s.view().epoch;
                    let last = self.server_epochs.entry(s.id().clone()).or_insert(epoch);
                    if epoch < *last {
                        problems.push((
                            "epochs only grow",
                            format!("server {} went from epoch {} to {}", s.id(), last, epoch),
                        ));
                    }
                    *last = epoch;
                    for view in [s.view(), s.stable_view()] {
                        if let Some(members) = self.views.get(&view.epoch).filter(|m| **m != view.members) {
                            let detail = format!(
                                "server {} has a view of epoch {} unlike the view leader's ({} vs {} servers)",
                                s.id(),
                                view.epoch,
                                view.members.len(),
                                members.len()
                            );
                            problems.push(("same placement for the same view", detail));
                        }
                    }
                    // Placement is a pure function of the view: spot-check it on a probe key.
                    if step % 97 == 0 && !s.view().members.is_empty() {
                        let key = format!("probe-{step}");
                        let expect = Ring::new(s.view().members.iter().map(|m| &m.id), self.vnodes)
                            .replicas(&key, self.replicas)
                            .into_iter()
                            .cloned()
                            .collect::<Vec<_>>();
                        if s.placement(&key) != expect {
                            problems.push((
                                "same placement for the same view",
                                format!("server {} places {key} differently", s.id()),
                            ));
                        }
                    }
                }
                Some(Role::Client(c)) => {
                    if let Some(epoch) = c.cached_epoch() {
                        if self.views.get(&epoch).is_some_and(|m| m.as_slice() != c.cached_servers()) {
                            problems.push((
                                "same placement for the same view",
                                format!("client {} caches a different view of epoch {epoch}", c.name()),
                            ));
                        }
                    }
                }
                None => {}
            }
        }
        for (invariant, detail) in problems {
            self.fail(now, step, invariant, detail);
        }
    }

    /// The checks for a world at rest.
    pub fn at_rest(&mut self, now: Time, step: u64, nodes: &BTreeMap<Addr, Slot>, history: &History) {
        // Only a serving leader's view is the cluster's; without one the world is not at rest.
        let Some(vl) = view_leader(nodes, now).filter(|vl| serving(vl, now)) else { return };
        let view = vl.view().clone();
        let ring = Ring::new(view.members.iter().map(|m| &m.id), self.vnodes);
        let servers: Vec<&ringside_core::Server> = nodes
            .values()
            .filter_map(|s| match &s.role {
                Some(Role::Server(srv)) if view.contains(srv.id()) => Some(srv),
                _ => None,
            })
            .collect();
        // A key with an undecided transaction is exempt: 2PC may block it for good.
        let blocked: BTreeSet<&str> = servers.iter().flat_map(|s| s.pending().map(|p| p.key.as_str())).collect();
        let mut holders: BTreeMap<&str, BTreeSet<&ServerId>> = BTreeMap::new();
        for s in &servers {
            for key in s.bucket().keys() {
                holders.entry(key.as_str()).or_default().insert(s.id());
            }
        }
        let mut problems = Vec::new();
        for (key, held_by) in &holders {
            if blocked.contains(key) {
                continue;
            }
            let want: BTreeSet<&ServerId> = ring.replicas(key, self.replicas).into_iter().collect();
            if *held_by != want {
                problems.push((
                    "at rest every key lives exactly on its replicas",
                    format!("{key} is on {}, its replicas are {}", ids(held_by.iter().copied()), ids(want)),
                ));
                break;
            }
        }
        // A write still in progress when its last up-to-date replica went is not protected.
        for (key, (version, invoked_at)) in history.acknowledged() {
            if self.lost_before.get(&key).is_some_and(|t| invoked_at <= *t) || blocked.contains(key.as_str()) {
                continue;
            }
            let best = servers.iter().filter_map(|s| s.bucket().get(&key).map(|e| e.version)).max();
            if best.is_none_or(|b| b < version) {
                problems.push((
                    "no acknowledged write lost",
                    format!(
                        "{key} was written at version {version} (invoked at {invoked_at}), now {}",
                        best.map_or("held nowhere".to_string(), |b| format!("at version {b}"))
                    ),
                ));
                break;
            }
        }
        for (invariant, detail) in problems {
            self.fail(now, step, invariant, detail);
        }
    }
}

/// Server ids in a report, in words (`5e41ab08, 778b1aa9`, or `none`).
fn ids<'a>(ids: impl IntoIterator<Item = &'a ServerId>) -> String {
    let ids: Vec<&str> = ids.into_iter().map(ServerId::as_str).collect();
    if ids.is_empty() {
        return "none".into();
    }
    ids.join(", ")
}
