//! The course's test cases, the lock walkthrough and the termination protocol, each as a run of
//! the real roles in the simulator with invariants checked after every step.

use ringside_core::msg::Msg;
use ringside_core::{Addr, CommitProtocol, Event, OpError, OpOutput};
use ringside_sim::{Action, Sim, SimConfig, Tamper};

fn c(n: u32) -> Addr {
    Addr(format!("c{n}"))
}

fn s(n: u32) -> Addr {
    Addr(format!("s{n}"))
}

/// A formed, settled cluster.
fn cluster(seed: u64, servers: usize, clients: usize) -> Sim {
    let mut sim = Sim::with_cluster(SimConfig::new(seed), servers, clients);
    settle_with(&mut sim, servers);
    sim
}

/// Runs until the view has `servers` members and the cluster is at rest.
fn settle_with(sim: &mut Sim, servers: usize) {
    let limit = sim.now() + 20_000;
    let done = sim.run_while_not(limit, |s| s.view_leader().view().members.len() == servers && s.settled());
    assert!(done, "seed {}: the cluster did not settle with {servers} servers", sim.config().seed);
    assert_no_violation(sim);
}

fn assert_no_violation(sim: &Sim) {
    if let Some(v) = sim.violation() {
        panic!("{v}");
    }
}

/// Starts an operation and runs until it finishes; returns its result and the events seen.
fn run_op(sim: &mut Sim, action: Action) -> (Result<OpOutput, OpError>, Vec<(Addr, Event)>) {
    let client = match &action {
        Action::Client { client, .. } => client.clone(),
        other => panic!("not a client action: {other:?}"),
    };
    let op = sim.act(action).expect("the client exists");
    let mut seen = Vec::new();
    let limit = sim.now() + 30_000;
    while sim.now() < limit && sim.step() {
        for (node, e) in sim.recent_events() {
            seen.push((node.clone(), e.clone()));
            if let Event::OpDone { op: done, result } = e {
                if *done == op && *node == client {
                    assert_no_violation(sim);
                    return (result.clone(), seen);
                }
            }
        }
    }
    panic!("seed {}: op {op:?} of {client} never finished", sim.config().seed);
}

fn setr(sim: &mut Sim, client: u32, key: &str, value: &str) -> Result<OpOutput, OpError> {
    run_op(sim, Action::setr(c(client), key.into(), value.into())).0
}

fn getr(sim: &mut Sim, client: u32, key: &str) -> Result<OpOutput, OpError> {
    run_op(sim, Action::getr(c(client), key.into())).0
}

fn value(v: &str) -> impl Fn(&Result<OpOutput, OpError>) -> bool + '_ {
    move |r| matches!(r, Ok(OpOutput::Value { value, .. }) if value == v)
}

/// Every key's holders equal its replicas (the at-rest invariant), checked now.
fn check_placement(sim: &mut Sim) {
    sim.check_at_rest();
    assert_no_violation(sim);
}

fn holders(sim: &Sim, key: &str) -> Vec<Addr> {
    sim.servers().filter(|(_, s)| s.bucket().contains_key(key)).map(|(a, _)| a.clone()).collect()
}

#[test]
fn lookups_work() {
    let mut sim = cluster(1, 3, 1);
    assert!(matches!(setr(&mut sim, 1, "apple", "red"), Ok(OpOutput::Written { version: 1 })));
    assert!(matches!(setr(&mut sim, 1, "apple", "green"), Ok(OpOutput::Written { version: 2 })));
    assert!(value("green")(&getr(&mut sim, 1, "apple")));
    assert_eq!(getr(&mut sim, 1, "plum"), Err(OpError::NotFound { key: "plum".into() }));
    assert_eq!(holders(&sim, "apple").len(), 3);
}

#[test]
fn adding_and_removing_a_server_changes_the_view_and_epoch() {
    let mut sim = cluster(2, 3, 1);
    assert_eq!(sim.view_leader().epoch().0, 3);
    sim.act(Action::AddServer);
    settle_with(&mut sim, 4);
    assert_eq!(sim.view_leader().epoch().0, 4);
    assert_eq!(sim.view_leader().view().members.len(), 4);
    sim.act(Action::Crash { node: s(2) });
    settle_with(&mut sim, 3);
    assert_eq!(sim.view_leader().epoch().0, 5);
    assert_eq!(sim.view_leader().view().members.len(), 3);
    assert!(sim.servers().all(|(_, srv)| srv.view().epoch.0 == 5 || !sim.view_leader().view().contains(srv.id())));
}

