//! A closed-loop workload for measuring the simulator's speed: clients keep a fixed number of
//! replicated operations in flight and start a new one as each finishes.

use ringside_core::{Addr, Event, Rng, Time};

use crate::action::Action;
use crate::config::SimConfig;
use crate::world::Sim;

/// A five-server, four-client world with tracing and checks off: the simulator's bare speed.
pub fn world(seed: u64, check: bool) -> Sim {
    let mut config = SimConfig::new(seed);
    config.trace = false;
    config.check = check;
    let mut sim = Sim::with_cluster(config, 5, 4);
    sim.run_until(Time(2_000));
    sim
}

/// Runs the workload until `deliveries` more messages were delivered; returns ops finished.
pub fn drive(sim: &mut Sim, deliveries: u64, seed: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let clients: Vec<Addr> = sim.clients().map(|(a, _)| a.clone()).collect();
    let issue = |sim: &mut Sim, client: &Addr, rng: &mut Rng| {
        let key = format!("k{}", rng.range(0, 63));
        let action = if rng.chance(500_000) {
            Action::setr(client.clone(), key, format!("v{}", rng.next_u64() % 1000))
        } else {
            Action::getr(client.clone(), key)
        };
        sim.act(action);
    };
    for c in &clients {
        for _ in 0..4 {
            issue(sim, c, &mut rng);
        }
    }
    let target = sim.deliveries() + deliveries;
    let mut done = 0;
    while sim.deliveries() < target && sim.step() {
        let finished: Vec<Addr> = sim
            .recent_events()
            .iter()
            .filter(|(_, e)| matches!(e, Event::OpDone { .. }))
            .map(|(a, _)| a.clone())
            .collect();
        for c in finished {
            done += 1;
            issue(sim, &c, &mut rng);
        }
    }
    done
}
