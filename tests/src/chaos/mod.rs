//! The chaos suite: a real cluster on loopback, concurrent `ringside client` processes writing
//! and reading a few keys, and a nemesis that kills and pauses servers, clients and the view
//! leader (with replicas: kills, pauses and restarts them, the leader most of all) and replaces
//! what it killed. Every operation is recorded (invoked, completed, how it
//! ended; a client killed or timed out is "unknown"), and at the end the history is checked as
//! the simulator checks its own: per-key linearizability (the simulator's checker), no
//! acknowledged write lost, no read of a value never written, every key writable again, and
//! no node that the nemesis spared found dead.
//!
//! Everything it starts is killed by its pid when the run ends, and every port it uses is
//! below 32768 (see [`crate::free_port`]).

mod check;
mod nemesis;
mod netns;
mod workload;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{free_port, settled, Process, CLUSTER_KEY, FAILURE_MS, HEARTBEAT_MS};
pub(crate) use netns::Net;

use crate::view_leaders::ViewLeaders;

pub use check::Summary;

/// How a run is set up.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long the workload and the nemesis run.
    pub duration: Duration,
    /// Seeds the nemesis and the workload's choices.
    pub seed: u64,
    /// Servers at the start (the nemesis keeps at least three alive).
    pub servers: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Keys written and read.
    pub keys: usize,
    /// The servers' `--commit` protocol (`paxos` or `classic`).
    pub commit: &'static str,
    /// View-leader replicas: one is today's lone view leader; more make a replicated one,
    /// each replica with a data directory the nemesis restarts it from.
    pub view_leaders: usize,
    /// Put every node in a network namespace of its own and let the nemesis cut and heal
    /// their links (root only; skipped with a printed reason where namespaces cannot be made).
    pub partitions: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: Duration::from_secs(60),
            seed: 1,
            servers: 5,
            clients: 4,
            keys: 5,
            commit: "paxos",
            view_leaders: 1,
            partitions: false,
        }
    }
}

/// The cluster as the nemesis changes it: the view leader's replicas and the servers alive now.
pub(crate) struct Cluster {
    pub(crate) view_leaders: ViewLeaders,
    pub(crate) servers: Vec<Process>,
    /// The servers' `--commit` protocol, for replacements too.
    pub(crate) commit: &'static str,
    /// The namespaces, when the run has partitions: view-leader replica `i` in slot `i`, and
    /// `servers[i]` in `slots[i]`.
    pub(crate) net: Option<Net>,
    pub(crate) slots: Vec<usize>,
    /// Server ids seen in the view so far: one missing from a later view was failed.
    pub(crate) seen: BTreeSet<String>,
}

/// Namespace slots: one per view-leader replica, one per server, and one spare for a
/// replacement.
fn slots_for(view_leaders: usize, servers: usize) -> usize {
    view_leaders + servers + 1
}

impl Cluster {
    /// `replicas` view-leader replicas and `n` servers on loopback, or each in a namespace of
    /// `net`.
    fn start(replicas: usize, n: usize, commit: &'static str, net: Option<Net>) -> Cluster {
        let view_leaders = ViewLeaders::start_in(replicas, net.as_ref());
        let mut cluster =
            Cluster { view_leaders, servers: Vec::new(), commit, net, slots: Vec::new(), seen: BTreeSet::new() };
        for _ in 0..n {
            cluster.add_server();
        }
        settled(&cluster.vl(), n, Duration::from_secs(20));
        cluster.seen = cluster.servers.iter().filter_map(|s| s.id.clone()).collect();
        cluster
    }

    /// The view leader's addresses, as `--viewleader` takes them.
    pub(crate) fn vl(&self) -> String {
        self.view_leaders.list.clone()
    }

    /// Starts one more server (in a free namespace slot, with partitions).
    pub(crate) fn add_server(&mut self) {
        let vl = self.vl();
        let server = match &self.net {
            None => Process::server_with(&vl, 0, &["--commit", self.commit]),
            Some(net) => {
                let first = self.view_leaders.len();
                let slot = (first..net.slots()).find(|s| !self.slots.contains(s)).expect("a free namespace slot");
                self.slots.push(slot);
                let wrapper = net.wrapper(slot);
                let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
                let (port, hb, timeout) = (free_port().to_string(), HEARTBEAT_MS.to_string(), FAILURE_MS.to_string());
                let args = [
                    "--listen",
                    &net.addr(slot),
                    "--port",
                    &port,
                    "--viewleader",
                    &vl,
                    "--heartbeat-ms",
                    &hb,
                    "--failure-timeout-ms",
                    &timeout,
                    "--commit",
                    self.commit,
                ];
                Process::start_wrapped(&wrapper, "server", &args, Some(CLUSTER_KEY))
            }
        };
        self.servers.push(server);
    }

    /// Takes `servers[i]` out of the cluster (its namespace slot freed), for the caller to kill.
    pub(crate) fn remove_server(&mut self, i: usize) -> Process {
        if self.net.is_some() {
            self.slots.remove(i);
        }
        self.servers.remove(i)
    }
}

/// Where the run is: the fault the nemesis is causing, for availability per phase.
pub(crate) type Phase = Arc<Mutex<&'static str>>;

/// Runs the suite and checks the history.
pub fn run(options: &Options) -> Summary {
    let started = Instant::now();
    let net = options
        .partitions
        .then(|| match Net::create(slots_for(options.view_leaders, options.servers)) {
            Ok(net) => Some(net),
            Err(reason) => {
                println!("chaos: partitions skipped: {reason}");
                None
            }
        })
        .flatten();
    let cluster = Arc::new(Mutex::new(Cluster::start(options.view_leaders, options.servers, options.commit, net)));
    let vl = cluster.lock().expect("cluster lock").vl();
    let phase: Phase = Arc::new(Mutex::new("quiet"));
    let stop = Arc::new(AtomicBool::new(false));
    let keys: Vec<String> = (0..options.keys).map(|k| format!("chaos-{k}")).collect();

    let registry = workload::Registry::default();
    let shared = workload::Shared {
        vl: vl.clone(),
        keys: keys.clone(),
        seed: options.seed,
        registry: registry.clone(),
        phase: Arc::clone(&phase),
        stop: Arc::clone(&stop),
        started,
    };
    let workers: Vec<_> = (0..options.clients).map(|n| workload::spawn_worker(n, shared.clone())).collect();
    let nemesis = nemesis::spawn(options, Arc::clone(&cluster), registry, Arc::clone(&phase));

    std::thread::sleep(options.duration);
    let faults = nemesis.stop();
    *phase.lock().expect("phase lock") = "quiet";
    // Let the cluster settle with every client still at work, then stop them.
    let n = cluster.lock().expect("cluster lock").servers.len();
    let rested = std::panic::catch_unwind(|| settled(&vl, n, Duration::from_secs(30))).is_ok();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let mut history: Vec<workload::Op> = workers.into_iter().flat_map(|w| w.join().expect("a worker")).collect();
    // Every key must take a write again, and then reads back what was last written.
    history.extend(workload::final_round(&vl, &keys, options.clients, started));

    let mut guard = cluster.lock().expect("cluster lock");
    let Cluster { view_leaders, servers, .. } = &mut *guard;
    let crashed = view_leaders.alive_ones().chain(servers.iter_mut()).map(|p| usize::from(!p.alive())).sum();
    check::summarize(options, &history, faults, rested, crashed, started.elapsed())
}
