//! The command line: every subcommand and flag, with the help text `--help` prints.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ringside_core::{Addr, Command, CommitProtocol, Limits, Timing};

use crate::key::KeyArgs;
use crate::wire::DEFAULT_MAX_FRAME;

/// Ringside: a replicated key/value store you can watch working.
///
/// Start a view leader and servers on one machine with `ringside cluster`, then talk to them
/// with `ringside client`.
#[derive(Debug, Parser)]
#[command(name = "ringside", version, propagate_version = true)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub program: Program,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Program {
    /// Run a view leader: membership by heartbeats, epochs, and locks.
    Viewleader(ViewLeaderArgs),
    /// Run a storage server: a bucket of keys, replicated writes, rebalancing.
    Server(ServerArgs),
    /// Send one command to a cluster and print the answer.
    Client(ClientArgs),
    /// Run a view leader and N servers on this machine, with their logs, until quit.
    Cluster(ClusterArgs),
    /// Measure a local cluster against the network's floors and print a table.
    Bench(crate::bench::BenchArgs),
    /// A bare WebSocket echo server, the floor the benchmark measures against.
    #[command(hide = true)]
    Echo(ListenArgs),
}

/// Where a node listens.
#[derive(Clone, Debug, Args)]
pub struct ListenArgs {
    /// The IP address to listen on. Use 0.0.0.0 (with --advertise) to accept other machines.
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: IpAddr,
    /// The port; without it, the first free port from the role's default up.
    #[arg(long)]
    pub port: Option<u16>,
    /// The address peers dial to reach this node (HOST:PORT); defaults to the listen address.
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// The largest frame accepted, in bytes; larger ones get an error and a close.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME, value_name = "BYTES")]
    pub max_frame: usize,
    /// Exit when stdin closes (how `ringside cluster` makes sure no child outlives it).
    #[arg(long, hide = true)]
    pub lifeline: bool,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// The view leader's replicas, from `--viewleader a:39000,b:39001,c:39002` (one address: a
/// lone view leader).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewLeaderList(pub Vec<Addr>);

impl std::fmt::Display for ViewLeaderList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<&str> = self.0.iter().map(Addr::as_str).collect();
        f.write_str(&list.join(","))
    }
}

/// Reads `--viewleader`: HOST:PORT addresses separated by commas, each once.
pub(crate) fn view_leader_list(text: &str) -> Result<ViewLeaderList, String> {
    let mut list = Vec::new();
    for part in text.split(',').map(str::trim) {
        let Some((host, port)) = part.rsplit_once(':') else {
            return Err(format!("`{part}` is not HOST:PORT"));
        };
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(format!("`{part}` is not HOST:PORT"));
        }
        let addr = Addr(part.to_string());
        if list.contains(&addr) {
            return Err(format!("{part} is listed twice"));
        }
        list.push(addr);
    }
    Ok(ViewLeaderList(list))
}

/// `ringside viewleader`.
#[derive(Debug, Args)]
pub struct ViewLeaderArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Every replica of the view leader, this one among them (HOST:PORT,…): with more than
    /// one they elect a leader and replicate the view and the locks by Raft. Without it, a
    /// lone view leader that keeps its state in memory only.
    #[arg(long, value_name = "HOST:PORT,…", value_parser = view_leader_list)]
    pub viewleader: Option<ViewLeaderList>,
    /// Where a replica keeps its term, vote and log (needed with more than one replica).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The servers' heartbeat period and the failure timeout: a server is failed once its last
    /// heartbeat is older than the timeout, and failure timers firing more than a heartbeat
    /// period late tell the view leader it was paused itself.
    #[command(flatten)]
    pub timing: TimingArgs,
    /// Append every frame this node sends and reads, and every event, to FILE as JSON lines
    /// (the records a `watch` connection gets; see docs/protocol.md).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Longest lock name (and requester name) kept, in bytes.
    #[arg(long, default_value_t = Limits::default().lock_name_bytes, value_name = "BYTES")]
    pub max_lock_name_bytes: usize,
    /// Most locks held at once.
    #[arg(long, default_value_t = Limits::default().locks, value_name = "N")]
    pub max_locks: usize,
    /// Most requesters waiting in all lock queues together.
    #[arg(long, default_value_t = Limits::default().waiters, value_name = "N")]
    pub max_waiters: usize,
}

