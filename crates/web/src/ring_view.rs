//! The hash ring: servers at their points, the arcs they are primary for, every stored key as a
//! tick, and — for the key or server pointed at — its replicas.

use std::f64::consts::{FRAC_PI_2, TAU};

use ringside_core::{Addr, ServerId};

use ringside_sim::VIEW_LEADER;

use crate::app::Focus;
use crate::canvas::{Canvas, Layer, Stamp};
use crate::labels::{Rect, Spot, Taken};
use crate::model::{Cut, DualWrite, KeyMark, Placement};
use crate::palette::{self, FOCUS, INK, MUTED, RULE};
use crate::trig;

/// The ring's geometry in the canvas.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    cx: f64,
    cy: f64,
    r: f64,
}

impl Geometry {
    /// The ring centred in a `w`×`h` box.
    pub fn fit(w: f64, h: f64) -> Geometry {
        Geometry { cx: w / 2.0, cy: h / 2.0, r: (w.min(h) / 2.0 - 34.0).max(20.0) }
    }

    /// The point at `angle` (clockwise from the top) and `radius`.
    pub fn at(&self, angle: f64, radius: f64) -> (f64, f64) {
        let a = angle - FRAC_PI_2;
        (self.cx + radius * trig::cos(a), self.cy + radius * trig::sin(a))
    }

    /// Where a server's point at `angle` sits on the ring.
    pub fn point(&self, angle: f64) -> (f64, f64) {
        self.at(angle, self.r)
    }

    /// Where a point of the canvas is: its angle and its distance from the centre.
    pub fn polar(&self, x: f64, y: f64) -> (f64, f64) {
        let (dx, dy) = (x - self.cx, y - self.cy);
        ((trig::atan2(dy, dx) + FRAC_PI_2).rem_euclid(TAU), dx.hypot(dy))
    }
}

/// The key tick band sits this far inside the ring.
const KEY_IN: f64 = 16.0;
const KEY_OUT: f64 = 5.0;
const ARC_WIDTH: f64 = 9.0;

/// What is under the pointer at (`x`, `y`).
pub fn hit(p: &Placement, g: Geometry, x: f64, y: f64) -> Option<Focus> {
    let mut best: Option<(f64, Addr)> = None;
    for s in &p.servers {
        for a in &s.points {
            let (px, py) = g.at(*a, g.r);
            let d = (px - x).hypot(py - y);
            if d < 10.0 && best.as_ref().is_none_or(|(bd, _)| d < *bd) {
                best = Some((d, s.addr.clone()));
            }
        }
    }
    if let Some((_, addr)) = best {
        return Some(Focus::Node(addr));
    }
    let (angle, dist) = g.polar(x, y);
    if dist < g.r - KEY_IN - 8.0 || dist > g.r - KEY_OUT + 6.0 {
        return None;
    }
    // The nearest key by arc length, within a few pixels.
    p.keys
        .iter()
        .map(|k| {
            let d = (k.angle - angle).abs();
            (d.min(TAU - d) * g.r, k)
        })
        .filter(|(d, _)| *d < 4.0)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| Focus::Key(k.key.clone()))
}

/// What the ring shows besides the placement.
pub struct Extras<'a> {
    /// The partition in place.
    pub cut: Option<&'a Cut>,
    /// Whether time runs (a server just started joins only then).
    pub playing: bool,
    /// Who leads a replicated view leader.
    pub leadership: Option<&'a str>,
    /// The last write of a moving key, drawn while the key still moves.
    pub dual: Option<&'a DualWrite>,
}

