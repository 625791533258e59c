//! Copies moved per view change against the minimum possible: for every key, one copy per
//! server that becomes its replica.

use std::collections::BTreeMap;

use ringside_core::ring::Ring;
use ringside_core::{Addr, Event, Rng, ServerId, Time};

use crate::action::Action;
use crate::config::SimConfig;
use crate::world::Sim;

/// One view change's movement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// What changed.
    pub what: String,
    /// The epoch after the change.
    pub epoch: u64,
    /// Copies sent (every transfer item, resends included).
    pub moved: u64,
    /// Copies the change needs at least.
    pub minimum: u64,
}

impl Change {
    /// moved / minimum (1.0 when nothing had to move and nothing did).
    pub fn ratio(&self) -> f64 {
        if self.minimum == 0 {
            if self.moved == 0 {
                1.0
            } else {
                f64::INFINITY
            }
        } else {
            self.moved as f64 / self.minimum as f64
        }
    }
}

fn placement(sim: &Sim, keys: &[String]) -> Vec<Vec<ServerId>> {
    let vl = sim.view_leader();
    let ring = Ring::new(vl.view().members.iter().map(|m| &m.id), sim.config().vnodes);
    keys.iter().map(|k| ring.replicas(k, sim.config().replicas).into_iter().cloned().collect()).collect()
}

/// Runs until the world is at rest, counting copies sent on the way.
fn settle(sim: &mut Sim, limit: Time, moved: &mut u64) -> bool {
    while !sim.settled() || sim.clients().any(|(_, c)| !c.idle()) {
        if sim.next_due().is_none_or(|t| t > limit) {
            return false;
        }
        sim.step();
        for (_, e) in sim.recent_events() {
            if let Event::TransferSent { keys, .. } = e {
                *moved += *keys as u64;
            }
        }
    }
    true
}

/// Loads `keys` keys into `servers` servers, then makes `changes` joins and removals, each
/// after the previous one fully rebalanced.
pub fn measure(servers: usize, keys: usize, seed: u64, changes: usize) -> Result<Vec<Change>, String> {
    let mut config = SimConfig::new(seed);
    config.trace = false;
    // No resends in a faultless run: the movement counted is the protocol's own.
    config.timing.transfer_retry_ms = 60_000;
    let mut sim = Sim::with_cluster(config, servers, 4);
    let mut ignored = 0;
    let mut limit = Time(5_000);
    if !settle(&mut sim, limit, &mut ignored) {
        return Err("the cluster did not form".into());
    }
    let names: Vec<String> = (0..keys).map(|i| format!("key-{i}")).collect();
    for (i, chunk) in names.chunks(500).enumerate() {
        for (j, key) in chunk.iter().enumerate() {
            let client = Addr(format!("c{}", 1 + (i + j) % 4));
            sim.act(Action::setr(client, key.clone(), format!("value-{i}-{j}")));
        }
        limit = sim.now() + 60_000;
        if !settle(&mut sim, limit, &mut ignored) {
            return Err("loading the keys did not finish".into());
        }
    }
    let mut rng = Rng::new(seed);
    let mut next_server = servers + 1;
    let mut out = Vec::new();
    for n in 0..changes {
        let before = placement(&sim, &names);
        let live: Vec<Addr> =
            sim.servers().filter(|(_, s)| sim.view_leader().view().contains(s.id())).map(|(a, _)| a.clone()).collect();
        let join = n % 3 != 2 || live.len() <= 1;
        let what = if join {
            sim.act(Action::AddServer);
            next_server += 1;
            format!("join s{}", next_server - 1)
        } else {
            let victim = live[rng.range(0, live.len() as u64 - 1) as usize].clone();
            sim.act(Action::Crash { node: victim.clone() });
            format!("remove {victim}")
        };
        let epoch_before = sim.view_leader().epoch();
        let mut moved = 0;
        limit = sim.now() + 60_000;
        // Wait for the view change itself (a removal is noticed only after the timeout).
        sim.run_while_not(limit, |s| s.view_leader().epoch() > epoch_before);
        if !settle(&mut sim, limit, &mut moved) {
            return Err(format!("change {n} ({what}) did not settle"));
        }
        let after = placement(&sim, &names);
        let minimum = before.iter().zip(&after).map(|(o, n)| n.iter().filter(|s| !o.contains(s)).count() as u64).sum();
        out.push(Change { what, epoch: sim.view_leader().epoch().0, moved, minimum });
    }
    sim.check_at_rest();
    if let Some(v) = sim.violation() {
        return Err(v.to_string());
    }
    let held: BTreeMap<&str, usize> =
        sim.servers().flat_map(|(_, s)| s.bucket().keys().map(|k| k.as_str())).fold(BTreeMap::new(), |mut m, k| {
            *m.entry(k).or_default() += 1;
            m
        });
    if held.len() != keys {
        return Err(format!("{} of {keys} keys are held after the changes", held.len()));
    }
    Ok(out)
}
