//! The server rebalancing: agreed senders, writes on both sets, requests from an epoch ahead,
//! deferred copies, acknowledged and dropped copies.

use super::*;

// Placement facts the rebalancing tests rely on (SHA-256, so fixed forever): on the ring
// the order is d, c, b, a; with {a, b, c} → {a, b, c, d}:
//   k0: [c, b, a] → [d, c, b]  (sender c, a drops it)
//   k1: [a, c, b] → [a, d, c]  (sender a, b drops it)
//   k3: [b, a, c] → [b, a, d]  (sender b, c drops it)
//   k6: [c, b, a] → [c, b, a]  (unchanged)
fn check_placement() {
    let ids = |names: &[&str]| names.iter().map(|n| sid(n)).collect::<Vec<_>>();
    let (abc, abcd) = (ids(&["a", "b", "c"]), ids(&["a", "b", "c", "d"]));
    let placed = |key, servers: &[ServerId]| crate::ring::replicas(key, servers, 3, 1);
    assert_eq!(placed("k0", &abc), ids(&["c", "b", "a"]));
    assert_eq!(placed("k0", &abcd), ids(&["d", "c", "b"]));
    assert_eq!(placed("k1", &abc), ids(&["a", "c", "b"]));
    assert_eq!(placed("k1", &abcd), ids(&["a", "d", "c"]));
    assert_eq!(placed("k3", &abc), ids(&["b", "a", "c"]));
    assert_eq!(placed("k3", &abcd), ids(&["b", "a", "d"]));
    assert_eq!(placed("k6", &abc), ids(&["c", "b", "a"]));
    assert_eq!(placed("k6", &abcd), ids(&["c", "b", "a"]));
}

/// Server `id` of the settled view {a, b, c} at epoch 3, holding k0, k1, k3 and k6, then
/// told at 300 that d joined (epoch 4). Returns the outputs of learning the new view.
fn holder_learning_d(id: &str) -> (Server, (Vec<Transmit>, Vec<Event>)) {
    let mut s = settled(id);
    for key in ["k0", "k1", "k3", "k6"] {
        s.handle_message(Time(200), Peer::Client(&Addr::from(CL)), set(key, &format!("v-{key}")));
    }
    drain(&mut s);
    s.handle_message(
        Time(300),
        Peer::Member(&Addr::from(VL)),
        accepted(id, 0, 4, Some(view(4, &["a", "b", "c", "d"])), None),
    );
    let out = drain(&mut s);
    (s, out)
}

#[test]
fn each_moving_key_is_sent_once_by_its_agreed_sender() {
    check_placement();
    let learned = Event::ViewLearned { epoch: Epoch(4), servers: 4 };
    let started = Event::RebalanceStarted { epoch: Epoch(4), copies: 1 };
    let sent = Event::TransferSent { epoch: Epoch(4), to: sid("d"), keys: 1 };
    for (id, key) in [("a", "k1"), ("b", "k3"), ("c", "k0")] {
        let (_, out) = holder_learning_d(id);
        let transfer = Msg::Transfer { epoch: Epoch(4), items: vec![item(key, &format!("v-{key}"), 1)] };
        assert_eq!(out, (vec![to(addr("d"), transfer)], vec![learned.clone(), started.clone(), sent.clone()]), "{id}");
    }

    // The newcomer has nothing to send: its own part is done at once.
    let mut d = Server::new(config("d"), Time(0));
    d.handle_timeout(Time(0));
    drain(&mut d);
    d.handle_message(
        Time(100),
        Peer::Member(&Addr::from(VL)),
        accepted("d", 0, 4, Some(view(4, &["a", "b", "c", "d"])), Some(view(3, &["a", "b", "c"]))),
    );
    assert_eq!(
        drain(&mut d),
        (vec![heartbeat("d", 4, 3, 4, 100)], vec![learned, Event::RebalanceFinished { epoch: Epoch(4) }])
    );
    // Before its copy arrives it answers with what it has: the client counts on the stable
    // replicas for the newest value.
    d.handle_message(Time(200), Peer::Client(&Addr::from(CL)), getr(1, 4, "k1"));
    assert_eq!(drain(&mut d), (vec![read(1, "d", ReadAnswer::NotFound)], vec![]));
}

