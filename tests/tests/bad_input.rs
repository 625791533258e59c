//! Bad input, end to end: real `ringside` processes on loopback are fed what no well-behaved
//! peer sends — broken JSON, the wrong shapes, unknown commands, wrong types, empty, binary and
//! oversized frames, messages meant for another role, heaps of abandoned connections, and a
//! coordinator that vanishes in the middle of two-phase commit. Every listening port (the view
//! leader's and the servers') must answer a bad frame or message with an error frame (or close
//! cleanly, for frames over the limit), record what it refused, and go on serving with the data
//! written before intact. Broken WebSocket framing and abandoned connections only have to end
//! without harm: there is no one to answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ringside_core::Msg;
use ringside_tests::{Peer, Process, TestCluster};
use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

/// The default frame limit of a node (`--max-frame`, 1 MiB).
const MAX_FRAME: usize = 1 << 20;
/// How long any one answer may take.
const ANSWER: Duration = Duration::from_secs(5);
/// The secret a hand-made coordinator puts in its prepare and repeats in its decision.
const SECRET: &str = "5ec2e75ec2e75ec2e75ec2e75ec2e700";
/// How long a record may take to show up in a node's events file.
const RECORDED: Duration = Duration::from_secs(5);

// ---- a raw WebSocket of our own

/// A WebSocket to a node that knows its own address, has read and write timeouts, and can write
/// any bytes at all.
struct Ws {
    socket: tungstenite::WebSocket<TcpStream>,
    local: SocketAddr,
}

/// What came back on a connection.
#[derive(Debug)]
enum Got {
    /// A text frame, as JSON.
    Frame(Value),
    /// A Close frame, with its code.
    Closed(Option<u16>),
    /// The connection ended without a Close frame.
    Gone(String),
}

impl Ws {
    fn connect(addr: &str) -> Ws {
        let tcp = tcp_connect(addr);
        tcp.set_read_timeout(Some(ANSWER)).expect("a read timeout");
        tcp.set_write_timeout(Some(ANSWER)).expect("a write timeout");
        let local = tcp.local_addr().expect("a local address");
        let (socket, _) = tungstenite::client(format!("ws://{addr}/?key={}", ringside_tests::CLUSTER_KEY), tcp)
            .unwrap_or_else(|e| panic!("{addr} refused a WebSocket handshake: {e}"));
        Ws { socket, local }
    }

    fn send(&mut self, message: Message) -> tungstenite::Result<()> {
        self.socket.send(message)
    }

    fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).expect("the frame is sent");
    }

    fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string());
    }

    /// Writes bytes past the WebSocket layer (hand-made frames).
    fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let tcp = self.socket.get_mut();
        tcp.write_all(bytes)?;
        tcp.flush()
    }

    /// The next text frame, Close or end of the connection; panics after [`ANSWER`] of silence.
    fn next(&mut self) -> Got {
        loop {
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    let value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("the node sent a text frame that is not JSON ({e}): {text}"));
                    return Got::Frame(value);
                }
                Ok(Message::Close(close)) => return Got::Closed(close.map(|c| u16::from(c.code))),
                Ok(Message::Binary(bytes)) => panic!("the node sent a binary frame: {bytes:?}"),
                Ok(_) => {} // ping, pong
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    panic!("no answer within {ANSWER:?} on {}", self.local)
                }
                Err(e) => return Got::Gone(e.to_string()),
            }
        }
    }

    /// The next text frame; panics on anything else.
    fn frame(&mut self) -> Value {
        match self.next() {
            Got::Frame(value) => value,
            other => panic!("expected a frame on {}, got {other:?}", self.local),
        }
    }
}

fn tcp_connect(addr: &str) -> TcpStream {
    let addr: SocketAddr = addr.parse().expect("a host:port");
    TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"))
}

/// One hand-made client frame (masked, as clients must).
fn raw_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = raw_header(fin, opcode, payload.len() as u64);
    let mask = [0x5a, 0x17, 0xc3, 0x08];
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A masked frame header announcing `len` payload bytes (the mask included, payload not).
fn raw_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xffff => {
            out.push(0x80 | 126);
            out.extend((len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend(len.to_be_bytes());
        }
    }
    out.extend([0x5a, 0x17, 0xc3, 0x08]);
    out
}

// ---- the cluster, its data and its ports

/// A few keys written through the cluster with `setr` before any bad input, and what `getr`
/// answered for them then.
struct Seeded {
    keys: Vec<(String, Value)>,
}

impl Seeded {
    fn write(cluster: &TestCluster) -> Seeded {
        let mut keys = Vec::new();
        for (key, value) in [("seed-a", "alpha"), ("seed-b", "beta with spaces"), ("seed-ü", "grüße, ✓ \"quoted\"")]
        {
            let w = cluster.client(&["--json", "setr", key, value]);
            assert!(w.ok, "setr {key}: {w:?}");
            let r = cluster.client(&["--json", "getr", key]);
            assert!(r.ok, "getr {key}: {r:?}");
            let result = r.json()["result"].clone();
            assert_eq!(result["value"], value, "{r:?}");
            keys.push((key.to_string(), result));
        }
        Seeded { keys }
    }

    /// `getr` still answers exactly what it answered right after the writes.
    fn assert_intact(&self, cluster: &TestCluster) {
        for (key, before) in &self.keys {
            let r = cluster.client(&["--json", "getr", key]);
            assert!(r.ok, "getr {key} after the bad input: {r:?}");
            assert_eq!(&r.json()["result"], before, "{key} changed: {r:?}");
        }
    }

    fn first(&self) -> (&str, &str) {
        let (key, result) = &self.keys[0];
        (key, result["value"].as_str().expect("a value"))
    }
}

/// Which role listens on a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    ViewLeader,
    Server,
}

