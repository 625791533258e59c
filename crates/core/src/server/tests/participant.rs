//! The server as a 2PC participant: votes, decisions and the termination protocol.

use super::*;

#[test]
fn prepare_votes_yes_once_per_key() {
    let mut s = settled("a");
    let cl = Addr::from(CL);
    s.handle_message(Time(100), Peer::Client(&cl), set("k1", "old"));
    drain(&mut s);
    s.handle_message(Time(200), Peer::Client(&cl), prepare(tx(1), 3, "a", "k1", "v1"));
    s.handle_message(Time(210), Peer::Client(&cl), prepare(tx(2), 3, "a", "k1", "v2"));
    // A repeated prepare gets the same vote; another key is independent.
    s.handle_message(Time(220), Peer::Client(&cl), prepare(tx(1), 3, "a", "k1", "v1"));
    s.handle_message(Time(230), Peer::Client(&cl), prepare(tx(3), 3, "a", "k3", "v3"));
    assert_eq!(
        drain(&mut s),
        (
            vec![
                vote(tx(1), "a", yes(1)),
                vote(tx(2), "a", no(NoReason::KeyBusy { tx: tx(1) })),
                vote(tx(1), "a", yes(1)),
                vote(tx(3), "a", yes(0)),
            ],
            vec![
                voted(tx(1), "k1", None),
                voted(tx(2), "k1", Some(NoReason::KeyBusy { tx: tx(1) })),
                voted(tx(1), "k1", None),
                voted(tx(3), "k3", None),
            ],
        )
    );
    let pending: Vec<(TxId, &str)> = s.pending().map(|p| (p.tx, p.key.as_str())).collect();
    assert_eq!(pending, vec![(tx(1), "k1"), (tx(3), "k3")]);
}

#[test]
fn prepare_votes_no_for_another_server_id_or_an_older_epoch() {
    let mut s = settled("a");
    let cl = Addr::from(CL);
    s.handle_message(Time(100), Peer::Client(&cl), prepare(tx(1), 3, "z", "k1", "v"));
    s.handle_message(Time(100), Peer::Client(&cl), prepare(tx(2), 2, "a", "k1", "v"));
    let wrong = NoReason::WrongServer { id: sid("a") };
    let epoch = NoReason::EpochMismatch { epoch: Epoch(3) };
    assert_eq!(
        drain(&mut s),
        (
            vec![vote(tx(1), "a", no(wrong.clone())), vote(tx(2), "a", no(epoch.clone()))],
            vec![voted(tx(1), "k1", Some(wrong)), voted(tx(2), "k1", Some(epoch))],
        )
    );
    assert_eq!(s.pending().count(), 0);
}

#[test]
fn commit_stores_the_value_at_the_coordinators_version() {
    let mut s = settled("a");
    let cl = Addr::from(CL);
    s.handle_message(Time(100), Peer::Client(&cl), prepare(tx(1), 3, "a", "k1", "v"));
    drain(&mut s);
    s.handle_message(Time(200), Peer::Client(&cl), Msg::Commit { tx: tx(1), version: 5, secret: secret(tx(1)) });
    assert_eq!(
        drain(&mut s),
        (vec![done(tx(1), "a", true)], vec![Event::Committed { tx: tx(1), key: "k1".to_string(), version: 5 }])
    );
    assert_eq!(
        s.bucket().get("k1"),
        Some(&Entry { value: "v".to_string(), version: 5, pos: position("k1"), placed: Epoch(3) })
    );
    assert_eq!(s.pending().count(), 0);

    // A repeated commit is acknowledged again; a commit for a transaction never seen is not.
    s.handle_message(Time(300), Peer::Client(&cl), Msg::Commit { tx: tx(1), version: 5, secret: secret(tx(1)) });
    s.handle_message(Time(300), Peer::Client(&cl), Msg::Commit { tx: tx(9), version: 5, secret: secret(tx(9)) });
    let unknown = Msg::Error { op: None, reason: format!("unknown transaction {}", tx(9)) };
    assert_eq!(drain(&mut s), (vec![done(tx(1), "a", true), to(cl.clone(), unknown)], vec![]));

    // The key is free again.
    s.handle_message(Time(400), Peer::Client(&cl), prepare(tx(2), 3, "a", "k1", "w"));
    assert_eq!(drain(&mut s), (vec![vote(tx(2), "a", yes(5))], vec![voted(tx(2), "k1", None)]));
}