/// k1's prepare at epoch 4 for `server`, on both of its replica sets: [a, d, c] and b.
fn moving_k1(tx: TxId, server: &str, value: &str) -> Msg {
    Msg::Prepare {
        tx,
        epoch: Epoch(4),
        server: sid(server),
        key: "k1".to_string(),
        value: value.to_string(),
        participants: vec![member("a"), member("d"), member("c"), member("b")],
        secret: secret(tx),
    }
}

#[test]
fn a_moving_key_takes_writes_on_both_sets() {
    // a is a stable replica of k1, and stays one.
    let (mut a, _) = holder_learning_d("a");
    a.handle_message(Time(400), Peer::Client(&Addr::from(CL)), moving_k1(tx(1), "a", "w"));
    assert_eq!(drain(&mut a), (vec![vote(tx(1), "a", yes(1))], vec![voted(tx(1), "k1", None)]));
    // b gives k1 up in the new view, but keeps taking its writes until the view is stable.
    let (mut b, _) = holder_learning_d("b");
    b.handle_message(Time(400), Peer::Client(&Addr::from(CL)), moving_k1(tx(1), "b", "w"));
    assert_eq!(drain(&mut b), (vec![vote(tx(1), "b", yes(1))], vec![voted(tx(1), "k1", None)]));
}

#[test]
fn a_new_replica_takes_a_write_before_its_copy_and_keeps_the_newer_version() {
    let mut d = joined("d", view(4, &["a", "b", "c", "d"]), view(3, &["a", "b", "c"]), Time(100));
    let cl = Addr::from(CL);
    d.handle_message(Time(200), Peer::Client(&cl), moving_k1(tx(1), "d", "w"));
    assert_eq!(drain(&mut d), (vec![vote(tx(1), "d", yes(0))], vec![voted(tx(1), "k1", None)]));
    // The stable replicas voted version 1: the write commits at 2.
    d.handle_message(Time(210), Peer::Client(&cl), Msg::Commit { tx: tx(1), version: 2, secret: secret(tx(1)) });
    drain(&mut d);
    // a's copy, sent before the write, arrives after it: acknowledged, not stored.
    let copy = Msg::Transfer { epoch: Epoch(4), items: vec![item("k1", "v-k1", 1)] };
    d.handle_message(Time(220), Peer::Member(&addr("a")), copy);
    let ack = Msg::TransferAck { epoch: Epoch(4), keys: keys(&["k1"]) };
    let received = Event::TransferReceived { from: addr("a"), keys: 1, stored: 0 };
    assert_eq!(drain(&mut d), (vec![to(addr("a"), ack)], vec![received]));
    assert_eq!(contents(&d), [("k1", "w", 2)]);
}

#[test]
fn a_replica_that_gave_its_copy_up_says_so_to_a_read() {
    // b gave k1 up once the view with d became stable.
    let mut b = joined("b", view(4, &["a", "b", "c", "d"]), view(4, &["a", "b", "c", "d"]), Time(100));
    b.handle_message(Time(200), Peer::Client(&Addr::from(CL)), getr(1, 4, "k1"));
    assert_eq!(drain(&mut b), (vec![read(1, "b", ReadAnswer::NotReplica)], vec![]));
    // It answers for the keys it replicates.
    b.handle_message(Time(200), Peer::Client(&Addr::from(CL)), getr(2, 4, "k6"));
    assert_eq!(drain(&mut b), (vec![read(2, "b", ReadAnswer::NotFound)], vec![]));
}

/// Server `id` of the settled view of epoch 3 whose report of its rebalancing was answered,
/// so no heartbeat of it is unanswered; with the client's and the view leader's addresses.
fn answered(id: &str) -> (Server, Addr, Addr) {
    let mut s = settled(id);
    s.handle_message(Time(50), Peer::Member(&Addr::from(VL)), accepted(id, 0, 3, None, None));
    drain(&mut s);
    (s, Addr::from(CL), Addr::from(VL))
}

