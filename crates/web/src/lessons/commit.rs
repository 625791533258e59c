//! Two-phase commit's lessons: one commit message by message, an abort from a conflict, and a
//! coordinator failure that blocks the participants.

use ringside_core::{Addr, CommitProtocol, Msg};
use ringside_sim::session::{client, server};
use ringside_sim::{Action, Sim};

use super::{claim, flying, idle, members, no_focus, select_node, setr, settle_now, Ask, Lesson, Step};
use crate::app::{App, Focus};
use crate::model::TxPhase;

fn vote(m: &Msg) -> bool {
    matches!(m, Msg::Vote { .. })
}

fn decision(m: &Msg) -> bool {
    matches!(m, Msg::Commit { .. } | Msg::Abort { .. })
}

/// Servers holding a prepared, undecided transaction on `key`.
pub(super) fn ready_on(sim: &Sim, key: &str) -> usize {
    sim.servers().filter(|(_, s)| s.pending().any(|p| p.key == key)).count()
}

pub(super) fn blocked_on(sim: &Sim, key: &str) -> usize {
    sim.servers().filter(|(_, s)| s.pending().any(|p| p.key == key && p.is_blocked())).count()
}

/// The version and value of `key` on every live server, if all agree.
pub(super) fn agreed(sim: &Sim, key: &str) -> Option<(u64, String)> {
    let mut copies = sim.servers().map(|(_, s)| s.bucket().get(key).map(|e| (e.version, e.value.clone())));
    let first = copies.next()??;
    copies.all(|c| c.as_ref() == Some(&first)).then_some(first)
}

pub(super) fn client_up(sim: &Sim, n: usize) -> bool {
    sim.clients().any(|(a, _)| *a == client(n))
}

pub(super) fn focus_key() -> Option<Focus> {
    Some(Focus::Key("x".into()))
}

fn formed_and_quiet(app: &App) -> Result<(), String> {
    claim(members(&app.sim) == 3, "three servers are in the view")?;
    claim(app.journal.recent_txs().next().is_none(), "the transaction table is empty")
}

fn all_ready_undecided(app: &App) -> Result<(), String> {
    claim(ready_on(&app.sim, "x") == 3, "all three participants are READY")?;
    claim(flying(&app.sim, decision) == 0, "c1 has not decided")
}

fn two_votes_in(sim: &Sim) -> bool {
    ready_on(sim, "x") == 3 && flying(sim, vote) == 1
}

fn decision_sent(sim: &Sim) -> bool {
    flying(sim, decision) == 3
}

