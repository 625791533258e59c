//! The seed sweep: per seed a random cluster, workload and fault mix; invariants after every
//! step, the placement and durability checks at rest, and linearizability of the history.

use ringside_core::{Addr, CommitProtocol, Rng, ServerId, Time};

use crate::action::{Action, During};
use crate::config::{Faults, SimConfig};
use crate::linearize;
use crate::world::{Sim, Transition, VIEW_LEADER};

/// Virtual time during which the workload and faults happen (ms).
const WORKLOAD_MS: u64 = 12_000;
/// How long the world may take to come to rest once faults stop (ms).
const SETTLE_MS: u64 = 30_000;

/// What one seed's run found.
#[derive(Clone, Debug)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// Replicated operations issued.
    pub ops: usize,
    /// Messages delivered.
    pub deliveries: u64,
    /// The first problem: a broken invariant, a world that never came to rest, or a history
    /// that is not linearizable.
    pub violation: Option<String>,
    /// Whether the problem was a linearizability failure.
    pub nonlinearizable: bool,
    /// The longest a participant waited past its decision timeout for a decision it got (ms).
    pub longest_late_ms: u64,
    /// Participants still undecided at the end: blocked transactions.
    pub blocked: usize,
    /// Replicated operations invoked inside a transition.
    pub in_transition: Transition,
}

/// What a sweep varies besides the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The servers' commit protocol.
    pub commit: CommitProtocol,
    /// View-leader replicas: with more than one, they crash (and restart from their disks),
    /// stall and are cut off too, the leader most of all.
    pub view_leaders: usize,
    /// Servers join and fail every few hundred milliseconds all through the workload, so that
    /// most operations land inside a transition, on keys whose copies are moving.
    pub churn: bool,
}

impl Default for Variant {
    fn default() -> Self {
        Variant { commit: CommitProtocol::Paxos, view_leaders: 1, churn: false }
    }
}

/// With churn, the pause between two membership changes (ms).
const CHURN_GAP_MS: (u64, u64) = (60, 300);

/// A fault of a view-leader replica, aimed when it comes (at the leader, most often).
#[derive(Clone, Copy, Debug)]
pub struct ReplicaFault {
    /// When (virtual ms).
    pub at: u64,
    /// What.
    pub kind: ReplicaFaultKind,
}

/// What happens to the replica.
#[derive(Clone, Copy, Debug)]
pub enum ReplicaFaultKind {
    /// It crashes and restarts from its disk this much later (ms).
    Crash(u64),
    /// It is paused for this long (ms).
    Stall(u64),
    /// It is cut off from everyone for this long (ms).
    Cut(u64),
}

fn pick<T: Copy>(rng: &mut Rng, options: &[T]) -> T {
    options[rng.range(0, options.len() as u64 - 1) as usize]
}

/// The world and script of a seed, before running, with Paxos Commit.
pub fn setup(seed: u64, trace: bool) -> (Sim, Vec<String>) {
    setup_with(seed, trace, CommitProtocol::Paxos)
}

/// [`setup`], the servers running `commit`.
pub fn setup_with(seed: u64, trace: bool, commit: CommitProtocol) -> (Sim, Vec<String>) {
    let (sim, keys, _) = setup_variant(seed, trace, Variant { commit, ..Variant::default() });
    (sim, keys)
}

