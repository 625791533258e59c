//! `ringside`: the native nodes. A thin tokio shell over `ringside-core` — every protocol
//! decision is the core's; this crate moves its messages over WebSockets, keeps its clock, and
//! gives it a command line.

pub mod admin;
pub mod bench;
mod bench_moving;
mod bench_vl;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod disk;
pub mod echo;
pub mod events_file;
pub mod key;
pub mod logging;
pub mod net;
pub mod ready;
pub mod serve;
pub mod shell;
pub mod upgrade;
pub mod watch;
pub mod weight;
pub mod wire;

use std::hash::BuildHasher;
use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Program};

/// Why a `ringside` command, or one step of it (a cluster's `kill`, say), failed: one line for
/// the user (empty when the output already said so).
#[derive(Debug)]
pub struct NodeError(String);

impl NodeError {
    pub fn new(reason: impl Into<String>) -> NodeError {
        NodeError(reason.into())
    }

    /// A failure already reported on stdout (`--json`).
    pub fn quiet() -> NodeError {
        NodeError(String::new())
    }
}

/// 128 bits from the operating system's randomness, for secrets (each `RandomState` holds keys
/// std drew from it).
pub fn fresh_secret() -> u128 {
    let keys = std::collections::hash_map::RandomState::new();
    u128::from(keys.hash_one(1u8)) << 64 | u128::from(keys.hash_one(2u8))
}

/// A seed for a role's random choices (a server's id): different in every process.
pub fn fresh_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now()))
}

/// Resolves when the process should stop: on Ctrl-C, on SIGTERM, and with `--lifeline` once
/// stdin closes (the parent is gone). A node then finishes its events file and returns.
pub fn stopping(lifeline: bool) -> tokio::sync::oneshot::Receiver<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let parent_gone = async {
            if lifeline {
                let mut sink = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut sink).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let terminated = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => drop(term.recv().await),
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            Ok(()) = tokio::signal::ctrl_c() => {}
            () = terminated => {}
            () = parent_gone => {}
        }
        let _ = stop.send(());
    });
    stopped
}

/// Runs the command line; `main` is this and nothing else.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One thread per node: a role is one task, and on a small machine the processes of a
    // cluster share the cores better without work-stealing threads of their own.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let result = runtime.block_on(async move {
        match cli.program {
            Program::Viewleader(args) => serve::view_leader(args).await,
            Program::Server(args) => serve::server(args).await,
            Program::Client(args) => client::run(args).await,
            Program::Cluster(args) => cluster::run(args).await,
            Program::Bench(args) => bench::run(args).await,
            Program::Echo(args) => echo::run(args).await,
        }
    });
    // Without waiting for blocking reads: a node stopped by a signal may still be reading its
    // lifeline, stdin, which only its parent's end would close.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(NodeError(reason)) => {
            if !reason.is_empty() {
                eprintln!("error: {reason}");
            }
            ExitCode::FAILURE
        }
    }
}
