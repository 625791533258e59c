//! `ringside bench`'s view-leader section: `lock_get` against a lone view leader and against
//! three replicas side by side (each a log entry committed by a majority), and failover — the
//! leader killed with SIGKILL, timed until a new leader commits a lock command.

use std::time::{Duration, Instant};

use ringside_core::{Addr, Client, ClientConfig, Event, OpOutput};

use crate::bench::median;
use crate::cluster::{ClusterProcesses, Logs, Options};
use crate::net::NetConfig;
use crate::shell::{Shell, Turn};
use crate::wire::CLIENT_MAX_FRAME;
use crate::NodeError;

/// A client of one cluster, for the lock commands.
struct Locker {
    shell: Shell<Client>,
    /// Its requester name, which also prefixes the locks it takes: no two lockers share one.
    name: String,
    next: u64,
}

impl Locker {
    fn new(list: Vec<Addr>, cluster: &ClusterProcesses, name: &str, rpc_timeout_ms: u64, attempts: u32) -> Locker {
        let mut config = ClientConfig::new(list[0].clone(), crate::fresh_seed());
        config.view_leaders = list;
        config.secret_key = crate::fresh_secret();
        config.name = Some(name.to_string());
        config.rpc_timeout_ms = rpc_timeout_ms;
        config.max_attempts = attempts;
        let net = NetConfig { local: None, max_frame: CLIENT_MAX_FRAME, watch: None, key: cluster.key().cloned() };
        Locker { shell: Shell::new(net, |now| Client::new(config, now)), name: name.to_string(), next: 0 }
    }

    /// `count` lock_get of fresh lock names, `concurrency` at a time; ops per second.
    async fn locks(&mut self, count: usize, concurrency: usize) -> Result<f64, NodeError> {
        let began = Instant::now();
        let (mut live, mut done) = (0, 0);
        let mut turn = Turn::default();
        loop {
            for event in turn.events.drain(..) {
                if let Event::OpDone { result, .. } = event {
                    result.map_err(|e| NodeError::new(format!("lock_get failed: {e}")))?;
                    live -= 1;
                    done += 1;
                }
            }
            if done == count {
                break;
            }
            while live < concurrency && done + live < count {
                self.next += 1;
                let now = self.shell.now();
                self.shell.node.lock_get(now, format!("{}-{}", self.name, self.next)).expect("a name");
                live += 1;
            }
            self.shell.drain(None, &mut turn);
            if turn.events.is_empty() {
                turn = self.shell.turn().await.ok_or_else(|| NodeError::new("the network stopped"))?;
            }
        }
        Ok(count as f64 / began.elapsed().as_secs_f64())
    }

    /// One lock_get, retried through redirects and timeouts; how long it took.
    async fn one(&mut self, limit: Duration) -> Result<Duration, NodeError> {
        let began = Instant::now();
        self.next += 1;
        let now = self.shell.now();
        let op = self.shell.node.lock_get(now, format!("{}-{}", self.name, self.next)).expect("a name");
        let mut turn = Turn::default();
        self.shell.drain(None, &mut turn);
        loop {
            for event in turn.events.drain(..) {
                if let Event::OpDone { op: done, result } = event {
                    if done == op {
                        return match result {
                            Ok(OpOutput::Granted) => Ok(began.elapsed()),
                            other => Err(NodeError::new(format!("lock_get after failover: {other:?}"))),
                        };
                    }
                }
            }
            let left = limit.saturating_sub(began.elapsed());
            turn = match tokio::time::timeout(left, self.shell.turn()).await {
                Ok(Some(turn)) => turn,
                Ok(None) => return Err(NodeError::new("the network stopped")),
                Err(_) => return Err(NodeError::new(format!("no lock granted within {limit:?} of the kill"))),
            };
        }
    }
}

fn list(cluster: &ClusterProcesses) -> Vec<Addr> {
    cluster.view_leaders.iter().map(|p| p.addr.clone()).collect()
}

/// The label of the replica that leads: the one that grants a lock when asked alone.
async fn leader(cluster: &ClusterProcesses) -> Result<String, NodeError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for p in &cluster.view_leaders {
            let mut alone = Locker::new(vec![p.addr.clone()], cluster, &format!("probe-{}", p.label), 200, 1);
            if alone.one(Duration::from_millis(400)).await.is_ok() {
                return Ok(p.label.clone());
            }
        }
    }
    Err(NodeError::new("no view-leader replica leads"))
}

/// The section: lock_get ops/s with 1 and 3 replicas over `rounds`, then `kills` failovers.
pub async fn run(options: &Options, rounds: u32, kills: usize) -> Result<(), NodeError> {
    println!("view leader: lock_get with 1 and 3 replicas (3 servers each), then {kills} failovers");
    let lone =
        ClusterProcesses::start(Options { view_leaders: 1, port: None, ..options.clone() }, 3, Logs::Discard).await?;
    let mut three =
        ClusterProcesses::start(Options { view_leaders: 3, port: None, ..options.clone() }, 3, Logs::Discard).await?;
    let mut one_client = Locker::new(list(&lone), &lone, "bench", 1_000, 20);
    let mut three_client = Locker::new(list(&three), &three, "bench", 1_000, 20);
    let (mut ones, mut threes) = (Vec::new(), Vec::new());
    one_client.locks(200, 16).await?;
    three_client.locks(200, 16).await?;
    for _ in 0..rounds {
        ones.push(one_client.locks(2_000, 16).await?);
        threes.push(three_client.locks(2_000, 16).await?);
    }
    let (one, three_ops) = (median(ones), median(threes));
    println!(
        "lock_get c=16: {one:.0} ops/s with 1 view leader, {three_ops:.0} ops/s with 3 replicas ({:.0}%)",
        100.0 * three_ops / one
    );
    let mut times = Vec::new();
    for _ in 0..kills {
        let label = leader(&three).await?;
        // A client that knows the list and asked the leader last: what any client sees.
        let mut client = Locker::new(list(&three), &three, "failover", 200, 100);
        client.one(Duration::from_secs(10)).await?;
        three.kill(&label)?;
        let took = client.one(Duration::from_secs(20)).await?;
        times.push(took.as_secs_f64() * 1e3);
        three.restart(&label).await?;
        // Let it catch up from its disk and the leader before the next kill.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    if !times.is_empty() {
        let max = times.iter().copied().fold(0.0, f64::max);
        println!(
            "failover: kill -9 of the leader → a lock granted through a new leader: median {:.0} ms, max {max:.0} ms over {} kills \
             (election timeout {}-{} ms, client timeout 200 ms)",
            median(times.clone()),
            times.len(),
            options.timing.heartbeat_ms,
            2 * options.timing.heartbeat_ms
        );
    }
    lone.stop().await;
    three.stop().await;
    Ok(())
}