/// The world and script of a seed for `variant`, with the view-leader replicas' faults (drawn
/// from a generator of their own, so a seed's other choices are the same with one replica).
pub fn setup_variant(seed: u64, trace: bool, variant: Variant) -> (Sim, Vec<String>, Vec<ReplicaFault>) {
    let commit = variant.commit;
    let mut rng = Rng::new(seed ^ 0x5eed_5eed_5eed_5eed);
    let servers = rng.range(1, 7) as u32;
    let clients = rng.range(2, 4) as u32;
    let mut config = SimConfig::new(seed);
    config.trace = trace;
    config.commit = commit;
    config.view_leaders = variant.view_leaders;
    config.vnodes = pick(&mut rng, &[1, 1, 4]);
    config.latency_ms = (1, rng.range(3, 40));
    config.faults = Faults {
        drop_ppm: pick(&mut rng, &[0, 5_000, 20_000, 50_000]),
        duplicate_ppm: pick(&mut rng, &[0, 10_000, 30_000]),
        delay_ppm: pick(&mut rng, &[0, 30_000]),
        delay_ms: rng.range(100, 600),
    };
    let mut sim = Sim::with_cluster(config, servers as usize, clients as usize);
    let keys: Vec<String> = (0..rng.range(2, 8)).map(|i| format!("k{i}")).collect();
    let client = |rng: &mut Rng| Addr(format!("c{}", rng.range(1, u64::from(clients))));

    let ops = rng.range(30, 120);
    for n in 0..ops {
        let at = Time(rng.range(800, WORKLOAD_MS));
        let c = client(&mut rng);
        let roll = rng.range(0, 99);
        let action = if roll < 45 {
            let key = keys[rng.range(0, keys.len() as u64 - 1) as usize].clone();
            Action::setr(c, key, format!("v{n}"))
        } else if roll < 85 {
            let key = keys[rng.range(0, keys.len() as u64 - 1) as usize].clone();
            Action::getr(c, key)
        } else if roll < 93 {
            Action::lock_get(c, pick(&mut rng, &["L1", "L2"]).into())
        } else {
            Action::lock_release(c, pick(&mut rng, &["L1", "L2"]).into())
        };
        sim.schedule(at, action);
    }

    let mut servers_started = servers;
    for _ in 0..rng.range(0, 5) {
        let at = rng.range(1_000, WORKLOAD_MS);
        match rng.range(0, 9) {
            0..=3 => {
                let node = Addr(format!("s{}", rng.range(1, u64::from(servers_started))));
                sim.schedule(Time(at), Action::Crash { node: node.clone() });
                if rng.chance(600_000) {
                    sim.schedule(Time((at + rng.range(300, 4_000)).min(WORKLOAD_MS)), Action::Restart { node });
                }
            }
            4..=5 => {
                servers_started += 1;
                sim.schedule(Time(at), Action::AddServer);
            }
            6..=7 => {
                let mut side: Vec<Addr> = Vec::new();
                for n in 1..=servers_started {
                    if rng.chance(400_000) {
                        side.push(Addr(format!("s{n}")));
                    }
                }
                for n in 1..=clients {
                    if rng.chance(300_000) {
                        side.push(Addr(format!("c{n}")));
                    }
                }
                sim.schedule(Time(at), Action::Partition { side });
                sim.schedule(Time((at + rng.range(300, 3_000)).min(WORKLOAD_MS)), Action::Heal);
            }
            _ => {
                let node = client(&mut rng);
                sim.schedule(Time(at), Action::Crash { node: node.clone() });
                sim.schedule(Time((at + rng.range(200, 2_000)).min(WORKLOAD_MS)), Action::Restart { node });
            }
        }
    }
    // Paused processes: the view leader and servers for up to three failure timeouts (past
    // their leases), clients in the middle of whatever they were doing.
    let pause_ms = 3 * sim.config().timing.failure_timeout_ms;
    for _ in 0..rng.range(0, 2) {
        let at = rng.range(1_000, WORKLOAD_MS - pause_ms);
        let node = match rng.range(0, 2) {
            0 => Addr::from(VIEW_LEADER),
            1 => Addr(format!("s{}", rng.range(1, u64::from(servers_started)))),
            _ => client(&mut rng),
        };
        sim.schedule(Time(at), Action::Stall { node, ms: rng.range(50, pause_ms) });
    }
    // Clients dying inside a transaction: part-way through its prepares, or while telling its
    // decision (after none, some or all of it); each comes back as a fresh process.
    for _ in 0..rng.range(0, 2) {
        let at = rng.range(800, WORKLOAD_MS);
        let during = if rng.chance(500_000) { During::Prepare } else { During::Decision };
        let (node, after) = (client(&mut rng), rng.range(0, 3) as u32);
        sim.schedule(Time(at), Action::CrashInTransaction { client: node.clone(), during, after });
        sim.schedule(Time((at + rng.range(500, 3_000)).min(WORKLOAD_MS)), Action::Restart { node });
    }
    if variant.churn {
        churn(&mut sim, &mut Rng::new(seed ^ 0xc4a2_c4a2_c4a2_c4a2), servers, servers_started);
    }
    let mut faults = Vec::new();
    if variant.view_leaders > 1 {
        let mut rng = Rng::new(seed ^ 0x0de1_ead5_0de1_ead5);
        let failure_ms = sim.config().timing.failure_timeout_ms;
        for _ in 0..rng.range(1, 5) {
            let at = rng.range(1_000, WORKLOAD_MS - 1_000);
            let kind = match rng.range(0, 5) {
                0..=2 => ReplicaFaultKind::Crash(rng.range(200, 4_000)),
                3 => ReplicaFaultKind::Stall(rng.range(50, 3 * failure_ms)),
                _ => ReplicaFaultKind::Cut(rng.range(100, 2 * failure_ms)),
            };
            faults.push(ReplicaFault { at, kind });
        }
        faults.sort_by_key(|f| f.at);
    }
    (sim, keys, faults)
}