#[test]
fn a_request_from_an_epoch_ahead_waits_for_the_server_to_learn_it() {
    let (mut a, cl, vl) = answered("a");
    // A prepare and a read from epoch 4 while a knows 3: held, and a heartbeats at once.
    a.handle_message(Time(500), Peer::Client(&cl), moving_k1(tx(1), "a", "w"));
    a.handle_message(Time(510), Peer::Client(&cl), getr(7, 4, "k6"));
    assert_eq!(drain(&mut a), (vec![heartbeat("a", 3, 3, 3, 500)], vec![]));
    let v4 = view(4, &["a", "b", "c", "d"]);
    a.handle_message(Time(600), Peer::Member(&vl), accepted("a", 500, 4, Some(v4), None));
    // Both are answered once the epoch is known, even the read that came after the heartbeat.
    let (sent, events) = drain(&mut a);
    assert_eq!(sent[sent.len() - 2..], [vote(tx(1), "a", yes(0)), read(7, "a", ReadAnswer::NotFound)]);
    assert!(events.contains(&voted(tx(1), "k1", None)), "{events:?}");
}

#[test]
fn a_held_request_is_answered_at_its_own_epoch_when_the_reply_does_not_bring_the_view() {
    let (mut a, cl, vl) = answered("a");
    a.handle_message(Time(500), Peer::Client(&cl), getr(1, 9, "k6"));
    assert_eq!(drain(&mut a), (vec![heartbeat("a", 3, 3, 3, 500)], vec![]));
    // Something arriving after the heartbeat left waits for the next reply.
    a.handle_message(Time(550), Peer::Client(&cl), getr(2, 9, "k6"));
    assert_eq!(drain(&mut a), (vec![], vec![]));
    a.handle_message(Time(600), Peer::Member(&vl), accepted("a", 500, 3, None, None));
    let wrong = ReadAnswer::WrongEpoch { epoch: Epoch(3) };
    assert_eq!(drain(&mut a), (vec![read(1, "a", wrong.clone()), heartbeat("a", 3, 3, 3, 600)], vec![]));
    a.handle_message(Time(700), Peer::Member(&vl), accepted("a", 600, 3, None, None));
    assert_eq!(drain(&mut a), (vec![read(2, "a", wrong.clone())], vec![]));
    // Without any reply, a heartbeat period later (when its lease has run out, here).
    a.handle_message(Time(800), Peer::Client(&cl), getr(3, 9, "k6"));
    assert_eq!(drain(&mut a), (vec![heartbeat("a", 3, 3, 3, 800)], vec![]));
    a.handle_timeout(Time(10_800));
    let (sent, _) = drain(&mut a);
    assert_eq!(sent[0], read(3, "a", ReadAnswer::Isolated));
}

#[test]
fn acked_transfers_finish_rebalancing_and_the_stable_view_drops_old_copies() {
    let (mut a, _) = holder_learning_d("a");
    // Unacknowledged copies are sent again.
    assert_eq!(a.poll_timeout(), Some(Time(1_300)));
    a.handle_timeout(Time(1_300));
    let transfer = Msg::Transfer { epoch: Epoch(4), items: vec![item("k1", "v-k1", 1)] };
    assert_eq!(
        drain(&mut a),
        (vec![to(addr("d"), transfer)], vec![Event::TransferSent { epoch: Epoch(4), to: sid("d"), keys: 1 }])
    );

    a.handle_message(Time(1_400), Peer::Member(&addr("d")), Msg::TransferAck { epoch: Epoch(4), keys: keys(&["k1"]) });
    assert_eq!(
        drain(&mut a),
        (
            vec![heartbeat("a", 4, 3, 4, 1_400)],
            vec![Event::TransferAcked { from: sid("d"), keys: 1 }, Event::RebalanceFinished { epoch: Epoch(4) }],
        )
    );
    assert_eq!((a.rebalanced(), a.unacked_copies()), (Epoch(4), 0));
    // A repeated ack changes nothing.
    a.handle_message(Time(1_450), Peer::Member(&addr("d")), Msg::TransferAck { epoch: Epoch(4), keys: keys(&["k1"]) });
    assert_eq!(drain(&mut a), (vec![], vec![]));
    // Copies stay until every new holder has its copies: the view is stable.
    assert_eq!(a.bucket().keys().collect::<Vec<_>>(), vec!["k0", "k1", "k3", "k6"]);

    a.handle_message(
        Time(1_500),
        Peer::Member(&Addr::from(VL)),
        accepted("a", 0, 4, None, Some(view(4, &["a", "b", "c", "d"]))),
    );
    assert_eq!(drain(&mut a), (vec![], vec![Event::CopiesDropped { epoch: Epoch(4), keys: 1 }]));
    assert_eq!(a.bucket().keys().collect::<Vec<_>>(), vec!["k1", "k3", "k6"]);
}

