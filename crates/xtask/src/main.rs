//! Ringside's project tasks, run as `cargo xtask <command>`.
//!
//! - `cargo xtask test`: every check CI runs, in order, stopping at the first failure.
//! - `cargo xtask demo`: the browser page, served by Trunk at http://127.0.0.1:8080, and a
//!   real three-server cluster (`ringside cluster`) for its live mode.
//! - `cargo xtask tour`: the narrated terminal tour of the simulator.
//! - `cargo xtask fuzz --seconds N`: every fuzz target for N seconds (nightly, cargo-fuzz).
//!
//! Std only, so that it builds in seconds on a fresh machine. The page's tools (Trunk,
//! wasm-bindgen, wasm-opt, Chromium) are installed by [`tools`] when missing.

mod fuzz;
mod runner;
mod tools;

use std::env;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runner::{Failure, Runner};
use tools::WASM_TARGET;

const USAGE: &str = "\
Usage: cargo xtask <command>

Commands:
  test    fmt, clippy, tests, no_std and wasm32 builds, the seed sweep (RINGSIDE_SWEEP_SEEDS, default 2000;
          once with a lone view leader, once with three replicas, and a tenth of them with servers
          churning),
          10 s of each fuzz target (when nightly is installed),
          then the browser page: its tools, its tests in headless Chromium, trunk build and the e2e tests
          (the simulator, and live mode against a real cluster), and the chaos suite with partitions for
          40 s with a lone view leader and 40 s with three replicas
  demo    serve the browser page at http://127.0.0.1:8080 (trunk serve --release), installing its tools first,
          and start a real cluster (ringside cluster --servers 3) whose printed link opens the page on it
  tour    the simulator's narrated terminal tour [--seed S, default 7]
  fuzz    every fuzz target (fuzz/) for --seconds N each (default 60), on nightly with cargo-fuzz
  chaos   the chaos suite on real processes: a cluster, concurrent clients and a nemesis that kills and
          pauses nodes, then the history checked [--seconds N | --minutes N, default 60 s; --seed S, default 1;
          --view-leaders N, default 1: replicas the nemesis kills, pauses and restarts, the leader most;
          --partitions: nodes in network namespaces, links cut and healed (root)]
  help    print this message";

/// Targets the core must build for: a bare-metal one proves `no_std`, wasm32 is the browser's.
const TARGETS: [&str; 2] = ["thumbv7m-none-eabi", WASM_TARGET];

const DEFAULT_SWEEP_SEEDS: u64 = 2_000;
const DEFAULT_TOUR_SEED: u64 = 7;

/// The whole wasm-bindgen-test run in the browser may take this long (its default, 20 s, is
/// short for a cold Chromium on a busy machine); `WASM_BINDGEN_TEST_TIMEOUT` overrides it.
const BROWSER_TEST_TIMEOUT_SECS: &str = "300";

/// Where the demo serves the page. `trunk serve` is told this address and port on its command
/// line, so the printed URL and the cluster's `page:` link cannot disagree with where it listens
/// (`Trunk.toml`'s `[serve]` table holds the same values for a hand-run `trunk serve`).
const PAGE_ADDRESS: &str = "127.0.0.1";
const PAGE_PORT: &str = "8080";

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Task {
    Help,
    Test,
    Demo,
    Tour { seed: u64 },
    Fuzz { seconds: u64 },
    Chaos(ChaosRun),
}

/// One run of the chaos suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ChaosRun {
    seconds: u64,
    seed: u64,
    partitions: bool,
    view_leaders: u64,
}

/// How long `cargo xtask chaos` runs the chaos suite by default.
const CHAOS_SECONDS: u64 = 60;
/// How long `cargo xtask test` runs it, once with each kind of view leader.
const TEST_CHAOS_SECONDS: u64 = 40;

fn main() -> ExitCode {
    let task = match parse_args(env::args().skip(1)) {
        Ok(task) => task,
        Err(msg) => {
            eprintln!("xtask: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut runner = Runner::new(workspace_root(), cargo_program());
    tools::use_tool_path(&mut runner);
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
        Task::Demo => exit_with(demo(&mut runner)),
        Task::Tour { seed } => exit_with(tour(&mut runner, seed)),
        Task::Fuzz { seconds } => exit_with(fuzz_task(&mut runner, seconds)),
        Task::Chaos(how) => exit_with(chaos(&mut runner, "chaos", how)),
    }
}

/// Exits with the failed command's code (or 1) after saying what failed.
fn exit_with(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("xtask: {failure}");
            let code = failure.exit_code().unwrap_or(1);
            ExitCode::from(u8::try_from(code).ok().filter(|c| *c != 0).unwrap_or(1))
        }
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
        "demo" => match rest.first() {
            None => Ok(Task::Demo),
            Some(arg) => Err(format!(
                "`demo` takes no arguments, got `{arg}` (the terminal tour is `cargo xtask tour --seed S`)"
            )),
        },
        "tour" => parse_tour_args(&rest),
        "fuzz" => parse_fuzz_args(&rest),
        "chaos" => parse_chaos_args(&rest),
        other => Err(format!("unknown command `{other}`")),
    }
}

