//! The fuzz targets in `fuzz/`: libFuzzer, through cargo-fuzz, on the nightly toolchain. The
//! inputs they once failed on are replayed by `cargo test` on stable (crates/fuzz); here they
//! run fresh, for a bounded time each.

use crate::runner::{Failure, Runner};
use crate::tools;

/// Every target in `fuzz/Cargo.toml`.
pub(crate) const TARGETS: [&str; 4] = ["frame", "view_leader", "server", "client"];
/// The cargo-fuzz release this project is fuzzed with.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// How long `cargo xtask test` runs each target.
pub(crate) const TEST_SECONDS: u64 = 10;
/// How long `cargo xtask fuzz` runs each target unless told.
pub(crate) const DEFAULT_SECONDS: u64 = 60;

/// Optimized, with debug assertions and overflow checks (an overflow is a finding), without a
/// sanitizer: the core forbids `unsafe`, so there is nothing for one to catch and it would
/// cost most of the speed.
const BUILD_FLAGS: [&str; 4] = ["-O", "-a", "-s", "none"];

/// Whether rustup has a nightly toolchain (cargo-fuzz needs one).
pub(crate) fn have_nightly(run: &Runner) -> bool {
    run.probe("cargo", &["+nightly", "--version"]).is_some()
}

/// Builds every target once, then runs each for `seconds`, stopping at the first that fails
/// (libFuzzer says where it kept the input; copy it to `fuzz/regressions/<target>/`).
pub(crate) fn run_all(run: &mut Runner, seconds: u64) -> Result<(), Failure> {
    tools::ensure_cargo_install(run, "cargo-fuzz", CARGO_FUZZ_VERSION, true, &["cargo-fuzz"], "~2 min")?;
    let mut build = vec!["+nightly", "fuzz", "build"];
    build.extend(BUILD_FLAGS);
    run.step("fuzz build", run.program("cargo", &build))?;
    let total_time = format!("-max_total_time={seconds}");
    for target in TARGETS {
        let mut args = vec!["+nightly", "fuzz", "run"];
        args.extend(BUILD_FLAGS);
        args.extend([target, "--", &total_time, "-print_final_stats=1"]);
        run.step(&format!("fuzz {target}"), run.program("cargo", &args))?;
    }
    Ok(())
}