#[test]
fn getr_survives_the_loss_of_the_primary() {
    let mut sim = cluster(3, 4, 1);
    for i in 0..8 {
        setr(&mut sim, 1, &format!("k{i}"), &format!("v{i}")).unwrap();
    }
    let primary = sim.servers().find(|(_, srv)| srv.placement("k0")[0] == *srv.id()).map(|(a, _)| a.clone()).unwrap();
    sim.act(Action::Crash { node: primary });
    // Before the failure is noticed: the other replicas answer.
    assert!(value("v0")(&getr(&mut sim, 1, "k0")));
    settle_with(&mut sim, 3);
    for i in 0..8 {
        assert!(value(&format!("v{i}"))(&getr(&mut sim, 1, &format!("k{i}"))), "k{i}");
    }
    check_placement(&mut sim);
}

#[test]
fn getr_across_view_changes_and_rebalancing() {
    let mut sim = cluster(4, 3, 2);
    for i in 0..10 {
        setr(&mut sim, 1, &format!("k{i}"), &format!("v{i}")).unwrap();
    }
    // Reads issued while a server joins and another fails: they retry through the changes.
    sim.act(Action::AddServer);
    sim.act(Action::Crash { node: s(1) });
    for i in 0..10 {
        assert!(value(&format!("v{i}"))(&getr(&mut sim, 2, &format!("k{i}"))), "k{i}");
    }
    settle_with(&mut sim, 3);
    check_placement(&mut sim);
}

#[test]
fn values_migrate_to_the_new_replicas() {
    let mut sim = cluster(5, 3, 1);
    for i in 0..30 {
        setr(&mut sim, 1, &format!("k{i}"), &format!("v{i}")).unwrap();
    }
    sim.act(Action::AddServer);
    settle_with(&mut sim, 4);
    let newcomer = sim.servers().find(|(a, _)| **a == s(4)).map(|(_, srv)| srv).unwrap();
    let expected: Vec<String> =
        (0..30).map(|i| format!("k{i}")).filter(|k| newcomer.placement(k).contains(newcomer.id())).collect();
    let mut held: Vec<String> = newcomer.bucket().keys().cloned().collect();
    held.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert!(!expected.is_empty(), "the newcomer replicates some keys");
    assert_eq!(held, expected_sorted);
    for k in &expected {
        assert_eq!(newcomer.bucket()[k].value, format!("v{}", &k[1..]));
    }
    check_placement(&mut sim);
}

#[test]
fn a_commit_on_an_older_epoch_runs_again_at_once_in_the_new_view() {
    let mut sim = cluster(6, 3, 1);
    setr(&mut sim, 1, "x", "1").unwrap();
    // The client caches epoch 3; a join moves the cluster to epoch 4 behind its back.
    sim.act(Action::AddServer);
    settle_with(&mut sim, 4);
    let (result, events) = run_op(&mut sim, Action::setr(c(1), "x".into(), "2".into()));
    assert!(matches!(result, Ok(OpOutput::Written { .. })), "{result:?}");
    let mismatch = events.iter().any(|(_, e)| {
        matches!(e, Event::Voted { yes: false, reason: Some(ringside_core::msg::NoReason::EpochMismatch { .. }), .. })
    });
    assert!(mismatch, "a participant voted no on the epoch");
    // Absorbed inside the client: one more round, no failed attempt and no backoff.
    assert!(events.iter().any(|(_, e)| matches!(e, Event::OpRerun { epoch, .. } if epoch.0 == 4)), "{events:?}");
    assert!(!events.iter().any(|(_, e)| matches!(e, Event::OpRetrying { .. })), "{events:?}");
    assert!(value("2")(&getr(&mut sim, 1, "x")));
}

#[test]
fn a_commit_fails_on_server_id_mismatch() {
    let mut sim = cluster(7, 3, 1);
    setr(&mut sim, 1, "x", "1").unwrap();
    // s1 restarts at once: a new id at the same address, which the cached view does not know.
    sim.act(Action::Crash { node: s(1) });
    sim.act(Action::Restart { node: s(1) });
    let (result, events) = run_op(&mut sim, Action::setr(c(1), "x".into(), "2".into()));
    let wrong_server = events.iter().any(|(_, e)| {
        matches!(e, Event::Voted { yes: false, reason: Some(ringside_core::msg::NoReason::WrongServer { .. }), .. })
    });
    assert!(wrong_server, "the new process voted no: it is not the server expected");
    assert!(matches!(result, Ok(OpOutput::Written { .. })), "{result:?}");
    settle_with(&mut sim, 3);
    assert!(value("2")(&getr(&mut sim, 1, "x")));
}

