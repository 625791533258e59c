//! The ring's lessons: placement and balance, a join, failures down to one server and back.

use ringside_core::{CommitProtocol, Msg, ServerId};
use ringside_sim::session::server;
use ringside_sim::{Action, Sim};

use super::{
    claim, copies, idle, in_view, keys_on, members, no_focus, nothing, select_node, select_view_leader, settle_now,
    values_intact, values_intact_but, write_keys, written, Ask, Lesson, Step,
};
use crate::app::{App, Focus};
use crate::model::Placement;

/// Per server in the view: the share of the circle its arcs cover and the keys it is primary
/// for.
fn arcs_and_primaries(sim: &Sim) -> Vec<(ServerId, f64, usize)> {
    let placement = Placement::of(sim);
    placement
        .servers
        .iter()
        .map(|s| {
            let arc: f64 = placement.arcs.iter().filter(|a| a.owner == s.id).map(|a| a.to - a.from).sum();
            let primary = placement.keys.iter().filter(|k| k.replicas.first() == Some(&s.id)).count();
            (s.id.clone(), arc / std::f64::consts::TAU, primary)
        })
        .collect()
}

fn four_in_view(app: &App) -> Result<(), String> {
    claim(members(&app.sim) == 4, "four servers are in the view")?;
    claim(app.sim.view_leader().epoch().0 >= 1, "the epoch was raised")
}

fn biggest_arc_most_keys(app: &App) -> Result<(), String> {
    keys_on(&app.sim, 40, 3)?;
    let servers = arcs_and_primaries(&app.sim);
    let widest = servers.iter().max_by(|a, b| a.1.total_cmp(&b.1)).expect("four servers");
    let busiest = servers.iter().map(|s| s.2).max().unwrap_or(0);
    claim(widest.1 > 0.6, "the longest arc covers almost two thirds of the ring")?;
    claim(widest.2 == busiest, "the server with the longest arc is primary for the most keys")?;
    claim(busiest == 26, "it is primary for 26 of the 40 keys")
}

fn vnodes_even_out(app: &App) -> Result<(), String> {
    keys_on(&app.sim, 40, 3)?;
    claim(app.sim.config().vnodes == 16, "each server has 16 points")?;
    let servers = arcs_and_primaries(&app.sim);
    claim(servers.iter().all(|s| s.1 < 0.3), "no arc covers 30% of the ring")?;
    claim(servers.iter().all(|s| s.2 <= 17), "no server is primary for more than 17 keys")
}

fn forty_keys_placed(sim: &Sim) -> bool {
    written(sim, 40)
}

pub(super) static PLACEMENT: Lesson = Lesson {
    title: "1 · Placement and balance",
    about: "Where keys live on the ring, and why virtual nodes even out the load.",
    seed: 11,
    servers: 4,
    clients: 1,
    vnodes: 1,
    commit: CommitProtocol::Paxos,
    view_leaders: 1,
    heartbeats: false,
    steps: &[
        Step {
            title: "Four servers join",
            text: "Each server heartbeats to the view leader, which admits it and raises the epoch. On the \
                   ring, each server sits at the hash of its id; the coloured arc before a server is the \
                   stretch of keys it is primary for. With one point per server the arcs are very unequal.",
            ask: None,
            act: nothing,
            until: idle,
            check: four_in_view,
            focus: no_focus,
        },
        Step {
            title: "Write 40 keys",
            text: "c1 writes 40 keys with setr. Each key sits at the hash of its name; its primary is the \
                   first server clockwise from it, and the next two hold replica copies (R = 3). The bars \
                   split each server's keys into those it is primary for (solid) and its replica copies \
                   (light). The server with the longest arc — almost two thirds of the ring — is primary \
                   for 26 of the 40 keys.",
            ask: Some(Ask {
                question: "Which server will be primary for the most keys?",
                choices: &["The one with the longest arc", "All four about equally", "The first to join"],
                answer: 0,
            }),
            act: |app| write_keys(app, 40),
            until: forty_keys_placed,
            check: biggest_arc_most_keys,
            focus: no_focus,
        },
        Step {
            title: "Again with 16 virtual nodes per server",
            text: "The same seed and keys on a fresh cluster whose servers have 16 points each. Many small \
                   arcs average out: no server's arcs cover 30% of the ring, and none is primary for more \
                   than 17 keys (it was 26). With only 40 keys the counts still wobble around 10: write \
                   more to see them settle. Point at a server to see all its points light up.",
            ask: Some(Ask {
                question: "Each server now gets 16 points on the ring. The primary loads will…",
                choices: &["stay as unequal", "even out", "all land on one server"],
                answer: 1,
            }),
            act: |app| {
                let mut setup = PLACEMENT.setup();
                setup.vnodes = 16;
                let _ = app.reset_within_lesson(setup);
                settle_now(app);
                write_keys(app, 40);
            },
            until: forty_keys_placed,
            check: vnodes_even_out,
            focus: no_focus,
        },
    ],
    challenge: "Start over (New run… under Advanced) with 8 servers and 1 virtual node, write 200 keys and \
                compare the bars; then 64 virtual nodes.",
};