#[test]
fn a_transfer_stores_only_newer_versions_and_acks_every_key() {
    let mut s = settled("a");
    let b = addr("b");
    s.handle_message(
        Time(100),
        Peer::Member(&b),
        Msg::Transfer { epoch: Epoch(3), items: vec![item("k1", "old", 3), item("k3", "x", 2)] },
    );
    assert_eq!(
        drain(&mut s),
        (
            vec![to(b.clone(), Msg::TransferAck { epoch: Epoch(3), keys: keys(&["k1", "k3"]) })],
            vec![Event::TransferReceived { from: b.clone(), keys: 2, stored: 2 }],
        )
    );
    let items = vec![item("k1", "new", 5), item("k3", "older", 1), item("k6", "fresh", 1)];
    s.handle_message(Time(200), Peer::Member(&b), Msg::Transfer { epoch: Epoch(3), items });
    assert_eq!(
        drain(&mut s),
        (
            vec![to(b.clone(), Msg::TransferAck { epoch: Epoch(3), keys: keys(&["k1", "k3", "k6"]) })],
            vec![Event::TransferReceived { from: b, keys: 3, stored: 2 }],
        )
    );
    assert_eq!(contents(&s), vec![("k1", "new", 5), ("k3", "x", 2), ("k6", "fresh", 1)]);
}

/// Found by fuzzing: copies skipped the size limits that a write has to pass.
#[test]
fn a_copy_over_the_size_limits_is_neither_stored_nor_acknowledged() {
    let mut s = settled("a");
    let b = addr("b");
    let huge = "v".repeat(crate::Limits::default().value_bytes + 1);
    let items = vec![item("k1", &huge, 3), item("k3", "x", 2)];
    s.handle_message(Time(100), Peer::Member(&b), Msg::Transfer { epoch: Epoch(3), items });
    let reason = format!("copies refused: the value is {} bytes: at most 65536 are kept", huge.len());
    assert_eq!(
        drain(&mut s),
        (
            vec![
                to(b.clone(), Msg::TransferAck { epoch: Epoch(3), keys: keys(&["k3"]) }),
                to(b.clone(), Msg::Error { op: None, reason: reason.clone() }),
            ],
            vec![
                Event::TransferReceived { from: b.clone(), keys: 2, stored: 1 },
                Event::BadMessage { from: b, reason },
            ],
        )
    );
    assert_eq!(contents(&s), vec![("k3", "x", 2)]);
}

#[test]
fn copies_are_taken_only_from_members() {
    let mut s = settled("a");
    let stranger = Addr::from("mallory");
    let items = vec![Item { key: "k1".to_string(), value: "PWNED".to_string(), version: 1000 }];
    s.handle_message(Time(100), Peer::Client(&stranger), Msg::Transfer { epoch: Epoch(3), items });
    let reason = String::from("`transfer` is taken only from members of the cluster");
    assert_eq!(drain(&mut s).0, vec![to(stranger, Msg::Error { op: None, reason })]);
    assert!(s.bucket().is_empty());
}
