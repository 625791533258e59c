//! Keeps `docs/protocol.md` true: every ```json block in it is one real frame, printed exactly
//! as `Frame::encode` prints it; together the blocks show every command and every answer; and
//! the error texts it quotes are the ones the code gives. Every line of a ```json record block
//! is a record exactly as a watched node builds it, every line of a ```json ready block a ready
//! line as a process writes it, and every pair of lines of a ```json admin block a command and
//! the reply the cluster's admin endpoint gives it.

use std::collections::BTreeSet;
use std::path::Path;

use ringside_core::msg::{
    HeartbeatStatus, Item, LocalReply, LockAnswer, Msg, NoReason, Proposal, ReadAnswer, TxState, VoteAnswer,
};
use ringside_core::replication::{RaftMsg, Term};
use ringside_core::view_leader::{ReplicaState, ViewCommand, ViewState};
use ringside_core::{
    Addr, Epoch, Event, Member, Node, OpId, Peer, Server, ServerConfig, ServerId, Time, TxId, TxSecret, View,
    ViewLeader, ViewLeaderConfig,
};
use ringside_node::admin::{self, AdminCommand, Answer, ListedServer};
use ringside_node::ready::Ready;
use ringside_node::watch::{Identity, Watch};
use ringside_node::wire::Frame;
use serde_json::Value;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The text of every ```json block, with the line it starts on.
fn json_blocks(doc: &str) -> Vec<(usize, String)> {
    blocks(doc, "json")
}

/// The text of every block fenced as ```INFO, with the line it starts on.
fn blocks(doc: &str, info: &str) -> Vec<(usize, String)> {
    let fence = format!("```{info}");
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Vec<&str>)> = None;
    for (n, line) in doc.lines().enumerate() {
        match &mut open {
            None if line.trim() == fence => open = Some((n + 1, Vec::new())),
            None => {}
            Some(_) if line.trim() == "```" => {
                let (start, lines) = open.take().expect("a block is open");
                blocks.push((start, lines.join("\n")));
            }
            Some((_, lines)) => lines.push(line),
        }
    }
    assert!(open.is_none(), "a ```{info} block is never closed");
    blocks
}

