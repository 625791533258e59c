//! How a server behaves: its identity, its peers and every duration it uses.

use alloc::vec::Vec;

use crate::id::{Addr, ServerId};
use crate::limits::Limits;
use crate::timing::Timing;
use crate::twopc::CommitProtocol;

/// How a server behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The id; `None` picks a fresh random one from the seed, as a new process does.
    pub id: Option<ServerId>,
    /// Where this server listens (sent in heartbeats).
    pub addr: Addr,
    /// Where the view leader's replicas listen (one address for a lone view leader).
    pub view_leaders: Vec<Addr>,
    /// Seeds the id and any jitter.
    pub seed: u64,
    /// Heartbeat period (ms).
    pub heartbeat_ms: u64,
    /// How long after sending an accepted heartbeat this server may still vote and answer
    /// reads (ms). At most the view leader's failure timeout: a server that might have been
    /// declared failed must stop serving, or it would accept writes nobody will ever read.
    pub lease_ms: u64,
    /// How long a prepared transaction waits for the decision before asking around (ms).
    pub decision_timeout_ms: u64,
    /// Resend period for unacknowledged copies (ms).
    pub transfer_retry_ms: u64,
    /// Copies per transfer message.
    pub transfer_batch: usize,
    /// Replicas per key (R).
    pub replicas: usize,
    /// Virtual nodes per server.
    pub vnodes: u32,
    /// How large a key and a value may be.
    pub limits: Limits,
    /// How a transaction whose coordinator went silent is decided.
    pub commit: CommitProtocol,
}

impl ServerConfig {
    /// Demo timings ([`Timing::DEMO`]) for a server at `addr` reporting to `view_leader`.
    pub fn new(addr: Addr, view_leader: Addr, seed: u64) -> Self {
        Self::for_timing(addr, view_leader, seed, &Timing::DEMO)
    }

    /// A server whose heartbeat period and lease follow the cluster's `timing`
    /// (the lease by [`Timing::lease_ms`]); every other setting is the demo's.
    ///
    /// The decision timeout stays the demo's 2 s whatever the timing: nothing ties it to
    /// failure detection today (the native servers have always used it unchanged).
    pub fn for_timing(addr: Addr, view_leader: Addr, seed: u64, timing: &Timing) -> Self {
        ServerConfig {
            id: None,
            addr,
            view_leaders: alloc::vec![view_leader],
            seed,
            heartbeat_ms: timing.heartbeat_ms,
            lease_ms: timing.lease_ms(),
            decision_timeout_ms: 2_000,
            transfer_retry_ms: 1_000,
            transfer_batch: 1_000,
            replicas: 3,
            vnodes: 1,
            limits: Limits::default(),
            commit: CommitProtocol::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_is_the_demo_timing() {
        let (addr, vl) = (Addr::from("s1"), Addr::from("vl"));
        let config = ServerConfig::new(addr.clone(), vl.clone(), 7);
        assert_eq!((config.heartbeat_ms, config.lease_ms, config.decision_timeout_ms), (500, 2_400, 2_000));
        assert_eq!(config, ServerConfig::for_timing(addr, vl, 7, &Timing::DEMO));
    }

    #[test]
    fn the_course_timing_sets_heartbeat_and_lease() {
        let config = ServerConfig::for_timing(Addr::from("s1"), Addr::from("vl"), 7, &Timing::COURSE);
        assert_eq!((config.heartbeat_ms, config.lease_ms), (10_000, 24_000));
        assert_eq!((config.id, config.seed, config.replicas, config.vnodes), (None, 7, 3, 1));
    }
}
