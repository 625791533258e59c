//! The message sequence diagram: one lane per node, time flowing down to the moment shown,
//! an arrow per message from its send to its delivery; messages in flight glide, lost ones end
//! in a red cross.

use ringside_core::{Addr, Names};

use crate::app::Focus;
use crate::canvas::Canvas;
use crate::model::{Fate, MsgLine};
use crate::palette::{self, BAD, FOCUS, INK, MUTED, RULE};

/// Height of the lane headers.
const HEAD: f64 = 34.0;
/// Vertical pixels per virtual millisecond: the default, and the zoom's bounds.
pub const PX_PER_MS: f64 = 6.0;
/// The least and most pixels per millisecond the wheel zooms to.
pub const ZOOM: (f64, f64) = (0.25, 40.0);
/// At most this many arrows are drawn per frame (the newest): a burst stays smooth.
const MAX_ARROWS: usize = 1_500;
/// How far back to look for messages still visible (a delayed one can fly long).
const LOOKBACK_MS: f64 = 2_000.0;

/// An arrow's start and end points, and whether it ends in a drop.
type Arrow = ((f64, f64), (f64, f64), bool);

/// Where the lanes and the time axis are.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Each node and whether its process runs.
    lanes: Vec<(Addr, bool)>,
    left: f64,
    gap: f64,
    bottom: f64,
    shown: f64,
    px_per_ms: f64,
    /// Milliseconds per unit of the times given (1 for the simulator's virtual milliseconds).
    ms_per_unit: f64,
}

impl Layout {
    /// Lanes across a `w`×`h` box, the moment `shown` at the bottom, `px_per_ms` of height
    /// per virtual millisecond.
    pub fn new(lanes: Vec<(Addr, bool)>, w: f64, h: f64, shown: f64, px_per_ms: f64) -> Layout {
        let n = lanes.len().max(1) as f64;
        let gap = (w - 20.0) / n;
        Layout { lanes, left: 10.0 + gap / 2.0, gap, bottom: h - 8.0, shown, px_per_ms, ms_per_unit: 1.0 }
    }

    /// The same layout for times counted in units of `ms_per_unit` milliseconds (a live
    /// cluster's clock counts tens of microseconds); `px_per_ms` is then per unit.
    pub fn with_unit(self, ms_per_unit: f64) -> Layout {
        Layout { ms_per_unit, ..self }
    }

    fn x(&self, addr: &Addr) -> Option<f64> {
        self.lanes.iter().position(|(a, ..)| a == addr).map(|i| self.left + i as f64 * self.gap)
    }

    fn y(&self, t: f64) -> f64 {
        self.bottom - (self.shown - t) * self.px_per_ms
    }

    /// The earliest time still on screen.
    fn top_time(&self) -> f64 {
        self.shown - (self.bottom - HEAD) / self.px_per_ms
    }

    /// The span of time on screen, earliest first, in the scene's units.
    pub fn span(&self) -> (f64, f64) {
        (self.top_time(), self.shown)
    }

    /// The arrow of a message: start, end, and whether it ended in a drop.
    fn arrow(&self, m: &MsgLine) -> Option<Arrow> {
        let (x0, x1) = (self.x(&m.from)?, self.x(&m.to)?);
        let sent = m.sent.0 as f64;
        if sent > self.shown {
            return None;
        }
        // A lost message ends half way; one refused by a dead receiver ends at it.
        let (end, lost_at) = match &m.fate {
            Fate::Delivered(t) => (t.0 as f64, None),
            Fate::Dropped(t, why) => (t.0 as f64, Some(if why == "node down" { 1.0 } else { 0.5 })),
            Fate::InFlight => (m.due.0 as f64, None),
        };
        // Not there yet at the moment shown: the arrow stops where the message is now.
        let (end, lost_at) = if end > self.shown { (self.shown, None) } else { (end, lost_at) };
        let total = (m.due.0 as f64 - sent).max(1e-9);
        let frac = lost_at.unwrap_or(((end - sent) / total).clamp(0.0, 1.0));
        Some(((x0, self.y(sent)), (x0 + (x1 - x0) * frac, self.y(end)), lost_at.is_some()))
    }
}

/// The messages worth drawing: recent enough, routine ones only when asked, newest last.
fn visible<'a>(messages: impl DoubleEndedIterator<Item = &'a MsgLine>, l: &Layout, routine: bool) -> Vec<&'a MsgLine> {
    let top = l.top_time();
    let mut out: Vec<&MsgLine> = messages
        .rev()
        .take_while(|m| m.sent.0 as f64 >= top - LOOKBACK_MS)
        .filter(|m| routine || !m.routine())
        .filter(|m| m.ended().is_none_or(|t| t.0 as f64 >= top) && (m.sent.0 as f64) <= l.shown)
        .take(MAX_ARROWS)
        .collect();
    out.reverse();
    out
}

