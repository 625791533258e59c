//! The hash ring: servers at their points, the arcs they are primary for, every stored key as a
//! tick, and — for the key or server pointed at — its replicas.

use std::f64::consts::{FRAC_PI_2, TAU};

use ringside_core::{Addr, ServerId};

use crate::app::Focus;
use crate::canvas::Canvas;
use crate::model::Placement;
use crate::palette::{self, FOCUS, INK, MUTED, RULE};

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
        (self.cx + radius * a.cos(), self.cy + radius * a.sin())
    }

    /// Where a server's point at `angle` sits on the ring.
    pub fn point(&self, angle: f64) -> (f64, f64) {
        self.at(angle, self.r)
    }

    /// Where a point of the canvas is: its angle and its distance from the centre.
    pub fn polar(&self, x: f64, y: f64) -> (f64, f64) {
        let (dx, dy) = (x - self.cx, y - self.cy);
        ((dy.atan2(dx) + FRAC_PI_2).rem_euclid(TAU), dx.hypot(dy))
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

/// Draws the ring. `live` says which view members still run; `focus` lights up.
pub fn draw(c: &Canvas, p: &Placement, live: &dyn Fn(&ServerId) -> bool, focus: Option<&Focus>) -> Geometry {
    let g = Geometry::fit(c.w, c.h);
    let ctx = &c.ctx;
    // The ring itself.
    ctx.begin_path();
    let _ = ctx.arc(g.cx, g.cy, g.r, 0.0, TAU);
    ctx.set_stroke_style_str(RULE);
    ctx.set_line_width(ARC_WIDTH);
    ctx.stroke();

    let focus_server = match focus {
        Some(Focus::Node(a)) => p.servers.iter().find(|s| &s.addr == a).map(|s| &s.id),
        _ => None,
    };
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
    let focus_key = match focus {
        Some(Focus::Key(k)) => Some(k.as_str()),
        _ => None,
    };
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

    // The focused key: a bold tick and a line to each replica, primary first.
    if let Some(k) = focus_key.and_then(|key| p.keys.iter().find(|k| k.key == key)) {
        let (x0, y0) = g.at(k.angle, g.r - KEY_IN - 4.0);
        let (x1, y1) = g.at(k.angle, g.r - KEY_OUT + 3.0);
        c.line(x0, y0, x1, y1, FOCUS, 3.0);
        for (i, id) in k.replicas.iter().enumerate() {
            // The replica's first point clockwise from the key.
            let Some(s) = p.server(id) else { continue };
            let to = s
                .points
                .iter()
                .min_by(|a, b| (*a - k.angle).rem_euclid(TAU).total_cmp(&(*b - k.angle).rem_euclid(TAU)))
                .copied()
                .unwrap_or(0.0);
            let (sx, sy) = g.at(to, g.r);
            let (kx, ky) = g.at(k.angle, g.r - KEY_IN);
            c.line(kx, ky, sx, sy, FOCUS, if i == 0 { 2.5 } else { 1.2 });
        }
        let (lx, ly) = g.at(k.angle, g.r - KEY_IN - 14.0);
        c.text(&k.key, lx, ly + 4.0, "600 12px system-ui, sans-serif", FOCUS, "center");
    }

    // Servers: a dot per point; a label at the first; grey with a cross once their process died.
    for s in &p.servers {
        let up = live(&s.id);
        let lit = focus_server == Some(&s.id)
            || focus_key.is_some_and(|key| p.keys.iter().any(|k| k.key == key && k.replicas.contains(&s.id)));
        let fill = if up { palette::node_color(&s.addr, 45) } else { "#9aa0ab".to_string() };
        for (i, a) in s.points.iter().enumerate() {
            let (x, y) = g.at(*a, g.r);
            let radius = if i == 0 { 7.0 } else { 4.0 };
            if lit {
                c.dot(x, y, radius + 4.0, FOCUS);
            }
            c.dot(x, y, radius, &fill);
            if i == 0 {
                let (lx, ly) = g.at(*a, g.r + 20.0);
                c.text(
                    &s.addr.0,
                    lx,
                    ly + 4.0,
                    "600 12px system-ui, sans-serif",
                    if up { INK } else { MUTED },
                    "center",
                );
                if !up {
                    c.line(x - 5.0, y - 5.0, x + 5.0, y + 5.0, palette::BAD, 2.0);
                    c.line(x - 5.0, y + 5.0, x + 5.0, y - 5.0, palette::BAD, 2.0);
                }
            }
        }
    }

    // The middle: what the ring is.
    let moving = p.keys.iter().filter(|k| !k.placed).count();
    c.text(&format!("epoch {}", p.epoch), g.cx, g.cy - 8.0, "600 16px system-ui, sans-serif", INK, "center");
    let keys = format!("{} servers · {} keys", p.servers.len(), p.keys.len());
    c.text(&keys, g.cx, g.cy + 12.0, "13px system-ui, sans-serif", MUTED, "center");
    if moving > 0 {
        c.text(
            &format!("{moving} not yet on their replicas"),
            g.cx,
            g.cy + 30.0,
            "13px system-ui, sans-serif",
            FOCUS,
            "center",
        );
    }
    g
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
