//! Ringside's project tasks, run as `cargo xtask <command>`.
//!
//! - `cargo xtask test`: every check CI runs, in order, stopping at the first failure.
//! - `cargo xtask demo`: the narrated terminal tour of the simulator.
//!
//! Std only, so that it builds in seconds on a fresh machine.

mod runner;

use std::env;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runner::{Failure, Runner};

const USAGE: &str = "\
Usage: cargo xtask <command>

Commands:
  test    fmt, clippy, tests, no_std and wasm32 builds, then the seed sweep (RINGSIDE_SWEEP_SEEDS, default 2000)
  demo    the simulator's narrated terminal tour [--seed S, default 7]
  help    print this message";

/// Targets the core must build for: a bare-metal one proves `no_std`, wasm32 is the browser's.
const TARGETS: [&str; 2] = ["thumbv7m-none-eabi", "wasm32-unknown-unknown"];

const DEFAULT_SWEEP_SEEDS: u64 = 2_000;
const DEFAULT_DEMO_SEED: u64 = 7;

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Task {
    Help,
    Test,
    Demo { seed: u64 },
}

fn main() -> ExitCode {
    let task = match parse_args(env::args().skip(1)) {
        Ok(task) => task,
        Err(msg) => {
            eprintln!("xtask: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut runner = Runner::new(workspace_root(), cargo_program());
    match task {
        Task::Help => {
            // A closed pipe (`cargo xtask | head`) is not worth a panic.
            let _ = writeln!(io::stdout(), "{USAGE}");
            ExitCode::SUCCESS
        }
        Task::Test => {
            let result = test(&mut runner);
            runner.print_summary();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(failure) => {
                    eprintln!("xtask: {failure}");
                    ExitCode::FAILURE
                }
            }
        }
        Task::Demo { seed } => demo(&mut runner, seed),
    }
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Task, String> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Task::Help);
    };
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "help" | "-h" | "--help" => Ok(Task::Help),
        "test" => match rest.first() {
            None => Ok(Task::Test),
            Some(arg) => Err(format!("`test` takes no arguments, got `{arg}`")),
        },
        "demo" => parse_demo_args(&rest),
        other => Err(format!("unknown command `{other}`")),
    }
}

fn parse_demo_args(args: &[String]) -> Result<Task, String> {
    let mut seed = DEFAULT_DEMO_SEED;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--seed") {
            Some("") => args.next().ok_or("`--seed` needs a value")?.as_str(),
            Some(inline) if inline.starts_with('=') => &inline[1..],
            _ => return Err(format!("unknown `demo` argument `{arg}`")),
        };
        seed = value.parse().map_err(|_| format!("`--seed` wants a non-negative integer, got `{value}`"))?;
    }
    Ok(Task::Demo { seed })
}

/// The sweep's seed count from `RINGSIDE_SWEEP_SEEDS`; unset or empty means the default.
fn sweep_seeds(var: Option<&str>) -> Result<u64, String> {
    match var.map(str::trim) {
        None | Some("") => Ok(DEFAULT_SWEEP_SEEDS),
        Some(text) => match text.parse() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("RINGSIDE_SWEEP_SEEDS wants a positive integer, got `{text}`")),
        },
    }
}

/// The targets in `wanted` absent from `rustup target list --installed`'s output.
fn missing_targets<'a>(installed: &str, wanted: &[&'a str]) -> Vec<&'a str> {
    wanted.iter().copied().filter(|target| !installed.lines().any(|line| line.trim() == *target)).collect()
}

/// The workspace root: xtask lives at `<root>/crates/xtask`.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("xtask sits two levels below the workspace root")
        .to_path_buf()
}

