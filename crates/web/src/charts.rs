//! Two small charts: per server the keys it is primary for and the replica copies it holds,
//! against an even share (balance); and per view change the copies moved against the least the
//! change needed. Each says in a legend what its colours mean, red included.

use crate::canvas::Canvas;
use crate::labels::{flow, Rect, Taken};
use crate::model::{Move, Placement, ServerMark};
use crate::palette::{self, FOCUS, GOOD, INK, MUTED, RULE};

/// View changes shown at most, the newest; fewer when the chart is too narrow for their labels.
const MOVES_SHOWN: usize = 6;
/// The least width (px) a view change's pair of bars and its "epoch N" label need.
const MOVE_GROUP_W: f64 = 54.0;

const TITLE_FONT: &str = "600 12px system-ui, sans-serif";
const FONT: &str = "10px system-ui, sans-serif";
const ROW: f64 = 13.0;

/// The placement's servers as the chart lists them: by number, s1 first.
fn by_name(p: &Placement) -> Vec<&ServerMark> {
    let mut servers: Vec<&ServerMark> = p.servers.iter().collect();
    servers.sort_by_key(|s| palette::number(&s.addr));
    servers
}

/// Per server, by number: copies of keys it is primary for, and other copies.
pub fn split(p: &Placement) -> Vec<(usize, usize)> {
    by_name(p)
        .into_iter()
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

/// A legend entry: its swatch, and its words, long and short.
struct Item<'a> {
    colour: &'a str,
    /// A dashed line rather than a box.
    dashed: bool,
    long: &'a str,
    short: &'a str,
}

