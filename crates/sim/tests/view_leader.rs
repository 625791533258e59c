//! The course's replicated view leader cases, on three view-leader replicas: the leader is
//! killed while a client holds a lock, a non-leader is killed, a majority is lost and comes
//! back. Invariants are checked after every step.

mod common;

use common::{run_for, run_op};
use ringside_core::replication::Role;
use ringside_core::{Addr, OpOutput};
use ringside_sim::{Action, Sim, SimConfig};

fn replicated(seed: u64, servers: usize, clients: usize) -> Sim {
    let config = SimConfig { view_leaders: 3, ..SimConfig::new(seed) };
    let mut sim = Sim::with_cluster(config, servers, clients);
    let limit = sim.now() + 20_000;
    assert!(sim.run_while_not(limit, |s| s.view_leader().leads()
        && s.view_leader().view().members.len() == servers
        && s.settled()));
    sim
}

/// The address of the replica that leads.
fn leader(sim: &Sim) -> Addr {
    let (addr, _) = sim.view_leaders().find(|(_, vl)| vl.leads()).expect("a leader");
    addr.clone()
}
fn c(i: u32) -> Addr {
    Addr(format!("c{i}"))
}

#[test]
fn three_replicas_elect_a_leader_and_the_cluster_works_through_it() {
    let mut sim = replicated(1, 3, 1);
    let leaders = sim.view_leaders().filter(|(_, vl)| vl.replica().is_some_and(|r| r.role() == Role::Leader)).count();
    assert_eq!(leaders, 1);
    let write = run_op(&mut sim, Action::setr(c(1), "k".into(), "v".into()), 10_000);
    assert!(matches!(write, Some(Ok(OpOutput::Written { .. }))), "{write:?}");
    let read = run_op(&mut sim, Action::getr(c(1), "k".into()), 10_000);
    assert!(matches!(&read, Some(Ok(OpOutput::Value { value, .. })) if value == "v"), "{read:?}");
    // Every replica applied the same view.
    let epochs: Vec<_> = sim.view_leaders().map(|(_, vl)| vl.epoch()).collect();
    assert!(epochs.windows(2).all(|w| w[0] == w[1]), "{epochs:?}");
}

#[test]
fn the_lock_table_survives_the_leaders_death() {
    let mut sim = replicated(2, 3, 2);
    let got = run_op(&mut sim, Action::lock_get(c(1), "x".into()), 10_000);
    assert!(matches!(got, Some(Ok(OpOutput::Granted))), "{got:?}");
    let old = leader(&sim);
    let epoch = sim.view_leader().epoch();
    sim.act(Action::Crash { node: old.clone() });
    // A new leader is elected from the other two, and tells c2 that x is held.
    assert!(run_op(&mut sim, Action::lock_get(c(2), "x".into()), 5_000).is_none(), "c2 must wait for x");
    let new = leader(&sim);
    assert_ne!(new, old);
    let vl = sim.view_leader();
    assert_eq!(vl.locks().holder("x"), Some("c1"));
    assert_eq!(vl.locks().queue("x").collect::<Vec<_>>(), ["c2"]);
    // No server was failed for the election's silence.
    assert_eq!(vl.epoch(), epoch);
    // c1 gives x up; c2, asking again, gets it.
    let released = run_op(&mut sim, Action::lock_release(c(1), "x".into()), 10_000);
    assert!(matches!(released, Some(Ok(_))), "{released:?}");
    run_for(&mut sim, 2_000);
    assert_eq!(sim.view_leader().locks().holder("x"), Some("c2"));
}

#[test]
fn killing_a_follower_changes_nothing() {
    let mut sim = replicated(3, 3, 1);
    let old = leader(&sim);
    let epoch = sim.view_leader().epoch();
    let follower = sim.view_leader_addrs().iter().find(|a| **a != old).cloned().expect("a follower");
    sim.act(Action::Crash { node: follower.clone() });
    let write = run_op(&mut sim, Action::setr(c(1), "k".into(), "v".into()), 10_000);
    assert!(matches!(write, Some(Ok(OpOutput::Written { .. }))), "{write:?}");
    let got = run_op(&mut sim, Action::lock_get(c(1), "x".into()), 10_000);
    assert!(matches!(got, Some(Ok(OpOutput::Granted))), "{got:?}");
    assert_eq!((leader(&sim), sim.view_leader().epoch()), (old, epoch));
    // It comes back from its disk and catches up.
    sim.act(Action::Restart { node: follower.clone() });
    run_for(&mut sim, 3_000);
    let (_, back) = sim.view_leaders().find(|(a, _)| **a == follower).expect("restarted");
    assert_eq!(back.locks().holder("x"), Some("c1"));
}

#[test]
fn below_a_majority_locks_and_joins_wait_and_resume_when_it_is_back() {
    let mut sim = replicated(4, 3, 1);
    let addrs = sim.view_leader_addrs().to_vec();
    let epoch = sim.view_leader().epoch();
    let kept = leader(&sim);
    let gone: Vec<Addr> = addrs.iter().filter(|a| **a != kept).cloned().collect();
    for node in &gone {
        sim.act(Action::Crash { node: node.clone() });
    }
    // The lone survivor steps down: no lock is granted, no server joins.
    let got = run_op(&mut sim, Action::lock_get(c(1), "x".into()), 8_000);
    assert!(!matches!(got, Some(Ok(_))), "{got:?}");
    sim.act(Action::AddServer);
    run_for(&mut sim, 3_000);
    assert!(sim.view_leaders().all(|(_, vl)| !vl.leads()));
    assert_eq!(sim.view_leader().epoch(), epoch);
    // The majority comes back: a leader is elected, the new server joins, locks work again.
    for node in &gone {
        sim.act(Action::Restart { node: node.clone() });
    }
    let limit = sim.now() + 20_000;
    assert!(sim.run_while_not(limit, |s| s.view_leader().leads() && s.view_leader().view().members.len() == 4));
    let got = run_op(&mut sim, Action::lock_get(c(1), "x".into()), 10_000);
    assert!(matches!(got, Some(Ok(OpOutput::Granted))), "{got:?}");
}
