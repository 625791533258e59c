//! `ringside-sim`: narrated scenarios, seed sweeps, movement figures, placement and speed.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use ringside_core::ring::{position, Ring};
use ringside_core::{CommitProtocol, Names, ServerId};
use ringside_sim::{bench, linearize, movement, narrate, scenario, session, sweep};

/// Trace entries held while a session is replayed and printed.
const TRACE_HELD: usize = 10_000;

#[derive(Parser)]
#[command(name = "ringside-sim", about = "Ringside's deterministic simulator", version)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Play a named scenario, or replay a session the browser exported, and narrate it.
    Run {
        /// The scenario (see --list).
        #[arg(long, required_unless_present_any = ["list", "session"], conflicts_with = "session")]
        scenario: Option<String>,
        /// A session file (the page's "export"): its setup and inputs are replayed; the trace
        /// hash printed at the end matches the page's.
        #[arg(long)]
        session: Option<std::path::PathBuf>,
        /// The seed: the same seed gives the same run, bit for bit (a session has its own).
        #[arg(long, default_value_t = 1, conflicts_with = "session")]
        seed: u64,
        /// Print the full trace as JSON lines instead of the narration.
        #[arg(long)]
        trace: bool,
        /// Narrate routine traffic too (heartbeats, transfer details).
        #[arg(long)]
        all: bool,
        /// List the scenarios.
        #[arg(long, conflicts_with = "session")]
        list: bool,
    },
    /// Run many seeds with random clusters, workloads and faults; fail on any violation.
    Sweep {
        /// How many seeds (at least one: a sweep of nothing proves nothing).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 1)]
        start: u64,
        /// Narrate every seed's run (use with --seeds 1 to study a failure).
        #[arg(long)]
        narrate: bool,
        /// The servers' commit protocol: `paxos` (the default) or `classic`.
        #[arg(long, default_value = "paxos", value_parser = commit_protocol)]
        commit: CommitProtocol,
        /// View-leader replicas (1: a lone view leader, never crashed). With more, they crash
        /// and restart from their disks, stall and are cut off, the leader most of all.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=7))]
        view_leaders: u64,
        /// Servers join and fail every few hundred milliseconds all through the workload, so
        /// that most operations land inside a transition, on keys whose copies are moving.
        #[arg(long)]
        churn: bool,
    },
    /// Copies moved per view change versus the minimum.
    Movement {
        /// Servers at the start.
        #[arg(long, default_value_t = 10)]
        servers: usize,
        /// Keys loaded.
        #[arg(long, default_value_t = 10_000)]
        keys: usize,
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many joins and removals.
        #[arg(long, default_value_t = 6)]
        changes: usize,
    },
    /// The replica list of a key, primary first.
    Place {
        /// Server ids, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        servers: Vec<String>,
        /// The key.
        #[arg(long)]
        key: String,
        /// Replicas per key.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        replicas: u32,
        /// Virtual nodes per server.
        #[arg(long, default_value_t = 1)]
        vnodes: u32,
    },
    /// Simulated deliveries per second, and the linearizability checker's speed.
    Bench {
        /// Deliveries to simulate per round.
        #[arg(long, default_value_t = 2_000_000)]
        deliveries: u64,
        /// Rounds (the median is reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
}

fn main() -> ExitCode {
    match Cli::parse().task {
        Task::Run { session: Some(path), trace, all, .. } => run_session(&path, trace, all),
        Task::Run { scenario, seed, trace, all, list, .. } => run(scenario, seed, trace, all, list),
        Task::Sweep { seeds, start, narrate, commit, view_leaders, churn } => {
            run_sweep(seeds, start, narrate, sweep::Variant { commit, view_leaders: view_leaders as usize, churn })
        }
        Task::Movement { servers, keys, seed, changes } => run_movement(servers, keys, seed, changes),
        Task::Place { servers, key, replicas, vnodes } => {
            let ids: Vec<ServerId> = servers.iter().map(|s| ServerId(s.clone())).collect();
            let ring = Ring::new(ids.iter(), vnodes);
            println!("key {key} at position {:#018x}", position(&key));
            for (i, s) in ring.replicas(&key, replicas as usize).iter().enumerate() {
                println!("{} {s}", if i == 0 { "primary" } else { "replica" });
            }
            ExitCode::SUCCESS
        }
        Task::Bench { deliveries, rounds } => run_bench(deliveries, rounds),
    }
}

