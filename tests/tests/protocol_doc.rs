//! Keeps `docs/protocol.md` true: every ```json block in it is one real frame, printed exactly
//! as `Frame::encode` prints it; together the blocks show every command and every answer; and
//! the error texts it quotes are the ones the code gives.

use std::collections::BTreeSet;
use std::path::Path;

use ringside_core::msg::{
    HeartbeatStatus, Item, LocalReply, LockAnswer, Msg, NoReason, ReadAnswer, TxState, VoteAnswer,
};
use ringside_core::{
    Addr, Epoch, Member, Node, OpId, Server, ServerConfig, ServerId, Time, TxId, View, ViewLeader, ViewLeaderConfig,
};
use ringside_node::wire::Frame;
use serde_json::Value;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The text of every ```json block, with the line it starts on.
fn json_blocks(doc: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Vec<&str>)> = None;
    for (n, line) in doc.lines().enumerate() {
        match &mut open {
            None if line.trim() == "```json" => open = Some((n + 1, Vec::new())),
            None => {}
            Some(_) if line.trim() == "```" => {
                let (start, lines) = open.take().expect("a block is open");
                blocks.push((start, lines.join("\n")));
            }
            Some((_, lines)) => lines.push(line),
        }
    }
    assert!(open.is_none(), "a ```json block is never closed");
    blocks
}

/// Every block as a frame, checked to be one line that `Frame::encode` prints exactly so.
fn frames(doc: &str) -> Vec<Frame> {
    json_blocks(doc)
        .into_iter()
        .map(|(line, text)| {
            assert!(!text.contains('\n'), "line {line}: one frame per block, on one line:\n{text}");
            let frame = Frame::decode(&text).unwrap_or_else(|e| panic!("line {line}: not a frame ({e}):\n{text}"));
            assert_eq!(frame.encode(), text, "line {line}: not what Frame::encode prints");
            frame
        })
        .collect()
}

/// The variant names serde knows for an internally tagged enum, read from the error it gives
/// for an unknown tag: "unknown variant `?`, expected one of `a`, `b`" (or "`a` or `b`").
fn tags(enum_name: &str, parse_unknown: impl Fn() -> Result<(), serde_json::Error>) -> Vec<String> {
    let error = parse_unknown().expect_err("`?` is no variant").to_string();
    let (_, expected) = error.split_once("expected").unwrap_or_else(|| panic!("{enum_name}: {error}"));
    let names: Vec<String> = expected.split('`').skip(1).step_by(2).map(String::from).collect();
    assert!(!names.is_empty(), "{enum_name}: no variants in {error:?}");
    names
}

