//! `ringside cluster`: a view leader (or several view-leader replicas) and N servers as child
//! processes on loopback, their logs tailed with a prefix per node, driven by `add`, `kill ID`,
//! `restart vlN`, `list` and `quit` on stdin and by the same commands over the admin endpoint
//! ([`crate::admin`]).

use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use ringside_core::{Addr, CommitProtocol, Timing};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::admin::{self, Answer, ListedServer};
use crate::cli::ClusterArgs;
use crate::key::ClusterKey;
use crate::ready::Ready;
use crate::NodeError;

/// How long `quit` waits for the nodes to finish their events files before killing them.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The environment variable naming another `ringside` program for the nodes to run.
pub const NODE_BIN: &str = "RINGSIDE_NODE_BIN";

/// What every node of a cluster is started with.
#[derive(Clone, Debug)]
pub struct Options {
    /// The view leader's port (None: the first free from 39000).
    pub port: Option<u16>,
    /// Heartbeat and failure timing.
    pub timing: Timing,
    /// Replicas per key.
    pub replicas: u16,
    /// Virtual nodes per server.
    pub vnodes: u32,
    /// The servers' commit protocol.
    pub commit: CommitProtocol,
    /// Extra environment for the children (a log filter, say).
    pub env: Vec<(String, String)>,
    /// Where each node appends its records, as `<label>.jsonl`.
    pub events_dir: Option<PathBuf>,
    /// The cluster key, handed to every child in its environment (never on its command line,
    /// which any user of the machine can read).
    pub key: Option<ClusterKey>,
    /// View-leader replicas (1: a lone view leader).
    pub view_leaders: usize,
}

impl Options {
    /// `--events DIR/<label>.jsonl`, if events are kept.
    fn events(&self, label: &str) -> Vec<String> {
        self.events_dir
            .iter()
            .flat_map(|dir| ["--events".into(), dir.join(format!("{label}.jsonl")).display().to_string()])
            .collect()
    }
}

/// Where the children's log lines go.
#[derive(Clone, Debug)]
pub enum Logs {
    /// Printed with a `[label]` prefix.
    Print,
    /// Read and dropped.
    Discard,
}

/// One child process.
#[derive(Debug)]
pub struct Proc {
    /// `vl` (or `vl1`, `vl2`, … for replicas), `s1`, `s2`, …
    pub label: String,
    /// Where it listens.
    pub addr: Addr,
    /// A server's id, from its ready line.
    pub id: Option<String>,
    child: Child,
    killed: bool,
}

/// Whether a child runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// It runs.
    Running,
    /// `kill` stopped it.
    Killed,
    /// It ended on its own, for this reason.
    Exited(String),
}

impl State {
    /// `running`, `killed` or `exited`.
    pub fn word(&self) -> &'static str {
        match self {
            State::Running => "running",
            State::Killed => "killed",
            State::Exited(_) => "exited",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Exited(why) => write!(f, "exited ({why})"),
            other => f.write_str(other.word()),
        }
    }
}

impl Proc {
    /// Whether it was killed.
    pub fn killed(&self) -> bool {
        self.killed
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether it runs. A killed child counts as killed at once: SIGKILL cannot be refused.
    pub fn state(&mut self) -> State {
        match self.child.try_wait() {
            _ if self.killed => State::Killed,
            Ok(None) => State::Running,
            Ok(Some(status)) => State::Exited(status.to_string()),
            Err(e) => State::Exited(e.to_string()),
        }
    }

    /// It as the admin endpoint shows it.
    pub fn entry(&mut self) -> ListedServer {
        let state = self.state().word();
        ListedServer { label: self.label.clone(), addr: self.addr.to_string(), id: self.id.clone(), state }
    }
}

/// A running cluster's child processes: its view leader and servers. Dropping it kills every
/// child.
#[derive(Debug)]
pub struct ClusterProcesses {
    options: Options,
    logs: Logs,
    /// The view leader, or its replicas in the order of the list.
    pub view_leaders: Vec<Proc>,
    /// Every server started, killed ones included.
    pub servers: Vec<Proc>,
    /// Where the replicas keep their disks (removed when the cluster stops).
    data_dir: Option<PathBuf>,
}

impl ClusterProcesses {
    /// What its nodes were started with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The cluster key its nodes were given.
    pub fn key(&self) -> Option<&ClusterKey> {
        self.options.key.as_ref()
    }