/// Every listening port of the cluster, with its role.
fn ports(cluster: &TestCluster) -> Vec<(Role, &Process)> {
    let mut all = vec![(Role::ViewLeader, &cluster.view_leader)];
    all.extend(cluster.servers.iter().map(|s| (Role::Server, s)));
    all
}

/// Asks the node on `ws` a question of its role and checks the answer: the view leader's view
/// (the settled epoch, three servers), a server's local copy of a seeded key.
fn probe(ws: &mut Ws, role: Role, id: u64, epoch: u64, seeded: &Seeded) {
    ws.send_json(&probe_frame(role, id, seeded));
    check_probe(ws.frame(), role, id, epoch, seeded);
}

/// The probe's request.
fn probe_frame(role: Role, id: u64, seeded: &Seeded) -> Value {
    let msg = match role {
        Role::ViewLeader => json!({"cmd": "query_servers", "op": id}),
        Role::Server => json!({"cmd": "get", "op": id, "key": seeded.first().0}),
    };
    json!({"v": 1, "id": id, "msg": msg})
}

/// Checks the answer to [`probe_frame`].
fn check_probe(reply: Value, role: Role, id: u64, epoch: u64, seeded: &Seeded) {
    let value = seeded.first().1;
    assert_eq!(reply["re"], id, "the probe's answer names it: {reply}");
    let msg = &reply["msg"];
    assert_eq!(msg["op"], id, "{reply}");
    match role {
        Role::ViewLeader => {
            assert_eq!(msg["cmd"], "servers", "{reply}");
            assert_eq!(msg["epoch"], epoch, "the view changed: {reply}");
            assert_eq!(msg["servers"].as_array().map(Vec::len), Some(3), "{reply}");
        }
        Role::Server => {
            assert_eq!(msg["cmd"], "reply", "{reply}");
            assert_eq!(msg["result"], json!({"status": "value", "value": value}), "{reply}");
        }
    }
}

/// Probes on a brand-new connection: the node still accepts and answers.
fn probe_fresh(node: &Process, role: Role, epoch: u64, seeded: &Seeded) {
    let mut ws = Ws::connect(&node.addr);
    probe(&mut ws, role, 424_242, epoch, seeded);
}