/// What is under the pointer: a lane header or a message.
pub fn hit<'a>(
    l: &Layout,
    messages: impl DoubleEndedIterator<Item = &'a MsgLine>,
    routine: bool,
    x: f64,
    y: f64,
) -> Option<Focus> {
    if y < HEAD {
        let i = ((x - l.left + l.gap / 2.0) / l.gap).floor();
        return l.lanes.get(i.max(0.0) as usize).map(|(a, ..)| Focus::Node(a.clone()));
    }
    visible(messages, l, routine)
        .into_iter()
        .filter_map(|m| {
            let ((x0, y0), (x1, y1), _) = l.arrow(m)?;
            Some((distance_to_segment(x, y, x0, y0, x1, y1), m.id))
        })
        .filter(|(d, _)| *d < 5.0)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, id)| Focus::Message(id))
}

fn distance_to_segment(px: f64, py: f64, x0: f64, y0: f64, x1: f64, y1: f64) -> f64 {
    let (dx, dy) = (x1 - x0, y1 - y0);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 { 0.0 } else { (((px - x0) * dx + (py - y0) * dy) / len2).clamp(0.0, 1.0) };
    (px - (x0 + t * dx)).hypot(py - (y0 + t * dy))
}

/// Whether a message concerns what the learner points at.
fn lit(m: &MsgLine, focus: Option<&Focus>) -> bool {
    match focus {
        Some(Focus::Message(id)) => m.id == *id,
        Some(Focus::Node(a)) => m.from == *a || m.to == *a,
        Some(Focus::Key(k)) => m.key() == Some(k.as_str()),
        None => false,
    }
}

/// Draws the diagram.
pub fn draw<'a>(
    c: &Canvas,
    l: &Layout,
    messages: impl DoubleEndedIterator<Item = &'a MsgLine>,
    names: &Names,
    routine: bool,
    focus: Option<&Focus>,
) {
    // Time grid: faint rules about every 25 px, a label every fifth.
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0]
        .into_iter()
        .find(|ms| ms * l.px_per_ms >= 25.0)
        .unwrap_or(500.0);
    let top = l.top_time().max(0.0);
    let mut t = (top / step).ceil() * step;
    while t <= l.shown {
        let y = l.y(t);
        let major = ((t / step).round() as u64) % 5 == 0;
        c.line(0.0, y, c.w, y, if major { RULE } else { "#f0f2f6" }, 1.0);
        if major {
            let label =
                if l.ms_per_unit < 1.0 { format!("{:.2}ms", t * l.ms_per_unit) } else { format!("{:.3}s", t / 1000.0) };
            c.text(&label, 4.0, y - 3.0, "10px system-ui, sans-serif", MUTED, "left");
        }
        t += step;
    }
    // Lanes.
    for (i, (addr, up)) in l.lanes.iter().enumerate() {
        let x = l.left + i as f64 * l.gap;
        let focused = matches!(focus, Some(Focus::Node(a)) if a == addr);
        let color = if *up { palette::node_color(addr, 42) } else { "#9aa0ab".to_string() };
        c.line(x, HEAD, x, c.h, if focused { FOCUS } else { RULE }, if focused { 2.0 } else { 1.0 });
        // Narrow lanes stagger their names over two rows so neighbours do not collide.
        let narrow = l.gap < 28.0;
        let font = if narrow { "600 10px system-ui, sans-serif" } else { "600 12px system-ui, sans-serif" };
        let y = if narrow && i % 2 == 1 { 27.0 } else { 14.0 };
        c.text(&addr.0, x, y, font, &color, "center");
        if !*up {
            c.line(x - 7.0, y - 4.0, x + 7.0, y - 4.0, BAD, 1.5);
        }
    }
    // Arrows, the lit ones last so they sit on top.
    let shown: Vec<&MsgLine> = visible(messages, l, routine);
    let few = shown.len() < 60;
    // Labels that would overlap one already drawn are left out.
    let mut labels: Vec<(f64, f64, f64)> = Vec::new();
    for pass in [false, true] {
        for m in shown.iter().filter(|m| lit(m, focus) == pass) {
            let Some(((x0, y0), (x1, y1), dropped)) = l.arrow(m) else { continue };
            let base = if m.routine() { "#b9bfcc" } else { INK };
            let color = if pass { FOCUS } else { base };
            c.line(x0, y0, x1, y1, color, if pass { 2.5 } else { 1.2 });
            if dropped {
                c.line(x1 - 5.0, y1 - 5.0, x1 + 5.0, y1 + 5.0, BAD, 2.0);
                c.line(x1 - 5.0, y1 + 5.0, x1 + 5.0, y1 - 5.0, BAD, 2.0);
            } else if m.ended().is_none_or(|t| t.0 as f64 > l.shown) {
                // Still flying at the moment shown.
                c.dot(x1, y1, 4.0, color);
            } else {
                arrowhead(c, x0, y0, x1, y1, color);
            }
            if pass || (few && !m.routine()) {
                let label = short(&m.summary(names));
                let (mx, my) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0 - 3.0);
                let half = label.chars().count() as f64 * 3.0;
                let clear = labels.iter().all(|(x, y, hw)| (my - y).abs() > 11.0 || (mx - x).abs() > half + hw);
                let selected = matches!(focus, Some(Focus::Message(id)) if *id == m.id);
                if selected || clear {
                    labels.push((mx, my, half));
                    c.text(&label, mx, my, "11px system-ui, sans-serif", if pass { FOCUS } else { MUTED }, "center");
                }
            }
        }
    }
}

