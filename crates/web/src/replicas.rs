//! A replicated view leader as the page shows it: who leads, in a line for the ring's centre,
//! and one replica's Raft state — role, term, vote, its log with the commit point — for the
//! inspector, from a simulated replica or from the `replica` records a real one streams.

use std::fmt::Write as _;

use ringside_core::locks::Request;
use ringside_core::replication::{Role, Term};
use ringside_core::view_leader::{ReplicaState, ShownEntry, ViewCommand};
use ringside_core::{Addr, Epoch, Member, Names, ServerId, ViewLeader};
use ringside_sim::Sim;
use serde_json::Value;

use crate::html::esc;

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

/// One simulated replica's Raft state, or nothing for a lone view leader.
pub fn inspect(vl: &ViewLeader, sim: &Sim, names: &Names) -> String {
    vl.replica_state(sim.now()).map_or_else(String::new, |state| state_card(&state, names))
}

/// A replica's Raft state, simulated or streamed by a real replica: role, term, vote, leader,
/// and its newest log entries with the commit point.
pub fn state_card(r: &ReplicaState, names: &Names) -> String {
    let name = |a: &Addr| names.addr(a).to_string();
    let mut h = String::new();
    let role = if r.serving { "leader, serving" } else { r.role.name() };
    let _ = write!(
        h,
        "<p>replica <b>{}</b> of {} · <b>{role}</b> · term <b>{}</b> · voted for {} · leader {}</p>",
        r.me + 1,
        r.replicas,
        r.term.0,
        esc(&r.vote.as_ref().map_or("nobody".to_string(), name)),
        esc(&r.leader.as_ref().map_or("unknown".to_string(), name)),
    );
    let _ = write!(
        h,
        "<p class=\"hint\">A leader needs the votes of a majority ({} of {}); a change counts only once a \
         majority has it in its log (committed), and a leader serves only while a majority has answered it \
         within the election timeout, so two never serve at once.</p>",
        r.majority(),
        r.replicas
    );
    let _ = write!(
        h,
        "<h3>Log</h3><p>{} entries · committed through <b>{}</b>{}</p>",
        r.last,
        r.commit,
        if r.snapshot > 0 { format!(" · entries to {} are in a snapshot", r.snapshot) } else { String::new() }
    );
    h.push_str("<table><tr><th>index</th><th>term</th><th>command</th><th></th></tr>");
    for e in r.entries.iter().rev() {
        let what = e.cmd.as_ref().map_or("a new leader's first entry".to_string(), |c| command(c, names));
        let mark = if r.committed(e.index) { "committed" } else { "<b>not yet committed</b>" };
        let _ = write!(h, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{mark}</td></tr>", e.index, e.term.0, esc(&what));
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
        ViewCommand::LockGet { name, requester, .. } => format!("{requester} asks for lock {name}"),
        ViewCommand::LockRelease { name, requester, .. } => format!("{requester} releases lock {name}"),
    }
}

/// A real replica's `replica` record's state, read field by field (see `records`: the page's
/// wasm holds no serde decoder of its own for it); `None` if it is not one.
pub fn state_of(v: &Value) -> Option<ReplicaState> {
    let role = match v["role"].as_str()? {
        "leader" => Role::Leader,
        "candidate" => Role::Candidate,
        "follower" => Role::Follower,
        _ => return None,
    };
    let mut entries = Vec::new();
    for e in v["entries"].as_array()? {
        let cmd = if e["cmd"].is_null() { None } else { Some(command_of(&e["cmd"])?) };
        entries.push(ShownEntry { index: e["index"].as_u64()?, term: Term(e["term"].as_u64()?), cmd });
    }
    Some(ReplicaState {
        role,
        serving: v["serving"].as_bool()?,
        term: Term(v["term"].as_u64()?),
        vote: addr(&v["vote"]),
        leader: addr(&v["leader"]),
        me: usize::try_from(v["me"].as_u64()?).ok()?,
        replicas: usize::try_from(v["replicas"].as_u64()?).ok()?,
        commit: v["commit"].as_u64()?,
        last: v["last"].as_u64()?,
        snapshot: v["snapshot"].as_u64()?,
        entries,
    })
}

fn command_of(v: &Value) -> Option<ViewCommand> {
    let id = || v["id"].as_str().map(ServerId::from);
    let text = |name: &str| v[name].as_str().map(String::from);
    Some(match v["do"].as_str()? {
        "join" => ViewCommand::Join { id: id()?, addr: addr(&v["addr"])? },
        "rebalanced" => ViewCommand::Rebalanced { id: id()?, epoch: Epoch(v["epoch"].as_u64()?) },
        "fail" => ViewCommand::Fail { id: id()? },
        "recover" => {
            let mut heard = Vec::new();
            for m in v["heard"].as_array()? {
                heard.push(Member { id: ServerId::from(m["id"].as_str()?), addr: addr(&m["addr"])? });
            }
            ViewCommand::Recover { heard, newest: Epoch(v["newest"].as_u64()?) }
        }
        // Which request it was matters to the lock table, not to the card.
        "lock_get" => {
            ViewCommand::LockGet { name: text("name")?, requester: text("requester")?, request: Request::default() }
        }
        "lock_release" => {
            ViewCommand::LockRelease { name: text("name")?, requester: text("requester")?, request: Request::default() }
        }
        _ => return None,
    })
}

fn addr(v: &Value) -> Option<Addr> {
    v.as_str().map(Addr::from)
}

#[cfg(test)]
mod tests {
    use ringside_core::locks::Request;
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
    fn a_replicas_state_is_built_again_only_once_it_changed() {
        let app = lesson_after(8, 2);
        let now = app.sim.now();
        for (_, vl) in app.sim.view_leaders() {
            let shown = vl.replica_state(now).expect("a replica");
            assert_eq!(vl.replica_state_since(now, Some(&shown)), None, "unchanged");
            assert_eq!(vl.replica_state_since(now, None).as_ref(), Some(&shown), "nothing shown yet");
            let mut older = shown.clone();
            older.commit -= 1;
            assert_eq!(vl.replica_state_since(now, Some(&older)).as_ref(), Some(&shown), "the commit point moved");
            let mut older = shown.clone();
            older.entries.last_mut().expect("entries").term.0 -= 1;
            assert_eq!(vl.replica_state_since(now, Some(&older)).as_ref(), Some(&shown), "an entry was replaced");
        }
    }

    #[test]
    fn a_real_replicas_state_reads_back_as_its_node_wrote_it() {
        use ringside_core::replication::{Role, Term};
        use ringside_core::view_leader::{ReplicaState, ShownEntry, ViewCommand};
        use ringside_core::{Epoch, Member, ServerId};
        let commands = [
            None,
            Some(ViewCommand::Join { id: ServerId::from("ab12cd34"), addr: Addr::from("127.0.0.1:38000") }),
            Some(ViewCommand::Rebalanced { id: ServerId::from("ab12cd34"), epoch: Epoch(1) }),
            Some(ViewCommand::Fail { id: ServerId::from("ab12cd34") }),
            Some(ViewCommand::Recover {
                heard: vec![Member { id: ServerId::from("ef56"), addr: Addr::from("127.0.0.1:38001") }],
                newest: Epoch(7),
            }),
            Some(ViewCommand::LockGet { name: "x".into(), requester: "c1".into(), request: Request::default() }),
            Some(ViewCommand::LockRelease { name: "x".into(), requester: "c1".into(), request: Request::default() }),
        ];
        let entries =
            commands.into_iter().zip(1..).map(|(cmd, index)| ShownEntry { index, term: Term(2), cmd }).collect();
        let state = ReplicaState {
            role: Role::Candidate,
            serving: false,
            term: Term(3),
            vote: Some(Addr::from("127.0.0.1:39001")),
            leader: None,
            me: 1,
            replicas: 3,
            commit: 5,
            last: 7,
            snapshot: 0,
            entries,
        };
        let written = serde_json::to_value(&state).unwrap();
        assert_eq!(super::state_of(&written), Some(state));
        let mut bad = written;
        bad["entries"][1]["cmd"]["do"] = "explode".into();
        assert_eq!(super::state_of(&bad), None);
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
