//! Two small charts: per server the keys it is primary for and the replica copies it holds,
//! against an even share (balance); and per view change the copies moved against the least the
//! change needed. Each says in a legend what its colours mean, red included.

use crate::canvas::Canvas;
use crate::labels::{flow, Rect, Taken};
use crate::model::{Move, Placement};
use crate::palette::{self, FOCUS, GOOD, INK, MUTED, RULE};

/// View changes shown at most, the newest; fewer when the chart is too narrow for their labels.
const MOVES_SHOWN: usize = 6;
/// The least width (px) a view change's pair of bars and its "epoch N" label need.
const MOVE_GROUP_W: f64 = 54.0;

const TITLE_FONT: &str = "600 12px system-ui, sans-serif";
const FONT: &str = "10px system-ui, sans-serif";
const ROW: f64 = 13.0;

/// Per server, in the placement's order: copies of keys it is primary for, and other copies.
pub fn split(p: &Placement) -> Vec<(usize, usize)> {
    p.servers
        .iter()
        .map(|s| {
            let primary =
                p.keys.iter().filter(|k| k.replicas.first() == Some(&s.id) && k.holders.contains(&s.id)).count();
            (primary, s.holds - primary)
        })
        .collect()
}

/// How many view changes fit in `w` pixels, each with room for its label.
pub fn moves_fitting(w: f64) -> usize {
    ((w / MOVE_GROUP_W).floor() as usize).clamp(1, MOVES_SHOWN)
}

/// Draws both charts side by side.
pub fn draw(c: &Canvas, p: &Placement, moves: &[Move], focus_server: Option<&str>) {
    let half = c.w / 2.0;
    balance(c, p, 8.0, half - 16.0, focus_server);
    movement(c, moves, half + 8.0, c.w - half - 16.0);
}

/// The first of `titles` that fits in `w`, at the top.
fn title(c: &Canvas, titles: &[&str], x: f64, w: f64) {
    let text = titles.iter().find(|t| c.measure(t, TITLE_FONT) <= w).or(titles.last()).copied().unwrap_or("");
    c.text(text, x, 13.0, TITLE_FONT, INK, "left");
}

/// A legend of coloured swatches and words under the title, wrapped to `w`; returns where the
/// plot may begin.
fn legend(c: &Canvas, items: &[(&str, &str)], x: f64, w: f64) -> f64 {
    let widths: Vec<f64> = items.iter().map(|(_, text)| 12.0 + c.measure(text, FONT)).collect();
    let places = flow(&widths, w, 8.0);
    for ((colour, text), (dx, row)) in items.iter().zip(&places) {
        let y = 27.0 + ROW * *row as f64;
        c.rect(Rect { x: x + dx, y: y - 8.0, w: 9.0, h: 9.0 }, colour);
        c.text(text, x + dx + 12.0, y, FONT, MUTED, "left");
    }
    let rows = places.last().map_or(0, |(_, row)| row + 1);
    27.0 + ROW * rows as f64 - 2.0
}

fn balance(c: &Canvas, p: &Placement, x: f64, w: f64, focus: Option<&str>) {
    title(c, &["Keys per server", "Keys"], x, w);
    if p.servers.is_empty() {
        c.text("no servers in the view", x, 34.0, "12px system-ui, sans-serif", MUTED, "left");
        return;
    }
    let split = split(p);
    let keys = p.keys.len() as f64;
    let even = keys / p.servers.len() as f64;
    let even_text = format!("even primary share {even:.1}");
    // The swatches stand for every server's colour: dark for the keys a server is primary for
    // (its arc), light for its copies as another key's replica.
    let items = [("#5d6577", "primary (its arc)"), ("#c9ceda", "replica copies"), (FOCUS, even_text.as_str())];
    let top = legend(c, &items, x, w) + 12.0;
    let bottom = c.h - 16.0;
    let most = split.iter().map(|(a, b)| a + b).max().unwrap_or(0).max(1) as f64;
    let scale = (bottom - top).max(1.0) / most;
    let bw = w / p.servers.len() as f64;
    let mut taken = Taken::new(c.w, c.h);
    // The even share first: the values drawn after it sit on a halo, readable over its line.
    let ey = bottom - even * scale;
    c.dash((4.0, 3.0));
    c.line(x, ey, x + w, ey, FOCUS, 1.0);
    c.dash((0.0, 0.0));
    for (i, (s, (primary, replica))) in p.servers.iter().zip(&split).enumerate() {
        let bx = x + i as f64 * bw;
        let lit = focus == Some(s.addr.0.as_str());
        let (hp, hr) = (*primary as f64 * scale, *replica as f64 * scale);
        let inner = (bw - 2.0).max(1.0);
        c.rect(
            Rect { x: bx + 1.0, y: bottom - hp, w: inner, h: hp },
            &palette::node_color(&s.addr, if lit { 32 } else { 45 }),
        );
        c.rect(
            Rect { x: bx + 1.0, y: bottom - hp - hr, w: inner, h: hr },
            &palette::node_color(&s.addr, if lit { 72 } else { 84 }),
        );
        let cx = bx + bw / 2.0;
        // The server's name under its bar, all its copies above it, and inside the solid part
        // the keys it is primary for, where they fit.
        let name = Rect::text(cx, c.h - 4.0, c.measure(&s.addr.0, FONT), 10.0, "center");
        if taken.claim(name) {
            c.text(&s.addr.0, cx, c.h - 4.0, FONT, MUTED, "center");
        }
        let total = (primary + replica).to_string();
        let vy = (bottom - hp - hr - 3.0).max(top + 9.0);
        if let Some((vx, vy, align)) = taken.place_text(&[(cx, vy, "center")], c.measure(&total, FONT), 10.0) {
            c.text_on(&total, vx, vy, FONT, INK, align);
        }
        let own = primary.to_string();
        if hp >= 13.0 && c.measure(&own, FONT) + 4.0 <= inner {
            c.text(&own, cx, bottom - 3.0, FONT, "#ffffff", "center");
        }
    }
}

