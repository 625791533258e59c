//! The page's logic compiled to WebAssembly and run in headless Chromium:
//! `cargo test -p ringside-web --target wasm32-unknown-unknown` (the runner and the browser
//! flags are set in `.cargo/config.toml` and `crates/web/webdriver.json`; `cargo xtask test`
//! runs it with the tools in place).
//!
//! Determinism across targets: `hashes.json` holds fixed sessions with the trace hashes they
//! replay to natively (`tests/hashes.rs` checks that half); here the same sessions replay in
//! the browser and must reach the same hashes. A mismatch after an intended change of the
//! trace: regenerate the file as `tests/hashes.rs` says, then run both halves again.
//!
//! The page's links are percent-encoded by the browser itself (`encodeURIComponent`), so they
//! are checked here too.

#![cfg(target_arch = "wasm32")]

use ringside_core::Addr;
use ringside_sim::{Action, Input, Session, Setup};
use ringside_web::app::App;
use ringside_web::lessons::LESSONS;
use ringside_web::share::{fragment, from_fragment, live_link};
use serde_json::Value;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const HASHES: &str = include_str!("hashes.json");

/// The recorded cases: (name, session, hash computed natively).
fn recorded() -> Vec<(String, Session, String)> {
    let file: Value = serde_json::from_str(HASHES).expect("hashes.json is JSON");
    let cases = file["cases"].as_array().expect("hashes.json has a `cases` array");
    assert!(!cases.is_empty(), "hashes.json holds no cases: regenerate it (see tests/hashes.rs)");
    cases
        .iter()
        .map(|case| {
            let name = case["name"].as_str().expect("a case has a name").to_owned();
            let session = serde_json::from_value(case["session"].clone())
                .unwrap_or_else(|e| panic!("{name}: the stored session does not parse: {e}"));
            let hash = case["hash"].as_str().expect("a case has a hash").to_owned();
            (name, session, hash)
        })
        .collect()
}

fn recorded_case(name: &str) -> (Session, String) {
    recorded()
        .into_iter()
        .find(|(n, ..)| n == name)
        .map(|(_, session, hash)| (session, hash))
        .unwrap_or_else(|| panic!("hashes.json has no case `{name}`"))
}

#[wasm_bindgen_test]
fn every_lesson_runs_to_its_end_without_a_violation() {
    for (n, lesson) in LESSONS.iter().enumerate() {
        let mut app = App::new(Session::default());
        app.start_lesson(n).unwrap_or_else(|e| panic!("lesson {}: {e}", n + 1));
        while app.lesson_next() {
            assert!(app.sim.violation().is_none(), "lesson {}: {:?}", n + 1, app.sim.violation());
        }
        assert_eq!(app.lesson.map(|run| run.done), Some(lesson.steps.len()), "lesson {} ended early", n + 1);
        assert!(app.sim.violation().is_none(), "lesson {}: {:?}", n + 1, app.sim.violation());
    }
}

#[wasm_bindgen_test]
fn recorded_sessions_replay_to_the_native_hashes() {
    for (name, session, hash) in recorded() {
        let sim = session.replay();
        assert_eq!(
            sim.trace().hash(),
            hash,
            "{name}: the browser's replay differs from the native one (the hash in hashes.json)"
        );
        assert!(sim.violation().is_none(), "{name}: {:?}", sim.violation());
        // Through the page's state too: loading a shared link replays the session.
        let mut app = App::new(Session::default());
        app.load(session).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(app.trace_hash(), hash, "{name}: App::load replays to another hash");
    }
}

#[wasm_bindgen_test]
fn stepping_the_default_setup_records_the_native_session() {
    let (session, hash) = recorded_case("default-2000");
    let mut app = App::new(Session::new(Setup::default()));
    for _ in 0..2_000 {
        app.step();
    }
    assert_eq!(app.session, session, "2000 single steps record as one input of 2000");
    assert_eq!(app.trace_hash(), hash, "2000 steps of the default setup reach another hash in the browser");
}

#[wasm_bindgen_test]
fn lesson_four_plays_to_the_native_session_and_hash() {
    let (session, hash) = recorded_case("lesson-4");
    let mut app = App::new(Session::default());
    app.start_lesson(3).expect("lesson 4 exists");
    while app.lesson_next() {}
    // Compare as JSON, the form a shared link carries.
    let played = serde_json::to_string(&app.session).expect("a session serializes");
    let native = serde_json::to_string(&session).expect("a session serializes");
    assert_eq!(played, native, "lesson 4 records another session in the browser than natively");
    assert_eq!(app.trace_hash(), hash, "lesson 4 reaches another trace hash in the browser than natively");
}

#[wasm_bindgen_test]
fn back_after_a_step_returns_to_the_same_hash() {
    let (session, _) = recorded_case("tamper-partition");
    let mut app = App::new(Session::default());
    app.load(session).expect("the session loads");
    let before = app.trace_hash();
    let steps = app.sim.steps();
    assert!(app.step(), "the world still has events");
    assert_ne!(app.trace_hash(), before);
    assert!(app.back());
    assert_eq!(app.trace_hash(), before);
    assert_eq!(app.sim.steps(), steps);
    assert!(matches!(app.session.inputs.last(), Some(Input::Steps { .. })));
}

fn shared_session() -> Session {
    let mut s = Session::new(Setup { seed: 4, ..Setup::default() });
    s.record(Input::Steps { n: 30 });
    s.record(Input::Act { action: Action::setr(Addr::from("c1"), "ключ & <k>".into(), "v=1#2".into()) });
    s.record(Input::Steps { n: 10 });
    s
}

#[wasm_bindgen_test]
fn a_session_survives_the_link_fragment() {
    let s = shared_session();
    let f = fragment(&s);
    assert!(f.bytes().all(|b| b.is_ascii_graphic()), "{f}");
    assert_eq!(from_fragment(&format!("#{f}")), Some(Ok(s.clone())));
    assert_eq!(from_fragment(&f), Some(Ok(s)));
}

#[wasm_bindgen_test]
fn no_fragment_and_damaged_fragments_are_told_apart() {
    assert_eq!(from_fragment(""), None);
    assert_eq!(from_fragment("#lesson=2"), None);
    assert!(from_fragment("#s=%7").unwrap().is_err());
    assert!(from_fragment("#s=%7B%7D").unwrap().unwrap_err().contains("not a Ringside session"));
}

#[wasm_bindgen_test]
fn a_live_link_names_the_live_fields() {
    let fields = live_link("#live=127.0.0.1%3A39000&admin=127.0.0.1:39100&token=ab&other=1").expect("a live link");
    let want = [("live-vl", "127.0.0.1:39000"), ("live-admin", "127.0.0.1:39100"), ("live-token", "ab")];
    assert_eq!(fields, want.map(|(id, v)| (id, v.to_string())));
}
