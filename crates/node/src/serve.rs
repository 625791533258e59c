//! The listening roles: the view leader and the storage server as long-running processes,
//! each until Ctrl-C, SIGTERM or (with `--lifeline`) its parent's end.

use std::net::IpAddr;
use std::path::Path;

use ringside_core::{Addr, Epoch, Limits, Node, Server, ServerConfig, Time, Timing, ViewLeader, ViewLeaderConfig};
use tokio::net::TcpListener;
use tracing::info;

use crate::cli::{ListenArgs, ServerArgs, TimingArgs, ViewLeaderArgs, ViewLeaderList};
use crate::disk::Disk;
use crate::events_file::EventsFile;
use crate::net::NetConfig;
use crate::ready::Ready;
use crate::shell::{Shell, Turn};
use crate::watch::{Identity, Watch};
use crate::{logging, NodeError};
use ringside_core::view_leader::ReplicaSet;

/// How many ports past the first to try when none was given.
const PORT_SEARCH: u16 = 1000;

/// Binds the given port, or the first free one from `first` up.
pub(crate) async fn bind(listen: &ListenArgs, first: u16) -> Result<(TcpListener, Addr), NodeError> {
    let ports = match listen.port {
        Some(port) => port..=port,
        None => first..=first.saturating_add(PORT_SEARCH),
    };
    let mut last = None;
    for port in ports {
        match TcpListener::bind((listen.listen, port)).await {
            Ok(listener) => {
                let bound =
                    listener.local_addr().map_err(|e| NodeError::new(format!("cannot read the bound address: {e}")))?;
                let advertised = advertised(listen, bound.port())?;
                return Ok((listener, advertised));
            }
            Err(e) => last = Some((port, e)),
        }
    }
    let (port, e) = last.expect("at least one port was tried");
    Err(NodeError::new(match listen.port {
        Some(_) => format!("cannot listen on {}:{port}: {e}", listen.listen),
        None => format!("no free port on {} from {first} to {port}: {e}", listen.listen),
    }))
}

/// The address peers should dial: `--advertise`, or the listen address when it is a real one.
fn advertised(listen: &ListenArgs, port: u16) -> Result<Addr, NodeError> {
    match &listen.advertise {
        Some(addr) => Ok(Addr(addr.clone())),
        None if listen.listen.is_unspecified() => Err(NodeError::new(format!(
            "listening on {} needs --advertise HOST:PORT, the address other machines reach this node at",
            listen.listen
        ))),
        None => Ok(Addr(match listen.listen {
            IpAddr::V4(ip) => format!("{ip}:{port}"),
            IpAddr::V6(ip) => format!("[{ip}]:{port}"),
        })),
    }
}

/// A listening role's shell, its watchers, and its events file (opened before anything else,
/// so that a bad path fails before a port is taken).
struct Listening<N> {
    shell: Shell<N>,
    events: Option<crate::events_file::Writing>,
    stop: tokio::sync::oneshot::Receiver<()>,
}

impl<N: Node + crate::shell::Writes> Listening<N> {
    /// Opens the events file, binds, builds the role (given its address) and starts listening.
    async fn start(
        listen: &ListenArgs,
        first_port: u16,
        events: Option<&Path>,
        make: impl FnOnce(&Addr) -> (N, Identity),
    ) -> Result<(Listening<N>, Addr), NodeError> {
        let key = listen.key.resolve()?;
        if key.is_none() && !listen.listen.is_loopback() {
            // Redis' protected mode: without a key, only this machine may reach the node.
            return Err(NodeError::new(format!(
                "listening on {} needs a cluster key ({} or --cluster-key-file): without one a node accepts only this machine",
                listen.listen,
                crate::key::ENV
            )));
        }
        let file = events.map(EventsFile::create).transpose()?;
        let (listener, addr) = bind(listen, first_port).await?;
        // The role is built first: a server's id goes in the watch's `hello`.
        let (node, role) = make(&addr);
        let watch = Watch::new(&addr, role);
        let events = file.map(|file| file.start(&watch));
        let config = NetConfig { local: Some(addr.clone()), max_frame: listen.max_frame, watch: Some(watch), key };
        let shell = Shell::new(config, |_: Time| node);
        shell.net.listen(listener);
        Ok((Listening { shell, events, stop: crate::stopping(listen.lifeline) }, addr))
    }

    /// The next turn, or `None` once the node should stop.
    async fn turn(&mut self) -> Option<Turn> {
        tokio::select! {
            turn = self.shell.turn() => turn,
            _ = &mut self.stop => None,
        }
    }

    /// Finishes the events file.
    async fn stop(self) {
        if let Some(events) = self.events {
            events.finish().await;
        }
    }
}