fn movement(c: &Canvas, moves: &[Move], x: f64, w: f64) {
    title(c, &["Copies moved per view change", "Copies moved"], x, w);
    let shown = &moves[moves.len().saturating_sub(moves_fitting(w))..];
    if shown.is_empty() {
        c.text("no view change with keys to move yet", x, 34.0, "12px system-ui, sans-serif", MUTED, "left");
        return;
    }
    // Red only where some view change moved more than it needed, and then said so.
    let wasteful = shown.iter().any(|m| m.moved > m.minimum);
    let mut items = vec![(RULE, "least needed"), (GOOD, "moved, no more")];
    if wasteful {
        items.push((palette::BAD, "red: moved more than needed"));
    }
    let top = legend(c, &items, x, w) + 12.0;
    let bottom = c.h - 16.0;
    let most = shown.iter().map(|m| m.moved.max(m.minimum)).max().unwrap_or(0).max(1) as f64;
    let scale = (bottom - top).max(1.0) / most;
    let gw = w / moves_fitting(w) as f64;
    let mut taken = Taken::new(c.w, c.h);
    for (i, m) in shown.iter().enumerate() {
        let gx = x + i as f64 * gw;
        let bw = (gw - 10.0) / 2.0;
        let (h_min, h_moved) = (m.minimum as f64 * scale, m.moved as f64 * scale);
        c.rect(Rect { x: gx + 2.0, y: bottom - h_min, w: bw, h: h_min }, RULE);
        let colour = if m.moved > m.minimum { palette::BAD } else { GOOD };
        c.rect(Rect { x: gx + 2.0 + bw, y: bottom - h_moved, w: bw, h: h_moved }, colour);
        // Each bar's count over it.
        for (count, h, bx) in [(m.minimum, h_min, gx + 2.0), (m.moved, h_moved, gx + 2.0 + bw)] {
            let label = count.to_string();
            let spot = (bx + bw / 2.0, (bottom - h - 3.0).max(top + 9.0), "center");
            if let Some((lx, ly, align)) = taken.place_text(&[spot], c.measure(&label, FONT), 10.0) {
                c.text_on(&label, lx, ly, FONT, INK, align);
            }
        }
        let cx = gx + 2.0 + bw;
        let epoch = format!("epoch {}", m.epoch);
        if let Some((ex, ey, align)) = taken.place_text(&[(cx, c.h - 4.0, "center")], c.measure(&epoch, FONT), 10.0) {
            c.text(&epoch, ex, ey, FONT, MUTED, align);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyMark;
    use ringside_core::{Addr, ServerId};

    fn key(name: &str, replicas: &[&str], holders: &[&str]) -> KeyMark {
        KeyMark {
            key: name.into(),
            angle: 0.0,
            replicas: replicas.iter().map(|s| ServerId(s.to_string())).collect(),
            holders: holders.iter().map(|s| ServerId(s.to_string())).collect(),
            placed: true,
        }
    }

    #[test]
    fn bars_split_primaries_from_replica_copies() {
        let ids = ["a", "b", "c"];
        let keys = vec![
            key("x", &["a", "b"], &["a", "b"]),
            key("y", &["a", "c"], &["a", "c"]),
            key("z", &["b", "c"], &["b", "c", "a"]),
        ];
        let servers = ids
            .iter()
            .map(|id| crate::model::ServerMark {
                id: ServerId(id.to_string()),
                addr: Addr::from(*id),
                points: vec![],
                holds: keys.iter().filter(|k| k.holders.contains(&ServerId(id.to_string()))).count(),
                owns: 0,
            })
            .collect();
        let p = Placement { servers, keys, ..Placement::default() };
        // a is primary of x and y, and holds a stray copy of z; b primary of z.
        assert_eq!(split(&p), vec![(2, 1), (1, 1), (0, 2)]);
        let primaries: usize = split(&p).iter().map(|(a, _)| a).sum();
        assert_eq!(primaries, p.keys.len(), "every key counted once as a primary");
    }

    #[test]
    fn the_biggest_arc_has_the_most_primaries_in_lesson_one() {
        let mut app = crate::app::App::new(ringside_sim::Session::new(ringside_sim::Setup::default()));
        app.start_lesson(0).unwrap();
        app.lesson_next();
        app.lesson_next();
        let p = app.placement().clone();
        let split = split(&p);
        let arc = |id: &ServerId| p.arcs.iter().filter(|a| &a.owner == id).map(|a| a.to - a.from).sum::<f64>();
        let biggest = p.servers.iter().enumerate().max_by(|a, b| arc(&a.1.id).total_cmp(&arc(&b.1.id))).unwrap().0;
        let most = split.iter().enumerate().max_by_key(|(_, (primary, _))| *primary).unwrap().0;
        assert_eq!(biggest, most, "arcs {:?} primaries {split:?}", p.arcs);
        assert_eq!(split.iter().map(|(a, _)| a).sum::<usize>(), 40);
    }

    #[test]
    fn narrow_charts_show_fewer_view_changes() {
        assert_eq!(moves_fitting(400.0), 6);
        assert_eq!(moves_fitting(180.0), 3);
        assert_eq!(moves_fitting(10.0), 1);
    }
}