/// Every command and answer variant, as ("Msg", "vote"), ("NoReason", "key_busy"), ...
fn every_variant() -> BTreeSet<(&'static str, String)> {
    let lists = [
        ("Msg", tags("Msg", || serde_json::from_str::<Msg>(r#"{"cmd":"?"}"#).map(drop))),
        ("LocalReply", tags("LocalReply", || serde_json::from_str::<LocalReply>(r#"{"status":"?"}"#).map(drop))),
        (
            "HeartbeatStatus",
            tags("HeartbeatStatus", || serde_json::from_str::<HeartbeatStatus>(r#"{"status":"?"}"#).map(drop)),
        ),
        ("LockAnswer", tags("LockAnswer", || serde_json::from_str::<LockAnswer>(r#"{"status":"?"}"#).map(drop))),
        ("VoteAnswer", tags("VoteAnswer", || serde_json::from_str::<VoteAnswer>(r#"{"vote":"?"}"#).map(drop))),
        ("NoReason", tags("NoReason", || serde_json::from_str::<NoReason>(r#"{"reason":"?"}"#).map(drop))),
        ("TxState", tags("TxState", || serde_json::from_str::<TxState>(r#"{"state":"?"}"#).map(drop))),
        ("ReadAnswer", tags("ReadAnswer", || serde_json::from_str::<ReadAnswer>(r#"{"status":"?"}"#).map(drop))),
    ];
    lists.into_iter().flat_map(|(name, tags)| tags.into_iter().map(move |tag| (name, tag))).collect()
}

fn tag(value: Value, field: &str) -> String {
    value[field].as_str().unwrap_or_else(|| panic!("no `{field}` tag in {value}")).to_string()
}

/// The command and answer variants one message shows.
fn shown(msg: &Msg) -> Vec<(&'static str, String)> {
    let mut out = vec![("Msg", tag(serde_json::to_value(msg).expect("serializes"), "cmd"))];
    let value = |v: Result<Value, serde_json::Error>| v.expect("serializes");
    match msg {
        Msg::Reply { result, .. } => out.push(("LocalReply", tag(value(serde_json::to_value(result)), "status"))),
        Msg::HeartbeatReply { status, .. } => {
            out.push(("HeartbeatStatus", tag(value(serde_json::to_value(status)), "status")))
        }
        Msg::LockReply { result, .. } => out.push(("LockAnswer", tag(value(serde_json::to_value(result)), "status"))),
        Msg::Vote { vote, .. } => {
            out.push(("VoteAnswer", tag(value(serde_json::to_value(vote)), "vote")));
            if let VoteAnswer::No { reason } = vote {
                out.push(("NoReason", tag(value(serde_json::to_value(reason)), "reason")));
            }
        }
        Msg::DecisionReply { state, .. } => out.push(("TxState", tag(value(serde_json::to_value(state)), "state"))),
        Msg::GetRReply { result, .. } => out.push(("ReadAnswer", tag(value(serde_json::to_value(result)), "status"))),
        _ => {}
    }
    out
}

/// One value of every `Msg` variant. The match has no wildcard: a new variant does not compile
/// until it is listed there, and `the_samples_cover_every_command` fails until it has a sample.
fn samples() -> Vec<Msg> {
    let tx = TxId { client: 1, seq: 1 };
    let member = Member { id: ServerId::from("a"), addr: Addr::from("h:1") };
    let all = vec![
        Msg::Print { op: OpId(1), text: "t".into() },
        Msg::Set { op: OpId(1), key: "k".into(), value: "v".into() },
        Msg::Get { op: OpId(1), key: "k".into() },
        Msg::QueryAllKeys { op: OpId(1) },
        Msg::Reply { op: OpId(1), result: LocalReply::Ok },
        Msg::Heartbeat {
            id: member.id.clone(),
            addr: member.addr.clone(),
            epoch: Epoch(1),
            stable: Epoch(1),
            rebalanced: Epoch(1),
        },
        Msg::HeartbeatReply {
            id: member.id.clone(),
            status: HeartbeatStatus::Ok {
                epoch: Epoch(1),
                view: Some(View { epoch: Epoch(1), members: vec![member.clone()] }),
                stable: None,
            },
        },
        Msg::QueryServers { op: OpId(1) },
        Msg::Servers { op: OpId(1), epoch: Epoch(1), servers: vec![member.clone()], rebalancing: false },
        Msg::LockGet { op: OpId(1), name: "n".into(), requester: "r".into() },
        Msg::LockRelease { op: OpId(1), name: "n".into(), requester: "r".into() },
        Msg::LockReply { op: OpId(1), result: LockAnswer::Granted },
        Msg::Prepare {
            tx,
            epoch: Epoch(1),
            server: member.id.clone(),
            key: "k".into(),
            value: "v".into(),
            participants: vec![member.clone()],
        },
        Msg::Vote { tx, server: member.id.clone(), vote: VoteAnswer::Yes { version: 0 } },
        Msg::Commit { tx, version: 1 },
        Msg::Abort { tx },
        Msg::Done { tx, server: member.id.clone(), committed: true },
        Msg::DecisionRequest { tx, server: None },
        Msg::DecisionReply { tx, state: TxState::Aborted },
        Msg::GetR { op: OpId(1), epoch: Epoch(1), key: "k".into() },
        Msg::GetRReply { op: OpId(1), server: member.id.clone(), result: ReadAnswer::NotFound },
        Msg::Transfer { epoch: Epoch(1), items: vec![Item { key: "k".into(), value: "v".into(), version: 1 }] },
        Msg::TransferAck { epoch: Epoch(1), keys: vec!["k".into()] },
        Msg::Error { op: None, reason: "r".into() },
    ];
    for msg in &all {
        match msg {
            Msg::Print { .. }
            | Msg::Set { .. }
            | Msg::Get { .. }
            | Msg::QueryAllKeys { .. }
            | Msg::Reply { .. }
            | Msg::Heartbeat { .. }
            | Msg::HeartbeatReply { .. }
            | Msg::QueryServers { .. }
            | Msg::Servers { .. }
            | Msg::LockGet { .. }
            | Msg::LockRelease { .. }
            | Msg::LockReply { .. }
            | Msg::Prepare { .. }
            | Msg::Vote { .. }
            | Msg::Commit { .. }
            | Msg::Abort { .. }
            | Msg::Done { .. }
            | Msg::DecisionRequest { .. }
            | Msg::DecisionReply { .. }
            | Msg::GetR { .. }
            | Msg::GetRReply { .. }
            | Msg::Transfer { .. }
            | Msg::TransferAck { .. }
            | Msg::Error { .. } => {}
        }
    }
    all
}

#[test]
fn every_json_block_is_a_frame_as_encode_prints_it() {
    let frames = frames(&doc());
    assert!(frames.len() > 50, "only {} frames found: is the doc there?", frames.len());
}

#[test]
fn the_samples_cover_every_command() {
    let from_samples: BTreeSet<String> = samples().iter().map(|m| shown(m)[0].1.clone()).collect();
    let from_serde: BTreeSet<String> =
        every_variant().into_iter().filter(|(e, _)| *e == "Msg").map(|(_, tag)| tag).collect();
    assert_eq!(from_samples, from_serde, "samples() needs one value of every Msg variant");
}

#[test]
fn the_doc_shows_every_command_and_answer() {
    let shown: BTreeSet<(&str, String)> = frames(&doc()).iter().flat_map(|f| shown(&f.msg)).collect();
    let missing: Vec<String> = every_variant().difference(&shown).map(|(e, tag)| format!("{e} `{tag}`")).collect();
    assert!(missing.is_empty(), "docs/protocol.md has no example of: {}", missing.join(", "));
}

/// Whether the doc shows a frame with this `re` and message.
fn shows(frames: &[Frame], re: Option<u64>, msg: &Msg) -> bool {
    frames.iter().any(|f| f.re == re && f.msg == *msg)
}

#[test]
fn the_error_texts_are_the_codes() {
    let frames = frames(&doc());
    // The bad frames the errors section shows, sent in this order on one connection.
    for input in [
        "{not json",
        r#"{"v":1,"id":2,"msg":{"cmd":"set","op":2,"key":"k"}}"#,
        r#"{"v":1,"id":3,"msg":{"cmd":"frobnicate","op":3}}"#,
        r#"{"v":1,"id":4,"msg":{"cmd":"get","op":"four","key":"a"}}"#,
        "",
        r#"{"v":2,"id":5,"msg":{"cmd":"get","op":5,"key":"a"}}"#,
    ] {
        let bad = Frame::decode(input).expect_err(input);
        let msg = Msg::Error { op: None, reason: bad.reason.clone() };
        assert!(
            shows(&frames, bad.re, &msg),
            "docs/protocol.md should answer {input:?} with re {:?} and {msg:?}",
            bad.re
        );
    }
    // A message the role does not handle, and a commit nobody prepared, answered by the core.
    let mut server = Server::new(ServerConfig::new(Addr::from("127.0.0.1:38000"), Addr::from("vl"), 1), Time(0));
    let client = Addr::from("client");
    let unknown_tx = TxId { client: 9581093221094517264, seq: 1 };
    server.handle_message(Time(0), &client, Msg::QueryServers { op: OpId(6) });
    server.handle_message(Time(0), &client, Msg::Commit { tx: unknown_tx, version: 1 });
    let mut errors = Vec::new();
    while let Some(t) = server.poll_transmit() {
        assert!(matches!(t.msg, Msg::Error { .. }), "{:?}", t.msg);
        errors.push(t.msg);
    }
    let [unhandled, unknown] = <[Msg; 2]>::try_from(errors).expect("two error replies");
    assert!(
        shows(&frames, Some(6), &unhandled),
        "docs/protocol.md should answer query_servers op 6 with {unhandled:?}"
    );
    let Msg::Error { reason, .. } = unknown else { unreachable!() };
    assert!(doc().contains(&format!("`{reason}`")), "docs/protocol.md should quote {reason:?}");
    // The doc quotes what the view leader says to a `getr`.
    let mut view_leader = ViewLeader::new(ViewLeaderConfig::default(), Time(0));
    view_leader.handle_message(Time(0), &client, Msg::GetR { op: OpId(1), epoch: Epoch(1), key: "a".into() });
    let reply = view_leader.poll_transmit().expect("an error reply").msg;
    let Msg::Error { reason, .. } = reply else { panic!("{reply:?}") };
    assert!(doc().contains(&format!("\"{reason}\"")), "docs/protocol.md should quote {reason:?}");
}
