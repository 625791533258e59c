//! The course's cases on real processes: a view leader and servers as `ringside` processes on
//! loopback, driven by the `ringside client` command line, as a user would. Each test runs its
//! own cluster on free ports; they mirror `crates/sim/tests/course.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::time::{Duration, Instant};

use ringside_core::ring::replicas;
use ringside_core::ServerId;
use ringside_tests::{client, client_spawn, matches, settled, view, ClientRun, Process, TestCluster, FAILURE_MS};
use serde_json::json;

/// Replicas per key (the default the servers and clients share).
const R: usize = 3;

/// Long enough for a view change and rebalancing on a loaded two-core machine.
const SETTLE: Duration = Duration::from_secs(30);

/// The view with addresses, as `query_servers --json` reports it.
struct Members {
    epoch: u64,
    /// (id, addr), sorted by id.
    servers: Vec<(String, String)>,
    rebalancing: bool,
}

impl Members {
    fn ids(&self) -> Vec<ServerId> {
        self.servers.iter().map(|(id, _)| ServerId::from(id.as_str())).collect()
    }
}

fn members(vl: &str) -> Option<Members> {
    let answer = client(vl, &["--json", "query_servers"]);
    if !answer.ok {
        return None;
    }
    let result = &answer.json()["result"];
    let servers = result["servers"]
        .as_array()?
        .iter()
        .filter_map(|m| Some((m["id"].as_str()?.to_string(), m["addr"].as_str()?.to_string())))
        .collect();
    Some(Members { epoch: result["epoch"].as_u64()?, servers, rebalancing: result["rebalancing"].as_bool()? })
}