/// Heartbeat timing shared by servers and the cluster.
#[derive(Clone, Debug, Args)]
pub struct TimingArgs {
    /// How often a server heartbeats the view leader (ms).
    #[arg(long, default_value_t = Timing::DEMO.heartbeat_ms, value_name = "MS")]
    pub heartbeat_ms: u64,
    /// The view leader's failure timeout (ms); servers stop serving before it could pass.
    #[arg(long, default_value_t = Timing::DEMO.failure_timeout_ms, value_name = "MS")]
    pub failure_timeout_ms: u64,
    /// The course's timing: heartbeat every 10 s, failed after 30 s (overrides both above).
    #[arg(long)]
    pub course_timing: bool,
}

/// Placement settings every server and client of a cluster must share.
#[derive(Clone, Debug, Args)]
pub struct PlacementArgs {
    /// Replicas per key (R).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub replicas: u16,
    /// Virtual nodes per server on the ring (1 = the course's ring).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub vnodes: u32,
}

/// `ringside server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Where the view leader listens: one address, or every replica's (HOST:PORT,…).
    #[arg(long, default_value = "127.0.0.1:39000", value_name = "HOST:PORT,…", value_parser = view_leader_list)]
    pub viewleader: ViewLeaderList,
    #[command(flatten)]
    pub timing: TimingArgs,
    #[command(flatten)]
    pub placement: PlacementArgs,
    /// Append every frame this node sends and reads, and every event, to FILE as JSON lines
    /// (the records a `watch` connection gets; see docs/protocol.md).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Longest key kept, in bytes.
    #[arg(long, default_value_t = Limits::default().key_bytes, value_name = "BYTES")]
    pub max_key_bytes: usize,
    /// Longest value kept, in bytes.
    #[arg(long, default_value_t = Limits::default().value_bytes, value_name = "BYTES")]
    pub max_value_bytes: usize,
    /// How a transaction whose coordinator went silent is decided: `paxos` (Paxos Commit: the
    /// participants take over and decide while a majority of them live) or `classic` (the
    /// course's two-phase commit, which blocks when every participant is prepared).
    #[arg(long, default_value = "paxos", value_name = "PROTOCOL", value_parser = commit_protocol)]
    pub commit: CommitProtocol,
}

/// Reads `--commit`.
pub(crate) fn commit_protocol(name: &str) -> Result<CommitProtocol, String> {
    CommitProtocol::from_name(name).ok_or_else(|| format!("`{name}` is no commit protocol: use paxos or classic"))
}

/// `ringside client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Where the view leader listens (for setr, getr, query_servers and locks): one address,
    /// or every replica's (HOST:PORT,…).
    #[arg(long, default_value = "127.0.0.1:39000", value_name = "HOST:PORT,…", value_parser = view_leader_list)]
    pub viewleader: ViewLeaderList,
    /// The server for print, set, get and query_all_keys.
    #[arg(long, default_value = "127.0.0.1:38000", value_name = "HOST:PORT")]
    pub server: String,
    /// Print the result as one JSON object instead of words.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub key: KeyArgs,
    /// How long to wait for any one answer (ms).
    #[arg(long, default_value_t = 1_000, value_name = "MS")]
    pub timeout_ms: u64,
    /// Attempts of setr/getr (through view changes, with backoff) before giving up.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub attempts: u32,
    /// How often lock_get asks again while queued (ms).
    #[arg(long, default_value_t = 5_000, value_name = "MS")]
    pub lock_retry_ms: u64,
    #[command(flatten)]
    pub placement: PlacementArgs,
    /// The command.
    #[command(subcommand)]
    pub command: ClientCommand,
}