/// The legend under the title, wrapped to `w`: the long words when they fit on one row, else
/// the short ones. Returns where the plot may begin.
fn legend(c: &Canvas, items: &[Item<'_>], x: f64, w: f64) -> f64 {
    let widths = |long: bool| -> Vec<f64> {
        items.iter().map(|i| 13.0 + c.measure(if long { i.long } else { i.short }, FONT)).collect()
    };
    let long = flow(&widths(true), w, 8.0).iter().all(|(_, row)| *row == 0);
    let places = flow(&widths(long), w, 8.0);
    for (item, (dx, row)) in items.iter().zip(&places) {
        let y = 27.0 + ROW * *row as f64;
        if item.dashed {
            c.dash((3.0, 2.0));
            c.line(x + dx, y - 3.5, x + dx + 10.0, y - 3.5, item.colour, 1.5);
            c.dash((0.0, 0.0));
        } else {
            c.rect(Rect { x: x + dx, y: y - 8.0, w: 9.0, h: 9.0 }, item.colour);
        }
        c.text(if long { item.long } else { item.short }, x + dx + 13.0, y, FONT, MUTED, "left");
    }
    let rows = places.last().map_or(0, |(_, row)| row + 1);
    27.0 + ROW * rows as f64 - 2.0
}

/// Says there is nothing to chart yet, in the first of `texts` that fits in `w`.
fn empty(c: &Canvas, texts: &[&str], x: f64, w: f64) {
    let font = "12px system-ui, sans-serif";
    let text = texts.iter().find(|t| c.measure(t, font) <= w).or(texts.last()).copied().unwrap_or("");
    c.text(text, x, 34.0, font, MUTED, "left");
}

fn balance(c: &Canvas, p: &Placement, x: f64, w: f64, focus: Option<&str>) {
    title(c, &["Keys per server", "Keys"], x, w);
    if p.servers.is_empty() {
        empty(c, &["no servers in the view", "no servers"], x, w);
        return;
    }
    let split = split(p);
    let keys = p.keys.len() as f64;
    let even = keys / p.servers.len() as f64;
    let (even_long, even_short) = (format!("even primary share {even:.1}"), format!("even share {even:.1}"));
    // The swatches stand for every server's colour: dark for the keys a server is primary for
    // (its arc), light for its copies as another key's replica.
    let items = [
        Item { colour: "#5d6577", dashed: false, long: "primary (its arc)", short: "primary" },
        Item { colour: "#c9ceda", dashed: false, long: "replica copies", short: "replica" },
        Item { colour: FOCUS, dashed: true, long: &even_long, short: &even_short },
    ];
    let top = legend(c, &items, x, w) + 12.0;
    let bottom = c.h - 16.0;
    let most = split.iter().map(|(a, b)| a + b).max().unwrap_or(0).max(1) as f64;
    let scale = (bottom - top).max(1.0) / most;
    let bw = w / p.servers.len() as f64;
    let inner = (bw - 2.0).max(1.0);
    let heights: Vec<(f64, f64)> = split.iter().map(|(a, b)| (*a as f64 * scale, *b as f64 * scale)).collect();
    let servers = by_name(p);
    for (i, (s, (hp, hr))) in servers.iter().zip(&heights).enumerate() {
        let bx = x + i as f64 * bw + 1.0;
        let lit = focus == Some(s.addr.0.as_str());
        c.rect(
            Rect { x: bx, y: bottom - hp, w: inner, h: *hp },
            &palette::node_color(&s.addr, if lit { 32 } else { 45 }),
        );
        c.rect(
            Rect { x: bx, y: bottom - hp - hr, w: inner, h: *hr },
            &palette::node_color(&s.addr, if lit { 72 } else { 84 }),
        );
    }
    // The even share over the bars; the counts drawn after it sit on a halo.
    let ey = bottom - even * scale;
    c.dash((4.0, 3.0));
    c.line(x, ey, x + w, ey, FOCUS, 1.5);
    c.dash((0.0, 0.0));
    // Each server's name under its bar, all its copies over it, and inside the solid part the
    // keys it is primary for, where they fit.
    let mut taken = Taken::new(c.w, c.h);
    for (i, ((s, (primary, replica)), (hp, hr))) in servers.iter().zip(&split).zip(&heights).enumerate() {
        let cx = x + (i as f64 + 0.5) * bw;
        if taken.claim(Rect::text(cx, c.h - 4.0, c.measure(&s.addr.0, FONT), 10.0, "center")) {
            c.text(&s.addr.0, cx, c.h - 4.0, FONT, MUTED, "center");
        }
        let total = (primary + replica).to_string();
        let vy = (bottom - hp - hr - 3.0).max(top + 9.0);
        if let Some((vx, vy, align)) = taken.place_text(&[(cx, vy, "center")], c.measure(&total, FONT), 10.0) {
            c.text_on(&total, vx, vy, FONT, INK, align);
        }
        let own = primary.to_string();
        if *hp >= 13.0 && c.measure(&own, FONT) + 4.0 <= inner {
            c.text(&own, cx, bottom - 3.0, FONT, "#ffffff", "center");
        }
    }
}

fn movement(c: &Canvas, moves: &[Move], x: f64, w: f64) {
    title(c, &["Copies moved per view change", "Copies moved"], x, w);
    let shown = &moves[moves.len().saturating_sub(moves_fitting(w))..];
    if shown.is_empty() {
        empty(c, &["no view change with keys to move yet", "no keys moved yet", "none yet"], x, w);
        return;
    }
    // Red only where some view change moved more than it needed, and then said so.
    let wasteful = shown.iter().any(|m| m.moved > m.minimum);
    let mut items = vec![
        Item { colour: RULE, dashed: false, long: "least needed", short: "least" },
        Item { colour: GOOD, dashed: false, long: "moved, no more", short: "moved" },
    ];
    if wasteful {
        items.push(Item {
            colour: palette::BAD,
            dashed: false,
            long: "moved more than needed",
            short: "more than needed",
        });
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
        let ids = ["s1", "s2", "s3"];
        let keys = vec![
            key("x", &["s1", "s2"], &["s1", "s2"]),
            key("y", &["s1", "s3"], &["s1", "s3"]),
            key("z", &["s2", "s3"], &["s2", "s3", "s1"]),
        ];
        // Listed by number whatever the view's order.
        let servers = ids
            .iter()
            .rev()
            .map(|id| crate::model::ServerMark {
                id: ServerId(id.to_string()),
                addr: Addr::from(*id),
                points: vec![],
                holds: keys.iter().filter(|k| k.holders.contains(&ServerId(id.to_string()))).count(),
                owns: 0,
            })
            .collect();
        let p = Placement { servers, keys, ..Placement::default() };
        // s1 is primary of x and y, and holds a stray copy of z; s2 primary of z.
        assert_eq!(split(&p), vec![(2, 1), (1, 1), (0, 2)]);
        let primaries: usize = split(&p).iter().map(|(a, _)| a).sum();
        assert_eq!(primaries, p.keys.len(), "every key counted once as a primary");
    }

    #[test]
    fn the_biggest_arc_has_the_most_primaries_in_lesson_one() {
        let mut app = crate::app::App::new(ringside_sim::Session::new(ringside_sim::Setup::default()));
        app.start_lesson(0).unwrap();
        app.lesson_step_now();
        app.lesson_step_now();
        let p = app.placement().clone();
        let split = split(&p);
        let arc = |id: &ServerId| p.arcs.iter().filter(|a| &a.owner == id).map(|a| a.to - a.from).sum::<f64>();
        let servers = by_name(&p);
        let biggest = servers.iter().enumerate().max_by(|a, b| arc(&a.1.id).total_cmp(&arc(&b.1.id))).unwrap().0;
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
