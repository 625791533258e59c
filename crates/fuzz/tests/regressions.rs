//! Every input the fuzzers ever failed on, kept in `fuzz/regressions/<target>/`, replayed on
//! stable Rust: each must now pass its target's checks.

use std::fs;
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions").join(target);
    let mut inputs: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file() && !path.file_name().is_some_and(|name| name.to_string_lossy().starts_with('.')))
        .collect();
    inputs.sort();
    for input in inputs {
        let data = fs::read(&input).unwrap_or_else(|e| panic!("cannot read {}: {e}", input.display()));
        println!("{target}: {}", input.display());
        run(&data);
    }
}

#[test]
fn frame() {
    replay("frame", ringside_fuzz::frame::run);
}

#[test]
fn view_leader() {
    replay("view_leader", ringside_fuzz::view_leader::run);
}

#[test]
fn server() {
    replay("server", ringside_fuzz::server::run);
}

#[test]
fn client() {
    replay("client", ringside_fuzz::client::run);
}
