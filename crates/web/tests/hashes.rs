//! Determinism across targets, native half: `hashes.json` holds a few fixed sessions with
//! their trace hashes. This test rebuilds each session natively from its recipe and checks
//! that both the session and its replayed hash equal the file; `browser.rs` replays the same
//! sessions in WebAssembly (in headless Chromium) and checks the same hashes. If the two
//! targets ever disagree, one of the two tests fails.
//!
//! After an intended change of the simulation (a new trace), regenerate the file with
//! `RINGSIDE_BLESS=1 cargo test -p ringside-web --test hashes`, then run the browser half:
//! `cargo test -p ringside-web --target wasm32-unknown-unknown` (or `cargo xtask test`).

#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;

use ringside_sim::session::{client, server};
use ringside_sim::{Action, Input, Session, Setup, Tamper};
use ringside_web::app::App;
use serde_json::{json, Value};

const FILE: &str = include_str!("hashes.json");
const BLESS_VAR: &str = "RINGSIDE_BLESS";
const REGENERATE: &str = "if the trace was meant to change, regenerate crates/web/tests/hashes.json with \
     `RINGSIDE_BLESS=1 cargo test -p ringside-web --test hashes`, then run the browser half: \
     `cargo test -p ringside-web --target wasm32-unknown-unknown`";

/// A fixed session and how it is made.
struct Case {
    name: &'static str,
    about: &'static str,
    build: fn() -> App,
}

const CASES: [Case; 3] = [
    Case { name: "default-2000", about: "the default setup, stepped 2000 events", build: default_2000 },
    Case { name: "lesson-4", about: "lesson 4 (a two-phase commit) played to its end", build: lesson_4 },
    Case {
        name: "tamper-partition",
        about: "writes while messages are dropped, delayed and duplicated, then a partition and a heal",
        build: tamper_partition,
    },
];

fn default_2000() -> App {
    let mut app = App::new(Session::new(Setup::default()));
    app.input(Input::Steps { n: 2_000 });
    app
}

fn lesson_4() -> App {
    let mut app = App::new(Session::default());
    app.start_lesson(3).expect("lesson 4 exists");
    while app.lesson_next() {}
    app
}

fn tamper_partition() -> App {
    let mut app = App::new(Session::new(Setup { seed: 42, servers: 4, clients: 2, vnodes: 4, ..Setup::default() }));
    app.run_for(2_000);
    for (n, key) in [(1, "a"), (2, "b"), (1, "c")] {
        app.act(Action::setr(client(n), key.into(), format!("{key}{n}")));
    }
    app.run_until(1_000, |sim| sim.in_flight().len() >= 3);
    let flying: Vec<u64> = app.sim.in_flight().iter().map(|m| m.id).collect();
    assert!(flying.len() >= 3, "the recipe needs three messages in flight, found {}", flying.len());
    app.tamper(flying[0], Tamper::Drop);
    app.tamper(flying[1], Tamper::Delay(250));
    app.tamper(flying[2], Tamper::Duplicate);
    app.run_for(1_000);
    app.act(Action::Partition { side: vec![server(1), client(2)] });
    app.act(Action::setr(client(2), "d".into(), "cut off".into()));
    app.run_for(3_000);
    app.act(Action::Heal);
    app.run_for(3_000);
    app
}

/// The file's cases, by name: (session, hash).
fn stored() -> Vec<(String, Value, String)> {
    let file: Value = serde_json::from_str(FILE).expect("hashes.json is JSON");
    file["cases"]
        .as_array()
        .expect("hashes.json has a `cases` array")
        .iter()
        .map(|case| {
            let name = case["name"].as_str().expect("a case has a name").to_owned();
            let hash = case["hash"].as_str().expect("a case has a hash").to_owned();
            (name, case["session"].clone(), hash)
        })
        .collect()
}

fn bless(built: &[(&Case, App)]) {
    let cases: Vec<Value> = built
        .iter()
        .map(|(case, app)| {
            json!({
                "name": case.name,
                "about": case.about,
                "hash": app.trace_hash(),
                "session": serde_json::to_value(&app.session).expect("a session serializes"),
            })
        })
        .collect();
    let file = json!({
        "about": "Fixed sessions and their trace hashes, checked natively by tests/hashes.rs and in \
                  the browser by tests/browser.rs. Regenerate: RINGSIDE_BLESS=1 cargo test -p \
                  ringside-web --test hashes",
        "cases": cases,
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hashes.json");
    let text = serde_json::to_string_pretty(&file).expect("JSON serializes") + "\n";
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    eprintln!("wrote {}; now run the browser half too", path.display());
}

#[test]
fn native_hashes_equal_the_recorded_ones() {
    let built: Vec<(&Case, App)> = CASES.iter().map(|case| (case, (case.build)())).collect();
    for (case, app) in &built {
        assert!(app.sim.violation().is_none(), "{}: {:?}", case.name, app.sim.violation());
    }
    if std::env::var_os(BLESS_VAR).is_some_and(|v| !v.is_empty()) {
        bless(&built);
        return;
    }

    let stored = stored();
    let names: Vec<&str> = stored.iter().map(|(name, ..)| name.as_str()).collect();
    let wanted: Vec<&str> = CASES.iter().map(|case| case.name).collect();
    assert_eq!(names, wanted, "hashes.json names other cases than this test builds; {REGENERATE}");

    for ((case, app), (_, session, hash)) in built.iter().zip(&stored) {
        let session: Session = serde_json::from_value(session.clone())
            .unwrap_or_else(|e| panic!("{}: the stored session does not parse ({e}); {REGENERATE}", case.name));
        assert!(
            session == app.session,
            "{}: the recipe now records a different session than hashes.json holds; {REGENERATE}",
            case.name
        );
        let replayed = session.replay().trace().hash();
        assert_eq!(
            &replayed, hash,
            "{}: replaying the stored session natively gives another hash; {REGENERATE}",
            case.name
        );
        assert_eq!(&app.trace_hash(), hash, "{}: playing the recipe gives another hash; {REGENERATE}", case.name);
    }
}