fn parse_tour_args(args: &[String]) -> Result<Task, String> {
    let seed = number_flag("tour", "--seed", DEFAULT_TOUR_SEED, 0, args)?;
    Ok(Task::Tour { seed })
}

fn parse_chaos_args(args: &[String]) -> Result<Task, String> {
    let mut how = ChaosRun { seconds: CHAOS_SECONDS, seed: 1, partitions: false, view_leaders: 1 };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if flag == "--partitions" {
            how.partitions = true;
            continue;
        }
        let value = rest.next().ok_or(format!("`{flag}` needs a value"))?;
        let n: u64 = value.parse().map_err(|_| format!("`{flag}` wants a whole number, got `{value}`"))?;
        match flag.as_str() {
            "--seconds" if n > 0 => how.seconds = n,
            "--minutes" if n > 0 => how.seconds = 60 * n,
            "--seed" => how.seed = n,
            "--view-leaders" if (1..=7).contains(&n) => how.view_leaders = n,
            "--seconds" | "--minutes" => return Err(format!("`{flag}` wants at least 1, got `{value}`")),
            "--view-leaders" => return Err(format!("`{flag}` wants 1 to 7 replicas, got `{value}`")),
            other => return Err(format!("unknown `chaos` argument `{other}`")),
        }
    }
    Ok(Task::Chaos(how))
}

fn parse_fuzz_args(args: &[String]) -> Result<Task, String> {
    let seconds = number_flag("fuzz", "--seconds", fuzz::DEFAULT_SECONDS, 1, args)?;
    Ok(Task::Fuzz { seconds })
}

