//! `window.ringside`: what the end-to-end tests read and do, without scraping the canvas —
//! `state()` (the mode's figures as JSON), `session()` (the simulator's run) and
//! `select(focus)`.

use js_sys::{Function, Object, Reflect};
use ringside_core::Msg;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::app::{App, Focus};
use crate::lessons::LESSONS;
use crate::live::Live;
use crate::model::{self, TxPhase};
use crate::modes::Mode;
use crate::page::with_page;
use crate::remote::Remote;
use crate::replay::Replay;

/// Transactions the test hook reports, the newest, oldest first.
const STATE_TXS: usize = 40;

/// Sets `window.ringside`.
pub(crate) fn expose(window: &web_sys::Window) -> Result<(), JsValue> {
    let hooks = Object::new();
    let state = Closure::<dyn Fn() -> JsValue>::new(|| {
        with_page(|p| match &p.mode {
            Mode::Sim => sim_state(&mut p.app, p.frame_work_ms, p.views.diagram_span()),
            Mode::Live(watch) => live_state(&watch.live, Some(&watch.driver), None, p.app.refusal.as_deref()),
            Mode::Replay(watch) => live_state(&watch.live, None, Some(&watch.driver), p.app.refusal.as_deref()),
        })
        .unwrap_or(JsValue::NULL)
    });
    let session = Closure::<dyn Fn() -> JsValue>::new(|| {
        with_page(|p| JsValue::from_str(&serde_json::to_string(&p.app.session).unwrap_or_default()))
            .unwrap_or(JsValue::NULL)
    });
    let select = Closure::<dyn Fn(String)>::new(|focus: String| {
        with_page(|p| {
            p.app.selected = Focus::parse(&focus).or_else(|| Focus::parse(&format!("node:{focus}")));
            p.drawn = None;
        });
    });
    for (name, f) in [
        ("state", state.as_ref().unchecked_ref::<Function>()),
        ("session", session.as_ref().unchecked_ref::<Function>()),
        ("select", select.as_ref().unchecked_ref::<Function>()),
    ] {
        Reflect::set(&hooks, &JsValue::from_str(name), f)?;
    }
    state.forget();
    session.forget();
    select.forget();
    Reflect::set(window, &JsValue::from_str("ringside"), &hooks)?;
    Ok(())
}

/// What the test hook reports of a real cluster, connected (`remote`) or replayed (`replay`).
fn live_state(live: &Live, remote: Option<&Remote>, replay: Option<&Replay>, refusal: Option<&str>) -> JsValue {
    let messages = live.journal.messages.values();
    let delivered = |kind: fn(&Msg) -> bool| {
        live.journal.messages.values().filter(|m| matches!(m.fate, model::Fate::Delivered(_)) && kind(&m.msg)).count()
    };
    let value = serde_json::json!({
        "mode": if remote.is_some() { "live" } else { "replay" },
        "epoch": live.epoch,
        "rebalancing": live.rebalancing,
        "viewServers": live.members.iter().map(|m| m.addr.0.clone()).collect::<Vec<_>>(),
        "lanes": live.lanes().into_iter().map(|(a, up)| serde_json::json!({"name": a.0, "up": up})).collect::<Vec<_>>(),
        "messages": messages.count(),
        "delivered": {
            "prepare": delivered(|m| matches!(m, Msg::Prepare { .. })),
            "commit": delivered(|m| matches!(m, Msg::Commit { .. })),
            "transfer": delivered(|m| matches!(m, Msg::Transfer { .. })),
            "getr": delivered(|m| matches!(m, Msg::GetR { .. })),
        },
        "moves": live.journal.moves.iter().map(|m| serde_json::json!({"epoch": m.epoch, "what": m.what, "moved": m.moved, "minimum": m.minimum})).collect::<Vec<_>>(),
        "keys": live.placement_cached().keys.len(),
        "log": live.journal.log.iter().rev().take(40).map(|(_, n, t)| format!("{n} {t}")).collect::<Vec<_>>(),
        "lastOutcome": remote.and_then(|r| r.last_outcome.clone()),
        "lastResult": remote.and_then(|r| r.last_result.clone()),
        "adminServers": remote.map(|r| r.servers.iter().map(|s| serde_json::json!({"label": s.label, "state": s.state})).collect::<Vec<_>>()),
        "adminError": remote.and_then(|r| r.admin_error.clone()),
        "replay": replay.map(|r| serde_json::json!({"done": r.done, "total": r.total()})),
        "refusal": refusal,
    });
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL)
}

/// What the test hook reports of the simulator; `diagram` is the stretch of virtual time the
/// diagram shows and whether it follows the present.
fn sim_state(app: &mut App, frame_work_ms: f64, diagram: Option<((f64, f64), bool)>) -> JsValue {
    let vl = app.sim.view_leader();
    let mut txs: Vec<serde_json::Value> = app
        .journal
        .recent_txs()
        .take(STATE_TXS)
        .map(|r| {
            let participants: serde_json::Map<String, serde_json::Value> =
                r.participants.iter().map(|(id, _, st)| (id.0.clone(), st.name().into())).collect();
            serde_json::json!({
                "tx": r.tx.to_string(),
                "key": r.key,
                "coordinator": r.coordinator.0,
                "coordinatorState": if r.coordinator_crashed && r.decided == TxPhase::Init { "CRASHED" } else { r.decided.name() },
                "participants": participants,
            })
        })
        .collect();
    txs.reverse();
    let value = serde_json::json!({
        "hash": app.trace_hash(),
        "steps": app.sim.steps(),
        "now": app.sim.now().0,
        "epoch": vl.epoch().0,
        "viewServers": vl.view().members.iter().map(|m| m.id.0.clone()).collect::<Vec<_>>(),
        "liveServers": app.sim.servers().map(|(a, _)| a.0.clone()).collect::<Vec<_>>(),
        "keys": app.placement().keys.len(),
        "lesson": app.lesson.map(|l| serde_json::json!({"index": l.lesson, "done": l.done, "total": LESSONS[l.lesson].steps.len()})),
        "txs": txs,
        "refusal": app.refusal,
        "playing": app.playing,
        "frameWorkMs": frame_work_ms,
        "diagram": diagram.map(|((from, to), following)| serde_json::json!({"from": from, "to": to, "following": following})),
    });
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL)
}
