//! `window.ringside`: what the end-to-end tests read and do, without scraping the canvas —
//! `state()` (the mode's figures as JSON), `session()` (the simulator's run) and
//! `select(focus)`.

use js_sys::{Function, Object, Reflect};
use ringside_core::Msg;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::app::{App, Focus};
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
            Mode::Sim => {
                let diagram = diagram_state(&p.app, p.views.diagram_span().map(|(span, _)| span), p.routine());
                sim_state(&mut p.app, p.frame_work_ms, diagram)
            }
            Mode::Live(watch) => live_state(&watch.live, Some(&watch.driver), None, &p.app),
            Mode::Replay(watch) => live_state(&watch.live, None, Some(&watch.driver), &p.app),
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
fn live_state(live: &Live, remote: Option<&Remote>, replay: Option<&Replay>, app: &App) -> JsValue {
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
        "leadership": live.leadership(),
        "refusal": app.refusal,
        "notice": app.notice,
    });
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL)
}

/// The lesson being followed: its progress, whether a step is still playing out, and — once
/// the step reached its moment — whether its text's claims hold (`null` when they do) and the
/// span of virtual time it covered.
fn lesson_state(app: &App) -> serde_json::Value {
    let Some((lesson, done)) = app.current_lesson() else { return serde_json::Value::Null };
    let playing = app.step_in_progress();
    let claim = match done.checked_sub(1).and_then(|i| lesson.steps.get(i)) {
        Some(step) if !playing => (step.check)(app).err(),
        _ => None,
    };
    let mark = app.marks.last().map(|m| serde_json::json!({"title": m.title, "start": m.start, "end": m.end}));
    serde_json::json!({
        "index": app.lesson.map(|l| l.lesson),
        "done": done,
        "total": lesson.steps.len(),
        "playing": playing,
        "falseClaim": claim,
        "asks": lesson.steps.get(done).and_then(|s| s.ask.as_ref()).map(|a| a.answer),
        "mark": mark,
    })
}

/// The diagram's visible span of time, and of the messages the latest lesson step sent (those
/// the diagram draws: heartbeats only when shown), how many were sent inside that span.
fn diagram_state(app: &App, span: Option<(f64, f64)>, routine: bool) -> serde_json::Value {
    let Some((top, bottom)) = span else { return serde_json::Value::Null };
    let step: Vec<f64> = match app.marks.last() {
        Some(mark) => app
            .journal
            .messages
            .values()
            .filter(|m| routine || !m.routine())
            .map(|m| m.sent.0 as f64)
            .filter(|t| *t >= mark.start && *t <= mark.end.unwrap_or(f64::INFINITY))
            .collect(),
        None => Vec::new(),
    };
    let shown = step.iter().filter(|t| **t >= top - 0.5 && **t <= bottom + 0.5).count();
    serde_json::json!({"top": top, "bottom": bottom, "stepMessages": step.len(), "stepMessagesShown": shown})
}

/// The page's linear memory: every byte the simulator, the journal and the views hold (it only
/// grows, so this is also its peak).
fn wasm_memory_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size(0) * 65_536;
    #[cfg(not(target_arch = "wasm32"))]
    0
}

/// What the test hook reports of the simulator.
fn sim_state(app: &mut App, frame_work_ms: f64, diagram: serde_json::Value) -> JsValue {
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
        "opsInFlight": app.sim.clients().map(|(_, c)| c.ops_in_flight()).sum::<usize>(),
        "lesson": lesson_state(app),
        "txs": txs,
        "refusal": app.refusal,
        "notice": app.notice,
        "playing": app.playing,
        "frameWorkMs": frame_work_ms,
        "wasmMemoryBytes": wasm_memory_bytes(),
        "diagram": diagram,
    });
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL)
}