/// Draws the ring. `live` says which view members still run; `focus` lights up. The circle, the
/// arcs and the key ticks come from `still`, drawn again only when the placement or the server
/// pointed at changed.
pub fn draw(
    c: &Canvas,
    still: &mut Layer,
    p: &Placement,
    live: &dyn Fn(&ServerId) -> bool,
    focus: Option<&Focus>,
    extras: &Extras<'_>,
) -> Geometry {
    let g = Geometry::fit(c.w, c.h);
    let focus_server = match focus {
        Some(Focus::Node(a)) => p.servers.iter().find(|s| &s.addr == a).map(|s| &s.id),
        _ => None,
    };
    still.show(c, &Stamp::default().with(p.generation).with(focus_server), |layer| {
        ring_and_keys(layer, g, p, focus_server);
    });
    let focus_key = match focus {
        Some(Focus::Key(k)) => Some(k.as_str()),
        _ => None,
    };

    // The last write of a key that is still moving: a line to every server that took it,
    // dashed to its stable replicas, solid to its new ones. It stands in for the focused key's
    // replica lines when that is the key.
    let dual = extras.dual.and_then(|d| Some(d).zip(p.keys.iter().find(|k| k.key == d.key && !k.placed)));
    if let Some((d, k)) = dual {
        c.dash((5.0, 4.0));
        for id in &d.stable {
            key_to_server(c, g, p, k, id, 1.8);
        }
        c.dash((0.0, 0.0));
        for id in &d.new {
            key_to_server(c, g, p, k, id, 1.8);
        }
        if focus_key != Some(k.key.as_str()) {
            let (lx, ly) = g.at(k.angle, g.r - KEY_IN - 14.0);
            c.text(&k.key, lx, ly + 4.0, "600 12px system-ui, sans-serif", FOCUS, "center");
        }
    }
    // The focused key: a bold tick and a line to each replica, primary first.
    if let Some(k) = focus_key.and_then(|key| p.keys.iter().find(|k| k.key == key)) {
        let (x0, y0) = g.at(k.angle, g.r - KEY_IN - 4.0);
        let (x1, y1) = g.at(k.angle, g.r - KEY_OUT + 3.0);
        c.line(x0, y0, x1, y1, FOCUS, 3.0);
        if dual.is_none_or(|(d, _)| d.key != k.key) {
            for (i, id) in k.replicas.iter().enumerate() {
                key_to_server(c, g, p, k, id, if i == 0 { 2.5 } else { 1.2 });
            }
        }
        let (lx, ly) = g.at(k.angle, g.r - KEY_IN - 14.0);
        c.text(&k.key, lx, ly + 4.0, "600 12px system-ui, sans-serif", FOCUS, "center");
    }

    let mut taken = Taken::new(c.w, c.h);
    middle(c, p, g, extras, dual.map(|(d, _)| d), &mut taken);
    legend(c, p, live, extras, &mut taken);

    // Servers: a dot per point; a label at the first; grey with a cross once their process died;
    // ringed with a dashed red circle when a partition cuts them off from the view leader.
    let focus_replicas: Vec<&ServerId> = focus_key
        .and_then(|key| p.keys.iter().find(|k| k.key == key))
        .map_or(Vec::new(), |k| k.replicas.iter().collect());
    let cut_off = |addr: &Addr| extras.cut.is_some_and(|cut| cut.divides(addr, &Addr::from(VIEW_LEADER)));
    for s in &p.servers {
        let up = live(&s.id);
        let lit = focus_server == Some(&s.id) || focus_replicas.contains(&&s.id);
        let fill = if up { palette::node_color(&s.addr, 45) } else { DEAD.to_string() };
        for (i, a) in s.points.iter().enumerate() {
            let (x, y) = g.at(*a, g.r);
            let radius = if i == 0 { 7.0 } else { 4.0 };
            if lit {
                c.dot(x, y, radius + 4.0, FOCUS);
            }
            c.dot(x, y, radius, &fill);
            if cut_off(&s.addr) {
                ring(c, x, y, radius + 3.0, palette::BAD);
            }
            if i == 0 && !up {
                c.line(x - 5.0, y - 5.0, x + 5.0, y + 5.0, palette::BAD, 2.0);
                c.line(x - 5.0, y + 5.0, x + 5.0, y - 5.0, palette::BAD, 2.0);
            }
        }
    }
    // Servers running outside the view: a hollow dot where they would sit.
    for o in &p.outside {
        for a in &o.points {
            let (x, y) = g.at(*a, g.r);
            c.dot(x, y, 6.0, "#ffffff");
            ring(c, x, y, 6.0, &palette::node_color(&o.addr, 45));
        }
    }
    // Names last, each at the first free place outward from its point: neighbours on the ring
    // push each other out instead of overlapping.
    let names = p
        .servers
        .iter()
        .map(|s| (s.addr.0.clone(), s.points.first().copied(), if live(&s.id) { INK } else { MUTED }))
        .chain(p.outside.iter().map(|o| {
            let word = if o.starting { "joining" } else { "not in view" };
            (format!("{} {word}", o.addr.0), o.points.first().copied(), MUTED)
        }));
    for (name, angle, colour) in names {
        let Some(angle) = angle else { continue };
        let w = c.measure(&name, NAME_FONT);
        if let Some((lx, ly, align)) = taken.place_text(&name_spots(g, angle), w, 12.0) {
            c.text_on(&name, lx, ly, NAME_FONT, colour, align);
        }
    }
    g
}