#[test]
fn two_concurrent_setr_of_one_key_at_most_one_wins_while_other_keys_commit() {
    for seed in 10..20 {
        let mut sim = cluster(seed, 3, 3);
        let a = sim.act(Action::setr(c(1), "x".into(), "from-c1".into())).unwrap();
        let b = sim.act(Action::setr(c(2), "x".into(), "from-c2".into())).unwrap();
        let other = sim.act(Action::setr(c(3), "y".into(), "free".into())).unwrap();
        let mut results = std::collections::BTreeMap::new();
        let limit = sim.now() + 10_000;
        while results.len() < 3 && sim.now() < limit && sim.step() {
            for (node, e) in sim.recent_events() {
                if let Event::OpDone { op, result } = e {
                    if [(c(1), a), (c(2), b), (c(3), other)].contains(&(node.clone(), *op)) {
                        results.insert(node.clone(), result.clone());
                    }
                }
            }
        }
        assert_no_violation(&sim);
        let won = [c(1), c(2)].iter().filter(|n| matches!(results.get(*n), Some(Ok(_)))).count();
        assert!(won <= 1, "seed {seed}: both writes of x won");
        assert!(matches!(results.get(&c(3)), Some(Ok(OpOutput::Written { .. }))), "seed {seed}: y did not commit");
        // A loser fails with the conflict as its reason.
        for n in [c(1), c(2)] {
            if let Some(Err(e)) = results.get(&n) {
                assert!(matches!(e, OpError::Conflict { .. }), "seed {seed}: {e}");
            }
        }
        let read = getr(&mut sim, 3, "x");
        match won {
            0 => assert_eq!(read, Err(OpError::NotFound { key: "x".into() })),
            _ => assert!(value("from-c1")(&read) || value("from-c2")(&read)),
        }
    }
}

#[test]
fn a_failed_commit_is_aborted_on_every_participant() {
    let mut sim = cluster(21, 3, 2);
    setr(&mut sim, 1, "x", "0").unwrap();
    let mut aborted_somewhere = None;
    sim.act(Action::setr(c(1), "x".into(), "a".into()));
    let (_, events) = run_op(&mut sim, Action::setr(c(2), "x".into(), "b".into()));
    for (_, e) in &events {
        if let Event::TxDecided { tx, commit: false, .. } = e {
            aborted_somewhere = Some(*tx);
        }
    }
    let limit = sim.now() + 5_000;
    sim.run_until(limit);
    if let Some(tx) = aborted_somewhere {
        // No participant still holds the aborted transaction, and none committed it.
        for (_, srv) in sim.servers() {
            assert!(srv.pending().all(|p| p.tx != tx));
        }
    }
    assert_no_violation(&sim);
    let versions: Vec<u64> = sim.servers().map(|(_, srv)| srv.bucket()["x"].version).collect();
    assert!(versions.windows(2).all(|w| w[0] == w[1]), "replicas disagree: {versions:?}");
}

#[test]
fn killing_servers_down_to_one_loses_nothing_and_growing_back_spreads_keys() {
    let mut sim = cluster(22, 5, 1);
    for i in 0..40 {
        setr(&mut sim, 1, &format!("k{i}"), &format!("v{i}")).unwrap();
    }
    for n in 1..=4 {
        sim.act(Action::Crash { node: s(n) });
        settle_with(&mut sim, 5 - n as usize);
        check_placement(&mut sim);
    }
    let last: Vec<usize> = sim.servers().map(|(_, srv)| srv.bucket().len()).collect();
    assert_eq!(last, vec![40], "one server holds every key");
    for i in 0..40 {
        assert!(value(&format!("v{i}"))(&getr(&mut sim, 1, &format!("k{i}"))), "k{i}");
    }
    for n in 2..=5 {
        sim.act(Action::AddServer);
        settle_with(&mut sim, n);
    }
    check_placement(&mut sim);
    let counts: Vec<usize> = sim.servers().map(|(_, srv)| srv.bucket().len()).collect();
    assert_eq!(counts.len(), 5);
    assert_eq!(counts.iter().sum::<usize>(), 40 * 3, "three copies of every key");
    assert!(counts.iter().all(|&n| n < 40), "keys spread out again: {counts:?}");
}

