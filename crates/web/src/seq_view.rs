//! The message sequence diagram: one lane per node, time flowing down to the moment shown,
//! an arrow per message from its send to its delivery; messages in flight glide, lost ones end
//! in a red cross. The time axis follows the present or is scrolled back ([`Axis`]); lesson
//! steps are marked where they began, partitions drawn as cut links between lanes.

use ringside_core::{Addr, Names};

use crate::app::{Focus, StepMark};
use crate::canvas::{Canvas, Stamp};
use crate::labels::{Rect, Taken};
use crate::model::{Cut, Fate, MsgLine};
use crate::palette::{self, BAD, FOCUS, INK, MARK, MUTED, RULE};
use crate::trig;

/// Height of the lane headers.
const HEAD: f64 = 34.0;
/// Vertical pixels per virtual millisecond by default. At the default speed (0.1×) a few
/// hundred pixels of diagram hold several real seconds, so a heartbeat round or a 2PC round
/// stays on screen long enough to be read.
pub const PX_PER_MS: f64 = 1.0;
/// The least and most pixels per millisecond the wheel zooms to (the least fits a lesson step
/// of several virtual seconds).
pub const ZOOM: (f64, f64) = (0.02, 40.0);
/// At most this many arrows are drawn per frame (the newest): a burst stays smooth.
const MAX_ARROWS: usize = 1_500;
/// How far back to look for messages still visible (a delayed one can fly long).
const LOOKBACK_MS: f64 = 2_000.0;
/// Of the diagram's height, the share a fitted step fills (the rest keeps its first arrows
/// clear of the lane names).
const FIT_SHARE: f64 = 0.9;
/// A step shorter than this (ms) is fitted as this long, so the zoom stays readable.
const FIT_LEAST_MS: f64 = 20.0;

const LABEL_FONT: &str = "11px system-ui, sans-serif";
const SMALL_FONT: &str = "10px system-ui, sans-serif";
/// A lane's background while its node is cut off by a partition.
const CUT_TINT: &str = "rgba(208, 49, 45, 0.07)";

/// Pixels of a `h` tall diagram below the lane headers.
fn plot_height(h: f64) -> f64 {
    (h - 8.0 - HEAD).max(1.0)
}

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
    /// The moment the world is at: messages are drawn as they stand then.
    shown: f64,
    /// The time at the bottom edge: `shown` while following the present, earlier once the
    /// learner scrolled back.
    end: f64,
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
        Layout { lanes, left: 10.0 + gap / 2.0, gap, bottom: h - 8.0, shown, end: shown, px_per_ms, ms_per_unit: 1.0 }
    }

    /// The same layout for times counted in units of `ms_per_unit` milliseconds (a live
    /// cluster's clock counts tens of microseconds); `px_per_ms` is then per unit.
    pub fn with_unit(self, ms_per_unit: f64) -> Layout {
        Layout { ms_per_unit, ..self }
    }

    /// Everything the layout places things by, for the diagram's [`Stamp`].
    pub fn stamp(&self) -> Stamp {
        [self.left, self.gap, self.bottom, self.shown, self.end, self.px_per_ms, self.ms_per_unit]
            .into_iter()
            .fold(Stamp::default().with(&self.lanes), Stamp::num)
    }

    /// The same layout with the time `end` (no later than the moment shown) at the bottom.
    pub fn ending(self, end: f64) -> Layout {
        Layout { end: end.min(self.shown), ..self }
    }

    fn x(&self, addr: &Addr) -> Option<f64> {
        self.lanes.iter().position(|(a, ..)| a == addr).map(|i| self.left + i as f64 * self.gap)
    }

    fn y(&self, t: f64) -> f64 {
        self.bottom - (self.end - t) * self.px_per_ms
    }

    /// The earliest time still on screen.
    fn top_time(&self) -> f64 {
        self.end - (self.bottom - HEAD) / self.px_per_ms
    }

    /// The stretch of time on screen: from the top edge to the bottom one.
    pub fn span(&self) -> (f64, f64) {
        (self.top_time(), self.end)
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

/// The diagram's time axis as the learner moves it: its zoom, and whether it follows the
/// present or was scrolled back to show an earlier stretch.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// Pixels per unit of the scene's times.
    pub px_per_ms: f64,
    /// The time at the bottom edge while scrolled back; `None` while following the present.
    pinned: Option<f64>,
    /// The last lesson step fitted (how many steps were taken, its start and end), so each is
    /// fitted once.
    fitted: Option<(usize, f64, f64)>,
}

