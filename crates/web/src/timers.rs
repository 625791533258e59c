//! Timers drawn as they run down, as RaftScope draws its election timers: around each server on
//! the ring, the time the view leader still gives it before the failure timeout (an arc that
//! empties as its heartbeat ages) and, thinner, its lease; in the inspector, the same as bars,
//! with each prepared participant's decision timer and each client's backoff.
//!
//! Every deadline is read from the roles themselves ([`ringside_core::Deadline`]) at the moment
//! the views are drawn, so the arcs count down smoothly while the simulator plays. A real
//! cluster's processes do not report their deadlines: there, nothing is drawn.

use std::f64::consts::{FRAC_PI_2, TAU};

use ringside_core::{Deadline, ServerId, TxId};
use ringside_sim::Sim;

use crate::canvas::Canvas;
use crate::model::Placement;
use crate::palette::{BAD, MUTED, RULE};
use crate::ring_view::Geometry;

/// A timer far from running out.
const CALM: &str = "#3f9b6b";
/// A timer in its last third.
const WARN: &str = "#d99a00";
/// The share of a timer left below which it is drawn as a warning.
const WARN_BELOW: f64 = 1.0 / 3.0;

/// The failure-timeout arc around a server's dot: its radius and width (px), just outside the
/// ring view's highlight of a selected server.
const HEARTBEAT_ARC: (f64, f64) = (12.2, 2.2);
/// The lease arc, just outside it.
const LEASE_ARC: (f64, f64) = (15.3, 1.2);

/// How a timer stands at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Countdown {
    /// Time left until it fires (ms); negative once it expired.
    pub left_ms: f64,
    /// Its whole length (ms).
    pub span_ms: f64,
}

impl Countdown {
    /// `deadline` as it stands at `at` (virtual ms, between events while playing).
    pub fn at(deadline: Deadline, at: f64) -> Countdown {
        Countdown { left_ms: deadline.due.0 as f64 - at, span_ms: deadline.span_ms as f64 }
    }

    /// The share of it left, from 1 (just armed) to 0 (expired).
    pub fn fraction(&self) -> f64 {
        if self.span_ms <= 0.0 {
            return 0.0;
        }
        (self.left_ms / self.span_ms).clamp(0.0, 1.0)
    }

    /// Whether it ran out.
    pub fn expired(&self) -> bool {
        self.left_ms <= 0.0
    }

    /// Calm while far, a warning in its last third, red only once it expired.
    pub fn colour(&self) -> &'static str {
        if self.expired() {
            BAD
        } else if self.fraction() < WARN_BELOW {
            WARN
        } else {
            CALM
        }
    }

    /// The time left, in words: `380 ms`, or `ran out 20 ms ago`.
    pub fn words(&self) -> String {
        if self.expired() {
            format!("ran out {:.0} ms ago", -self.left_ms)
        } else {
            format!("{:.0} ms", self.left_ms)
        }
    }

    /// An inspector bar: the share left, coloured, then `words`.
    pub fn bar(&self, words: &str) -> String {
        format!(
            "<span class=\"timer\"><span style=\"width:{:.0}%;background:{}\"></span></span> {words}",
            self.fraction() * 100.0,
            self.colour()
        )
    }
}

/// The inspector's line on what the bars' colours mean.
pub const LEGEND: &str =
    "<p class=\"hint\">Bars: the time left, green while far, amber in its last third, red only once it ran out.</p>";

/// Every timer the views draw, read from the roles at one moment. A few dozen at most, so
/// plain lists (a map per key type would cost the wasm more than the lookups cost here).
#[derive(Clone, Debug, Default)]
pub struct Clocks {
    /// The moment read at (virtual ms).
    pub at: f64,
    /// Per live server, the time the view leader still gives it before declaring it failed.
    pub heartbeats: Vec<(ServerId, Countdown)>,
    /// Per running server, its lease: how long it may still vote and answer reads.
    pub leases: Vec<(ServerId, Countdown)>,
    /// Per participant and prepared transaction, the time until it asks how it ended.
    pub decisions: Vec<(ServerId, TxId, Countdown)>,
}

