//! How a simulated world is set up: its network faults and every duration the roles use.

use ringside_core::CommitProtocol;
use ringside_core::Timing;
use serde::{Deserialize, Serialize};

/// Network faults, as chances per million messages (integers keep runs identical everywhere).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Chance a message is lost.
    pub drop_ppm: u32,
    /// Chance a message is delivered twice.
    pub duplicate_ppm: u32,
    /// Chance a message is held back by `delay_ms` more.
    pub delay_ppm: u32,
    /// The extra delay (ms).
    pub delay_ms: u64,
}

/// Every duration the roles use, in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    /// Server heartbeat period.
    pub heartbeat_ms: u64,
    /// View leader failure timeout.
    pub failure_timeout_ms: u64,
    /// Participant wait before the termination protocol.
    pub decision_timeout_ms: u64,
    /// Resend period for unacknowledged copies.
    pub transfer_retry_ms: u64,
    /// Client answer timeout.
    pub rpc_timeout_ms: u64,
    /// Client attempts before giving up.
    pub max_attempts: u32,
    /// Client first backoff.
    pub backoff_ms: u64,
    /// Client largest backoff.
    pub backoff_max_ms: u64,
    /// Client lock re-ask period.
    pub lock_retry_ms: u64,
}

impl Durations {
    /// The membership timings, from which the core derives each server's lease as the native
    /// nodes do.
    pub fn membership(&self) -> Timing {
        Timing { heartbeat_ms: self.heartbeat_ms, failure_timeout_ms: self.failure_timeout_ms }
    }
}

impl Default for Durations {
    /// Brisk timings that keep simulated runs short.
    fn default() -> Self {
        Durations {
            heartbeat_ms: 100,
            failure_timeout_ms: 500,
            decision_timeout_ms: 400,
            transfer_retry_ms: 300,
            rpc_timeout_ms: 250,
            max_attempts: 10,
            backoff_ms: 50,
            backoff_max_ms: 800,
            lock_retry_ms: 200,
        }
    }
}

/// How the world is set up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Fixes every random choice of the run.
    pub seed: u64,
    /// Replicas per key.
    pub replicas: usize,
    /// Virtual nodes per server.
    pub vnodes: u32,
    /// Per-message latency range (ms).
    pub latency_ms: (u64, u64),
    /// Network faults.
    pub faults: Faults,
    /// Role timings.
    pub timing: Durations,
    /// Keep the trace (and its hash).
    pub trace: bool,
    /// Check invariants after every step.
    pub check: bool,
    /// How the servers decide a transaction whose coordinator went silent.
    #[serde(default)]
    pub commit: CommitProtocol,
    /// View-leader replicas: one is today's lone view leader (in memory, never crashed); more
    /// replicate its state by Raft, each with a disk that survives its crashes.
    #[serde(default = "one")]
    pub view_leaders: usize,
}

fn one() -> usize {
    1
}

impl SimConfig {
    /// A faultless world with `seed`, tracing and checking on.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            replicas: 3,
            vnodes: 1,
            latency_ms: (1, 10),
            faults: Faults::default(),
            timing: Durations::default(),
            trace: true,
            check: true,
            commit: CommitProtocol::default(),
            view_leaders: 1,
        }
    }
}