/// Polls `check` every 50 ms until it returns `Ok`; on timeout, panics with its last complaint.
fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(t) => return t,
            Err(why) if start.elapsed() >= timeout => panic!("timed out after {timeout:?} waiting for {what}: {why}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A spawned client, killed if the test ends (or panics) before it exits.
struct Spawned(Option<Child>);

impl Spawned {
    fn new(vl: &str, args: &[&str]) -> Spawned {
        Spawned(Some(client_spawn(vl, args)))
    }

    fn running(&mut self) -> bool {
        matches!(self.0.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Waits (bounded) for it to exit and returns what it printed.
    fn finish(mut self, timeout: Duration) -> ClientRun {
        let start = Instant::now();
        while self.running() {
            assert!(start.elapsed() < timeout, "a spawned client still runs after {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = self.0.take().expect("not finished yet").wait_with_output().expect("the client's output");
        ClientRun {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn setr(vl: &str, key: &str, value: &str) -> u64 {
    let answer = client(vl, &["--json", "setr", key, value]);
    assert!(answer.ok, "setr {key} {value}: {answer:?}");
    answer.json()["result"]["version"].as_u64().expect("a version")
}

/// `getr KEY`: `Ok((value, version))` or `Err(the one-line message)`.
fn getr(vl: &str, key: &str) -> Result<(String, u64), String> {
    let answer = client(vl, &["--json", "getr", key]);
    let json = answer.json();
    if answer.ok {
        let result = &json["result"];
        Ok((result["value"].as_str().expect("a value").to_string(), result["version"].as_u64().expect("a version")))
    } else {
        Err(json["message"].as_str().unwrap_or_default().to_string())
    }
}

fn assert_reads(vl: &str, keys: &[(String, String)]) {
    for (key, value) in keys {
        match getr(vl, key) {
            Ok((got, _)) => assert_eq!(&got, value, "getr {key}"),
            Err(e) => panic!("getr {key} failed: {e}"),
        }
    }
}

/// The keys a server holds (`query_all_keys --server ADDR`).
fn keys_on(vl: &str, server: &str) -> Result<BTreeSet<String>, String> {
    let answer = client(vl, &["--server", server, "--json", "query_all_keys"]);
    if !answer.ok {
        return Err(format!("query_all_keys --server {server}: {answer:?}"));
    }
    let keys = answer.json()["result"]["keys"].as_array().ok_or("no keys array")?.clone();
    Ok(keys.iter().filter_map(|k| k.as_str().map(String::from)).collect())
}

/// Each server's keys, by id, in a view at rest: `Err` while the view is rebalancing.
fn holdings(vl: &str) -> Result<(Members, BTreeMap<String, BTreeSet<String>>), String> {
    let view = members(vl).ok_or("no view")?;
    if view.rebalancing {
        return Err(format!("epoch {} is rebalancing", view.epoch));
    }
    let mut held = BTreeMap::new();
    for (id, addr) in &view.servers {
        held.insert(id.clone(), keys_on(vl, addr)?);
    }
    Ok((view, held))
}

/// Checks, now, that each key sits on exactly its replicas in the current view (and on no other
/// server); returns the view and who holds what.
fn placement_holds(
    vl: &str,
    keys: &[(String, String)],
) -> Result<(Members, BTreeMap<String, BTreeSet<String>>), String> {
    let (view, held) = holdings(vl)?;
    let ids = view.ids();
    for (key, _) in keys {
        let want: BTreeSet<String> = replicas(key, &ids, R, 1).into_iter().map(|id| id.0).collect();
        let have: BTreeSet<String> = held.iter().filter(|(_, ks)| ks.contains(key)).map(|(id, _)| id.clone()).collect();
        if want != have {
            return Err(format!("epoch {}: {key} is on {have:?}, its replicas are {want:?}", view.epoch));
        }
    }
    Ok((view, held))
}

/// Waits until every key sits on exactly its replicas (old holders drop their copies once they
/// learn the epoch is fully rebalanced, a heartbeat after `settled`).
fn await_placement(vl: &str, keys: &[(String, String)]) -> (Members, BTreeMap<String, BTreeSet<String>>) {
    wait_for("each key on exactly its replicas", SETTLE, || placement_holds(vl, keys))
}

fn kv(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect()
}

fn write_all(vl: &str, keys: &[(String, String)]) {
    for (key, value) in keys {
        setr(vl, key, value);
    }
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {addr}"))
}

fn id_of(node: &Process) -> String {
    node.id.clone().expect("a server's id")
}

/// `set`, `get`, `query_all_keys` and `print` on one server through `--server`; `setr`/`getr`
/// on all three replicas with versions counting up; a missing key fails with a clear message.
#[test]
fn lookups_work() {
    let cluster = TestCluster::start(3);
    let vl = cluster.vl();
    let one = cluster.servers[0].addr.clone();

    // Local commands: one server only.
    let set = client(&vl, &["--server", &one, "set", "color", "blue"]);
    assert!(set.ok, "{set:?}");
    assert_eq!(set.stdout.trim(), "ok");
    let get = client(&vl, &["--server", &one, "get", "color"]);
    assert!(get.ok, "{get:?}");
    assert_eq!(get.stdout.trim(), "color = blue");
    let json = client(&vl, &["--server", &one, "--json", "get", "color"]).json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["result"]["value"], "blue");
    assert_eq!(keys_on(&vl, &one).unwrap(), BTreeSet::from(["color".to_string()]));
    for other in &cluster.servers[1..] {
        assert!(keys_on(&vl, &other.addr).unwrap().is_empty(), "set is not replicated");
    }
    let empty = client(&vl, &["--server", &cluster.servers[1].addr, "query_all_keys"]);
    assert_eq!(empty.stdout.trim(), "no keys", "{empty:?}");

    let print = client(&vl, &["--server", &one, "print", "hello from the test"]);
    assert!(print.ok, "{print:?}");
    cluster.servers[0].await_event(&json!({"event": "printed", "text": "hello from the test"}), Duration::from_secs(5));

    // A missing key: non-zero exit and a one-line reason, in words and in JSON.
    let missing = client(&vl, &["--server", &one, "get", "plum"]);
    assert!(!missing.ok, "{missing:?}");
    assert_eq!(missing.stderr.trim(), "error: not found: plum");
    let missing = client(&vl, &["--server", &one, "--json", "get", "plum"]).json();
    assert_eq!(missing["ok"], false);
    assert_eq!(missing["error"]["error"], "not_found");
    assert_eq!(missing["message"], "not found: plum");

    // Replicated: setr then getr (the former smoke test), versions 1 then 2.
    let w = client(&vl, &["setr", "apple", "red"]);
    assert!(w.ok, "{w:?}");
    assert_eq!(w.stdout.trim(), "apple = red committed at version 1");
    assert_eq!(setr(&vl, "apple", "green"), 2);
    assert_eq!(getr(&vl, "apple"), Ok(("green".to_string(), 2)));
    let words = client(&vl, &["getr", "apple"]);
    assert_eq!(words.stdout.trim(), "apple = green (version 2)", "{words:?}");
    for server in &cluster.servers {
        assert!(keys_on(&vl, &server.addr).unwrap().contains("apple"), "every server replicates apple with 3 servers");
    }
    let missing = client(&vl, &["getr", "plum"]);
    assert!(!missing.ok, "{missing:?}");
    assert_eq!(missing.stderr.trim(), "error: not found: plum");
    assert_eq!(getr(&vl, "plum"), Err("not found: plum".to_string()));
}

/// A join and a failure each change the view and raise the epoch by exactly one.
#[test]
fn adding_and_removing_a_server_changes_the_view_and_epoch() {
    let mut cluster = TestCluster::start(3);
    let vl = cluster.vl();
    let (epoch, ids, _) = view(&vl).expect("a view");
    assert_eq!(epoch, 3, "one epoch per join");
    let started: BTreeSet<String> = cluster.servers.iter().map(id_of).collect();
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), started);

    let newcomer = Process::server(&vl, 0);
    assert_eq!(settled(&vl, 4, SETTLE), 4);
    let (_, ids, _) = view(&vl).unwrap();
    assert!(ids.contains(&id_of(&newcomer)), "{ids:?}");
    let words = client(&vl, &["query_servers"]);
    assert!(words.stdout.starts_with("epoch 4, 4 server(s), rebalancing done"), "{words:?}");
    assert!(words.stdout.contains(&newcomer.addr), "{words:?}");

    let gone = id_of(&cluster.servers[1]);
    cluster.servers[1].kill();
    assert_eq!(settled(&vl, 3, SETTLE), 5);
    let (_, ids, _) = view(&vl).unwrap();
    assert!(!ids.contains(&gone), "{ids:?}");
    assert!(ids.contains(&id_of(&newcomer)));
    assert!(cluster.view_leader.has_event(&json!({"event": "server_failed", "id": gone, "epoch": 5})));
    // The survivors learn the new epoch.
    for server in [&cluster.servers[0], &cluster.servers[2], &newcomer] {
        server.await_event(&json!({"event": "view_learned", "epoch": 5, "servers": 3}), SETTLE);
    }
}

/// kill -9 of a key's primary: getr still answers, before and after the failure is noticed, and
/// afterwards every key sits on its new replicas.
#[test]
fn getr_survives_the_loss_of_the_primary() {
    let mut cluster = TestCluster::start(4);
    let vl = cluster.vl();
    let keys = kv(8);
    write_all(&vl, &keys);
    let ids: Vec<ServerId> = cluster.servers.iter().map(|s| ServerId::from(id_of(s).as_str())).collect();
    let primary = replicas("k0", &ids, R, 1)[0].0.clone();
    let victim = cluster.servers.iter().position(|s| id_of(s) == primary).expect("the primary is ours");
    cluster.servers[victim].kill();
    // At once, before the view leader notices: the other replicas answer (the client retries).
    assert_eq!(getr(&vl, "k0").map(|(v, _)| v), Ok("v0".to_string()));
    settled(&vl, 3, SETTLE);
    let (_, ids, _) = view(&vl).unwrap();
    assert!(!ids.contains(&primary));
    assert_reads(&vl, &keys);
    await_placement(&vl, &keys);
}

/// Reads issued while a server joins and another fails retry through the view changes; after
/// settling (and after one more join) the values have moved to exactly their new replicas.
#[test]
fn getr_across_view_changes_and_values_migrate_to_the_new_replicas() {
    let mut cluster = TestCluster::start(5);
    let vl = cluster.vl();
    let keys = kv(20);
    write_all(&vl, &keys);
    let before = await_placement(&vl, &keys).0.epoch;

    let joined = Process::server(&vl, 0);
    cluster.servers[0].kill();
    // Read through the join and the failure.
    assert_reads(&vl, &keys);
    let epoch = settled(&vl, 5, SETTLE);
    assert_eq!(epoch, before + 2, "one join, one failure");
    assert_reads(&vl, &keys);
    await_placement(&vl, &keys);

    let newcomer = Process::server(&vl, 0);
    settled(&vl, 6, SETTLE);
    let (now, held) = await_placement(&vl, &keys);
    let ids = now.ids();
    let mine = id_of(&newcomer);
    let expected: BTreeSet<String> = keys
        .iter()
        .filter(|(k, _)| replicas(k, &ids, R, 1).iter().any(|id| id.0 == mine))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(!expected.is_empty(), "the newcomer replicates some keys");
    assert_eq!(held[&mine], expected);
    // The copies it received carry the values.
    for key in &expected {
        let get = client(&vl, &["--server", &newcomer.addr, "get", key]);
        assert_eq!(get.stdout.trim(), format!("{key} = v{}", &key[1..]), "{get:?}");
    }
    assert!(newcomer.has_event(&json!({"event": "transfer_received"})), "the newcomer recorded its transfers");
    assert!(view(&vl).unwrap().1.contains(&id_of(&joined)), "the first newcomer stays");
    assert_reads(&vl, &keys);
}

/// Killing servers one by one down to one loses nothing; growing back to five spreads the keys
/// out again, each on exactly min(R, n) servers.
#[test]
fn killing_servers_down_to_one_loses_nothing_and_growing_back_spreads_keys() {
    let mut cluster = TestCluster::start(5);
    let vl = cluster.vl();
    let keys = kv(30);
    write_all(&vl, &keys);
    for n in (1..5).rev() {
        cluster.servers[n].kill();
        settled(&vl, n, SETTLE);
        assert_reads(&vl, &keys);
        await_placement(&vl, &keys);
    }
    let (_, held) = holdings(&vl).unwrap();
    assert_eq!(held.values().map(BTreeSet::len).collect::<Vec<_>>(), vec![30], "one server holds every key");

    let mut grown = Vec::new();
    for n in 2..=5 {
        grown.push(Process::server(&vl, 0));
        settled(&vl, n, SETTLE);
        let (now, held) = await_placement(&vl, &keys);
        let copies: usize = held.values().map(BTreeSet::len).sum();
        assert_eq!(copies, 30 * R.min(n), "{n} servers: every key on min(R, n) servers");
        if n > R {
            // Spread out again: no longer does one server hold everything. With one ring position
            // per server a server may still hold all 30 keys when no key hashes into the arcs
            // that skip it (likely with 4 random ids), so "holds all" is checked against the ring.
            assert!(held.values().any(|ks| ks.len() < 30), "{n} servers: keys spread out again: {held:?}");
            let ids = now.ids();
            for (id, ks) in &held {
                let ring_says_all = keys.iter().all(|(k, _)| replicas(k, &ids, R, 1).iter().any(|r| r.0 == *id));
                assert_eq!(ks.len() == 30, ring_says_all, "{n} servers: {id} holds {} keys: {held:?}", ks.len());
            }
        }
    }
    assert_reads(&vl, &keys);
}

/// A server restarted on its port is a new server: a new id, joining only once the old id has
/// failed; the old id never comes back, and the data is still readable.
#[test]
fn a_restarted_server_joins_as_a_new_server() {
    let mut cluster = TestCluster::start(3);
    let vl = cluster.vl();
    let keys = kv(10);
    write_all(&vl, &keys);
    let old_id = id_of(&cluster.servers[0]);
    let port = port_of(&cluster.servers[0].addr);
    cluster.servers[0].kill();
    let again = Process::server(&vl, port);
    let new_id = id_of(&again);
    assert_ne!(new_id, old_id, "a restart is a new identity");
    assert_eq!(again.addr, cluster.servers[0].addr);
    // Until the old id fails its address is taken: the newcomer is told to retry.
    again.await_event(&json!({"event": "told_to_retry"}), SETTLE);
    wait_for("the old id out and the new one in", SETTLE, || match view(&vl) {
        Some((_, ids, false)) if ids.len() == 3 && ids.contains(&new_id) && !ids.contains(&old_id) => Ok(()),
        other => Err(format!("{other:?}")),
    });
    let events = cluster.view_leader.events();
    let failed = events.iter().position(|e| matches(e, &json!({"event": "server_failed", "id": old_id})));
    let joined =
        events.iter().position(|e| matches(e, &json!({"event": "server_joined", "id": new_id, "addr": again.addr})));
    assert!(
        matches!((failed, joined), (Some(f), Some(j)) if f < j),
        "the old id fails before the new joins: {events:#?}"
    );
    assert_reads(&vl, &keys);
    await_placement(&vl, &keys);
    assert_eq!(keys_on(&vl, &again.addr).unwrap().len(), keys.len(), "with 3 servers the newcomer holds every key");
}

/// Two processes race `setr` on one key, round after round: at most one wins a round (two
/// successes must be serial, at different versions), a loser fails with the conflict, getr
/// returns the winner's value; meanwhile a setr of another key commits every round.
#[test]
fn two_concurrent_setr_of_one_key_at_most_one_wins_while_other_keys_commit() {
    let cluster = TestCluster::start(3);
    let vl = cluster.vl();
    let mut current: Option<(String, u64)> = None;
    let mut tally = BTreeMap::<usize, usize>::new();
    for round in 0..8 {
        let (va, vb) = (format!("r{round}-a"), format!("r{round}-b"));
        let a = Spawned::new(&vl, &["--json", "setr", "x", &va]);
        let b = Spawned::new(&vl, &["--json", "setr", "x", &vb]);
        let other = Spawned::new(&vl, &["--json", "setr", &format!("y{round}"), "free"]);
        let results = [(va, a.finish(SETTLE)), (vb, b.finish(SETTLE))];
        let other = other.finish(SETTLE);
        assert!(other.ok, "round {round}: the other key did not commit: {other:?}");
        let mut winners = Vec::new();
        for (value, answer) in &results {
            let json = answer.json();
            if answer.ok {
                winners.push((value.clone(), json["result"]["version"].as_u64().expect("a version")));
            } else {
                assert_eq!(
                    json["error"]["error"], "conflict",
                    "round {round}: a loser fails with the conflict: {json}"
                );
            }
        }
        *tally.entry(winners.len()).or_default() += 1;
        if let [(_, v1), (_, v2)] = winners.as_slice() {
            assert_ne!(v1, v2, "round {round}: both writes won at the same version: {results:?}");
        }
        if let Some(newest) = winners.iter().max_by_key(|(_, v)| *v) {
            current = Some(newest.clone());
        }
        match &current {
            Some(expected) => assert_eq!(getr(&vl, "x").as_ref(), Ok(expected), "round {round}: {results:?}"),
            None => assert_eq!(getr(&vl, "x"), Err("not found: x".to_string()), "round {round}"),
        }
        assert_eq!(getr(&vl, &format!("y{round}")).map(|(v, _)| v), Ok("free".to_string()));
    }
    eprintln!("rounds by number of winners: {tally:?}");
    if tally.keys().any(|&won| won < 2) {
        // A write lost: some replica had voted no because the key was busy with the other one.
        let key_busy = |e: &serde_json::Value| e["event"] == "voted" && e["reason"]["reason"] == "key_busy";
        let busy = cluster.servers.iter().map(|s| s.events().iter().filter(|e| key_busy(e)).count()).sum::<usize>();
        assert!(busy > 0, "a conflict without a key_busy vote in any server's records");
    }
    // The races leave nothing locked: a lone write commits.
    let version = setr(&vl, "x", "alone");
    assert_eq!(getr(&vl, "x"), Ok(("alone".to_string(), version)));
    // Replicas agree on x.
    for server in &cluster.servers {
        let get = client(&vl, &["--server", &server.addr, "get", "x"]);
        assert_eq!(get.stdout.trim(), "x = alone", "{get:?}");
    }
}

/// Locks: a holder, a queued waiter that keeps asking, idempotent re-get, hand-over on release,
/// one-line errors, and a deadlock refused with its cycle.
#[test]
fn locks_queue_hand_over_report_errors_and_detect_deadlock() {
    let cluster = TestCluster::start(1);
    let vl = cluster.vl();
    let leader = &cluster.view_leader;

    let got = client(&vl, &["lock_get", "atm", "atm1"]);
    assert!(got.ok, "{got:?}");
    assert_eq!(got.stdout.trim(), "lock atm granted to atm1");

    // atm2 waits in the queue, asking again every 200 ms.
    let mut waiter = Spawned::new(&vl, &["--lock-retry-ms", "200", "lock_get", "atm", "atm2"]);
    let queued = |requester: &str, name: &str| json!({"event": "lock_queued", "name": name, "requester": requester});
    let queued_at = |requester: &str, name: &str, place: usize| json!({"event": "lock_queued", "name": name, "requester": requester, "position": place});
    leader.await_event(&queued_at("atm2", "atm", 1), SETTLE);
    std::thread::sleep(Duration::from_millis(700));
    assert!(waiter.running(), "atm2 still waits");
    // It keeps asking (each ask is recorded with its place), and stays at place 1.
    assert!(leader.count_events(&queued("atm2", "atm")) >= 2, "atm2 asks again while queued");
    assert_eq!(leader.count_events(&queued("atm2", "atm")), leader.count_events(&queued_at("atm2", "atm", 1)));

    // Idempotent for the holder.
    let again = client(&vl, &["lock_get", "atm", "atm1"]);
    assert!(again.ok, "{again:?}");
    assert_eq!(again.stdout.trim(), "lock atm granted to atm1");
    assert!(waiter.running());
    // Queued once however often it asks: atm3 comes second, not later.
    let mut third = Spawned::new(&vl, &["--lock-retry-ms", "200", "lock_get", "atm", "atm3"]);
    leader.await_event(&queued_at("atm3", "atm", 2), SETTLE);
    assert!(!leader.has_event(&queued_at("atm3", "atm", 3)));

    // Errors: non-zero exit and one line saying why.
    let unknown = client(&vl, &["lock_release", "vault", "atm1"]);
    assert!(!unknown.ok, "{unknown:?}");
    assert_eq!(unknown.stderr.trim(), "error: unknown lock");
    let stranger = client(&vl, &["lock_release", "atm", "atm9"]);
    assert!(!stranger.ok, "{stranger:?}");
    assert_eq!(stranger.stderr.trim(), "error: not the holder nor a waiter of this lock");
    let json = client(&vl, &["--json", "lock_release", "atm", "atm9"]).json();
    assert_eq!(json["error"]["error"], "not_holder_or_waiter", "{json}");

    // Release hands over to atm2, whose lock_get then finishes.
    let released = client(&vl, &["lock_release", "atm", "atm1"]);
    assert!(released.ok, "{released:?}");
    assert_eq!(released.stdout.trim(), "released lock atm; atm2 holds it now");
    let granted = waiter.finish(SETTLE);
    assert!(granted.ok, "{granted:?}");
    assert_eq!(granted.stdout.trim(), "lock atm granted to atm2");
    assert!(granted.stderr.contains("waiting, place 1 in the queue"), "{granted:?}");
    let former = client(&vl, &["lock_release", "atm", "atm1"]);
    assert!(!former.ok, "the former holder holds nothing: {former:?}");
    assert!(third.running(), "atm3 waits, now at place 1");
    leader.await_event(&queued_at("atm3", "atm", 1), SETTLE);
    let released = client(&vl, &["lock_release", "atm", "atm2"]);
    assert_eq!(released.stdout.trim(), "released lock atm; atm3 holds it now", "{released:?}");
    let granted = third.finish(SETTLE);
    assert_eq!(granted.stdout.trim(), "lock atm granted to atm3", "{granted:?}");

    // Deadlock: A holds x, B holds y, A waits for y, B asks for x.
    assert!(client(&vl, &["lock_get", "x", "A"]).ok);
    assert!(client(&vl, &["lock_get", "y", "B"]).ok);
    let mut a_waits = Spawned::new(&vl, &["--lock-retry-ms", "200", "lock_get", "y", "A"]);
    leader.await_event(&queued("A", "y"), SETTLE);
    let deadlock = client(&vl, &["--json", "lock_get", "x", "B"]);
    assert!(!deadlock.ok, "{deadlock:?}");
    let json = deadlock.json();
    assert_eq!(json["error"]["error"], "deadlock", "{json}");
    assert_eq!(json["error"]["cycle"], serde_json::json!(["B", "A"]), "{json}");
    // The refused request is not queued, so asking again is refused again; in words this time.
    let words = client(&vl, &["lock_get", "x", "B"]);
    assert!(!words.ok, "{words:?}");
    assert_eq!(words.stderr.trim(), "error: deadlock: B waits for A");
    assert!(leader.has_event(&json!({"event": "lock_deadlock", "name": "x", "requester": "B", "cycle": ["B", "A"]})));
    assert!(!leader.has_event(&queued("B", "x")), "never queued");
    assert!(a_waits.running(), "A still waits for y");
    // B gives up y: A gets it.
    let released = client(&vl, &["lock_release", "y", "B"]);
    assert_eq!(released.stdout.trim(), "released lock y; A holds it now", "{released:?}");
    assert!(a_waits.finish(SETTLE).ok);
}

/// The view leader is killed and restarted on its port: the servers keep heartbeating, it
/// gathers them and forms one view above every epoch they knew, and the data is intact.
///
/// Locks live only in the view leader's memory: locks held before the restart are gone after
/// it (the README says so); the old holder's release is answered "unknown lock".
#[test]
fn the_view_leader_restarts_and_recovers_the_view() {
    let mut cluster = TestCluster::start(3);
    let vl = cluster.vl();
    let keys = kv(10);
    write_all(&vl, &keys);
    assert!(cluster.client(&["lock_get", "vault", "teller1"]).ok);
    let (old_epoch, old_ids, _) = view(&vl).expect("a view");

    cluster.view_leader.kill();
    cluster.view_leader = Process::view_leader(port_of(&vl));
    assert_eq!(cluster.vl(), vl);
    let leader = &cluster.view_leader;
    leader.await_event(&json!({"event": "recovered"}), SETTLE);
    assert!(leader.has_event(&json!({"event": "recovering", "epoch": old_epoch})), "{:#?}", leader.events());
    let epoch = settled(&vl, 3, SETTLE);
    assert!(epoch > old_epoch, "new epoch {epoch} above the old {old_epoch}");
    let (_, ids, _) = view(&vl).unwrap();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>(), old_ids.iter().collect::<BTreeSet<_>>(), "the same servers");
    for server in &cluster.servers {
        server.await_event(&json!({"event": "view_learned", "epoch": epoch, "servers": 3}), SETTLE);
    }

    assert_reads(&vl, &keys);
    assert_eq!(setr(&vl, "after", "restart"), 1);
    assert_eq!(getr(&vl, "after"), Ok(("restart".to_string(), 1)));
    assert_eq!(setr(&vl, "k0", "new"), 2);
    assert_eq!(getr(&vl, "k0"), Ok(("new".to_string(), 2)));

    // The lock teller1 held died with the old view leader.
    let release = cluster.client(&["lock_release", "vault", "teller1"]);
    assert!(!release.ok, "{release:?}");
    assert_eq!(release.stderr.trim(), "error: unknown lock");
    let got = cluster.client(&["lock_get", "vault", "teller2"]);
    assert_eq!(got.stdout.trim(), "lock vault granted to teller2", "{got:?}");
}

/// A view leader stopped (SIGSTOP) for three failure timeouts wakes to heartbeats it has not
/// read yet and failure timers long past: it gives every server a fresh timeout instead of
/// failing them all, so the view keeps its servers and every key reads back.
#[test]
fn a_view_leader_paused_past_the_failure_timeout_keeps_its_servers() {
    let cluster = TestCluster::start(3);
    let vl = cluster.vl();
    let keys = kv(10);
    write_all(&vl, &keys);
    let before = view(&vl).expect("a view");
    cluster.view_leader.signal("STOP");
    std::thread::sleep(Duration::from_millis(3 * FAILURE_MS));
    cluster.view_leader.signal("CONT");
    cluster.view_leader.await_event(&json!({"event": "leader_paused", "servers": 3}), SETTLE);
    // Past a failure timeout after the pause: a server failed for it would be out by now.
    std::thread::sleep(Duration::from_millis(2 * FAILURE_MS));
    assert!(!cluster.view_leader.has_event(&json!({"event": "server_failed"})), "{:#?}", cluster.view_leader.events());
    assert_eq!(view(&vl), Some(before), "the same view, epoch and servers");
    assert_reads(&vl, &keys);
}
