//! Guided lessons: each a setup and a few steps on the real protocol. A step does something
//! to the world, runs it to the moment worth looking at, and says what just happened and what
//! to watch next. Everything a step does is recorded in the session, so a lesson can be
//! shared, stepped back through and replayed like any run.

use ringside_core::{Addr, Msg};
use ringside_sim::session::{client, server};
use ringside_sim::{Action, Setup, Sim};

use crate::app::{App, Focus};

/// One step of a lesson.
pub struct Step {
    /// A few words on what the step does.
    pub title: &'static str,
    /// What just happened and what to watch next.
    pub text: &'static str,
    /// Does it.
    pub run: fn(&mut App),
}

/// A lesson.
pub struct Lesson {
    /// Its name.
    pub title: &'static str,
    /// What it teaches, in a line.
    pub about: &'static str,
    seed: u64,
    servers: usize,
    clients: usize,
    vnodes: u32,
    /// Its steps, in order.
    pub steps: &'static [Step],
}

impl Lesson {
    /// The world a lesson starts from.
    pub fn setup(&self) -> Setup {
        Setup { seed: self.seed, servers: self.servers, clients: self.clients, vnodes: self.vnodes }
    }
}

/// Virtual time a step may run at most before giving up on its moment.
const PATIENCE_MS: u64 = 10_000;

/// At rest: every live server is in the view, rebalancing is done and no client has work left.
pub fn idle(sim: &Sim) -> bool {
    let view = sim.view_leader().view();
    sim.servers().all(|(_, s)| view.members.iter().any(|m| &m.id == s.id()))
        && sim.settled()
        && sim.clients().all(|(_, c)| c.idle())
}

/// Runs until the cluster is at rest and no client has work left.
fn settle(app: &mut App) {
    app.run_until(PATIENCE_MS, idle);
}

fn setr(app: &mut App, c: usize, key: &str, value: &str) {
    app.act(Action::setr(client(c), key.into(), value.into()));
}

fn write_keys(app: &mut App, count: usize) {
    for i in 0..count {
        setr(app, 1, &format!("k{i:02}"), &format!("v{i}"));
    }
    settle(app);
}

/// Whether a message of this kind is on its way.
fn flying(sim: &Sim, kind: fn(&Msg) -> bool) -> bool {
    sim.in_flight().iter().any(|m| kind(&m.msg))
}

fn prepare(m: &Msg) -> bool {
    matches!(m, Msg::Prepare { .. })
}

fn vote(m: &Msg) -> bool {
    matches!(m, Msg::Vote { .. })
}

fn decision(m: &Msg) -> bool {
    matches!(m, Msg::Commit { .. } | Msg::Abort { .. })
}

/// Runs until messages of `kind` are on their way, then until all of them landed.
fn until_landed(app: &mut App, kind: fn(&Msg) -> bool) {
    app.run_until(PATIENCE_MS, move |s| flying(s, kind));
    app.run_until(PATIENCE_MS, move |s| !flying(s, kind));
}

fn focus_node(app: &mut App, node: Addr) {
    app.selected = Some(Focus::Node(node));
}

