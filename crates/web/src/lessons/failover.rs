//! The replicated view leader: three replicas agree on every change with Raft, so the lock
//! table outlives the leader that granted it, and nothing is decided without a majority.

use ringside_core::replication::Role;
use ringside_core::{Addr, CommitProtocol, ViewLeader};
use ringside_sim::session::client;
use ringside_sim::{Action, Kind, Sim};

use super::{claim, idle, select_node, settle_now, Ask, Lesson, Step};
use crate::app::{App, Focus};

/// The replica that leads and serves now.
fn serving(sim: &Sim) -> Option<(&Addr, &ViewLeader)> {
    let now = sim.now();
    sim.view_leaders().find(|(_, vl)| vl.replica().is_some_and(|r| r.serving_at(now)))
}

fn term(vl: &ViewLeader) -> u64 {
    vl.replica().map_or(0, |r| r.term().0)
}

/// The replicas whose process is down.
fn down(sim: &Sim) -> Vec<Addr> {
    sim.nodes().iter().filter(|(_, s)| s.kind == Kind::ViewLeader && s.role.is_none()).map(|(a, _)| a.clone()).collect()
}

fn holder(sim: &Sim, lock: &str) -> Option<String> {
    serving(sim).and_then(|(_, vl)| vl.locks().holder(lock).map(str::to_string))
}

fn client_idle(sim: &Sim, n: usize) -> bool {
    sim.clients().any(|(a, c)| *a == client(n) && c.idle())
}

/// Replicas whose own lock table says `who` holds `lock`.
fn knowing(sim: &Sim, lock: &str, who: &str) -> usize {
    sim.view_leaders().filter(|(_, vl)| vl.locks().holder(lock) == Some(who)).count()
}

// Who leads is the seed's to decide; these are the replicas each lesson's seed makes the
// leaders (the steps' checks hold whoever it is).
fn first_leader() -> Option<Focus> {
    select_node(Addr::from("vl2"))
}

fn second_leader() -> Option<Focus> {
    select_node(Addr::from("vl1"))
}

/// In lesson 10, the replica left when two crash.
fn survivor() -> Option<Focus> {
    select_node(Addr::from("vl3"))
}

fn crash_the_leader(app: &mut App) {
    if let Some((leader, _)) = serving(&app.sim) {
        let node = leader.clone();
        app.act(Action::Crash { node });
    }
}

fn restart_the_down(app: &mut App, how_many: usize) {
    for node in down(&app.sim).into_iter().take(how_many) {
        app.act(Action::Restart { node });
    }
}

/// Every live replica has the leader's log through its commit point.
fn caught_up(sim: &Sim) -> bool {
    let Some((_, leader)) = serving(sim) else { return false };
    let commit = leader.replica().map_or(0, |r| r.commit());
    sim.view_leaders().all(|(_, vl)| vl.replica().is_some_and(|r| r.commit() == commit))
}

pub(super) static FAILOVER: Lesson = Lesson {
    title: "9 · The view leader fails over",
    about: "Three view-leader replicas keep one log with Raft: kill the leader and the lock table survives.",
    seed: 3,
    servers: 3,
    clients: 2,
    vnodes: 1,
    commit: CommitProtocol::Paxos,
    view_leaders: 3,
    heartbeats: false,
    steps: &[
        Step {
            title: "Three replicas, one leader",
            text: "vl1, vl2 and vl3 each keep a log of every change to the view and the locks. One was \
                   elected leader by a majority; only it answers servers and clients, and the others redirect \
                   them to it. Select a replica to see its role, term, vote and log.",
            ask: None,
            act: settle_now,
            until: |sim| idle(sim) && serving(sim).is_some(),
            check: |app| {
                let leaders = app.sim.view_leaders().filter(|(_, vl)| vl.leads()).count();
                claim(leaders == 1, &format!("exactly one replica leads (found {leaders})"))
            },
            focus: first_leader,
        },
        Step {
            title: "c1 takes lock x",
            text: "The leader appends c1's request to its log and sends it to the others; once a majority has \
                   it, it is committed, and only then is x granted. A change a minority saw may be undone; a \
                   committed one never is.",
            ask: None,
            act: |app| app.act(Action::lock_get(client(1), "x".into())),
            until: |sim| holder(sim, "x").as_deref() == Some("c1") && client_idle(sim, 1) && caught_up(sim),
            check: |app| {
                claim(holder(&app.sim, "x").as_deref() == Some("c1"), "c1 holds x")?;
                claim(knowing(&app.sim, "x", "c1") == 3, "every replica's lock table says c1 holds x")
            },
            focus: first_leader,
        },
        Step {
            title: "Crash the leader",
            text: "The followers stop hearing the leader. After an election timeout (each its own, drawn at \
                   random, so that usually one asks first) a follower becomes a candidate in a higher term and \
                   asks for votes; a replica votes for it only if its log is at least as complete as its own. \
                   With two votes of three it leads, and serves once a majority has heard from it.",
            ask: Some(Ask {
                question: "The leader that granted x crashes. What becomes of c1's lock?",
                choices: &[
                    "It is lost with the leader's memory",
                    "It survives: a majority has it in its log, and only such a replica can be elected",
                    "c1 must ask for it again",
                ],
                answer: 1,
            }),
            act: crash_the_leader,
            until: |sim| !down(sim).is_empty() && serving(sim).is_some() && idle(sim),
            check: |app| {
                let (leader, vl) = serving(&app.sim).ok_or("a replica serves")?;
                claim(!down(&app.sim).contains(leader), "a new replica leads")?;
                claim(term(vl) >= 2, "the new leader's term is higher than the first one's")?;
                claim(holder(&app.sim, "x").as_deref() == Some("c1"), "the new leader knows c1 holds x")
            },
            focus: second_leader,
        },
        Step {
            title: "c2 asks for x",
            text: "The new leader's lock table is the old one's: c2 is queued behind c1, exactly as if nothing \
                   had happened.",
            ask: None,
            act: |app| app.act(Action::lock_get(client(2), "x".into())),
            until: |sim| serving(sim).is_some_and(|(_, vl)| vl.locks().queue("x").any(|w| w == "c2")),
            check: |app| {
                claim(holder(&app.sim, "x").as_deref() == Some("c1"), "c1 still holds x")?;
                claim(!client_idle(&app.sim, 2), "c2 waits for x")
            },
            focus: second_leader,
        },
        Step {
            title: "The old leader comes back",
            text: "It restarts from its disk: its term, vote and log are as it left them. It hears the new \
                   leader in a higher term, becomes a follower and is sent what it missed.",
            ask: None,
            act: |app| restart_the_down(app, 1),
            until: |sim| down(sim).is_empty() && caught_up(sim),
            check: |app| {
                claim(down(&app.sim).is_empty(), "all three replicas run")?;
                claim(knowing(&app.sim, "x", "c1") == 3, "every replica says c1 holds x")
            },
            focus: first_leader,
        },
    ],
    challenge: "Crash the new leader too: with one replica left there is no majority. What happens to c2's \
                request? (The next lesson shows it.)",
};