/// What `ringside client` can ask.
#[derive(Clone, Debug, Subcommand)]
#[command(rename_all = "snake_case")]
pub enum ClientCommand {
    /// Make --server log TEXT.
    Print { text: String },
    /// Store KEY=VALUE on --server only (no replication).
    Set { key: String, value: String },
    /// Read KEY from --server only.
    Get { key: String },
    /// List the keys --server holds.
    QueryAllKeys,
    /// Show the view: epoch, servers, and whether rebalancing is under way.
    QueryServers,
    /// Take lock NAME for REQUESTER, waiting in the queue while another holds it.
    LockGet { name: String, requester: String },
    /// Release lock NAME held by REQUESTER, or leave its queue.
    LockRelease { name: String, requester: String },
    /// Write KEY=VALUE on every replica with two-phase commit.
    Setr { key: String, value: String },
    /// Read the newest committed value of KEY from its replicas.
    Getr { key: String },
}

impl ClientCommand {
    /// The command in the vocabulary every front-end shares; a lock's requester is not part of
    /// it but the client's name (see [`requester`](Self::requester)).
    pub fn command(&self) -> Command {
        match self.clone() {
            ClientCommand::Print { text } => Command::Print { text },
            ClientCommand::Set { key, value } => Command::Set { key, value },
            ClientCommand::Get { key } => Command::Get { key },
            ClientCommand::QueryAllKeys => Command::QueryAllKeys,
            ClientCommand::QueryServers => Command::QueryServers,
            ClientCommand::LockGet { name, .. } => Command::LockGet { name },
            ClientCommand::LockRelease { name, .. } => Command::LockRelease { name },
            ClientCommand::Setr { key, value } => Command::SetR { key, value },
            ClientCommand::Getr { key } => Command::GetR { key },
        }
    }

    /// Who takes or releases a lock, for the lock commands.
    pub fn requester(&self) -> Option<&str> {
        match self {
            ClientCommand::LockGet { requester, .. } | ClientCommand::LockRelease { requester, .. } => Some(requester),
            _ => None,
        }
    }
}

/// `ringside cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// How many servers to start.
    #[arg(long, default_value_t = 3)]
    pub servers: usize,
    /// How many view-leader replicas to start (1: a lone view leader; 3 or 5 elect a leader and
    /// survive the loss of a minority; `kill vl2` and `restart vl2` fail one over).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=7))]
    pub viewleaders: u64,
    /// The view leader's port; without it, the first free port from 39000 up.
    #[arg(long)]
    pub port: Option<u16>,
    #[command(flatten)]
    pub timing: TimingArgs,
    #[command(flatten)]
    pub placement: PlacementArgs,
    /// Give each node `--events DIR/<label>.jsonl` (vl.jsonl, s1.jsonl, ...); DIR is created
    /// if missing.
    #[arg(long, value_name = "DIR")]
    pub events_dir: Option<PathBuf>,
    /// The admin endpoint's port (add, kill and list servers over a WebSocket), always on
    /// 127.0.0.1; without it, the first free port from 39100 up.
    #[arg(long, value_name = "N")]
    pub admin_port: Option<u16>,
    /// The servers' commit protocol: `paxos` or `classic` (see `ringside server --help`).
    #[arg(long, default_value = "paxos", value_name = "PROTOCOL", value_parser = commit_protocol)]
    pub commit: CommitProtocol,
    /// The browser page the printed `page:` link opens, watching this cluster.
    #[arg(long, default_value = "http://127.0.0.1:8080/", value_name = "URL")]
    pub page_url: String,
    /// Without a key from here or RINGSIDE_CLUSTER_KEY, the cluster makes a fresh one.
    #[command(flatten)]
    pub key: KeyArgs,
}
