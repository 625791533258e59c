//! Two small charts: keys per server against an even share (balance), and per view change the
//! copies moved against the least the change needed.

use crate::canvas::Canvas;
use crate::model::{Move, Placement};
use crate::palette::{self, FOCUS, INK, MUTED, RULE};

/// View changes shown, the newest.
const MOVES_SHOWN: usize = 6;

/// Draws both charts side by side.
pub fn draw(c: &Canvas, p: &Placement, moves: &[Move], focus_server: Option<&str>) {
    let half = c.w / 2.0;
    balance(c, p, 8.0, half - 16.0, focus_server);
    movement(c, moves, half + 8.0, c.w - half - 16.0);
}

fn title(c: &Canvas, text: &str, x: f64) {
    c.text(text, x, 14.0, "600 12px system-ui, sans-serif", INK, "left");
}

fn balance(c: &Canvas, p: &Placement, x: f64, w: f64, focus: Option<&str>) {
    title(c, "Keys per server", x);
    let (top, bottom) = (30.0, c.h - 22.0);
    if p.servers.is_empty() {
        c.text("no servers in the view", x, top + 20.0, "12px system-ui, sans-serif", MUTED, "left");
        return;
    }
    let most = p.servers.iter().map(|s| s.holds).max().unwrap_or(0).max(1) as f64;
    let copies: usize = p.servers.iter().map(|s| s.holds).sum();
    let even = copies as f64 / p.servers.len() as f64;
    let bw = w / p.servers.len() as f64;
    for (i, s) in p.servers.iter().enumerate() {
        let bh = (bottom - top) * s.holds as f64 / most;
        let bx = x + i as f64 * bw;
        let lit = focus == Some(s.addr.0.as_str());
        c.ctx.set_fill_style_str(&palette::node_color(&s.addr, if lit { 40 } else { 60 }));
        c.ctx.fill_rect(bx + 1.0, bottom - bh, (bw - 2.0).max(1.0), bh);
        if bw >= 22.0 {
            c.text(&s.addr.0, bx + bw / 2.0, c.h - 8.0, "10px system-ui, sans-serif", MUTED, "center");
            c.text(&s.holds.to_string(), bx + bw / 2.0, bottom - bh - 3.0, "10px system-ui, sans-serif", INK, "center");
        }
    }
    // The even share every server would hold on a perfectly balanced ring.
    let ey = bottom - (bottom - top) * even / most;
    c.ctx.set_line_dash(&js_sys::Array::of2(&4.0.into(), &3.0.into())).ok();
    c.line(x, ey, x + w, ey, FOCUS, 1.0);
    c.ctx.set_line_dash(&js_sys::Array::new()).ok();
    c.text(&format!("even share {even:.1}"), x + w, ey - 4.0, "10px system-ui, sans-serif", FOCUS, "right");
}

fn movement(c: &Canvas, moves: &[Move], x: f64, w: f64) {
    title(c, "Copies moved · grey: the minimum", x);
    let (top, bottom) = (30.0, c.h - 22.0);
    let shown = &moves[moves.len().saturating_sub(MOVES_SHOWN)..];
    if shown.is_empty() {
        c.text("no view change with keys to move yet", x, top + 20.0, "12px system-ui, sans-serif", MUTED, "left");
        return;
    }
    let most = shown.iter().map(|m| m.moved.max(m.minimum)).max().unwrap_or(0).max(1) as f64;
    let gw = w / MOVES_SHOWN as f64;
    for (i, m) in shown.iter().enumerate() {
        let gx = x + i as f64 * gw;
        let bw = (gw - 10.0) / 2.0;
        let h_min = (bottom - top) * m.minimum as f64 / most;
        let h_moved = (bottom - top) * m.moved as f64 / most;
        c.ctx.set_fill_style_str(RULE);
        c.ctx.fill_rect(gx + 2.0, bottom - h_min, bw, h_min);
        c.ctx.set_fill_style_str(if m.moved > m.minimum { palette::BAD } else { palette::GOOD });
        c.ctx.fill_rect(gx + 2.0 + bw, bottom - h_moved, bw, h_moved);
        let label = format!("{}/{}", m.moved, m.minimum);
        c.text(&label, gx + 2.0 + bw, bottom - h_min.max(h_moved) - 3.0, "10px system-ui, sans-serif", INK, "center");
        c.text(&format!("e{}", m.epoch), gx + 2.0 + bw, c.h - 8.0, "10px system-ui, sans-serif", MUTED, "center");
    }
}