pub(super) static COMMIT: Lesson = Lesson {
    title: "4 · A two-phase commit",
    about: "One setr, message by message: prepare, votes, commit, acknowledgements.",
    seed: 14,
    servers: 3,
    clients: 1,
    vnodes: 1,
    commit: CommitProtocol::Classic,
    view_leaders: 1,
    heartbeats: false,
    steps: &[
        Step {
            title: "The cluster forms",
            text: "Three servers join. The transaction table below the inspector is empty: nothing is \
                   being written.",
            ask: None,
            act: super::nothing,
            until: idle,
            check: formed_and_quiet,
            focus: no_focus,
        },
        Step {
            title: "c1 sends prepare to the three replicas",
            text: "c1 is the coordinator. It asked the view leader for the view, picked the key's three \
                   replicas and sent each a prepare with the value. Each participant locks the key and \
                   votes yes: all three are READY, and none may decide alone any more. c1 has not decided.",
            ask: None,
            act: |app| setr(app, 1, "x", "hello"),
            until: |sim| ready_on(sim, "x") == 3,
            check: all_ready_undecided,
            focus: || select_node(server(1)),
        },
        Step {
            title: "Two votes are in",
            text: "Two yes votes reached c1; the third is still on its way. c1 waits: it decides only when \
                   every participant has voted. If c1 crashed now, all three would stay READY with nobody \
                   knowing the outcome (lesson 6 does exactly that).",
            ask: None,
            act: super::nothing,
            until: two_votes_in,
            check: |app| {
                all_ready_undecided(app)?;
                claim(flying(&app.sim, vote) == 1, "one vote is still on its way")
            },
            focus: || select_node(client(1)),
        },
        Step {
            title: "The third vote: c1 decides COMMIT",
            text: "The moment the third yes arrived, c1 decided COMMIT and sent it to all three in the same \
                   step. The participants are still READY: the decision lives at c1 and in the three \
                   messages on their way.",
            ask: Some(Ask {
                question: "All three voted yes. What does c1 send?",
                choices: &["COMMIT to all three", "COMMIT to a majority only", "Nothing until the user confirms"],
                answer: 0,
            }),
            act: super::nothing,
            until: decision_sent,
            check: |app| {
                claim(flying(&app.sim, |m| matches!(m, Msg::Commit { .. })) == 3, "three commits are on their way")?;
                claim(ready_on(&app.sim, "x") == 3, "the participants are still READY")
            },
            focus: || select_node(client(1)),
        },
        Step {
            title: "The participants commit",
            text: "Each participant applies the write at the chosen version, unlocks the key and \
                   acknowledges. Once two of the three (a majority) acknowledged, setr returned to the \
                   user: the commit now outlives a crash of c1, since a participant left waiting would \
                   learn it from the others. Every replica holds hello.",
            ask: None,
            act: super::nothing,
            until: idle,
            check: |app| {
                let held = agreed(&app.sim, "x");
                claim(held.as_ref().is_some_and(|(_, v)| v == "hello"), "every replica holds x = hello")?;
                claim(ready_on(&app.sim, "x") == 0, "no participant is still READY")
            },
            focus: focus_key,
        },
    ],
    challenge: "Arm c1 to crash before its next decision (Client panel) and setr again: what do the \
                participants do? Lesson 6 explains. Next, lesson 5: two writers at once.",
};

fn both_know_the_view(app: &App) -> Result<(), String> {
    claim(app.sim.clients().all(|(_, c)| c.cached_epoch().is_some_and(|e| e.0 >= 1)), "c1 and c2 have the view cached")
}

pub(super) static CONFLICT: Lesson = Lesson {
    title: "5 · An abort from a conflict",
    about: "Two clients write one key at once: a busy replica votes no, and a single no aborts.",
    seed: 15,
    servers: 3,
    clients: 2,
    vnodes: 1,
    commit: CommitProtocol::Classic,
    view_leaders: 1,
    heartbeats: false,
    steps: &[
        Step {
            title: "Both clients know the view",
            text: "c1 and c2 each read x once (it is not found), so both have the view cached and can \
                   prepare at once.",
            ask: None,
            act: |app| {
                settle_now(app);
                for c in [1, 2] {
                    app.act(Action::getr(client(c), "x".into()));
                }
            },
            until: idle,
            check: both_know_the_view,
            focus: no_focus,
        },
        Step {
            title: "c1 and c2 setr x at the same moment",
            text: "Their prepares race. Each replica votes yes for the prepare that reached it first and no \
                   (the key is busy) for the other. One no is enough to abort, and each transaction got one: \
                   both abort, and x is written nowhere. setr reports a conflict to the user instead of \
                   retrying it: the key was busy with another writer.",
            ask: Some(Ask {
                question: "Both prepares reach the replicas at about the same time. What happens?",
                choices: &["One commits, the other aborts", "Both abort", "Both commit; the later one overwrites"],
                answer: 1,
            }),
            act: |app| {
                setr(app, 1, "x", "from-c1");
                setr(app, 2, "x", "from-c2");
            },
            until: idle,
            check: |app| {
                claim(app.journal.recent_txs().filter(|t| t.decided == TxPhase::Abort).count() == 2, "both abort")?;
                claim(app.sim.servers().all(|(_, s)| s.bucket().get("x").is_none()), "x is written nowhere")?;
                claim(ready_on(&app.sim, "x") == 0, "no replica holds the key locked")
            },
            focus: focus_key,
        },
        Step {
            title: "c2 tries again, alone",
            text: "With nobody competing, every replica votes yes and c2 commits: all three hold x = from-c2 \
                   at version 1. Systems that retry for the user wait a random while first, so two writers \
                   do not collide again in lockstep.",
            ask: None,
            act: |app| setr(app, 2, "x", "from-c2"),
            until: idle,
            check: |app| {
                let held = agreed(&app.sim, "x");
                claim(held == Some((1, "from-c2".into())), "every replica holds x = from-c2 at version 1")
            },
            focus: focus_key,
        },
    ],
    challenge: "Send c1's setr, press Step a few times, then c2's: does the earlier writer win now? Next, \
                lesson 6: a coordinator that dies.",
};

