//! What the simulator's scenario tests share: running for a while, and running one client
//! operation to its end, with the invariants checked after every step.

use ringside_core::{Addr, Event, OpError, OpOutput, Time};
use ringside_sim::{Action, Sim};

/// Runs for `ms` of virtual time, returning every event seen; panics on a violation.
pub fn run_for(sim: &mut Sim, ms: u64) -> Vec<(Addr, Event)> {
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

/// Runs `action` (a client's) to its end, or gives up after `ms`; panics on a violation.
pub fn run_op(sim: &mut Sim, action: Action, ms: u64) -> Option<Result<OpOutput, OpError>> {
    let op = sim.act(action).expect("the client exists");
    let limit = sim.now() + ms;
    while sim.now() < limit && sim.step() {
        if let Some(v) = sim.violation() {
            panic!("{v}");
        }
        for (_, e) in sim.recent_events() {
            if let Event::OpDone { op: done, result } = e {
                if *done == op {
                    return Some(result.clone());
                }
            }
        }
    }
    None
}