impl Axis {
    /// Following the present at `px_per_ms`.
    pub fn new(px_per_ms: f64) -> Axis {
        Axis { px_per_ms, pinned: None, fitted: None }
    }

    /// Whether the diagram follows the present.
    pub fn following(&self) -> bool {
        self.pinned.is_none()
    }

    /// The time at the bottom edge when the world is at `moment`.
    pub fn end(&self, moment: f64) -> f64 {
        self.pinned.map_or(moment, |t| t.min(moment))
    }

    /// Goes back to following the present.
    pub fn follow(&mut self) {
        self.pinned = None;
    }

    /// Scrolls by `dy` pixels (positive: towards the past, as dragging the picture down), the
    /// world at `moment`, `height` pixels of diagram: scrolling up to the present follows it
    /// again, and the start of the run stays within reach of the top.
    pub fn scroll(&mut self, dy: f64, moment: f64, height: f64) {
        let span = plot_height(height) / self.px_per_ms;
        let end = self.end(moment) - dy / self.px_per_ms;
        self.pinned = if end >= moment { None } else { Some(end.max(span.min(moment))) };
    }

    /// Zooms by `factor` within [`ZOOM`], keeping the time `from_bottom` pixels above the
    /// bottom edge where it is (while following, the present stays at the bottom).
    pub fn zoom(&mut self, factor: f64, from_bottom: f64, moment: f64) {
        let px = (self.px_per_ms * factor).clamp(ZOOM.0, ZOOM.1);
        if let Some(end) = self.pinned {
            let anchor = end.min(moment) - from_bottom / self.px_per_ms;
            self.pinned = Some((anchor + from_bottom / px).min(moment));
        }
        self.px_per_ms = px;
    }

    /// When the latest lesson step has just reached its moment, fits the zoom so the step's
    /// stretch fills `height` pixels of diagram, its end at the bottom; returns whether it did.
    pub fn fit(&mut self, marks: &[StepMark], moment: f64, height: f64) -> bool {
        if marks.is_empty() {
            // A new run or lesson: its first step is fitted, even if it is like the last one.
            self.fitted = None;
        }
        let Some((start, end)) = marks.last().and_then(|m| Some((m.start, m.end?))) else { return false };
        if self.fitted == Some((marks.len(), start, end)) {
            return false;
        }
        self.fitted = Some((marks.len(), start, end));
        let span = (end - start).max(FIT_LEAST_MS);
        self.px_per_ms = (plot_height(height) * FIT_SHARE / span).clamp(ZOOM.0, ZOOM.1);
        self.pinned = (end < moment).then_some(end);
        true
    }
}

/// The messages worth drawing: recent enough, routine ones only when asked, newest last.
fn visible<'a>(messages: impl DoubleEndedIterator<Item = &'a MsgLine>, l: &Layout, routine: bool) -> Vec<&'a MsgLine> {
    let top = l.top_time();
    let mut out: Vec<&MsgLine> = messages
        .rev()
        .skip_while(|m| m.sent.0 as f64 > l.end)
        .take_while(|m| m.sent.0 as f64 >= top - LOOKBACK_MS)
        .filter(|m| routine || !m.routine())
        .filter(|m| m.ended().is_none_or(|t| t.0 as f64 >= top))
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

/// The gaps between neighbouring lanes that a partition cuts: gap `i` lies between lane `i`
/// and lane `i + 1`.
pub fn cut_gaps(lanes: &[(Addr, bool)], cut: &Cut) -> Vec<usize> {
    lanes.windows(2).enumerate().filter(|(_, pair)| cut.divides(&pair[0].0, &pair[1].0)).map(|(i, _)| i).collect()
}

/// The time grid's step (ms): the smallest round step at least 25 px apart.
fn grid_step(px_per_ms: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0]
        .into_iter()
        .find(|ms| ms * px_per_ms >= 25.0)
        .unwrap_or(20_000.0)
}

/// What the diagram draws besides the messages.
pub struct Extras<'a> {
    /// The lesson steps taken, marked where each began.
    pub marks: &'a [StepMark],
    /// Every partition of the run.
    pub cuts: &'a [Cut],
    /// Lanes of servers running outside the view, and the word under their name.
    pub outside: Vec<(Addr, &'static str)>,
}

