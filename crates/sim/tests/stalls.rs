//! Paused processes (SIGSTOP, a sleeping laptop, a frozen VM): nothing they are sent is read and
//! none of their timers fire until they resume, and then everything comes at once.

use ringside_core::{Addr, Event, OpOutput, Time};
use ringside_sim::{Action, Sim, SimConfig};

fn settled_cluster(seed: u64, servers: usize) -> Sim {
    let mut sim = Sim::with_cluster(SimConfig::new(seed), servers, 1);
    let limit = sim.now() + 20_000;
    assert!(sim.run_while_not(limit, |s| s.view_leader().view().members.len() == servers && s.settled()));
    sim
}

/// Runs `action` (a client's) to its end; panics on a violation or if it never ends.
fn run_op(sim: &mut Sim, action: Action) -> OpOutput {
    let op = sim.act(action).expect("the client exists");
    let limit = sim.now() + 30_000;
    while sim.now() < limit && sim.step() {
        if let Some(v) = sim.violation() {
            panic!("{v}");
        }
        for (_, e) in sim.recent_events() {
            if let Event::OpDone { op: done, result } = e {
                if *done == op {
                    return result.clone().unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
    }
    panic!("op {op:?} never finished");
}

fn write_keys(sim: &mut Sim, n: usize) {
    for i in 0..n {
        run_op(sim, Action::setr(Addr::from("c1"), format!("k{i}"), format!("v{i}")));
    }
}

fn assert_keys_read_back(sim: &mut Sim, n: usize) {
    for i in 0..n {
        let read = run_op(sim, Action::getr(Addr::from("c1"), format!("k{i}")));
        assert!(matches!(&read, OpOutput::Value { value, .. } if *value == format!("v{i}")), "k{i}: {read:?}");
    }
}

/// Runs for `ms` of virtual time, returning every event seen.
fn run_for(sim: &mut Sim, ms: u64) -> Vec<(Addr, Event)> {
    let until = Time(sim.now().0 + ms);
    let mut seen = Vec::new();
    while sim.next_due().is_some_and(|due| due <= until) {
        sim.step();
        seen.extend(sim.recent_events().iter().cloned());
        if let Some(v) = sim.violation() {
            panic!("{v}");
        }
    }
    seen
}

#[test]
fn a_view_leader_paused_past_the_failure_timeout_fails_nobody() {
    let mut sim = settled_cluster(11, 3);
    write_keys(&mut sim, 8);
    let (epoch, members) = (sim.view_leader().epoch(), sim.view_leader().view().members.clone());
    let timeout = sim.config().timing.failure_timeout_ms;
    sim.act(Action::Stall { node: Addr::from("vl"), ms: 3 * timeout });
    let seen = run_for(&mut sim, 5 * timeout);
    let failed: Vec<&Event> = seen.iter().map(|(_, e)| e).filter(|e| matches!(e, Event::ServerFailed { .. })).collect();
    assert!(failed.is_empty(), "the leader failed servers for its own pause: {failed:?}");
    assert!(seen.iter().any(|(_, e)| matches!(e, Event::LeaderPaused { servers: 3, .. })));
    assert_eq!((sim.view_leader().epoch(), &sim.view_leader().view().members), (epoch, &members));
    assert_keys_read_back(&mut sim, 8);
}

#[test]
fn a_server_paused_past_its_lease_is_failed_and_nothing_is_lost() {
    let mut sim = settled_cluster(12, 4);
    write_keys(&mut sim, 8);
    let pause = 3 * sim.config().timing.failure_timeout_ms;
    sim.act(Action::Stall { node: Addr::from("s2"), ms: pause });
    let seen = run_for(&mut sim, pause + 200);
    assert!(seen.iter().any(|(_, e)| matches!(e, Event::ServerFailed { .. })), "a silent server is failed");
    assert!(!seen.iter().any(|(_, e)| matches!(e, Event::LeaderPaused { .. })), "the leader itself ran on time");
    let limit = sim.now() + 20_000;
    assert!(sim.run_while_not(limit, |s| s.settled()));
    assert_eq!(sim.view_leader().view().members.len(), 3);
    assert_keys_read_back(&mut sim, 8);
}
