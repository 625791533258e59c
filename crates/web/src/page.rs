//! The page's DOM wiring: it finds the elements of `web/index.html`, turns clicks, keys and
//! the pointer into commands and selections, and draws every animation frame from the mode's
//! scene. Buttons name their command in `data-cmd` (and its argument in `data-arg`), so one
//! listener serves the whole page; `dispatch` runs them.

use std::cell::RefCell;
use std::collections::BTreeMap;

use ringside_core::{Addr, CommitProtocol};
use ringside_sim::{Session, Setup};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlElement, HtmlInputElement, HtmlSelectElement, MouseEvent};

use crate::app::{App, Focus, SPEEDS};
use crate::command::PageCmd;
use crate::html::esc;
use crate::inspector::inspector;
use crate::lessons::LESSONS;
use crate::model;
use crate::modes::Mode;
use crate::seq_view::Axis;
use crate::views::Views;
use crate::{hooks, lesson_card, panels, share};

/// Real time a frame may spend stepping the world (ms); the rest of the frame is for drawing.
const STEP_BUDGET_MS: f64 = 8.0;

/// While playing (or watching a live cluster), the text panels are redrawn at most this often
/// (real ms).
const PANEL_PERIOD_MS: f64 = 150.0;

/// What the text panels show: the scene's version, the selection, the lesson's progress.
type Drawn = (Option<u64>, Option<Focus>, Option<(usize, usize)>);

/// The page: the simulator's state, the mode shown, and the DOM it is drawn into.
pub(crate) struct Page {
    /// The simulator, and what the learner points at, picked, and was refused, in every mode.
    pub(crate) app: App,
    /// What the views show.
    pub(crate) mode: Mode,
    pub(crate) doc: Document,
    pub(crate) views: Views,
    last_frame: Option<f64>,
    /// What the text panels were last drawn for.
    pub(crate) drawn: Option<Drawn>,
    /// The node set the client list and partition chips were built for.
    nodes_drawn: Vec<(Addr, bool)>,
    /// Work per frame (ms), smoothed: what the test reports beside the frame rate.
    pub(crate) frame_work_ms: f64,
    /// When the text panels were last redrawn (ms, the frame clock).
    panels_at: f64,
    /// The last simulator run imported, which can be re-run on a live cluster.
    pub(crate) imported: Option<Session>,
    /// Files of one import still being read: their texts as they arrive.
    pub(crate) importing: Vec<Option<String>>,
    /// The markup last put in each text panel: the same markup again is not set, so the
    /// browser neither parses it nor lays the page out anew.
    panel_html: BTreeMap<&'static str, String>,
}

thread_local! {
    static PAGE: RefCell<Option<Page>> = const { RefCell::new(None) };
}

pub(crate) fn with_page<R>(f: impl FnOnce(&mut Page) -> R) -> Option<R> {
    PAGE.with(|p| p.borrow_mut().as_mut().map(f))
}

/// Starts the page once the wasm module is loaded.
#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let doc = window.document().ok_or("no document")?;
    let views = Views::find()?;
    let mut app = App::new(Session::new(Setup::default()));
    let hash = window.location().hash().unwrap_or_default();
    let live_link = share::live_link(&hash);
    match share::from_fragment(&hash) {
        Some(Ok(session)) => {
            let opened = match share::lesson_of(&hash) {
                Some((n, done)) => app.open_lesson(session, n, done),
                None => app.load(session),
            };
            if let Err(reason) = opened {
                app.refusal = Some(reason);
            }
        }
        Some(Err(reason)) => app.refusal = Some(reason),
        None if live_link.is_none() => first_screen(&mut app),
        None => {}
    }
    fill_lessons(&doc);
    let page = Page {
        app,
        mode: Mode::Sim,
        doc: doc.clone(),
        views,
        last_frame: None,
        drawn: None,
        nodes_drawn: Vec::new(),
        frame_work_ms: 0.0,
        panels_at: 0.0,
        imported: None,
        importing: Vec::new(),
        panel_html: BTreeMap::new(),
    };
    PAGE.with(|p| *p.borrow_mut() = Some(page));
    if let Some(fields) = live_link {
        with_page(|p| {
            for (id, value) in &fields {
                p.set_input(id, value);
            }
            p.run(PageCmd::Connect);
        });
    }
    listen(&doc)?;
    hooks::expose(&window)?;
    request_frame();
    Ok(())
}