impl Extras<'_> {
    /// Everything drawn from these, for the diagram's [`Stamp`].
    pub fn stamp(&self) -> Stamp {
        let marks = self
            .marks
            .iter()
            .fold(Stamp::default(), |st, m| st.with(m.title).num(m.start).num(m.end.unwrap_or(f64::NAN)));
        marks.with(self.cuts).with(&self.outside)
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
    extras: &Extras<'_>,
) {
    let mut taken = Taken::new(c.w, c.h);
    grid(c, l, &mut taken);
    for cut in extras.cuts {
        partition(c, l, cut, &mut taken);
    }
    lanes(c, l, focus, &extras.outside, &mut taken);
    marks(c, l, extras.marks, &mut taken);
    // Arrows, the lit ones last so they sit on top.
    let shown: Vec<&MsgLine> = visible(messages, l, routine);
    if shown.iter().any(|m| matches!(m.fate, Fate::Dropped(..)) && m.sent.0 as f64 <= l.shown) {
        let text = "✕ message lost";
        let w = c.measure(text, SMALL_FONT);
        let r = Rect::text(c.w - 4.0, c.h - 4.0, w, 10.0, "right");
        taken.take(r);
        c.text_on(text, c.w - 4.0, c.h - 4.0, SMALL_FONT, BAD, "right");
    }
    let few = shown.len() < 60;
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
                // A label that would overlap one already drawn is left out; the selected
                // message's always shows.
                let label = short(&m.summary(names));
                let w = c.measure(&label, LABEL_FONT);
                // Above the arrow's middle, raised by its slope so the arrow does not cross
                // the text's ends.
                let slope = ((y1 - y0) / (x1 - x0)).abs();
                let lift = if slope.is_finite() { (slope * w / 2.0).min(20.0) } else { 0.0 };
                let (mx, my) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0 - 3.0 - lift);
                let r = Rect::text(mx, my, w, 11.0, "center");
                let selected = matches!(focus, Some(Focus::Message(id)) if *id == m.id);
                let drawn = if selected {
                    taken.take(r);
                    true
                } else {
                    taken.claim(r)
                };
                if drawn {
                    c.text_on(&label, mx, my, LABEL_FONT, if pass { FOCUS } else { MUTED }, "center");
                }
            }
        }
    }
}

/// Faint rules about every 25 px, a time label every fifth.
fn grid(c: &Canvas, l: &Layout, taken: &mut Taken) {
    let step = grid_step(l.px_per_ms);
    let top = l.top_time().max(0.0);
    let mut t = (top / step).ceil() * step;
    while t <= l.end {
        let y = l.y(t);
        let major = ((t / step).round() as u64) % 5 == 0;
        c.line(0.0, y, c.w, y, if major { RULE } else { "#f0f2f6" }, 1.0);
        if major && y > HEAD + 10.0 {
            let label =
                if l.ms_per_unit < 1.0 { format!("{:.2}ms", t * l.ms_per_unit) } else { format!("{:.3}s", t / 1000.0) };
            taken.take(Rect::text(4.0, y - 3.0, c.measure(&label, SMALL_FONT), 10.0, "left"));
            c.text(&label, 4.0, y - 3.0, SMALL_FONT, MUTED, "left");
        }
        t += step;
    }
}

/// A partition over its stretch of time: the cut-off lanes tinted, a dashed red line at every
/// gap between lanes it cuts, and what it is in words at its top.
fn partition(c: &Canvas, l: &Layout, cut: &Cut, taken: &mut Taken) {
    let (from, to) = (cut.from.0 as f64, cut.to.map_or(l.shown, |t| t.0 as f64));
    if to < l.top_time() || from > l.end {
        return;
    }
    let (y0, y1) = (l.y(from).max(HEAD), l.y(to).min(c.h));
    for (i, (addr, _)) in l.lanes.iter().enumerate() {
        if cut.side.contains(addr) {
            let x = l.left + i as f64 * l.gap;
            c.rect(Rect { x: x - l.gap / 2.0, y: y0, w: l.gap, h: y1 - y0 }, CUT_TINT);
        }
    }
    let gaps = cut_gaps(&l.lanes, cut);
    for &i in &gaps {
        let x = l.left + (i as f64 + 0.5) * l.gap;
        c.dash((5.0, 4.0));
        c.line(x, y0, x, y1, BAD, 1.5);
        c.dash((0.0, 0.0));
    }
    // The words sit at the band's top (or the diagram's, once that is scrolled past), beside
    // the first cut.
    let text = cut.label();
    let w = c.measure(&text, SMALL_FONT);
    let y = y0 + 12.0;
    let x = gaps.first().map_or(c.w / 2.0, |&i| l.left + (i as f64 + 0.5) * l.gap);
    let spots = [(x + 4.0, y, "left"), (x - 4.0, y, "right"), (c.w - 4.0, y, "right"), (x + 4.0, y + 12.0, "left")];
    if let Some((x, y, align)) = taken.place_text(&spots, w, 10.0) {
        c.text_on(&text, x, y, SMALL_FONT, BAD, align);
    }
}