/// A line from key `k`'s tick to server `id`'s first point clockwise from the key.
fn key_to_server(c: &Canvas, g: Geometry, p: &Placement, k: &KeyMark, id: &ServerId, width: f64) {
    let Some(s) = p.server(id) else { return };
    let to = s
        .points
        .iter()
        .min_by(|a, b| (*a - k.angle).rem_euclid(TAU).total_cmp(&(*b - k.angle).rem_euclid(TAU)))
        .copied()
        .unwrap_or(0.0);
    let (sx, sy) = g.at(to, g.r);
    let (kx, ky) = g.at(k.angle, g.r - KEY_IN);
    c.line(kx, ky, sx, sy, FOCUS, width);
}

/// The ring, each primary's arcs and a tick per key: all that changes only with the placement
/// and the server pointed at (`focus_server`).
fn ring_and_keys(c: &Canvas, g: Geometry, p: &Placement, focus_server: Option<&ServerId>) {
    let ctx = &c.ctx;
    // The ring itself.
    ctx.begin_path();
    let _ = ctx.arc(g.cx, g.cy, g.r, 0.0, TAU);
    ctx.set_stroke_style_str(RULE);
    ctx.set_line_width(ARC_WIDTH);
    ctx.stroke();

    let addr_of = |id: &ServerId| p.server(id).map(|s| s.addr.clone()).unwrap_or_else(|| Addr(id.0.clone()));

    // Ownership arcs, each in its primary's colour.
    for arc in &p.arcs {
        let lit = focus_server == Some(&arc.owner);
        let color = palette::node_color(&addr_of(&arc.owner), if lit { 55 } else { 78 });
        ctx.begin_path();
        let _ = ctx.arc(g.cx, g.cy, g.r, arc.from - FRAC_PI_2, arc.to - FRAC_PI_2);
        ctx.set_stroke_style_str(&color);
        ctx.set_line_width(if lit { ARC_WIDTH + 4.0 } else { ARC_WIDTH });
        ctx.stroke();
    }

    // Keys: a tick each; orange while its copies are not yet exactly on its replicas. Ticks of
    // one colour share one path: thousands of keys cost a few strokes.
    let colour_of = |k: &crate::model::KeyMark| {
        if !k.placed {
            FOCUS
        } else if focus_server.is_some_and(|id| k.holders.contains(id)) {
            INK
        } else if focus_server.is_some() {
            RULE
        } else {
            MUTED
        }
    };
    ctx.set_line_width(1.0);
    for colour in [RULE, MUTED, INK, FOCUS] {
        ctx.begin_path();
        for k in p.keys.iter().filter(|k| colour_of(k) == colour) {
            let (x0, y0) = g.at(k.angle, g.r - KEY_IN);
            let (x1, y1) = g.at(k.angle, g.r - KEY_OUT);
            ctx.move_to(x0, y0);
            ctx.line_to(x1, y1);
        }
        ctx.set_stroke_style_str(colour);
        ctx.stroke();
    }
}

const NAME_FONT: &str = "600 12px system-ui, sans-serif";
const LEGEND_FONT: &str = "11px system-ui, sans-serif";
/// A crashed server's grey.
const DEAD: &str = "#9aa0ab";

/// Where a server's name may go, best first: just outside its point, then further out, then
/// a little to either side along the ring.
fn name_spots(g: Geometry, angle: f64) -> Vec<Spot> {
    let mut spots = Vec::new();
    for k in 0..5 {
        for turn in [0.0, 0.12, -0.12, 0.24, -0.24] {
            let (x, y) = g.at(angle + turn, g.r + 20.0 + 13.0 * k as f64);
            spots.push((x, y + 4.0, "center"));
        }
    }
    spots
}

