//! The view leader's lock table: named locks, FIFO wait queues and deadlock detection.
//!
//! A pure data structure with no time and no messages; the view leader turns its outcomes into
//! replies. Every lock with an entry has a holder: a release hands the lock straight to the head
//! of its queue, and an entry left with neither holder nor waiters is dropped so the table only
//! holds live locks. A hand-over can give a lock to a requester that waits elsewhere, which
//! makes the lock's other waiters wait for it: any of them whose wait now closes a cycle leaves
//! the queue, refused as if it had just asked, so the wait-for graph never holds a cycle.
//!
//! It also remembers, for each holder and waiter, which request of which process put it there
//! (a [`Request`]): a release the same process sent before that request — a late resend, a
//! duplicate — is stale, and must not let go of what the later request took.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

/// What a `lock_get` got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LockGetOutcome {
    /// The requester now holds the lock; also the answer when it already held it.
    Granted,
    /// The requester waits in the lock's queue and should ask again later; asking again while
    /// queued does not queue it twice.
    Queued {
        /// Place in the queue: 1 is next in line.
        position: usize,
    },
    /// Waiting would close a cycle in the wait-for graph, so the requester was not queued.
    Deadlock {
        /// The requesters around the cycle in wait order: the asker first, then the holder it
        /// asked for, each waiting for the next, the last waiting for the asker.
        cycle: Vec<String>,
    },
}

/// Why a `lock_release` failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum LockReleaseError {
    /// No one holds or awaits a lock of that name.
    UnknownLock,
    /// The lock exists but the requester neither holds it nor waits for it.
    NotHolderOrWaiter,
}

impl fmt::Display for LockReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockReleaseError::UnknownLock => "unknown lock",
            LockReleaseError::NotHolderOrWaiter => "requester neither holds nor awaits the lock",
        })
    }
}

impl core::error::Error for LockReleaseError {}

/// What a successful `lock_release` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Released {
    /// The holder let go of the lock.
    Released {
        /// The waiter that now holds the lock, or `None` if no one was waiting and the lock is
        /// gone.
        next_holder: Option<String>,
        /// Waiters the hand-over took out of the queue, each because waiting for the new
        /// holder would close a cycle.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        refused: Vec<Refusal>,
    },
    /// A waiter gave up its place in the queue; the holder is unchanged.
    LeftQueue,
}

/// A waiter taken out of a queue by a hand-over: waiting for the new holder would deadlock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The waiter.
    pub requester: String,
    /// The cycle its wait would close, in [`LockGetOutcome::Deadlock`]'s order (it first).
    pub cycle: Vec<String>,
}

/// What became of one lock whose holder went away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    /// The lock.
    pub name: String,
    /// Who holds it now; `None` when no one waited and the lock is gone.
    pub next_holder: Option<String>,
    /// Waiters taken out of its queue because waiting for the new holder would deadlock.
    pub refused: Vec<Refusal>,
}

/// One lock's state. There is no holder-less state: a lock without a holder has no waiters
/// either and is removed from the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Lock {
    holder: String,
    /// Waiters, first come first served; the holder is never among them.
    waiters: VecDeque<String>,
    /// The request that granted or queued the holder or a waiter, for those that came with a
    /// session.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    requests: Vec<(String, Request)>,
}

/// The view leader's locks, keyed by name.
///
/// Iteration is in name order (a `BTreeMap`), so inspectors, hand-over lists and the cycle a
/// deadlock reports are the same on every run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockTable {
    locks: BTreeMap<String, Lock>,
}

/// A lock request of one process: its session (the client's random id; 0 when unknown, as
/// from the course's clients, which are not told apart) and the request's op, which grows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Request {
    /// The process.
    pub session: u64,
    /// The request.
    pub op: u64,
}

impl Request {
    /// Whether it came without a session (for serde: such a request is left out).
    pub fn is_unset(&self) -> bool {
        self.session == 0
    }
}