/// Waits until more than `before` of `node`'s records pass `check`; returns those that do.
fn await_records(node: &Process, before: usize, what: &str, check: impl Fn(&Value) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let found: Vec<Value> = node.records().into_iter().filter(|r| check(r)).collect();
        if found.len() > before {
            return found;
        }
        assert!(start.elapsed() < RECORDED, "{} never recorded {what}; it recorded {found:?}", node.addr);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `record` is an `error` frame the node sent to a client (`client#N`, the node's name
/// for a connection whose peer does not listen).
fn error_to_a_client(record: &Value) -> bool {
    record["kind"] == "send"
        && record["frame"]["msg"]["cmd"] == "error"
        && record["peer"].as_str().is_some_and(|p| p.starts_with("client#"))
}

/// The node's name for the connection that sent the probe `id`, from the probe's `recv` record.
fn peer_of_probe(node: &Process, id: u64) -> String {
    let probe = |r: &Value| r["kind"] == "recv" && r["frame"]["id"] == id && r["frame"]["msg"]["op"] == id;
    let recv = await_records(node, 0, &format!("the probe {id}"), probe);
    recv[0]["peer"].as_str().expect("a peer").to_string()
}

/// Whether `event` is a `bad_message` from a client (`client#N`) with this reason.
fn bad_message_from_a_client(event: &Value, reason: &str) -> bool {
    event["event"] == "bad_message"
        && event["from"].as_str().is_some_and(|f| f.starts_with("client#"))
        && event["reason"] == reason
}

/// Waits until more than `before` of `node`'s events are a client's bad message with `reason`.
fn await_bad_message(node: &Process, before: usize, reason: &str) {
    let check = |r: &Value| r["kind"] == "event" && bad_message_from_a_client(&r["event"], reason);
    await_records(node, before, &format!("a bad message {reason:?}"), check);
}

fn count_bad_messages(node: &Process, reason: &str) -> usize {
    node.events().iter().filter(|e| bad_message_from_a_client(e, reason)).count()
}

/// The error frame a node answers a bad frame with; checks its envelope.
fn assert_error(reply: &Value, node: &Process, re: Option<u64>, reason: &str, what: &str) -> String {
    assert_eq!(reply["v"], 1, "{what}: {reply}");
    assert_eq!(reply["from"], node.addr.as_str(), "{what}: {reply}");
    assert_eq!(reply["msg"]["cmd"], "error", "{what}: expected an error reply, got {reply}");
    assert_eq!(reply["re"], re.map_or(Value::Null, Value::from), "{what}: the error names the frame: {reply}");
    let text = reply["msg"]["reason"].as_str().unwrap_or_else(|| panic!("{what}: no reason in {reply}"));
    assert!(text.contains(reason), "{what}: the reason {text:?} should contain {reason:?}");
    text.to_string()
}

// ---- malformed frames

/// One bad frame, the `re` its error reply must carry and a piece of the reason it must give.
struct BadCase {
    what: &'static str,
    frame: Message,
    re: Option<u64>,
    reason: &'static str,
}

fn bad(what: &'static str, text: impl Into<String>, re: Option<u64>, reason: &'static str) -> BadCase {
    BadCase { what, frame: Message::text(text.into()), re, reason }
}

fn bad_frames() -> Vec<BadCase> {
    let deep = format!("{{\"v\":1,\"id\":13,\"msg\":{{\"cmd\":\"get\",\"op\":13,\"key\":{}", "[".repeat(100_000));
    vec![
        // Malformed JSON.
        bad("malformed JSON", "{not json", None, "malformed JSON"),
        bad("truncated JSON", r#"{"v":1,"id":11,"msg":{"cmd":"get","op":11,"#, None, "malformed JSON"),
        bad("trailing garbage", r#"{"v":1,"id":12,"msg":{"cmd":"query_servers","op":12}} }"#, None, "malformed JSON"),
        bad("100,000 nested arrays", deep, None, "recursion limit exceeded"),
        bad(
            "a lone surrogate escape",
            r#"{"v":1,"id":15,"msg":{"cmd":"get","op":15,"key":"\ud800"}}"#,
            Some(15),
            "malformed JSON",
        ),
        // Numbers past the largest a frame may carry (2^53 - 1).
        bad(
            "a heartbeat at epoch 2^64 - 1",
            r#"{"v":1,"id":16,"msg":{"cmd":"heartbeat","id":"z","addr":"127.0.0.1:9","epoch":18446744073709551615,"stable":0,"rebalanced":0}}"#,
            Some(16),
            "epoch 18446744073709551615 is out of range",
        ),
        bad(
            "a commit at version 2^64 - 1",
            r#"{"v":1,"id":17,"msg":{"cmd":"commit","tx":{"client":1,"seq":1},"version":18446744073709551615,"secret":"0123456789abcdef0123456789abcdef"}}"#,
            Some(17),
            "version 18446744073709551615 is out of range",
        ),
        // JSON of the wrong shape.
        bad("an array", "[1,2,3]", None, "wrong message shape"),
        bad("a number", "42", None, "wrong message shape"),
        bad("null", "null", None, "wrong message shape"),
        bad("a string", r#""query_servers""#, None, "wrong message shape"),
        bad("an object without msg", r#"{"v":1,"id":20}"#, Some(20), "missing field `msg`"),
        bad("an object without v", r#"{"id":21,"msg":{"cmd":"query_servers","op":21}}"#, Some(21), "missing field `v`"),
        bad("a msg without cmd", r#"{"v":1,"id":22,"msg":{"op":22}}"#, Some(22), "wrong message shape"),
        bad("a msg that is a string", r#"{"v":1,"id":23,"msg":"get"}"#, Some(23), "wrong message shape"),
        bad("an empty object", "{}", None, "wrong message shape"),
        bad(
            "a duplicated id",
            r#"{"v":1,"id":24,"id":25,"msg":{"cmd":"query_servers","op":24}}"#,
            None,
            "duplicate field",
        ),
        // Unknown commands.
        bad(
            "an unknown command",
            r#"{"v":1,"id":30,"msg":{"cmd":"frobnicate","op":30}}"#,
            Some(30),
            "unknown variant `frobnicate`",
        ),
        bad(
            "a command in capitals",
            r#"{"v":1,"id":31,"msg":{"cmd":"GET","op":31,"key":"a"}}"#,
            Some(31),
            "unknown variant `GET`",
        ),
        bad("an empty command", r#"{"v":1,"id":32,"msg":{"cmd":""}}"#, Some(32), "unknown variant ``"),
        bad("a numeric command", r#"{"v":1,"id":33,"msg":{"cmd":7}}"#, Some(33), "wrong message shape"),
        // Wrong argument types.
        bad(
            "op as a string",
            r#"{"v":1,"id":40,"msg":{"cmd":"get","op":"three","key":"a"}}"#,
            Some(40),
            "invalid type",
        ),
        bad("key as a number", r#"{"v":1,"id":41,"msg":{"cmd":"get","op":41,"key":5}}"#, Some(41), "invalid type"),
        bad(
            "a negative op",
            r#"{"v":1,"id":42,"msg":{"cmd":"query_servers","op":-1}}"#,
            Some(42),
            "wrong message shape",
        ),
        bad(
            "an op past u64",
            r#"{"v":1,"id":43,"msg":{"cmd":"query_servers","op":18446744073709551616}}"#,
            Some(43),
            "wrong message shape",
        ),
        bad("a fractional op", r#"{"v":1,"id":44,"msg":{"cmd":"query_servers","op":1.5}}"#, Some(44), "invalid type"),
        bad("a missing key", r#"{"v":1,"id":45,"msg":{"cmd":"get","op":45}}"#, Some(45), "missing field `key`"),
        bad(
            "a tx id as a string",
            r#"{"v":1,"id":46,"msg":{"cmd":"commit","tx":"tx1.1","version":1}}"#,
            Some(46),
            "invalid type",
        ),
        bad(
            "a participant without addr",
            r#"{"v":1,"id":47,"msg":{"cmd":"prepare","tx":{"client":1,"seq":1},"epoch":1,"server":"x","key":"k","value":"v","participants":[{"id":"x"}]}}"#,
            Some(47),
            "missing field `addr`",
        ),
        bad("id as a string", r#"{"v":"1","id":"48","msg":{"cmd":"query_servers","op":48}}"#, None, "invalid type"),
        bad("a negative id", r#"{"v":1,"id":-49,"msg":{"cmd":"query_servers","op":49}}"#, None, "wrong message shape"),
        // Another protocol version.
        bad(
            "protocol version 2",
            r#"{"v":2,"id":50,"msg":{"cmd":"query_servers","op":50}}"#,
            Some(50),
            "unsupported protocol version 2",
        ),
        bad(
            "protocol version 0",
            r#"{"v":0,"id":51,"msg":{"cmd":"query_servers","op":51}}"#,
            Some(51),
            "unsupported protocol version 0",
        ),
        // Empty text frames.
        bad("an empty text frame", "", None, "empty frame"),
        bad("a text frame of whitespace", " \n\t ", None, "empty frame"),
        // Binary frames.
        BadCase {
            what: "a binary frame holding a valid request",
            frame: Message::binary(br#"{"v":1,"id":60,"msg":{"cmd":"query_servers","op":60}}"#.to_vec()),
            re: None,
            reason: "binary frames are not spoken here",
        },
        BadCase {
            what: "an empty binary frame",
            frame: Message::binary(Vec::new()),
            re: None,
            reason: "binary frames",
        },
        BadCase {
            what: "a binary frame of junk",
            frame: Message::binary(vec![0xff, 0x00, 0xfe, 0x01]),
            re: None,
            reason: "binary frames",
        },
    ]
}

/// Malformed JSON, JSON of the wrong shape, unknown commands, wrong argument types, another
/// protocol version, empty text frames and binary frames, sent one after another down a single
/// connection to every port: each gets an error frame naming the offending frame's `id` when it
/// has a readable one, each is recorded as an error sent to that connection, the same connection
/// answers a normal request right after each, a new connection is still accepted, and the data
/// written before reads back unchanged.
#[test]
fn malformed_frames_get_error_replies_on_every_port() {
    let cluster = TestCluster::start(3);
    let seeded = Seeded::write(&cluster);
    let epoch = ringside_tests::view(&cluster.vl()).expect("a view").0;
    for (role, node) in ports(&cluster) {
        let mut ws = Ws::connect(&node.addr);
        for (n, case) in bad_frames().into_iter().enumerate() {
            let what = format!("{} to the {role:?} at {}", case.what, node.addr);
            ws.send(case.frame).unwrap_or_else(|e| panic!("{what}: cannot send: {e}"));
            let reply = ws.frame();
            assert_error(&reply, node, case.re, case.reason, &what);
            let id = 1_000 + n as u64;
            probe(&mut ws, role, id, epoch, &seeded);
            // The probe's `recv` names this connection, and comes after the refusal's `send`.
            let peer = peer_of_probe(node, id);
            let refusals: Vec<Value> =
                node.records().into_iter().filter(|r| error_to_a_client(r) && r["peer"] == peer.as_str()).collect();
            assert_eq!(refusals.len(), n + 1, "{what}: recorded once: {refusals:?}");
            assert_eq!(refusals[n]["frame"], reply, "{what}: recorded as the error it sent");
        }
        // Not bad input, but the same parser: unknown fields are ignored however deeply they
        // nest (without recursing, so without a stack to overflow).
        let mut deep = probe_frame(role, 3_000, &seeded).to_string();
        deep.insert_str(1, &format!("\"junk\":{}{},", "[".repeat(400_000), "]".repeat(400_000)));
        ws.send_text(&deep);
        check_probe(ws.frame(), role, 3_000, epoch, &seeded);
        probe_fresh(node, role, epoch, &seeded);
    }
    seeded.assert_intact(&cluster);
}

// ---- messages for another role

/// Messages well-formed but meant for another role: the view leader refuses what servers
/// handle and a server refuses what the view leader or a client handles, each with an error
/// reply naming the frame and the request's op, and each recorded as a bad message. An `error`
/// message sent to a node is recorded but never answered (answering could ping-pong forever).
/// The view, the data and the connection survive all of it.
#[test]
fn messages_for_another_role_get_error_replies() {
    let cluster = TestCluster::start(3);
    let seeded = Seeded::write(&cluster);
    let (epoch, ids, _) = ringside_tests::view(&cluster.vl()).expect("a view");
    let tx = json!({"client": 999_997, "seq": 1});
    let members: Vec<Value> = cluster.servers.iter().map(|s| json!({"id": s.id, "addr": s.addr})).collect();
    let prepare = json!({"cmd": "prepare", "tx": tx, "epoch": epoch, "server": ids[0], "key": "seed-a",
        "value": "overwritten", "participants": members, "secret": SECRET});
    let for_the_view_leader = vec![
        ("prepare", prepare, None),
        ("commit", json!({"cmd": "commit", "tx": tx, "version": 99, "secret": SECRET}), None),
        ("abort", json!({"cmd": "abort", "tx": tx, "secret": SECRET}), None),
        ("getr", json!({"cmd": "getr", "op": 7, "epoch": epoch, "key": "seed-a"}), Some(7)),
        ("set", json!({"cmd": "set", "op": 8, "key": "seed-a", "value": "overwritten"}), Some(8)),
        (
            "transfer",
            json!({"cmd": "transfer", "epoch": epoch, "items": [{"key": "seed-a", "value": "x", "version": 99}]}),
            None,
        ),
        ("decision_request", json!({"cmd": "decision_request", "tx": tx, "server": null}), None),
        ("vote", json!({"cmd": "vote", "tx": tx, "server": ids[0], "vote": {"vote": "yes", "version": 0}}), None),
        ("servers", json!({"cmd": "servers", "op": 9, "epoch": 999, "servers": [], "rebalancing": false}), None),
    ];
    let for_a_server = vec![
        ("query_servers", json!({"cmd": "query_servers", "op": 7}), Some(7)),
        ("lock_get", json!({"cmd": "lock_get", "op": 8, "name": "l", "requester": "me"}), Some(8)),
        ("lock_release", json!({"cmd": "lock_release", "op": 9, "name": "l", "requester": "me"}), Some(9)),
        (
            "heartbeat",
            json!({"cmd": "heartbeat", "id": "evil", "addr": "127.0.0.1:1", "epoch": 999,
            "stable": 999, "rebalanced": 999, "sent": 1}),
            None,
        ),
        ("vote", json!({"cmd": "vote", "tx": tx, "server": ids[0], "vote": {"vote": "yes", "version": 0}}), None),
        ("done", json!({"cmd": "done", "tx": tx, "server": ids[0], "committed": true}), None),
        ("servers", json!({"cmd": "servers", "op": 10, "epoch": 999, "servers": [], "rebalancing": false}), None),
        ("reply", json!({"cmd": "reply", "op": 11, "result": {"status": "ok"}}), None),
        ("lock_reply", json!({"cmd": "lock_reply", "op": 12, "result": {"status": "granted"}}), None),
        ("getr_reply", json!({"cmd": "getr_reply", "op": 13, "server": "x", "result": {"status": "not_found"}}), None),
    ];
    for (role, node) in ports(&cluster) {
        let (cases, refusal) = match role {
            Role::ViewLeader => (&for_the_view_leader, "the view leader does not handle"),
            Role::Server => (&for_a_server, "a server does not handle"),
        };
        let mut ws = Ws::connect(&node.addr);
        for (n, (cmd, msg, op)) in cases.iter().enumerate() {
            let what = format!("`{cmd}` to the {role:?} at {}", node.addr);
            // Well-formed for the core's own types; the node names it as `Msg::name` does.
            let parsed: Msg = serde_json::from_value(msg.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
            let id = 100 + n as u64;
            let needle = format!("{refusal} `{}`", parsed.name());
            let before = count_bad_messages(node, &needle);
            ws.send_json(&json!({"v": 1, "id": id, "msg": msg}));
            let reply = ws.frame();
            let reason = assert_error(&reply, node, Some(id), &needle, &what);
            assert_eq!(reason, needle, "{what}");
            assert_eq!(
                reply["msg"]["op"],
                op.map_or(Value::Null, Value::from),
                "{what}: the error names the op: {reply}"
            );
            await_bad_message(node, before, &needle);
            probe(&mut ws, role, 2_000 + n as u64, epoch, &seeded);
        }
        // An error message is recorded, never answered: the next frame is the probe's answer.
        let reason = format!("a made-up complaint to {}", node.addr);
        ws.send_json(&json!({"v": 1, "id": 300, "msg": {"cmd": "error", "op": null, "reason": reason}}));
        probe(&mut ws, role, 301, epoch, &seeded);
        await_bad_message(node, 0, &reason);
        probe_fresh(node, role, epoch, &seeded);
    }
    // Nothing the view leader refused changed the view; no server took `seed-a`'s overwrite.
    assert_eq!(ringside_tests::view(&cluster.vl()).map(|v| (v.0, v.1)), Some((epoch, ids)));
    seeded.assert_intact(&cluster);
}

/// A commit for a transaction the server never prepared is answered with an error, and the
/// server keeps serving: nothing is written.
#[test]
fn a_commit_for_an_unknown_transaction_is_refused() {
    let cluster = TestCluster::start(3);
    let seeded = Seeded::write(&cluster);
    let epoch = ringside_tests::view(&cluster.vl()).expect("a view").0;
    for server in &cluster.servers {
        let mut ws = Ws::connect(&server.addr);
        ws.send_json(
            &json!({"v": 1, "id": 5, "msg": {"cmd": "commit", "tx": {"client": 999_996, "seq": 77}, "version": 1, "secret": SECRET}}),
        );
        let reply = ws.frame();
        assert_error(&reply, server, Some(5), "unknown transaction", "commit of an unknown tx");
        probe(&mut ws, Role::Server, 6, epoch, &seeded);
    }
    seeded.assert_intact(&cluster);
}

/// A `heartbeat_reply` is the view leader's to send. One forged by a client connection — the
/// server's own id, status `denied` — must not take the server out of service: it should be
/// refused with an error reply, and the server must go on voting and answering reads.
#[test]
fn a_forged_heartbeat_reply_does_not_take_a_server_out_of_service() {
    let cluster = TestCluster::start(3);
    let seeded = Seeded::write(&cluster);
    let epoch = ringside_tests::view(&cluster.vl()).expect("a view").0;
    let server = &cluster.servers[0];
    let id = server.id.clone().expect("a server id");
    let mut ws = Ws::connect(&server.addr);
    ws.send_json(
        &json!({"v": 1, "id": 1, "msg": {"cmd": "heartbeat_reply", "id": id, "sent": 0, "status": {"status": "denied"}}}),
    );
    // Whatever it answers, a read of the server's own replica must still be served.
    let (key, value) = seeded.first();
    ws.send_json(&json!({"v": 1, "id": 2, "msg": {"cmd": "getr", "op": 2, "epoch": epoch, "key": key}}));
    let mut answers = Vec::new();
    let reply = loop {
        let frame = ws.frame();
        if frame["re"] == 2 {
            break frame;
        }
        answers.push(frame);
    };
    // And the cluster must still take writes, which need this server's yes vote (R = 3).
    let write = std::process::Command::new(ringside_tests::ringside_bin())
        .args(["client", "--viewleader", &cluster.vl(), "--timeout-ms", "500", "--attempts", "3"])
        .args(["--json", "setr", "after-the-forgery", "v"])
        .output()
        .expect("the client runs");
    let write = (write.status.success(), String::from_utf8_lossy(&write.stdout).into_owned());
    let view = ringside_tests::view(&cluster.vl());
    let evidence = format!(
        "answers to the forgery: {answers:?}\ngetr on {id}: {reply}\nsetr afterwards: {write:?}\nview afterwards: \
         {view:?}\n{id}'s log:\n{}",
        server.log().join("\n")
    );
    assert!(answers.iter().any(|a| a["msg"]["cmd"] == "error" && a["re"] == 1), "no error reply; {evidence}");
    assert_eq!(reply["msg"]["result"], json!({"status": "value", "value": value, "version": 1}), "{evidence}");
    assert!(write.0, "the cluster stopped taking writes; {evidence}");
    seeded.assert_intact(&cluster);
}

// ---- oversized frames

/// How the node ended a connection after a frame over its limit: it must say `frame too large`
/// with an error frame and/or Close with 1009 and then end the connection — never answer or hang.
fn assert_refused_as_too_large(ws: &mut Ws, what: &str) {
    let mut seen = Vec::new();
    loop {
        match ws.next() {
            Got::Frame(frame) => {
                assert_eq!(frame["msg"]["cmd"], "error", "{what}: expected an error frame, got {frame}");
                let reason = frame["msg"]["reason"].as_str().unwrap_or_default();
                assert!(reason.contains("frame too large"), "{what}: {frame}");
                seen.push(format!("error frame: {reason}"));
            }
            Got::Closed(code) => {
                assert_eq!(code, Some(u16::from(CloseCode::Size)), "{what}: closed with {code:?} after {seen:?}");
                eprintln!("{what}: {seen:?}, then Close {code:?}");
                return;
            }
            Got::Gone(e) => {
                // The node closes its end with our payload still unread, so the kernel may reset
                // the connection before the error and Close frames are read; then only the node's
                // records can tell (checked by the caller).
                eprintln!("{what}: the connection ended ({e}) after {seen:?}");
                return;
            }
        }
    }
}

/// Frames over the 1 MiB limit on every port — one byte over, 4 MiB, a header announcing 2^62
/// bytes that never come, and a message of small fragments adding up to more than the limit —
/// are refused with `frame too large` (an error frame and a Close with code 1009, or at least
/// the end of the connection) and recorded; a frame of exactly the limit is served; the node then
/// accepts new connections and the data written before is intact.
#[test]
fn oversized_frames_are_refused_and_the_node_keeps_accepting() {
    let cluster = TestCluster::start(3);
    let seeded = Seeded::write(&cluster);
    let epoch = ringside_tests::view(&cluster.vl()).expect("a view").0;
    for (role, node) in ports(&cluster) {
        // Exactly the limit: a request for a key long enough to make the frame 1 MiB.
        let frame_with_key =
            |id: u64, key: &str| json!({"v": 1, "id": id, "msg": {"cmd": "get", "op": id, "key": key}});
        let overhead = frame_with_key(7, "").to_string().len();
        let key = "k".repeat(MAX_FRAME - overhead);
        let text = frame_with_key(7, &key).to_string();
        assert_eq!(text.len(), MAX_FRAME);
        let mut ws = Ws::connect(&node.addr);
        ws.send_text(&text);
        let reply = ws.frame();
        assert_eq!(reply["re"], 7, "a frame of exactly the limit is read: {}", &reply.to_string()[..200]);
        match role {
            Role::ViewLeader => assert_eq!(reply["msg"]["cmd"], "error"),
            Role::Server => assert_eq!(reply["msg"]["result"]["status"], "not_found"),
        }
        probe(&mut ws, role, 8, epoch, &seeded);

        let too_large = |r: &Value| {
            error_to_a_client(r)
                && r["frame"]["msg"]["reason"].as_str().is_some_and(|e| e.starts_with("frame too large"))
        };
        let one_over =
            json!({"v": 1, "id": 9, "msg": {"cmd": "get", "op": 9, "key": "k".repeat(MAX_FRAME - overhead + 1)}});
        let mut never_sent = raw_header(true, 0x1, 1 << 62);
        never_sent.extend(b"{\"v\":1");
        let chunk = vec![b' '; 64 * 1024];
        let mut fragments = raw_frame(false, 0x1, b"{\"v\":1,\"id\":10,\"msg\":{\"cmd\":\"get\",\"op\":10,\"key\":\"");
        for _ in 0..(MAX_FRAME / chunk.len() + 1) {
            fragments.extend(raw_frame(false, 0x0, &chunk));
        }
        fragments.extend(raw_frame(true, 0x0, b"\"}}"));
        let over = [
            ("one byte over the limit", raw_frame(true, 0x1, one_over.to_string().as_bytes())),
            ("4 MiB", raw_frame(true, 0x1, "x".repeat(4 * MAX_FRAME).as_bytes())),
            ("a header announcing 2^62 bytes", never_sent),
            ("fragments adding up to more than the limit", fragments),
        ];
        for (what, bytes) in over {
            let what = format!("{what} to the {role:?} at {}", node.addr);
            let before = node.records().iter().filter(|r| too_large(r)).count();
            let mut ws = Ws::connect(&node.addr);
            // The node may close before all of it is written.
            let _ = ws.raw(&bytes);
            assert_refused_as_too_large(&mut ws, &what);
            await_records(node, before, &format!("{what} refused as too large"), too_large);
            probe_fresh(node, role, epoch, &seeded);
        }
    }
    seeded.assert_intact(&cluster);
}

// ---- broken WebSockets

/// WebSocket-level garbage on every port — a text frame that is not UTF-8, an unmasked client
/// frame, a reserved opcode, a continuation with nothing to continue — ends that connection
/// (never a hang, never a reply that pretends it was read), and the node keeps serving.
#[test]
fn broken_websocket_frames_end_the_connection_only() {
    let cluster = TestCluster::start(3);
    let seeded = Seeded::write(&cluster);
    let epoch = ringside_tests::view(&cluster.vl()).expect("a view").0;
    let mut unmasked = raw_frame(true, 0x1, b"{}");
    unmasked[1] &= 0x7f;
    unmasked.drain(2..6);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a text frame that is not UTF-8", raw_frame(true, 0x1, b"{\"v\":1,\"id\":1,\"msg\":\xff\xfe}")),
        ("an unmasked client frame", unmasked),
        ("a reserved opcode", raw_frame(true, 0x3, b"{}")),
        ("a continuation with nothing to continue", raw_frame(true, 0x0, b"{}")),
        ("a fragmented ping", raw_frame(false, 0x9, b"hi")),
    ];
    for (role, node) in ports(&cluster) {
        for (what, bytes) in &cases {
            let what = format!("{what} to the {role:?} at {}", node.addr);
            let mut ws = Ws::connect(&node.addr);
            ws.raw(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
            match ws.next() {
                Got::Closed(code) => eprintln!("{what}: Close {code:?}"),
                Got::Gone(e) => eprintln!("{what}: connection ended: {e}"),
                Got::Frame(frame) => {
                    // An error frame is fine too, but then the connection must end.
                    assert_eq!(frame["msg"]["cmd"], "error", "{what}: {frame}");
                    assert!(!matches!(ws.next(), Got::Frame(_)), "{what}");
                }
            }
            probe_fresh(node, role, epoch, &seeded);
        }
    }
    seeded.assert_intact(&cluster);
}

// ---- plain HTTP

/// An HTTP request that is not a WebSocket upgrade — a browser pointed at the port, curl, a
/// health checker — gets `426 Upgrade Required` with a one-line body and the connection closed,
/// on every port; the node keeps serving.
#[test]
fn a_plain_http_request_gets_426() {
    let cluster = TestCluster::start(3);
    let seeded = Seeded::write(&cluster);
    let epoch = ringside_tests::view(&cluster.vl()).expect("a view").0;
    for (role, node) in ports(&cluster) {
        for request in [
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n\r\n",
            "POST /set HTTP/1.0\r\nContent-Length: 3\r\n\r\nx=1",
        ] {
            let mut tcp = tcp_connect(&node.addr);
            tcp.set_read_timeout(Some(ANSWER)).expect("a read timeout");
            tcp.write_all(request.as_bytes()).expect("the request");
            let mut answer = String::new();
            tcp.read_to_string(&mut answer).expect("an answer, then the connection closed");
            let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP response");
            assert!(head.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{} answered {answer:?}", node.addr);
            assert_eq!(body.lines().count(), 1, "{answer:?}");
        }
        probe_fresh(node, role, epoch, &seeded);
    }
    seeded.assert_intact(&cluster);
}

// ---- abandoned connections

/// A thousand connections opened and abandoned on the view leader's port and on a server's:
/// 800 bare TCP connects that never say a word, 50 that send half an HTTP request, 50 that send
/// junk instead of a handshake, 50 WebSockets dropped without a Close and 50 dropped in the
/// middle of a frame. While they are all held open the node answers new connections, `getr`
/// works and no server drops out of the view; after they are dropped it still does.
#[test]
fn a_thousand_abandoned_connections_do_not_wedge_a_node() {
    let cluster = TestCluster::start(3);
    let seeded = Seeded::write(&cluster);
    let (epoch, ids, _) = ringside_tests::view(&cluster.vl()).expect("a view");
    let started = Instant::now();
    for (role, node) in [(Role::ViewLeader, &cluster.view_leader), (Role::Server, &cluster.servers[0])] {
        let mut held: Vec<TcpStream> = Vec::new();
        for i in 0..900 {
            let mut tcp = tcp_connect(&node.addr);
            tcp.set_write_timeout(Some(ANSWER)).expect("a write timeout");
            match i % 18 {
                0 => tcp.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websock").expect("half a request"),
                1 => tcp
                    .write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP at all\r\n\r\n")
                    .expect("junk"),
                _ => {}
            }
            held.push(tcp);
        }
        let mut sockets = Vec::new();
        for i in 0..100 {
            let mut ws = Ws::connect(&node.addr);
            if i % 2 == 0 {
                let mut half = raw_frame(true, 0x1, br#"{"v":1,"id":1,"msg":{"cmd":"query_servers","op":1}}"#);
                half.truncate(20);
                ws.raw(&half).expect("half a frame");
            }
            sockets.push(ws);
        }
        // All 1,000 held: the node still answers, and so does the cluster.
        probe_fresh(node, role, epoch, &seeded);
        let (key, value) = seeded.first();
        let r = cluster.client(&["--json", "getr", key]);
        assert_eq!(r.json()["result"]["value"], value, "getr with 1,000 idle connections on {}: {r:?}", node.addr);
        // Dropped without a Close.
        drop(sockets);
        drop(held);
        probe_fresh(node, role, epoch, &seeded);
        let mut ws = Ws::connect(&node.addr);
        for n in 0..20 {
            probe(&mut ws, role, 500 + n, epoch, &seeded);
        }
    }
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let failed: Vec<Value> =
        cluster.view_leader.events().into_iter().filter(|e| e["event"] == "server_failed").collect();
    assert!(failed.is_empty(), "a server dropped out of the view: {failed:?}");
    assert_eq!(ringside_tests::view(&cluster.vl()).map(|v| (v.0, v.1)), Some((epoch, ids)));
    seeded.assert_intact(&cluster);
}

// ---- a coordinator that vanishes in the middle of two-phase commit

/// The test cluster's server that `member` (`{id, addr}` from the view) names.
fn server_at<'c>(cluster: &'c TestCluster, member: &Value) -> &'c Process {
    cluster.servers.iter().find(|s| member["addr"] == s.addr.as_str()).expect("a member of the cluster")
}

/// Sends `prepare` for `tx` to `member` (every member listed as a participant) and checks that
/// it votes yes; returns the connection, now acting as the transaction's coordinator.
fn prepare_yes(member: &Value, tx: &Value, epoch: u64, key: &str, value: &str, all: &[Value]) -> Peer {
    let addr = member["addr"].as_str().expect("an address");
    let mut peer = Peer::connect(addr);
    let prepare = json!({"v": 1, "id": 1, "msg": {"cmd": "prepare", "tx": tx, "epoch": epoch, "server": member["id"],
        "key": key, "value": value, "participants": all, "secret": SECRET}});
    peer.send_text(&prepare.to_string());
    let vote = peer.read_json();
    assert_eq!(vote["re"], 1, "{vote}");
    assert_eq!(
        vote["msg"],
        json!({"cmd": "vote", "tx": tx, "server": member["id"], "vote": {"vote": "yes", "version": 0}}),
        "{addr} votes yes"
    );
    peer
}

/// Classic 2PC: a coordinator that commits at one participant and vanishes: after the decision
/// timeout (2 s) the other two participants find nobody at the coordinator's connection, ask
/// each other and the committed one with `decision_request`, learn the commit and apply it;
/// `getr` then returns the value on every replica.
#[test]
fn a_coordinator_gone_after_one_commit_is_finished_by_the_participants() {
    let cluster = TestCluster::start_with(3, &["--commit", "classic"]);
    let seeded = Seeded::write(&cluster);
    let (epoch, all) = cluster.members();
    assert_eq!(all.len(), 3, "{all:?}");
    let (key, value) = ("orphan-commit", "decided by the others");
    let tx = json!({"client": 999_999, "seq": 1});
    let started = Instant::now();
    let mut peers: Vec<Peer> = all.iter().map(|m| prepare_yes(m, &tx, epoch, key, value, &all)).collect();
    peers[0].send_text(
        &json!({"v": 1, "id": 2, "msg": {"cmd": "commit", "tx": tx, "version": 1, "secret": SECRET}}).to_string(),
    );
    let done = peers[0].read_json();
    assert_eq!(done["msg"], json!({"cmd": "done", "tx": tx, "server": all[0]["id"], "committed": true}), "{done}");
    drop(peers); // no Close, no commit for the other two
    for member in &all[1..] {
        let node = server_at(&cluster, member);
        node.await_event(&json!({"event": "committed", "tx": tx, "key": key, "version": 1}), Duration::from_secs(8));
        assert!(node.has_event(&json!({"event": "termination_started", "tx": tx, "key": key})), "{:?}", node.events());
    }
    eprintln!("the participants committed {:?} after the coordinator vanished", started.elapsed());
    let r = cluster.client(&["--json", "getr", key]);
    assert_eq!(r.json()["result"], json!({"output": "value", "value": value, "version": 1}), "{r:?}");
    for member in &all {
        let mut peer = Peer::connect(member["addr"].as_str().expect("an address"));
        peer.send_text(
            &json!({"v": 1, "id": 3, "msg": {"cmd": "getr", "op": 3, "epoch": epoch, "key": key}}).to_string(),
        );
        let read = peer.read_json();
        assert_eq!(read["msg"]["result"], json!({"status": "value", "value": value, "version": 1}), "{read}");
    }
    seeded.assert_intact(&cluster);
}

/// Paxos Commit: a coordinator that prepares all three participants and vanishes before any
/// commit — the case that blocks classic 2PC — leaves nothing blocked: the first participant
/// takes over after its decision timeout, nobody accepted a commit, so all three abort, and
/// the key takes the next write.
#[test]
fn with_paxos_commit_a_coordinator_gone_after_the_votes_blocks_nothing() {
    let cluster = TestCluster::start(3);
    let seeded = Seeded::write(&cluster);
    let (epoch, all) = cluster.members();
    let (key, value) = ("orphan-votes", "never decided by its coordinator");
    let tx = json!({"client": 999_997, "seq": 1});
    let started = Instant::now();
    let peers: Vec<Peer> = all.iter().map(|m| prepare_yes(m, &tx, epoch, key, value, &all)).collect();
    drop(peers);
    for member in &all {
        let node = server_at(&cluster, member);
        node.await_event(&json!({"event": "aborted", "tx": tx, "key": key}), Duration::from_secs(8));
        assert!(!node.has_event(&json!({"event": "no_majority", "tx": tx})), "{:?}", node.events());
    }
    let decided = started.elapsed();
    eprintln!("the participants decided abort {decided:?} after the coordinator vanished");
    assert!(decided < Duration::from_secs(6), "two decision timeouts are 4 s, it took {decided:?}");
    let w = cluster.client(&["--json", "setr", key, "after"]);
    assert!(w.ok, "setr after the takeover: {w:?}");
    let r = cluster.client(&["--json", "getr", key]);
    assert_eq!(r.json()["result"]["value"], "after", "{r:?}");
    seeded.assert_intact(&cluster);
}

/// A coordinator that prepares only two of the three participants it names and vanishes: after
/// the decision timeout the two ask around, the third — never prepared — rules the transaction
/// out, so both abort; a late prepare of it is voted down, and a normal `setr` of the key then
/// succeeds.
#[test]
fn a_coordinator_gone_before_preparing_everyone_is_aborted_by_the_participants() {
    let cluster = TestCluster::start(3);
    let seeded = Seeded::write(&cluster);
    let (epoch, all) = cluster.members();
    assert_eq!(all.len(), 3, "{all:?}");
    let (key, value) = ("orphan-abort", "never written");
    let tx = json!({"client": 999_998, "seq": 1});
    let peers: Vec<Peer> = all[..2].iter().map(|m| prepare_yes(m, &tx, epoch, key, value, &all)).collect();
    drop(peers);
    for member in &all[..2] {
        let node = server_at(&cluster, member);
        node.await_event(&json!({"event": "aborted", "tx": tx, "key": key}), Duration::from_secs(8));
    }
    let third = server_at(&cluster, &all[2]);
    // Ruled out: aborted with no key, since it was never prepared there.
    assert!(third.has_event(&json!({"event": "aborted", "tx": tx, "key": null})), "{:?}", third.events());
    // The transaction is ruled out at the third: a late prepare is voted down.
    let mut late = Peer::connect(&third.addr);
    let prepare = json!({"v": 1, "id": 1, "msg": {"cmd": "prepare", "tx": tx, "epoch": epoch, "server": all[2]["id"],
        "key": key, "value": value, "participants": all, "secret": SECRET}});
    late.send_text(&prepare.to_string());
    let vote = late.read_json();
    assert_eq!(vote["msg"]["vote"], json!({"vote": "no", "reason": {"reason": "aborted"}}), "{vote}");
    drop(late);
    let r = cluster.client(&["--json", "getr", key]);
    assert!(!r.ok && r.json()["error"]["error"] == "not_found", "{r:?}");
    let w = cluster.client(&["--json", "setr", key, "other"]);
    assert!(w.ok, "setr after the abort: {w:?}");
    let r = cluster.client(&["--json", "getr", key]);
    assert_eq!(r.json()["result"]["value"], "other", "{r:?}");
    seeded.assert_intact(&cluster);
}