    /// The `--viewleader` every server and client of this cluster gets: the view leader's
    /// address, or every replica's.
    pub fn view_leader_list(&self) -> String {
        let list: Vec<&str> = self.view_leaders.iter().map(|p| p.addr.as_str()).collect();
        list.join(",")
    }

    /// Starts the view leader (or its replicas, each on a free port from the first, with a
    /// data directory of its own) and `servers` servers, each once it knows where the previous
    /// listens.
    pub async fn start(options: Options, servers: usize, logs: Logs) -> Result<ClusterProcesses, NodeError> {
        let mut cluster =
            ClusterProcesses { options, logs, view_leaders: Vec::new(), servers: Vec::new(), data_dir: None };
        if cluster.options.view_leaders <= 1 {
            let mut args = cluster.view_leader_args("vl");
            if let Some(port) = cluster.options.port {
                args.extend(["--port".into(), port.to_string()]);
            }
            cluster.view_leaders.push(spawn("vl".into(), args, &cluster.options, &cluster.logs).await?);
        } else {
            let ports = free_ports(cluster.options.port.unwrap_or(39000), cluster.options.view_leaders)?;
            let list: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
            let dir = std::env::temp_dir().join(format!(
                "ringside-cluster-{}-{}",
                std::process::id(),
                crate::fresh_seed() % 100_000
            ));
            cluster.data_dir = Some(dir);
            for (i, addr) in list.iter().enumerate() {
                let label = format!("vl{}", i + 1);
                let proc = spawn(
                    label.clone(),
                    cluster.replica_args(&label, addr, &list.join(",")),
                    &cluster.options,
                    &cluster.logs,
                )
                .await?;
                cluster.view_leaders.push(proc);
            }
        }
        for _ in 0..servers {
            cluster.add().await?;
        }
        Ok(cluster)
    }

    fn view_leader_args(&self, label: &str) -> Vec<String> {
        let o = &self.options;
        let mut args = vec![
            "viewleader".to_string(),
            "--heartbeat-ms".into(),
            o.timing.heartbeat_ms.to_string(),
            "--failure-timeout-ms".into(),
            o.timing.failure_timeout_ms.to_string(),
        ];
        args.extend(o.events(label));
        args
    }

    fn replica_args(&self, label: &str, addr: &str, list: &str) -> Vec<String> {
        let port = addr.rsplit_once(':').map_or("", |(_, p)| p).to_string();
        let dir = self.data_dir.as_ref().map(|d| d.join(label).display().to_string()).unwrap_or_default();
        let mut args = self.view_leader_args(label);
        args.extend(["--viewleader".into(), list.into(), "--port".into(), port, "--data-dir".into(), dir]);
        args
    }

    /// Starts a killed view-leader replica again, from its disk.
    pub async fn restart(&mut self, which: &str) -> Result<&mut Proc, NodeError> {
        let list = self.view_leader_list();
        let Some(i) = self.view_leaders.iter().position(|p| p.label == which) else {
            return Err(NodeError::new(format!("no view-leader replica {which}: restart takes vl1, vl2, …")));
        };
        if self.data_dir.is_none() {
            return Err(NodeError::new(
                "a lone view leader keeps nothing on disk: there is nothing to restart it from",
            ));
        }
        if self.view_leaders[i].state() == State::Running {
            return Err(NodeError::new(format!("{which} is running")));
        }
        let addr = self.view_leaders[i].addr.to_string();
        let args = self.replica_args(which, &addr, &list);
        self.view_leaders[i] = spawn(which.to_string(), args, &self.options, &self.logs).await?;
        Ok(&mut self.view_leaders[i])
    }

