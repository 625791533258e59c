//! The membership timings a cluster must agree on, and the rules derived from them.
//!
//! The view leader and its servers are configured separately but must be configured
//! together: a server's lease has to end before the view leader could declare it failed.
//! Keeping the rule here means every shell (native nodes, simulator, browser) derives it the
//! same way.

/// How often servers heartbeat and how long the view leader waits before declaring one failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How often a server heartbeats the view leader (ms).
    pub heartbeat_ms: u64,
    /// How long the view leader waits after a server's last heartbeat before declaring it
    /// failed (ms).
    pub failure_timeout_ms: u64,
}

impl Timing {
    /// A failure is noticed within a few seconds, for a live demo.
    pub const DEMO: Timing = Timing { heartbeat_ms: 500, failure_timeout_ms: 3_000 };
    /// The course's: heartbeat every 10 s, failed after 30 s.
    pub const COURSE: Timing = Timing { heartbeat_ms: 10_000, failure_timeout_ms: 30_000 };

    /// How long an accepted heartbeat lets a server vote and answer reads (ms).
    ///
    /// A fifth of the failure timeout short of it: a server must stop serving before the view
    /// leader could declare it failed, with room left for clock drift and a slow reply.
    pub fn lease_ms(&self) -> u64 {
        self.failure_timeout_ms - self.failure_timeout_ms / 5
    }

    /// The slowest heartbeat that keeps a server serving: two heartbeats per lease, so one
    /// lost or late reply does not stop it between two accepted ones.
    pub fn max_heartbeat_ms(&self) -> u64 {
        self.lease_ms() / 2
    }

    /// Whether the heartbeat period is non-zero and at most [`max_heartbeat_ms`](Self::max_heartbeat_ms).
    pub fn heartbeat_fits(&self) -> bool {
        self.heartbeat_ms != 0 && self.heartbeat_ms <= self.max_heartbeat_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_ends_a_fifth_before_the_failure_timeout() {
        assert_eq!(Timing::DEMO.lease_ms(), 2_400);
        assert_eq!(Timing::COURSE.lease_ms(), 24_000);
        assert_eq!(Timing { heartbeat_ms: 1, failure_timeout_ms: 7 }.lease_ms(), 6);
    }

    #[test]
    fn a_heartbeat_must_come_twice_per_lease() {
        assert!(Timing::DEMO.heartbeat_fits());
        assert!(Timing::COURSE.heartbeat_fits());
        assert_eq!(Timing::DEMO.max_heartbeat_ms(), 1_200);
        assert!(Timing { heartbeat_ms: 1_200, failure_timeout_ms: 3_000 }.heartbeat_fits());
        assert!(!Timing { heartbeat_ms: 1_201, failure_timeout_ms: 3_000 }.heartbeat_fits());
        assert!(!Timing { heartbeat_ms: 0, failure_timeout_ms: 3_000 }.heartbeat_fits());
    }
}