fn thirty_on_three(app: &App) -> Result<(), String> {
    claim(members(&app.sim) == 3, "three servers are in the view")?;
    keys_on(&app.sim, 30, 3)
}

/// s4 is in the view and a server that holds keys has learned it, but no copy reached s4 yet.
fn s4_joined(sim: &Sim) -> bool {
    let epoch = sim.view_leader().epoch();
    in_view(sim, 4)
        && sim.servers().any(|(a, s)| *a != server(4) && s.view().epoch == epoch)
        && sim.servers().any(|(a, s)| *a == server(4) && s.bucket().is_empty())
}

fn s4_in_view_copies_not_moved(app: &App) -> Result<(), String> {
    claim(in_view(&app.sim, 4), "s4 is in the view")?;
    claim(members(&app.sim) == 4, "the view has four servers")?;
    let s4 = app.sim.servers().find(|(a, _)| **a == server(4)).map(|(_, s)| s.bucket().len());
    claim(s4 == Some(0), "s4 holds nothing yet")
}

fn moved_the_minimum(app: &App) -> Result<(), String> {
    keys_on(&app.sim, 30, 3)?;
    let join = app.journal.moves.last().ok_or("the join is charted")?;
    claim(join.minimum > 0 && join.minimum < 30, "the join needs some copies moved, not all")?;
    claim(join.moved == join.minimum, "the copies moved equal the minimum")?;
    values_intact_but(&app.sim, 30, Some((MOVING, MOVING_VALUE)))
}

fn transfer(m: &Msg) -> bool {
    matches!(m, Msg::Transfer { .. })
}

/// The key lesson 2 writes while it moves: s4 replicates it in the new view.
const MOVING: &str = "k02";
/// What it is written to.
const MOVING_VALUE: &str = "written while moving";

fn s4_id(sim: &Sim) -> Option<ServerId> {
    sim.view_leader().view().members.iter().find(|m| m.addr == server(4)).map(|m| m.id.clone())
}

fn written_on_both_sets(app: &App) -> Result<(), String> {
    let s4 = s4_id(&app.sim).ok_or("s4 is in the view")?;
    let dual = app.journal.dual.as_ref().ok_or("c1 wrote a key on both replica sets")?;
    claim(dual.key == MOVING, &format!("the write on both sets was of {MOVING}"))?;
    claim(dual.stable.len() == 3, "all three stable replicas took the write")?;
    claim(dual.new == [s4.clone()], "s4 took it too, as the new replica")?;
    let holds = |addr: &ringside_core::Addr| {
        app.sim.servers().any(|(a, s)| a == addr && s.bucket().get(MOVING).is_some_and(|e| e.value == MOVING_VALUE))
    };
    claim((1..=4).all(|n| holds(&server(n))), "every one of the four servers holds the new value")?;
    let placed = Placement::of(&app.sim).keys.iter().find(|k| k.key == MOVING).map(|k| k.placed);
    claim(placed == Some(false), "its copies are not yet exactly on its replicas (its tick is orange)")?;
    claim(app.sim.clients().all(|(_, c)| c.idle()), "the write is done")
}

