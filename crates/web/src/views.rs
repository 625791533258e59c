//! The drawings of a frame — the ring, the message diagram and the charts — drawn from
//! whichever [`Scene`] the page shows, and what the pointer is over in them.

use wasm_bindgen::JsValue;

use crate::app::Focus;
use crate::canvas::Canvas;
use crate::charts;
use crate::ring_view::{self, Geometry};
use crate::scene::Scene;
use crate::seq_view::ZOOM;
use crate::seq_view::{self, Layout};
use crate::timers;

/// While the ring is costly to recompute, it is recomputed at most this often (real ms).
const PLACEMENT_PERIOD_MS: f64 = 100.0;

/// The page's three canvases and what was last drawn on them.
pub struct Views {
    ring: Canvas,
    seq: Canvas,
    charts: Canvas,
    ring_geometry: Geometry,
    seq_layout: Option<Layout>,
    /// The diagram's zoom: pixels per unit of the scene's times.
    pub px_per_ms: f64,
    /// When the ring's placement was last recomputed (ms, the frame clock).
    placement_at: f64,
}

impl Views {
    /// The canvases `#ring`, `#seq` and `#charts`.
    pub fn find() -> Result<Views, JsValue> {
        let find = |id: &str| Canvas::find(id).ok_or_else(|| JsValue::from_str(&format!("no canvas #{id}")));
        Ok(Views {
            ring: find("ring")?,
            seq: find("seq")?,
            charts: find("charts")?,
            ring_geometry: Geometry::fit(1.0, 1.0),
            seq_layout: None,
            px_per_ms: seq_view::PX_PER_MS,
            placement_at: 0.0,
        })
    }

    /// Draws `scene` at frame time `now` (ms), lighting up `focus`; `routine` shows the
    /// heartbeats too.
    pub fn draw(&mut self, scene: &mut dyn Scene, focus: Option<&Focus>, routine: bool, now: f64) {
        self.ring.begin();
        self.charts.begin();
        self.seq.begin();
        // While playing through a burst, the keys' placement is recomputed a few times a second.
        if !scene.placement_costly() || now - self.placement_at >= PLACEMENT_PERIOD_MS {
            scene.placement();
            self.placement_at = now;
        }
        let up = scene.servers_up();
        let clocks = scene.clocks();
        let placement = scene.placement_cached();
        self.ring_geometry = ring_view::draw(&self.ring, placement, &|id| up.contains(id), focus);
        timers::ring(&self.ring, self.ring_geometry, placement, &clocks);
        let focus_addr = match focus {
            Some(Focus::Node(a)) => Some(a.0.as_str()),
            _ => None,
        };
        let journal = scene.journal();
        charts::draw(&self.charts, placement, &journal.moves, focus_addr);
        let layout = Layout::new(scene.lanes(), self.seq.w, self.seq.h, scene.moment(), self.px_per_ms)
            .with_unit(scene.source().ms_per_unit());
        seq_view::draw(&self.seq, &layout, journal.messages.values(), routine, focus);
        self.seq_layout = Some(layout);
    }

    /// What is at (`x`, `y`) on the canvas `canvas` (`ring` or `seq`).
    pub fn hit(&self, scene: &mut dyn Scene, canvas: &str, x: f64, y: f64, routine: bool) -> Option<Focus> {
        match canvas {
            "ring" => ring_view::hit(scene.placement(), self.ring_geometry, x, y),
            _ => seq_view::hit(self.seq_layout.as_ref()?, scene.journal().messages.values(), routine, x, y),
        }
    }

    /// Zooms the diagram's time axis by `factor`, within its bounds.
    pub fn zoom(&mut self, factor: f64) {
        self.px_per_ms = (self.px_per_ms * factor).clamp(ZOOM.0, ZOOM.1);
    }
}
