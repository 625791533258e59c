//! `ringside cluster` starts a view leader and servers, prints their addresses, takes `list`,
//! `add`, `kill ID` and `quit` on stdin, and stops every child when it quits.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ringside_tests::{free_port, settled, wait_until};

#[test]
fn cluster_takes_commands_on_stdin_and_stops_its_children() {
    let port = free_port().to_string();
    let mut cluster = Command::new(ringside_tests::ringside_bin())
        .args(["cluster", "--servers", "2", "--port", &port, "--heartbeat-ms", "100", "--failure-timeout-ms", "1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ringside cluster starts");
    let (tx, lines) = mpsc::channel();
    let stdout = cluster.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let mut expect = |needle: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !seen.iter().any(|l: &String| l.contains(needle)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!("no line containing {needle:?} in:\n{}", seen.join("\n")),
            }
        }
        seen.iter().find(|l| l.contains(needle)).cloned().expect("just found")
    };
    let vl = format!("127.0.0.1:{port}");
    expect(&format!("view leader at {vl}"));
    // Children's log lines come through with a prefix per node.
    expect("[s1] ");
    settled(&vl, 2, Duration::from_secs(20));

    let mut stdin = cluster.stdin.take().expect("piped");
    writeln!(stdin, "add").expect("stdin");
    expect("started s3 at 127.0.0.1:");
    settled(&vl, 3, Duration::from_secs(20));
    writeln!(stdin, "kill s1").expect("stdin");
    expect("killed s1");
    settled(&vl, 2, Duration::from_secs(20));
    writeln!(stdin, "list").expect("stdin");
    let killed = expect("killed");
    assert!(killed.contains("s1"), "{killed}");
    writeln!(stdin, "kill nobody").expect("stdin");
    expect("error: no server nobody");
    writeln!(stdin, "quit").expect("stdin");
    expect("stopping every node");
    wait_until("the cluster to exit", Duration::from_secs(10), || matches!(cluster.try_wait(), Ok(Some(_))));
    // Its children went with it: nothing answers at the view leader's address any more.
    wait_until("the view leader to stop", Duration::from_secs(10), || std::net::TcpStream::connect(&vl).is_err());
}
