//! The course's replicated view leader on real processes: three `ringside viewleader`
//! replicas, each with a data directory of its own, and servers and clients given the list. A
//! client holds a lock while the leader is killed with SIGKILL; a follower is killed; a
//! majority is lost and comes back.

use std::process::Child;
use std::time::{Duration, Instant};

use ringside_tests::view_leaders::ViewLeaders;
use ringside_tests::{client, client_spawn, settled, view, wait_until, Process, FAILURE_MS};
use serde_json::json;

/// The replica that leads, once one does.
fn leading(replicas: &ViewLeaders) -> usize {
    let mut found = None;
    wait_until("a replica that leads", Duration::from_secs(10), || {
        found = replicas.leader();
        found.is_some()
    });
    found.expect("found")
}

fn servers(replicas: &ViewLeaders, n: usize) -> Vec<Process> {
    let servers = (0..n).map(|_| Process::server(&replicas.list, 0)).collect();
    settled(&replicas.list, n, Duration::from_secs(20));
    servers
}

/// Waits for a spawned client to end; its exit status and stdout.
fn finish(mut child: Child, within: Duration) -> Option<(bool, String)> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut out = String::new();
            std::io::Read::read_to_string(child.stdout.as_mut().expect("piped"), &mut out).expect("read");
            return Some((status.success(), out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[test]
fn a_lock_survives_the_leaders_death_and_the_next_client_waits_for_it() {
    let mut replicas = ViewLeaders::start(3);
    let _servers = servers(&replicas, 3);
    let (epoch, ..) = view(&replicas.list).expect("a view");
    let got = client(&replicas.list, &["lock_get", "x", "c1"]);
    assert!(got.ok && got.stdout.contains("granted"), "{got:?}");
    let leader = leading(&replicas);
    replicas.kill(leader);
    // W asks for x: the new leader knows c1 holds it, and W waits in the queue.
    let waiting = client_spawn(&replicas.list, &["--lock-retry-ms", "200", "lock_get", "x", "c2"]);
    std::thread::sleep(Duration::from_millis(3 * FAILURE_MS));
    let new = leading(&replicas);
    assert_ne!(new, leader, "a new leader was elected");
    let released = client(&replicas.list, &["lock_release", "x", "c1"]);
    assert!(released.ok, "{released:?}");
    let (ok, out) = finish(waiting, Duration::from_secs(10)).expect("c2 got x once c1 released it");
    assert!(ok && out.contains("granted to c2"), "{out}");
    // No server was failed for the election's silence: the servers' lease outlasted it.
    assert_eq!(view(&replicas.list).map(|v| v.0), Some(epoch));
    // The killed replica comes back from its disk and has the lock table too.
    replicas.restart(leader);
    let back = replicas.get(leader).expect("restarted");
    back.await_event(&json!({"event": "lock_granted", "name": "x", "requester": "c2"}), Duration::from_secs(10));
}

#[test]
fn killing_a_follower_changes_nothing() {
    let mut replicas = ViewLeaders::start(3);
    let _servers = servers(&replicas, 3);
    let (epoch, ..) = view(&replicas.list).expect("a view");
    let leader = leading(&replicas);
    replicas.kill((leader + 1) % 3);
    let write = client(&replicas.list, &["setr", "k", "v"]);
    assert!(write.ok, "{write:?}");
    let lock = client(&replicas.list, &["lock_get", "y", "c1"]);
    assert!(lock.ok, "{lock:?}");
    assert_eq!(leading(&replicas), leader);
    assert_eq!(view(&replicas.list).map(|v| v.0), Some(epoch));
}

#[test]
fn below_a_majority_locks_fail_with_a_reason_and_work_again_when_it_is_back() {
    let mut replicas = ViewLeaders::start(3);
    let _servers = servers(&replicas, 2);
    let leader = leading(&replicas);
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for i in &others {
        replicas.kill(*i);
    }
    let refused = client(&replicas.list, &["lock_get", "z", "c1"]);
    assert!(!refused.ok, "{refused:?}");
    assert!(
        refused.stderr.contains("no view-leader replica leads: none of the 3 answered as leader (with fewer than 2"),
        "{refused:?}"
    );
    for i in &others {
        replicas.restart(*i);
    }
    let got = client(&replicas.list, &["lock_get", "z", "c1"]);
    assert!(got.ok && got.stdout.contains("granted"), "{got:?}");
    settled(&replicas.list, 2, Duration::from_secs(20));
}
