//! Watching live nodes, on real processes: observers on a node's own port see every frame it
//! sends and reads and every event, matched across nodes by (sender, frame id); a stalled
//! observer is dropped without hurting the node; `--events-dir` keeps the same records in files;
//! and `ringside cluster`'s admin endpoint adds, kills and lists servers for holders of its token.

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringside_node::ready::Ready;
use ringside_tests::{client, free_port, settled, view, wait_until, Peer, RunningCluster, TestCluster};
use serde_json::{json, Value};
use tungstenite::Message;

/// How long any one wait may take on a loaded two-core machine.
const PATIENCE: Duration = Duration::from_secs(20);

const WATCH: &str = r#"{"v":1,"id":1,"msg":{"cmd":"watch"}}"#;

/// Connects to `addr` and asks to watch it; returns the connection and its `hello`.
fn watch(addr: &str) -> (Peer, Value) {
    let mut peer = Peer::connect(addr);
    peer.send_text(WATCH);
    let hello = peer.read_json();
    (peer, hello)
}

/// An observer read on its own thread, its records gathered as they come.
struct Watcher {
    records: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Watcher {
    fn start(addr: &str) -> (Watcher, Value) {
        let (mut peer, hello) = watch(addr);
        let (tx, records) = mpsc::channel();
        std::thread::spawn(move || {
            while let Ok(Message::Text(text)) = peer.read() {
                let record = serde_json::from_str(text.as_str()).expect("a record is JSON");
                if tx.send(record).is_err() {
                    return;
                }
            }
        });
        (Watcher { records, seen: Vec::new() }, hello)
    }

    /// Takes in what arrived so far.
    fn gather(&mut self) -> &[Value] {
        self.seen.extend(self.records.try_iter());
        &self.seen
    }
}

/// Waits, gathering every watcher, until `check` holds over their records.
fn await_records(what: &str, watchers: &mut [Watcher], check: impl Fn(&[&[Value]]) -> bool) {
    let start = Instant::now();
    loop {
        let seen: Vec<&[Value]> = watchers.iter_mut().map(|w| w.gather()).collect();
        if check(&seen) {
            return;
        }
        let kinds: Vec<usize> = seen.iter().map(|s| s.len()).collect();
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}; records per watcher: {kinds:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cmd(record: &Value) -> &str {
    record["frame"]["msg"]["cmd"].as_str().unwrap_or_default()
}

fn is(record: &Value, kind: &str, command: &str) -> bool {
    record["kind"] == kind && cmd(record) == command
}

/// Every record has the envelope the docs promise, with `node` the watched node's address.
fn assert_envelope(record: &Value, node: &str) {
    assert!(record["t"].as_u64().is_some_and(|t| t > 1_600_000_000_000_000), "t in µs: {record}");
    assert_eq!(record["node"], node, "{record}");
    let kind = record["kind"].as_str().unwrap_or_else(|| panic!("no kind: {record}"));
    match kind {
        "send" | "recv" => {
            assert!(record["peer"].is_string(), "{record}");
            assert_eq!(record["frame"]["v"], 1, "{record}");
            assert!(record["frame"]["id"].is_u64(), "{record}");
        }
        "event" => assert!(record["event"]["event"].is_string(), "{record}"),
        other => panic!("unexpected record kind {other}: {record}"),
    }
}

/// Servers' streams show a `setr` from their side (the prepare in, the vote out, the events)
/// and the view leader's stream shows each server's heartbeats under the (node, frame id) the
/// server sent them with; two observers of one node both get everything.
#[test]
fn observers_see_frames_and_events_that_match_across_nodes() {
    let cluster = TestCluster::start(3);
    let vl = cluster.vl();
    let (vl_watcher, hello) = Watcher::start(&vl);
    assert_eq!(hello, json!({"t": hello["t"], "node": vl, "kind": "hello", "role": "viewleader", "id": null}));
    let mut watchers = vec![vl_watcher];
    for server in &cluster.servers {
        let (watcher, hello) = Watcher::start(&server.addr);
        let id = server.id.clone().expect("a server's id");
        assert_eq!(hello, json!({"t": hello["t"], "node": server.addr, "kind": "hello", "role": "server", "id": id}));
        watchers.push(watcher);
    }
    let (mut second, _) = Watcher::start(&cluster.servers[0].addr);

    let answer = cluster.client(&["setr", "apple", "red"]);
    assert!(answer.ok, "{answer:?}");

    // With three servers and R=3 every server is a replica.
    await_records("each server's prepare, vote and commit", &mut watchers, |seen| {
        seen[1..].iter().all(|records| {
            let prepared = records.iter().find(|r| is(r, "recv", "prepare"));
            let voted = prepared.is_some_and(|p| {
                records
                    .iter()
                    .any(|r| is(r, "send", "vote") && r["peer"] == p["peer"] && r["frame"]["re"] == p["frame"]["id"])
            });
            let event = |name: &str| records.iter().any(|r| r["kind"] == "event" && r["event"]["event"] == name);
            voted && event("voted") && event("committed")
        })
    });
    await_records("heartbeats matched from each server to the view leader and back", &mut watchers, |seen| {
        let (vl_records, servers) = (seen[0], &seen[1..]);
        servers.iter().all(|records| {
            let sent_to_vl = records.iter().filter(|r| is(r, "send", "heartbeat") && r["peer"] == vl);
            let heard = sent_to_vl.clone().any(|s| {
                vl_records.iter().any(|r| {
                    is(r, "recv", "heartbeat") && r["peer"] == s["node"] && r["frame"]["id"] == s["frame"]["id"]
                })
            });
            let answered = records.iter().filter(|r| is(r, "recv", "heartbeat_reply")).any(|r| {
                vl_records.iter().any(|s| {
                    is(s, "send", "heartbeat_reply") && s["node"] == r["peer"] && s["frame"]["id"] == r["frame"]["id"]
                })
            });
            heard && answered
        })
    });

    // The client leaves `from` out: it is known by its connection.
    let prepare = watchers[1].gather().iter().find(|r| is(r, "recv", "prepare")).cloned().expect("seen above");
    assert!(prepare["peer"].as_str().is_some_and(|p| p.starts_with("client#")), "{prepare}");
    assert!(prepare["frame"].get("from").is_none(), "{prepare}");
    for (watcher, node) in watchers.iter_mut().zip(std::iter::once(&vl).chain(cluster.servers.iter().map(|s| &s.addr)))
    {
        let records = watcher.gather();
        records.iter().for_each(|r| assert_envelope(r, node));
        // Frame ids are the process's: never two frames with one id from one node.
        let mut ids: Vec<u64> =
            records.iter().filter(|r| r["kind"] == "send").filter_map(|r| r["frame"]["id"].as_u64()).collect();
        let sent = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), sent, "{node} sent two frames with one id");
    }
    await_records("the second observer's copy of the prepare", std::slice::from_mut(&mut second), |seen| {
        seen[0].contains(&prepare)
    });
}

/// An observer that stops reading falls behind, is told so and is closed, while the node goes on
/// answering at full speed and keeps its data.
#[test]
fn a_stalled_observer_is_dropped_and_the_node_does_not_notice() {
    let cluster = TestCluster::start(3);
    let vl = cluster.vl();
    let server = &cluster.servers[0];
    for (key, value) in [("a", "1"), ("b", "2")] {
        assert!(cluster.client(&["setr", key, value]).ok);
    }
    let (mut stalled, hello) = watch(&server.addr);
    assert_eq!(hello["kind"], "hello");

    // Big frames first, to fill the socket buffers between the node and the stalled observer;
    // then many small ones, each a record in and a record out, past the stream's capacity.
    let mut load = Peer::connect(&server.addr);
    let big = "x".repeat(32 * 1024);
    let mut next_op = 1u64;
    let mut batch = |load: &mut Peer, count: usize, frame: &dyn Fn(u64) -> Value| {
        for op in next_op..next_op + count as u64 {
            load.send_text(&frame(op).to_string());
        }
        for _ in 0..count {
            let reply = load.read_json();
            assert_eq!(reply["msg"]["cmd"], "reply", "{reply}");
        }
        next_op += count as u64;
    };
    for _ in 0..12 {
        batch(&mut load, 50, &|op| json!({"v":1,"id":op,"msg":{"cmd":"set","op":op,"key":"big","value":big}}));
    }
    let started = Instant::now();
    for _ in 0..60 {
        batch(&mut load, 200, &|op| json!({"v":1,"id":op,"msg":{"cmd":"get","op":op,"key":"a"}}));
    }
    let took = started.elapsed();
    assert!(took < PATIENCE, "12000 gets took {took:?}");
    // It still answers through the whole protocol while the observer is stuck.
    assert!(cluster.client(&["setr", "c", "3"]).ok);
    let getr = client(&vl, &["--json", "getr", "c"]);
    assert_eq!(getr.json()["result"]["value"], "3", "{getr:?}");

    // Reading again, the observer finds what was buffered, then the notice, then the close.
    let start = Instant::now();
    let notice = loop {
        assert!(start.elapsed() < PATIENCE, "no dropped notice");
        match stalled.read() {
            Ok(Message::Text(text)) => {
                let record: Value = serde_json::from_str(text.as_str()).expect("JSON");
                if record["kind"] == "dropped" {
                    break record;
                }
            }
            Ok(_) => {}
            Err(e) => panic!("the observer was closed without a notice: {e}"),
        }
    };
    assert!(notice["reason"].is_string(), "{notice}");
    let missed = notice["missed"].as_u64().unwrap_or_else(|| panic!("a count of missed records: {notice}"));
    assert!(missed > 0, "{notice}");
    assert_eq!(notice["node"], server.addr, "{notice}");
    match stalled.read() {
        Ok(Message::Close(Some(_))) => {}
        other => panic!("after the notice, expected a close with a code, got {other:?}"),
    }

    for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
        let getr = client(&vl, &["--json", "getr", key]);
        assert_eq!(getr.json()["result"]["value"], value, "{getr:?}");
    }
    // A new observer is welcome.
    let (_, hello) = watch(&server.addr);
    assert_eq!(hello["kind"], "hello");
}

