//! The nemesis: one fault at a time, each undone or repaired before the next, so that the
//! cluster never loses more than R − 1 replicas of a key between two rebalanced views.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringside_core::Rng;

use super::workload::Registry;
use super::{Cluster, Options, Phase};
use crate::{view, Process, FAILURE_MS};

/// The nemesis thread and the flag that stops it.
pub(crate) struct Nemesis {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Faults>,
}

/// What the nemesis did, for the summary.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Faults caused, by kind.
    pub caused: Vec<(&'static str, usize)>,
    /// Servers a paused view leader failed on waking (the fault of issue 14): must stay 0.
    pub failed_by_paused_leader: usize,
    /// Times the cluster did not come back to a rebalanced view in time after a fault.
    pub unsettled: usize,
}

impl Faults {
    fn count(&mut self, kind: &'static str) {
        match self.caused.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => self.caused.push((kind, 1)),
        }
    }
}

impl Nemesis {
    /// Stops it after the fault under way is repaired.
    pub(crate) fn stop(self) -> Faults {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the nemesis")
    }
}

/// Waits until the view leader reports a rebalanced view of `n` servers, every one of them
/// alive; false after `within`.
fn await_settled(cluster: &Mutex<Cluster>, n: usize, within: Duration) -> bool {
    let vl = cluster.lock().expect("cluster lock").vl();
    let until = Instant::now() + within;
    while Instant::now() < until {
        if let Some((_, ids, false)) = view(&vl) {
            let mut c = cluster.lock().expect("cluster lock");
            let live: Vec<&str> = c.servers.iter().filter_map(|s| s.id.as_deref()).collect();
            let whole = ids.len() == n && ids.iter().all(|id| live.contains(&id.as_str()));
            c.seen.extend(ids);
            if whole {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Waits until the view leader reports a rebalanced view of live servers only (however many);
/// false after `within`.
fn await_only_live(cluster: &Mutex<Cluster>, within: Duration) -> bool {
    let vl = cluster.lock().expect("cluster lock").vl();
    let until = Instant::now() + within;
    while Instant::now() < until {
        if let Some((_, ids, false)) = view(&vl) {
            let c = cluster.lock().expect("cluster lock");
            if !ids.is_empty() && ids.iter().all(|id| c.servers.iter().any(|s| s.id.as_ref() == Some(id))) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Starts a server to replace one taken out.
fn replace(cluster: &Mutex<Cluster>) {
    cluster.lock().expect("cluster lock").add_server();
}

/// kill -9 of the `pick`-th server.
fn kill_server(cluster: &Mutex<Cluster>, pick: u64) {
    let mut c = cluster.lock().expect("cluster lock");
    let i = (pick % c.servers.len() as u64) as usize;
    let mut victim = c.remove_server(i);
    victim.kill();
}

fn signal_pid(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
}

/// One fault, then its repair; `phase` names it while it lasts.
fn strike(rng: &mut Rng, cluster: &Arc<Mutex<Cluster>>, registry: &Registry, phase: &Phase, faults: &mut Faults) {
    let n = cluster.lock().expect("cluster lock").servers.len();
    let set = |name: &'static str| *phase.lock().expect("phase lock") = name;
    let settle = Duration::from_millis(15 * FAILURE_MS);
    let (partitions, replicated) = {
        let c = cluster.lock().expect("cluster lock");
        (c.net.is_some(), c.view_leaders.len() > 1)
    };
    let mut kinds = vec![
        ("kill one server", 2),
        ("kill two servers", 1),
        ("kill a client mid-setr", 3),
        ("pause a server", 2),
        ("pause the view leader", 1),
    ];
    if partitions {
        kinds.extend([("cut a server off briefly", 1), ("cut a server off", 2)]);
    }
    if replicated {
        // The leader most of all: its loss is the one that costs an election.
        kinds.extend([("kill the view leader", 3), ("kill a view-leader follower", 1)]);
    }
    let mut pick = rng.range(0, kinds.iter().map(|(_, w)| w).sum());
    let mut kind = kinds[0].0;
    for (k, w) in kinds {
        if pick < w {
            kind = k;
            break;
        }
        pick -= w;
    }
    match kind {
        "kill one server" | "kill two servers" => {
            let victims = if kind == "kill two servers" { 2 } else { 1 };
            set(kind);
            for _ in 0..victims {
                kill_server(cluster, rng.next_u64());
            }
            // The dead must leave the view, and the survivors rebalance, before anyone new joins:
            // never more than R − 1 replicas of a key lost between two rebalanced views.
            if !await_only_live(cluster, settle) {
                eprintln!("chaos: the view did not drop the killed servers after `{kind}`");
                faults.unsettled += 1;
            }
            set("repair");
            for _ in 0..victims {
                replace(cluster);
            }
        }
        "kill a client mid-setr" => {
            set(kind);
            // Wait a moment for a write to be under way, and kill its process.
            for _ in 0..100 {
                if let Some(pid) = registry.writer(rng.next_u64()) {
                    std::thread::sleep(Duration::from_millis(rng.range(0, 30)));
                    signal_pid(pid, "KILL");
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        "pause a server" => {
            // Past its lease and its failure timeout: it is failed, and stays out once resumed.
            set(kind);
            let pid = {
                let c = cluster.lock().expect("cluster lock");
                c.servers[(rng.next_u64() % c.servers.len() as u64) as usize].pid()
            };
            signal_pid(pid, "STOP");
            std::thread::sleep(Duration::from_millis(2 * FAILURE_MS));
            signal_pid(pid, "CONT");
            set("repair");
        }
        "cut a server off briefly" | "cut a server off" => {
            // Briefly: less than its lease, so nobody fails it. Otherwise past its failure
            // timeout: it is failed, stays out once healed, and is replaced.
            set(kind);
            let long = kind == "cut a server off";
            let slot = {
                let c = cluster.lock().expect("cluster lock");
                c.slots[(rng.next_u64() % c.slots.len() as u64) as usize]
            };
            let cut_ms = if long { 2 * FAILURE_MS } else { FAILURE_MS / 4 };
            with_net(cluster, |net| net.cut(slot));
            std::thread::sleep(Duration::from_millis(cut_ms));
            with_net(cluster, |net| net.heal(slot));
            set("repair");
        }
        "kill the view leader" | "kill a view-leader follower" => {
            // Down for two failure timeouts, then back from its disk at the same address: the
            // others elect a leader meanwhile, or carry on without a follower.
            set(kind);
            let victim = {
                let c = cluster.lock().expect("cluster lock");
                let leader = c.view_leaders.leader();
                match (kind, leader) {
                    ("kill the view leader", Some(leader)) => leader,
                    (_, leader) => {
                        let n = c.view_leaders.len() as u64;
                        let other = (rng.next_u64() % (n - 1)) as usize;
                        (leader.unwrap_or(0) + 1 + other) % n as usize
                    }
                }
            };
            cluster.lock().expect("cluster lock").view_leaders.kill(victim);
            std::thread::sleep(Duration::from_millis(2 * FAILURE_MS));
            set("repair");
            cluster.lock().expect("cluster lock").view_leaders.restart(victim);
        }
        _ => {
            // Three failure timeouts asleep (the leader, when it is replicated): on waking it
            // must fail nobody for its own silence.
            set(kind);
            let (vl, pid) = {
                let c = cluster.lock().expect("cluster lock");
                let leader = c.view_leaders.leader().and_then(|i| c.view_leaders.get(i));
                (c.vl(), leader.map(Process::pid))
            };
            let Some(pid) = pid else {
                eprintln!("chaos: no view-leader replica says it leads; nothing paused");
                set("quiet");
                return;
            };
            let before = view(&vl).map(|v| v.1).unwrap_or_default();
            signal_pid(pid, "STOP");
            std::thread::sleep(Duration::from_millis(3 * FAILURE_MS));
            signal_pid(pid, "CONT");
            std::thread::sleep(Duration::from_millis(2 * FAILURE_MS));
            let after = view(&vl).map(|v| v.1).unwrap_or_default();
            faults.failed_by_paused_leader += before.iter().filter(|id| !after.contains(id)).count();
        }
    }
    faults.count(kind);
    if !reconcile(cluster, n, settle) {
        eprintln!("chaos: the cluster did not settle after `{kind}`");
        faults.unsettled += 1;
    }
    set("quiet");
}

/// Brings the cluster back to `n` servers in a rebalanced view: every server the view leader
/// declared failed is killed and replaced; false if that takes longer than `within`.
fn reconcile(cluster: &Mutex<Cluster>, n: usize, within: Duration) -> bool {
    let until = Instant::now() + within;
    let vl = cluster.lock().expect("cluster lock").vl();
    loop {
        // Failed: a server once seen in the view, missing from a rebalanced one now.
        let failed: Vec<String> = match view(&vl) {
            Some((_, ids, false)) => {
                let mut c = cluster.lock().expect("cluster lock");
                c.seen.extend(ids.iter().cloned());
                c.seen.iter().filter(|id| !ids.contains(id)).cloned().collect()
            }
            _ => Vec::new(),
        };
        let out = {
            let mut c = cluster.lock().expect("cluster lock");
            let doomed: Vec<usize> = (0..c.servers.len())
                .rev()
                .filter(|&i| c.servers[i].id.as_ref().is_some_and(|id| failed.contains(id)))
                .collect();
            for &i in &doomed {
                c.remove_server(i).kill();
            }
            doomed.len()
        };
        for _ in 0..out {
            replace(cluster);
        }
        if await_settled(cluster, n, Duration::from_secs(1)) {
            return true;
        }
        if Instant::now() > until {
            let c = cluster.lock().expect("cluster lock");
            let ours: Vec<&str> = c.servers.iter().filter_map(|p| p.id.as_deref()).collect();
            eprintln!("chaos: no rebalanced view of {n} servers: the view is {:?}, the servers {ours:?}", view(&vl));
            return false;
        }
    }
}

fn with_net(cluster: &Mutex<Cluster>, f: impl FnOnce(&super::Net)) {
    if let Some(net) = &cluster.lock().expect("cluster lock").net {
        f(net);
    }
}

/// Starts the nemesis: a fault every one to three seconds, from `options.seed`.
pub(crate) fn spawn(options: &Options, cluster: Arc<Mutex<Cluster>>, registry: Registry, phase: Phase) -> Nemesis {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let seed = options.seed;
    let thread = std::thread::spawn(move || {
        let mut rng = Rng::new(seed ^ 0x6e65_6d65_7369_7321);
        let mut faults = Faults::default();
        // A quiet start: the first operations see the cluster whole.
        std::thread::sleep(Duration::from_millis(1_500));
        while !flag.load(Ordering::Relaxed) {
            strike(&mut rng, &cluster, &registry, &phase, &mut faults);
            let rest = Duration::from_millis(rng.range(1_000, 3_000));
            let until = Instant::now() + rest;
            while Instant::now() < until && !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        faults
    });
    Nemesis { stop, thread }
}
