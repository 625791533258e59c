//! `ringside bench`: setr and getr against a local cluster, side by side with the floors any
//! protocol over the same sockets must pay — a bare JSON echo round trip and bare fan-outs to
//! three echo servers — then rebalancing time and a server's memory with many keys.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use ringside_core::ring::Ring;
use ringside_core::{Addr, Client, ClientConfig, CommitProtocol, Event, OpId, OpOutput, ServerId, Timing};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::cluster::{self, ClusterProcesses, Logs, Options};
use crate::key::ClusterKey;
use crate::net::{websocket_config, NetConfig};
use crate::shell::{Shell, Turn};
use crate::wire::{CLIENT_MAX_FRAME, DEFAULT_MAX_FRAME};
use crate::NodeError;

/// `ringside bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Operations per measurement in each round.
    #[arg(long, default_value_t = 5_000)]
    pub ops: usize,
    /// Rounds; floors and Ringside alternate, and each figure is the median over the rounds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
    /// Keys loaded before a server joins, for the rebalancing and memory figures (0: skip).
    #[arg(long, default_value_t = 100_000)]
    pub keys: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 64)]
    pub value_size: usize,
    /// The servers' commit protocol: `paxos` or `classic` (see `ringside server --help`).
    #[arg(long, default_value = "paxos", value_name = "PROTOCOL", value_parser = crate::cli::commit_protocol)]
    pub commit: CommitProtocol,
    /// View-leader replicas of the cluster setr and getr are measured on (1: a lone one).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=7))]
    pub view_leaders: u64,
    /// Leader kills in the view-leader section, which also compares lock_get with 1 and 3
    /// replicas (0: skip the section).
    #[arg(long, default_value_t = 10)]
    pub failovers: usize,
    /// Servers that join, then as many that are killed, one after another, while clients
    /// write and read, in the moving-keys section (0: skip the section).
    #[arg(long, default_value_t = 5)]
    pub moving: usize,
    /// The moving-keys section's cluster runs the course's timing (heartbeat 10 s, failure
    /// timeout 30 s) instead of the demo's.
    #[arg(long)]
    pub course_timing: bool,
    /// Attempts per operation of the moving-keys section's clients.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub attempts: u32,
}

/// Latencies of one measurement.
struct Figures {
    p50: Duration,
    p99: Duration,
    per_sec: f64,
    failed: usize,
}

/// The medians of a measurement's rounds.
struct Median {
    p50: Duration,
    p99: Duration,
    per_sec: f64,
}

