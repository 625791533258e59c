//! Time as the core sees it: milliseconds handed in by the caller, never read from a clock.

use alloc::collections::{BTreeMap, BTreeSet};
use core::ops::Add;
use serde::{Deserialize, Serialize};

/// A point in time: milliseconds from an origin the caller chooses (process start, simulation
/// start). Only differences between two `Time`s from the same caller mean anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    /// The origin.
    pub const ZERO: Time = Time(0);
}

impl Add<u64> for Time {
    type Output = Time;

    /// `self` plus a number of milliseconds (saturating: a huge timeout means "never").
    fn add(self, ms: u64) -> Time {
        Time(self.0.saturating_add(ms))
    }
}

impl core::fmt::Display for Time {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

/// A running timer as observers see it: when it fires and how long it runs in all, so a view
/// can draw how much of it is left. Roles report these; nothing inside a role reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// When it fires (or, for a lease, runs out).
    pub due: Time,
    /// How long it runs from when it was armed (ms).
    pub span_ms: u64,
}

/// A role's armed timers, keyed by a typed timer name. Only the earliest deadline leaves the
/// role (through `poll_timeout`), so the table keeps deadlines ordered as well as by key.
#[derive(Clone, Debug)]
pub(crate) struct Timers<K: Ord + Clone> {
    by_key: BTreeMap<K, Time>,
    by_time: BTreeSet<(Time, K)>,
}

impl<K: Ord + Clone> Default for Timers<K> {
    fn default() -> Self {
        Timers { by_key: BTreeMap::new(), by_time: BTreeSet::new() }
    }
}

impl<K: Ord + Clone> Timers<K> {
    /// Arms (or re-arms) `key` at `at`.
    pub(crate) fn set(&mut self, key: K, at: Time) {
        if let Some(old) = self.by_key.insert(key.clone(), at) {
            self.by_time.remove(&(old, key.clone()));
        }
        self.by_time.insert((at, key));
    }

    /// Disarms `key`; disarming an unarmed timer is a no-op.
    pub(crate) fn cancel(&mut self, key: &K) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_time.remove(&(old, key.clone()));
        }
    }

    /// When `key` fires, if it is armed.
    pub(crate) fn at(&self, key: &K) -> Option<Time> {
        self.by_key.get(key).copied()
    }

    /// Every armed key.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.by_key.keys()
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Time> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// Removes and returns the earliest timer due at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Time) -> Option<K> {
        let (t, _) = self.by_time.first()?;
        if *t > now {
            return None;
        }
        let (_, key) = self.by_time.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_deadline_order_and_rearm_replaces() {
        let mut t = Timers::default();
        t.set("b", Time(20));
        t.set("a", Time(30));
        t.set("a", Time(10));
        t.set("c", Time(40));
        t.cancel(&"c");
        assert_eq!((t.at(&"a"), t.at(&"c")), (Some(Time(10)), None));
        assert_eq!(t.next(), Some(Time(10)));
        assert_eq!(t.pop_expired(Time(5)), None);
        assert_eq!(t.pop_expired(Time(25)), Some("a"));
        assert_eq!(t.pop_expired(Time(25)), Some("b"));
        assert_eq!(t.pop_expired(Time(100)), None);
        assert_eq!(t.next(), None);
    }
}