impl LockTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// `requester` asks for lock `name`: grant it if free or already held by `requester`,
    /// refuse it if waiting would deadlock, otherwise queue `requester` once.
    pub fn get(&mut self, name: &str, requester: &str) -> LockGetOutcome {
        let Some(lock) = self.locks.get(name) else {
            self.locks
                .insert(name.into(), Lock { holder: requester.into(), waiters: VecDeque::new(), requests: Vec::new() });
            return LockGetOutcome::Granted;
        };
        if lock.holder == requester {
            return LockGetOutcome::Granted;
        }
        if let Some(index) = lock.waiters.iter().position(|w| w == requester) {
            // Already waiting, so the wait-for edge exists and was checked when it was added.
            return LockGetOutcome::Queued { position: index + 1 };
        }
        if let Some(path) = self.wait_path(&lock.holder, requester) {
            let cycle = core::iter::once(requester).chain(path).map(String::from).collect();
            return LockGetOutcome::Deadlock { cycle };
        }
        let waiters = &mut self.locks.get_mut(name).expect("lock looked up above").waiters;
        waiters.push_back(requester.into());
        LockGetOutcome::Queued { position: waiters.len() }
    }

    /// `requester` lets go of lock `name`: as holder it hands the lock to the head of the queue,
    /// as a waiter it leaves the queue.
    pub fn release(&mut self, name: &str, requester: &str) -> Result<Released, LockReleaseError> {
        let lock = self.locks.get_mut(name).ok_or(LockReleaseError::UnknownLock)?;
        if lock.holder == requester {
            let Handover { next_holder, refused, .. } = self.hand_over(name);
            self.forget(name, requester);
            return Ok(Released::Released { next_holder, refused });
        }
        let index = lock.waiters.iter().position(|w| w == requester).ok_or(LockReleaseError::NotHolderOrWaiter)?;
        lock.waiters.remove(index);
        self.forget(name, requester);
        Ok(Released::LeftQueue)
    }

    /// Remembers that `request` of `requester` was granted lock `name` or queued for it.
    pub fn note_request(&mut self, name: &str, requester: &str, request: Request) {
        let Some(lock) = self.locks.get_mut(name).filter(|_| request.session != 0) else { return };
        lock.requests.retain(|(r, _)| r != requester);
        lock.requests.push((String::from(requester), request));
    }

    /// The request that holds or queues `requester` for `name`, if it came with a session.
    pub fn request_of(&self, name: &str, requester: &str) -> Option<Request> {
        let lock = self.locks.get(name)?;
        lock.requests.iter().find(|(r, _)| r == requester).map(|(_, request)| *request)
    }

    /// Whether a release of `name` by `requester` is stale: its process sent it before the
    /// request that holds or queues `requester` now.
    pub fn stale_release(&self, name: &str, requester: &str, release: Request) -> bool {
        let later = self.request_of(name, requester);
        release.session != 0 && later.is_some_and(|r| r.session == release.session && r.op > release.op)
    }

    /// Forgets the request that held or queued `requester` for `name`: it left.
    fn forget(&mut self, name: &str, requester: &str) {
        if let Some(lock) = self.locks.get_mut(name) {
            lock.requests.retain(|(r, _)| r != requester);
        }
    }

    /// Drops every hold and queue place of `requester` (used when a server fails). Returns the
    /// hand-overs that happened, in lock-name order.
    pub fn remove_requester(&mut self, requester: &str) -> Vec<Handover> {
        let mut held = Vec::new();
        for (name, lock) in &mut self.locks {
            lock.waiters.retain(|w| w != requester);
            if lock.holder == requester {
                held.push(name.clone());
            }
        }
        for lock in self.locks.values_mut() {
            lock.requests.retain(|(r, _)| r != requester);
        }
        held.iter().map(|name| self.hand_over(name)).collect()
    }

    /// How many locks are held.
    pub fn len(&self) -> usize {
        self.locks.len()
    }

    /// Whether no lock is held.
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }

    /// How many requesters wait, in all queues together.
    pub fn waiting(&self) -> usize {
        self.locks.values().map(|lock| lock.waiters.len()).sum()
    }

    /// Who holds lock `name`, if anyone.
    pub fn holder(&self, name: &str) -> Option<&str> {
        self.locks.get(name).map(|lock| lock.holder.as_str())
    }

    /// The waiters for lock `name` in FIFO order (empty for an unknown lock).
    pub fn queue(&self, name: &str) -> impl Iterator<Item = &str> {
        self.locks.get(name).into_iter().flat_map(|lock| lock.waiters.iter().map(String::as_str))
    }

    /// Every lock as (name, holder, waiters in FIFO order), sorted by name — for inspectors.
    pub fn locks(&self) -> impl Iterator<Item = (&str, Option<&str>, Vec<&str>)> {
        self.locks.iter().map(|(name, lock)| {
            (name.as_str(), Some(lock.holder.as_str()), lock.waiters.iter().map(String::as_str).collect())
        })
    }

    /// Gives lock `name` to the head of its queue, or removes it when no one waits, so that an
    /// entry never lingers without a holder. The other waiters now wait for the new holder:
    /// those it waits for, directly or not, would close a cycle and are refused.
    fn hand_over(&mut self, name: &str) -> Handover {
        let mut handover = Handover { name: name.into(), next_holder: None, refused: Vec::new() };
        let Some(lock) = self.locks.get_mut(name) else { return handover };
        let Some(next) = lock.waiters.pop_front() else {
            self.locks.remove(name);
            return handover;
        };
        lock.holder.clone_from(&next);
        let waiters: Vec<&str> = self.queue(name).collect();
        // One search finds every waiter the new holder waits for; taking one out of the queue
        // takes only its edge to the new holder, which no path from the new holder needs.
        let closing: Vec<(String, Vec<String>)> = self
            .wait_paths(&next, &waiters)
            .into_iter()
            .map(|(waiter, path)| (String::from(waiter), path.into_iter().map(String::from).collect()))
            .collect();
        let waiters = &mut self.locks.get_mut(name).expect("the lock was handed over, not removed").waiters;
        for (requester, _) in &closing {
            waiters.retain(|w| w != requester);
        }
        for (requester, path) in closing {
            self.forget(name, &requester);
            let cycle = core::iter::once(requester.clone()).chain(path).collect();
            handover.refused.push(Refusal { requester, cycle });
        }
        handover.next_holder = Some(next);
        handover
    }

    /// A wait-for path from `from` to `to`: `[from, ..., last]` where each waits for the next and
    /// `last` waits for `to`. `None` if `to` is unreachable.
    fn wait_path<'a>(&'a self, from: &'a str, to: &str) -> Option<Vec<&'a str>> {
        self.wait_paths(from, &[to]).into_values().next()
    }

    /// [`wait_path`](Self::wait_path) to each of `targets` that `from` reaches, found in one
    /// search, keyed by target.
    ///
    /// The graph (waiter → holder, one edge per queue place) is rebuilt per call, which costs
    /// O((locks + waiters) · log) and keeps the table free of a second structure to keep in sync.
    /// The search is an iterative DFS in name order, so the paths found are deterministic and
    /// deep chains cannot overflow the stack. A target is searched through like any requester
    /// once reached, so each path is the one a search for that target alone would find.
    fn wait_paths<'a>(&'a self, from: &'a str, targets: &[&str]) -> BTreeMap<&'a str, Vec<&'a str>> {
        let mut waits_for: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for lock in self.locks.values() {
            for waiter in &lock.waiters {
                waits_for.entry(waiter.as_str()).or_default().insert(lock.holder.as_str());
            }
        }
        let successors = |node: &str| waits_for.get(node).into_iter().flatten().copied();

        // A set, so that checking each edge against many targets stays O(log targets).
        let wanted: BTreeSet<&str> = targets.iter().copied().collect();
        let mut found = BTreeMap::new();
        let mut path = alloc::vec![from];
        let mut visited = BTreeSet::from([from]);
        let mut stack = alloc::vec![successors(from)];
        while let Some(next) = stack.last_mut() {
            match next.next() {
                Some(node) => {
                    if wanted.contains(node) && !found.contains_key(node) {
                        found.insert(node, path.clone());
                        if found.len() == wanted.len() {
                            break;
                        }
                    }
                    if visited.insert(node) {
                        path.push(node);
                        stack.push(successors(node));
                    }
                }
                None => {
                    stack.pop();
                    path.pop();
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn queued(position: usize) -> LockGetOutcome {
        LockGetOutcome::Queued { position }
    }

    fn deadlock(cycle: &[&str]) -> LockGetOutcome {
        LockGetOutcome::Deadlock { cycle: cycle.iter().map(|s| String::from(*s)).collect() }
    }

    fn released(next_holder: Option<&str>) -> Result<Released, LockReleaseError> {
        Ok(Released::Released { next_holder: next_holder.map(String::from), refused: vec![] })
    }

    fn handover(name: &str, next_holder: Option<&str>) -> Handover {
        Handover { name: name.into(), next_holder: next_holder.map(String::from), refused: vec![] }
    }

    fn json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    fn queue<'a>(table: &'a LockTable, name: &str) -> Vec<&'a str> {
        table.queue(name).collect()
    }

    #[test]
    fn course_walkthrough() {
        let mut t = LockTable::new();
        assert_eq!(t.get("acct", "atm1"), LockGetOutcome::Granted);
        assert_eq!(t.get("acct", "atm2"), queued(1));
        assert_eq!(t.get("acct", "atm2"), queued(1));
        assert_eq!(queue(&t, "acct"), vec!["atm2"]);
        assert_eq!(t.get("acct", "atm1"), LockGetOutcome::Granted);
        assert_eq!(t.release("acct", "atm1"), released(Some("atm2")));
        assert_eq!(t.holder("acct"), Some("atm2"));
        assert_eq!(queue(&t, "acct"), Vec::<&str>::new());
        assert_eq!(t.get("acct", "atm2"), LockGetOutcome::Granted);
        assert_eq!(t.release("nosuch", "atm1"), Err(LockReleaseError::UnknownLock));
        assert_eq!(t.release("acct", "stranger"), Err(LockReleaseError::NotHolderOrWaiter));
        assert_eq!(t.get("acct", "atm3"), queued(1));
        assert_eq!(t.get("acct", "atm4"), queued(2));
        assert_eq!(t.get("acct", "atm5"), queued(3));
        assert_eq!(t.release("acct", "atm4"), Ok(Released::LeftQueue));
        assert_eq!(queue(&t, "acct"), vec!["atm3", "atm5"]);
        assert_eq!(t.get("acct", "atm5"), queued(2));
        assert_eq!(t.holder("acct"), Some("atm2"));
    }

    #[test]
    fn two_party_deadlock_is_refused_and_not_queued() {
        let mut t = LockTable::new();
        assert_eq!(t.get("x", "a"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "b"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "a"), queued(1));
        assert_eq!(t.get("x", "b"), deadlock(&["b", "a"]));
        assert_eq!(queue(&t, "x"), Vec::<&str>::new());
        // Refused, not remembered: asking again gives the same answer.
        assert_eq!(t.get("x", "b"), deadlock(&["b", "a"]));
        assert_eq!(t.release("x", "b"), Err(LockReleaseError::NotHolderOrWaiter));
    }

    #[test]
    fn three_party_cycle() {
        let mut t = LockTable::new();
        assert_eq!(t.get("x", "a"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "b"), LockGetOutcome::Granted);
        assert_eq!(t.get("z", "c"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "a"), queued(1));
        assert_eq!(t.get("z", "b"), queued(1));
        assert_eq!(t.get("x", "c"), deadlock(&["c", "a", "b"]));
        assert_eq!(queue(&t, "x"), Vec::<&str>::new());
    }

    #[test]
    fn chain_is_not_a_deadlock() {
        let mut t = LockTable::new();
        assert_eq!(t.get("x", "a"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "b"), LockGetOutcome::Granted);
        assert_eq!(t.get("z", "c"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "a"), queued(1));
        assert_eq!(t.get("z", "b"), queued(1));
        // d waits at the end of a -> b -> c; nothing waits for d.
        assert_eq!(t.get("x", "d"), queued(1));
        // a may wait on a second lock; c waits for no one, so no cycle.
        assert_eq!(t.get("z", "a"), queued(2));
        assert_eq!(
            t.locks().collect::<Vec<_>>(),
            vec![("x", Some("a"), vec!["d"]), ("y", Some("b"), vec!["a"]), ("z", Some("c"), vec!["b", "a"]),]
        );
    }

    #[test]
    fn cycle_search_takes_name_order_and_backtracks() {
        let mut t = LockTable::new();
        assert_eq!(t.get("x", "a"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "b"), LockGetOutcome::Granted);
        assert_eq!(t.get("z", "c"), LockGetOutcome::Granted);
        assert_eq!(t.get("w", "d"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "a"), queued(1));
        assert_eq!(t.get("z", "a"), queued(1));
        assert_eq!(t.get("w", "c"), queued(1));
        // From a the search tries b first (a dead end), then finds a -> c -> d.
        assert_eq!(t.get("x", "d"), deadlock(&["d", "a", "c"]));
        // With two ways round, the path through the smaller name wins.
        assert_eq!(t.get("w", "b"), queued(2));
        assert_eq!(t.get("x", "d"), deadlock(&["d", "a", "b"]));
    }

    #[test]
    fn queued_requester_that_was_handed_the_lock_is_granted() {
        let mut t = LockTable::new();
        assert_eq!(t.get("x", "a"), LockGetOutcome::Granted);
        assert_eq!(t.get("x", "b"), queued(1));
        assert_eq!(t.get("x", "c"), queued(2));
        assert_eq!(t.release("x", "a"), released(Some("b")));
        assert_eq!(t.get("x", "c"), queued(1));
        assert_eq!(t.get("x", "b"), LockGetOutcome::Granted);
        assert_eq!(t.release("x", "b"), released(Some("c")));
        assert_eq!(t.get("x", "c"), LockGetOutcome::Granted);
    }

    #[test]
    fn remove_requester_hands_over_and_drops_queue_places() {
        let mut t = LockTable::new();
        assert_eq!(t.get("x", "a"), LockGetOutcome::Granted);
        assert_eq!(t.get("x", "b"), queued(1));
        assert_eq!(t.get("x", "c"), queued(2));
        assert_eq!(t.get("y", "d"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "c"), queued(1));
        assert_eq!(t.get("y", "a"), queued(2));
        assert_eq!(t.get("z", "a"), LockGetOutcome::Granted);
        assert_eq!(t.remove_requester("a"), vec![handover("x", Some("b")), handover("z", None)]);
        assert_eq!(t.locks().collect::<Vec<_>>(), vec![("x", Some("b"), vec!["c"]), ("y", Some("d"), vec!["c"])]);
        assert_eq!(t.release("z", "a"), Err(LockReleaseError::UnknownLock));
        assert_eq!(t.remove_requester("nobody"), vec![]);
    }

    #[test]
    fn empty_locks_are_removed() {
        let mut t = LockTable::new();
        assert_eq!(t.get("x", "a"), LockGetOutcome::Granted);
        assert_eq!(t.release("x", "a"), released(None));
        assert_eq!(t.holder("x"), None);
        assert_eq!(t.locks().count(), 0);
        assert_eq!(t.release("x", "a"), Err(LockReleaseError::UnknownLock));

        assert_eq!(t.get("y", "a"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "b"), queued(1));
        assert_eq!(t.release("y", "b"), Ok(Released::LeftQueue));
        assert_eq!(t.release("y", "a"), released(None));
        assert_eq!(t.locks().count(), 0);
        assert_eq!(t.get("y", "b"), LockGetOutcome::Granted);
    }

    /// Found by fuzzing: a waiter of two locks handed one of them makes the other waiters of it
    /// wait for it, which can close a cycle no `lock_get` checked.
    #[test]
    fn a_hand_over_that_would_close_a_cycle_refuses_the_waiter_it_closes() {
        let mut t = LockTable::new();
        assert_eq!(t.get("x", "h"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "b"), LockGetOutcome::Granted);
        assert_eq!(t.get("z", "c"), LockGetOutcome::Granted);
        assert_eq!(t.get("x", "a"), queued(1));
        assert_eq!(t.get("x", "c"), queued(2));
        assert_eq!(t.get("y", "a"), queued(1));
        assert_eq!(t.get("z", "b"), queued(1));
        // h lets go: a holds x, so c would wait for a, a for b and b for c.
        let refusal = Refusal { requester: "c".into(), cycle: vec!["c".into(), "a".into(), "b".into()] };
        assert_eq!(
            t.release("x", "h"),
            Ok(Released::Released { next_holder: Some("a".into()), refused: vec![refusal.clone()] })
        );
        assert_eq!(queue(&t, "x"), Vec::<&str>::new());
        // Asking again, c hears the same cycle and is not queued.
        assert_eq!(t.get("x", "c"), deadlock(&["c", "a", "b"]));
        // The same when the holder fails instead of letting go.
        let mut t = LockTable::new();
        for (name, who) in [("x", "h"), ("y", "b"), ("z", "c")] {
            assert_eq!(t.get(name, who), LockGetOutcome::Granted);
        }
        for (name, who) in [("x", "a"), ("x", "c"), ("y", "a"), ("z", "b")] {
            assert!(matches!(t.get(name, who), LockGetOutcome::Queued { .. }));
        }
        let mut expected = handover("x", Some("a"));
        expected.refused.push(refusal);
        assert_eq!(t.remove_requester("h"), vec![expected]);
    }

    #[test]
    fn a_hand_over_keeps_waiters_whose_wait_closes_no_cycle() {
        let mut t = LockTable::new();
        assert_eq!(t.get("x", "h"), LockGetOutcome::Granted);
        assert_eq!(t.get("y", "b"), LockGetOutcome::Granted);
        assert_eq!(t.get("x", "a"), queued(1));
        assert_eq!(t.get("x", "c"), queued(2));
        assert_eq!(t.get("y", "a"), queued(1));
        assert_eq!(t.release("x", "h"), released(Some("a")));
        assert_eq!(queue(&t, "x"), vec!["c"]);
    }

    #[test]
    fn outcomes_serialize_with_a_tag() {
        assert_eq!(json(&LockGetOutcome::Granted), r#"{"status":"granted"}"#);
        assert_eq!(json(&queued(2)), r#"{"status":"queued","position":2}"#);
        assert_eq!(json(&deadlock(&["b", "a"])), r#"{"status":"deadlock","cycle":["b","a"]}"#);
        assert_eq!(json(&LockReleaseError::NotHolderOrWaiter), r#"{"error":"not_holder_or_waiter"}"#);
        assert_eq!(
            json(&Released::Released { next_holder: Some("atm2".into()), refused: vec![] }),
            r#"{"status":"released","next_holder":"atm2"}"#
        );
        assert_eq!(json(&Released::LeftQueue), r#"{"status":"left_queue"}"#);
        let back: LockGetOutcome = serde_json::from_str(r#"{"status":"queued","position":2}"#).unwrap();
        assert_eq!(back, queued(2));
    }
}