/// A circle's dashed outline.
fn ring(c: &Canvas, x: f64, y: f64, r: f64, stroke: &str) {
    c.dash((3.0, 2.0));
    c.ctx.begin_path();
    let _ = c.ctx.arc(x, y, r, 0.0, TAU);
    c.ctx.set_stroke_style_str(stroke);
    c.ctx.set_line_width(1.5);
    c.ctx.stroke();
    c.dash((0.0, 0.0));
}

/// The middle: what the ring is, and what is waiting.
/// `dual`: the last write on both sets, while its key still moves.
fn middle(c: &Canvas, p: &Placement, g: Geometry, extras: &Extras<'_>, dual: Option<&DualWrite>, taken: &mut Taken) {
    let mut lines: Vec<(String, &str, &str)> = vec![
        (format!("epoch {}", p.epoch), "600 16px system-ui, sans-serif", INK),
        (format!("{} servers · {} keys", p.servers.len(), p.keys.len()), "13px system-ui, sans-serif", MUTED),
    ];
    if let Some(leads) = extras.leadership {
        lines.push((leads.to_string(), "13px system-ui, sans-serif", INK));
    }
    let moving = p.keys.iter().filter(|k| !k.placed).count();
    if moving > 0 {
        lines.push((format!("{moving} not yet on their replicas"), "13px system-ui, sans-serif", FOCUS));
    }
    if let Some(d) = dual {
        lines.push((format!("{} was written on both sets:", d.key), "12px system-ui, sans-serif", FOCUS));
        lines.push(("dashed to the stable, solid to the new".into(), "12px system-ui, sans-serif", FOCUS));
    }
    // A server just started joins only once time runs: its first heartbeat is still due.
    if !extras.playing {
        if let Some(o) = p.outside.iter().find(|o| o.starting) {
            lines.push((format!("{} joins once time runs:", o.addr.0), "12px system-ui, sans-serif", MUTED));
            lines.push(("press Play or →".into(), "12px system-ui, sans-serif", MUTED));
        }
    }
    for (i, (text, font, colour)) in lines.iter().enumerate() {
        let y = g.cy - 8.0 + if i == 0 { 0.0 } else { 3.0 + 17.0 * i as f64 };
        let px = if i == 0 { 16.0 } else { 13.0 };
        taken.take(Rect::text(g.cx, y, c.measure(text, font), px, "center"));
        c.text(text, g.cx, y, font, colour, "center");
    }
}

/// What the ring's red marks mean, at its bottom left, only while one is drawn.
fn legend(c: &Canvas, p: &Placement, live: &dyn Fn(&ServerId) -> bool, extras: &Extras<'_>, taken: &mut Taken) {
    let mut lines: Vec<String> = Vec::new();
    if p.servers.iter().any(|s| !live(&s.id)) {
        lines.push("✕ its process crashed".into());
    }
    if let Some(cut) = extras.cut {
        lines.push(cut.label());
        lines.push("red dashed ring: cut off from the view leader".into());
    }
    for (i, text) in lines.iter().rev().enumerate() {
        let y = c.h - 4.0 - 14.0 * i as f64;
        taken.take(Rect::text(4.0, y, c.measure(text, LEGEND_FONT), 11.0, "left"));
        c.text_on(text, 4.0, y, LEGEND_FONT, palette::BAD, "left");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polar_inverts_at() {
        let g = Geometry::fit(400.0, 300.0);
        for a in [0.0, 1.0, 3.0, 6.0] {
            let (x, y) = g.at(a, 100.0);
            let (back, d) = g.polar(x, y);
            assert!((back - a).abs() < 1e-9 && (d - 100.0).abs() < 1e-9, "{a} → {back}");
        }
        // Clockwise from the top: a quarter turn is to the right of the centre.
        let (x, y) = g.at(FRAC_PI_2, 100.0);
        assert!((x - 300.0).abs() < 1e-9 && (y - 150.0).abs() < 1e-9);
    }
}
