//! The server rebalancing: agreed senders, deferred writes, acknowledged and dropped copies.

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
    // Until the view is stable it does not answer for a key it did not replicate before.
    d.handle_message(Time(200), Peer::Client(&Addr::from(CL)), getr(1, 4, "k1"));
    assert_eq!(drain(&mut d), (vec![read(1, "d", ReadAnswer::Rebalancing)], vec![]));
}

#[test]
fn writes_to_a_moving_key_wait_for_the_stable_view() {
    let (mut a, _) = holder_learning_d("a");
    let cl = Addr::from(CL);
    let moving = |key| Msg::Prepare {
        tx: tx(1),
        epoch: Epoch(4),
        server: sid("a"),
        key: String::from(key),
        value: "v".to_string(),
        participants: vec![member("a"), member("d"), member("c")],
        secret: secret(tx(1)),
    };
    a.handle_message(Time(400), Peer::Client(&cl), moving("k1"));
    let still = Msg::Prepare {
        tx: tx(2),
        epoch: Epoch(4),
        server: sid("a"),
        key: "k6".to_string(),
        value: "v".to_string(),
        participants: vec![member("c"), member("b"), member("a")],
        secret: secret(tx(2)),
    };
    a.handle_message(Time(400), Peer::Client(&cl), still);
    assert_eq!(
        drain(&mut a),
        (
            vec![vote(tx(1), "a", no(NoReason::Rebalancing)), vote(tx(2), "a", yes(1))],
            vec![voted(tx(1), "k1", Some(NoReason::Rebalancing)), voted(tx(2), "k6", None)],
        )
    );
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