/// The value of `command`'s only flag, `flag N` or `flag=N` (the last one given), at least
/// `least`; `default` when absent.
fn number_flag(command: &str, flag: &str, default: u64, least: u64, args: &[String]) -> Result<u64, String> {
    let mut number = default;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix(flag) {
            Some("") => args.next().ok_or(format!("`{flag}` needs a value"))?.as_str(),
            Some(inline) if inline.starts_with('=') => &inline[1..],
            _ => return Err(format!("unknown `{command}` argument `{arg}`")),
        };
        number = match value.parse() {
            Ok(n) if n >= least => n,
            _ if least == 0 => return Err(format!("`{flag}` wants a non-negative integer, got `{value}`")),
            _ => return Err(format!("`{flag}` wants an integer of at least {least}, got `{value}`")),
        };
    }
    Ok(number)
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

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the root, where cargo runs) or
/// `<root>/target`.
fn target_dir(root: &Path, var: Option<OsString>) -> PathBuf {
    match var.filter(|dir| !dir.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
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

    tools::ensure_targets(run, &TARGETS)?;
    run.cargo("core no_std", &["build", "-p", "ringside-core", "--target", TARGETS[0]])?;
    run.cargo("core wasm32", &["build", "-p", "ringside-core", "--target", TARGETS[1]])?;
    run.cargo(
        "sim wasm32",
        &["build", "-p", "ringside-sim", "--lib", "--no-default-features", "--target", TARGETS[1]],
    )?;

    let seeds_n = seeds;
    let seeds = seeds.to_string();
    run.cargo("sweep", &["run", "--release", "-p", "ringside-sim", "--", "sweep", "--seeds", &seeds])?;
    // The same seeds with three view-leader replicas, crashed, paused and cut off.
    let replicated =
        ["run", "--release", "-p", "ringside-sim", "--", "sweep", "--seeds", &seeds, "--view-leaders", "3"];
    run.cargo("sweep, replicated view leader", &replicated)?;
    // Servers joining and failing every few hundred ms: most operations land inside a
    // transition. Each seed runs about ten times longer, so a tenth of the seeds.
    let churn_seeds = (seeds_n / 10).max(1).to_string();
    let churn = ["run", "--release", "-p", "ringside-sim", "--", "sweep", "--seeds", &churn_seeds, "--churn"];
    run.cargo("sweep, servers churning", &churn)?;

    // The kept regressions already ran on stable, in `cargo test`; fresh fuzzing needs nightly.
    if fuzz::have_nightly(run) {
        fuzz::run_all(run, fuzz::TEST_SECONDS)?;
    } else {
        eprintln!("==> fuzz: no nightly toolchain, so no fresh fuzzing (the kept regressions ran in `cargo test`)");
    }

    browser(run)?;
    // With partitions where network namespaces can be made (root); the suite says when not.
    let lone = ChaosRun { seconds: TEST_CHAOS_SECONDS, seed: 1, partitions: true, view_leaders: 1 };
    chaos(run, "chaos", lone)?;
    chaos(run, "chaos, replicated view leader", ChaosRun { view_leaders: 3, ..lone })
}

/// The chaos suite (`tests/src/chaos/`) on the release binaries, as `how` says, as step `step`.
fn chaos(run: &mut Runner, step: &str, how: ChaosRun) -> Result<(), Failure> {
    run.cargo("ringside release", &["build", "--release", "-p", "ringside-node"])?;
    run.cargo("chaos release", &["build", "--release", "-p", "ringside-tests", "--bin", "chaos"])?;
    let (seconds, seed, replicas) = (how.seconds.to_string(), how.seed.to_string(), how.view_leaders.to_string());
    let mut args = vec!["--seconds", &seconds, "--seed", &seed, "--view-leaders", &replicas];
    if how.partitions {
        args.push("--partitions");
    }
    let mut suite = run.program(release_binary(run.root(), "chaos"), &args);
    suite.env("RINGSIDE_BIN", release_binary(run.root(), "ringside"));
    run.step(step, suite)
}

/// The browser page: its logic in headless Chromium (wasm-bindgen-test), the page built by
/// Trunk, then driven end to end by Playwright against the native simulator.
fn browser(run: &mut Runner) -> Result<(), Failure> {
    tools::ensure_page_tools(run)?;
    tools::ensure_browser(run)?;

    // The runner (wasm-bindgen-test-runner) is set in .cargo/config.toml, Chromium's flags in
    // crates/web/webdriver.json; chromedriver is found on PATH.
    let mut wasm_tests = run.cargo_command(&["test", "-p", "ringside-web", "--target", WASM_TARGET]);
    if env::var_os("WASM_BINDGEN_TEST_TIMEOUT").is_none() {
        wasm_tests.env("WASM_BINDGEN_TEST_TIMEOUT", BROWSER_TEST_TIMEOUT_SECS);
    }
    run.step("web in chromium", wasm_tests)?;

    run.cargo("sim release", &["build", "--release", "-p", "ringside-sim"])?;
    let trunk = run.program("trunk", &["build", "--release"]);
    run.step("trunk build", trunk)?;

    let mut e2e = run.program("node", &["e2e/page.test.mjs"]);
    e2e.env("RINGSIDE_SIM", release_binary(run.root(), "ringside-sim"));
    run.step("e2e", e2e)?;
    run.step("e2e lessons", run.program("node", &["e2e/lessons.test.mjs"]))?;

    run.cargo("ringside release", &["build", "--release", "-p", "ringside-node"])?;
    let mut live = run.program("node", &["e2e/live.test.mjs"]);
    live.env("RINGSIDE_BIN", release_binary(run.root(), "ringside"));
    run.step("e2e live", live)
}

/// A binary of the workspace's release build.
fn release_binary(root: &Path, name: &str) -> PathBuf {
    target_dir(root, env::var_os("CARGO_TARGET_DIR")).join("release").join(format!("{name}{}", env::consts::EXE_SUFFIX))
}

/// The browser simulator: builds the page and serves it until Ctrl-C, rebuilding on edits.
fn demo(run: &mut Runner) -> Result<(), Failure> {
    tools::ensure_page_tools(run)?;
    let url = format!("http://{PAGE_ADDRESS}:{PAGE_PORT}");
    run.cargo("ringside release", &["build", "--release", "-p", "ringside-node"])?;
    // The live cluster runs beside the page; its stdin is ours, so it stops when we do.
    let mut cluster = run
        .program(
            release_binary(run.root(), "ringside"),
            &["cluster", "--servers", "3", "--page-url", &format!("{url}/")],
        )
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Failure::Config(format!("cannot start ringside cluster: {e}")))?;
    eprintln!(
        "==> demo: the simulator will be at {url} once built; the `page:` link the cluster prints opens it on \
         the live cluster (Ctrl-C stops both)"
    );
    let serve = run.program("trunk", &["serve", "--release", "--address", PAGE_ADDRESS, "--port", PAGE_PORT]);
    let served = run.step("serve", serve);
    let _ = cluster.kill();
    let _ = cluster.wait();
    served
}