#[test]
fn abort_frees_the_key_and_keeps_the_old_value() {
    let mut s = settled("a");
    let cl = Addr::from(CL);
    s.handle_message(Time(100), Peer::Client(&cl), set("k1", "old"));
    s.handle_message(Time(100), Peer::Client(&cl), prepare(tx(1), 3, "a", "k1", "v"));
    drain(&mut s);
    s.handle_message(Time(200), Peer::Client(&cl), Msg::Abort { tx: tx(1), secret: secret(tx(1)) });
    assert_eq!(
        drain(&mut s),
        (vec![done(tx(1), "a", false)], vec![Event::Aborted { tx: tx(1), key: Some("k1".to_string()) }])
    );
    assert_eq!(contents(&s), vec![("k1", "old", 1)]);
    s.handle_message(Time(300), Peer::Client(&cl), prepare(tx(2), 3, "a", "k1", "w"));
    assert_eq!(drain(&mut s), (vec![vote(tx(2), "a", yes(1))], vec![voted(tx(2), "k1", None)]));
}

#[test]
fn an_abort_that_overtakes_its_prepare_rules_the_prepare_out() {
    let mut s = settled("a");
    let cl = Addr::from(CL);
    s.handle_message(Time(100), Peer::Client(&cl), Msg::Abort { tx: tx(1), secret: secret(tx(1)) });
    assert_eq!(drain(&mut s), (vec![done(tx(1), "a", false)], vec![]));
    s.handle_message(Time(200), Peer::Client(&cl), prepare(tx(1), 3, "a", "k1", "v"));
    assert_eq!(
        drain(&mut s),
        (vec![vote(tx(1), "a", no(NoReason::Aborted))], vec![voted(tx(1), "k1", Some(NoReason::Aborted))])
    );
    assert_eq!(s.pending().count(), 0);
}

#[test]
fn a_silent_coordinator_starts_termination_and_a_committed_peer_decides() {
    let mut s = settled("a");
    let cl = Addr::from(CL);
    s.handle_message(Time(0), Peer::Client(&cl), prepare(tx(1), 3, "a", "k1", "v"));
    drain(&mut s);
    assert_eq!(s.poll_timeout(), Some(Time(2_000)));
    assert_eq!(s.decision_deadline(&tx(1)), Some(Deadline { due: Time(2_000), span_ms: 2_000 }));
    s.handle_timeout(Time(2_000));
    assert_eq!(
        drain(&mut s),
        (ask_everyone(tx(1)), vec![Event::TerminationStarted { tx: tx(1), key: "k1".to_string() }],)
    );

    s.handle_message(
        Time(2_100),
        Peer::Member(&addr("b")),
        Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 4 } },
    );
    assert_eq!(drain(&mut s), (vec![], vec![Event::Committed { tx: tx(1), key: "k1".to_string(), version: 4 }]));
    assert_eq!(contents(&s), vec![("k1", "v", 4)]);
    assert_eq!(s.pending().count(), 0);
    assert_eq!(s.decision_deadline(&tx(1)), None, "decided: nothing left to wait for");

    // The coordinator's late commit is acknowledged; others asking now learn the outcome.
    s.handle_message(Time(2_200), Peer::Client(&cl), Msg::Commit { tx: tx(1), version: 4, secret: secret(tx(1)) });
    s.handle_message(Time(2_200), Peer::Member(&addr("c")), Msg::DecisionRequest { tx: tx(1), server: Some(sid("a")) });
    let reply = to(addr("c"), Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 4 } });
    assert_eq!(drain(&mut s), (vec![done(tx(1), "a", true), reply], vec![]));
}

#[test]
fn an_aborted_peer_aborts_the_transaction() {
    let mut s = settled("a");
    s.handle_message(Time(0), Peer::Client(&Addr::from(CL)), prepare(tx(1), 3, "a", "k1", "v"));
    s.handle_timeout(Time(2_000));
    drain(&mut s);
    s.handle_message(Time(2_100), Peer::Member(&addr("c")), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted });
    assert_eq!(drain(&mut s), (vec![], vec![Event::Aborted { tx: tx(1), key: Some("k1".to_string()) }]));
    assert_eq!(s.pending().count(), 0);
}