fn run_session(path: &std::path::Path, trace: bool, all: bool) -> ExitCode {
    let loaded = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
        .and_then(|text| session::parse(&text));
    let session = match loaded {
        Ok(session) => session,
        Err(reason) => {
            eprintln!("{reason}");
            return ExitCode::from(2);
        }
    };
    // Each entry is printed as the replay makes it, so a long run needs no more memory than
    // the page does; one event makes far fewer entries than the trace holds.
    let mut printed = 0;
    let mut names = Names::default();
    let sim = session.replay_keeping(TRACE_HELD, |sim| {
        for e in sim.trace().since(printed) {
            let line = if trace { serde_json::to_string(e).ok() } else { narrate::line(e, all, &mut names) };
            if let Some(line) = line {
                println!("{line}");
            }
        }
        printed = sim.trace().len();
    });
    let verdict = sim.violation().map_or("all invariants held".to_string(), |v| v.to_string());
    eprintln!("\n{} trace entries, trace hash {}\n{verdict}", sim.trace().len(), sim.trace().hash());
    if sim.violation().is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run(name: Option<String>, seed: u64, trace: bool, all: bool, list: bool) -> ExitCode {
    if list {
        for s in scenario::SCENARIOS {
            println!("{:<18} {}", s.name, s.about);
        }
        return ExitCode::SUCCESS;
    }
    let name = name.unwrap_or_default();
    let Some(found) = scenario::find(&name) else {
        eprintln!("no scenario {name:?}; `ringside-sim run --list` names them");
        return ExitCode::from(2);
    };
    let played = scenario::play(found.script(seed));
    let entries = played.sim.trace().entries();
    if trace {
        for e in entries {
            println!("{}", serde_json::to_string(e).unwrap_or_default());
        }
    } else {
        println!("scenario {} (seed {seed}): {}", found.name, found.about);
        let mut headings = played.headings.iter().peekable();
        let mut names = Names::default();
        for (i, e) in entries.iter().enumerate() {
            while let Some((_, text)) = headings.next_if(|(at, _)| *at <= i) {
                println!("\n== {text}");
            }
            if let Some(line) = narrate::line(e, all, &mut names) {
                println!("{line}");
            }
        }
        for (_, text) in headings {
            println!("\n== {text}");
        }
    }
    let hash = played.sim.trace().hash();
    let verdict = played.sim.violation().map_or("all invariants held".to_string(), |v| v.to_string());
    eprintln!("\n{} trace entries, trace hash {hash}\n{verdict}", entries.len());
    if played.sim.violation().is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads `--commit`.
fn commit_protocol(name: &str) -> Result<CommitProtocol, String> {
    CommitProtocol::from_name(name).ok_or_else(|| format!("`{name}` is no commit protocol: use paxos or classic"))
}

fn run_sweep(seeds: u64, start: u64, narrate_runs: bool, variant: sweep::Variant) -> ExitCode {
    let (mut ops, mut violations, mut nonlin, mut deliveries) = (0, 0, 0, 0);
    // How long decisions came late, and how many never came (classic 2PC blocks; Paxos
    // Commit only without a majority).
    let (mut longest_late_ms, mut blocked, mut blocking_seeds) = (0, 0, 0);
    let (mut in_transition, mut moving_key) = (0, 0);
    let begun = Instant::now();
    for seed in start..start + seeds {
        let (out, sim) = sweep::run_variant(seed, narrate_runs, variant);
        if narrate_runs {
            let mut names = Names::default();
            for line in sim.trace().entries().iter().filter_map(|e| narrate::line(e, true, &mut names)) {
                println!("{line}");
            }
        }
        ops += out.ops;
        deliveries += out.deliveries;
        longest_late_ms = longest_late_ms.max(out.longest_late_ms);
        blocked += out.blocked;
        blocking_seeds += usize::from(out.blocked > 0);
        in_transition += out.in_transition.rebalancing;
        moving_key += out.in_transition.moving_key;
        if let Some(v) = out.violation {
            violations += 1;
            nonlin += usize::from(out.nonlinearizable);
            let mut more = match variant.view_leaders {
                1 => String::new(),
                n => format!(" --view-leaders {n}"),
            };
            if variant.churn {
                more.push_str(" --churn");
            }
            eprintln!(
                "FAIL {v}\n  reproduce: cargo run --release -p ringside-sim -- sweep --seeds 1 --start {seed}{more}"
            );
        }
    }
    println!(
        "seeds={seeds} violations={violations} ops={ops} nonlinearizable={nonlin} deliveries={deliveries} \
         longest_late_decision_ms={longest_late_ms} blocked_at_end={blocked} seeds_with_blocked={blocking_seeds} \
         in_transition={in_transition} on_moving_keys={moving_key} wall={:.1}s",
        begun.elapsed().as_secs_f64()
    );
    if violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_movement(servers: usize, keys: usize, seed: u64, changes: usize) -> ExitCode {
    match movement::measure(servers, keys, seed, changes) {
        Ok(list) => {
            println!("{:<12} {:>6} {:>8} {:>8} {:>7}", "change", "epoch", "moved", "minimum", "ratio");
            for c in &list {
                println!("{:<12} {:>6} {:>8} {:>8} {:>7.3}", c.what, c.epoch, c.moved, c.minimum, c.ratio());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("movement failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run_bench(deliveries: u64, rounds: usize) -> ExitCode {
    let rounds = rounds.max(1);
    let mut bare = Vec::new();
    let mut checked = Vec::new();
    let mut ops = 0;
    for round in 0..rounds {
        for (check, out) in [(false, &mut bare), (true, &mut checked)] {
            let mut sim = bench::world(round as u64 + 1, check);
            let t = Instant::now();
            let start = sim.deliveries();
            ops = bench::drive(&mut sim, deliveries, round as u64);
            out.push((sim.deliveries() - start) as f64 / t.elapsed().as_secs_f64());
        }
    }
    println!(
        "simulated deliveries/s (median of {rounds}): {:.0} bare, {:.0} with invariants checked every step",
        median(bare),
        median(checked)
    );
    println!("  ({ops} client operations finished per round of {deliveries} deliveries)");
    let history = linearize::synthetic_history(1, 10, 10_000, 4);
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let ok = linearize::check(&history).is_ok();
        times.push(t.elapsed().as_secs_f64());
        if !ok {
            eprintln!("the synthetic history should be linearizable");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "linearizability check of a {}-operation history: {:.1} ms (median of {rounds})",
        history.len(),
        median(times) * 1e3
    );
    ExitCode::SUCCESS
}
