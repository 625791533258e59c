//! The view leader under hostile peers: its view, failed set and lock table stay consistent,
//! its epoch only grows and stays readable, and its locks never deadlock unnoticed.

use std::collections::{BTreeMap, BTreeSet};

use ringside_core::id::MAX_NUMBER;
use ringside_core::{Epoch, Limits, Time, Timing, ViewLeader, ViewLeaderConfig};

use crate::run::{read, Harness, Step};

/// Small limits, so that hostile inputs reach them.
pub const LIMITS: Limits = Limits { key_bytes: 8, value_bytes: 16, lock_name_bytes: 8, locks: 4, waiters: 4 };

/// Runs the view leader through the steps `data` spells, checking it after each.
pub fn run(data: &[u8]) {
    let (_, steps) = read::<()>(data);
    let config = ViewLeaderConfig { timing: Timing::DEMO, limits: LIMITS, replication: None };
    let mut harness = Harness::new(ViewLeader::new(config, Time::ZERO));
    let mut epoch = Epoch(0);
    for step in &steps {
        if matches!(step, Step::Command(())) {
            continue;
        }
        harness.step(step);
        epoch = check(&harness.node, epoch);
    }
}

/// The view leader's invariants; returns its epoch.
fn check(vl: &ViewLeader, before: Epoch) -> Epoch {
    let view = vl.view();
    assert!(view.epoch >= before, "the epoch went back from {before} to {}", view.epoch);
    assert!(view.epoch.0 <= MAX_NUMBER, "epoch {} is more than a frame may carry", view.epoch);
    assert!(vl.stable().epoch <= view.epoch, "the stable view is newer than the view");
    let members: Vec<_> = view.members.iter().map(|m| &m.id).collect();
    let live: Vec<_> = vl.servers().map(|(id, _)| id).collect();
    assert_eq!(members, live, "the view's members are not the live servers");
    assert!(vl.servers().all(|(id, _)| !vl.failed().contains(id)), "a failed server is live");
    check_locks(vl);
    view.epoch
}

fn check_locks(vl: &ViewLeader) {
    let locks = vl.locks();
    assert!(locks.len() <= LIMITS.locks, "{} locks kept, at most {}", locks.len(), LIMITS.locks);
    assert!(locks.waiting() <= LIMITS.waiters, "{} waiters kept, at most {}", locks.waiting(), LIMITS.waiters);
    let mut waits_for: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, holder, waiters) in locks.locks() {
        let holder = holder.expect("every kept lock has a holder");
        assert!(name.len() <= LIMITS.lock_name_bytes && holder.len() <= LIMITS.lock_name_bytes);
        let unique: BTreeSet<_> = waiters.iter().collect();
        assert_eq!(unique.len(), waiters.len(), "lock {name} queues someone twice: {waiters:?}");
        assert!(!unique.contains(&holder), "lock {name}'s holder {holder} waits for it");
        for waiter in waiters {
            waits_for.entry(waiter).or_default().insert(holder);
        }
    }
    assert_no_cycle(&waits_for);
}

/// A wait-for graph with a cycle is a deadlock no one was told of.
fn assert_no_cycle(waits_for: &BTreeMap<&str, BTreeSet<&str>>) {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for start in waits_for.keys() {
        let mut path: Vec<&str> = Vec::new();
        let mut stack = vec![(*start, false)];
        while let Some((node, leaving)) = stack.pop() {
            if leaving {
                path.pop();
                done.insert(node);
                continue;
            }
            if done.contains(node) {
                continue;
            }
            assert!(!path.contains(&node), "the locks deadlock unnoticed: {path:?} waits for {node}");
            path.push(node);
            stack.push((node, true));
            for next in waits_for.get(node).into_iter().flatten() {
                stack.push((next, false));
            }
        }
    }
}