/// Every lesson, in order.
pub static LESSONS: [Lesson; 7] = [
    Lesson {
        title: "1 · Placement and balance",
        about: "Where keys live on the ring, and why virtual nodes even out the load.",
        seed: 11,
        servers: 4,
        clients: 1,
        vnodes: 1,
        steps: &[
            Step {
                title: "Four servers join",
                text: "Each server heartbeats to the view leader, which admits it and raises the epoch. \
                       On the ring, each server sits at the hash of its id; the coloured arc before a \
                       server is the stretch of keys it is primary for. Watch the arcs: with one point \
                       per server they are very unequal.",
                run: settle,
            },
            Step {
                title: "Write 40 keys",
                text: "c1 wrote 40 keys with setr. Each key sits at the hash of its name and is stored \
                       on the first three servers clockwise from it (R = 3). The bar chart counts keys \
                       per server: unequal arcs give unequal load.",
                run: |app| write_keys(app, 40),
            },
            Step {
                title: "Again with 16 virtual nodes per server",
                text: "The same servers and keys, but each server now has 16 points on the ring. Many \
                       small arcs average out: the bars are much closer. Point at a server to see all \
                       its points light up.",
                run: |app| {
                    let mut setup = LESSONS[0].setup();
                    setup.vnodes = 16;
                    let _ = app.reset(setup);
                    settle(app);
                    write_keys(app, 40);
                },
            },
        ],
    },
    Lesson {
        title: "2 · A join moves only what it must",
        about: "Consistent hashing: a new server takes over a few arcs and nothing else moves.",
        seed: 12,
        servers: 3,
        clients: 1,
        vnodes: 4,
        steps: &[
            Step {
                title: "Three servers hold 30 keys",
                text: "With three servers and R = 3 every server holds every key. The chart on the right \
                       will compare, for each view change, the copies actually sent with the least the \
                       change needs.",
                run: |app| {
                    settle(app);
                    write_keys(app, 30);
                },
            },
            Step {
                title: "A fourth server starts",
                text: "s4 heartbeats; the view leader admits it and raises the epoch. Every server \
                       computes the new ring and sends each key it holds to the servers that newly \
                       replicate it. Watch the keys that flash while they move, then the movement bar: \
                       copies moved equal the minimum.",
                run: |app| {
                    app.act(Action::AddServer);
                    settle(app);
                    focus_node(app, server(4));
                },
            },
        ],
    },
    Lesson {
        title: "3 · Failure, detection, recovery",
        about: "Kill servers down to one: heartbeats stop, the view shrinks, copies are restored.",
        seed: 13,
        servers: 4,
        clients: 1,
        vnodes: 4,
        steps: &[
            Step {
                title: "Four servers hold 20 keys",
                text: "Each key has three replicas among four servers.",
                run: |app| {
                    settle(app);
                    write_keys(app, 20);
                },
            },
            Step {
                title: "s1 crashes",
                text: "s1's process dies with its memory. Nobody is told: the view leader only notices \
                       that its heartbeats stopped. After the failure timeout it declares s1 failed, \
                       raises the epoch, and the survivors copy s1's keys to their new replicas.",
                run: |app| {
                    app.act(Action::Crash { node: server(1) });
                    settle(app);
                },
            },
            Step {
                title: "s2 and s3 crash, one after the other",
                text: "Each failure is detected and repaired before the next, so no key ever loses its \
                       last copy. With one server left, it holds everything.",
                run: |app| {
                    for n in [2, 3] {
                        app.act(Action::Crash { node: server(n) });
                        settle(app);
                    }
                },
            },
            Step {
                title: "Two new servers join",
                text: "New processes (new ids) join; the keys spread back out to three replicas. \
                       Nothing written was lost.",
                run: |app| {
                    app.act(Action::AddServer);
                    app.act(Action::AddServer);
                    settle(app);
                },
            },
        ],
    },
    Lesson {
        title: "4 · A two-phase commit",
        about: "One setr, message by message: prepare, votes, commit, acknowledgements.",
        seed: 14,
        servers: 3,
        clients: 1,
        vnodes: 1,
        steps: &[
            Step {
                title: "The cluster forms",
                text: "Three servers join. The transaction table below is empty: nothing is being \
                       written.",
                run: settle,
            },
            Step {
                title: "c1 sends prepare to the three replicas",
                text: "c1 is the coordinator. It asked the view leader for the view, picked the key's \
                       three replicas and sent each a prepare with the value. A participant that can \
                       write the key locks it and votes yes: it is READY, and can no longer decide \
                       alone.",
                run: |app| {
                    setr(app, 1, "x", "hello");
                    until_landed(app, prepare);
                    focus_node(app, server(1));
                },
            },
            Step {
                title: "The votes reach the coordinator",
                text: "All three voted yes, so c1 decides COMMIT. The decision exists only at c1 until \
                       it sends it: this is the moment a coordinator crash would block the \
                       participants (lesson 6).",
                run: |app| {
                    until_landed(app, vote);
                    focus_node(app, client(1));
                },
            },
            Step {
                title: "The participants commit",
                text: "Each participant applies the write at the chosen version, unlocks the key and \
                       acknowledges. Once two of the three (a majority) acknowledged, setr returns \
                       to the user: the commit now outlives a crash of c1, since a participant \
                       left waiting would learn it from them. c1 still tells the third.",
                run: |app| {
                    until_landed(app, decision);
                    settle(app);
                    app.selected = Some(Focus::Key("x".into()));
                },
            },
        ],
    },
    Lesson {
        title: "5 · An abort from a conflict",
        about: "Two clients write one key at once: one vote is no, that transaction aborts.",
        seed: 15,
        servers: 3,
        clients: 2,
        vnodes: 1,
        steps: &[
            Step {
                title: "Both clients know the view",
                text: "c1 and c2 each read once, so both have the view cached.",
                run: |app| {
                    settle(app);
                    for c in [1, 2] {
                        app.act(Action::getr(client(c), "x".into()));
                    }
                    settle(app);
                },
            },
            Step {
                title: "c1 and c2 setr x at the same moment",
                text: "Their prepares race. A participant that already voted yes for one transaction \
                       answers the other no (key busy). A single no means ABORT: the loser's \
                       participants unlock, and it retries after a backoff.",
                run: |app| {
                    setr(app, 1, "x", "from-c1");
                    setr(app, 2, "x", "from-c2");
                    until_landed(app, vote);
                },
            },
            Step {
                title: "The dust settles",
                text: "One transaction committed; the aborted one retried and committed after it, at a \
                       higher version. Every replica holds the same, newest value.",
                run: |app| {
                    settle(app);
                    app.selected = Some(Focus::Key("x".into()));
                },
            },
        ],
    },
    Lesson {
        title: "6 · Coordinator failure and blocking",
        about: "The coordinator dies between the phases: participants ask each other and block.",
        seed: 16,
        servers: 3,
        clients: 2,
        vnodes: 1,
        steps: &[
            Step {
                title: "c1 knows the view",
                text: "c1 reads once so it can prepare at once.",
                run: |app| {
                    settle(app);
                    app.act(Action::getr(client(1), "x".into()));
                    settle(app);
                },
            },
            Step {
                title: "c1 prepares, then dies before sending its decision",
                text: "c1 is armed to crash the moment it would send its decision. All three \
                       participants voted yes and are READY, holding the key locked. c1 has decided, \
                       but took the decision with it.",
                run: |app| {
                    app.crash_coordinator(client(1), None);
                    setr(app, 1, "x", "orphan");
                    until_landed(app, vote);
                    focus_node(app, server(1));
                },
            },
            Step {
                title: "The termination protocol",
                text: "After the decision timeout each participant asks the coordinator and the other \
                       participants how the transaction ended. Everyone answers 'prepared' — nobody \
                       knows — so no one may decide: the participants are BLOCKED. This is 2PC's \
                       blocking problem.",
                run: |app| {
                    app.run_until(PATIENCE_MS, |s| {
                        s.servers().all(|(_, srv)| srv.pending().all(|p| p.is_blocked()))
                            && s.servers().any(|(_, srv)| srv.pending().count() > 0)
                    });
                },
            },
            Step {
                title: "A reader meets the blocked key",
                text: "c2 reads x: the replicas still hold the old state and the key is locked by the \
                       orphaned transaction. The write can be neither finished nor undone until c1's \
                       decision is known.",
                run: |app| {
                    app.act(Action::getr(client(2), "x".into()));
                    app.run_for(600);
                },
            },
        ],
    },
    Lesson {
        title: "7 · Lock queue and deadlock",
        about: "The view leader's locks: holders, queues, and a cycle it refuses.",
        seed: 17,
        servers: 1,
        clients: 2,
        vnodes: 1,
        steps: &[
            Step {
                title: "c1 takes lock a, c2 takes lock b",
                text: "Each lock has one holder and a queue. Select the view leader to see them.",
                run: |app| {
                    settle(app);
                    app.act(Action::lock_get(client(1), "a".into()));
                    app.act(Action::lock_get(client(2), "b".into()));
                    settle(app);
                    focus_node(app, Addr::from(ringside_sim::VIEW_LEADER));
                },
            },
            Step {
                title: "c1 asks for b",
                text: "b is held by c2, so c1 is queued behind it and asks again periodically.",
                run: |app| {
                    app.act(Action::lock_get(client(1), "b".into()));
                    app.run_for(300);
                },
            },
            Step {
                title: "c2 asks for a: a cycle",
                text: "c2 holds b and wants a; c1 holds a and wants b. Granting or queueing would wait \
                       forever, so the view leader finds the cycle in its wait-for graph and refuses \
                       c2's request with the cycle in the answer.",
                run: |app| {
                    app.act(Action::lock_get(client(2), "a".into()));
                    app.run_for(300);
                },
            },
            Step {
                title: "c2 releases b",
                text: "c1 is next in b's queue: its next ask is granted.",
                run: |app| {
                    app.act(Action::lock_release(client(2), "b".into()));
                    app.run_for(600);
                },
            },
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use ringside_sim::Session;

    fn play(n: usize) -> App {
        let mut app = App::new(Session::default());
        app.start_lesson(n).expect("exists");
        while app.lesson_next() {
            assert!(app.sim.violation().is_none(), "lesson {n}: {:?}", app.sim.violation());
        }
        app
    }

    #[test]
    fn every_lesson_runs_to_its_end_without_a_violation() {
        for (n, lesson) in LESSONS.iter().enumerate() {
            let app = play(n);
            assert_eq!(app.lesson.map(|l| l.done), Some(lesson.steps.len()));
        }
    }

    #[test]
    fn lesson_two_moves_exactly_the_minimum() {
        let app = play(1);
        let join = app.journal.moves.last().expect("the join is charted");
        assert!(join.minimum > 0);
        assert_eq!(join.moved, join.minimum);
    }

    #[test]
    fn lesson_four_shows_each_phase() {
        let mut app = App::new(Session::default());
        app.start_lesson(3).unwrap();
        app.lesson_next();
        app.lesson_next();
        let ready: usize = app.sim.servers().map(|(_, s)| s.pending().count()).sum();
        assert_eq!(ready, 3, "every participant is READY after the prepares");
        app.lesson_next();
        app.lesson_next();
        assert!(app.sim.servers().all(|(_, s)| s.bucket().get("x").is_some_and(|e| e.value == "hello")));
    }

    #[test]
    fn lesson_six_blocks_the_participants() {
        let app = play(5);
        let blocked: usize = app.sim.servers().map(|(_, s)| s.pending().filter(|p| p.is_blocked()).count()).sum();
        assert_eq!(blocked, 3);
    }

    #[test]
    fn a_lesson_is_a_session_that_replays() {
        let app = play(4);
        assert_eq!(app.session.replay().trace().hash(), app.trace_hash());
    }
}
