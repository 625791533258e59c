//! The clients: each a thread running one `ringside client` process at a time, recording what
//! it asked and how it ended.

use std::collections::BTreeMap;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringside_core::Rng;
use serde_json::Value;

use super::Phase;
use crate::client_spawn;

/// The longest one client process may take before it counts as hung: killed, outcome unknown.
const CLIENT_DEADLINE: Duration = Duration::from_secs(20);

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It completed: a write acknowledged, or a read with its value.
    Ok,
    /// It failed, certainly without effect (an abort, a conflict, a view with no servers).
    Failed,
    /// Nobody knows: the client was killed, hung, or its commit went unconfirmed.
    Unknown,
}

/// One operation of the history.
#[derive(Clone, Debug)]
pub(crate) struct Op {
    /// Which client process ran it: a client killed mid-operation is replaced by another id,
    /// since its unfinished operation stays open for ever.
    pub(crate) client: u64,
    pub(crate) key: String,
    /// A write's value; `None` for a read.
    pub(crate) write: Option<String>,
    /// A read's value, if it completed (`None` inside: not found).
    pub(crate) read: Option<Option<String>>,
    /// Microseconds since the run started.
    pub(crate) call: u64,
    pub(crate) ret: Option<u64>,
    pub(crate) outcome: Outcome,
    /// The nemesis's fault when the operation was invoked.
    pub(crate) phase: &'static str,
}

/// The client processes running now, by pid, and whether each is a `setr`: the nemesis kills
/// clients in the middle of their writes.
#[derive(Clone, Default)]
pub(crate) struct Registry(Arc<Mutex<BTreeMap<u32, bool>>>);

impl Registry {
    /// A running `setr`'s pid, if any, the `pick`-th one.
    pub(crate) fn writer(&self, pick: u64) -> Option<u32> {
        let running = self.0.lock().expect("registry lock");
        let writers: Vec<u32> = running.iter().filter(|(_, w)| **w).map(|(pid, _)| *pid).collect();
        (!writers.is_empty()).then(|| writers[(pick % writers.len() as u64) as usize])
    }
}

fn micros(started: Instant) -> u64 {
    started.elapsed().as_micros() as u64
}

/// Runs `ringside client --json ARGS` to its end (or kills it at the deadline), recorded in
/// `registry` while it runs.
fn run_client(vl: &str, args: &[&str], registry: &Registry, write: bool) -> (Option<Value>, bool) {
    let mut child: Child = client_spawn(vl, args);
    let pid = child.id();
    registry.0.lock().expect("registry lock").insert(pid, write);
    let deadline = Instant::now() + CLIENT_DEADLINE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => break None,
        }
    };
    registry.0.lock().expect("registry lock").remove(&pid);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return (None, false);
    };
    // Killed by a signal (the nemesis): no exit code, no answer.
    if status.code().is_none() {
        return (None, true);
    }
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut out, &mut text);
    }
    (serde_json::from_str(text.trim()).ok(), false)
}

/// One operation by client `client`: `setr key value` or `getr key`.
fn operate(
    vl: &str,
    client: u64,
    key: &str,
    write: Option<&str>,
    registry: &Registry,
    started: Instant,
    phase: &'static str,
) -> Op {
    let call = micros(started);
    let args: Vec<&str> = match write {
        Some(value) => vec!["--json", "setr", key, value],
        None => vec!["--json", "getr", key],
    };
    let (answer, _) = run_client(vl, &args, registry, write.is_some());
    let ret = micros(started);
    let mut op = Op {
        client,
        key: key.to_string(),
        write: write.map(str::to_string),
        read: None,
        call,
        ret: None,
        outcome: Outcome::Unknown,
        phase,
    };
    let Some(answer) = answer else { return op };
    if answer["ok"] == true {
        op.ret = Some(ret);
        op.outcome = Outcome::Ok;
        if write.is_none() {
            op.read = Some(answer["result"]["value"].as_str().map(str::to_string));
        }
        return op;
    }
    match answer["error"]["error"].as_str() {
        // The commit was decided and sent, but too few replicas confirmed it.
        Some("unconfirmed") => {}
        Some("not_found") if write.is_none() => {
            op.ret = Some(ret);
            op.outcome = Outcome::Ok;
            op.read = Some(None);
        }
        _ => {
            op.ret = Some(ret);
            op.outcome = Outcome::Failed;
        }
    }
    op
}

/// What every client thread shares.
#[derive(Clone)]
pub(crate) struct Shared {
    /// The view leader's address.
    pub(crate) vl: String,
    /// The keys written and read.
    pub(crate) keys: Vec<String>,
    /// Seeds each thread's choices.
    pub(crate) seed: u64,
    pub(crate) registry: Registry,
    pub(crate) phase: Phase,
    /// Set when the run is over.
    pub(crate) stop: Arc<AtomicBool>,
    /// When the run started: operation times count from it.
    pub(crate) started: Instant,
}

/// Starts client thread `n`: random `setr`s (values unique to it) and `getr`s of the keys
/// until stopped, one at a time.
pub(crate) fn spawn_worker(n: usize, shared: Shared) -> JoinHandle<Vec<Op>> {
    std::thread::spawn(move || {
        let Shared { vl, keys, seed, registry, phase, stop, started } = shared;
        let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(n as u64));
        let mut history = Vec::new();
        let mut generation = 0;
        let mut count = 0;
        while !stop.load(Ordering::Relaxed) {
            let key = &keys[rng.range(0, keys.len() as u64 - 1) as usize];
            count += 1;
            let value = format!("c{n}-{count}");
            let write = rng.chance(500_000).then_some(value.as_str());
            let now = *phase.lock().expect("phase lock");
            let client = (n as u64 + 1) * 1_000_000 + generation;
            let op = operate(&vl, client, key, write, &registry, started, now);
            if op.outcome == Outcome::Unknown {
                generation += 1;
            }
            history.push(op);
        }
        history
    })
}

/// After the faults: one write and then one read of every key, by fresh clients.
pub(crate) fn final_round(vl: &str, keys: &[String], clients: usize, started: Instant) -> Vec<Op> {
    let registry = Registry::default();
    let client = (clients as u64 + 1) * 1_000_000;
    let mut ops = Vec::new();
    // A client id per operation: an unknown write stays open for ever and must overlap nothing
    // of its own client.
    for (i, key) in keys.iter().enumerate() {
        let id = client + 2 * i as u64;
        ops.push(operate(vl, id, key, Some(&format!("final-{key}")), &registry, started, "final"));
        ops.push(operate(vl, id + 1, key, None, &registry, started, "final"));
    }
    ops
}