pub(super) static JOIN: Lesson = Lesson {
    title: "2 · A join moves only what it must",
    about: "Consistent hashing: a new server takes over a few arcs and nothing else moves.",
    seed: 12,
    servers: 3,
    clients: 1,
    vnodes: 4,
    commit: CommitProtocol::Paxos,
    view_leaders: 1,
    heartbeats: true,
    steps: &[
        Step {
            title: "Three servers hold 30 keys",
            text: "With three servers and R = 3 every server holds every key. The movement chart will \
                   compare, for each view change, the copies actually sent with the least the change \
                   needs.",
            ask: None,
            act: |app| {
                settle_now(app);
                write_keys(app, 30);
            },
            until: |sim| written(sim, 30),
            check: thirty_on_three,
            focus: no_focus,
        },
        Step {
            title: "A fourth server starts",
            text: "s4 heartbeats; the view leader admits it and raises the epoch. s4 is in the view but \
                   holds nothing yet: each server learns the new view from its next heartbeat reply, and \
                   only then sends s4 its copies. One server has learned it so far.",
            ask: Some(Ask {
                question: "When s4 joins, which keys will move?",
                choices: &[
                    "All 30: the ring is rehashed",
                    "Only keys whose arcs s4 takes over",
                    "None: s4 stays empty",
                ],
                answer: 1,
            }),
            act: |app| app.act(Action::AddServer),
            until: s4_joined,
            check: s4_in_view_copies_not_moved,
            focus: select_view_leader,
        },
        Step {
            title: "A write while the keys move",
            text: "Before its copy has reached s4, c1 writes k02, a key s4 now replicates. c1 still \
                   knows the old view; a server that knows the new one answers so, and c1 runs the write \
                   again at once in the new view (the log says it runs again). The view leader's answer says \
                   the view is still rebalancing and names the stable view too, so c1 writes k02 on both \
                   replica sets: the three stable replicas, which hold the key (dashed lines), \
                   and s4, which does not have it yet (solid). All four vote yes and commit; s4 takes the \
                   write before its copy arrives, and the older copy that arrives later is not stored. The \
                   log says the write went to both sets; k02's tick stays orange until its copies sit \
                   exactly on its replicas.",
            ask: Some(Ask {
                question: "c1 writes a key that s4 will replicate but has no copy of yet. The write…",
                choices: &["waits until rebalancing ends", "goes to the old and the new replicas", "goes to s4 alone"],
                answer: 1,
            }),
            act: |app| super::setr(app, 1, MOVING, MOVING_VALUE),
            until: |sim| {
                sim.clients().all(|(_, c)| c.idle()) && sim.servers().all(|(_, s)| s.pending().next().is_none())
            },
            check: written_on_both_sets,
            focus: || Some(Focus::Key(MOVING.into())),
        },
        Step {
            title: "The copies move",
            text: "Every server computes the new ring and sends each key it holds to the servers that newly \
                   replicate it (the transfer arrows), then drops the copies it no longer needs. The \
                   movement bar: copies moved equal the minimum, and nothing else moved.",
            ask: None,
            act: nothing,
            until: |sim| idle(sim) && super::flying(sim, transfer) == 0,
            check: moved_the_minimum,
            focus: || select_node(server(4)),
        },
    ],
    challenge: "Add a fifth server, then write 30 more keys with Write: does the minimum still hold? \
                Next, lesson 3 takes servers away.",
};

fn twenty_on_three(app: &App) -> Result<(), String> {
    keys_on(&app.sim, 20, 3)
}

fn s1_declared_failed(sim: &Sim) -> bool {
    !sim.view_leader().view().members.iter().any(|m| m.addr == server(1))
}

fn s1_failed_keys_short(app: &App) -> Result<(), String> {
    let timeout = app.sim.config().timing.failure_timeout_ms;
    claim(timeout == 500, "the failure timeout is 500 ms")?;
    // The timer runs from s1's last heartbeat, at most one period before the crash.
    let since_crash = app.sim.now().0 as f64 - app.marks.last().map_or(0.0, |m| m.start);
    let heartbeat = app.sim.config().timing.heartbeat_ms as f64;
    claim(
        since_crash >= timeout as f64 - heartbeat && since_crash <= (timeout as f64) + heartbeat,
        "s1 is declared failed a failure timeout after its last heartbeat",
    )?;
    claim(!in_view(&app.sim, 1), "s1 is no longer in the view")?;
    claim(members(&app.sim) == 3, "three servers remain in the view")?;
    claim(app.sim.servers().all(|(a, _)| *a != server(1)), "s1's process is gone")?;
    claim(copies(&app.sim).values().any(|n| *n == 2), "the keys s1 held are one copy short")
}