#[test]
fn every_peer_prepared_blocks_the_transaction() {
    let mut s = settled("a");
    s.handle_message(Time(0), Peer::Client(&Addr::from(CL)), prepare(tx(1), 3, "a", "k1", "v"));
    s.handle_timeout(Time(2_000));
    drain(&mut s);
    // An unknown answer (a new process at c's address) counts for nothing.
    s.handle_message(Time(2_100), Peer::Member(&addr("b")), Msg::DecisionReply { tx: tx(1), state: TxState::Prepared });
    s.handle_message(Time(2_100), Peer::Member(&addr("c")), Msg::DecisionReply { tx: tx(1), state: TxState::Unknown });
    s.handle_message(Time(2_100), Peer::Member(&addr("c")), Msg::DecisionReply { tx: tx(1), state: TxState::Prepared });
    assert_eq!(drain(&mut s), (vec![], vec![]));
    assert_eq!(s.poll_timeout(), Some(Time(4_000)));
    s.handle_timeout(Time(4_000));
    assert_eq!(drain(&mut s), (ask_everyone(tx(1)), vec![Event::Blocked { tx: tx(1), key: "k1".to_string() }],));
    let phases: Vec<&PendingPhase> = s.pending().map(|p| &p.phase).collect();
    assert_eq!(phases, vec![&PendingPhase::Blocked { prepared: vec![sid("b"), sid("c")] }]);
    // Blocked, it keeps asking the coordinator, four times more slowly.
    assert_eq!(s.decision_deadline(&tx(1)), Some(Deadline { due: Time(12_000), span_ms: 8_000 }));
    assert_eq!(s.poll_timeout(), Some(Time(10_000)));
    s.handle_timeout(Time(10_000));
    drain(&mut s);
    assert_eq!(s.poll_timeout(), Some(Time(12_000)));
}

#[test]
fn a_decision_request_for_a_transaction_never_prepared_rules_it_out() {
    let mut s = settled("a");
    s.handle_message(Time(100), Peer::Member(&addr("b")), Msg::DecisionRequest { tx: tx(1), server: Some(sid("a")) });
    assert_eq!(
        drain(&mut s),
        (
            vec![to(addr("b"), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted })],
            vec![Event::Aborted { tx: tx(1), key: None }],
        )
    );
    s.handle_message(Time(200), Peer::Client(&Addr::from(CL)), prepare(tx(1), 3, "a", "k1", "v"));
    assert_eq!(
        drain(&mut s),
        (vec![vote(tx(1), "a", no(NoReason::Aborted))], vec![voted(tx(1), "k1", Some(NoReason::Aborted))])
    );
}

#[test]
fn a_decision_request_for_another_server_id_gets_no_news() {
    let mut s = settled("a");
    s.handle_message(Time(100), Peer::Member(&addr("b")), Msg::DecisionRequest { tx: tx(1), server: Some(sid("z")) });
    s.handle_message(Time(100), Peer::Member(&addr("b")), Msg::DecisionRequest { tx: tx(1), server: None });
    let unknown = to(addr("b"), Msg::DecisionReply { tx: tx(1), state: TxState::Unknown });
    assert_eq!(drain(&mut s), (vec![unknown.clone(), unknown], vec![]));
    // Nothing was ruled out: the prepare still succeeds, and then the answer is "prepared".
    s.handle_message(Time(200), Peer::Client(&Addr::from(CL)), prepare(tx(1), 3, "a", "k1", "v"));
    s.handle_message(Time(300), Peer::Member(&addr("b")), Msg::DecisionRequest { tx: tx(1), server: Some(sid("a")) });
    assert_eq!(
        drain(&mut s),
        (
            vec![vote(tx(1), "a", yes(0)), to(addr("b"), Msg::DecisionReply { tx: tx(1), state: TxState::Prepared }),],
            vec![voted(tx(1), "k1", None)],
        )
    );
}

#[test]
fn only_the_prepares_secret_decides_a_transaction() {
    let mut s = settled("a");
    let (cl, stranger) = (Addr::from(CL), Addr::from("mallory"));
    s.handle_message(Time(100), Peer::Client(&cl), prepare(tx(1), 3, "a", "k1", "v"));
    drain(&mut s);
    let forged = TxSecret::new(1);
    for msg in [Msg::Commit { tx: tx(1), version: 9, secret: forged }, Msg::Abort { tx: tx(1), secret: forged }] {
        s.handle_message(Time(200), Peer::Client(&stranger), msg);
        let reason = String::from("the secret does not match tx0007.1's prepare");
        assert_eq!(
            drain(&mut s),
            (
                vec![to(stranger.clone(), Msg::Error { op: None, reason: reason.clone() })],
                vec![Event::BadMessage { from: stranger.clone(), reason }]
            )
        );
    }
    assert_eq!(s.pending().count(), 1, "still prepared, undecided");
    s.handle_message(Time(300), Peer::Client(&cl), Msg::Commit { tx: tx(1), version: 1, secret: secret(tx(1)) });
    assert_eq!(drain(&mut s).0, vec![done(tx(1), "a", true)]);
    assert_eq!(contents(&s), vec![("k1", "v", 1)]);
}

