//! Well-formed frames from a peer that means harm: each attack seen when the system was tried as
//! an attacker would, written from `docs/protocol.md` alone. Every test checks that the node
//! lives, that data written before is intact, and that the stranger's effect is nil.
//! (`bad_input.rs` holds the malformed frames.)
//!
//! Clusters here have no key unless a test says so: a node without one trusts its own machine,
//! so a stranger is a client connection. The last tests run a keyed cluster and check that
//! nobody without its key gets in at all.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use ringside_core::MAX_NUMBER;
use ringside_tests::{
    free_port, ringside_bin, settled, view, wait_until, Peer, Process, TestCluster, CLUSTER_KEY, FAILURE_MS,
    HEARTBEAT_MS, KEY_ENV,
};
use serde_json::{json, Value};

/// The secret a hand-made coordinator puts in its prepare and repeats in its decision.
const SECRET: &str = "a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7";
/// Another secret: the stranger's guess.
const GUESS: &str = "0000000000000000000000000000beef";

fn write(cluster: &TestCluster, key: &str, value: &str) {
    let w = cluster.client(&["--json", "setr", key, value]);
    assert!(w.ok, "setr {key}: {w:?}");
}

/// What `getr` answers for `key`: (value, version).
fn read(cluster: &TestCluster, key: &str) -> (String, u64) {
    let r = cluster.client(&["--json", "getr", key]);
    assert!(r.ok, "getr {key}: {r:?}");
    let result = &r.json()["result"];
    (result["value"].as_str().expect("a value").to_string(), result["version"].as_u64().expect("a version"))
}

fn reason(answer: &Value) -> &str {
    assert_eq!(answer["cmd"], "error", "expected an error, got {answer}");
    answer["reason"].as_str().expect("a reason")
}

fn heartbeat(id: &str, addr: &str, epoch: u64) -> Value {
    json!({"cmd": "heartbeat", "id": id, "addr": addr, "epoch": epoch, "stable": 0, "rebalanced": 0, "sent": 0})
}

#[test]
fn a_strangers_heartbeat_can_neither_stop_the_cluster_nor_join_it() {
    let cluster = TestCluster::start(3);
    write(&cluster, "before", "kept");
    let before = view(&cluster.vl()).expect("a view");
    let mut stranger = Peer::connect(&cluster.vl());
    // The epoch that once restarted the cluster at epoch 0, and the largest a frame may carry.
    let answer = stranger.ask(1, heartbeat("e1e1e1e1", "127.0.0.1:1", u64::MAX));
    assert!(reason(&answer).contains(&format!("epoch {} is out of range", u64::MAX)), "{answer}");
    let answer = stranger.ask(2, heartbeat("e1e1e1e1", "127.0.0.1:1", MAX_NUMBER));
    assert_eq!(reason(&answer), "`heartbeat` is taken only from members of the cluster");
    std::thread::sleep(Duration::from_millis(3 * HEARTBEAT_MS));
    assert_eq!(view(&cluster.vl()), Some(before), "the view did not move");
    write(&cluster, "after", "still writable");
    assert_eq!(read(&cluster, "before"), ("kept".to_string(), 1));
}

#[test]
fn numbers_at_the_top_cannot_wrap_a_key_and_copies_come_only_from_members() {
    let cluster = TestCluster::start(3);
    write(&cluster, "k", "v1");
    let (epoch, _) = cluster.members();
    let mut stranger = Peer::connect(&cluster.servers[0].addr);
    let pwned = |version: u64| json!({"cmd": "transfer", "epoch": epoch, "items": [{"key": "k", "value": "PWNED", "version": version}]});
    let answer = stranger.ask(1, pwned(u64::MAX));
    assert!(reason(&answer).contains(&format!("version {} is out of range", u64::MAX)), "{answer}");
    let answer = stranger.ask(2, pwned(1000));
    assert_eq!(reason(&answer), "`transfer` is taken only from members of the cluster");
    let commit = json!({"cmd": "commit", "tx": {"client": 1, "seq": 1}, "version": u64::MAX, "secret": GUESS});
    assert!(reason(&stranger.ask(3, commit)).contains("is out of range"));
    assert_eq!(read(&cluster, "k"), ("v1".to_string(), 1));
    write(&cluster, "k", "v2");
    assert_eq!(read(&cluster, "k"), ("v2".to_string(), 2), "the next write goes one above");
}