    /// Starts one more server, once it listens.
    pub async fn add(&mut self) -> Result<&mut Proc, NodeError> {
        let label = format!("s{}", self.servers.len() + 1);
        let o = &self.options;
        let mut args: Vec<String> = [
            "server",
            "--viewleader",
            &self.view_leader_list(),
            "--heartbeat-ms",
            &o.timing.heartbeat_ms.to_string(),
            "--failure-timeout-ms",
            &o.timing.failure_timeout_ms.to_string(),
            "--replicas",
            &o.replicas.to_string(),
            "--vnodes",
            &o.vnodes.to_string(),
            "--commit",
            o.commit.name(),
        ]
        .map(String::from)
        .to_vec();
        args.extend(o.events(&label));
        let proc = spawn(label, args, &self.options, &self.logs).await?;
        self.servers.push(proc);
        Ok(self.servers.last_mut().expect("just pushed"))
    }

    /// Kills (SIGKILL, like a crash) the server with this label or id, or the view-leader
    /// replica with this label.
    pub fn kill(&mut self, which: &str) -> Result<&mut Proc, NodeError> {
        let replicated = self.view_leaders.len() > 1;
        let proc = self
            .servers
            .iter_mut()
            .chain(self.view_leaders.iter_mut().filter(|_| replicated))
            .find(|p| p.label == which || p.id.as_deref() == Some(which))
            .ok_or_else(|| NodeError::new(format!("no server {which}")))?;
        if proc.killed {
            return Err(NodeError::new(format!("{which} is already killed")));
        }
        proc.child.start_kill().map_err(|e| NodeError::new(format!("cannot kill {which}: {e}")))?;
        proc.killed = true;
        Ok(proc)
    }

    fn procs(&mut self) -> impl Iterator<Item = &mut Proc> {
        self.view_leaders.iter_mut().chain(self.servers.iter_mut())
    }

    /// One line per process.
    pub fn list(&mut self) -> Vec<String> {
        self.procs()
            .map(|p| {
                let id = p.id.clone().unwrap_or_else(|| "view leader".into());
                let pid = p.pid().map_or("-".into(), |pid| pid.to_string());
                let state = p.state();
                format!("{:<4} {:<12} {:<21} pid {:<8} {state}", p.label, id, p.addr, pid)
            })
            .collect()
    }

