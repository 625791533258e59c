//! `ringside cluster` starts a view leader and servers, prints their addresses, takes `list`,
//! `add`, `kill ID` and `quit` on stdin, and stops every child when it quits.

use std::time::Duration;

use ringside_tests::{free_port, settled, wait_until, RunningCluster};

#[test]
fn cluster_takes_commands_on_stdin_and_stops_its_children() {
    let port = free_port().to_string();
    let mut cluster = RunningCluster::start(&["--servers", "2", "--port", &port]);
    let vl = format!("127.0.0.1:{port}");
    cluster.expect(&format!("view leader at {vl}"));
    // Children's log lines come through with a prefix per node.
    cluster.expect("[s1] ");
    settled(&vl, 2, Duration::from_secs(20));

    cluster.command("add");
    cluster.expect("started s3 at 127.0.0.1:");
    settled(&vl, 3, Duration::from_secs(20));
    cluster.command("kill s1");
    cluster.expect("killed s1");
    settled(&vl, 2, Duration::from_secs(20));
    cluster.command("list");
    let killed = cluster.expect("killed");
    assert!(killed.contains("s1"), "{killed}");
    cluster.command("kill nobody");
    cluster.expect("error: no server nobody");
    cluster.quit();
    cluster.expect("stopping every node");
    // Its children went with it: nothing answers at the view leader's address any more.
    wait_until("the view leader to stop", Duration::from_secs(10), || std::net::TcpStream::connect(&vl).is_err());
}
