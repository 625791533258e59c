//! The drawings of a frame — the ring, the message diagram and the charts — drawn from
//! whichever [`Scene`] the page shows, what the pointer is over in them, and how the learner
//! moves the diagram's time axis (wheel to zoom, drag or shift+wheel to scroll, double-click or
//! "now" to follow the present again).

use wasm_bindgen::JsValue;
use web_sys::Element;

use crate::app::Focus;
use crate::canvas::{Canvas, Layer, Stamp};
use crate::charts;
use crate::ring_view::{self, Geometry};
use crate::scene::Scene;
use crate::seq_view::{self, Axis, Extras, Layout};
use crate::timers;

/// While the ring is costly to recompute, it is recomputed at most this often (real ms).
const PLACEMENT_PERIOD_MS: f64 = 100.0;
/// A press that moves less than this (px) is a click, not a drag.
const DRAG_SLOP: f64 = 3.0;
/// Zoom per wheel notch.
const WHEEL_ZOOM: f64 = 1.25;

/// A drag on the diagram in progress.
#[derive(Clone, Copy, Debug)]
struct Drag {
    /// Where the pointer was last (canvas y).
    last_y: f64,
    /// How far it moved in all.
    moved: f64,
}

/// The page's three canvases and what was last drawn on them.
pub struct Views {
    ring: Canvas,
    /// The ring's circle, arcs and key ticks.
    ring_still: Layer,
    seq: Canvas,
    charts: Canvas,
    /// The diagram's "now" button, shown while the axis is scrolled back.
    now_button: Option<Element>,
    ring_geometry: Geometry,
    seq_layout: Option<Layout>,
    /// The diagram's time axis.
    pub axis: Axis,
    drag: Option<Drag>,
    /// The press that just ended was a drag: the click it makes selects nothing.
    dragged: bool,
    /// When the ring's placement was last recomputed (ms, the frame clock).
    placement_at: f64,
}