/// `--events-dir` gives every node a file of one JSON record per line, `hello` first; the view
/// leader's holds the heartbeats, the servers' the `setr`. A file that cannot be created is a
/// one-line error.
#[test]
fn events_dir_keeps_every_nodes_records() {
    let dir = std::env::temp_dir().join(format!("ringside-live-{}-{}", std::process::id(), free_port()));
    let events = dir.join("events");
    let port = free_port().to_string();
    let admin = free_port().to_string();
    let events_arg = events.display().to_string();
    let mut cluster = RunningCluster::start(&[
        "--servers",
        "2",
        "--port",
        &port,
        "--admin-port",
        &admin,
        "--events-dir",
        &events_arg,
    ]);
    let vl = format!("127.0.0.1:{port}");
    cluster.expect(&format!("view leader at {vl}"));
    settled(&vl, 2, PATIENCE);
    let setr = client(&vl, &["setr", "pear", "green"]);
    assert!(setr.ok, "{setr:?}");
    // `setr` returns once the commit is chosen; each server applies it when told, a moment
    // later, and its events file is written behind.
    let committed =
        |name: &str| std::fs::read_to_string(events.join(name)).is_ok_and(|t| t.contains(r#""event":"committed""#));
    wait_until("both servers' commit in their files", PATIENCE, || committed("s1.jsonl") && committed("s2.jsonl"));
    cluster.quit();

    let mut names: Vec<String> = std::fs::read_dir(&events)
        .expect("the events directory")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["s1.jsonl", "s2.jsonl", "vl.jsonl"]);
    for name in names {
        let text = std::fs::read_to_string(events.join(&name)).expect("readable");
        let records: Vec<Value> = text
            .lines()
            .enumerate()
            .map(|(n, line)| {
                assert!(line.starts_with(r#"{"t":"#), "{name}:{}: {line}", n + 1);
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}:{}: not JSON ({e}): {line}", n + 1))
            })
            .collect();
        let hello = &records[0];
        assert_eq!(hello["kind"], "hello", "{name}: {hello}");
        let node = hello["node"].as_str().expect("a node").to_string();
        records[1..].iter().for_each(|r| assert_envelope(r, &node));
        if name == "vl.jsonl" {
            assert_eq!((&hello["role"], &hello["id"]), (&json!("viewleader"), &Value::Null), "{hello}");
            assert_eq!(node, vl);
            assert!(records.iter().any(|r| is(r, "recv", "heartbeat")), "{name} has no heartbeat");
            assert!(records.iter().any(|r| r["event"]["event"] == "server_joined"), "{name} has no join");
        } else {
            assert_eq!(hello["role"], "server", "{hello}");
            assert!(hello["id"].is_string(), "{hello}");
            assert!(records.iter().any(|r| is(r, "recv", "prepare")), "{name} has no prepare");
            assert!(records.iter().any(|r| r["event"]["event"] == "committed"), "{name} has no commit");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    let bad = Command::new(ringside_tests::ringside_bin())
        .args(["viewleader", "--port", &free_port().to_string(), "--events", "/nonexistent/ringside/vl.jsonl"])
        .output()
        .expect("ringside runs");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: cannot create the events file /nonexistent/ringside/vl.jsonl: "), "{stderr}");
}

/// An admin connection, holding the token.
struct Admin {
    peer: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
}

impl Admin {
    fn connect(url: &str) -> Admin {
        let (peer, _) = tungstenite::connect(url).expect("the admin endpoint accepts the token");
        Admin { peer }
    }

    fn ask(&mut self, text: &str) -> Value {
        self.peer.send(Message::text(text)).expect("sent");
        loop {
            match self.peer.read().expect("a reply") {
                Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a reply, got {other:?}"),
            }
        }
    }
}

/// Whether connecting to `url` is refused with HTTP 403.
fn forbidden(url: &str) -> bool {
    matches!(tungstenite::connect(url), Err(tungstenite::Error::Http(response)) if response.status() == 403)
}

/// The admin endpoint refuses a missing or wrong token, lists, adds and kills servers (a killed
/// one leaves the view), answers bad commands with an error, and stdin keeps working beside it.
#[test]
fn the_admin_endpoint_adds_kills_and_lists_for_the_token_holder() {
    let port = free_port().to_string();
    let admin_port = free_port();
    let mut cluster =
        RunningCluster::start(&["--servers", "2", "--port", &port, "--admin-port", &admin_port.to_string()]);
    let vl = format!("127.0.0.1:{port}");
    let ready = cluster.ready();
    let Ready::Cluster { addr, viewleader, token, page } = &ready else { unreachable!("a cluster's: {ready:?}") };
    assert_eq!((addr.as_str(), viewleader.as_str()), (format!("127.0.0.1:{admin_port}").as_str(), vl.as_str()));
    assert_eq!(token.len(), 32, "{token}");
    assert!(token.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')), "{token}");
    let url = format!("ws://127.0.0.1:{admin_port}/admin?token={token}");
    let key = ringside_tests::CLUSTER_KEY;
    assert_eq!(*page, format!("http://127.0.0.1:8080/#live={vl}&admin=127.0.0.1:{admin_port}&token={token}&key={key}"));
    // What the user reads says the same.
    assert_eq!(cluster.expect("admin: "), format!("admin: {url}   (loopback only: add, kill and list servers)"));
    assert_eq!(cluster.expect("page:  "), format!("page:  {page}"));
    settled(&vl, 2, PATIENCE);

    assert!(forbidden(&format!("ws://127.0.0.1:{admin_port}/admin")), "no token");
    assert!(
        forbidden(&format!("ws://127.0.0.1:{admin_port}/admin?token=0123456789abcdef0123456789abcdef")),
        "wrong token"
    );
    cluster.expect("[admin] refused a connection from 127.0.0.1:");
    cluster.expect("wrong token (HTTP 403)");

    let mut admin = Admin::connect(&url);
    let list = admin.ask(r#"{"id":1,"cmd":"list"}"#);
    assert_eq!((&list["re"], &list["ok"], &list["viewleader"]), (&json!(1), &json!(true), &json!(vl)), "{list}");
    let servers = list["servers"].as_array().expect("servers");
    assert_eq!(servers.len(), 2, "{list}");
    for (n, server) in servers.iter().enumerate() {
        assert_eq!(server["label"], format!("s{}", n + 1), "{list}");
        assert_eq!(server["state"], "running", "{list}");
        assert!(server["id"].is_string() && server["addr"].is_string(), "{list}");
    }

    let added = admin.ask(r#"{"id":2,"cmd":"add"}"#);
    assert_eq!((&added["re"], &added["ok"]), (&json!(2), &json!(true)), "{added}");
    assert_eq!((&added["server"]["label"], &added["server"]["state"]), (&json!("s3"), &json!("running")), "{added}");
    cluster.expect("[admin] started s3 at 127.0.0.1:");
    settled(&vl, 3, PATIENCE);

    // By id: the label works as well, as `kill s9` below shows by its error.
    let s2 = servers[1]["id"].as_str().expect("an id").to_string();
    let killed = admin.ask(&format!(r#"{{"id":3,"cmd":"kill","server":"{s2}"}}"#));
    assert_eq!((&killed["re"], &killed["ok"]), (&json!(3), &json!(true)), "{killed}");
    assert_eq!((&killed["server"]["label"], &killed["server"]["state"]), (&json!("s2"), &json!("killed")), "{killed}");
    cluster.expect("[admin] killed s2 (127.0.0.1:");
    wait_until(
        "s2 to leave the view",
        PATIENCE,
        || matches!(view(&vl), Some((_, ids, _)) if ids.len() == 2 && !ids.contains(&s2)),
    );
    let again = admin.ask(r#"{"id":4,"cmd":"kill","server":"s2"}"#);
    assert_eq!(again, json!({"re": 4, "ok": false, "error": "s2 is already killed"}));
    let nobody = admin.ask(r#"{"id":5,"cmd":"kill","server":"s9"}"#);
    assert_eq!(nobody, json!({"re": 5, "ok": false, "error": "no server s9"}));
    let list = admin.ask(r#"{"id":6,"cmd":"list"}"#);
    let states: Vec<&str> =
        list["servers"].as_array().expect("servers").iter().filter_map(|s| s["state"].as_str()).collect();
    assert_eq!(states, ["running", "killed", "running"], "{list}");

    let malformed = admin.ask("{not json");
    assert_eq!((&malformed["re"], &malformed["ok"]), (&Value::Null, &json!(false)), "{malformed}");
    assert!(malformed["error"].as_str().is_some_and(|e| e.starts_with("malformed JSON: ")), "{malformed}");
    let unknown = admin.ask(r#"{"id":7,"cmd":"reboot"}"#);
    assert_eq!(
        unknown,
        json!({"re": 7, "ok": false, "error": "wrong command shape: unknown variant `reboot`, expected one of `list`, `add`, `kill`, `restart`"})
    );
    // A lone view leader keeps nothing on disk: restart is for replicas.
    let lone = admin.ask(r#"{"id":8,"cmd":"restart","server":"vl"}"#);
    let error = lone["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("a lone view leader keeps nothing on disk"), "{lone}");
    let wrong_type = admin.ask(r#"{"id":8,"cmd":"kill","server":2}"#);
    assert_eq!(wrong_type["re"], 8, "{wrong_type}");
    assert!(wrong_type["error"].as_str().is_some_and(|e| e.contains("invalid type: integer `2`")), "{wrong_type}");
    let no_id = admin.ask(r#"{"cmd":"list"}"#);
    assert_eq!((&no_id["re"], &no_id["ok"]), (&Value::Null, &json!(false)), "{no_id}");

    // Stdin drives the same cluster.
    cluster.command("list");
    cluster.expect("s3   ");

    // A frame over 64 KiB closes the connection; a new one is welcome.
    let huge = format!(r#"{{"id":9,"cmd":"kill","server":"{}"}}"#, "x".repeat(70_000));
    admin.peer.send(Message::text(huge)).expect("sent");
    let mut closed = false;
    for _ in 0..4 {
        match admin.peer.read() {
            Ok(Message::Close(_)) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(closed, "an oversized command closes the connection");
    let mut fresh = Admin::connect(&url);
    assert_eq!(fresh.ask(r#"{"id":10,"cmd":"list"}"#)["ok"], true);
    cluster.quit();
}
