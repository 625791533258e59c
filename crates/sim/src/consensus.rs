//! Raft's safety properties across the view leader's replicas, checked after every step: at
//! most one leader per term, at most one leader answering at any moment (leases), every
//! replica commits the same entry at each index (state-machine
//! safety), and a new leader holds every entry committed before it (leader completeness).
//! Log matching is checked by the replication module's own seeded worlds.

use std::collections::BTreeMap;

use ringside_core::replication::{Entry, Index, Role as RaftRole};
use ringside_core::view_leader::ViewCommand;
use ringside_core::{Addr, Time};

use crate::slot::{Role, Slot};

/// What the checks remember between steps.
#[derive(Clone, Debug, Default)]
pub(crate) struct Consensus {
    /// The leader seen in each term.
    leaders: BTreeMap<u64, Addr>,
    /// Every entry some replica knew committed, by index.
    committed: BTreeMap<Index, Entry<ViewCommand>>,
    /// Per replica, the commit index checked up to.
    checked: BTreeMap<Addr, Index>,
    /// Per replica, the term it was last checked as a new leader in.
    led: BTreeMap<Addr, u64>,
}

impl Consensus {
    /// The problems after this step, as (invariant, detail).
    pub(crate) fn after_step(&mut self, now: Time, nodes: &BTreeMap<Addr, Slot>) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let serving: Vec<&Addr> = nodes
            .iter()
            .filter(|(_, s)| matches!(&s.role, Some(Role::ViewLeader(vl)) if vl.replica().is_some_and(|r| r.serving_at(now))))
            .map(|(a, _)| a)
            .collect();
        if serving.len() > 1 {
            let serving: Vec<&str> = serving.iter().map(|a| a.as_str()).collect();
            problems
                .push(("one serving leader", format!("{} all answer from their state at {now}", serving.join(", "))));
        }
        for (addr, slot) in nodes {
            let Some(Role::ViewLeader(vl)) = &slot.role else { continue };
            let Some(raft) = vl.replica() else { continue };
            let term = raft.term().0;
            // A restarted replica knows only what its snapshot covers as committed.
            let from = self.checked.get(addr).copied().unwrap_or(0).min(raft.commit()).max(raft.snapshot_index());
            for index in from + 1..=raft.commit() {
                let Some(entry) = raft.entry(index) else { continue };
                let first = self.committed.entry(index).or_insert_with(|| entry.clone());
                if first != entry {
                    let detail = format!(
                        "{addr} committed an entry of term {} at {index}, another replica one of term {}",
                        entry.term, first.term
                    );
                    problems.push(("state-machine safety", detail));
                }
            }
            self.checked.insert(addr.clone(), raft.commit());
            if raft.role() != RaftRole::Leader {
                continue;
            }
            let first = self.leaders.entry(term).or_insert_with(|| addr.clone());
            if first != addr {
                problems.push(("one leader per term", format!("{first} and {addr} both lead term {term}")));
            }
            if self.led.get(addr) != Some(&term) {
                self.led.insert(addr.clone(), term);
                let lacking = self
                    .committed
                    .range(raft.snapshot_index() + 1..)
                    .find(|(index, entry)| raft.entry(**index) != Some(*entry));
                if let Some((index, entry)) = lacking {
                    let detail =
                        format!("{addr} leads term {term} without committed entry {index} (term {})", entry.term);
                    problems.push(("leader completeness", detail));
                }
            }
        }
        problems
    }
}
