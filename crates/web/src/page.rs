//! The page's glue: it finds the elements of `web/index.html`, turns clicks and keys into the
//! app's commands, and draws every animation frame. Buttons name their command in `data-cmd`
//! (and its argument in `data-arg`), so one listener serves the whole page.

use std::cell::RefCell;

use js_sys::{Function, Object, Reflect};
use ringside_core::{Addr, ServerId, TxId};
use ringside_sim::{Action, Session, Setup, Tamper};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlElement, HtmlInputElement, HtmlSelectElement, MouseEvent};

use crate::app::{App, Focus, SPEEDS};
use crate::canvas::Canvas;
use crate::lessons::LESSONS;
use crate::live::{self, Live, Replay, MS_PER_UNIT};
use crate::live_panels::{self, Link};
use crate::model::{self, TxState};
use crate::remote::Remote;
use crate::ring_view::{self, Geometry};
use crate::seq_view::{self, Layout};
use crate::{charts, panels, share};

/// Real time a frame may spend stepping the world (ms); the rest of the frame is for drawing.
const STEP_BUDGET_MS: f64 = 8.0;

/// While playing, the ring's key placement is recomputed at most this often (real ms).
const PLACEMENT_PERIOD_MS: f64 = 100.0;

/// While playing, the text panels are redrawn at most this often (real ms).
const PANEL_PERIOD_MS: f64 = 150.0;

/// Delay given to a message by the "delay" button (virtual ms).
const DELAY_MS: u64 = 200;

/// The diagram's default zoom on a live cluster: pixels per unit of its clock (10 µs).
const LIVE_PX_PER_UNIT: f64 = 1.5;

/// The diagram's moment sits this far (live clock units) past the latest message or event.
const LIVE_MARGIN: f64 = 20.0;

/// A real cluster in the views: connected to it, or replaying an events file.
struct LiveMode {
    live: Live,
    remote: Option<Remote>,
    replay: Option<Replay>,
    /// A replay's clock: wall-clock microseconds of the moment shown.
    replay_at: Option<f64>,
    playing: bool,
}

/// What the text panels show: the world's version, the selection, the lesson's progress.
type Drawn = (u64, Option<Focus>, Option<(usize, usize)>);

struct Page {
    app: App,
    doc: Document,
    ring: Canvas,
    seq: Canvas,
    charts: Canvas,
    ring_geometry: Geometry,
    seq_layout: Option<Layout>,
    last_frame: Option<f64>,
    /// What the text panels were last drawn for.
    drawn: Option<Drawn>,
    /// The node set the client list and partition chips were built for.
    nodes_drawn: Vec<(Addr, bool)>,
    /// The diagram's zoom: pixels per virtual millisecond.
    px_per_ms: f64,
    /// Work per frame (ms), smoothed: what the test reports beside the frame rate.
    frame_work_ms: f64,
    /// When the text panels were last redrawn (ms, the frame clock).
    panels_at: f64,
    /// When the ring's placement was last recomputed (ms, the frame clock).
    placement_at: f64,
    /// A real cluster shown instead of the simulator.
    live: Option<LiveMode>,
    /// The last simulator run imported, which can be re-run on a live cluster.
    imported: Option<Session>,
    /// Files of one import still being read: their texts as they arrive.
    importing: Vec<Option<String>>,
}

thread_local! {
    static PAGE: RefCell<Option<Page>> = const { RefCell::new(None) };
}

fn with_page<R>(f: impl FnOnce(&mut Page) -> R) -> Option<R> {
    PAGE.with(|p| p.borrow_mut().as_mut().map(f))
}

/// Starts the page once the wasm module is loaded.
#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let doc = window.document().ok_or("no document")?;
    let find = |id: &str| Canvas::find(id).ok_or_else(|| JsValue::from_str(&format!("no canvas #{id}")));
    let (ring, seq, charts) = (find("ring")?, find("seq")?, find("charts")?);
    let mut app = App::new(Session::new(Setup::default()));
    let hash = window.location().hash().unwrap_or_default();
    let live_link = live_fragment(&hash);
    match share::from_fragment(&hash) {
        Some(Ok(session)) => {
            if let Err(reason) = app.load(session) {
                app.refusal = Some(reason);
            }
        }
        Some(Err(reason)) => app.refusal = Some(reason),
        // A first visit opens on a formed cluster, not an empty ring.
        None if live_link.is_none() => {
            app.run_until(5_000, crate::lessons::idle);
        }
        None => {}
    }
    fill_lessons(&doc);
    let page = Page {
        app,
        doc: doc.clone(),
        ring,
        seq,
        charts,
        ring_geometry: Geometry::fit(1.0, 1.0),
        seq_layout: None,
        last_frame: None,
        drawn: None,
        nodes_drawn: Vec::new(),
        px_per_ms: seq_view::PX_PER_MS,
        frame_work_ms: 0.0,
        panels_at: 0.0,
        placement_at: 0.0,
        live: None,
        imported: None,
        importing: Vec::new(),
    };
    PAGE.with(|p| *p.borrow_mut() = Some(page));
    if let Some(fields) = live_link {
        with_page(|p| {
            for (id, value) in &fields {
                p.set_input(id, value);
            }
            p.command("connect", "");
        });
    }
    listen(&doc)?;
    expose_test_hooks(&window)?;
    request_frame();
    Ok(())
}