impl Clocks {
    /// Reads every timer of `sim` as it stands at `at`, the moment the views are drawn at.
    pub fn read(sim: &Sim, at: f64) -> Clocks {
        // A step can pass the moment drawn (it skips stale wake-ups to the next real event):
        // the timers are then read where the world is, so none shows more than its span.
        let at = at.max(sim.now().0 as f64);
        let vl = sim.view_leader();
        let heartbeats = vl
            .servers()
            .map(|(id, _)| id)
            .filter_map(|id| Some((id.clone(), Countdown::at(vl.failure_deadline(id)?, at))))
            .collect();
        let mut leases = Vec::new();
        let mut decisions = Vec::new();
        for (_, s) in sim.servers() {
            if let Some(lease) = s.lease() {
                leases.push((s.id().clone(), Countdown::at(lease, at)));
            }
            for p in s.pending() {
                if let Some(due) = s.decision_deadline(&p.tx) {
                    decisions.push((s.id().clone(), p.tx, Countdown::at(due, at)));
                }
            }
        }
        Clocks { at, heartbeats, leases, decisions }
    }

    /// Server `id`'s failure timeout at the view leader.
    pub fn heartbeat(&self, id: &ServerId) -> Option<&Countdown> {
        self.heartbeats.iter().find(|(s, _)| s == id).map(|(_, c)| c)
    }

    /// Server `id`'s lease.
    pub fn lease(&self, id: &ServerId) -> Option<&Countdown> {
        self.leases.iter().find(|(s, _)| s == id).map(|(_, c)| c)
    }

    /// The decision timer of `tx` at participant `id`.
    pub fn decision(&self, id: &ServerId, tx: TxId) -> Option<&Countdown> {
        self.decisions.iter().find(|(s, t, _)| s == id && *t == tx).map(|(_, _, c)| c)
    }

    /// Whether there is any timer to draw on the ring.
    fn on_ring(&self) -> bool {
        !self.heartbeats.is_empty() || !self.leases.is_empty()
    }
}

/// Draws each server's failure-timeout arc and lease arc around its labelled point on the ring
/// drawn at `g`.
pub fn ring(c: &Canvas, g: Geometry, p: &Placement, clocks: &Clocks) {
    if !clocks.on_ring() {
        return;
    }
    for s in &p.servers {
        let Some(&angle) = s.points.first() else { continue };
        let (x, y) = g.point(angle);
        if let Some(hb) = clocks.heartbeat(&s.id) {
            arc(c, x, y, HEARTBEAT_ARC, 1.0, RULE);
            arc(c, x, y, HEARTBEAT_ARC, hb.fraction(), hb.colour());
        }
        if let Some(lease) = clocks.lease(&s.id) {
            // An expired lease is a whole red ring: the server refuses to serve.
            let share = if lease.expired() { 1.0 } else { lease.fraction() };
            arc(c, x, y, LEASE_ARC, share, lease.colour());
        }
    }
    let font = "11px system-ui, sans-serif";
    c.text("inner ring: failure timeout left", 6.0, 14.0, font, MUTED, "left");
    c.text("outer ring: lease left", 6.0, 28.0, font, MUTED, "left");
}

