//! Ringside's deterministic simulator: the real protocol roles in a world of virtual time and a
//! seeded, faulty network, with a trace, invariants checked after every step, and a
//! linearizability checker for the clients' histories.
//!
//! ```
//! use ringside_sim::{Action, Sim, SimConfig};
//! use ringside_core::{Addr, Time};
//!
//! let mut sim = Sim::with_cluster(SimConfig::new(42), 3, 1);
//! sim.run_until(Time(2_000));
//! sim.act(Action::setr(Addr::from("c1"), "k".into(), "v".into()));
//! sim.run_until(Time(4_000));
//! assert!(sim.violation().is_none());
//! println!("trace hash {}", sim.trace().hash());
//! ```

pub mod action;
pub mod bench;
pub mod config;
// Raft's checks across view-leader replicas; the page runs a lone view leader.
#[cfg(not(target_arch = "wasm32"))]
mod consensus;
pub mod history;
pub mod invariants;
pub mod linearize;
pub mod movement;
pub mod narrate;
pub mod scenario;
pub mod session;
pub mod slot;
pub mod sweep;
pub mod trace;
pub mod world;

pub use action::{Action, During, Tamper};
pub use config::{Durations, Faults, SimConfig};
pub use invariants::Violation;
pub use session::{Input, Session, Setup};
pub use slot::{Kind, Role, Slot};
pub use trace::{Trace, TraceEntry, TraceKind};
pub use world::{view_leader_addrs, InFlight, Sim, Trap, VIEW_LEADER};