#[test]
fn only_a_transactions_coordinator_can_decide_it() {
    let cluster = TestCluster::start(3);
    write(&cluster, "k", "settled"); // once written, every replica serves the stable view
    let (epoch, all) = cluster.members();
    let tx = json!({"client": 424_242, "seq": 1});
    let mut coordinator: Vec<Peer> = Vec::new();
    for member in &all {
        let mut peer = Peer::connect(member["addr"].as_str().expect("an address"));
        let prepare = json!({"cmd": "prepare", "tx": tx, "epoch": epoch, "server": member["id"], "key": "k2",
            "value": "the coordinator's", "participants": all, "secret": SECRET});
        let vote = peer.ask(1, prepare);
        assert_eq!(vote["vote"]["vote"], "yes", "{vote}");
        coordinator.push(peer);
    }
    // The stranger learns the transaction from a read, and tries to decide it both ways.
    let mut stranger = Peer::connect(all[0]["addr"].as_str().expect("an address"));
    let pending = stranger.ask(1, json!({"cmd": "getr", "op": 1, "epoch": epoch, "key": "k2"}));
    assert_eq!(pending["result"], json!({"status": "pending", "tx": tx}), "{pending}");
    assert!(!pending.to_string().contains(SECRET), "a read never shows the secret");
    let forged = [
        json!({"cmd": "commit", "tx": tx, "version": 99, "secret": GUESS}),
        json!({"cmd": "abort", "tx": tx, "secret": GUESS}),
        json!({"cmd": "commit", "tx": tx, "version": 99, "secret": "hidden"}),
    ];
    for (n, msg) in forged.into_iter().enumerate() {
        let answer = stranger.ask(2 + n as u64, msg);
        assert_eq!(reason(&answer), "the secret does not match tx7932.1's prepare", "{answer}");
    }
    // Still the coordinator's to decide: each replica accepts its commit (Paxos Commit's
    // ballot 0), and applies it once told it was chosen.
    for peer in &mut coordinator {
        let accepted = peer.ask(2, json!({"cmd": "commit", "tx": tx, "version": 1, "secret": SECRET}));
        assert_eq!((&accepted["cmd"], &accepted["ballot"]), (&json!("accepted"), &json!(0)), "{accepted}");
    }
    for peer in &mut coordinator {
        let chosen = json!({"cmd": "decision_reply", "tx": tx, "state": {"state": "committed", "version": 1}});
        peer.send_text(&json!({"v": 1, "id": 3, "msg": chosen}).to_string());
    }
    assert_eq!(read(&cluster, "k2"), ("the coordinator's".to_string(), 1));
}

#[test]
fn a_dead_servers_id_cannot_be_kept_alive_from_elsewhere() {
    let mut cluster = TestCluster::start(3);
    write(&cluster, "k", "v");
    let (victim_id, victim_addr) = (cluster.servers[2].id.clone().expect("an id"), cluster.servers[2].addr.clone());
    cluster.servers[2].kill();
    let vl = cluster.vl();
    let mut stranger = Peer::connect(&vl);
    // A member elsewhere: without a key this machine is trusted, so asking for /member is enough.
    let mut elsewhere = Peer::connect_url(&format!("ws://{vl}/member")).expect("a member connection");
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_millis(2 * FAILURE_MS) {
        n += 1;
        let answer = stranger.ask(n, heartbeat(&victim_id, &victim_addr, 1));
        assert_eq!(reason(&answer), "`heartbeat` is taken only from members of the cluster");
        for addr in [victim_addr.as_str(), "127.0.0.1:2"] {
            let frame = json!({"v": 1, "id": n, "from": "127.0.0.1:2", "msg": heartbeat(&victim_id, addr, 1)});
            elsewhere.send_text(&frame.to_string());
            let answer = elsewhere.read_json()["msg"].clone();
            let refused = answer["cmd"] == "error" || answer["status"]["status"] == "denied";
            assert!(refused, "a heartbeat under {victim_id} from elsewhere was taken: {answer}");
        }
        std::thread::sleep(Duration::from_millis(HEARTBEAT_MS));
    }
    // The dead server left the view on time, as if nobody had tried.
    let (_, ids, _) = view(&vl).expect("a view");
    assert!(!ids.contains(&victim_id), "{victim_id} is still in the view: {ids:?}");
    settled(&vl, 2, Duration::from_secs(10));
    assert_eq!(read(&cluster, "k"), ("v".to_string(), 1));
}

