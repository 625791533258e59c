//! The lease: how long a server may vote and answer reads after the view leader last heard it.
//!
//! A server that cannot reach the view leader may already have been declared failed and its
//! keys copied elsewhere; if it went on voting it would accept writes nobody will ever read.
//! So every accepted heartbeat extends the right to serve until `lease_ms` after it was sent,
//! and a server the view leader denied never serves again. The reply echoes the heartbeat's
//! send time: a reply held up in the network, or read only after this process was paused,
//! extends the lease from when its heartbeat left, never from a later one.

use crate::time::Time;

/// The lease's state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Lease {
    /// Until when this server may vote and answer reads.
    until: Option<Time>,
    /// The view leader declared this id failed: it never serves again.
    denied: bool,
}

impl Lease {
    /// The view leader accepted the heartbeat this server sent at `sent`.
    pub(crate) fn accepted(&mut self, sent: Time, lease_ms: u64) {
        let until = sent + lease_ms;
        self.until = Some(self.until.map_or(until, |t| t.max(until)));
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
        lease.accepted(Time(50), 100);
        assert_eq!(lease.until(), Some(Time(150)));
        assert!(lease.serving(Time(149)));
        assert!(!lease.serving(Time(150)));
    }

    #[test]
    fn a_late_reply_to_an_old_heartbeat_never_shortens_nor_stretches_the_lease() {
        let mut lease = Lease::default();
        lease.accepted(Time(100), 100);
        // The reply to the heartbeat sent at 0 arrives last: the lease still runs from 100.
        lease.accepted(Time(0), 100);
        assert!(lease.serving(Time(199)));
        assert!(!lease.serving(Time(200)));
    }

    #[test]
    fn a_denied_server_never_serves_again() {
        let mut lease = Lease::default();
        lease.deny();
        lease.accepted(Time(0), 100);
        assert!(!lease.serving(Time(10)));
        assert_eq!(lease.until(), None);
    }
}