/// The fields of a live link, `#live=ADDR&admin=ADDR&token=T`, as (input id, value).
fn live_fragment(hash: &str) -> Option<Vec<(&'static str, String)>> {
    let rest = hash.trim_start_matches('#');
    if !rest.starts_with("live=") {
        return None;
    }
    let fields = rest
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(k, v)| {
            let id = match k {
                "live" => "live-vl",
                "admin" => "live-admin",
                "token" => "live-token",
                "replicas" => "live-replicas",
                "vnodes" => "live-vnodes",
                _ => return None,
            };
            Some((id, js_sys::decode_uri_component(v).ok().and_then(|s| s.as_string()).unwrap_or_default()))
        })
        .collect();
    Some(fields)
}

fn fill_lessons(doc: &Document) {
    if let Some(select) = doc.get_element_by_id("lesson-pick") {
        let mut html = String::from("<option value=\"\">free play — no lesson</option>");
        for (i, l) in LESSONS.iter().enumerate() {
            html.push_str(&format!("<option value=\"{i}\">{}</option>", panels::esc(l.title)));
        }
        select.set_inner_html(&html);
    }
}

fn on(
    target: &impl AsRef<web_sys::EventTarget>,
    event: &str,
    f: impl FnMut(web_sys::Event) + 'static,
) -> Result<(), JsValue> {
    let closure = Closure::<dyn FnMut(web_sys::Event)>::new(f);
    target.as_ref().add_event_listener_with_callback(event, closure.as_ref().unchecked_ref())?;
    // The page lives as long as the tab: its listeners are never removed.
    closure.forget();
    Ok(())
}

fn listen(doc: &Document) -> Result<(), JsValue> {
    on(doc, "click", |e| {
        let Some(el) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else { return };
        let Ok(Some(button)) = el.closest("[data-cmd]") else { return };
        e.prevent_default();
        let cmd = button.get_attribute("data-cmd").unwrap_or_default();
        let arg = button.get_attribute("data-arg").unwrap_or_default();
        with_page(|p| p.command(&cmd, &arg));
    })?;
    on(doc, "keydown", |e| {
        let Some(key) = e.dyn_ref::<web_sys::KeyboardEvent>().map(|k| k.key()) else { return };
        let typing = e
            .target()
            .and_then(|t| t.dyn_into::<Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"));
        if typing {
            return;
        }
        let cmd = match key.as_str() {
            " " => "play",
            "ArrowRight" => "step",
            "ArrowLeft" => "back",
            _ => return,
        };
        e.prevent_default();
        with_page(|p| p.command(cmd, ""));
    })?;
    let element = |id: &str| doc.get_element_by_id(id).ok_or_else(|| JsValue::from_str(&format!("no #{id}")));
    on(&element("lesson-pick")?, "change", |e| {
        let value = e.target().and_then(|t| t.dyn_into::<HtmlSelectElement>().ok()).map(|s| s.value());
        with_page(|p| p.pick_lesson(value.as_deref().unwrap_or("")));
    })?;
    on(&element("speed")?, "input", |e| {
        let value = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()).map(|i| i.value());
        with_page(|p| {
            p.app.speed = value.and_then(|v| v.parse().ok()).unwrap_or(2).min(SPEEDS.len() - 1);
            p.drawn = None;
        });
    })?;
    on(&element("import")?, "change", |e| {
        let Some(input) = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()) else { return };
        let Some(files) = input.files() else { return };
        let n = files.length() as usize;
        with_page(|p| p.importing = vec![None; n]);
        // Several events files (one per node) are read together and replayed as one.
        for i in 0..n {
            let Some(file) = files.get(i as u32) else { continue };
            let loaded = Closure::<dyn FnMut(JsValue)>::new(move |text: JsValue| {
                let text = text.as_string().unwrap_or_default();
                with_page(|p| p.imported_part(i, text));
            });
            let _ = file.text().then(&loaded);
            loaded.forget();
        }
        input.set_value("");
    })?;
    // On a drawing, what is under the pointer lights up, and a click selects it.
    for id in ["ring", "seq"] {
        let canvas = element(id)?;
        for (event, select) in [("mousemove", false), ("click", true)] {
            on(&canvas, event, move |e| {
                let Some(m) = e.dyn_ref::<MouseEvent>() else { return };
                let (x, y) = (m.offset_x() as f64, m.offset_y() as f64);
                with_page(|p| {
                    let focus = p.hit(id, x, y);
                    if select {
                        p.app.selected = focus;
                    } else {
                        p.app.hover = focus;
                    }
                });
            })?;
        }
        on(&canvas, "mouseleave", |_| {
            with_page(|p| p.app.hover = None);
        })?;
    }
    // The wheel zooms the diagram's time axis.
    on(&element("seq")?, "wheel", |e| {
        let Some(w) = e.dyn_ref::<web_sys::WheelEvent>() else { return };
        e.prevent_default();
        let factor = if w.delta_y() > 0.0 { 1.0 / 1.25 } else { 1.25 };
        with_page(|p| p.px_per_ms = (p.px_per_ms * factor).clamp(seq_view::ZOOM.0, seq_view::ZOOM.1));
    })?;
    // Pointing at a key or node in a panel lights it up in the drawings.
    for id in ["inspector", "log"] {
        on(&element(id)?, "mouseover", |e| {
            let Some(el) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else { return };
            let focus = el.closest("[data-arg]").ok().flatten().and_then(|a| a.get_attribute("data-arg"));
            with_page(|p| p.app.hover = focus.and_then(|f| parse_focus(&f)));
        })?;
    }
    Ok(())
}

