//! The verdict on a chaos run's history.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use ringside_sim::linearize::{self, HistoryOp, OpKind};

use super::nemesis::Faults;
use super::workload::{Op, Outcome};
use super::Options;

/// The longest a key may stay unwritable: two decision timeouts (2 s each) for a takeover,
/// plus a failure timeout and the rebalancing after it, with room for a busy machine.
pub const UNWRITABLE_BOUND_MS: u64 = 15_000;

/// What a run found. Its `Display` is the one summary line.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The run's seed.
    pub seed: u64,
    /// Operations, and how they ended.
    pub ops: usize,
    pub ok: usize,
    pub failed: usize,
    pub unknown: usize,
    /// Per nemesis phase: (phase, ok, all).
    pub availability: Vec<(&'static str, usize, usize)>,
    /// Faults the nemesis caused.
    pub faults: Faults,
    /// Keys whose last read returned neither the last acknowledged write nor one that may
    /// have come after it.
    pub lost: usize,
    /// Reads of a value nobody tried to write.
    pub phantom: usize,
    /// Keys whose history is not linearizable.
    pub nonlinearizable: usize,
    /// Keys the final round could not write.
    pub blocked_keys: usize,
    /// The longest a key went from a write that did not succeed to the next one that did (ms).
    pub longest_unwritable_ms: u64,
    /// Nodes found dead at the end that the nemesis had not killed.
    pub crashed: usize,
    /// Whether the cluster came back to a rebalanced view after the faults.
    pub rested: bool,
    /// The run's length.
    pub elapsed: Duration,
}

impl Summary {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.phantom == 0
            && self.nonlinearizable == 0
            && self.blocked_keys == 0
            && self.longest_unwritable_ms <= UNWRITABLE_BOUND_MS
            && self.crashed == 0
            && self.rested
            && self.faults.failed_by_paused_leader == 0
            && self.faults.unsettled == 0
            && self.ok > 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phases: Vec<String> = self
            .availability
            .iter()
            .map(|(phase, ok, all)| format!("{}={}%/{all}", phase.replace(' ', "_"), 100 * ok / (*all).max(1)))
            .collect();
        let faults: Vec<String> =
            self.faults.caused.iter().map(|(k, n)| format!("{}={n}", k.replace(' ', "_"))).collect();
        write!(
            f,
            "chaos seed={} secs={} ops={} ok={} failed={} unknown={} availability[{}] faults[{}] lost={} phantom={} \
             nonlinearizable={} blocked_keys={} longest_unwritable_ms={} crashed={} failed_by_paused_leader={} \
             unsettled={} rested={}: {}",
            self.seed,
            self.elapsed.as_secs(),
            self.ops,
            self.ok,
            self.failed,
            self.unknown,
            phases.join(" "),
            faults.join(" "),
            self.lost,
            self.phantom,
            self.nonlinearizable,
            self.blocked_keys,
            self.longest_unwritable_ms,
            self.crashed,
            self.faults.failed_by_paused_leader,
            self.faults.unsettled,
            self.rested,
            if self.passed() { "PASS" } else { "FAIL" }
        )
    }
}

/// The history as the simulator's checker takes it: failed operations left out (they had no
/// effect), unknown ones open-ended.
fn for_checker(history: &[Op]) -> Vec<HistoryOp> {
    history
        .iter()
        .filter(|op| op.outcome != Outcome::Failed)
        .filter_map(|op| {
            let kind = match (&op.write, &op.read) {
                (Some(value), _) => OpKind::Write { value: value.clone() },
                (None, Some(value)) => OpKind::Read { value: value.clone() },
                (None, None) => return None,
            };
            Some(HistoryOp { client: op.client, key: op.key.clone(), call: op.call, ret: op.ret, kind })
        })
        .collect()
}

