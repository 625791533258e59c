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
use crate::model::{self, TxState};
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
    match share::from_fragment(&hash) {
        Some(Ok(session)) => {
            if let Err(reason) = app.load(session) {
                app.refusal = Some(reason);
            }
        }
        Some(Err(reason)) => app.refusal = Some(reason),
        // A first visit opens on a formed cluster, not an empty ring.
        None => {
            app.run_until(5_000, crate::lessons::idle);
        }
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
    };
    PAGE.with(|p| *p.borrow_mut() = Some(page));
    listen(&doc)?;
    expose_test_hooks(&window)?;
    request_frame();
    Ok(())
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
        let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
        let loaded = Closure::<dyn FnMut(JsValue)>::new(|text: JsValue| {
            let text = text.as_string().unwrap_or_default();
            with_page(|p| p.import(&text));
        });
        let _ = file.text().then(&loaded);
        loaded.forget();
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

    /// Runs one command; a refusal is shown under the controls.
    fn command(&mut self, cmd: &str, arg: &str) {
        if let Err(reason) = self.try_command(cmd, arg) {
            self.app.refusal = Some(reason);
        }
        self.drawn = None;
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
                    self.app.act(Action::SetR { client, key, value: format!("v{}", first + i) });
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
                self.app.act(Action::SetR { client, key, value });
            }
            "getr" => {
                let (client, key) = (self.client()?, self.field("key", "key")?);
                self.app.act(Action::GetR { client, key });
            }
            "lock-get" | "lock-release" => {
                let (client, name) = (self.client()?, self.field("lock", "lock name")?);
                let action = if cmd == "lock-get" {
                    Action::LockGet { client, name }
                } else {
                    Action::LockRelease { client, name }
                };
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

    fn import(&mut self, text: &str) {
        match ringside_sim::session::parse(text).and_then(|s| self.app.load(s)) {
            Ok(()) => self.set_select("lesson-pick", ""),
            Err(reason) => self.app.refusal = Some(reason),
        }
        self.drawn = None;
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
        match canvas {
            "ring" => {
                let g = self.ring_geometry;
                ring_view::hit(self.app.placement(), g, x, y)
            }
            _ => {
                let layout = self.seq_layout.as_ref()?;
                seq_view::hit(layout, self.app.journal.messages.values(), self.routine(), x, y)
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
        set("refusal", &self.app.refusal.as_deref().map(panels::esc).unwrap_or_default());
        set("speed-label", &format!("{}×", SPEEDS[self.app.speed]));
        if let Some(log) = self.doc.get_element_by_id("log-panel") {
            log.set_scroll_top(log.scroll_height());
        }
        if let Some(b) = self.doc.get_element_by_id("play") {
            b.set_text_content(Some(if self.app.playing { "Pause" } else { "Play" }));
        }
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
        with_page(|p| state(&mut p.app, p.frame_work_ms)).unwrap_or(JsValue::NULL)
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