/// Runs a view leader (a lone one, or one replica of several) until the process is stopped.
pub async fn view_leader(args: ViewLeaderArgs) -> Result<(), NodeError> {
    logging::init();
    let timing = args.timing.resolve()?;
    let failure_timeout_ms = timing.failure_timeout_ms;
    let limits = Limits {
        lock_name_bytes: args.max_lock_name_bytes,
        locks: args.max_locks,
        waiters: args.max_waiters,
        ..Limits::default()
    };
    let list = args.viewleader.clone().map(|l| l.0).unwrap_or_default();
    if list.len() <= 1 {
        let config = ViewLeaderConfig { timing, limits, replication: None };
        let (mut node, addr) = Listening::start(&args.listen, 39000, args.events.as_deref(), |_| {
            (ViewLeader::new(config, Time::ZERO), Identity::ViewLeader)
        })
        .await?;
        if !list.is_empty() && !list.contains(&addr) {
            return Err(not_listed(&addr, &list));
        }
        info!(target: "ringside::node", "view leader listening on {addr} (failure timeout {failure_timeout_ms} ms)");
        Ready::ViewLeader { addr }.announce();
        while let Some(turn) = node.turn().await {
            turn.events.iter().for_each(logging::event);
        }
        node.stop().await;
        return Ok(());
    }
    let Some(dir) = args.data_dir.as_deref() else {
        return Err(NodeError::new(
            "a view leader replica keeps its term, vote and log on disk: give --data-dir DIR (its own, kept across restarts)",
        ));
    };
    // The disk first: a replica that cannot read its promises must not start.
    let (disk, durable) = Disk::open(dir)?;
    let recovered = (durable.state.term.0, durable.entries.len(), durable.snapshot.as_ref().map_or(0, |s| s.index));
    let mut listen = args.listen.clone();
    if listen.port.is_none() {
        // Without --port, this replica's entry in the list is the one on this host it can bind.
        let host = listen.listen.to_string();
        listen.port = list.iter().filter_map(|a| a.as_str().rsplit_once(':')).find_map(|(h, p)| {
            let port = p.parse::<u16>().ok()?;
            (h == host && std::net::TcpListener::bind((listen.listen, port)).is_ok()).then_some(port)
        });
        if listen.port.is_none() {
            return Err(NodeError::new(format!(
                "no address of --viewleader {} is free on {host}: give --port (and --advertise if it is reached by another name)",
                ViewLeaderList(list.clone())
            )));
        }
    }
    let seed = crate::fresh_seed();
    let (mut node, addr) = Listening::start(&listen, 39000, args.events.as_deref(), |addr| {
        let me = list.iter().position(|a| a == addr).unwrap_or(0);
        let replication = Some(ReplicaSet { replicas: list.clone(), me, seed });
        let config = ViewLeaderConfig { timing, limits, replication };
        (ViewLeader::restore(config, Time::ZERO, durable), Identity::ViewLeader)
    })
    .await?;
    let Some(me) = list.iter().position(|a| *a == addr) else {
        return Err(not_listed(&addr, &list));
    };
    node.shell.set_disk(disk);
    let (term, entries, snapshot) = recovered;
    info!(
        target: "ringside::node",
        "view leader replica {} of {} listening on {addr} (failure timeout {failure_timeout_ms} ms; data in {}: term {term}, {entries} entries after snapshot {snapshot})",
        me + 1,
        list.len(),
        dir.display()
    );
    Ready::ViewLeader { addr }.announce();
    while let Some(turn) = node.turn().await {
        turn.events.iter().for_each(logging::event);
    }
    node.stop().await;
    Ok(())
}

fn not_listed(addr: &Addr, list: &[Addr]) -> NodeError {
    NodeError::new(format!(
        "this view leader listens at {addr}, which is not in --viewleader {}: each replica must be one of the list (give --port, or --advertise with the listed name)",
        ViewLeaderList(list.to_vec())
    ))
}

/// Runs a storage server until the process is stopped.
pub async fn server(args: ServerArgs) -> Result<(), NodeError> {
    logging::init();
    let timing = args.timing.resolve()?;
    let view_leaders = args.viewleader.0.clone();
    let (mut node, addr) = Listening::start(&args.listen, 38000, args.events.as_deref(), |addr| {
        let mut config = ServerConfig::for_timing(addr.clone(), view_leaders[0].clone(), crate::fresh_seed(), &timing);
        config.view_leaders = view_leaders.clone();
        config.replicas = usize::from(args.placement.replicas);
        config.vnodes = args.placement.vnodes;
        config.limits.key_bytes = args.max_key_bytes;
        config.limits.value_bytes = args.max_value_bytes;
        config.commit = args.commit;
        let server = Server::new(config, Time::ZERO);
        let id = server.id().clone();
        (server, Identity::Server(id))
    })
    .await?;
    info!(
        target: "ringside::node",
        "server {} listening on {addr}, view leader {}, R={} vnodes={}, heartbeat every {} ms, {} commit",
        node.shell.node.id(),
        args.viewleader,
        args.placement.replicas,
        args.placement.vnodes,
        timing.heartbeat_ms,
        args.commit.name()
    );
    Ready::Server { id: node.shell.node.id().clone(), addr }.announce();
    let mut known = (Epoch(0), Epoch(0));
    while let Some(turn) = node.turn().await {
        let shell = &mut node.shell;
        turn.events.iter().for_each(logging::event);
        let now = (shell.node.view().epoch, shell.node.stable_view().epoch);
        if now != known {
            known = now;
            let (current, stable) = (shell.node.view(), shell.node.stable_view());
            let listed = |a: &Addr| {
                view_leaders.contains(a)
                    || current.members.iter().any(|m| m.addr == *a)
                    || stable.members.iter().any(|m| m.addr == *a)
            };
            shell.net.forget_unless(listed);
        }
    }
    node.stop().await;
    Ok(())
}

/// Keeps timing flags consistent between the view leader and its servers.
impl TimingArgs {
    /// The heartbeat period and failure timeout these flags ask for.
    pub fn resolve(&self) -> Result<Timing, NodeError> {
        let timing = if self.course_timing {
            Timing::COURSE
        } else {
            Timing { heartbeat_ms: self.heartbeat_ms, failure_timeout_ms: self.failure_timeout_ms }
        };
        if !timing.heartbeat_fits() {
            return Err(NodeError::new(format!(
                "--heartbeat-ms {} is too slow for --failure-timeout-ms {}: heartbeat at most every {} ms",
                timing.heartbeat_ms,
                timing.failure_timeout_ms,
                timing.max_heartbeat_ms()
            )));
        }
        Ok(timing)
    }
}
