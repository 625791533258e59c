//! The view leader's locks: a queue, and a cycle it refuses.

use ringside_core::CommitProtocol;
use ringside_sim::session::client;
use ringside_sim::{Action, Sim};

use super::{claim, idle, select_view_leader, settle_now, Ask, Lesson, Step};
use crate::app::App;

fn holder(sim: &Sim, lock: &str) -> Option<String> {
    sim.view_leader().locks().holder(lock).map(str::to_string)
}

fn queued(sim: &Sim, lock: &str, who: &str) -> bool {
    sim.view_leader().locks().queue(lock).any(|w| w == who)
}

fn client_idle(sim: &Sim, n: usize) -> bool {
    sim.clients().any(|(a, c)| *a == client(n) && c.idle())
}

fn holders(app: &App, a: &str, b: &str) -> Result<(), String> {
    claim(holder(&app.sim, "a").as_deref() == Some(a), &format!("{a} holds a"))?;
    claim(holder(&app.sim, "b").as_deref() == Some(b), &format!("{b} holds b"))
}

pub(super) static LOCKS: Lesson = Lesson {
    title: "8 · Lock queue and deadlock",
    about: "The view leader's locks: holders, queues, and a cycle it refuses.",
    seed: 17,
    servers: 1,
    clients: 2,
    vnodes: 1,
    commit: CommitProtocol::Paxos,
    view_leaders: 1,
    heartbeats: false,
    steps: &[
        Step {
            title: "c1 takes lock a, c2 takes lock b",
            text: "Each lock has one holder and a queue. The view leader's inspector shows them, and draws \
                   who waits for whom.",
            ask: None,
            act: |app| {
                settle_now(app);
                app.act(Action::lock_get(client(1), "a".into()));
                app.act(Action::lock_get(client(2), "b".into()));
            },
            until: |sim| idle(sim) && holder(sim, "a").is_some() && holder(sim, "b").is_some(),
            check: |app| holders(app, "c1", "c2"),
            focus: select_view_leader,
        },
        Step {
            title: "c1 asks for b",
            text: "b is held by c2, so c1 is queued behind it: in the wait-for graph, c1 → c2. c1 asks again \
                   periodically.",
            ask: None,
            act: |app| app.act(Action::lock_get(client(1), "b".into())),
            until: |sim| queued(sim, "b", "c1"),
            check: |app| {
                holders(app, "c1", "c2")?;
                claim(queued(&app.sim, "b", "c1"), "c1 is queued for b")
            },
            focus: select_view_leader,
        },
        Step {
            title: "c2 asks for a: a cycle",
            text: "c2 holds b and wants a; c1 holds a and wants b. Queueing c2 would close the cycle c2 → c1 → \
                   c2 and both would wait forever, so the view leader refuses c2's request and names the \
                   cycle in its answer. c2 is not queued.",
            ask: Some(Ask {
                question: "c2 holds b and asks for a, which c1 holds while waiting for b. The view leader…",
                choices: &["queues c2 behind c1", "refuses c2: it would be a deadlock", "takes a from c1"],
                answer: 1,
            }),
            act: |app| app.act(Action::lock_get(client(2), "a".into())),
            until: |sim| client_idle(sim, 2),
            check: |app| {
                holders(app, "c1", "c2")?;
                claim(!queued(&app.sim, "a", "c2"), "c2 is not queued for a")?;
                claim(queued(&app.sim, "b", "c1"), "c1 still waits for b")
            },
            focus: select_view_leader,
        },
        Step {
            title: "c2 releases b",
            text: "c1 is next in b's queue: the view leader hands b to it, and c1's next ask is granted.",
            ask: None,
            act: |app| app.act(Action::lock_release(client(2), "b".into())),
            until: |sim| holder(sim, "b").as_deref() == Some("c1") && client_idle(sim, 1),
            check: |app| holders(app, "c1", "c1"),
            focus: select_view_leader,
        },
    ],
    challenge: "With three clients, build a cycle of three (c1 → c2 → c3 → c1): which request is refused? \
                Next, lesson 9: the view leader replicated.",
};
