//! The view from the view leader, cached by epoch, and where a key lives in it.
//!
//! While the view leader reports rebalancing, a key whose replicas differ between the stable
//! view and the current one is *moving*: its copies travel from the stable replicas to the new
//! ones. It stays writable and readable all the while. A write goes to both sets — the current
//! replicas and the stable replicas still alive — so every live stable replica keeps the newest
//! committed value, and the copy it sends is never older than what a later view needs. A read
//! asks both sets and takes the newest answer; only a stable replica's answer proves that
//! nothing newer exists, since a new replica may not have its copy yet.

use alloc::vec::Vec;

use crate::id::{Epoch, Member, ServerId};
use crate::ring::Ring;

/// The view from the view leader, with its ring, and the stable view's ring while rebalancing.
#[derive(Clone, Debug)]
pub(crate) struct CachedView {
    pub(crate) epoch: Epoch,
    pub(crate) members: Vec<Member>,
    ring: Ring,
    /// The stable view's ring while rebalancing (its live members are among `members`).
    stable: Option<Ring>,
}

/// How new a view is: its epoch, then whether it is settled — the view leader's view at an
/// epoch is rebalancing first, then stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ViewAge {
    pub(crate) epoch: Epoch,
    pub(crate) settled: bool,
}

/// Where a key lives in the cached view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Who a write or read goes to: the current replicas, primary first, then the live stable
    /// replicas that are not among them.
    pub(crate) members: Vec<Member>,
    /// Whose answers show the newest committed value for certain: every replica of a key at
    /// rest; the live stable replicas of a moving key (none when every one of them is gone).
    pub(crate) settled: Vec<ServerId>,
    /// Whether the key is moving.
    pub(crate) moving: bool,
}

impl CachedView {
    /// The view at `epoch` of `members`, with `stable`'s members while it is rebalancing.
    pub(crate) fn new(epoch: Epoch, members: &[Member], rebalancing: bool, stable: &[Member], vnodes: u32) -> Self {
        let ring = Ring::new(members.iter().map(|m| &m.id), vnodes);
        // An empty stable view holds nothing: no key has stable replicas to keep in step.
        let stable = (rebalancing && !stable.is_empty()).then(|| Ring::new(stable.iter().map(|m| &m.id), vnodes));
        CachedView { epoch, members: members.to_vec(), ring, stable }
    }

    /// How new it is.
    pub(crate) fn age(&self) -> ViewAge {
        ViewAge { epoch: self.epoch, settled: self.stable.is_none() }
    }

    fn member(&self, id: &ServerId) -> Option<&Member> {
        self.members.iter().find(|m| &m.id == id)
    }

    /// `key`'s current replicas, primary first.
    pub(crate) fn replicas(&self, key: &str, r: usize) -> Vec<&ServerId> {
        self.ring.replicas(key, r)
    }

    /// Where `key` lives, with `r` replicas.
    pub(crate) fn placement(&self, key: &str, r: usize) -> Placement {
        let current: Vec<Member> =
            self.replicas(key, r).into_iter().filter_map(|id| self.member(id).cloned()).collect();
        let ids = |members: &[Member]| members.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
        let old = self.stable.as_ref().map_or_else(Vec::new, |ring| ring.replicas(key, r));
        let moving = !old.is_empty() && (old.len() != current.len() || current.iter().any(|m| !old.contains(&&m.id)));
        if !moving {
            return Placement { settled: ids(&current), members: current, moving };
        }
        let live_old: Vec<Member> = old.into_iter().filter_map(|id| self.member(id).cloned()).collect();
        let settled = ids(&live_old);
        let mut members = current;
        for m in live_old {
            if !members.contains(&m) {
                members.push(m);
            }
        }
        Placement { members, settled, moving }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Addr;

    fn members(ids: &[&str]) -> Vec<Member> {
        ids.iter().map(|id| Member { id: ServerId::from(*id), addr: Addr(alloc::format!("@{id}")) }).collect()
    }

    fn ids(members: &[Member]) -> Vec<&str> {
        members.iter().map(|m| m.id.as_str()).collect()
    }

    /// A key whose three replicas among a..d leave out exactly one of them.
    fn key_leaving_out(view: &CachedView, out: &str) -> alloc::string::String {
        (0..1_000)
            .map(|n| alloc::format!("k{n}"))
            .find(|k| view.replicas(k, 3).iter().all(|s| s.as_str() != out))
            .unwrap()
    }

    #[test]
    fn a_key_at_rest_lives_on_its_replicas() {
        let view = CachedView::new(Epoch(2), &members(&["a", "b", "c"]), false, &[], 1);
        let p = view.placement("k", 3);
        assert!(!p.moving);
        assert_eq!(ids(&p.members).len(), 3);
        assert_eq!(p.settled.len(), 3);
    }

    #[test]
    fn a_moving_key_is_written_on_both_sets_and_settled_by_the_stable_one() {
        // d joined: a key it now replicates moves off one of a, b, c.
        let old = members(&["a", "b", "c"]);
        let view = CachedView::new(Epoch(3), &members(&["a", "b", "c", "d"]), true, &old, 1);
        let settled_view = CachedView::new(Epoch(3), &members(&["a", "b", "c", "d"]), false, &[], 1);
        let key = (0..1_000)
            .map(|n| alloc::format!("k{n}"))
            .find(|k| settled_view.replicas(k, 3).iter().any(|s| s.as_str() == "d"))
            .unwrap();
        let p = view.placement(&key, 3);
        assert!(p.moving);
        assert_eq!(p.members.len(), 4, "three new replicas and the stable one leaving");
        assert_eq!(ids(&p.members[..3]), settled_view.replicas(&key, 3).iter().map(|s| s.as_str()).collect::<Vec<_>>());
        let mut settled: Vec<&str> = p.settled.iter().map(ServerId::as_str).collect();
        settled.sort_unstable();
        assert_eq!(settled, ["a", "b", "c"]);
        // A key d does not replicate does not move.
        let still = key_leaving_out(&settled_view, "d");
        assert!(!view.placement(&still, 3).moving);
    }

    #[test]
    fn a_moving_key_whose_stable_replicas_all_died_has_nobody_settled() {
        // a, b, c failed and d, e, f joined before the view settled.
        let view = CachedView::new(Epoch(8), &members(&["d", "e", "f"]), true, &members(&["a", "b", "c"]), 1);
        let p = view.placement("k", 3);
        assert!(p.moving);
        assert_eq!(ids(&p.members).len(), 3);
        assert!(p.settled.is_empty());
    }

    #[test]
    fn an_empty_stable_view_moves_nothing() {
        let view = CachedView::new(Epoch(1), &members(&["a"]), true, &[], 1);
        let p = view.placement("k", 3);
        assert!(!p.moving);
        assert_eq!(p.settled, [ServerId::from("a")]);
    }
}
