//! Processes that pause or die at awkward moments. A paused process (SIGSTOP, a sleeping
//! laptop, a frozen VM) reads nothing and fires no timer until it resumes, and then gets
//! everything at once; a client may die part-way through sending its transaction's messages.

mod common;

use common::run_for;
use ringside_core::{Addr, CommitProtocol, Event, OpOutput};
use ringside_sim::{Action, During, Sim, SimConfig};

fn settled_cluster(seed: u64, servers: usize) -> Sim {
    settled_with(SimConfig::new(seed), servers)
}

fn settled_with(config: SimConfig, servers: usize) -> Sim {
    let mut sim = Sim::with_cluster(config, servers, 1);
    let limit = sim.now() + 20_000;
    assert!(sim.run_while_not(limit, |s| s.view_leader().view().members.len() == servers && s.settled()));
    sim
}

/// Runs `action` (a client's) to its end; panics on a violation, an error, or if it never ends.
fn run_op(sim: &mut Sim, action: Action) -> OpOutput {
    common::run_op(sim, action, 30_000).expect("the op never finished").unwrap_or_else(|e| panic!("{e}"))
}

fn write_keys(sim: &mut Sim, n: usize) {
    for i in 0..n {
        run_op(sim, Action::setr(Addr::from("c1"), format!("k{i}"), format!("v{i}")));
    }
}

fn assert_keys_read_back(sim: &mut Sim, n: usize) {
    for i in 0..n {
        let read = run_op(sim, Action::getr(Addr::from("c1"), format!("k{i}")));
        assert!(matches!(&read, OpOutput::Value { value, .. } if *value == format!("v{i}")), "k{i}: {read:?}");
    }
}

#[test]
fn a_view_leader_paused_past_the_failure_timeout_fails_nobody() {
    let mut sim = settled_cluster(11, 3);
    write_keys(&mut sim, 8);
    let (epoch, members) = (sim.view_leader().epoch(), sim.view_leader().view().members.clone());
    let timeout = sim.config().timing.failure_timeout_ms;
    sim.act(Action::Stall { node: Addr::from("vl"), ms: 3 * timeout });
    let seen = run_for(&mut sim, 5 * timeout);
    let failed: Vec<&Event> = seen.iter().map(|(_, e)| e).filter(|e| matches!(e, Event::ServerFailed { .. })).collect();
    assert!(failed.is_empty(), "the leader failed servers for its own pause: {failed:?}");
    assert!(seen.iter().any(|(_, e)| matches!(e, Event::LeaderPaused { servers: 3, .. })));
    assert_eq!((sim.view_leader().epoch(), &sim.view_leader().view().members), (epoch, &members));
    assert_keys_read_back(&mut sim, 8);
}

#[test]
fn a_server_paused_past_its_lease_is_failed_and_nothing_is_lost() {
    let mut sim = settled_cluster(12, 4);
    write_keys(&mut sim, 8);
    let pause = 3 * sim.config().timing.failure_timeout_ms;
    sim.act(Action::Stall { node: Addr::from("s2"), ms: pause });
    let seen = run_for(&mut sim, pause + 200);
    assert!(seen.iter().any(|(_, e)| matches!(e, Event::ServerFailed { .. })), "a silent server is failed");
    assert!(!seen.iter().any(|(_, e)| matches!(e, Event::LeaderPaused { .. })), "the leader itself ran on time");
    let limit = sim.now() + 20_000;
    assert!(sim.run_while_not(limit, |s| s.settled()));
    assert_eq!(sim.view_leader().view().members.len(), 3);
    assert_keys_read_back(&mut sim, 8);
}

/// Starts `setr k v` on a client armed to die inside it, and runs until the key is free again
/// on every server (or a minute passes); returns the events seen.
fn setr_with_crash(sim: &mut Sim, during: During, after: u32) -> Vec<(Addr, Event)> {
    sim.act(Action::CrashInTransaction { client: Addr::from("c1"), during, after });
    sim.act(Action::setr(Addr::from("c1"), "k".into(), "v".into()));
    let mut seen = run_for(sim, 100);
    assert!(sim.clients().all(|(a, _)| a.as_str() != "c1"), "the client died inside its transaction");
    let limit = sim.now() + 60_000;
    while sim.now() < limit && sim.servers().any(|(_, s)| s.pending().count() > 0) {
        seen.extend(run_for(sim, 100));
    }
    seen
}

#[test]
fn a_client_dying_after_one_prepare_leaves_nothing_pending() {
    let mut sim = settled_cluster(13, 3);
    let seen = setr_with_crash(&mut sim, During::Prepare, 1);
    let voted = seen.iter().filter(|(_, e)| matches!(e, Event::Voted { yes: true, .. })).count();
    assert_eq!(voted, 1, "only one participant heard a prepare");
    assert!(sim.servers().all(|(_, s)| s.pending().count() == 0), "the prepared one found out it aborted");
    assert!(seen.iter().any(|(_, e)| matches!(e, Event::Aborted { .. })));
    assert!(!sim.servers().any(|(_, s)| s.bucket().contains_key("k")), "nothing was written");
}

#[test]
fn a_client_dying_while_it_tells_a_commit_leaves_it_committed_everywhere() {
    let mut sim = settled_with(SimConfig { commit: CommitProtocol::Classic, ..SimConfig::new(14) }, 3);
    let seen = setr_with_crash(&mut sim, During::Decision, 1);
    let committed = |e: &Event| matches!(e, Event::Committed { .. });
    assert_eq!(seen.iter().filter(|(_, e)| committed(e)).count(), 3, "the one told taught the others");
    assert!(seen.iter().any(|(_, e)| matches!(e, Event::TerminationStarted { .. })));
    assert!(sim.servers().all(|(_, s)| s.bucket().get("k").is_some_and(|v| v.value == "v")));
    let (longest_late_ms, blocked, _) = sim.late_decisions();
    assert!(longest_late_ms > 0, "the two left waiting decided only after asking");
    assert_eq!(blocked, 0);
}

#[test]
fn a_client_dying_before_it_tells_anyone_leaves_every_participant_blocked() {
    let mut sim = settled_with(SimConfig { commit: CommitProtocol::Classic, ..SimConfig::new(15) }, 3);
    setr_with_crash(&mut sim, During::Decision, 0);
    let (_, blocked, waiting_ms) = sim.late_decisions();
    assert_eq!(blocked, 3, "classic 2PC: every participant is prepared and nobody may decide");
    assert!(waiting_ms >= 50_000, "still undecided after {waiting_ms} ms");
}

#[test]
fn with_paxos_commit_a_client_dying_before_it_tells_anyone_blocks_nobody() {
    let mut sim = settled_cluster(15, 3);
    let seen = setr_with_crash(&mut sim, During::Decision, 0);
    let (longest_late_ms, blocked, _) = sim.late_decisions();
    assert_eq!(blocked, 0, "a takeover decided it");
    let decision_ms = sim.config().timing.decision_timeout_ms;
    assert!(longest_late_ms <= decision_ms, "decided {longest_late_ms} ms past the decision timeout");
    assert_eq!(seen.iter().filter(|(_, e)| matches!(e, Event::Aborted { key: Some(_), .. })).count(), 3);
    assert!(!sim.servers().any(|(_, s)| s.bucket().contains_key("k")), "nobody had accepted the commit");
}
