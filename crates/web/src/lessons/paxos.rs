//! Paxos Commit's lesson: lesson 6's crash again, on servers that take over instead of
//! blocking.

use ringside_core::twopc::PendingPhase;
use ringside_core::{Addr, CommitProtocol, Msg};
use ringside_sim::Sim;

use super::commit::{
    agreed, blocked_on, c1_dies_before_deciding, c1_reads_once, focus_key, orphan_ready, orphans_ready, ready_on,
    three_members,
};
use super::{claim, flying, idle, no_focus, select_node, setr, Ask, Lesson, Step};

/// The phase of the participant leading a takeover of `key`'s transaction, if one does.
fn leading(sim: &Sim, key: &str) -> Option<PendingPhase> {
    sim.servers()
        .flat_map(|(_, s)| s.pending())
        .find(|p| p.key == key && matches!(p.phase, PendingPhase::Recovering { .. }))
        .map(|p| p.phase.clone())
}

fn takeover_sent(sim: &Sim) -> bool {
    matches!(leading(sim, "x"), Some(PendingPhase::Recovering { ballot: 1, proposal: None, .. }))
        && flying(sim, |m| matches!(m, Msg::Takeover { .. })) == 2
}

fn abort_proposed(sim: &Sim) -> bool {
    matches!(leading(sim, "x"), Some(PendingPhase::Recovering { proposal: Some(p), .. }) if p.version.is_none())
        && flying(sim, |m| matches!(m, Msg::Accept { .. })) == 2
}

fn decided(sim: &Sim) -> bool {
    ready_on(sim, "x") == 0 && flying(sim, |m| matches!(m, Msg::DecisionReply { .. })) == 0
}

pub(super) static RESOLVED: Lesson = Lesson {
    title: "7 · The same crash, resolved: Paxos Commit",
    about: "The coordinator dies between the phases again; the participants take over and abort.",
    seed: 16,
    servers: 3,
    clients: 2,
    vnodes: 1,
    commit: CommitProtocol::Paxos,
    view_leaders: 1,
    heartbeats: false,
    steps: &[
        Step {
            title: "c1 knows the view",
            text: "The same cluster and seed as lesson 6, but these servers run Paxos Commit: c1's commit \
                   would be ballot 0 of a vote among the participants, and a participant left waiting may \
                   lead a ballot of its own. c1 reads once so it can prepare at once.",
            ask: None,
            act: c1_reads_once,
            until: idle,
            check: three_members,
            focus: no_focus,
        },
        Step {
            title: "c1 prepares, then dies before sending its decision",
            text: "As in lesson 6: all three participants voted yes and are READY, holding the key locked, \
                   and c1 crashed the moment it would have sent its commit. Nobody accepted a commit.",
            ask: None,
            act: c1_dies_before_deciding,
            until: orphan_ready,
            check: orphans_ready,
            focus: focus_key,
        },
        Step {
            title: "The first participant takes over",
            text: "The participants' decision timers are staggered by their place in the prepare, so the \
                   first one runs out alone. It takes over with ballot 1 (ballot 0 is c1's): it sends \
                   takeover to the other two, asking each to promise to accept nothing below ballot 1 and \
                   to say what it accepted so far.",
            ask: Some(Ask {
                question: "The other two promise; neither accepted a commit. What may the taker-over decide?",
                choices: &[
                    "COMMIT: everyone voted yes",
                    "ABORT: no commit can have been chosen",
                    "Nothing: it blocks, as in lesson 6",
                ],
                answer: 1,
            }),
            act: super::nothing,
            until: takeover_sent,
            check: |app| {
                claim(takeover_sent(&app.sim), "two takeovers at ballot 1 are on their way")?;
                claim(ready_on(&app.sim, "x") == 3, "all three are still undecided")
            },
            focus: focus_key,
        },
        Step {
            title: "Promises in: it proposes abort",
            text: "A majority promised — the taker-over and one other are enough — and none had accepted a \
                   commit, so none can have been chosen: abort is the only safe outcome, and the taker-over \
                   proposes it at ballot 1 with accept. A commit from c1 arriving now would be refused: \
                   whoever promised ballot 1 no longer accepts ballot 0.",
            ask: None,
            act: super::nothing,
            until: abort_proposed,
            check: |app| claim(abort_proposed(&app.sim), "an abort at ballot 1 is proposed to the other two"),
            focus: focus_key,
        },
        Step {
            title: "Chosen: the key is free",
            text: "A majority accepted the abort, so it is chosen: the leader aborts and tells the others, \
                   and all three unlock x — about one decision timeout after c1 died, with nothing BLOCKED. \
                   The table still shows c1's COMMIT: c1 decided it, but a decision nobody received binds \
                   nobody, and c1 never told its user the write happened. Nothing was lost.",
            ask: None,
            act: super::nothing,
            until: decided,
            check: |app| {
                claim(ready_on(&app.sim, "x") == 0, "no participant is still READY")?;
                claim(blocked_on(&app.sim, "x") == 0, "nothing is BLOCKED")?;
                claim(app.sim.servers().all(|(_, s)| s.bucket().get("x").is_none()), "x is written nowhere")
            },
            focus: focus_key,
        },
        Step {
            title: "c2 writes x",
            text: "The key takes writes again: c2's setr commits at once, and every replica holds x = \
                   after. With classic 2PC this write would fail for as long as c1 stayed away.",
            ask: None,
            act: |app| setr(app, 2, "x", "after"),
            until: idle,
            check: |app| {
                let held = agreed(&app.sim, "x");
                claim(held.as_ref().is_some_and(|(_, v)| v == "after"), "every replica holds x = after")
            },
            focus: || select_node(Addr::from("c2")),
        },
    ],
    challenge: "Step back to c1's crash and also kill two servers (inspector): with no majority left to \
                promise, the takeover blocks and says so — the one failure Paxos Commit cannot get past. \
                Next, lesson 8: locks.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_participant_in_the_prepare_leads() {
        let app = crate::testing::lesson_after(6, 3);
        let leaders: Vec<Addr> = app
            .sim
            .servers()
            .filter(|(_, s)| s.pending().any(|p| matches!(p.phase, PendingPhase::Recovering { .. })))
            .map(|(a, _)| a.clone())
            .collect();
        assert_eq!(leaders.len(), 1, "one leader at a time: {leaders:?}");
        assert!(leaders[0].as_str().starts_with('s'), "{leaders:?}");
    }
}