/// Every line of the blocks fenced as ```INFO, with its line number.
fn lines_of(doc: &str, info: &str) -> Vec<(usize, String)> {
    blocks(doc, info)
        .into_iter()
        .flat_map(|(start, text)| {
            text.lines().enumerate().map(|(n, line)| (start + 1 + n, line.to_string())).collect::<Vec<_>>()
        })
        .collect()
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

type ViewRaft = RaftMsg<ViewCommand, ViewState>;

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
        ("RaftMsg", tags("RaftMsg", || serde_json::from_str::<ViewRaft>(r#"{"rpc":"?"}"#).map(drop))),
        ("ViewCommand", tags("ViewCommand", || serde_json::from_str::<ViewCommand>(r#"{"do":"?"}"#).map(drop))),
    ];
    // `recover` is a lone view leader's, which keeps no log: no frame carries it.
    let logged = |name: &str, tag: &str| !(name == "ViewCommand" && tag == "recover");
    lists
        .into_iter()
        .flat_map(|(name, tags)| tags.into_iter().filter(move |t| logged(name, t)).map(move |tag| (name, tag)))
        .collect()
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
        Msg::Raft { msg } => {
            out.push(("RaftMsg", tag(value(serde_json::to_value(msg)), "rpc")));
            if let RaftMsg::Append { entries, .. } = &**msg {
                for cmd in entries.iter().filter_map(|e| e.cmd.as_ref()) {
                    out.push(("ViewCommand", tag(value(serde_json::to_value(cmd)), "do")));
                }
            }
        }
        _ => {}
    }
    out
}

/// One value of every `Msg` variant. The match has no wildcard: a new variant does not compile
/// until it is listed there, and `the_samples_cover_every_command` fails until it has a sample.
fn samples() -> Vec<Msg> {
    let tx = TxId { client: 1, seq: 1 };
    let secret = TxSecret::new(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
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
            sent: Time(1),
        },
        Msg::HeartbeatReply {
            id: member.id.clone(),
            sent: Time(1),
            status: HeartbeatStatus::Ok {
                epoch: Epoch(1),
                view: Some(View { epoch: Epoch(1), members: vec![member.clone()] }),
                stable: None,
            },
        },
        Msg::QueryServers { op: OpId(1) },
        Msg::Servers {
            op: OpId(1),
            epoch: Epoch(1),
            servers: vec![member.clone()],
            rebalancing: false,
            stable: vec![],
        },
        Msg::LockGet { op: OpId(1), name: "n".into(), requester: "r".into(), session: 0 },
        Msg::LockRelease { op: OpId(1), name: "n".into(), requester: "r".into(), session: 0 },
        Msg::LockReply { op: OpId(1), result: LockAnswer::Granted },
        Msg::Prepare {
            tx,
            epoch: Epoch(1),
            server: member.id.clone(),
            key: "k".into(),
            value: "v".into(),
            participants: vec![member.clone()],
            secret,
        },
        Msg::Vote { tx, server: member.id.clone(), vote: VoteAnswer::Yes { version: 0 } },
        Msg::Commit { tx, version: 1, secret },
        Msg::Abort { tx, secret },
        Msg::Done { tx, server: member.id.clone(), committed: true },
        Msg::DecisionRequest { tx, server: None },
        Msg::DecisionReply { tx, state: TxState::Aborted },
        Msg::Takeover { tx, server: member.id.clone(), ballot: 1 },
        Msg::Promise { tx, server: member.id.clone(), ballot: 1, accepted: None },
        Msg::Accept { tx, server: member.id.clone(), proposal: Proposal { ballot: 1, version: None } },
        Msg::Accepted { tx, server: member.id.clone(), ballot: 1 },
        Msg::GetR { op: OpId(1), epoch: Epoch(1), key: "k".into() },
        Msg::GetRReply { op: OpId(1), server: member.id.clone(), result: ReadAnswer::NotFound },
        Msg::Transfer { epoch: Epoch(1), items: vec![Item { key: "k".into(), value: "v".into(), version: 1 }] },
        Msg::TransferAck { epoch: Epoch(1), keys: vec!["k".into()] },
        Msg::Raft { msg: Box::new(RaftMsg::Vote { term: Term(1), granted: true }) },
        Msg::NotLeader { op: OpId(1), leader: None },
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
            | Msg::Takeover { .. }
            | Msg::Promise { .. }
            | Msg::Accept { .. }
            | Msg::Accepted { .. }
            | Msg::GetR { .. }
            | Msg::GetRReply { .. }
            | Msg::Transfer { .. }
            | Msg::TransferAck { .. }
            | Msg::Raft { .. }
            | Msg::NotLeader { .. }
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
    server.handle_message(Time(0), Peer::Client(&client), Msg::QueryServers { op: OpId(6) });
    let secret = TxSecret::new(1);
    server.handle_message(Time(0), Peer::Client(&client), Msg::Commit { tx: unknown_tx, version: 1, secret });
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
    view_leader.handle_message(
        Time(0),
        Peer::Client(&client),
        Msg::GetR { op: OpId(1), epoch: Epoch(1), key: "a".into() },
    );
    let reply = view_leader.poll_transmit().expect("an error reply").msg;
    let Msg::Error { reason, .. } = reply else { panic!("{reply:?}") };
    assert!(doc().contains(&format!("\"{reason}\"")), "docs/protocol.md should quote {reason:?}");
}

/// A record's fields after `kind`, as raw text: `{"t":..,"node":..,"kind":"send",` REST `}`.
fn raw_field<'a>(record: &'a str, field: &str) -> &'a str {
    let key = format!(",\"{field}\":");
    let start = record.find(&key).unwrap_or_else(|| panic!("no {field} in {record}")) + key.len();
    &record[start..record.len() - 1]
}

/// `record` with its time set to `t`: the doc's records were taken at their own moments.
fn at(record: &str, t: u64) -> String {
    let (_, rest) = record.split_once(',').expect("a record has fields after t");
    format!("{{\"t\":{t},{rest}")
}

#[test]
fn every_record_is_what_a_watched_node_builds() {
    let doc = doc();
    let records = lines_of(&doc, "json record");
    let mut kinds = BTreeSet::new();
    let mut values = Vec::new();
    for (line, text) in &records {
        let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("line {line}: not JSON ({e}): {text}"));
        let (t, node) = (value["t"].as_u64().expect("t"), Addr::from(value["node"].as_str().expect("node")));
        let kind = value["kind"].as_str().expect("kind").to_string();
        let str_of =
            |field: &str| value[field].as_str().unwrap_or_else(|| panic!("line {line}: no {field}")).to_string();
        let watch = Watch::new(&node, Identity::ViewLeader);
        let mut watching = watch.subscribe(ringside_node::watch::FILE_BUDGET);
        let built = match kind.as_str() {
            "hello" => {
                let role = match value["id"].as_str() {
                    Some(id) => Identity::Server(ServerId::from(id)),
                    None => Identity::ViewLeader,
                };
                Watch::new(&node, role).hello()
            }
            "replica" => {
                let state: ReplicaState = serde_json::from_value(value["state"].clone())
                    .unwrap_or_else(|e| panic!("line {line}: not a replica's state ({e})"));
                watch.replica(&state);
                watching.try_recv().expect("a replica record")
            }
            "dropped" => watch.dropped(value["missed"].as_u64().expect("missed"), &str_of("reason")),
            "send" | "recv" => {
                let frame = raw_field(text, "frame");
                let decoded = Frame::decode(frame).unwrap_or_else(|e| panic!("line {line}: not a frame ({e})"));
                assert_eq!(decoded.encode(), frame, "line {line}: not what Frame::encode prints");
                if kind == "send" {
                    watch.send_record(&str_of("peer"), frame, None)
                } else {
                    watch.received(&str_of("peer"), frame, None);
                    watching.try_recv().expect("a recv record")
                }
            }
            "event" => {
                let event: Event = serde_json::from_value(value["event"].clone())
                    .unwrap_or_else(|e| panic!("line {line}: not an event ({e})"));
                watch.event(&event);
                watching.try_recv().expect("an event record")
            }
            other => panic!("line {line}: unknown kind {other}"),
        };
        assert_eq!(at(built.as_str(), t), *text, "line {line}: not the record a node builds");
        kinds.insert(kind);
        values.push(value);
    }
    let every: BTreeSet<String> = ["hello", "send", "recv", "event", "replica", "dropped"].map(String::from).into();
    assert_eq!(kinds, every, "docs/protocol.md should show a record of every kind");
    // Each `send` to a listening node is shown with its `recv` on the other side: the same
    // frame, under (sender, id).
    for send in
        values.iter().filter(|v| v["kind"] == "send" && !v["peer"].as_str().unwrap_or("").starts_with("client#"))
    {
        let matched = values.iter().any(|v| {
            v["kind"] == "recv" && v["node"] == send["peer"] && v["peer"] == send["node"] && v["frame"] == send["frame"]
        });
        assert!(matched, "docs/protocol.md shows no recv for {send}");
    }
    // The event section names every event.
    let events = tags("Event", || serde_json::from_str::<Event>(r#"{"event":"?"}"#).map(drop));
    let missing: Vec<&String> = events.iter().filter(|tag| !doc.contains(&format!("`{tag}`"))).collect();
    assert!(missing.is_empty(), "docs/protocol.md does not name the events {missing:?}");
}

#[test]
fn every_ready_line_is_what_a_process_writes() {
    let mut shown = BTreeSet::new();
    for (line, text) in lines_of(&doc(), "json ready") {
        let ready = Ready::parse(&text).unwrap_or_else(|| panic!("line {line}: not a ready line: {text}"));
        assert_eq!(ready.line(), text, "line {line}: not the line a process writes");
        let value: Value = serde_json::from_str(&text).expect("JSON");
        shown.insert(tag(value["ready"].clone(), "role"));
    }
    let roles: BTreeSet<String> =
        tags("Ready", || serde_json::from_str::<Ready>(r#"{"role":"?"}"#).map(drop)).into_iter().collect();
    assert_eq!(shown, roles, "docs/protocol.md should show the ready line of every role");
}

fn entry(value: &Value) -> ListedServer {
    let text = |field: &str| value[field].as_str().unwrap_or_else(|| panic!("no {field} in {value}")).to_string();
    let state = match value["state"].as_str() {
        Some("running") => "running",
        Some("killed") => "killed",
        Some("exited") => "exited",
        other => panic!("no such state {other:?} in {value}"),
    };
    ListedServer { label: text("label"), addr: text("addr"), id: value["id"].as_str().map(String::from), state }
}

#[test]
fn every_admin_reply_is_what_the_endpoint_answers() {
    let lines = lines_of(&doc(), "json admin");
    assert_eq!(lines.len() % 2, 0, "admin blocks hold pairs of a command and its reply");
    let mut shown = BTreeSet::new();
    for pair in lines.chunks(2) {
        let [(line, command), (_, reply)] = pair else { unreachable!("chunks of two") };
        let value: Value = serde_json::from_str(reply).unwrap_or_else(|e| panic!("line {}: not JSON ({e})", line + 1));
        let expected = match admin::parse(command) {
            Err((re, error)) => {
                shown.insert("a malformed command");
                admin::reply(re, Answer::Error { error })
            }
            Ok((id, command)) => {
                let answer = if value["ok"] == false {
                    shown.insert("a failed command");
                    Answer::Error { error: value["error"].as_str().expect("an error").to_string() }
                } else {
                    match command {
                        AdminCommand::List => {
                            shown.insert("list");
                            let viewleader = value["viewleader"].as_str().expect("viewleader").to_string();
                            let servers = value["servers"].as_array().expect("servers").iter().map(entry).collect();
                            Answer::List { viewleader, servers }
                        }
                        AdminCommand::Add | AdminCommand::Kill { .. } | AdminCommand::Restart { .. } => {
                            shown.insert(match command {
                                AdminCommand::Add => "add",
                                AdminCommand::Kill { .. } => "kill",
                                _ => "restart",
                            });
                            Answer::Server { server: entry(&value["server"]) }
                        }
                    }
                };
                admin::reply(Some(id), answer)
            }
        };
        assert_eq!(*reply, expected, "line {}: not the reply to {command}", line + 1);
    }
    let every = BTreeSet::from(["list", "add", "kill", "restart", "a failed command", "a malformed command"]);
    assert_eq!(shown, every, "docs/protocol.md should show each admin command and both kinds of error");
}
