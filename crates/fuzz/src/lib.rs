//! Hostile inputs for Ringside's roles, and the checks the fuzz targets in `fuzz/` run.
//!
//! Each `run` takes the fuzzer's bytes, reads them as a seed and a list of steps (a peer's
//! message, time passing, a stall, a client command), feeds them to one role the way a shell
//! would and asserts the role's invariants after every step. A panic is a finding. The same
//! functions replay the inputs kept in `fuzz/regressions/` as plain tests on stable Rust.

pub mod client;
pub mod frame;
pub mod input;
pub mod run;
pub mod server;
pub mod view_leader;