impl Median {
    fn of(rounds: &[Figures]) -> Median {
        let secs = |f: fn(&Figures) -> Duration| {
            Duration::from_secs_f64(median(rounds.iter().map(|r| f(r).as_secs_f64()).collect()))
        };
        Median {
            p50: secs(|r| r.p50),
            p99: secs(|r| r.p99),
            per_sec: median(rounds.iter().map(|r| r.per_sec).collect()),
        }
    }
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

impl Figures {
    fn of(samples: Vec<Duration>, wall: Duration, failed: usize) -> Figures {
        let per_sec = samples.len() as f64 / wall.as_secs_f64();
        let (p50, p99) = p50_p99(samples);
        Figures { p50, p99, per_sec, failed }
    }
}

/// The median and the 99th percentile of `samples` (zero for none).
pub(crate) fn p50_p99(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples.get(((samples.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    (at(0.5), at(0.99))
}

/// A client of `cluster` (its view leaders, its key) whose operations make `attempts` attempts.
pub(crate) fn client_shell(cluster: &ClusterProcesses, attempts: u32) -> Shell<Client> {
    let list: Vec<Addr> = cluster.view_leaders.iter().map(|p| p.addr.clone()).collect();
    let mut config = ClientConfig::new(list[0].clone(), crate::fresh_seed());
    config.view_leaders = list;
    config.max_attempts = attempts;
    config.secret_key = crate::fresh_secret();
    let net = NetConfig { local: None, max_frame: CLIENT_MAX_FRAME, watch: None, key: cluster.key().cloned() };
    Shell::new(net, |now| Client::new(config, now))
}

/// Runs every measurement and prints the tables.
pub async fn run(args: BenchArgs) -> Result<(), NodeError> {
    let value = "v".repeat(args.value_size);
    println!(
        "starting 3 echo servers and a cluster ({}, 3 servers, R=3, {} commit) on loopback",
        match args.view_leaders {
            1 => "1 view leader".to_string(),
            n => format!("{n} view-leader replicas"),
        },
        args.commit.name()
    );
    let echo_options = Options {
        port: None,
        timing: Timing::DEMO,
        replicas: 3,
        vnodes: 1,
        commit: CommitProtocol::default(),
        env: Vec::new(),
        events_dir: None,
        key: None,
        view_leaders: 1,
    };
    let mut echoes = Vec::new();
    for i in 1..=3 {
        let args = vec!["echo".to_string(), "--port".into(), "0".into()];
        echoes.push(cluster::spawn(format!("e{i}"), args, &echo_options, &Logs::Discard).await?);
    }
    // Per-transaction lines are muted: a log line per vote would measure the pipe it goes to.
    let env = vec![(
        "RUST_LOG".to_string(),
        "warn,ringside::node=info,ringside::rebalance=info,ringside::membership=info".to_string(),
    )];
    // Keyed, as `ringside cluster` always is: the figures include checking the key.
    let view_leaders = args.view_leaders as usize;
    let options = Options { env, key: Some(ClusterKey::generate()), commit: args.commit, view_leaders, ..echo_options };
    let mut cluster = ClusterProcesses::start(options, 3, Logs::Discard).await?;
    let mut bench = Bench::connect(&cluster).await?;

    // Floors and Ringside alternate, round after round, so that a slow moment of the machine
    // falls on both sides of a ratio; every figure printed is the median over the rounds.
    const FLOORS: [(&str, usize, usize); 3] =
        [("echo round trip", 1, 1), ("1-round fan-out to 3", 3, 1), ("2-round fan-out to 3", 3, 2)];
    let mut floors: Vec<[Vec<Figures>; 2]> = FLOORS.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    let mut ours: [Vec<Figures>; 4] = Default::default();
    bench.write(&value, 0, 200, 16).await?; // warm the connections and the cached view
    for round in 0..args.rounds as usize {
        for ((_, targets, rounds), figures) in FLOORS.iter().zip(&mut floors) {
            let addrs: Vec<String> = echoes.iter().take(*targets).map(|p| p.addr.to_string()).collect();
            figures[0].push(floor(&addrs, *rounds, 1, args.ops, &value).await?);
            figures[1].push(floor(&addrs, *rounds, 16, args.ops, &value).await?);
        }
        let first = 1_000 + round * 2 * args.ops;
        ours[0].push(bench.write(&value, first, args.ops, 1).await?);
        ours[1].push(bench.write(&value, first + args.ops, args.ops, 16).await?);
        ours[2].push(bench.read(first, args.ops, 1).await?);
        ours[3].push(bench.read(first + args.ops, args.ops, 16).await?);
    }

    println!();
    println!("medians over {} rounds of {} operations each", args.rounds, args.ops);
    println!(
        "{:<24} {:>9} {:>9} {:>10}   {:>9} {:>9} {:>10}",
        "floor", "c=1 p50", "p99", "ops/s", "c=16 p50", "p99", "ops/s"
    );
    for ((name, ..), [c1, c16]) in FLOORS.iter().zip(&floors) {
        let (c1, c16) = (Median::of(c1), Median::of(c16));
        println!(
            "{name:<24} {:>9} {:>9} {:>10.0}   {:>9} {:>9} {:>10.0}",
            micros(c1.p50),
            micros(c1.p99),
            c1.per_sec,
            micros(c16.p50),
            micros(c16.p99),
            c16.per_sec
        );
    }
    println!();
    println!(
        "{:<6} {:>4} {:>9} {:>9} {:>10} {:>7}   {:<22} {:>9} {:>10}",
        "op", "c", "p50", "p99", "ops/s", "failed", "floor", "p50 ratio", "ops ratio"
    );
    let rows = [
        ("setr", 1, &ours[0], 2, 0),
        ("setr", 16, &ours[1], 2, 1),
        ("getr", 1, &ours[2], 1, 0),
        ("getr", 16, &ours[3], 1, 1),
    ];
    for (op, c, figures, floor_row, floor_c) in rows {
        let against = &floors[floor_row][floor_c];
        let ratios =
            |f: fn(&Figures, &Figures) -> f64| median(figures.iter().zip(against).map(|(a, b)| f(a, b)).collect());
        let m = Median::of(figures);
        println!(
            "{op:<6} {c:>4} {:>9} {:>9} {:>10.0} {:>7}   {:<22} {:>8.2}x {:>9.0}%",
            micros(m.p50),
            micros(m.p99),
            m.per_sec,
            figures.iter().map(|f| f.failed).sum::<usize>(),
            FLOORS[floor_row].0,
            ratios(|a, b| a.p50.as_secs_f64() / b.p50.as_secs_f64()),
            100.0 * ratios(|a, b| a.per_sec / b.per_sec)
        );
    }
    println!(
        "(latencies in µs; a ratio is the median of each round's Ringside / floor; targets: setr p50 ≤ 1.5x, getr p50 ≤ 1.5x, setr c=16 ops ≥ 70%)"
    );

    if args.keys > 0 {
        println!();
        bench.rebalance(&mut cluster, args.keys, &value).await?;
    }
    if args.failovers > 0 {
        println!();
        crate::bench_vl::run(cluster.options(), args.rounds, args.failovers).await?;
    }
    if args.moving > 0 {
        println!();
        crate::bench_moving::run(cluster.options(), args.moving, args.course_timing, args.attempts, &value).await?;
    }
    Ok(())
}

fn micros(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

/// Closed-loop `concurrency` operations in flight, each `rounds` rounds of one frame to every
/// echo server at `addrs` and waiting for all their answers.
async fn floor(
    addrs: &[String],
    rounds: usize,
    concurrency: usize,
    ops: usize,
    value: &str,
) -> Result<Figures, NodeError> {
    let (tx, mut rx) = mpsc::channel::<u64>(4096);
    let mut sinks = Vec::new();
    let config = websocket_config(DEFAULT_MAX_FRAME);
    for addr in addrs {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/"), Some(config), true)
            .await
            .map_err(|e| NodeError::new(format!("cannot reach echo server {addr}: {e}")))?;
        let (sink, mut stream) = ws.split();
        sinks.push(sink);
        // A reader task per connection, as the nodes have.
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(Message::Text(text))) = stream.next().await {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(text.as_str()) else { continue };
                let Some(id) = v.get("id").and_then(|id| id.as_u64()) else { continue };
                if tx.send(id).await.is_err() {
                    return;
                }
            }
        });
    }
    // Per op in flight: when it began, its round, and the answers that round still awaits.
    let mut live: HashMap<u64, (Instant, usize, usize)> = HashMap::new();
    let mut samples = Vec::with_capacity(ops);
    let mut issued = 0u64;
    let frame = |id: u64| {
        let key = format!("k{id}");
        let frame = serde_json::json!({"v": 1, "id": id, "msg": {"cmd": "getr", "op": id, "epoch": 3, "key": key, "value": value}});
        Message::text(frame.to_string())
    };
    let start = Instant::now();
    let mut ready = Vec::new();
    while samples.len() < ops {
        // Queue every frame due, then flush each connection once, as the nodes do.
        let mut due = Vec::new();
        for id in ready.drain(..) {
            let Some(state) = live.get_mut(&id) else { continue };
            state.2 -= 1;
            if state.2 > 0 {
                continue;
            }
            if state.1 < rounds {
                state.1 += 1;
                state.2 = sinks.len();
                due.push(id);
            } else {
                let (began, ..) = live.remove(&id).expect("present");
                samples.push(began.elapsed());
            }
        }
        while live.len() < concurrency && (issued as usize) < ops {
            issued += 1;
            live.insert(issued, (Instant::now(), 1, sinks.len()));
            due.push(issued);
        }
        if !due.is_empty() {
            for sink in &mut sinks {
                for id in &due {
                    sink.feed(frame(*id)).await.map_err(|e| NodeError::new(e.to_string()))?;
                }
                sink.flush().await.map_err(|e| NodeError::new(e.to_string()))?;
            }
        }
        if samples.len() >= ops {
            break;
        }
        ready.push(rx.recv().await.ok_or_else(|| NodeError::new("an echo server went away"))?);
        while let Ok(id) = rx.try_recv() {
            ready.push(id);
        }
    }
    Ok(Figures::of(samples, start.elapsed(), 0))
}

/// The core's client in a shell, driven closed-loop.
struct Bench {
    shell: Shell<Client>,
}

impl Bench {
    async fn connect(cluster: &ClusterProcesses) -> Result<Bench, NodeError> {
        let mut bench = Bench { shell: client_shell(cluster, 20) };
        // Wait until every server is in the view and rebalanced.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(OpOutput::Servers { servers, rebalancing: false, .. }) = bench.query_servers().await {
                if servers.len() == cluster.servers.len() {
                    return Ok(bench);
                }
            }
            if Instant::now() > deadline {
                return Err(NodeError::new("the cluster did not form a view of every server within 15 s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn query_servers(&mut self) -> Result<OpOutput, NodeError> {
        let now = self.shell.now();
        let op = self.shell.node.query_servers(now);
        let mut results = self.until_done(&[op]).await?;
        results.remove(&op).expect("waited for it").map_err(NodeError::new)
    }

    /// Runs until every op in `ops` is done; returns their results.
    async fn until_done(&mut self, ops: &[OpId]) -> Result<HashMap<OpId, Result<OpOutput, String>>, NodeError> {
        let mut results = HashMap::new();
        let mut turn = Turn::default();
        self.shell.drain(None, &mut turn);
        loop {
            for event in turn.events.drain(..) {
                if let Event::OpDone { op, result } = event {
                    results.insert(op, result.map_err(|e| e.to_string()));
                }
            }
            if ops.iter().all(|op| results.contains_key(op)) {
                return Ok(results);
            }
            turn = self.shell.turn().await.ok_or_else(|| NodeError::new("the network stopped"))?;
        }
    }

    /// `count` operations from key index `first`, `concurrency` at a time.
    async fn closed_loop(
        &mut self,
        first: usize,
        count: usize,
        concurrency: usize,
        mut issue: impl FnMut(&mut Client, ringside_core::Time, usize) -> OpId,
    ) -> Result<Figures, NodeError> {
        let mut live: HashMap<OpId, Instant> = HashMap::new();
        let mut samples = Vec::with_capacity(count);
        let mut failed = 0;
        let mut next = first;
        let mut turn = Turn::default();
        let start = Instant::now();
        while samples.len() + failed < count {
            while live.len() < concurrency && next < first + count {
                let now = self.shell.now();
                let op = issue(&mut self.shell.node, now, next);
                live.insert(op, Instant::now());
                next += 1;
            }
            self.shell.drain(None, &mut turn);
            let mut progressed = false;
            for event in turn.events.drain(..) {
                if let Event::OpDone { op, result } = event {
                    let Some(began) = live.remove(&op) else { continue };
                    progressed = true;
                    match result {
                        Ok(_) => samples.push(began.elapsed()),
                        Err(_) => failed += 1,
                    }
                }
            }
            if !progressed && samples.len() + failed < count {
                turn = self.shell.turn().await.ok_or_else(|| NodeError::new("the network stopped"))?;
            }
        }
        Ok(Figures::of(samples, start.elapsed(), failed))
    }

    async fn write(
        &mut self,
        value: &str,
        first: usize,
        count: usize,
        concurrency: usize,
    ) -> Result<Figures, NodeError> {
        self.closed_loop(first, count, concurrency, |client, now, i| {
            client.setr(now, format!("k{i}"), value.to_string()).expect("keys are never empty")
        })
        .await
    }

    async fn read(&mut self, first: usize, count: usize, concurrency: usize) -> Result<Figures, NodeError> {
        self.closed_loop(first, count, concurrency, |client, now, i| {
            client.getr(now, format!("k{i}")).expect("keys are never empty")
        })
        .await
    }

    /// Loads `keys` keys, reads a server's memory, adds a server and times its rebalancing.
    async fn rebalance(&mut self, cluster: &mut ClusterProcesses, keys: usize, value: &str) -> Result<(), NodeError> {
        // The same key names as the measurements before, so the cluster ends up holding exactly
        // `keys` keys (or the measured ones, if there were more).
        let began = Instant::now();
        let load = self.write(value, 0, keys, 64).await?;
        if load.failed > 0 {
            return Err(NodeError::new(format!("{} of {keys} setr failed while loading", load.failed)));
        }
        println!(
            "loaded {keys} keys of {} bytes in {:.1} s ({:.0} setr/s at concurrency 64)",
            value.len(),
            began.elapsed().as_secs_f64(),
            load.per_sec
        );
        // Every key stored, the benchmark's earlier writes included: with 3 servers and R=3 each
        // server holds all of them.
        let mut stored = std::collections::BTreeSet::new();
        let mut rss = Vec::new();
        for p in &cluster.servers {
            let now = self.shell.now();
            let op = self.shell.node.query_all_keys(now, p.addr.clone());
            let held = match self.until_done(&[op]).await?.remove(&op) {
                Some(Ok(OpOutput::Keys { keys })) => keys,
                other => return Err(NodeError::new(format!("query_all_keys of {} failed: {other:?}", p.label))),
            };
            let mib = p.pid().and_then(resident_mib).map_or("?".into(), |m| format!("{m:.1} MiB"));
            rss.push(format!("{} {mib} with {} keys", p.label, held.len()));
            stored.extend(held);
        }
        println!("resident memory: {}", rss.join(", "));

        let OpOutput::Servers { epoch: before, servers: old, .. } = self.query_servers().await? else {
            return Err(NodeError::new("query_servers answered something else"));
        };
        // Both ends of the interval come from the view leader's own records: the join is the
        // view change, and it records when every server reported its part done. The copies
        // moved are the old servers' (the newcomer has none to send); each records its part
        // done after its last batch.
        let mut vl = Watched::start(&cluster.view_leaders[0].addr, cluster.key()).await?;
        let mut senders = Vec::new();
        for p in &cluster.servers {
            senders.push(Watched::start(&p.addr, cluster.key()).await?);
        }
        let label = cluster.add().await?.label.clone();
        let started = Instant::now();
        let (epoch, new) = loop {
            if let OpOutput::Servers { epoch, servers, rebalancing: false } = self.query_servers().await? {
                if epoch > before {
                    break (epoch, servers);
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(NodeError::new("rebalancing did not finish within 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let all_done = |event: &Event| matches!(event, Event::RebalancingDone { epoch: done } if *done >= epoch);
        let took = match vl.until(deadline, all_done).await {
            Ok(done) => match vl.seen.iter().find(|(_, event)| matches!(event, Event::ServerJoined { .. })) {
                Some((joined, _)) => format!("{:.0} ms", done.saturating_sub(*joined) as f64 / 1e3),
                None => "? ms (the view leader recorded no join)".into(),
            },
            Err(why) => format!("? ms ({why})"),
        };
        let part_done = |event: &Event| matches!(event, Event::RebalanceFinished { epoch: done } if *done >= epoch);
        let mut sent = Ok(0usize);
        for sender in &mut senders {
            let finished = sender.until(deadline, part_done).await.map(drop);
            sent = match (sent, finished) {
                (Ok(sum), Ok(())) => Ok(sum + sender.copies_sent()),
                (Err(why), _) | (_, Err(why)) => Err(why),
            };
        }
        let sent = sent.map_or_else(|why| format!("? ({why})"), |n| n.to_string());
        let ids = |ms: &[ringside_core::Member]| ms.iter().map(|m| m.id.clone()).collect::<Vec<ServerId>>();
        let (old_ids, new_ids) = (ids(&old), ids(&new));
        let (old_ring, new_ring) = (Ring::new(&old_ids, 1), Ring::new(&new_ids, 1));
        let minimum: usize = stored
            .iter()
            .map(|key| {
                let before = old_ring.replicas(key, 3);
                new_ring.replicas(key, 3).into_iter().filter(|s| !before.contains(s)).count()
            })
            .sum();
        println!(
            "join of {label} to a cluster holding {} keys: view change to rebalancing done {took}; copies moved {sent}, minimum {minimum}",
            stored.len()
        );
        Ok(())
    }
}

/// A node's events from the moment of watching on, from its watch stream, each with the time
/// the node recorded it (µs since the Unix epoch, by the node's clock).
struct Watched {
    addr: Addr,
    records: mpsc::UnboundedReceiver<Result<(u64, Event), String>>,
    seen: Vec<(u64, Event)>,
}

impl Watched {
    /// Watches the node at `addr` (with the cluster's `key`); its events are recorded from the
    /// moment this returns.
    async fn start(addr: &Addr, key: Option<&ClusterKey>) -> Result<Watched, NodeError> {
        let cannot = |e: &dyn std::fmt::Display| NodeError::new(format!("cannot watch {addr}: {e}"));
        let config = websocket_config(CLIENT_MAX_FRAME);
        let url = crate::key::dial_url(addr.as_str(), false, key);
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(config), true).await.map_err(|e| cannot(&e))?;
        ws.send(Message::text(r#"{"v":1,"id":1,"msg":{"cmd":"watch"}}"#)).await.map_err(|e| cannot(&e))?;
        // The node subscribes this observer before it sends `hello`.
        match ws.next().await {
            Some(Ok(Message::Text(_))) => {}
            other => return Err(cannot(&format!("no hello but {other:?}"))),
        }
        let (tx, records) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            /// The fields of a record the bench reads; the others (a frame, say) are skipped.
            #[derive(Deserialize)]
            struct Record {
                t: u64,
                kind: String,
                event: Option<Event>,
                reason: Option<String>,
            }
            while let Some(Ok(message)) = ws.next().await {
                let Message::Text(text) = message else { continue };
                let sent = match serde_json::from_str::<Record>(text.as_str()) {
                    Ok(Record { t, event: Some(event), .. }) => tx.send(Ok((t, event))),
                    Ok(Record { kind, reason, .. }) if kind == "dropped" => {
                        let _ = tx.send(Err(format!("the bench's watch fell behind: {}", reason.unwrap_or_default())));
                        return;
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        let _ = tx.send(Err(format!("an unreadable record: {e}")));
                        return;
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        Ok(Watched { addr: addr.clone(), records, seen: Vec::new() })
    }

    /// Reads events until one `wanted` comes (its time) or `deadline` passes.
    async fn until(&mut self, deadline: Instant, wanted: impl Fn(&Event) -> bool) -> Result<u64, String> {
        if let Some((t, _)) = self.seen.iter().find(|(_, event)| wanted(event)) {
            return Ok(*t);
        }
        loop {
            let next = tokio::time::timeout_at(deadline.into(), self.records.recv()).await;
            match next {
                Ok(Some(Ok((t, event)))) => {
                    let found = wanted(&event);
                    self.seen.push((t, event));
                    if found {
                        return Ok(t);
                    }
                }
                Ok(Some(Err(why))) => return Err(format!("{}: {why}", self.addr)),
                Ok(None) => return Err(format!("{}: its watch stream ended", self.addr)),
                Err(_) => return Err(format!("{}: the event awaited was not recorded in time", self.addr)),
            }
        }
    }

    /// The copies this node recorded sending so far, resends included.
    fn copies_sent(&self) -> usize {
        self.seen.iter().map(|(_, event)| if let Event::TransferSent { keys, .. } = event { *keys } else { 0 }).sum()
    }
}

/// A process's resident set in MiB, from /proc.
fn resident_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}