/// `node:s1`, `key:x` or `msg:12` as a focus.
fn parse_focus(text: &str) -> Option<Focus> {
    let (kind, rest) = text.split_once(':')?;
    match kind {
        "node" => Some(Focus::Node(Addr(rest.to_string()))),
        "key" => Some(Focus::Key(rest.to_string())),
        "msg" => rest.parse().ok().map(Focus::Message),
        _ => None,
    }
}

fn request_frame() {
    let Some(window) = web_sys::window() else { return };
    let frame = Closure::once_into_js(|now: f64| {
        with_page(|p| p.frame(now));
        request_frame();
    });
    let _ = window.request_animation_frame(frame.unchecked_ref());
}

impl Page {
    fn input_value(&self, id: &str) -> String {
        self.doc
            .get_element_by_id(id)
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
            .map(|i| i.value())
            .unwrap_or_default()
    }

    fn select_value(&self, id: &str) -> String {
        self.doc
            .get_element_by_id(id)
            .and_then(|e| e.dyn_into::<HtmlSelectElement>().ok())
            .map(|i| i.value())
            .unwrap_or_default()
    }

    fn number(&self, id: &str, what: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
        let text = self.input_value(id);
        match text.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(format!("{what} must be a whole number from {} to {}, not {text:?}", range.start(), range.end())),
        }
    }

    fn client(&self) -> Result<Addr, String> {
        let c = self.select_value("client");
        if c.is_empty() {
            return Err("there is no live client: add one first".into());
        }
        Ok(Addr(c))
    }

    fn field(&self, id: &str, what: &str) -> Result<String, String> {
        let v = self.input_value(id);
        if v.is_empty() {
            return Err(format!("the {what} is empty"));
        }
        Ok(v)
    }

    fn set_input(&self, id: &str, value: &str) {
        if let Some(i) = self.doc.get_element_by_id(id).and_then(|e| e.dyn_into::<HtmlInputElement>().ok()) {
            i.set_value(value);
        }
    }

    /// Runs one command; a refusal is shown under the controls.
    fn command(&mut self, cmd: &str, arg: &str) {
        let result = match cmd {
            "connect" => self.connect(),
            "disconnect" => {
                self.leave_live();
                Ok(())
            }
            _ if self.live.is_some() => self.live_command(cmd, arg),
            _ => self.try_command(cmd, arg),
        };
        if let Err(reason) = result {
            self.app.refusal = Some(reason);
        } else if self.live.is_some() {
            self.app.refusal = None;
        }
        self.drawn = None;
    }

    /// Connects to the cluster the live fields name.
    fn connect(&mut self) -> Result<(), String> {
        let vl = self.input_value("live-vl").trim().to_string();
        if vl.is_empty() || !vl.contains(':') {
            return Err(format!("the view leader's address must be HOST:PORT, not {vl:?}"));
        }
        let replicas = self.number("live-replicas", "replicas", 1..=16)? as usize;
        let vnodes = self.number("live-vnodes", "virtual nodes", 1..=64)? as u32;
        let admin = self.input_value("live-admin").trim().to_string();
        let token = self.input_value("live-token").trim().to_string();
        if !admin.is_empty() && token.is_empty() {
            return Err("the admin endpoint needs the token `ringside cluster` printed".into());
        }
        self.leave_live();
        let mut live = Live::new(Addr(vl), replicas, vnodes);
        let admin = (!admin.is_empty()).then_some((admin.as_str(), token.as_str()));
        let remote = Remote::connect(&mut live, admin, js_sys::Math::random().to_bits())?;
        self.enter_live(LiveMode { live, remote: Some(remote), replay: None, replay_at: None, playing: false });
        Ok(())
    }

    fn enter_live(&mut self, mode: LiveMode) {
        self.live = Some(mode);
        self.app.selected = None;
        self.app.hover = None;
        self.px_per_ms = LIVE_PX_PER_UNIT;
        self.nodes_drawn.clear();
        self.set_body_class(true);
    }

    fn leave_live(&mut self) {
        if let Some(mut mode) = self.live.take() {
            if let Some(r) = &mut mode.remote {
                r.close();
            }
            self.app.selected = None;
            self.px_per_ms = seq_view::PX_PER_MS;
            self.nodes_drawn.clear();
        }
        self.set_body_class(false);
    }

    fn set_body_class(&self, live: bool) {
        if let Some(body) = self.doc.body() {
            let _ = body.class_list().toggle_with_force("live", live);
            let replay = self.live.as_ref().is_some_and(|m| m.replay.is_some());
            let _ = body.class_list().toggle_with_force("replay", replay);
        }
        if let Some(name) = self.doc.get_element_by_id("mode-name") {
            let replay = self.live.as_ref().is_some_and(|m| m.replay.is_some());
            name.set_text_content(Some(match (live, replay) {
                (false, _) => "simulator",
                (true, false) => "live cluster",
                (true, true) => "replay of a real cluster",
            }));
        }
    }

    /// A command while a real cluster is shown.
    fn live_command(&mut self, cmd: &str, arg: &str) -> Result<(), String> {
        let (key, value, lock) = (self.input_value("key"), self.input_value("value"), self.input_value("lock"));
        let mode = self.live.as_mut().expect("in live mode");
        match (cmd, &mut mode.remote, &mut mode.replay) {
            ("select", ..) => self.app.selected = parse_focus(arg),
            ("setr" | "getr" | "lock-get" | "lock-release", Some(remote), _) => {
                let (a, b) = match cmd {
                    "setr" | "getr" => (key, value),
                    _ => (lock, String::new()),
                };
                if a.is_empty() {
                    return Err(format!("the {} is empty", if cmd.starts_with("lock") { "lock name" } else { "key" }));
                }
                if cmd == "setr" && b.is_empty() {
                    return Err("the value is empty".into());
                }
                remote.command(&mut mode.live, cmd, &a, &b)?;
            }
            ("add-server", Some(remote), _) => remote.admin_command("add", None)?,
            ("crash", Some(remote), _) => remote.admin_command("kill", Some(arg))?,
            ("rerun", Some(remote), _) => {
                let session = self.imported.as_ref().ok_or("import an exported simulator run first")?;
                let actions: Vec<Action> = session
                    .inputs
                    .iter()
                    .filter_map(|i| match i {
                        ringside_sim::Input::Act { action } => Some(action.clone()),
                        _ => None,
                    })
                    .collect();
                if actions.is_empty() {
                    return Err("the imported run has no actions to re-run".into());
                }
                remote.rerun = actions.into();
            }
            ("step", _, Some(replay)) => {
                mode.playing = false;
                if !replay.step(&mut mode.live) {
                    return Err("the events file is over".into());
                }
                mode.replay_at = replay.next_t().map(|t| t as f64);
            }
            ("play", _, Some(_)) => mode.playing = !mode.playing,
            ("back", _, Some(replay)) => {
                if replay.done == 0 {
                    return Err("this is the start of the events file".into());
                }
                // Rebuilt by reading every record before the last one again.
                let target = replay.done - 1;
                let mut fresh = Live::new(mode.live.view_leader.clone(), mode.live.replicas, mode.live.vnodes);
                replay.done = 0;
                while replay.done < target && replay.step(&mut fresh) {}
                mode.live = fresh;
                mode.playing = false;
            }
            ("step" | "back" | "play", Some(_), _) => {
                return Err("a live cluster runs in real time: steps and replay are for the simulator and imported                             events files"
                    .into())
            }
            (_, None, _) => return Err(format!("{cmd}: this is a replay of an events file; connect to a cluster to drive it")),
            ("share" | "export", ..) => {
                return Err("a live cluster's runs are kept by its nodes: ringside cluster --events-dir DIR writes                             one events file per node, which Import replays here"
                    .into())
            }
            _ => {
                return Err(format!(
                    "{cmd} is a simulator control: on a live cluster you can setr, getr, lock, add and kill servers"
                ))
            }
        }
        Ok(())
    }

    fn try_command(&mut self, cmd: &str, arg: &str) -> Result<(), String> {
        let app = &mut self.app;
        match cmd {
            "step" => {
                app.playing = false;
                if !app.step() {
                    return Err("nothing left to happen".into());
                }
            }
            "back" => {
                if !app.back() {
                    return Err("this is the start of the run".into());
                }
            }
            "play" => app.playing = !app.playing,
            "add-server" => app.act(Action::AddServer),
            "add-client" => app.act(Action::AddClient),
            "load" => {
                let count = self.number("load-count", "the number of keys", 1..=5_000)? as usize;
                let clients: Vec<Addr> = self.app.sim.clients().map(|(a, _)| a.clone()).collect();
                if clients.is_empty() {
                    return Err("there is no live client: add one first".into());
                }
                let first = self.app.placement().keys.len();
                for i in 0..count {
                    let client = clients[i % clients.len()].clone();
                    let key = format!("k{:04}", first + i);
                    self.app.act(Action::setr(client, key, format!("v{}", first + i)));
                }
            }
            "reset" => {
                let setup = Setup {
                    seed: self.number("seed", "the seed", 0..=u64::MAX)?,
                    servers: self.number("servers", "servers", 0..=64)? as usize,
                    clients: self.number("clients", "clients", 0..=64)? as usize,
                    vnodes: self.number("vnodes", "virtual nodes", 1..=64)? as u32,
                };
                self.app.reset(setup)?;
                self.set_select("lesson-pick", "");
            }
            "setr" => {
                let (client, key, value) = (self.client()?, self.field("key", "key")?, self.field("value", "value")?);
                self.app.act(Action::setr(client, key, value));
            }
            "getr" => {
                let (client, key) = (self.client()?, self.field("key", "key")?);
                self.app.act(Action::getr(client, key));
            }
            "lock-get" | "lock-release" => {
                let (client, name) = (self.client()?, self.field("lock", "lock name")?);
                let action =
                    if cmd == "lock-get" { Action::lock_get(client, name) } else { Action::lock_release(client, name) };
                self.app.act(action);
            }
            "trap" => {
                // `client` or `client|tx client|tx seq` for one transaction.
                let mut parts = arg.split('|');
                let client = match parts.next().filter(|c| !c.is_empty()) {
                    Some(c) => Addr(c.to_string()),
                    None => self.client()?,
                };
                let tx = match (parts.next(), parts.next()) {
                    (Some(c), Some(seq)) => Some(TxId {
                        client: c.parse().map_err(|_| format!("bad transaction {arg:?}"))?,
                        seq: seq.parse().map_err(|_| format!("bad transaction {arg:?}"))?,
                    }),
                    _ => None,
                };
                self.app.crash_coordinator(client, tx);
            }
            "crash" => app.act(Action::Crash { node: Addr(arg.to_string()) }),
            "restart" => app.act(Action::Restart { node: Addr(arg.to_string()) }),
            "cut" => {
                let side = self.checked_nodes();
                if side.is_empty() {
                    return Err("tick the nodes of one side first".into());
                }
                self.app.act(Action::Partition { side });
            }
            "heal" => app.act(Action::Heal),
            "drop" | "delay" | "duplicate" => {
                let id: u64 = arg.parse().map_err(|_| format!("no message {arg:?}"))?;
                let how = match cmd {
                    "drop" => Tamper::Drop,
                    "delay" => Tamper::Delay(DELAY_MS),
                    _ => Tamper::Duplicate,
                };
                app.tamper(id, how);
            }
            "select" => app.selected = parse_focus(arg),
            "lesson-next" => {
                if !app.lesson_next() {
                    return Err("the lesson is over".into());
                }
            }
            "share" => self.share()?,
            "export" => self.export()?,
            other => return Err(format!("unknown command {other:?}")),
        }
        Ok(())
    }

    fn set_select(&self, id: &str, value: &str) {
        if let Some(s) = self.doc.get_element_by_id(id).and_then(|e| e.dyn_into::<HtmlSelectElement>().ok()) {
            s.set_value(value);
        }
    }

    fn checked_nodes(&self) -> Vec<Addr> {
        let Ok(list) = self.doc.query_selector_all("#partition-nodes input:checked") else { return Vec::new() };
        (0..list.length())
            .filter_map(|i| list.get(i)?.dyn_into::<HtmlInputElement>().ok())
            .map(|i| Addr(i.value()))
            .collect()
    }

    fn pick_lesson(&mut self, value: &str) {
        let result = match value.parse::<usize>() {
            Ok(n) => self.app.start_lesson(n),
            Err(_) => {
                self.app.lesson = None;
                Ok(())
            }
        };
        if let Err(reason) = result {
            self.app.refusal = Some(reason);
        }
        self.drawn = None;
    }

    /// One file of an import has been read; once all have, they are imported together.
    fn imported_part(&mut self, i: usize, text: String) {
        if let Some(slot) = self.importing.get_mut(i) {
            *slot = Some(text);
        }
        if self.importing.iter().all(Option::is_some) {
            let texts: Vec<String> = self.importing.drain(..).flatten().collect();
            self.import(&texts.join("\n"));
        }
    }

    fn import(&mut self, text: &str) {
        if live::is_events_file(text) {
            match live::parse_events(text) {
                Ok(records) => self.replay(records),
                Err(reason) => self.app.refusal = Some(reason),
            }
            self.drawn = None;
            return;
        }
        let parsed = ringside_sim::session::parse(text);
        if let (Ok(session), Some(mode)) = (&parsed, self.live.as_ref()) {
            if mode.remote.is_some() {
                self.imported = Some(session.clone());
                self.app.refusal = Some(format!(
                    "imported a simulator run with {} inputs: “Re-run here” plays its actions on this cluster",
                    session.inputs.len()
                ));
                self.drawn = None;
                return;
            }
        }
        match parsed.and_then(|s| {
            self.imported = Some(s.clone());
            self.app.load(s)
        }) {
            Ok(()) => {
                self.leave_live();
                self.set_select("lesson-pick", "");
            }
            Err(reason) => self.app.refusal = Some(reason),
        }
        self.drawn = None;
    }

    /// Shows an events file in the live views, record by record.
    fn replay(&mut self, records: Vec<live::Record>) {
        let vl = records
            .iter()
            .find(|r| matches!(&r.kind, live::RecordKind::Hello { role, .. } if role == "viewleader"))
            .map_or(Addr::from("view leader"), |r| r.node.clone());
        let mut live = Live::new(vl, 3, 1);
        // Servers are named in the order they first speak, as the cluster numbered them.
        for r in &records {
            if let live::RecordKind::Hello { role, .. } = &r.kind {
                if role == "server" {
                    live.node(&r.node, None);
                }
            }
        }
        let replay_at = records.first().map(|r| r.t as f64);
        let replay = Replay::new(records);
        self.leave_live();
        self.enter_live(LiveMode { live, remote: None, replay: Some(replay), replay_at, playing: true });
        self.set_body_class(true);
    }

    fn share(&mut self) -> Result<(), String> {
        let window = web_sys::window().ok_or("no window")?;
        let fragment = share::fragment(&self.app.session);
        // Replacing the address does not reload the page.
        window.location().set_hash(&fragment).map_err(|_| "the address bar refused the link".to_string())?;
        self.app.refusal = Some("The link in the address bar now replays this run: copy it to share.".into());
        Ok(())
    }

    fn export(&mut self) -> Result<(), String> {
        let text = share::export(&self.app.session, &self.app.sim);
        let parts = js_sys::Array::of1(&JsValue::from_str(&text));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("application/json");
        let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
            .map_err(|_| "the browser refused to build the file".to_string())?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "no download URL".to_string())?;
        let a: web_sys::HtmlAnchorElement =
            self.doc.create_element("a").map_err(|_| "no link")?.dyn_into().map_err(|_| "no link")?;
        a.set_href(&url);
        a.set_download(&format!("ringside-seed{}-step{}.json", self.app.session.setup.seed, self.app.sim.steps()));
        a.click();
        let _ = web_sys::Url::revoke_object_url(&url);
        Ok(())
    }

    fn hit(&mut self, canvas: &str, x: f64, y: f64) -> Option<Focus> {
        let routine = self.routine();
        let g = self.ring_geometry;
        if let Some(mode) = &self.live {
            return match canvas {
                "ring" => ring_view::hit(mode.live.placement_cached(), g, x, y),
                _ => seq_view::hit(self.seq_layout.as_ref()?, mode.live.journal.messages.values(), routine, x, y),
            };
        }
        match canvas {
            "ring" => ring_view::hit(self.app.placement(), g, x, y),
            _ => {
                let layout = self.seq_layout.as_ref()?;
                seq_view::hit(layout, self.app.journal.messages.values(), routine, x, y)
            }
        }
    }

    fn routine(&self) -> bool {
        self.doc
            .get_element_by_id("show-routine")
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
            .is_some_and(|i| i.checked())
    }

    fn frame(&mut self, now: f64) {
        let dt = self.last_frame.map_or(0.0, |last| now - last);
        self.last_frame = Some(now);
        if self.live.is_some() {
            return self.live_frame(now, dt);
        }
        let clock = web_sys::window().and_then(|w| w.performance());
        let started = clock.as_ref().map_or(0.0, |c| c.now());
        // The world may use part of a frame; the drawing needs the rest.
        self.app.tick(dt, &mut || clock.as_ref().is_some_and(|c| c.now() - started > STEP_BUDGET_MS));
        let focus = self.app.hover.clone().or_else(|| self.app.selected.clone());
        let routine = self.routine();

        let live: Vec<ServerId> = self.app.sim.servers().map(|(_, s)| s.id().clone()).collect();
        self.ring.begin();
        self.charts.begin();
        self.seq.begin();
        // While playing through a burst, the keys' placement is recomputed a few times a second.
        if !self.app.playing || now - self.placement_at >= PLACEMENT_PERIOD_MS {
            self.app.placement();
            self.placement_at = now;
        }
        let placement = self.app.placement_cached();
        self.ring_geometry = ring_view::draw(&self.ring, placement, &|id| live.contains(id), focus.as_ref());
        let focus_addr = match &focus {
            Some(Focus::Node(a)) => Some(a.0.as_str()),
            _ => None,
        };
        charts::draw(&self.charts, placement, &self.app.journal.moves, focus_addr);
        let layout = Layout::new(model::lanes(&self.app.sim), self.seq.w, self.seq.h, self.app.shown, self.px_per_ms);
        seq_view::draw(&self.seq, &layout, self.app.journal.messages.values(), routine, focus.as_ref());
        self.seq_layout = Some(layout);
        self.panels(now);
        if let Some(perf) = web_sys::window().and_then(|w| w.performance()) {
            let work = perf.now() - now;
            self.frame_work_ms = 0.9 * self.frame_work_ms + 0.1 * work;
        }
    }

    /// Draws a frame of a real cluster: takes in what its sockets brought (or the records a
    /// replay has reached), then the same views as the simulator's.
    fn live_frame(&mut self, now: f64, dt: f64) {
        let speed = SPEEDS[self.app.speed];
        let routine = self.routine();
        let mode = self.live.as_mut().expect("in live mode");
        if let Some(remote) = &mut mode.remote {
            remote.tick(&mut mode.live);
        }
        if let (Some(replay), true) = (&mut mode.replay, mode.playing) {
            // Virtual milliseconds per real millisecond, in microseconds of the file's clock.
            let at = mode.replay_at.unwrap_or_default() + dt * speed * 1000.0;
            mode.replay_at = Some(at);
            if !replay.run_until(&mut mode.live, at as u64) {
                mode.playing = false;
            }
        }
        let focus = self.app.hover.clone().or_else(|| self.app.selected.clone());
        let live = &mut mode.live;
        live.placement();
        let up: Vec<ringside_core::ServerId> =
            live.nodes.values().filter(|n| n.up).filter_map(|n| n.id.clone()).collect();
        let placement = live.placement_cached();
        self.ring.begin();
        self.charts.begin();
        self.seq.begin();
        self.ring_geometry = ring_view::draw(&self.ring, placement, &|id| up.contains(id), focus.as_ref());
        let focus_addr = match &focus {
            Some(Focus::Node(a)) => Some(a.0.as_str()),
            _ => None,
        };
        charts::draw(&self.charts, placement, &live.journal.moves, focus_addr);
        let shown = live.latest.0 as f64 + LIVE_MARGIN;
        let layout = Layout::new(live.lanes(), self.seq.w, self.seq.h, shown, self.px_per_ms).with_unit(MS_PER_UNIT);
        seq_view::draw(&self.seq, &layout, live.journal.messages.values(), routine, focus.as_ref());
        self.seq_layout = Some(layout);
        if self.drawn.is_none() || now - self.panels_at >= PANEL_PERIOD_MS {
            self.drawn = Some((0, None, None));
            self.panels_at = now;
            self.live_panels();
        }
    }

    fn live_panels(&mut self) {
        let Some(mode) = &self.live else { return };
        let remote = mode.remote.as_ref();
        let link = Link {
            connected: remote.is_some(),
            admin: remote.is_some_and(|r| r.has_admin() || r.admin_error.is_some()),
            admin_error: remote.and_then(|r| r.admin_error.as_deref()),
            replay: mode.replay.as_ref().map(|r| (r.done, r.len())),
        };
        let selected = self.app.selected.clone();
        let can_kill = remote.is_some_and(Remote::has_admin);
        let set = |id: &str, html: &str| {
            if let Some(el) = self.doc.get_element_by_id(id) {
                el.set_inner_html(html);
            }
        };
        set("status", &live_panels::status(&mode.live, &link));
        set("inspector", &live_panels::inspector(&mode.live, selected.as_ref(), can_kill));
        set("log", &live_panels::log(&mode.live));
        self.controls_state(mode.playing);
    }

    /// What the controls show in either mode: the refusal, the speed, the play button, and
    /// the log scrolled to its newest line.
    fn controls_state(&self, playing: bool) {
        if let Some(el) = self.doc.get_element_by_id("refusal") {
            el.set_inner_html(&self.app.refusal.as_deref().map(panels::esc).unwrap_or_default());
        }
        if let Some(el) = self.doc.get_element_by_id("speed-label") {
            el.set_inner_html(&format!("{}×", SPEEDS[self.app.speed]));
        }
        if let Some(log) = self.doc.get_element_by_id("log-panel") {
            log.set_scroll_top(log.scroll_height());
        }
        if let Some(b) = self.doc.get_element_by_id("play") {
            b.set_text_content(Some(if playing { "Pause" } else { "Play" }));
        }
    }

    /// Redraws the text panels when what they show changed — while playing, a few times a
    /// second at most: text changing faster cannot be read, and the layout it costs would
    /// take frames from the drawings.
    fn panels(&mut self, frame_time: f64) {
        let lesson = self.app.lesson.map(|l| (l.lesson, l.done));
        let now = (self.app.version, self.app.selected.clone(), lesson);
        let Some(drawn) = &self.drawn else { return self.redraw_panels(now, frame_time) };
        if *drawn == now {
            return;
        }
        let only_time_passed = drawn.1 == now.1 && drawn.2 == now.2;
        if self.app.playing && only_time_passed && frame_time - self.panels_at < PANEL_PERIOD_MS {
            return;
        }
        self.redraw_panels(now, frame_time);
    }

    fn redraw_panels(&mut self, now: Drawn, frame_time: f64) {
        self.drawn = Some(now);
        self.panels_at = frame_time;
        let set = |id: &str, html: &str| {
            if let Some(el) = self.doc.get_element_by_id(id) {
                el.set_inner_html(html);
            }
        };
        set("status", &panels::status(&self.app));
        set("inspector", &panels::inspector(&self.app));
        set("log", &panels::log(&self.app));
        set("lesson-text", &panels::lesson(&self.app));
        self.controls_state(self.app.playing);
        if let Some(b) = self.doc.get_element_by_id("lesson-next").and_then(|e| e.dyn_into::<HtmlElement>().ok()) {
            let more = self.app.current_lesson().is_some_and(|(l, done)| done < l.steps.len());
            let _ = b.toggle_attribute_with_force("disabled", !more);
        }
        self.nodes();
    }

    /// Rebuilds the client list and the partition chips when nodes came or went.
    fn nodes(&mut self) {
        let nodes = model::lanes(&self.app.sim);
        if nodes == self.nodes_drawn {
            return;
        }
        let chosen = self.select_value("client");
        let options: String = self
            .app
            .sim
            .clients()
            .map(|(a, _)| {
                let selected = if a.0 == chosen { " selected" } else { "" };
                format!("<option value=\"{0}\"{selected}>{0}</option>", panels::esc(&a.0))
            })
            .collect();
        if let Some(s) = self.doc.get_element_by_id("client") {
            s.set_inner_html(&options);
        }
        let chips: String = nodes
            .iter()
            .map(|(a, _)| format!("<label><input type=\"checkbox\" value=\"{0}\">{0}</label>", panels::esc(&a.0)))
            .collect();
        if let Some(c) = self.doc.get_element_by_id("partition-nodes") {
            c.set_inner_html(&chips);
        }
        self.nodes_drawn = nodes;
    }
}