#[test]
fn lock_names_and_requesters_are_bounded() {
    let cluster = TestCluster::start(1);
    let long = "n".repeat(300);
    let r = cluster.client(&["--json", "lock_get", &long, "alice"]);
    assert!(!r.ok, "{r:?}");
    assert!(r.stdout.contains("the lock name is 300 bytes: at most 256 are kept"), "{r:?}");
    let mut stranger = Peer::connect(&cluster.vl());
    let huge = "n".repeat(1_000_000);
    let answer = stranger.ask(1, json!({"cmd": "lock_get", "op": 1, "name": huge, "requester": "mallory"}));
    assert_eq!(reason(&answer), "the lock name is 1000000 bytes: at most 256 are kept");
    let answer = stranger.ask(2, json!({"cmd": "lock_get", "op": 2, "name": "atm", "requester": "r".repeat(257)}));
    assert_eq!(reason(&answer), "the requester is 257 bytes: at most 256 are kept");
    // Nothing was kept: the name is free for anyone.
    let r = cluster.client(&["--json", "lock_get", &"n".repeat(256), "alice"]);
    assert!(r.ok, "{r:?}");
}

/// A watcher that never reads, then a reader that never reads its answers: the node keeps at
/// most a few MiB for the watcher, stops reading from the reader rather than queue its answers
/// without end, serves everyone else meanwhile, and its resident memory comes back.
#[test]
fn memory_attacks_leave_a_node_as_it_was() {
    let cluster = TestCluster::start(3);
    write(&cluster, "seed", "kept");
    let server = &cluster.servers[0];
    let value = "x".repeat(60 * 1024);
    let set = |op: u64| json!({"cmd": "set", "op": op, "key": "big", "value": value});
    let get = |op: u64| json!({"cmd": "get", "op": op, "key": "big"});
    let mut writer = Peer::connect(&server.addr);
    // Warm up, so the allocator's pools for these sizes exist before the baseline.
    for op in 1..=50 {
        writer.ask(op, set(op));
        writer.ask(op + 1_000, get(op + 1_000));
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = server.rss_kib();

    let mut watcher = Peer::connect(&server.addr);
    watcher.send_text(r#"{"v":1,"id":1,"msg":{"cmd":"watch"}}"#);
    for op in 1..=500 {
        writer.ask(10_000 + op, set(10_000 + op)); // each a 60 KiB record the watcher never reads
    }
    let watching = server.rss_kib();
    drop(watcher);

    let mut reader = Peer::connect(&server.addr);
    for op in 1..=2_000u64 {
        let frame = json!({"v": 1, "id": op, "msg": get(op)});
        reader.send(tungstenite::Message::text(frame.to_string())).expect("the node takes the frames in");
    }
    std::thread::sleep(Duration::from_millis(500));
    let flooded = server.rss_kib();
    // Everyone else is served meanwhile.
    assert_eq!(writer.ask(20_000, get(20_000))["result"]["status"], "value");
    drop(reader);
    // The allocator hands freed pages back a second after they were freed, at its next turn.
    let mut after = server.rss_kib();
    for _ in 0..30 {
        if after * 10 <= before * 12 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        after = server.rss_kib();
    }
    eprintln!(
        "resident memory (KiB): before {before}, watcher unread {watching}, answers unread {flooded}, after {after}"
    );
    assert!(watching < before + 3 * (8 << 10), "an unread watcher grew the node from {before} to {watching} KiB");
    assert!(flooded < before + 3 * (8 << 10), "unread answers grew the node from {before} to {flooded} KiB");
    assert!(after * 10 <= before * 12, "resident memory went from {before} KiB to {after} KiB after the attacks");
    assert_eq!(read(&cluster, "seed"), ("kept".to_string(), 1));
}

#[test]
fn transaction_secrets_stay_out_of_watch_records_and_events_files() {
    let cluster = TestCluster::start(3);
    let mut watcher = Peer::connect(&cluster.servers[0].addr);
    watcher.send_text(r#"{"v":1,"id":1,"msg":{"cmd":"watch"}}"#);
    assert_eq!(watcher.read_json()["kind"], "hello");
    write(&cluster, "k", "v");
    let mut prepare = None;
    while prepare.is_none() {
        let record = watcher.read_json();
        if record["kind"] == "recv" && record["frame"]["msg"]["cmd"] == "prepare" {
            prepare = Some(record);
        }
    }
    let prepare = prepare.expect("seen");
    assert_eq!(prepare["frame"]["msg"]["secret"], "hidden", "{prepare}");
    for server in &cluster.servers {
        let text = server.events_text();
        let secrets: Vec<&str> =
            text.match_indices(r#""secret":""#).map(|(at, m)| &text[at + m.len()..][..6]).collect();
        assert!(!secrets.is_empty(), "{} recorded the prepare", server.addr);
        assert!(secrets.iter().all(|s| *s == "hidden"), "{}: {secrets:?}", server.addr);
    }
}

#[test]
fn without_a_key_a_node_listens_on_loopback_only() {
    for role in ["viewleader", "server"] {
        let out = Command::new(ringside_bin())
            .env_remove(KEY_ENV)
            .args([role, "--listen", "0.0.0.0", "--advertise", "10.0.0.1:39000", "--port", &free_port().to_string()])
            .output()
            .expect("ringside runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{role} listened on 0.0.0.0 without a key");
        assert!(stderr.contains("needs a cluster key"), "{role}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

/// The handshake's answer to a hand-made upgrade request for `path`: its status line and body.
fn handshake(addr: &str, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).expect("connects");
    tcp.set_read_timeout(Some(Duration::from_secs(5))).expect("a read timeout");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).expect("sent");
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    answer
}

#[test]
fn a_keyed_cluster_refuses_whoever_lacks_its_key() {
    let key = Some(CLUSTER_KEY);
    let (timeout, hb) = (FAILURE_MS.to_string(), HEARTBEAT_MS.to_string());
    let port = free_port().to_string();
    let view_leader = Process::start_keyed(
        "viewleader",
        &["--port", &port, "--heartbeat-ms", &hb, "--failure-timeout-ms", &timeout],
        key,
    );
    let vl = view_leader.addr.clone();
    let server_args = |port: &str| {
        ["--port", port, "--viewleader", &vl, "--heartbeat-ms", &hb, "--failure-timeout-ms", &timeout].map(String::from)
    };
    let start = |key: Option<&str>| {
        let args = server_args(&free_port().to_string());
        Process::start_keyed("server", &args.iter().map(String::as_str).collect::<Vec<_>>(), key)
    };
    let servers: Vec<Process> = (0..3).map(|_| start(key)).collect();
    settled(&vl, 3, Duration::from_secs(20));
    let cluster = TestCluster { view_leader, servers };
    write(&cluster, "k", "v");

    for addr in std::iter::once(&vl).chain(cluster.servers.iter().map(|s| &s.addr)) {
        for path in ["/", "/member", "/?key=wrong-key-wrong-key", "/member?key=ringside-tests-cluster-ke"] {
            let answer = handshake(addr, path);
            assert!(answer.starts_with("HTTP/1.1 401"), "{addr}{path}: {answer}");
            let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
            assert_eq!(body.trim().lines().count(), 1, "a one-line reason: {answer}");
        }
        assert!(Peer::connect_url(&format!("ws://{addr}/")).is_err(), "a WebSocket without the key got in");
        assert!(Peer::connect_url(&format!("ws://{addr}/?key={CLUSTER_KEY}")).is_ok());
    }
    // A client without the key, and one with another.
    for env in [None, Some("another-key-another-key")] {
        let mut command = Command::new(ringside_bin());
        match env {
            Some(other) => command.env(KEY_ENV, other),
            None => command.env_remove(KEY_ENV),
        };
        let out = command.args(["client", "--viewleader", &vl, "--attempts", "1", "getr", "k"]).output().expect("runs");
        assert!(!out.status.success(), "a client with key {env:?} read the cluster");
        assert!(String::from_utf8_lossy(&out.stderr).contains("401"), "{out:?}");
    }
    // A server without the key never joins.
    let outsider = start(None);
    std::thread::sleep(Duration::from_millis(5 * HEARTBEAT_MS));
    let (_, ids, _) = view(&vl).expect("a view");
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(!ids.contains(outsider.id.as_ref().expect("an id")));
    wait_until("the keyed cluster to still answer", Duration::from_secs(5), || cluster.client(&["getr", "k"]).ok);
    assert_eq!(read(&cluster, "k"), ("v".to_string(), 1));
}
