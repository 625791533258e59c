//! `ringside bench` runs end to end on a fresh machine, and a join into a loaded cluster moves
//! exactly the minimum number of copies. Its timings are printed, never asserted.

use std::process::Command;

#[test]
fn bench_prints_every_row_and_a_join_moves_the_minimum() {
    let out = Command::new(ringside_tests::ringside_bin())
        .args(["bench", "--ops", "200", "--rounds", "1", "--keys", "2000", "--moving", "1"])
        .output()
        .expect("ringside bench runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bench failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    let rows = ["echo round trip", "1-round fan-out to 3", "2-round fan-out to 3", "setr      1", "getr     16"];
    for row in rows.into_iter().chain(["during a join", "during a failure", "reads (getr)"]) {
        assert!(text.contains(row), "no {row:?} row in:\n{text}");
    }
    for line in text.lines().filter(|l| l.starts_with("setr") || l.starts_with("getr")) {
        let failed: usize = line.split_whitespace().nth(5).and_then(|f| f.parse().ok()).expect("a failed column");
        assert_eq!(failed, 0, "{line}");
    }
    let join = text.lines().find(|l| l.starts_with("join of s4")).unwrap_or_else(|| panic!("no join line in:\n{text}"));
    let moved = join.split("copies moved ").nth(1).and_then(|r| r.split(',').next()).expect("moved");
    let minimum = join.split("minimum ").nth(1).expect("minimum");
    assert_eq!(moved.trim(), minimum.trim(), "{join}");
    assert!(moved.trim().parse::<usize>().expect("a count") > 0, "{join}");
}
