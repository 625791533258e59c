//! `ringside bench`'s moving-keys section: clients write and read continuously while servers
//! join one after another and then fail one after another, so that keys keep moving.
//!
//! It counts the attempts refused (an `op_retrying` event each; a view change absorbed inside
//! the client is no refusal), compares setr latency inside transitions with steady state, and
//! reports the longest setr, which bounds how long a key was unwritable. A transition runs
//! from the change (a join, or a kill -9) until the view leader reports the newer view stable;
//! a failure's transition includes the failure timeout during which the dead server is still
//! in the view.

use std::time::{Duration, Instant};

use ringside_core::{Event, OpError, OpId, OpOutput, Rng, Timing};

use crate::bench::{client_shell, median, p50_p99};
use crate::cluster::{ClusterProcesses, Logs, Options};
use crate::shell::Turn;
use crate::NodeError;

/// Keys written and read.
const KEYS: usize = 60;
/// Operations in flight at once.
const IN_FLIGHT: usize = 8;
/// How often the view leader is asked whether the view settled.
const POLL: Duration = Duration::from_millis(50);

/// When an operation was invoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The view was stable.
    Steady,
    /// A server had joined and the view was not stable yet.
    Join,
    /// A server had been killed and the view was not stable yet.
    Failure,
}

/// One finished replicated operation.
struct Done {
    write: bool,
    phase: Phase,
    took: Duration,
    ok: bool,
}

/// What kind of failure `error` is: its tag on the wire (`timeout`, `gave_up`, …).
fn error_kind(error: &OpError) -> String {
    serde_json::to_value(error).ok().and_then(|v| v["error"].as_str().map(str::to_string)).unwrap_or_default()
}

/// A change of the script, and where it stands.
enum Step {
    /// The next change is due.
    Ready,
    /// A change was made: waiting for a view newer than `after` that is stable.
    Settling { after: u64, since: Instant },
}

