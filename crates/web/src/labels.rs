//! Label placement without collisions: every view keeps the boxes of the labels it drew and
//! puts a new one at the first of its candidate places that overlaps none of them, or leaves it
//! out. Pure geometry on rectangles, so it is tested natively.

/// An axis-aligned box in canvas pixels: left, top, width, height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    /// The box of a text `w` wide in a font `px` tall whose baseline is at `y`, anchored at `x`
    /// as the canvas aligns it (`"left"`, `"center"` or `"right"`).
    pub fn text(x: f64, y: f64, w: f64, px: f64, align: &str) -> Rect {
        let left = match align {
            "center" => x - w / 2.0,
            "right" => x - w,
            _ => x,
        };
        // A baseline leaves about a fifth of the font below it for descenders.
        Rect { x: left, y: y - px * 0.85, w, h: px * 1.1 }
    }

    /// Whether the two boxes share any area (touching edges do not count).
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }

    /// Whether this box lies wholly inside `outer`.
    pub fn inside(&self, outer: &Rect) -> bool {
        self.x >= outer.x
            && self.y >= outer.y
            && self.x + self.w <= outer.x + outer.w
            && self.y + self.h <= outer.y + outer.h
    }

    /// The same box moved by (`dx`, `dy`).
    pub fn shifted(self, dx: f64, dy: f64) -> Rect {
        Rect { x: self.x + dx, y: self.y + dy, ..self }
    }
}

/// An estimate of a text's width in a sans-serif font `px` tall, for layout before drawing
/// (the canvas measures exactly when it draws; this errs wide).
pub fn text_width(text: &str, px: f64) -> f64 {
    text.chars().count() as f64 * px * 0.6
}

/// The boxes taken so far in one drawing, and the area labels must stay inside.
#[derive(Clone, Debug)]
pub struct Taken {
    bounds: Rect,
    boxes: Vec<Rect>,
}

impl Taken {
    /// Nothing taken yet in a `w`×`h` canvas.
    pub fn new(w: f64, h: f64) -> Taken {
        Taken { bounds: Rect { x: 0.0, y: 0.0, w, h }, boxes: Vec::new() }
    }

    /// Whether `r` fits: inside the canvas and over no box taken.
    pub fn free(&self, r: &Rect) -> bool {
        r.inside(&self.bounds) && self.boxes.iter().all(|b| !b.overlaps(r))
    }

    /// Marks `r` taken whatever it overlaps (something that must be drawn where it is).
    pub fn take(&mut self, r: Rect) {
        self.boxes.push(r);
    }

    /// Takes `r` if it is free; returns whether it was.
    pub fn claim(&mut self, r: Rect) -> bool {
        let free = self.free(&r);
        if free {
            self.boxes.push(r);
        }
        free
    }

    /// Takes the first free box of `candidates`, in order, and returns it; `None` (nothing
    /// taken) when none is free, so the label is left out.
    pub fn first_free(&mut self, candidates: impl IntoIterator<Item = Rect>) -> Option<Rect> {
        let found = candidates.into_iter().find(|r| self.free(r))?;
        self.boxes.push(found);
        Some(found)
    }
}

/// Where a text may go: the point the canvas anchors it at, and its alignment.
pub type Spot = (f64, f64, &'static str);

impl Taken {
    /// Takes the box of a text `w` wide, `px` tall at the first free spot of `spots` and
    /// returns that spot; `None` when none is free, so the text is left out.
    pub fn place_text(&mut self, spots: &[Spot], w: f64, px: f64) -> Option<Spot> {
        let spot = *spots.iter().find(|(x, y, align)| self.free(&Rect::text(*x, *y, w, px, align)))?;
        self.boxes.push(Rect::text(spot.0, spot.1, w, px, spot.2));
        Some(spot)
    }
}

/// Lays items `widths` wide out in rows no wider than `max_w`, `gap` apart, as a paragraph
/// wraps words: returns each item's (x offset, row). An item wider than a row gets a row alone.
pub fn flow(widths: &[f64], max_w: f64, gap: f64) -> Vec<(f64, usize)> {
    let mut out = Vec::with_capacity(widths.len());
    let (mut x, mut row) = (0.0, 0);
    for &w in widths {
        if x > 0.0 && x + w > max_w {
            x = 0.0;
            row += 1;
        }
        out.push((x, row));
        x += w + gap;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f64, y: f64) -> Rect {
        Rect { x, y, w: 20.0, h: 10.0 }
    }

    #[test]
    fn boxes_overlap_only_when_they_share_area() {
        assert!(at(0.0, 0.0).overlaps(&at(10.0, 5.0)));
        assert!(!at(0.0, 0.0).overlaps(&at(20.0, 0.0)), "touching edges");
        assert!(!at(0.0, 0.0).overlaps(&at(0.0, 10.0)));
        assert!(!at(0.0, 0.0).overlaps(&at(50.0, 50.0)));
        let centred = Rect::text(100.0, 20.0, 40.0, 10.0, "center");
        assert_eq!((centred.x, centred.w), (80.0, 40.0));
        assert!(centred.y < 20.0 && centred.y + centred.h > 20.0, "the box spans the baseline");
        assert_eq!(Rect::text(100.0, 20.0, 40.0, 10.0, "right").x, 60.0);
    }

    #[test]
    fn a_label_goes_to_the_first_free_place_or_is_left_out() {
        let mut taken = Taken::new(100.0, 100.0);
        assert!(taken.claim(at(10.0, 10.0)));
        assert!(!taken.claim(at(15.0, 12.0)), "over the first");
        // Pushed along until clear of the first.
        let pushed = taken.first_free((0..5).map(|k| at(15.0, 12.0 + 6.0 * k as f64)));
        assert_eq!(pushed, Some(at(15.0, 24.0)));
        // Outside the canvas is never free.
        assert!(!taken.free(&at(90.0, 50.0)));
        assert_eq!(taken.first_free([at(12.0, 11.0), at(95.0, 95.0)]), None);
        // A box taken by force still blocks later ones.
        taken.take(at(50.0, 50.0));
        assert!(!taken.free(&at(55.0, 55.0)));
        // Texts: the second spot when the first is taken.
        let spots = [(60.0, 60.0, "left"), (60.0, 80.0, "left")];
        assert_eq!(taken.place_text(&spots, 10.0, 10.0), Some(spots[1]));
        assert_eq!(taken.place_text(&spots[1..], 10.0, 10.0), None, "now taken");
    }

    #[test]
    fn legend_items_wrap_into_rows() {
        assert_eq!(flow(&[30.0, 30.0, 30.0], 90.0, 5.0), vec![(0.0, 0), (35.0, 0), (0.0, 1)]);
        assert_eq!(flow(&[150.0, 10.0], 100.0, 5.0), vec![(0.0, 0), (0.0, 1)], "too wide: a row alone");
        assert!(text_width("epoch 9", 10.0) > 30.0);
    }
}
