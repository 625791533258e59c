//! Smoke suite: the wire format's shape and a whole narrated tour, end to end through the
//! public crates.

use ringside_core::msg::{HeartbeatStatus, LockAnswer, Msg, VoteAnswer};
use ringside_core::{Addr, Epoch, Event, Member, Names, OpId, ServerId, Time, TxId, View};
use ringside_sim::{narrate, scenario, TraceKind};
use serde_json::json;

#[test]
fn messages_are_json_tagged_by_cmd() {
    let hb = Msg::Heartbeat {
        id: ServerId::from("3fa2c1d0"),
        addr: Addr::from("127.0.0.1:38000"),
        epoch: Epoch(2),
        stable: Epoch(2),
        rebalanced: Epoch(1),
        sent: Time(1500),
    };
    assert_eq!(
        serde_json::to_value(&hb).unwrap(),
        json!({"cmd": "heartbeat", "id": "3fa2c1d0", "addr": "127.0.0.1:38000", "epoch": 2, "stable": 2, "rebalanced": 1,
            "sent": 1500})
    );
    let reply = Msg::HeartbeatReply {
        id: ServerId::from("3fa2c1d0"),
        sent: Time(1500),
        status: HeartbeatStatus::Ok {
            epoch: Epoch(3),
            view: Some(View {
                epoch: Epoch(3),
                members: vec![Member { id: ServerId::from("a"), addr: Addr::from("x:1") }],
            }),
            stable: None,
        },
    };
    assert_eq!(
        serde_json::to_value(&reply).unwrap(),
        json!({"cmd": "heartbeat_reply", "id": "3fa2c1d0", "sent": 1500, "status": {"status": "ok", "epoch": 3,
            "view": {"epoch": 3, "members": [{"id": "a", "addr": "x:1"}]}, "stable": null}})
    );
    let vote =
        Msg::Vote { tx: TxId { client: 7, seq: 1 }, server: ServerId::from("a"), vote: VoteAnswer::Yes { version: 4 } };
    assert_eq!(
        serde_json::to_value(&vote).unwrap(),
        json!({"cmd": "vote", "tx": {"client": 7, "seq": 1}, "server": "a", "vote": {"vote": "yes", "version": 4}})
    );
    let lock = Msg::LockReply { op: OpId(9), result: LockAnswer::Retry { position: 2 } };
    assert_eq!(
        serde_json::to_value(&lock).unwrap(),
        json!({"cmd": "lock_reply", "op": 9, "result": {"status": "retry", "position": 2}})
    );
}

#[test]
fn malformed_messages_are_rejected_not_misread() {
    for bad in [
        r#"{"cmd": "set", "op": 1, "key": "k"}"#,
        r#"{"cmd": "launch_missiles"}"#,
        r#"{"cmd": "get", "op": "one", "key": "k"}"#,
        r#"[1, 2, 3]"#,
        r#"{"cmd": "heartbeat""#,
    ] {
        assert!(serde_json::from_str::<Msg>(bad).is_err(), "{bad}");
    }
}

/// Whether an event is of a kind a test looks for.
type EventKind = fn(&Event) -> bool;

#[test]
fn the_tour_narrates_every_chapter_without_violations() {
    let tour = scenario::find("tour").unwrap();
    let played = scenario::play(tour.script(7));
    assert!(played.sim.violation().is_none());
    // Each chapter's event happened, and the narration tells it (a line for that very entry).
    let chapters: [(&str, EventKind); 5] = [
        ("a join", |e| matches!(e, Event::ServerJoined { .. })),
        ("a commit decision", |e| matches!(e, Event::TxDecided { commit: true, .. })),
        ("a failure", |e| matches!(e, Event::ServerFailed { .. })),
        ("a deadlock", |e| matches!(e, Event::LockDeadlock { .. })),
        ("copies moved", |e| matches!(e, Event::RebalanceStarted { copies, .. } if *copies > 0)),
    ];
    for (chapter, happened) in chapters {
        // The narration reads every entry in order, to learn who is who.
        let mut names = Names::default();
        let told = played.sim.trace().entries().iter().any(|entry| {
            let line = narrate::line(entry, false, &mut names);
            matches!(&entry.kind, TraceKind::Event { event, .. } if happened(event)) && line.is_some()
        });
        assert!(told, "the tour shows {chapter}");
    }
    assert_eq!(played.headings.len(), 7);
}