/// Lane lines and names; under a name, what keeps the node from its part (down, joining).
fn lanes(c: &Canvas, l: &Layout, focus: Option<&Focus>, outside: &[(Addr, &'static str)], taken: &mut Taken) {
    let narrow = l.gap < 28.0;
    let font = if narrow { "600 10px system-ui, sans-serif" } else { "600 12px system-ui, sans-serif" };
    let px = if narrow { 10.0 } else { 12.0 };
    for (i, (addr, up)) in l.lanes.iter().enumerate() {
        let x = l.left + i as f64 * l.gap;
        let focused = matches!(focus, Some(Focus::Node(a)) if a == addr);
        let color = if *up { palette::node_color(addr, 42) } else { "#9aa0ab".to_string() };
        c.line(x, HEAD, x, c.h, if focused { FOCUS } else { RULE }, if focused { 2.0 } else { 1.0 });
        // A name that would overlap its neighbour's drops to the second row, or is left out
        // (hovering the lane names it in the inspector).
        let w = c.measure(&addr.0, font);
        let Some((_, y, _)) = taken.place_text(&[(x, 14.0, "center"), (x, 27.0, "center")], w, px) else { continue };
        c.text(&addr.0, x, y, font, &color, "center");
        let note = if *up { outside.iter().find(|(a, _)| a == addr).map(|(_, n)| *n) } else { Some("down") };
        if let Some(note) = note {
            let nw = c.measure(note, SMALL_FONT);
            if taken.place_text(&[(x, y + 12.0, "center")], nw, 10.0).is_some() {
                c.text(note, x, y + 12.0, SMALL_FONT, if *up { MUTED } else { BAD }, "center");
            }
        }
    }
}

/// A thin rule where each lesson step began, with its title.
fn marks(c: &Canvas, l: &Layout, marks: &[StepMark], taken: &mut Taken) {
    let top = l.top_time();
    for (i, m) in marks.iter().enumerate() {
        if m.start < top || m.start > l.end {
            continue;
        }
        let y = l.y(m.start);
        c.line(0.0, y, c.w, y, MARK, 1.0);
        let text = format!("step {}: {}", i + 1, m.title);
        let w = c.measure(&text, SMALL_FONT);
        if let Some((x, y, align)) =
            taken.place_text(&[(c.w - 4.0, y - 3.0, "right"), (c.w - 4.0, y + 11.0, "right")], w, 10.0)
        {
            c.text_on(&text, x, y, SMALL_FONT, MARK, align);
        }
    }
}

fn arrowhead(c: &Canvas, x0: f64, y0: f64, x1: f64, y1: f64, color: &str) {
    let a = trig::atan2(y1 - y0, x1 - x0);
    let (s, k) = (7.0, 0.45);
    let ctx = &c.ctx;
    ctx.begin_path();
    ctx.move_to(x1, y1);
    ctx.line_to(x1 - s * trig::cos(a - k), y1 - s * trig::sin(a - k));
    ctx.line_to(x1 - s * trig::cos(a + k), y1 - s * trig::sin(a + k));
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

    #[test]
    fn scrolled_back_the_diagram_shows_the_earlier_stretch_as_it_ended() {
        let ms =
            [msg(1, "c1", "s1", 100, Fate::Delivered(Time(110))), msg(2, "c1", "s1", 900, Fate::Delivered(Time(905)))];
        // 400 px tall at 1 px/ms: about 360 ms on screen.
        let now = layout(1_000.0);
        assert_eq!(visible(ms.iter(), &now, true).iter().map(|m| m.id).collect::<Vec<_>>(), vec![2]);
        let back = layout(1_000.0).ending(200.0);
        assert_eq!(visible(ms.iter(), &back, true).iter().map(|m| m.id).collect::<Vec<_>>(), vec![1]);
        // Drawn as it stands at the moment shown: delivered, so it reaches its receiver.
        let ((_, y0), (x1, y1), _) = back.arrow(&ms[0]).unwrap();
        assert_eq!(x1, back.x(&Addr::from("s1")).unwrap());
        assert!((y1 - y0 - 10.0 * PX_PER_MS).abs() < 1e-9 && y1 < back.bottom);
        // Never past the present.
        assert_eq!(layout(1_000.0).ending(5_000.0).end, 1_000.0);
    }

    #[test]
    fn the_axis_scrolls_back_and_returns_to_the_present() {
        let mut axis = Axis::new(1.0);
        assert!(axis.following());
        axis.scroll(300.0, 5_000.0, 400.0);
        assert_eq!(axis.end(5_000.0), 4_700.0);
        assert_eq!(axis.end(6_000.0), 4_700.0, "pinned while the world moves on");
        // Not before the run's start can reach the top.
        axis.scroll(1e9, 6_000.0, 400.0);
        assert_eq!(axis.end(6_000.0), plot_height(400.0));
        // Dragging up past the present follows it again.
        axis.scroll(-1e9, 6_000.0, 400.0);
        assert!(axis.following());
        axis.scroll(100.0, 6_000.0, 400.0);
        axis.follow();
        assert_eq!(axis.end(7_000.0), 7_000.0);
    }

    #[test]
    fn zooming_keeps_the_time_under_the_pointer() {
        let mut axis = Axis::new(2.0);
        axis.scroll(200.0, 1_000.0, 400.0); // 100 ms back: 900 at the bottom
                                            // 50 px above the bottom is 875 ms; it stays there at twice the zoom.
        axis.zoom(2.0, 50.0, 1_000.0);
        assert_eq!(axis.px_per_ms, 4.0);
        assert!((axis.end(1_000.0) - 50.0 / 4.0 - 875.0).abs() < 1e-9);
        axis.zoom(1e9, 0.0, 1_000.0);
        assert_eq!(axis.px_per_ms, ZOOM.1);
        let mut live = Axis::new(1.0);
        live.zoom(0.5, 50.0, 1_000.0);
        assert!(live.following(), "following, the present stays at the bottom");
    }

    #[test]
    fn a_finished_step_is_fitted_once_so_its_messages_are_on_screen() {
        let mut axis = Axis::new(PX_PER_MS);
        let mut marks = vec![StepMark { title: "write", start: 1_000.0, end: None, pos: None }];
        assert!(!axis.fit(&marks, 1_200.0, 400.0), "still playing: nothing to fit");
        marks[0].end = Some(4_000.0);
        assert!(axis.fit(&marks, 4_000.0, 400.0));
        let l = Layout::new(vec![(Addr::from("s1"), true)], 320.0, 400.0, 4_000.0, axis.px_per_ms)
            .ending(axis.end(4_000.0));
        assert!(l.top_time() <= 1_000.0 && l.top_time() > 600.0, "the step fills the span: {}", l.top_time());
        assert!(axis.following(), "it ends now: the diagram follows on from it");
        // The learner zooms and scrolls; the same step is not fitted again.
        axis.zoom(2.0, 0.0, 4_000.0);
        assert!(!axis.fit(&marks, 4_500.0, 400.0));
        // A long step fits within the zoom's bounds; one that ended earlier is pinned there.
        marks.push(StepMark { title: "wait", start: 0.0, end: Some(1e7), pos: None });
        assert!(axis.fit(&marks, 2e7, 400.0));
        assert_eq!((axis.px_per_ms, axis.end(2e7)), (ZOOM.0, 1e7));
        // Started over, the same first step is fitted again.
        assert!(!axis.fit(&[], 0.0, 400.0));
        marks.truncate(1);
        assert!(axis.fit(&marks, 4_000.0, 400.0));
    }

    #[test]
    fn the_default_zoom_keeps_a_2pc_round_on_screen_for_seconds() {
        // The diagram is about 370 px tall at 1280×800 and 300 px at 1024×700.
        let speed = crate::app::SPEEDS[2];
        for height in [300.0, 370.0] {
            let span_ms = plot_height(height) / PX_PER_MS;
            // A message sent now leaves the top after span / speed real milliseconds.
            assert!(span_ms / speed >= 2_500.0, "{height} px: {} real ms", span_ms / speed);
            // A 2PC round (prepare, vote, decision, ack at up to 10 ms each) is readable.
            assert!(40.0 * PX_PER_MS >= 30.0 && 40.0 < span_ms / 4.0);
        }
    }

    #[test]
    fn a_partition_cuts_the_gaps_between_its_sides() {
        let lanes: Vec<(Addr, bool)> = ["vl", "s1", "s2", "s3", "c1"].iter().map(|a| (Addr::from(*a), true)).collect();
        let cut = |side: &[&str]| Cut { side: side.iter().map(|a| Addr::from(*a)).collect(), from: Time(0), to: None };
        assert_eq!(cut_gaps(&lanes, &cut(&["s1", "s2"])), vec![0, 2]);
        assert_eq!(cut_gaps(&lanes, &cut(&["vl"])), vec![0]);
        assert_eq!(cut_gaps(&lanes, &cut(&["s2", "c1"])), vec![1, 2, 3]);
    }
}