#[test]
fn lock_walkthrough() {
    let mut sim = cluster(23, 1, 3);
    let lock = |client: u32, get: bool| {
        let name = "atm".to_string();
        if get {
            Action::lock_get(c(client), name)
        } else {
            Action::lock_release(c(client), name)
        }
    };
    assert_eq!(run_op(&mut sim, lock(1, true)).0, Ok(OpOutput::Granted));
    // c2 is queued: its lock_get keeps asking and shows that it waits.
    sim.act(lock(2, true)).unwrap();
    let limit = sim.now() + 300;
    let mut saw_wait = false;
    while sim.now() < limit && sim.step() {
        saw_wait |=
            sim.recent_events().iter().any(|(n, e)| *n == c(2) && matches!(e, Event::LockWaiting { position: 1, .. }));
    }
    assert!(saw_wait, "c2 waits at place 1");
    assert_eq!(sim.view_leader().locks().queue("atm").collect::<Vec<_>>(), vec!["c2"]);
    // Idempotent for the holder, and c2 is queued once however often it asks.
    assert_eq!(run_op(&mut sim, lock(1, true)).0, Ok(OpOutput::Granted));
    sim.act(lock(3, true));
    sim.run_until(sim.now() + 1_000);
    assert_eq!(
        sim.view_leader().locks().queue("atm").collect::<Vec<_>>(),
        vec!["c2", "c3"],
        "queued once each, in order"
    );
    assert_eq!(sim.view_leader().locks().holder("atm"), Some("c1"));
}

#[test]
fn lock_release_hands_over_and_errors_are_reported() {
    let mut sim = cluster(24, 1, 2);
    assert_eq!(run_op(&mut sim, Action::lock_get(c(1), "atm".into())).0, Ok(OpOutput::Granted));
    let waiter = sim.act(Action::lock_get(c(2), "atm".into())).unwrap();
    sim.run_until(sim.now() + 100);
    let released = run_op(&mut sim, Action::lock_release(c(1), "atm".into())).0;
    assert_eq!(released, Ok(OpOutput::Released { next_holder: Some("c2".into()) }));
    // c2's repeated lock_get now finds it granted.
    let limit = sim.now() + 2_000;
    let mut granted = false;
    while !granted && sim.now() < limit && sim.step() {
        granted = sim.recent_events().iter().any(|(n, e)| {
            *n == c(2) && matches!(e, Event::OpDone { op, result: Ok(OpOutput::Granted) } if *op == waiter)
        });
    }
    assert!(granted);
    assert_eq!(run_op(&mut sim, Action::lock_release(c(1), "atm".into())).0, Err(OpError::NotHolderOrWaiter));
    assert_eq!(run_op(&mut sim, Action::lock_release(c(1), "vault".into())).0, Err(OpError::UnknownLock));
}

#[test]
fn deadlock_is_detected_with_its_cycle() {
    let mut sim = cluster(25, 1, 2);
    let get = |client: u32, name: &str| Action::lock_get(c(client), name.into());
    assert_eq!(run_op(&mut sim, get(1, "A")).0, Ok(OpOutput::Granted));
    assert_eq!(run_op(&mut sim, get(2, "B")).0, Ok(OpOutput::Granted));
    sim.act(get(1, "B"));
    sim.run_until(sim.now() + 100);
    assert_eq!(run_op(&mut sim, get(2, "A")).0, Err(OpError::Deadlock { cycle: vec!["c2".into(), "c1".into()] }));
    assert_eq!(sim.view_leader().locks().queue("A").count(), 0, "the refused request is not queued");
}

