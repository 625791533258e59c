//! The `ringside` binary; everything lives in the library so tests can reach the wire types.
//!
//! It runs on the system's allocator: mimalloc was faster per frame, but kept the pages a
//! hostile peer made a node allocate (8 MiB more resident after the attack in
//! `tests/tests/attacks.rs`, where glibc's gives them back).

fn main() -> std::process::ExitCode {
    ringside_node::main()
}