pub(super) static QUORUM: Lesson = Lesson {
    title: "10 · Quorum lost, quorum back",
    about: "Below a majority of view-leader replicas nothing is decided; one replica back and it all resumes.",
    seed: 5,
    servers: 3,
    clients: 1,
    vnodes: 1,
    commit: CommitProtocol::Paxos,
    view_leaders: 3,
    heartbeats: false,
    steps: &[
        Step {
            title: "Three replicas, one leader",
            text: "As in the last lesson: one replica leads, and every change needs a majority — two of three.",
            ask: None,
            act: settle_now,
            until: |sim| idle(sim) && serving(sim).is_some(),
            check: |app| claim(serving(&app.sim).is_some(), "a replica serves"),
            focus: survivor,
        },
        Step {
            title: "Crash two replicas",
            text: "Two replicas crash, the leader among them. The one left, a follower, stands for election \
                   once its election timeout passes, but its own vote is one of the two it needs: nobody will \
                   lead.",
            ask: Some(Ask {
                question: "Two of the three replicas crash. Does the one left serve the cluster?",
                choices: &["Yes, it has the whole log", "No: one of three is no majority"],
                answer: 1,
            }),
            act: |app| {
                let live: Vec<Addr> = app.sim.view_leaders().map(|(a, _)| a.clone()).collect();
                for node in live.into_iter().take(2) {
                    app.act(Action::Crash { node });
                }
            },
            until: |sim| {
                down(sim).len() == 2 && serving(sim).is_none() && sim.view_leaders().all(|(_, vl)| !vl.leads())
            },
            check: |app| {
                claim(serving(&app.sim).is_none(), "no replica serves")?;
                let follows = |vl: &ViewLeader| vl.replica().is_some_and(|r| r.role() == Role::Follower);
                claim(app.sim.view_leaders().all(|(_, vl)| follows(vl)), "the replica left is a follower")
            },
            focus: survivor,
        },
        Step {
            title: "c1 asks for lock y",
            text: "No replica answers for the view leader: two are down and the third, a candidate, leads \
                   nobody, so c1 keeps asking, one replica after another. Nothing is granted without a majority, \
                   so no two clients can ever be granted y.",
            ask: None,
            act: |app| app.act(Action::lock_get(client(1), "y".into())),
            until: |sim| {
                let candidate = |vl: &ViewLeader| vl.replica().is_some_and(|r| r.role() == Role::Candidate);
                sim.view_leaders().any(|(_, vl)| candidate(vl)) && !client_idle(sim, 1)
            },
            check: |app| {
                claim(!client_idle(&app.sim, 1), "c1 still waits")?;
                claim(app.sim.view_leaders().all(|(_, vl)| vl.locks().holder("y").is_none()), "nobody holds y")
            },
            focus: survivor,
        },
        Step {
            title: "One replica comes back",
            text: "Two of three again: a majority. They elect a leader (the one with the most complete log \
                   wins), the leader commits c1's request, and c1 is granted y.",
            ask: None,
            act: |app| restart_the_down(app, 1),
            until: |sim| holder(sim, "y").as_deref() == Some("c1") && client_idle(sim, 1),
            check: |app| claim(holder(&app.sim, "y").as_deref() == Some("c1"), "c1 holds y"),
            focus: survivor,
        },
    ],
    challenge: "Bring the third replica back and crash the leader: how long is the view leader gone? That is \
                the last lesson: try your own faults in free play, with the view leader as one process or three.",
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lesson_after;

    #[test]
    fn the_replicas_the_steps_select_are_the_ones_that_lead() {
        let leader = |app: &App| serving(&app.sim).map(|(a, _)| a.clone());
        let focused = |f: fn() -> Option<Focus>| match f() {
            Some(Focus::Node(a)) => Some(a),
            _ => None,
        };
        assert_eq!(leader(&lesson_after(8, 1)), focused(first_leader));
        assert_eq!(leader(&lesson_after(8, 3)), focused(second_leader));
        let quorum = lesson_after(9, 2);
        let left: Vec<Addr> = quorum.sim.view_leaders().map(|(a, _)| a.clone()).collect();
        assert_eq!(left, focused(survivor).into_iter().collect::<Vec<_>>());
    }
}