/// Schedules a membership change every few hundred milliseconds of the workload: mostly joins
/// and crashes (some coming back as fresh processes), keeping at least two servers up by the
/// script's count. `servers` are up at the start; `started` is the highest server number the
/// script used so far. Drawn from a generator of its own, so a seed's other choices stay.
fn churn(sim: &mut Sim, rng: &mut Rng, servers: u32, started: u32) {
    let (mut up, mut started) = (servers, started);
    let mut at = 800;
    while at < WORKLOAD_MS {
        at += rng.range(CHURN_GAP_MS.0, CHURN_GAP_MS.1);
        if up <= 2 || rng.chance(550_000) {
            started += 1;
            up += 1;
            sim.schedule(Time(at), Action::AddServer);
        } else {
            let node = Addr(format!("s{}", rng.range(1, u64::from(started))));
            sim.schedule(Time(at), Action::Crash { node: node.clone() });
            up -= 1;
            if rng.chance(300_000) {
                sim.schedule(Time((at + rng.range(200, 1_500)).min(WORKLOAD_MS)), Action::Restart { node });
                up += 1;
            }
        }
    }
}

/// Throws `fault` now at the replica that leads (three times in five) or at any replica.
fn throw(sim: &mut Sim, rng: &mut Rng, fault: ReplicaFault) {
    let replicas = sim.view_leader_addrs().to_vec();
    let leader = sim.view_leaders().find(|(_, vl)| vl.leads()).map(|(a, _)| a.clone());
    let node = match leader {
        Some(leader) if rng.chance(600_000) => leader,
        _ => replicas[rng.range(0, replicas.len() as u64 - 1) as usize].clone(),
    };
    let until = |ms: u64| Time((fault.at + ms).min(WORKLOAD_MS));
    match fault.kind {
        ReplicaFaultKind::Crash(ms) => {
            sim.act(Action::Crash { node: node.clone() });
            sim.schedule(until(ms), Action::Restart { node });
        }
        ReplicaFaultKind::Stall(ms) => {
            sim.act(Action::Stall { node, ms });
        }
        ReplicaFaultKind::Cut(ms) => {
            sim.act(Action::Partition { side: vec![node] });
            sim.schedule(until(ms), Action::Heal);
        }
    }
}

/// Runs one seed to the end and checks everything; `trace` keeps the trace for narration.
pub fn run_seed(seed: u64, trace: bool) -> (SeedOutcome, Sim) {
    run_seed_with(seed, trace, CommitProtocol::Paxos)
}

/// [`run_seed`], the servers running `commit`.
pub fn run_seed_with(seed: u64, trace: bool, commit: CommitProtocol) -> (SeedOutcome, Sim) {
    run_variant(seed, trace, Variant { commit, ..Variant::default() })
}