/// Lessons 6 and 7 set up the same crash: c1 learns the view with a read...
pub(super) fn c1_reads_once(app: &mut App) {
    settle_now(app);
    app.act(Action::getr(client(1), "x".into()));
}

pub(super) fn three_members(app: &App) -> Result<(), String> {
    claim(members(&app.sim) == 3, "three servers are in the view")
}

/// ...then prepares x everywhere and dies the moment it would send its decision.
pub(super) fn c1_dies_before_deciding(app: &mut App) {
    app.crash_coordinator(client(1), None);
    setr(app, 1, "x", "orphan");
}

pub(super) fn orphans_ready(app: &App) -> Result<(), String> {
    claim(ready_on(&app.sim, "x") == 3, "all three participants are READY")?;
    claim(!client_up(&app.sim, 1), "c1 is down")
}

pub(super) fn orphan_ready(sim: &Sim) -> bool {
    ready_on(sim, "x") == 3 && !client_up(sim, 1)
}

pub(super) fn reader_retrying(sim: &Sim) -> bool {
    sim.clients()
        .any(|(a, c)| *a == client(2) && c.operations().iter().any(|o| o.what.starts_with("getr") && o.attempt >= 2))
}

pub(super) static BLOCKING: Lesson = Lesson {
    title: "6 · Coordinator failure and blocking",
    about: "The coordinator dies between the phases: participants ask each other and block.",
    seed: 16,
    servers: 3,
    clients: 2,
    vnodes: 1,
    commit: CommitProtocol::Classic,
    view_leaders: 1,
    heartbeats: false,
    steps: &[
        Step {
            title: "c1 knows the view",
            text: "c1 reads once so it can prepare at once.",
            ask: None,
            act: c1_reads_once,
            until: idle,
            check: three_members,
            focus: no_focus,
        },
        Step {
            title: "c1 prepares, then dies before sending its decision",
            text: "c1 is armed to crash the moment it would send its decision. All three participants voted \
                   yes and are READY, holding the key locked; c1 is gone, and its decision with it.",
            ask: None,
            act: c1_dies_before_deciding,
            until: orphan_ready,
            check: orphans_ready,
            focus: || select_node(server(1)),
        },
        Step {
            title: "The termination protocol",
            text: "When its decision timeout runs out, each participant asks the coordinator and the other \
                   participants how the transaction ended. Everyone answers 'prepared' — nobody knows — so \
                   no one may decide: the participants are BLOCKED. This is 2PC's blocking problem.",
            ask: Some(Ask {
                question: "The participants ask each other. What can they decide?",
                choices: &["COMMIT: everyone voted yes", "ABORT: the coordinator is gone", "Nothing: they block"],
                answer: 2,
            }),
            act: super::nothing,
            until: |sim| blocked_on(sim, "x") == 3,
            check: |app| claim(blocked_on(&app.sim, "x") == 3, "all three participants are BLOCKED"),
            focus: || select_node(server(1)),
        },
        Step {
            title: "A reader meets the blocked key",
            text: "c2 reads x. Every replica answers that c1's transaction is still pending, so c2 backs off \
                   and tries again — and will keep failing: the write can be neither finished nor undone \
                   until c1's decision is known.",
            ask: None,
            act: |app| app.act(Action::getr(client(2), "x".into())),
            until: reader_retrying,
            check: |app| {
                claim(reader_retrying(&app.sim), "c2's getr is retrying")?;
                claim(blocked_on(&app.sim, "x") == 3, "the participants are still BLOCKED")
            },
            focus: || select_node(Addr::from("c2")),
        },
    ],
    challenge: "Step back to before c1 crashed and drop one of its prepares instead (click the message): \
                does anything block then? Next, lesson 7: the same crash, resolved.",
};