/// Keys whose final read shows an acknowledged write lost: it returned a value that was
/// superseded (an acknowledged write began after the one that wrote it ended), or nothing
/// after a write was acknowledged.
fn lost_keys(history: &[Op]) -> usize {
    let mut lost = 0;
    let keys: BTreeSet<&str> = history.iter().map(|op| op.key.as_str()).collect();
    for key in keys {
        let ops: Vec<&Op> = history.iter().filter(|op| op.key == key).collect();
        let Some(last_read) = ops.iter().rev().find(|op| op.phase == "final" && op.write.is_none()) else { continue };
        let Some(Some(seen)) = &last_read.read else {
            lost += usize::from(ops.iter().any(|op| op.write.is_some() && op.outcome == Outcome::Ok));
            continue;
        };
        let acked: Vec<&&Op> = ops.iter().filter(|op| op.write.is_some() && op.outcome == Outcome::Ok).collect();
        let writer = ops.iter().find(|op| op.write.as_deref() == Some(seen.as_str()));
        let superseded = writer
            .is_some_and(|w| w.ret.is_some_and(|end| acked.iter().any(|a| a.call > end && a.call < last_read.call)));
        lost += usize::from(superseded);
    }
    lost
}

/// The longest stretch, over all keys, from a `setr` that did not succeed to the next that did.
fn longest_unwritable_ms(history: &[Op]) -> u64 {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in history.iter().filter(|op| op.write.is_some()) {
        by_key.entry(&op.key).or_default().push(op);
    }
    let mut longest = 0;
    for (key, ops) in by_key.iter_mut() {
        ops.sort_by_key(|op| op.call);
        let mut since: Option<usize> = None;
        for (i, op) in ops.iter().enumerate() {
            match (op.outcome, since) {
                (Outcome::Ok, Some(first)) => {
                    let window = op.ret.unwrap_or(op.call).saturating_sub(ops[first].call);
                    if window / 1_000 > UNWRITABLE_BOUND_MS {
                        // For whoever reads a failed run: which faults the window spans.
                        let mut phases: Vec<&str> = ops[first..i].iter().map(|op| op.phase).collect();
                        phases.dedup();
                        eprintln!(
                            "chaos: key {key} took no write for {} ms from {} ms into the run, during {phases:?}",
                            window / 1_000,
                            ops[first].call / 1_000
                        );
                    }
                    longest = longest.max(window);
                    since = None;
                }
                (Outcome::Ok, None) => {}
                (_, None) => since = Some(i),
                (_, Some(_)) => {}
            }
        }
    }
    longest / 1_000
}

/// Checks the history and sums it up.
pub(crate) fn summarize(
    options: &Options,
    history: &[Op],
    faults: Faults,
    rested: bool,
    crashed: usize,
    elapsed: Duration,
) -> Summary {
    let count = |o: Outcome| history.iter().filter(|op| op.outcome == o).count();
    let mut availability: Vec<(&'static str, usize, usize)> = Vec::new();
    for op in history {
        let i = match availability.iter().position(|(p, _, _)| *p == op.phase) {
            Some(i) => i,
            None => {
                availability.push((op.phase, 0, 0));
                availability.len() - 1
            }
        };
        availability[i].1 += usize::from(op.outcome == Outcome::Ok);
        availability[i].2 += 1;
    }
    let written: BTreeSet<&str> = history.iter().filter_map(|op| op.write.as_deref()).collect();
    let phantom =
        history.iter().filter(|op| matches!(&op.read, Some(Some(v)) if !written.contains(v.as_str()))).count();
    let mut by_key: BTreeMap<String, Vec<HistoryOp>> = BTreeMap::new();
    for op in for_checker(history) {
        by_key.entry(op.key.clone()).or_default().push(op);
    }
    let nonlinearizable = by_key
        .values()
        .filter(|ops| match linearize::check(ops) {
            Ok(_) => false,
            Err(v) => {
                eprintln!("chaos: key {} is not linearizable ({} operations)", v.key, v.ops.len());
                true
            }
        })
        .count();
    let blocked_keys =
        history.iter().filter(|op| op.phase == "final" && op.write.is_some() && op.outcome != Outcome::Ok).count();
    Summary {
        seed: options.seed,
        ops: history.len(),
        ok: count(Outcome::Ok),
        failed: count(Outcome::Failed),
        unknown: count(Outcome::Unknown),
        availability,
        faults,
        lost: lost_keys(history),
        phantom,
        nonlinearizable,
        blocked_keys,
        longest_unwritable_ms: longest_unwritable_ms(history),
        crashed,
        rested,
        elapsed,
    }
}