/// Runs a setr from c1 with a cached view, lets `tamper` act on its in-flight messages, then
/// crashes c1 and lets the participants' termination protocol play out.
fn coordinator_crash(
    seed: u64,
    commit: CommitProtocol,
    until_commits: bool,
    tamper: impl Fn(&mut Sim, &[ringside_sim::InFlight]),
) -> Sim {
    let mut sim = Sim::with_cluster(SimConfig { commit, ..SimConfig::new(seed) }, 3, 2);
    settle_with(&mut sim, 3);
    setr(&mut sim, 1, "x", "old").unwrap();
    sim.act(Action::setr(c(1), "x".into(), "new".into()));
    let limit = sim.now() + 1_000;
    loop {
        let flight = sim.in_flight();
        let phase_two = flight.iter().any(|m| matches!(m.msg, Msg::Commit { .. }));
        let prepares = flight.iter().filter(|m| matches!(m.msg, Msg::Prepare { .. })).count();
        if (until_commits && phase_two) || (!until_commits && prepares == 3) {
            tamper(&mut sim, &flight);
            break;
        }
        assert!(sim.now() < limit && sim.step(), "the transaction never reached the wanted phase");
    }
    sim.act(Action::Crash { node: c(1) });
    sim.run_until(sim.now() + 5_000);
    assert_no_violation(&sim);
    sim
}

fn outcomes(sim: &Sim) -> (usize, usize) {
    let pending = sim.servers().map(|(_, s)| s.pending().count()).sum();
    let blocked = sim.servers().flat_map(|(_, s)| s.pending()).filter(|p| p.is_blocked()).count();
    (pending, blocked)
}

#[test]
fn coordinator_crash_after_one_commit_is_resolved_to_commit() {
    // Only one commit message gets out before the coordinator dies.
    let sim = coordinator_crash(30, CommitProtocol::Classic, true, |sim, flight| {
        for m in flight.iter().filter(|m| matches!(m.msg, Msg::Commit { .. })).skip(1) {
            sim.tamper(m.id, Tamper::Drop);
        }
    });
    assert_eq!(outcomes(&sim), (0, 0));
    let values: Vec<&str> = sim.servers().map(|(_, s)| s.bucket()["x"].value.as_str()).collect();
    assert_eq!(values, vec!["new"; 3], "the others learned the commit from the one that had it");
}

#[test]
fn coordinator_crash_with_an_unprepared_participant_is_resolved_to_abort() {
    // One prepare never arrives: that participant rules the transaction out when asked.
    let sim = coordinator_crash(31, CommitProtocol::Classic, false, |sim, flight| {
        let first = flight.iter().find(|m| matches!(m.msg, Msg::Prepare { .. })).unwrap();
        sim.tamper(first.id, Tamper::Drop);
    });
    assert_eq!(outcomes(&sim), (0, 0));
    let values: Vec<&str> = sim.servers().map(|(_, s)| s.bucket()["x"].value.as_str()).collect();
    assert_eq!(values, vec!["old"; 3]);
}

#[test]
fn coordinator_crash_with_everyone_prepared_blocks() {
    let mut sim = coordinator_crash(32, CommitProtocol::Classic, false, |_, _| {});
    assert_eq!(outcomes(&sim), (3, 3), "all three participants are prepared and blocked");
    // A reader sees the pending write and, after its retries, says why it gave up.
    let result = getr(&mut sim, 2, "x");
    assert!(matches!(&result, Err(OpError::GaveUp { reason, .. }) if reason.contains("pending")), "{result:?}");
}

#[test]
fn paxos_commit_resolves_the_case_that_blocks_classic_two_phase_commit() {
    let mut sim = coordinator_crash(32, CommitProtocol::Paxos, false, |_, _| {});
    assert_eq!(outcomes(&sim), (0, 0), "a takeover decided it");
    let values: Vec<&str> = sim.servers().map(|(_, s)| s.bucket()["x"].value.as_str()).collect();
    assert_eq!(values, vec!["old"; 3], "nobody had accepted the commit: it is aborted");
    assert_eq!(getr(&mut sim, 2, "x").map(|o| o.to_string()), Ok("old (version 1)".to_string()));
}

#[test]
fn paxos_commit_keeps_a_commit_a_majority_accepted() {
    // Two of the three commits get out: the commit was chosen, and the takeover finds it.
    let sim = coordinator_crash(33, CommitProtocol::Paxos, true, |sim, flight| {
        for m in flight.iter().filter(|m| matches!(m.msg, Msg::Commit { .. })).skip(2) {
            sim.tamper(m.id, Tamper::Drop);
        }
    });
    assert_eq!(outcomes(&sim), (0, 0));
    let values: Vec<&str> = sim.servers().map(|(_, s)| s.bucket()["x"].value.as_str()).collect();
    assert_eq!(values, vec!["new"; 3]);
}