/// The cargo that launched us (`cargo xtask` sets `CARGO`), so every step uses one toolchain.
fn cargo_program() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn test(run: &mut Runner) -> Result<(), Failure> {
    // Read before any step runs so a typo fails in a second, not after the build.
    let seeds = sweep_seeds(env::var("RINGSIDE_SWEEP_SEEDS").ok().as_deref()).map_err(Failure::Config)?;

    run.ensure_cargo_tool("fmt", "rustfmt")?;
    run.cargo("fmt", &["fmt", "--all", "--", "--check"])?;

    run.ensure_cargo_tool("clippy", "clippy")?;
    run.cargo("clippy", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;

    run.cargo("test", &["test", "--workspace"])?;

    let installed = run.rustup_output(&["target", "list", "--installed"])?;
    let missing = missing_targets(&installed, &TARGETS);
    if !missing.is_empty() {
        let mut args = vec!["target", "add"];
        args.extend(missing);
        run.rustup("add targets", &args)?;
    }
    run.cargo("core no_std", &["build", "-p", "ringside-core", "--target", TARGETS[0]])?;
    run.cargo("core wasm32", &["build", "-p", "ringside-core", "--target", TARGETS[1]])?;
    run.cargo(
        "sim wasm32",
        &["build", "-p", "ringside-sim", "--lib", "--no-default-features", "--target", TARGETS[1]],
    )?;

    let seeds = seeds.to_string();
    run.cargo("sweep", &["run", "--release", "-p", "ringside-sim", "--", "sweep", "--seeds", &seeds])
}

/// For now the demo is the simulator's narrated terminal tour; a later issue moves the demo
/// to the browser page.
fn demo(run: &mut Runner, seed: u64) -> ExitCode {
    let seed = seed.to_string();
    let args = ["run", "--release", "-q", "-p", "ringside-sim", "--", "run", "--scenario", "tour", "--seed", &seed];
    match run.cargo("demo", &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("xtask: {failure}");
            let code = failure.exit_code().unwrap_or(1);
            ExitCode::from(u8::try_from(code).ok().filter(|c| *c != 0).unwrap_or(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Task, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn no_args_and_help_print_usage() {
        assert_eq!(parse(&[]), Ok(Task::Help));
        assert_eq!(parse(&["help"]), Ok(Task::Help));
        assert_eq!(parse(&["--help"]), Ok(Task::Help));
    }

    #[test]
    fn test_takes_no_arguments() {
        assert_eq!(parse(&["test"]), Ok(Task::Test));
        assert!(parse(&["test", "--skip-sweep"]).is_err());
    }

    #[test]
    fn demo_seed_defaults_and_overrides() {
        assert_eq!(parse(&["demo"]), Ok(Task::Demo { seed: 7 }));
        assert_eq!(parse(&["demo", "--seed", "42"]), Ok(Task::Demo { seed: 42 }));
        assert_eq!(parse(&["demo", "--seed=3"]), Ok(Task::Demo { seed: 3 }));
    }

    #[test]
    fn demo_rejects_bad_arguments() {
        assert!(parse(&["demo", "--seed"]).is_err());
        assert!(parse(&["demo", "--seed", "-1"]).is_err());
        assert!(parse(&["demo", "--seed", "x"]).is_err());
        assert!(parse(&["demo", "--seeds", "3"]).is_err());
        assert!(parse(&["demo", "7"]).is_err());
    }

    #[test]
    fn unknown_command_is_an_error() {
        assert!(parse(&["build"]).is_err());
    }

    #[test]
    fn sweep_seeds_from_env() {
        assert_eq!(sweep_seeds(None), Ok(2_000));
        assert_eq!(sweep_seeds(Some("")), Ok(2_000));
        assert_eq!(sweep_seeds(Some("20")), Ok(20));
        assert!(sweep_seeds(Some("0")).is_err());
        assert!(sweep_seeds(Some("lots")).is_err());
    }

    #[test]
    fn missing_targets_compares_whole_lines() {
        let installed = "thumbv7m-none-eabi\nx86_64-unknown-linux-gnu\n";
        assert_eq!(missing_targets(installed, &TARGETS), vec!["wasm32-unknown-unknown"]);
        assert!(missing_targets("thumbv7m-none-eabi\nwasm32-unknown-unknown\n", &TARGETS).is_empty());
        assert_eq!(missing_targets("", &TARGETS), TARGETS.to_vec());
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("crates/xtask/Cargo.toml").is_file());
    }
}
