//! The `ringside` binary; everything lives in the library so tests can reach the wire types.

fn main() -> std::process::ExitCode {
    ringside_node::main()
}
