//! The command line explains itself and refuses bad flags with a reason.

use std::process::Command;

fn ringside(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ringside")).args(args).output().expect("ringside runs")
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["viewleader", "server", "client", "cluster", "bench"] {
        let out = ringside(&[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help failed");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: ringside"), "{sub}: {text}");
    }
    let client = String::from_utf8_lossy(&ringside(&["client", "--help"]).stdout).into_owned();
    for command in ["setr", "getr", "lock_get", "lock_release", "query_all_keys", "query_servers"] {
        assert!(client.contains(command), "client --help lacks {command}");
    }
}

#[test]
fn too_slow_a_heartbeat_is_refused_with_a_reason() {
    let out = ringside(&["server", "--port", "0", "--heartbeat-ms", "2000", "--failure-timeout-ms", "3000"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--heartbeat-ms 2000 is too slow"), "{err}");
}

#[test]
fn an_unreachable_view_leader_is_one_line_and_a_failure() {
    let out = ringside(&["client", "--viewleader", "127.0.0.1:1", "query_servers"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: cannot reach 127.0.0.1:1"), "{err}");
}