fn restored_on(count: usize, servers: usize) -> impl Fn(&App) -> Result<(), String> {
    move |app| {
        claim(members(&app.sim) == servers, &format!("{servers} servers are in the view"))?;
        keys_on(&app.sim, count, servers.min(3))?;
        values_intact(&app.sim, 20)
    }
}

fn crash(n: usize) -> impl Fn(&mut App) {
    move |app| app.act(Action::Crash { node: server(n) })
}

pub(super) static FAILURE: Lesson = Lesson {
    title: "3 · Failure, detection, recovery",
    about: "Kill servers down to one: heartbeats stop, the view shrinks, copies are restored.",
    seed: 13,
    servers: 4,
    clients: 1,
    vnodes: 4,
    commit: CommitProtocol::Paxos,
    view_leaders: 1,
    heartbeats: true,
    steps: &[
        Step {
            title: "Four servers hold 20 keys",
            text: "Each key has three replicas among four servers. Every server heartbeats to the view \
                   leader every 100 ms (the heartbeat arrows; real nodes default to every 500 ms).",
            ask: None,
            act: |app| {
                settle_now(app);
                write_keys(app, 20);
            },
            until: |sim| written(sim, 20),
            check: |app| {
                twenty_on_three(app)?;
                claim(app.sim.config().timing.heartbeat_ms == 100, "servers heartbeat every 100 ms")
            },
            focus: select_view_leader,
        },
        Step {
            title: "s1 crashes",
            text: "s1's process dies with its memory. Nobody is told: s1's heartbeats just stop, and the \
                   view leader's timer for s1 runs down. At the failure timeout after s1's last heartbeat \
                   (500 ms here, 3 s on real nodes) it declares s1 failed and raises the epoch: the view has three servers, and the keys s1 held are one \
                   copy short.",
            ask: Some(Ask {
                question: "How does the view leader learn that s1 died?",
                choices: &["s1 says goodbye", "s1's heartbeats stop until the failure timeout", "A client reports it"],
                answer: 1,
            }),
            act: |app| crash(1)(app),
            until: s1_declared_failed,
            check: s1_failed_keys_short,
            focus: select_view_leader,
        },
        Step {
            title: "The survivors restore the copies",
            text: "Each survivor learns the new view from a heartbeat reply and copies the keys it holds to \
                   their new replicas. Every key has three copies again, on the three servers left.",
            ask: None,
            act: nothing,
            until: idle,
            check: |app| restored_on(20, 3)(app),
            focus: no_focus,
        },
        Step {
            title: "s2 crashes",
            text: "The same again: detected after the failure timeout, repaired by the two survivors. With \
                   two servers left and R = 3, each key is on both.",
            ask: None,
            act: |app| crash(2)(app),
            until: |sim| idle(sim) && members(sim) == 2,
            check: |app| restored_on(20, 2)(app),
            focus: no_focus,
        },
        Step {
            title: "s3 crashes",
            text: "Each failure was repaired before the next, so no key ever lost its last copy: the one \
                   server left holds all 20.",
            ask: Some(Ask {
                question: "One server is left. How many of the 20 keys survive?",
                choices: &["All 20", "About a third", "None: R = 3 needs three servers"],
                answer: 0,
            }),
            act: |app| crash(3)(app),
            until: |sim| idle(sim) && members(sim) == 1,
            check: |app| restored_on(20, 1)(app),
            focus: || select_node(server(4)),
        },
        Step {
            title: "Two new servers join",
            text: "New processes (new ids) join; the keys spread back out to three replicas. Nothing written \
                   was lost.",
            ask: None,
            act: |app| {
                app.act(Action::AddServer);
                app.act(Action::AddServer);
            },
            until: |sim| idle(sim) && members(sim) == 3,
            check: |app| restored_on(20, 3)(app),
            focus: no_focus,
        },
    ],
    challenge: "Crash two servers at once (click one, then the other, before the first is detected): \
                which keys are lost, and why does R = 3 survive it? Next, lesson 4 follows one write.",
};
