//! A replicated view leader as the page shows it: who leads, in a line for the ring's centre,
//! and one replica's Raft state — role, term, vote, its log with the commit point — for the
//! inspector.

use std::fmt::Write as _;

use ringside_core::view_leader::ViewCommand;
use ringside_core::{Addr, Names, ViewLeader};
use ringside_sim::Sim;

use crate::html::esc;

/// Log entries the inspector lists, the newest.
const ENTRIES_SHOWN: usize = 8;

/// Who leads the replicas, for the ring's centre; `None` for a lone view leader.
pub fn leadership(sim: &Sim) -> Option<String> {
    let addrs = sim.view_leader_addrs();
    if addrs.len() < 2 {
        return None;
    }
    let now = sim.now();
    let live: Vec<_> = sim.view_leaders().collect();
    let serving = live.iter().find(|(_, vl)| vl.replica().is_some_and(|r| r.serving_at(now)));
    let elected = live.iter().find(|(_, vl)| vl.leads());
    Some(match (serving, elected) {
        (Some((a, vl)), _) => leads(a, term(vl)),
        (None, Some((a, vl))) => format!("{} elected in term {}: not serving yet", a.0, term(vl)),
        (None, None) if 2 * live.len() > addrs.len() => "no view leader: an election is under way".to_string(),
        (None, None) => format!("{} of {} view leaders up: no majority", live.len(), addrs.len()),
    })
}

/// The ring's line for `name` leading in `term`, simulated or live.
pub fn leads(name: &Addr, term: u64) -> String {
    format!("{} leads · term {term}", name.0)
}

fn term(vl: &ViewLeader) -> u64 {
    vl.replica().map_or(0, |r| r.term().0)
}

/// One replica's Raft state, or nothing for a lone view leader.
pub fn inspect(vl: &ViewLeader, sim: &Sim, names: &Names) -> String {
    let (Some(r), Some(set)) = (vl.replica(), vl.replica_set()) else { return String::new() };
    let place = |i: usize| set.replicas.get(i).map_or("?", |a| a.0.as_str());
    let mut h = String::new();
    let role = if r.serving_at(sim.now()) { "leader, serving" } else { r.role().name() };
    let _ = write!(
        h,
        "<p>replica <b>{}</b> of {} · <b>{role}</b> · term <b>{}</b> · voted for {} · leader {}</p>",
        set.me + 1,
        set.replicas.len(),
        r.term().0,
        r.vote().map_or("nobody", place),
        r.leader().map_or("unknown", place),
    );
    let _ = write!(
        h,
        "<p class=\"hint\">A leader needs the votes of a majority ({} of {}); a change counts only once a \
         majority has it in its log (committed), and a leader serves only while a majority has answered it \
         within the election timeout, so two never serve at once.</p>",
        set.replicas.len() / 2 + 1,
        set.replicas.len()
    );
    let _ = write!(
        h,
        "<h3>Log</h3><p>{} entries · committed through <b>{}</b>{}</p>",
        r.last_index(),
        r.commit(),
        if r.snapshot_index() > 0 {
            format!(" · entries to {} are in a snapshot", r.snapshot_index())
        } else {
            String::new()
        }
    );
    h.push_str("<table><tr><th>index</th><th>term</th><th>command</th><th></th></tr>");
    let entries: Vec<_> = r.entries().collect();
    for (index, e) in entries.iter().rev().take(ENTRIES_SHOWN) {
        let what = e.cmd.as_ref().map_or("a new leader's first entry".to_string(), |c| command(c, names));
        let mark = if *index <= r.commit() { "committed" } else { "<b>not yet committed</b>" };
        let _ = write!(h, "<tr><td>{index}</td><td>{}</td><td>{}</td><td>{mark}</td></tr>", e.term.0, esc(&what));
    }
    h.push_str("</table>");
    h
}

/// A log entry's command in words.
fn command(c: &ViewCommand, names: &Names) -> String {
    match c {
        ViewCommand::Join { addr, .. } => format!("{} joins", names.addr(addr)),
        ViewCommand::Rebalanced { id, epoch } => format!("{} rebalanced epoch {}", names.server(id), epoch.0),
        ViewCommand::Fail { id } => format!("{} failed", names.server(id)),
        ViewCommand::Recover { newest, .. } => format!("recover the view above epoch {}", newest.0),
        ViewCommand::LockGet { name, requester } => format!("{requester} asks for lock {name}"),
        ViewCommand::LockRelease { name, requester } => format!("{requester} releases lock {name}"),
    }
}

#[cfg(test)]
mod tests {
    use ringside_core::Addr;

    use crate::app::Focus;
    use crate::inspector::inspector;
    use crate::testing::lesson_after;

    #[test]
    fn the_centre_names_the_leader_and_the_inspector_its_raft_state() {
        let app = lesson_after(8, 2);
        let line = super::leadership(&app.sim).expect("three replicas");
        let (leader, _) = app.sim.view_leaders().find(|(_, vl)| vl.leads()).expect("a leader");
        assert!(line.starts_with(&format!("{} leads · term ", leader.0)), "{line}");
        let html = inspector(&app, Some(&Focus::Node(leader.clone())));
        assert!(html.contains("<b>leader, serving</b>") && html.contains("committed through"), "{html}");
        assert!(html.contains("c1 asks for lock x</td><td>committed"), "{html}");
        let follower = app.sim.view_leaders().map(|(a, _)| a.clone()).find(|a| a != leader).expect("a follower");
        let html = inspector(&app, Some(&Focus::Node(follower)));
        assert!(html.contains("<b>follower</b>") && html.contains(&format!("leader {}", leader.0)), "{html}");
    }

    #[test]
    fn a_crashed_replica_keeps_its_disk_and_restarts_from_it() {
        let app = lesson_after(8, 3);
        let down = app.sim.nodes().iter().find(|(_, s)| s.role.is_none()).map(|(a, _)| a.clone()).expect("one down");
        let html = inspector(&app, Some(&Focus::Node(down)));
        assert!(html.contains("its disk, with its term, vote and log, is kept"), "{html}");
        assert!(html.contains("data-cmd=\"restart\""), "{html}");
        let lone = lesson_after(7, 1);
        assert_eq!(super::leadership(&lone.sim), None, "a lone view leader needs no line");
        let html = inspector(&lone, Some(&Focus::Node(Addr::from(ringside_sim::VIEW_LEADER))));
        assert!(!html.contains("data-cmd=\"crash\""), "a lone view leader is not crashed: {html}");
    }
}