/// Every fuzz target for `seconds` each; says how to get nightly when it is missing.
fn fuzz_task(run: &mut Runner, seconds: u64) -> Result<(), Failure> {
    if !fuzz::have_nightly(run) {
        return Err(Failure::Config(
            "fuzzing needs the nightly toolchain: `rustup toolchain install nightly`, then run again".into(),
        ));
    }
    fuzz::run_all(run, seconds)
}

/// The simulator's narrated terminal tour.
fn tour(run: &mut Runner, seed: u64) -> Result<(), Failure> {
    let seed = seed.to_string();
    let args = ["run", "--release", "-q", "-p", "ringside-sim", "--", "run", "--scenario", "tour", "--seed", &seed];
    run.cargo("tour", &args)
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
    fn demo_takes_no_arguments_and_points_at_the_tour() {
        assert_eq!(parse(&["demo"]), Ok(Task::Demo));
        let err = parse(&["demo", "--seed", "3"]).unwrap_err();
        assert!(err.contains("cargo xtask tour"), "{err}");
    }

    #[test]
    fn tour_seed_defaults_and_overrides() {
        assert_eq!(parse(&["tour"]), Ok(Task::Tour { seed: 7 }));
        assert_eq!(parse(&["tour", "--seed", "42"]), Ok(Task::Tour { seed: 42 }));
        assert_eq!(parse(&["tour", "--seed=3"]), Ok(Task::Tour { seed: 3 }));
    }

    #[test]
    fn tour_rejects_bad_arguments() {
        assert!(parse(&["tour", "--seed"]).is_err());
        assert!(parse(&["tour", "--seed", "-1"]).is_err());
        assert!(parse(&["tour", "--seed", "x"]).is_err());
        assert!(parse(&["tour", "--seeds", "3"]).is_err());
        assert!(parse(&["tour", "7"]).is_err());
    }

    #[test]
    fn fuzz_seconds_default_and_override() {
        assert_eq!(parse(&["fuzz"]), Ok(Task::Fuzz { seconds: 60 }));
        assert_eq!(parse(&["fuzz", "--seconds", "5"]), Ok(Task::Fuzz { seconds: 5 }));
        assert_eq!(parse(&["fuzz", "--seconds=7"]), Ok(Task::Fuzz { seconds: 7 }));
        assert!(parse(&["fuzz", "--seconds", "0"]).is_err());
        assert!(parse(&["fuzz", "--seconds"]).is_err());
        assert!(parse(&["fuzz", "10"]).is_err());
    }

    #[test]
    fn chaos_takes_a_length_a_seed_and_replicas() {
        let plain = ChaosRun { seconds: 60, seed: 1, partitions: false, view_leaders: 1 };
        assert_eq!(parse(&["chaos"]), Ok(Task::Chaos(plain)));
        assert_eq!(
            parse(&["chaos", "--minutes", "20", "--seed", "4", "--partitions", "--view-leaders", "3"]),
            Ok(Task::Chaos(ChaosRun { seconds: 1_200, seed: 4, partitions: true, view_leaders: 3 }))
        );
        assert_eq!(parse(&["chaos", "--seconds", "90"]), Ok(Task::Chaos(ChaosRun { seconds: 90, ..plain })));
        assert!(parse(&["chaos", "--view-leaders", "0"]).is_err());
        assert!(parse(&["chaos", "--minutes", "0"]).is_err());
        assert!(parse(&["chaos", "--seconds"]).is_err());
        assert!(parse(&["chaos", "--nemesis", "1"]).is_err());
    }

    #[test]
    fn fuzz_targets_are_the_packages_bins() {
        let manifest = std::fs::read_to_string(workspace_root().join("fuzz/Cargo.toml")).unwrap();
        let bins: Vec<&str> = manifest
            .lines()
            .filter_map(|line| line.strip_prefix("name = \"")?.strip_suffix('"'))
            .filter(|name| !name.starts_with("ringside"))
            .collect();
        assert_eq!(bins, fuzz::TARGETS);
    }

    #[test]
    fn usage_names_every_command() {
        for command in ["test", "demo", "tour", "fuzz", "help"] {
            assert!(USAGE.lines().any(|line| line.trim_start().starts_with(command)), "{command}");
        }
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
    fn target_dir_follows_cargo_target_dir() {
        let root = Path::new("/w");
        assert_eq!(target_dir(root, None), PathBuf::from("/w/target"));
        assert_eq!(target_dir(root, Some("".into())), PathBuf::from("/w/target"));
        assert_eq!(target_dir(root, Some("out".into())), PathBuf::from("/w/out"));
        assert_eq!(target_dir(root, Some("/tmp/t".into())), PathBuf::from("/tmp/t"));
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("crates/xtask/Cargo.toml").is_file());
    }
}