#[test]
fn a_forged_early_abort_does_not_rule_out_the_real_prepare() {
    let mut s = settled("a");
    let (cl, stranger) = (Addr::from(CL), Addr::from("mallory"));
    s.handle_message(Time(100), Peer::Client(&stranger), Msg::Abort { tx: tx(1), secret: TxSecret::new(1) });
    drain(&mut s);
    s.handle_message(Time(200), Peer::Client(&cl), prepare(tx(1), 3, "a", "k1", "v"));
    assert_eq!(drain(&mut s), (vec![vote(tx(1), "a", yes(0))], vec![voted(tx(1), "k1", None)]));
}

#[test]
fn only_members_run_the_termination_protocol_and_only_the_coordinator_answers_as_one() {
    let mut s = settled("a");
    let (cl, stranger) = (Addr::from(CL), Addr::from("mallory"));
    s.handle_message(Time(100), Peer::Client(&cl), prepare(tx(1), 3, "a", "k1", "v"));
    drain(&mut s);
    // A client may not ask (asking rules a transaction out on a participant that never saw it).
    s.handle_message(Time(200), Peer::Client(&stranger), Msg::DecisionRequest { tx: tx(2), server: Some(sid("a")) });
    let reason = String::from("`decision_request` is taken only from members of the cluster");
    assert_eq!(drain(&mut s).0, vec![to(stranger.clone(), Msg::Error { op: None, reason })]);
    // A client claiming a participant's address is still not that participant.
    let claimed = addr("b");
    s.handle_message(Time(200), Peer::Client(&claimed), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted });
    assert_eq!(s.pending().count(), 1);
    // The coordinator's own connection may answer.
    s.handle_message(Time(300), Peer::Client(&cl), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted });
    assert_eq!(s.pending().count(), 0);
}

#[test]
fn keys_and_values_over_the_limits_are_refused_and_nothing_is_kept() {
    let mut s = settled("a");
    let cl = Addr::from(CL);
    let big = "v".repeat(64 * 1024 + 1);
    s.handle_message(Time(100), Peer::Client(&cl), Msg::Set { op: OpId(1), key: "k".into(), value: big.clone() });
    let reason = String::from("the value is 65537 bytes: at most 65536 are kept");
    assert_eq!(drain(&mut s).0, vec![to(cl.clone(), Msg::Error { op: Some(OpId(1)), reason })]);
    s.handle_message(Time(100), Peer::Client(&cl), prepare(tx(1), 3, "a", &"k".repeat(1025), "v"));
    let too_large = crate::limits::TooLarge { what: "key".into(), bytes: 1025, limit: 1024 };
    assert_eq!(drain(&mut s).0, vec![vote(tx(1), "a", no(NoReason::TooLarge(too_large)))]);
    assert!(s.bucket().is_empty() && s.pending().count() == 0);
}

#[test]
fn an_early_abort_never_rewrites_a_commit() {
    // Found by fuzzing: a stranger's abort before the prepare, then a second prepare carrying
    // the stranger's secret after the commit, turned the committed outcome into aborted.
    let mut s = settled("a");
    let (cl, stranger) = (Addr::from(CL), Addr::from("mallory"));
    let theirs = TxSecret::new(2);
    s.handle_message(Time(100), Peer::Client(&stranger), Msg::Abort { tx: tx(1), secret: theirs });
    s.handle_message(Time(110), Peer::Client(&cl), prepare(tx(1), 3, "a", "k1", "v"));
    s.handle_message(Time(120), Peer::Client(&cl), Msg::Commit { tx: tx(1), version: 1, secret: secret(tx(1)) });
    drain(&mut s);
    let Msg::Prepare { tx: t, epoch, server, key, value, participants, .. } = prepare(tx(1), 3, "a", "k1", "w") else {
        unreachable!()
    };
    let replay = Msg::Prepare { tx: t, epoch, server, key, value, participants, secret: theirs };
    s.handle_message(Time(130), Peer::Client(&stranger), replay);
    drain(&mut s);
    s.handle_message(Time(140), Peer::Member(&addr("b")), Msg::DecisionRequest { tx: tx(1), server: Some(sid("a")) });
    let reply = to(addr("b"), Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 1 } });
    assert_eq!(drain(&mut s).0, vec![reply]);
    assert_eq!(contents(&s), vec![("k1", "v", 1)]);
}