/// A clockwise arc from the top of a circle round (`x`, `y`), for `share` of a turn.
fn arc(c: &Canvas, x: f64, y: f64, (radius, width): (f64, f64), share: f64, colour: &str) {
    if share <= 0.0 {
        return;
    }
    c.ctx.begin_path();
    let _ = c.ctx.arc(x, y, radius, -FRAC_PI_2, -FRAC_PI_2 + share * TAU);
    c.ctx.set_stroke_style_str(colour);
    c.ctx.set_line_width(width);
    c.ctx.stroke();
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_core::Time;
    use ringside_sim::session::server;
    use ringside_sim::{Action, Session, Setup};

    use crate::app::App;
    use crate::lessons::idle;

    fn settled() -> App {
        let mut app = App::new(Session::new(Setup::default()));
        app.run_until(5_000, idle);
        app
    }

    #[test]
    fn a_countdown_is_calm_then_a_warning_and_red_only_once_expired() {
        let due = Deadline { due: Time(1_000), span_ms: 300 };
        assert_eq!(Countdown::at(due, 700.0).fraction(), 1.0);
        assert_eq!(Countdown::at(due, 700.0).colour(), CALM);
        assert_eq!(Countdown::at(due, 850.0).fraction(), 0.5);
        assert_eq!(Countdown::at(due, 950.0).colour(), WARN);
        assert_eq!(Countdown::at(due, 999.0).colour(), WARN);
        assert_eq!(Countdown::at(due, 1_000.0).colour(), BAD);
        assert_eq!(Countdown::at(due, 1_020.0).words(), "ran out 20 ms ago");
        assert_eq!(Countdown::at(due, 1_020.0).fraction(), 0.0);
        assert_eq!(Countdown::at(due, 880.0).words(), "120 ms");
    }

    #[test]
    fn a_crashed_servers_arc_empties_at_the_failure_timeout() {
        let mut app = settled();
        let timeout = app.sim.config().timing.failure_timeout_ms as f64;
        let s1 = app.sim.servers().find(|(a, _)| **a == server(1)).map(|(_, s)| s.id().clone()).unwrap();
        // Running, it heartbeats: the view leader's timer never gets far from full.
        let full = Clocks::read(&app.sim, app.shown).heartbeat(&s1).copied().unwrap();
        assert_eq!(full.span_ms, timeout);
        assert!(full.fraction() > 0.6, "{full:?}");
        app.act(Action::Crash { node: server(1) });
        let crashed = app.sim.now().0 as f64;
        let last = Clocks::read(&app.sim, crashed).heartbeat(&s1).copied().unwrap();
        // The arc shrinks with time alone: the same deadline read later is shorter.
        let later = Clocks::read(&app.sim, crashed + 100.0).heartbeat(&s1).copied().unwrap();
        assert!((last.left_ms - later.left_ms - 100.0).abs() < 1e-9, "{last:?} {later:?}");
        // It is empty exactly at the failure timeout after the last heartbeat the leader heard,
        // and then the server is failed: no timer left to draw.
        let empty_at = crashed + last.left_ms;
        assert!(empty_at - crashed <= timeout);
        app.run_until(timeout as u64 * 2, |sim| sim.view_leader().server(&s1).is_none());
        assert_eq!(app.sim.now().0 as f64, empty_at, "failed at the moment the arc emptied");
        let after = Clocks::read(&app.sim, app.shown);
        assert!(after.heartbeat(&s1).is_none() && after.lease(&s1).is_none());
        assert_eq!(after.heartbeats.len(), app.sim.servers().count());
    }

    #[test]
    fn no_timer_reads_more_than_its_span_when_a_step_passed_the_moment_drawn() {
        // Lesson 8's third step ends with the world a millisecond past the moment drawn.
        let app = crate::testing::lesson_after(7, 3);
        let clocks = Clocks::read(&app.sim, app.shown);
        assert!(clocks.at >= app.sim.now().0 as f64);
        for (_, c) in clocks.heartbeats.iter().chain(&clocks.leases) {
            assert!(c.left_ms <= c.span_ms, "{c:?}");
        }
    }

    #[test]
    fn every_running_server_holds_a_lease_of_the_configured_length() {
        let app = settled();
        let clocks = Clocks::read(&app.sim, app.shown);
        let lease = app.sim.config().timing.membership().lease_ms() as f64;
        assert_eq!(clocks.leases.len(), app.sim.servers().count());
        for (_, c) in &clocks.leases {
            assert_eq!(c.span_ms, lease);
            assert!(!c.expired() && c.fraction() <= 1.0, "{c:?}");
        }
    }

    #[test]
    fn a_prepared_participants_timer_reads_the_decision_timeout() {
        // Lesson 6, its coordinator dead after the prepares, until every participant is READY.
        let mut app = crate::testing::lesson_after(5, 2);
        assert!(app.run_until(1_000, |sim| sim.servers().all(|(_, s)| s.pending().count() == 1)));
        let timeout = app.sim.config().timing.decision_timeout_ms as f64;
        let clocks = Clocks::read(&app.sim, app.sim.now().0 as f64);
        assert_eq!(clocks.decisions.len(), 3, "{:?}", clocks.decisions);
        for (_, _, c) in &clocks.decisions {
            assert_eq!(c.span_ms, timeout);
            assert!(c.left_ms > 0.0 && c.left_ms <= timeout, "{c:?}");
        }
    }
}
