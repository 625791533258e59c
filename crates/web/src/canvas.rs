//! A canvas sized to its box at the screen's pixel density, drawn again only when what it
//! shows changed; a picture kept on a canvas of its own to copy in; and the few drawing helpers
//! every view uses.

use std::f64::consts::TAU;
use std::hash::{DefaultHasher, Hash, Hasher};

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

/// A fingerprint of everything a picture is drawn from: the same stamp, the same picture.
/// Without a GPU every stroke is rasterised in software, so a canvas that is not touched in a
/// frame costs the browser nothing, and one that is costs it all its pixels again.
#[derive(Default)]
pub struct Stamp(DefaultHasher);

impl Stamp {
    /// The stamp with `part` added.
    pub fn with(mut self, part: impl Hash) -> Stamp {
        part.hash(&mut self.0);
        self
    }

    /// The stamp with the number `x` added (bit for bit).
    pub fn num(self, x: f64) -> Stamp {
        self.with(x.to_bits())
    }

    fn value(&self) -> u64 {
        self.0.finish()
    }
}

impl Hash for Stamp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value().hash(state);
    }
}

/// A canvas and its 2D context, in CSS pixels.
pub struct Canvas {
    /// The element.
    pub el: HtmlCanvasElement,
    /// Its context, scaled so one unit is one CSS pixel.
    pub ctx: CanvasRenderingContext2d,
    /// Width in CSS pixels.
    pub w: f64,
    /// Height in CSS pixels.
    pub h: f64,
    /// Device pixels per CSS pixel.
    dpr: f64,
    /// What it shows now, and the backing store's size it was drawn at.
    drawn: Option<(u64, u32, u32)>,
}

impl Canvas {
    /// Wraps the canvas with this id.
    pub fn find(id: &str) -> Option<Canvas> {
        let el: HtmlCanvasElement = web_sys::window()?.document()?.get_element_by_id(id)?.dyn_into().ok()?;
        Canvas::wrap(el)
    }

    /// A canvas outside the document, to keep a picture on.
    fn offscreen() -> Option<Canvas> {
        let el: HtmlCanvasElement = web_sys::window()?.document()?.create_element("canvas").ok()?.dyn_into().ok()?;
        Canvas::wrap(el)
    }

    fn wrap(el: HtmlCanvasElement) -> Option<Canvas> {
        let ctx: CanvasRenderingContext2d = el.get_context("2d").ok()??.dyn_into().ok()?;
        Some(Canvas { el, ctx, w: 0.0, h: 0.0, dpr: 1.0, drawn: None })
    }

    /// Matches the backing store to the element's box; then, unless it already shows what
    /// `stamp` stands for, clears it and says it must be drawn.
    pub fn begin(&mut self, stamp: &Stamp) -> bool {
        let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
        let (w, h) = (self.el.client_width() as f64, self.el.client_height() as f64);
        self.size(w, h, dpr, stamp.value())
    }

    /// Sizes the backing store for `w`×`h` CSS pixels at `dpr`, and clears it unless it holds
    /// the picture `stamp` stands for at that size; whether it must be drawn.
    fn size(&mut self, w: f64, h: f64, dpr: f64, stamp: u64) -> bool {
        let (pw, ph) = ((w * dpr).round() as u32, (h * dpr).round() as u32);
        if self.el.width() != pw || self.el.height() != ph {
            self.el.set_width(pw);
            self.el.set_height(ph);
        }
        self.w = w;
        self.h = h;
        self.dpr = dpr;
        if self.drawn == Some((stamp, pw, ph)) {
            return false;
        }
        self.drawn = Some((stamp, pw, ph));
        let _ = self.ctx.set_transform(dpr, 0.0, 0.0, dpr, 0.0, 0.0);
        self.ctx.clear_rect(0.0, 0.0, w, h);
        true
    }

    /// A filled circle.
    pub fn dot(&self, x: f64, y: f64, r: f64, fill: &str) {
        self.ctx.begin_path();
        let _ = self.ctx.arc(x, y, r, 0.0, TAU);
        self.ctx.set_fill_style_str(fill);
        self.ctx.fill();
    }

    /// A straight line.
    pub fn line(&self, x0: f64, y0: f64, x1: f64, y1: f64, stroke: &str, width: f64) {
        self.ctx.begin_path();
        self.ctx.move_to(x0, y0);
        self.ctx.line_to(x1, y1);
        self.ctx.set_stroke_style_str(stroke);
        self.ctx.set_line_width(width);
        self.ctx.stroke();
    }

    /// Text at a point, with an alignment ("left", "center", "right").
    pub fn text(&self, s: &str, x: f64, y: f64, font: &str, fill: &str, align: &str) {
        self.ctx.set_font(font);
        self.ctx.set_fill_style_str(fill);
        self.ctx.set_text_align(align);
        let _ = self.ctx.fill_text(s, x, y);
    }

    /// Text with a white halo under it, readable over lines and bars.
    pub fn text_on(&self, s: &str, x: f64, y: f64, font: &str, fill: &str, align: &str) {
        self.ctx.set_font(font);
        self.ctx.set_text_align(align);
        self.ctx.set_stroke_style_str("rgba(255,255,255,0.9)");
        self.ctx.set_line_width(3.0);
        self.ctx.set_line_join("round");
        let _ = self.ctx.stroke_text(s, x, y);
        self.ctx.set_fill_style_str(fill);
        let _ = self.ctx.fill_text(s, x, y);
    }

    /// How wide `s` is in `font` (CSS pixels).
    pub fn measure(&self, s: &str, font: &str) -> f64 {
        self.ctx.set_font(font);
        self.ctx.measure_text(s).map_or_else(|_| crate::labels::text_width(s, 11.0), |m| m.width())
    }

    /// Dashes the lines stroked after it, `on` pixels then `off`; `(0, 0)` draws solid again.
    pub fn dash(&self, (on, off): (f64, f64)) {
        let pattern = if on > 0.0 { js_sys::Array::of2(&on.into(), &off.into()) } else { js_sys::Array::new() };
        let _ = self.ctx.set_line_dash(&pattern);
    }

    /// A filled rectangle.
    pub fn rect(&self, r: crate::labels::Rect, fill: &str) {
        self.ctx.set_fill_style_str(fill);
        self.ctx.fill_rect(r.x, r.y, r.w, r.h);
    }
}

/// A picture that costs much to draw and changes seldom (the ring's thousands of key ticks),
/// kept on a canvas of its own and copied onto its view whenever the view is redrawn.
pub struct Layer {
    canvas: Option<Canvas>,
}

impl Layer {
    /// An empty layer on a canvas of its own.
    pub fn new() -> Layer {
        Layer { canvas: Canvas::offscreen() }
    }

    /// Copies the picture `stamp` stands for onto `onto`, which was just cleared: `paint`
    /// draws it on the layer (in `onto`'s CSS pixels) only when the layer holds another. A
    /// document that cannot make a canvas gets it painted on `onto` directly.
    pub fn show(&mut self, onto: &Canvas, stamp: &Stamp, paint: impl FnOnce(&Canvas)) {
        let Some(layer) = &mut self.canvas else {
            paint(onto);
            return;
        };
        if layer.size(onto.w, onto.h, onto.dpr, stamp.value()) {
            paint(layer);
        }
        let _ = onto.ctx.draw_image_with_html_canvas_element_and_dw_and_dh(&layer.el, 0.0, 0.0, onto.w, onto.h);
    }
}

impl Default for Layer {
    fn default() -> Layer {
        Layer::new()
    }
}