/// Keys on a first visit's cluster.
const FIRST_KEYS: usize = 12;

/// A first visit opens on a small formed cluster holding a few keys, not an empty ring.
fn first_screen(app: &mut App) {
    app.run_until(5_000, crate::lessons::idle);
    let clients: Vec<Addr> = app.sim.clients().map(|(a, _)| a.clone()).collect();
    for i in 0..FIRST_KEYS {
        if let Some(client) = clients.get(i % clients.len().max(1)) {
            app.act(ringside_sim::Action::setr(client.clone(), format!("k{i:02}"), format!("v{i}")));
        }
    }
    app.run_until(5_000, crate::lessons::idle);
}

fn fill_lessons(doc: &Document) {
    if let Some(select) = doc.get_element_by_id("lesson-pick") {
        let mut html = String::from("<option value=\"\">free play — no lesson</option>");
        for (i, l) in LESSONS.iter().enumerate() {
            html.push_str(&format!("<option value=\"{i}\">{}</option>", esc(l.title)));
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
        with_page(|p| p.click(&cmd, &arg));
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
            " " => PageCmd::Play,
            "ArrowRight" => PageCmd::Step,
            "ArrowLeft" => PageCmd::Back,
            _ => return,
        };
        e.prevent_default();
        with_page(|p| p.run(cmd));
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
    // On a drawing, what is under the pointer lights up, and a click selects it (unless it
    // ends a drag of the diagram).
    for id in ["ring", "seq"] {
        let canvas = element(id)?;
        for (event, select) in [("mousemove", false), ("click", true)] {
            on(&canvas, event, move |e| {
                let Some(m) = e.dyn_ref::<MouseEvent>() else { return };
                let (x, y) = (m.offset_x() as f64, m.offset_y() as f64);
                with_page(|p| {
                    if select && p.views.take_dragged() {
                        return;
                    }
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
    // The diagram's time axis: the wheel zooms, shift+wheel or a drag scrolls, a double-click
    // or "now" follows the present again.
    let seq = element("seq")?;
    on(&seq, "wheel", |e| {
        let Some(w) = e.dyn_ref::<web_sys::WheelEvent>() else { return };
        e.prevent_default();
        // Shift turns some wheels sideways.
        let delta = if w.delta_y() != 0.0 { w.delta_y() } else { w.delta_x() };
        let (shift, y) = (w.shift_key(), w.offset_y() as f64);
        with_page(|p| {
            let moment = p.mode.scene(&mut p.app).moment();
            p.views.wheel(delta, shift, y, moment);
        });
    })?;
    on(&seq, "mousedown", |e| {
        let Some(m) = e.dyn_ref::<MouseEvent>() else { return };
        let y = m.client_y() as f64;
        with_page(|p| p.views.press(y));
    })?;
    // The drag goes on outside the canvas, so it is followed on the whole document.
    on(doc, "mousemove", |e| {
        let Some(m) = e.dyn_ref::<MouseEvent>().filter(|m| m.buttons() & 1 == 1) else { return };
        let y = m.client_y() as f64;
        with_page(|p| {
            let moment = p.mode.scene(&mut p.app).moment();
            p.views.drag_to(y, moment);
        });
    })?;
    on(doc, "mouseup", |_| {
        with_page(|p| p.views.release());
    })?;
    on(&seq, "dblclick", |_| {
        with_page(|p| p.views.follow());
    })?;
    on(&element("seq-now")?, "click", |_| {
        with_page(|p| p.views.follow());
    })?;
    // Pointing at a key or node in a panel lights it up in the drawings.
    for id in ["inspector", "log"] {
        on(&element(id)?, "mouseover", |e| {
            let Some(el) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else { return };
            let focus = el.closest("[data-arg]").ok().flatten().and_then(|a| a.get_attribute("data-arg"));
            with_page(|p| p.app.hover = focus.and_then(|f| Focus::parse(&f)));
        })?;
    }
    Ok(())
}

fn request_frame() {
    let Some(window) = web_sys::window() else { return };
    let frame = Closure::once_into_js(|now: f64| {
        with_page(|p| p.frame(now));
        request_frame();
    });
    let _ = window.request_animation_frame(frame.unchecked_ref());
}

/// Whether the text panels need redrawing, given what they were drawn for and what they would
/// show now. While playing, only a few times a second: text changing faster cannot be read,
/// and the layout it costs would take frames from the drawings. A scene without a version (a
/// live cluster) changes all the time, so it is redrawn at that pace whatever happens.
fn panels_due(drawn: Option<&Drawn>, now: &Drawn, playing: bool, since_ms: f64) -> bool {
    let Some(drawn) = drawn else { return true };
    if now.0.is_none() {
        return since_ms >= PANEL_PERIOD_MS;
    }
    if drawn == now {
        return false;
    }
    let only_time_passed = drawn.1 == now.1 && drawn.2 == now.2;
    !(playing && only_time_passed && since_ms < PANEL_PERIOD_MS)
}

impl Page {
    pub(crate) fn input_value(&self, id: &str) -> String {
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

    /// The whole number in the field `id`, named `what` in a refusal.
    pub(crate) fn number(&self, id: &str, what: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
        let text = self.input_value(id);
        match text.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(format!("{what} must be a whole number from {} to {}, not “{text}”", range.start(), range.end())),
        }
    }

    /// The commit protocol picked for a new run.
    pub(crate) fn commit_protocol(&self) -> Result<CommitProtocol, String> {
        let name = self.select_value("commit");
        CommitProtocol::from_name(&name).ok_or_else(|| format!("no commit protocol “{name}”"))
    }

    /// How many view-leader replicas a new run has.
    pub(crate) fn view_leaders(&self) -> Result<usize, String> {
        let n = self.select_value("view-leaders");
        n.parse().map_err(|_| format!("no view-leader choice “{n}”"))
    }

    /// The simulated client picked in the controls.
    pub(crate) fn client(&self) -> Result<Addr, String> {
        let c = self.select_value("client");
        if c.is_empty() {
            return Err("there is no live client: add one first".into());
        }
        Ok(Addr(c))
    }

    fn set_input(&self, id: &str, value: &str) {
        if let Some(i) = self.doc.get_element_by_id(id).and_then(|e| e.dyn_into::<HtmlInputElement>().ok()) {
            i.set_value(value);
        }
    }

    pub(crate) fn set_select(&self, id: &str, value: &str) {
        if let Some(s) = self.doc.get_element_by_id(id).and_then(|e| e.dyn_into::<HtmlSelectElement>().ok()) {
            s.set_value(value);
        }
    }

    /// The nodes ticked for one side of a partition.
    pub(crate) fn checked_nodes(&self) -> Vec<Addr> {
        let Ok(list) = self.doc.query_selector_all("#partition-nodes input:checked") else { return Vec::new() };
        (0..list.length())
            .filter_map(|i| list.get(i)?.dyn_into::<HtmlInputElement>().ok())
            .map(|i| Addr(i.value()))
            .collect()
    }

    pub(crate) fn routine(&self) -> bool {
        self.doc
            .get_element_by_id("show-routine")
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
            .is_some_and(|i| i.checked())
    }

    /// Starts lesson `value` (its index), or leaves the lesson for free play; the diagram draws
    /// heartbeats when the lesson is about them.
    pub(crate) fn pick_lesson(&mut self, value: &str) {
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
        if let Some((lesson, _)) = self.app.current_lesson() {
            if let Some(i) =
                self.doc.get_element_by_id("show-routine").and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
            {
                i.set_checked(lesson.heartbeats);
            }
        }
        self.set_select("lesson-pick", value);
        self.drawn = None;
    }

    /// Shows `mode` in the views, from a fresh selection and zoom.
    pub(crate) fn enter(&mut self, mode: Mode) {
        self.mode = mode;
        self.app.selected = None;
        self.app.hover = None;
        self.views.axis = Axis::new(self.mode.scene(&mut self.app).source().zoom());
        self.nodes_drawn.clear();
        self.show_mode();
    }

    /// Leaves a live cluster (closing its sockets) or a replay for the simulator.
    pub(crate) fn leave_live(&mut self) {
        let left = std::mem::replace(&mut self.mode, Mode::Sim);
        let was_shown = !matches!(left, Mode::Sim);
        if let Mode::Live(mut watch) = left {
            watch.driver.close();
        }
        if was_shown {
            self.app.selected = None;
            self.views.axis = Axis::new(self.mode.scene(&mut self.app).source().zoom());
            self.nodes_drawn.clear();
        }
        self.show_mode();
    }

    /// The body's classes and the header's name say which mode is shown.
    fn show_mode(&self) {
        if let Some(body) = self.doc.body() {
            let _ = body.class_list().toggle_with_force("live", !matches!(self.mode, Mode::Sim));
            let _ = body.class_list().toggle_with_force("replay", matches!(self.mode, Mode::Replay(_)));
        }
        // A real cluster's box lives under Advanced: it opens while a cluster is shown.
        if let Some(advanced) = self.doc.get_element_by_id("advanced") {
            if !matches!(self.mode, Mode::Sim) {
                let _ = advanced.set_attribute("open", "");
            }
        }
        if let Some(name) = self.doc.get_element_by_id("mode-name") {
            name.set_text_content(Some(self.mode.name()));
        }
    }

    fn hit(&mut self, canvas: &str, x: f64, y: f64) -> Option<Focus> {
        let routine = self.routine();
        self.views.hit(self.mode.scene(&mut self.app), canvas, x, y, routine)
    }

    /// One animation frame: the scene moves on by the real time since the last, then every
    /// view is drawn from it.
    fn frame(&mut self, now: f64) {
        let dt = self.last_frame.map_or(0.0, |last| now - last);
        self.last_frame = Some(now);
        let speed = SPEEDS[self.app.speed];
        let clock = web_sys::window().and_then(|w| w.performance());
        let started = clock.as_ref().map_or(0.0, |c| c.now());
        // The world may use part of a frame; the drawing needs the rest.
        let mut out_of_time = || clock.as_ref().is_some_and(|c| c.now() - started > STEP_BUDGET_MS);
        self.mode.scene(&mut self.app).advance(dt, speed, &mut out_of_time);
        let focus = self.app.hover.clone().or_else(|| self.app.selected.clone());
        let routine = self.routine();
        self.views.draw(self.mode.scene(&mut self.app), focus.as_ref(), routine, now);
        self.panels(now);
        if let Some(perf) = web_sys::window().and_then(|w| w.performance()) {
            let work = perf.now() - now;
            self.frame_work_ms = 0.9 * self.frame_work_ms + 0.1 * work;
        }
    }

    /// Redraws the text panels when they are due.
    fn panels(&mut self, frame_time: f64) {
        let lesson = self.app.lesson.map(|l| (l.lesson, l.done));
        let selected = self.app.selected.clone();
        let scene = self.mode.scene(&mut self.app);
        let now = (scene.version(), selected, lesson);
        if !panels_due(self.drawn.as_ref(), &now, scene.playing(), frame_time - self.panels_at) {
            return;
        }
        self.drawn = Some(now);
        self.panels_at = frame_time;
        self.redraw_panels();
    }

    fn redraw_panels(&mut self) {
        let selected = self.app.selected.clone();
        let simulator = matches!(self.mode, Mode::Sim);
        let scene = self.mode.scene(&mut self.app);
        let status = scene.status();
        let inspector = inspector(scene, selected.as_ref());
        let log = panels::log(scene.journal(), scene.source());
        let playing = scene.playing();
        self.put("status", status);
        self.put("inspector", inspector);
        let log_grew = self.put("log", log);
        if simulator {
            self.put("lesson-text", lesson_card::card(&self.app));
        }
        self.controls_state(playing, log_grew);
        if simulator {
            if let Some(b) = self.doc.get_element_by_id("lesson-next").and_then(|e| e.dyn_into::<HtmlElement>().ok()) {
                let more = self.app.current_lesson().is_some_and(|(l, done)| done < l.steps.len());
                let _ = b.toggle_attribute_with_force("disabled", !more);
            }
            self.nodes();
        }
    }

    /// Puts `html` in the element `id` unless it holds it already; whether it changed.
    fn put(&mut self, id: &'static str, html: String) -> bool {
        if self.panel_html.get(id) == Some(&html) {
            return false;
        }
        if let Some(el) = self.doc.get_element_by_id(id) {
            el.set_inner_html(&html);
        }
        self.panel_html.insert(id, html);
        true
    }

    /// What the controls show in every mode: the refusal or confirmation, the speed, the play
    /// button, and the log scrolled to its newest line when `log_grew`.
    fn controls_state(&mut self, playing: bool, log_grew: bool) {
        let refusal = self.app.refusal.as_deref().map(esc).unwrap_or_default();
        let notice = self.app.notice.as_deref().map(esc).unwrap_or_default();
        self.put("refusal", refusal);
        self.put("notice", notice);
        self.put("speed-label", format!("{}×", SPEEDS[self.app.speed]));
        if log_grew {
            if let Some(log) = self.doc.get_element_by_id("log-panel") {
                log.set_scroll_top(log.scroll_height());
            }
        }
        self.put("play", if playing { "Pause" } else { "Play" }.to_string());
        if let Some(el) = self.doc.get_element_by_id("run-state") {
            let (class, text) = run_state(playing, self.app.step_in_progress(), SPEEDS[self.app.speed]);
            el.set_class_name(class);
            el.set_text_content(Some(&text));
        }
    }

    /// Rebuilds the simulator's client list and partition chips when nodes came or went.
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
                format!("<option value=\"{0}\"{selected}>{0}</option>", esc(&a.0))
            })
            .collect();
        if let Some(s) = self.doc.get_element_by_id("client") {
            s.set_inner_html(&options);
        }
        let chips: String = nodes
            .iter()
            .map(|(a, _)| format!("<label><input type=\"checkbox\" value=\"{0}\">{0}</label>", esc(&a.0)))
            .collect();
        if let Some(c) = self.doc.get_element_by_id("partition-nodes") {
            c.set_inner_html(&chips);
        }
        self.nodes_drawn = nodes;
    }
}

/// The badge saying whether time runs: its class and words.
fn run_state(playing: bool, lesson_step: bool, speed: f64) -> (&'static str, String) {
    if lesson_step {
        ("running", "▶ the lesson step plays".into())
    } else if playing {
        ("running", format!("▶ playing at {speed}×"))
    } else {
        ("paused", "paused — press Play or →".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_badge_says_when_time_stands_still() {
        assert_eq!(run_state(false, false, 0.1), ("paused", "paused — press Play or →".to_string()));
        assert_eq!(run_state(true, false, 0.3).1, "▶ playing at 0.3×");
        assert_eq!(run_state(false, true, 0.1).0, "running");
    }

    #[test]
    fn panels_redraw_on_change_and_while_playing_a_few_times_a_second() {
        let drawn: Drawn = (Some(3), None, None);
        assert!(panels_due(None, &drawn, false, 0.0), "never drawn");
        assert!(!panels_due(Some(&drawn), &drawn, false, 1_000.0), "nothing changed");
        let later = (Some(4), None, None);
        assert!(panels_due(Some(&later), &(Some(5), None, None), false, 0.0), "paused: every change");
        assert!(!panels_due(Some(&later), &(Some(5), None, None), true, 10.0), "playing: time passed, soon");
        assert!(panels_due(Some(&later), &(Some(5), None, None), true, PANEL_PERIOD_MS), "playing: time passed");
        let picked = (Some(5), Some(Focus::Key("x".into())), None);
        assert!(panels_due(Some(&later), &picked, true, 10.0), "playing: a selection at once");
        let live: Drawn = (None, None, None);
        assert!(!panels_due(Some(&live), &live, false, 10.0), "live: a few times a second");
        assert!(panels_due(Some(&live), &live, false, PANEL_PERIOD_MS));
    }
}