impl Views {
    /// The canvases `#ring`, `#seq` and `#charts`, and the diagram's button `#seq-now`.
    pub fn find() -> Result<Views, JsValue> {
        let find = |id: &str| Canvas::find(id).ok_or_else(|| JsValue::from_str(&format!("no canvas #{id}")));
        let now_button = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("seq-now"));
        Ok(Views {
            ring: find("ring")?,
            ring_still: Layer::new(),
            seq: find("seq")?,
            charts: find("charts")?,
            now_button,
            ring_geometry: Geometry::fit(1.0, 1.0),
            seq_layout: None,
            axis: Axis::new(seq_view::PX_PER_MS),
            drag: None,
            dragged: false,
            placement_at: 0.0,
        })
    }

    /// Draws `scene` at frame time `now` (ms), lighting up `focus`; `routine` shows the
    /// heartbeats too. A canvas whose picture would not change is left as it is.
    pub fn draw(&mut self, scene: &mut dyn Scene, focus: Option<&Focus>, routine: bool, now: f64) {
        // While playing through a burst, the keys' placement is recomputed a few times a second.
        if !scene.placement_costly() || now - self.placement_at >= PLACEMENT_PERIOD_MS {
            scene.placement();
            self.placement_at = now;
        }
        // What the world is at: a live cluster's scene has no version, it changes all the time.
        let world = scene.version().ok_or(now.to_bits());
        let up = scene.servers_up();
        let clocks = scene.clocks();
        let placement = scene.placement_cached();
        let journal = scene.journal();
        let leadership = scene.leadership();
        let ring = ring_view::Extras {
            cut: journal.partition(),
            playing: scene.playing(),
            leadership: leadership.as_deref(),
            dual: journal.dual.as_ref(),
        };
        let ring_stamp = Stamp::default()
            .with(placement.generation)
            .with(focus)
            .with(&up)
            .with(ring.cut)
            .with(ring.playing)
            .with(ring.leadership)
            .with(world)
            .num(clocks.at);
        if self.ring.begin(&ring_stamp) {
            self.ring_geometry =
                ring_view::draw(&self.ring, &mut self.ring_still, placement, &|id| up.contains(id), focus, &ring);
            timers::ring(&self.ring, self.ring_geometry, placement, &clocks);
        }
        let focus_addr = match focus {
            Some(Focus::Node(a)) => Some(a.0.as_str()),
            _ => None,
        };
        if self.charts.begin(&Stamp::default().with(placement.generation).with(&journal.moves).with(focus_addr)) {
            charts::draw(&self.charts, placement, &journal.moves, focus_addr);
        }
        let moment = scene.moment();
        self.axis.fit(scene.marks(), moment, self.seq.h);
        let layout = Layout::new(scene.lanes(), self.seq.w, self.seq.h, moment, self.axis.px_per_ms)
            .with_unit(scene.source().ms_per_unit())
            .ending(self.axis.end(moment));
        let outside = placement
            .outside
            .iter()
            .map(|o| (o.addr.clone(), if o.starting { "joining" } else { "not in view" }))
            .collect();
        let extras = Extras { marks: scene.marks(), cuts: &journal.cuts, outside };
        let seq_stamp =
            Stamp::default().with(world).with(layout.stamp()).with(routine).with(focus).with(extras.stamp());
        if self.seq.begin(&seq_stamp) {
            seq_view::draw(&self.seq, &layout, journal.messages.values(), &journal.names, routine, focus, &extras);
        }
        self.seq_layout = Some(layout);
        if let Some(b) = &self.now_button {
            let _ = b.toggle_attribute_with_force("hidden", self.axis.following());
        }
    }

    /// What is at (`x`, `y`) on the canvas `canvas` (`ring` or `seq`).
    pub fn hit(&self, scene: &mut dyn Scene, canvas: &str, x: f64, y: f64, routine: bool) -> Option<Focus> {
        match canvas {
            "ring" => ring_view::hit(scene.placement(), self.ring_geometry, x, y),
            _ => seq_view::hit(self.seq_layout.as_ref()?, scene.journal().messages.values(), routine, x, y),
        }
    }

    /// The wheel over the diagram at height `y`, the world at `moment`: it zooms the time axis
    /// about the pointer, or with shift held scrolls it (`delta` > 0: towards the present).
    pub fn wheel(&mut self, delta: f64, shift: bool, y: f64, moment: f64) {
        if shift {
            self.axis.scroll(-delta, moment, self.seq.h);
        } else {
            let factor = if delta > 0.0 { 1.0 / WHEEL_ZOOM } else { WHEEL_ZOOM };
            self.axis.zoom(factor, (self.seq.h - 8.0 - y).max(0.0), moment);
        }
    }

    /// The pointer went down on the diagram at height `y` (the window's: only its changes count).
    pub fn press(&mut self, y: f64) {
        self.drag = Some(Drag { last_y: y, moved: 0.0 });
        self.dragged = false;
    }

    /// The pointer moved to height `y` with the button held: the picture follows it (dragging
    /// down shows the past).
    pub fn drag_to(&mut self, y: f64, moment: f64) {
        let Some(d) = &mut self.drag else { return };
        let dy = y - d.last_y;
        d.last_y = y;
        d.moved += dy.abs();
        if d.moved >= DRAG_SLOP {
            self.axis.scroll(dy, moment, self.seq.h);
        }
    }

    /// The pointer went up: the drag is over.
    pub fn release(&mut self) {
        if let Some(d) = self.drag.take() {
            self.dragged = d.moved >= DRAG_SLOP;
        }
    }

    /// Whether the click arriving now ends a drag (it then selects nothing); asks once.
    pub fn take_dragged(&mut self) -> bool {
        std::mem::take(&mut self.dragged)
    }

    /// The stretch of time the diagram showed last frame (in the scene's units), and whether it
    /// follows the present.
    pub fn diagram_span(&self) -> Option<((f64, f64), bool)> {
        Some((self.seq_layout.as_ref()?.span(), self.axis.following()))
    }

    /// Follows the present again.
    pub fn follow(&mut self) {
        self.axis.follow();
    }
}