    /// Stops every child: closing its stdin (its lifeline) lets a node finish its events file
    /// and exit; whatever still runs after [`STOP_GRACE`] is killed.
    pub async fn stop(mut self) {
        for proc in self.procs() {
            drop(proc.child.stdin.take());
        }
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for proc in self.procs() {
            let _ = tokio::time::timeout_at(deadline, proc.child.wait()).await;
        }
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `n` ports free on 127.0.0.1, from `first` up.
fn free_ports(first: u16, n: usize) -> Result<Vec<u16>, NodeError> {
    let ports: Vec<u16> = (first..first.saturating_add(1000))
        .filter(|p| std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, *p)).is_ok())
        .take(n)
        .collect();
    if ports.len() < n {
        return Err(NodeError::new(format!("fewer than {n} free ports from {first} up")));
    }
    Ok(ports)
}

/// Starts `ringside ARGS` and waits for its ready line, which says where it listens.
pub async fn spawn(label: String, mut args: Vec<String>, options: &Options, logs: &Logs) -> Result<Proc, NodeError> {
    // Another build may run the nodes (`RINGSIDE_NODE_BIN`): how a benchmark compares an older
    // node with this one, side by side.
    let exe = match std::env::var_os(NODE_BIN) {
        Some(bin) => PathBuf::from(bin),
        None => std::env::current_exe().map_err(|e| NodeError::new(format!("cannot find this program: {e}")))?,
    };
    args.push("--lifeline".into());
    let mut command = Command::new(exe);
    match &options.key {
        Some(key) => command.env(crate::key::ENV, key.reveal()),
        None => command.env_remove(crate::key::ENV),
    };
    let mut child = command
        .args(&args)
        .envs(options.env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| NodeError::new(format!("cannot start {label}: {e}")))?;
    let (ready, listening) = oneshot::channel();
    let stderr = child.stderr.take().expect("stderr is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    tokio::spawn(tail(label.clone(), stderr, logs.clone(), None));
    tokio::spawn(tail(label.clone(), stdout, logs.clone(), Some(ready)));
    let timeout = std::time::Duration::from_secs(10);
    match tokio::time::timeout(timeout, listening).await {
        Ok(Ok(Ready::ViewLeader { addr } | Ready::Echo { addr })) => {
            Ok(Proc { label, addr, id: None, child, killed: false })
        }
        Ok(Ok(Ready::Server { id, addr })) => Ok(Proc { label, addr, id: Some(id.0), child, killed: false }),
        Ok(Ok(other)) => {
            let _ = child.start_kill();
            Err(NodeError::new(format!("{label} is not a node: it announced {}", other.line())))
        }
        // Its stdout closed before the line came.
        Ok(Err(_)) => Err(NodeError::new(format!("{label} exited before it listened"))),
        Err(_) => {
            let _ = child.start_kill();
            Err(NodeError::new(format!("{label} did not start listening within {timeout:?}")))
        }
    }
}

/// Forwards a child's output line by line. With `ready`, the output is its stdout, and its ready
/// line is handed over there instead of forwarded.
async fn tail(
    label: String,
    from: impl tokio::io::AsyncRead + Unpin,
    logs: Logs,
    mut ready: Option<oneshot::Sender<Ready>>,
) {
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(found) = ready.is_some().then(|| Ready::parse(&line)).flatten() {
            let _ = ready.take().expect("checked").send(found);
            continue;
        }
        match &logs {
            Logs::Print => println!("[{label}] {line}"),
            Logs::Discard => {}
        }
    }
}

/// Runs a cluster in the foreground until `quit`, Ctrl-C or SIGTERM.
pub async fn run(args: ClusterArgs) -> Result<(), NodeError> {
    if let Some(dir) = &args.events_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| NodeError::new(format!("cannot create the events directory {}: {e}", dir.display())))?;
    }
    let key = args.key.resolve()?.unwrap_or_else(ClusterKey::generate);
    let options = Options {
        port: args.port,
        timing: args.timing.resolve()?,
        replicas: args.placement.replicas,
        vnodes: args.placement.vnodes,
        commit: args.commit,
        env: Vec::new(),
        events_dir: args.events_dir,
        key: Some(key.clone()),
        view_leaders: args.viewleaders as usize,
    };
    // Bound first: a taken --admin-port fails before any node starts.
    let (admin_listener, admin_addr) = admin::bind(args.admin_port).await?;
    let mut cluster = ClusterProcesses::start(options, args.servers, Logs::Print).await?;
    let vl = Addr(cluster.view_leader_list());
    match cluster.view_leaders.len() {
        1 => println!("ringside cluster: view leader at {vl}"),
        n => println!("ringside cluster: {n} view-leader replicas at {vl} (kill vlN and restart vlN to fail one over)"),
    }
    for line in cluster.list() {
        println!("  {line}");
    }
    let token = admin::token();
    // The page's live mode watches every replica and asks whichever leads.
    let link = Link { vl: &vl, admin: &admin_addr, token: &token, key: &key };
    let page = link.page(&args.page_url, args.placement.replicas, args.placement.vnodes);
    println!("admin: ws://{admin_addr}/admin?token={token}   (loopback only: add, kill and list servers)");
    println!("page:  {page}");
    println!(
        "key:   {}={}   (every client and node of this cluster needs it; or pass --cluster-key-file)",
        crate::key::ENV,
        key.reveal()
    );
    let (asks, mut asked) = mpsc::channel(16);
    admin::serve(admin_listener, token.clone(), asks, |line| println!("[admin] {line}"));
    let ready = Ready::Cluster { addr: Addr(admin_addr.to_string()), viewleader: vl.clone(), token, page };
    ready.announce();
    println!(
        "commands: add | kill ID | restart vlN | list | quit   (try: {}={} ringside client --viewleader {vl} setr a 1)",
        crate::key::ENV,
        key.reveal()
    );
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| NodeError::new(format!("cannot watch for SIGTERM: {e}")))?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            Some((command, reply)) = asked.recv() => {
                let _ = reply.send(answer(&mut cluster, command).await);
            }
            line = stdin.next_line(), if stdin_open => {
                // Without a terminal (stdin closed) the cluster runs until a signal stops it.
                let Ok(Some(line)) = line else { stdin_open = false; continue };
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    [] => {}
                    ["add"] => match cluster.add().await {
                        Ok(p) => println!("started {} at {}", p.label, p.addr),
                        Err(NodeError(e)) => println!("error: {e}"),
                    },
                    ["kill", which] => match cluster.kill(which) {
                        Ok(p) => println!("killed {} ({})", p.label, p.addr),
                        Err(NodeError(e)) => println!("error: {e}"),
                    },
                    ["restart", which] => match cluster.restart(which).await {
                        Ok(p) => println!("restarted {} at {} from its disk", p.label, p.addr),
                        Err(NodeError(e)) => println!("error: {e}"),
                    },
                    ["list"] => cluster.list().iter().for_each(|l| println!("  {l}")),
                    ["quit"] | ["exit"] => break,
                    _ => println!("unknown command {line:?}: add | kill ID | restart vlN | list | quit"),
                }
            }
        }
    }
    println!("stopping every node");
    cluster.stop().await;
    Ok(())
}

