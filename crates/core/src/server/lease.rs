//! The lease: how long a server may vote and answer reads after the view leader last heard it.
//!
//! A server that cannot reach the view leader may already have been declared failed and its
//! keys copied elsewhere; if it went on voting it would accept writes nobody will ever read.
//! So every accepted heartbeat extends the right to serve until `lease_ms` after it was sent,
//! and a server the view leader denied never serves again.

use alloc::collections::VecDeque;

use crate::time::Time;

/// The lease's state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Lease {
    /// Send times of heartbeats not answered yet, oldest first.
    unanswered: VecDeque<Time>,
    /// Until when this server may vote and answer reads.
    until: Option<Time>,
    /// The view leader declared this id failed: it never serves again.
    denied: bool,
}

impl Lease {
    /// A heartbeat went out at `now`.
    pub(crate) fn sent(&mut self, now: Time, lease_ms: u64) {
        // Older unanswered heartbeats can no longer extend the lease beyond now.
        while self.unanswered.front().is_some_and(|t| *t + lease_ms <= now) {
            self.unanswered.pop_front();
        }
        self.unanswered.push_back(now);
    }

    /// The view leader accepted a heartbeat.
    pub(crate) fn accepted(&mut self, lease_ms: u64) {
        // Replies carry no send time; crediting the oldest unanswered heartbeat can only make
        // the lease shorter than the truth, never longer.
        if let Some(sent) = self.unanswered.pop_front() {
            let until = sent + lease_ms;
            self.until = Some(self.until.map_or(until, |t| t.max(until)));
        }
    }

    /// The view leader denied this id: it was declared failed.
    pub(crate) fn deny(&mut self) {
        self.denied = true;
    }

    /// Until when this server may vote and answer reads; `None` if it may not at all (no
    /// heartbeat accepted yet, or denied).
    pub(crate) fn until(&self) -> Option<Time> {
        self.until.filter(|_| !self.denied)
    }

    /// Whether this server may vote and answer reads now.
    pub(crate) fn serving(&self, now: Time) -> bool {
        !self.denied && self.until.is_some_and(|t| now < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accepted_heartbeat_serves_until_a_lease_after_it_was_sent() {
        let mut lease = Lease::default();
        assert!(!lease.serving(Time(0)));
        assert_eq!(lease.until(), None);
        lease.sent(Time(0), 100);
        lease.sent(Time(50), 100);
        lease.accepted(100);
        assert_eq!(lease.until(), Some(Time(100)));
        assert!(lease.serving(Time(99)));
        assert!(!lease.serving(Time(100)));
        // The second reply is credited to the heartbeat sent at 50.
        lease.accepted(100);
        assert!(lease.serving(Time(149)));
        assert!(!lease.serving(Time(150)));
    }

    #[test]
    fn heartbeats_older_than_a_lease_no_longer_count() {
        let mut lease = Lease::default();
        lease.sent(Time(0), 100);
        lease.sent(Time(100), 100);
        // The reply cannot be for the heartbeat at 0 any more: it extends from 100.
        lease.accepted(100);
        assert!(lease.serving(Time(199)));
    }

    #[test]
    fn a_denied_server_never_serves_again() {
        let mut lease = Lease::default();
        lease.sent(Time(0), 100);
        lease.deny();
        lease.accepted(100);
        assert!(!lease.serving(Time(10)));
        assert_eq!(lease.until(), None);
    }
}