/// Runs the section on a cluster of its own, with `base`'s options, `course` timing or the
/// demo's, `changes` joins then as many failures, and clients of `attempts` attempts.
pub(crate) async fn run(
    base: &Options,
    changes: usize,
    course: bool,
    attempts: u32,
    value: &str,
) -> Result<(), NodeError> {
    let timing = if course { Timing::COURSE } else { Timing::DEMO };
    let options = Options { timing, ..base.clone() };
    println!(
        "keys moving: {KEYS} keys, {IN_FLIGHT} setr/getr in flight, {changes} joins then {changes} kill -9s one after \
         another, {} timing (heartbeat {} ms, failure timeout {} ms), {attempts} attempts per operation",
        if course { "course" } else { "demo" },
        timing.heartbeat_ms,
        timing.failure_timeout_ms
    );
    let mut cluster = ClusterProcesses::start(options, 3, Logs::Discard).await?;
    let mut shell = client_shell(&cluster, attempts);

    let mut rng = Rng::new(crate::fresh_seed());
    // By op: whether it writes, when it began, when, and its key.
    let mut live: std::collections::HashMap<OpId, (bool, Instant, Phase, usize)> = std::collections::HashMap::new();
    let mut done: Vec<Done> = Vec::new();
    let mut refused = [0usize; 3];
    let mut reasons: std::collections::BTreeMap<(usize, String), usize> = std::collections::BTreeMap::new();
    // Failed operations (setr and getr) by when they were invoked and their error's kind.
    let mut failures: std::collections::BTreeMap<(usize, String), usize> = std::collections::BTreeMap::new();
    let mut transitions: Vec<Duration> = Vec::new();
    let mut poll: Option<OpId> = None;
    let mut last_poll = Instant::now() - POLL;
    let mut step = Step::Settling { after: 0, since: Instant::now() };
    let mut made = 0;
    let mut loaded = 0;
    let mut turn = Turn::default();
    // The script's first wait is for the initial view; the keys are loaded in it too.
    let limit = Instant::now() + Duration::from_secs(if course { 1_800 } else { 300 });
    loop {
        if Instant::now() > limit {
            return Err(NodeError::new("the moving-keys section did not finish in time"));
        }
        let phase = match step {
            Step::Settling { .. } if made > changes => Phase::Failure,
            Step::Settling { .. } if made > 0 => Phase::Join,
            _ => Phase::Steady,
        };
        while live.len() < IN_FLIGHT {
            let now = shell.now();
            // A key nobody in flight works on: two operations of one client on one key would
            // wait for each other, which is contention, not movement.
            let (key, write) = if loaded < KEYS {
                loaded += 1;
                (loaded - 1, true)
            } else {
                let busy: Vec<usize> = live.values().map(|(_, _, _, key)| *key).collect();
                let free: Vec<usize> = (0..KEYS).filter(|k| !busy.contains(k)).collect();
                (free[rng.range(0, free.len() as u64 - 1) as usize], rng.chance(500_000))
            };
            let name = format!("moving{key}");
            let op = if write { shell.node.setr(now, name, value.to_string()) } else { shell.node.getr(now, name) }
                .expect("keys are never empty");
            live.insert(op, (write, Instant::now(), phase, key));
        }
        if poll.is_none() && last_poll.elapsed() >= POLL {
            let now = shell.now();
            poll = Some(shell.node.query_servers(now));
            last_poll = Instant::now();
        }
        shell.drain(None, &mut turn);
        for event in turn.events.drain(..) {
            match event {
                Event::OpRetrying { reason, .. } => {
                    refused[phase as usize] += 1;
                    *reasons.entry((phase as usize, reason_kind(&reason))).or_default() += 1;
                }
                Event::OpDone { op, result } if Some(op) == poll => {
                    poll = None;
                    let Ok(OpOutput::Servers { epoch, rebalancing: false, .. }) = result else { continue };
                    if let Step::Settling { after, since } = step {
                        if epoch.0 > after && loaded == KEYS {
                            if made > 0 {
                                transitions.push(since.elapsed());
                            }
                            step = Step::Ready;
                        }
                    }
                }
                Event::OpDone { op, result } => {
                    if let Some((write, began, phase, _)) = live.remove(&op) {
                        if let Err(error) = &result {
                            *failures.entry((phase as usize, error_kind(error))).or_default() += 1;
                        }
                        done.push(Done { write, phase, took: began.elapsed(), ok: result.is_ok() });
                    }
                }
                _ => {}
            }
        }
        if matches!(step, Step::Ready) {
            if made == 2 * changes {
                break;
            }
            let epoch = shell.node.cached_epoch().map_or(0, |e| e.0);
            if made < changes {
                cluster.add().await?;
            } else {
                // The oldest live server: by then every key has moved at least once.
                let label = cluster.servers.iter().find(|p| !p.killed()).map(|p| p.label.clone());
                cluster.kill(&label.ok_or_else(|| NodeError::new("no server left to kill"))?)?;
            }
            made += 1;
            step = Step::Settling { after: epoch, since: Instant::now() };
        }
        if let Ok(next) = tokio::time::timeout(POLL, shell.turn()).await {
            turn = next.ok_or_else(|| NodeError::new("the network stopped"))?;
        }
    }
    // What is still in flight finishes outside the counts.
    cluster.stop().await;

    let writes = |phase: Phase| -> Vec<&Done> { done.iter().filter(|d| d.write && d.phase == phase).collect() };
    println!("{:<20} {:>7} {:>7} {:>9} {:>9} {:>9}", "invoked (setr)", "ops", "failed", "p50 ms", "p99 ms", "refused");
    let phases = [("steady", Phase::Steady), ("during a join", Phase::Join), ("during a failure", Phase::Failure)];
    for (name, phase) in phases {
        let w = writes(phase);
        let took: Vec<Duration> = w.iter().filter(|d| d.ok).map(|d| d.took).collect();
        let failed = w.iter().filter(|d| !d.ok).count();
        let (p50, p99) = p50_p99(took);
        println!(
            "{name:<20} {:>7} {:>7} {:>9.1} {:>9.1} {:>9}",
            w.len(),
            failed,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            refused[phase as usize]
        );
    }
    for ((phase, reason), n) in &reasons {
        println!("  refused {}: {n}× {reason}", phases[*phase].0);
    }
    for ((phase, kind), n) in &failures {
        println!("  failed {}: {n}× {kind}", phases[*phase].0);
    }
    let reads = done.iter().filter(|d| !d.write);
    let (reads_n, reads_failed) = reads.fold((0, 0), |(n, f), d| (n + 1, f + usize::from(!d.ok)));
    let longest = done.iter().filter(|d| d.write).map(|d| d.took).max().unwrap_or_default();
    let settle = median(transitions.iter().map(Duration::as_secs_f64).collect());
    println!(
        "reads (getr): {reads_n} ops, {reads_failed} failed; longest setr (a key unwritable at most that long) {:.0} ms; \
         transitions took {:.0} ms (median of {})",
        longest.as_secs_f64() * 1e3,
        settle * 1e3,
        transitions.len()
    );
    println!(
        "(refused: attempts of setr and getr that failed and were retried, an `op_retrying` each, by when the \
         operation was invoked; a view change absorbed inside the client is none. A failure lasts from the kill to \
         the stable view, the failure timeout included: until then the dead server is still in the view, and a write \
         of a key it replicates waits for its vote)"
    );
    Ok(())
}

/// A refusal's reason with the ids and numbers left out, so that alike ones count together.
fn reason_kind(reason: &str) -> String {
    reason.split(' ').map(|w| if w.chars().any(|c| c.is_ascii_digit()) { "…" } else { w }).collect::<Vec<_>>().join(" ")
}