/// Carries out an admin command, saying what it did as the stdin commands do.
async fn answer(cluster: &mut ClusterProcesses, command: admin::AdminCommand) -> Answer {
    let result = match command {
        admin::AdminCommand::List => {
            println!("[admin] list");
            let servers = cluster.servers.iter_mut().map(Proc::entry).collect();
            return Answer::List { viewleader: cluster.view_leader_list(), servers };
        }
        admin::AdminCommand::Add => cluster.add().await.map(|p| {
            println!("[admin] started {} at {}", p.label, p.addr);
            p.entry()
        }),
        admin::AdminCommand::Kill { server } => cluster.kill(&server).map(|p| {
            println!("[admin] killed {} ({})", p.label, p.addr);
            p.entry()
        }),
        admin::AdminCommand::Restart { server } => cluster.restart(&server).await.map(|p| {
            println!("[admin] restarted {} at {} from its disk", p.label, p.addr);
            p.entry()
        }),
    };
    match result {
        Ok(server) => Answer::Server { server },
        Err(NodeError(error)) => {
            println!("[admin] error: {error}");
            Answer::Error { error }
        }
    }
}

/// What the page needs to watch and drive this cluster.
struct Link<'a, A> {
    vl: &'a Addr,
    admin: &'a A,
    token: &'a str,
    key: &'a ClusterKey,
}

impl<A: std::fmt::Display> Link<'_, A> {
    /// The link that opens the page on this cluster (`live=` names the view leader's replicas,
    /// comma-separated, or its one address). It is all in the fragment, which a browser
    /// never sends to a server. Replicas and virtual nodes are in it only when they are not the
    /// defaults the page assumes (3 and 1): the nodes' records do not carry them.
    fn page(&self, base: &str, replicas: u16, vnodes: u32) -> String {
        let Link { vl, admin, token, key } = self;
        let mut link = format!("{base}#live={vl}&admin={admin}&token={token}&key={}", key.reveal());
        if replicas != 3 || vnodes != 1 {
            link.push_str(&format!("&replicas={replicas}&vnodes={vnodes}"));
        }
        link
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_link_names_placement_only_when_it_is_not_the_default() {
        let vl = Addr::from("127.0.0.1:39000");
        let key = ClusterKey::new("0123456789abcdef").expect("a key");
        let link = Link { vl: &vl, admin: &"127.0.0.1:39100", token: "ab", key: &key };
        let plain = link.page("http://127.0.0.1:8080/", 3, 1);
        assert_eq!(
            plain,
            "http://127.0.0.1:8080/#live=127.0.0.1:39000&admin=127.0.0.1:39100&token=ab&key=0123456789abcdef"
        );
        let spread = link.page("http://127.0.0.1:8080/", 2, 16);
        assert!(spread.ends_with("&key=0123456789abcdef&replicas=2&vnodes=16"), "{spread}");
    }
}