/// `window.ringside`: what the end-to-end test reads and does, without scraping the canvas.
fn expose_test_hooks(window: &web_sys::Window) -> Result<(), JsValue> {
    let hooks = Object::new();
    let state = Closure::<dyn Fn() -> JsValue>::new(|| {
        with_page(|p| match &p.live {
            Some(mode) => live_state(mode, p.app.refusal.as_deref()),
            None => state(&mut p.app, p.frame_work_ms),
        })
        .unwrap_or(JsValue::NULL)
    });
    let session = Closure::<dyn Fn() -> JsValue>::new(|| {
        with_page(|p| JsValue::from_str(&serde_json::to_string(&p.app.session).unwrap_or_default()))
            .unwrap_or(JsValue::NULL)
    });
    let select = Closure::<dyn Fn(String)>::new(|focus: String| {
        with_page(|p| {
            p.app.selected = parse_focus(&focus).or_else(|| parse_focus(&format!("node:{focus}")));
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

/// What the test hook reports of a real cluster.
fn live_state(mode: &LiveMode, refusal: Option<&str>) -> JsValue {
    let live = &mode.live;
    let messages = live.journal.messages.values();
    let count = |cmd: &str| {
        live.journal
            .messages
            .values()
            .filter(|m| matches!(m.fate, model::Fate::Delivered(_)))
            .filter(|m| {
                serde_json::to_value(&m.msg).ok().and_then(|v| v["cmd"].as_str().map(|c| c == cmd)) == Some(true)
            })
            .count()
    };
    let value = serde_json::json!({
        "mode": if mode.remote.is_some() { "live" } else { "replay" },
        "epoch": live.epoch,
        "rebalancing": live.rebalancing,
        "viewServers": live.members.iter().map(|m| m.addr.0.clone()).collect::<Vec<_>>(),
        "lanes": live.lanes().into_iter().map(|(a, up)| serde_json::json!({"name": a.0, "up": up})).collect::<Vec<_>>(),
        "messages": messages.count(),
        "delivered": {"prepare": count("prepare"), "commit": count("commit"), "transfer": count("transfer"), "getr": count("getr")},
        "moves": live.journal.moves.iter().map(|m| serde_json::json!({"epoch": m.epoch, "what": m.what, "moved": m.moved, "minimum": m.minimum})).collect::<Vec<_>>(),
        "keys": live.placement_cached().keys.len(),
        "log": live.journal.log.iter().rev().take(40).map(|(_, n, t)| format!("{n} {t}")).collect::<Vec<_>>(),
        "lastOutcome": mode.remote.as_ref().and_then(|r| r.last_outcome.clone()),
        "adminServers": mode.remote.as_ref().map(|r| r.servers.iter().map(|s| serde_json::json!({"label": s.label, "state": s.state})).collect::<Vec<_>>()),
        "adminError": mode.remote.as_ref().and_then(|r| r.admin_error.clone()),
        "replay": mode.replay.as_ref().map(|r| serde_json::json!({"done": r.done, "total": r.len()})),
        "refusal": refusal,
    });
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL)
}

/// Transactions the test hook reports, the newest, oldest first.
const STATE_TXS: usize = 40;

fn state(app: &mut App, frame_work_ms: f64) -> JsValue {
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
                "coordinatorState": if r.coordinator_crashed && r.decided == TxState::Init { "CRASHED" } else { r.decided.name() },
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
    });
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL)
}