/// [`run_seed`] for `variant`.
pub fn run_variant(seed: u64, trace: bool, variant: Variant) -> (SeedOutcome, Sim) {
    let (mut sim, keys, faults) = setup_variant(seed, trace, variant);
    let mut aim = Rng::new(seed ^ 0xa1b2_c3d4_e5f6_0789);
    for fault in faults {
        sim.run_until(Time(fault.at));
        throw(&mut sim, &mut aim, fault);
    }
    sim.run_until(Time(WORKLOAD_MS));
    // Faults stop; the world must come to rest by itself.
    sim.act(Action::SetFaults { faults: Faults::default() });
    sim.act(Action::Heal);
    if sim.servers().next().is_none() {
        sim.act(Action::AddServer);
    }
    for node in sim.view_leader_addrs().to_vec() {
        if sim.view_leaders().all(|(a, _)| *a != node) {
            sim.act(Action::Restart { node });
        }
    }
    let limit = sim.now() + SETTLE_MS;
    let rested = sim.run_while_not(limit, |s| s.settled());

    // A fresh client reads every key, so a lost write shows up as a non-linearizable read.
    sim.act(Action::AddClient);
    let reader = sim.clients().last().map(|(a, _)| a.clone());
    if let Some(reader) = &reader {
        for key in &keys {
            sim.act(Action::getr(reader.clone(), key.clone()));
        }
    }
    let limit = sim.now() + SETTLE_MS;
    sim.run_while_not(limit, |s| {
        s.clients().find(|(a, _)| Some(*a) == reader.as_ref()).is_none_or(|(_, c)| c.ops_in_flight() == 0)
    });
    let limit = sim.now() + SETTLE_MS;
    let rested = rested && sim.run_while_not(limit, |s| s.settled());
    sim.check_at_rest();

    let (longest_late_ms, blocked, _) = sim.late_decisions();
    let mut outcome = SeedOutcome {
        seed,
        ops: sim.history().len(),
        deliveries: sim.deliveries(),
        violation: None,
        nonlinearizable: false,
        longest_late_ms,
        blocked,
        in_transition: sim.in_transition(),
    };
    if let Some(v) = sim.violation() {
        outcome.violation = Some(v.to_string());
    } else if let Some(stuck) = undecided_with_a_majority(&sim) {
        outcome.violation = Some(format!("seed {seed}: {stuck}"));
    } else if !rested {
        outcome.violation =
            Some(format!("seed {seed}: the world did not come to rest within {SETTLE_MS} ms after faults stopped"));
    } else if let Err(v) = linearize::check(&linearizable_part(&sim)) {
        outcome.nonlinearizable = true;
        let ops: Vec<String> = v
            .ops
            .iter()
            .map(|o| {
                format!(
                    "  client {} [{}, {}] {:?}",
                    o.client,
                    o.call,
                    o.ret.map_or("-".into(), |r| r.to_string()),
                    o.kind
                )
            })
            .collect();
        outcome.violation = Some(format!(
            "seed {seed}: history of key {} is not linearizable ({} ops):\n{}",
            v.key,
            v.ops.len(),
            ops.join("\n")
        ));
    }
    (outcome, sim)
}

/// Decision timeouts a participant may wait past its own, counted from when faults stop at
/// the latest, before Paxos Commit must have decided its transaction if a majority of the
/// participants live: a blocked transaction's takeover comes every four decision timeouts,
/// and one more covers its round's messages.
const BLOCKED_BOUND_ROUNDS: u64 = 5;

/// With Paxos Commit, a participant of a member still waiting past the bound although a
/// majority of its transaction's participants are alive: only the loss of a majority may
/// block one.
fn undecided_with_a_majority(sim: &Sim) -> Option<String> {
    if sim.config().commit != CommitProtocol::Paxos {
        return None;
    }
    let bound = BLOCKED_BOUND_ROUNDS * sim.config().timing.decision_timeout_ms;
    let view = sim.view_leader().view();
    let alive = |id: &ServerId| sim.servers().any(|(_, s)| s.id() == id);
    sim.servers().filter(|(_, s)| view.contains(s.id())).find_map(|(at, s)| {
        s.pending().find_map(|p| {
            let since = sim.late_since(at, &p.tx)?.0.max(WORKLOAD_MS);
            let waited = sim.now().0.saturating_sub(since);
            let live = p.participants.iter().filter(|m| alive(&m.id)).count();
            (waited > bound && 2 * live > p.participants.len()).then(|| {
                format!(
                    "{} is still undecided at {at} ({}) {waited} ms after faults stopped, with {live} of its {} \
                     participants alive",
                    p.tx,
                    p.key,
                    p.participants.len(),
                )
            })
        })
    })
}

/// The history minus keys whose every up-to-date copy was lost: the spec allows that loss once
/// R replicas fail between completed rebalances, and a register that forgot is not one.
fn linearizable_part(sim: &Sim) -> Vec<linearize::HistoryOp> {
    let lost = sim.lost_keys();
    sim.history().ops().into_iter().filter(|op| !lost.contains_key(&op.key)).collect()
}