fn arrowhead(c: &Canvas, x0: f64, y0: f64, x1: f64, y1: f64, color: &str) {
    let a = (y1 - y0).atan2(x1 - x0);
    let (s, k) = (7.0, 0.45);
    let ctx = &c.ctx;
    ctx.begin_path();
    ctx.move_to(x1, y1);
    ctx.line_to(x1 - s * (a - k).cos(), y1 - s * (a - k).sin());
    ctx.line_to(x1 - s * (a + k).cos(), y1 - s * (a + k).sin());
    ctx.close_path();
    ctx.set_fill_style_str(color);
    ctx.fill();
}

/// A label short enough to sit on an arrow.
fn short(text: &str) -> String {
    const MAX: usize = 34;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_core::{Msg, OpId, Time};

    fn msg(id: u64, from: &str, to: &str, sent: u64, fate: Fate) -> MsgLine {
        MsgLine {
            id,
            from: Addr::from(from),
            to: Addr::from(to),
            sent: Time(sent),
            due: Time(sent + 10),
            fate,
            copy_of: None,
            msg: Msg::Get { op: OpId(id), key: "k".into() },
        }
    }

    fn layout(shown: f64) -> Layout {
        let lanes = ["vl", "s1", "c1"].iter().map(|a| (Addr::from(*a), true)).collect();
        Layout::new(lanes, 320.0, 400.0, shown, PX_PER_MS)
    }

    #[test]
    fn a_message_in_flight_stops_where_it_is_now() {
        let l = layout(105.0);
        let m = msg(1, "c1", "s1", 100, Fate::InFlight);
        let ((x0, y0), (x1, y1), dropped) = l.arrow(&m).unwrap();
        assert!(!dropped);
        assert!((x1 - (x0 + (l.x(&m.to).unwrap() - x0) * 0.5)).abs() < 1e-9, "half way after 5 of 10 ms");
        assert!((y1 - y0 - 5.0 * PX_PER_MS).abs() < 1e-9);
    }

    #[test]
    fn clicking_near_an_arrow_finds_it_and_the_header_finds_the_lane() {
        let l = layout(120.0);
        let ms = [msg(1, "c1", "s1", 100, Fate::Delivered(Time(110)))];
        let ((x0, y0), (x1, y1), _) = l.arrow(&ms[0]).unwrap();
        let hit_mid = hit(&l, ms.iter(), true, (x0 + x1) / 2.0, (y0 + y1) / 2.0 + 1.0);
        assert_eq!(hit_mid, Some(Focus::Message(1)));
        assert_eq!(
            hit(&l, ms.iter(), true, l.x(&Addr::from("s1")).unwrap(), 10.0),
            Some(Focus::Node(Addr::from("s1")))
        );
        assert_eq!(hit(&l, ms.iter(), true, 5.0, 390.0), None);
    }

    #[test]
    fn old_and_future_messages_are_not_drawn() {
        let l = layout(1_000.0);
        let ms = [
            msg(1, "c1", "s1", 10, Fate::Delivered(Time(20))),
            msg(2, "c1", "s1", 990, Fate::Delivered(Time(995))),
            msg(3, "c1", "s1", 2_000, Fate::InFlight),
        ];
        let ids: Vec<u64> = visible(ms.iter(), &l, true).iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![2]);
    }
}
