//! The page's state: the session, the world it replays to, what the learner points at, and the
//! clock the views are drawn at. No DOM here, so it is tested natively.

use ringside_core::{Addr, Time, TxId};
use ringside_sim::session::{self, apply};
use ringside_sim::{Action, Input, Session, Setup, Sim, Tamper};

use crate::lessons::{self, Lesson};
use crate::model::{self, Journal, Placement};

/// What the learner points at or picked; it lights up in every view.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Focus {
    /// A node, by address.
    Node(Addr),
    /// A key.
    Key(String),
    /// A message, by number.
    Message(u64),
}

impl Focus {
    /// `node:s1`, `key:x` or `msg:12` as a focus.
    pub fn parse(text: &str) -> Option<Focus> {
        let (kind, rest) = text.split_once(':')?;
        match kind {
            "node" => Some(Focus::Node(Addr(rest.to_string()))),
            "key" => Some(Focus::Key(rest.to_string())),
            "msg" => rest.parse().ok().map(Focus::Message),
            _ => None,
        }
    }
}

/// Trace entries the world holds (the newest): the journal reads each entry as it is made, so
/// only an export looks further back, and a run left playing for hours stays small.
pub const TRACE_KEPT: usize = 20_000;

/// Play speeds the learner can pick: virtual milliseconds per real millisecond.
pub const SPEEDS: [f64; 7] = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0];

/// A lesson in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LessonRun {
    /// Which lesson.
    pub lesson: usize,
    /// Steps done so far.
    pub done: usize,
}

/// A lesson step's stretch of virtual time, marked on the diagram's time axis.
#[derive(Clone, Debug, PartialEq)]
pub struct StepMark {
    /// The step's title.
    pub title: &'static str,
    /// When the step began (virtual ms).
    pub start: f64,
    /// When it reached the moment its text describes; `None` while it still plays.
    pub end: Option<f64>,
    /// The session's position before the step's inputs (see [`App::position`]): stepping back
    /// to it undoes the step. `None` once a later step started a fresh run.
    pub(crate) pos: Option<u64>,
}

/// A lesson step playing out: the world runs at a pace that shows its span in about
/// [`STEP_PLAY_MS`] of real time, and stops the moment `until` holds.
#[derive(Clone, Copy)]
struct Playing {
    until: fn(&Sim) -> bool,
    /// Virtual ms per real ms.
    pace: f64,
}

/// Real time a lesson step takes to play out (ms).
pub const STEP_PLAY_MS: f64 = 3_000.0;

/// The page's state.
pub struct App {
    /// The setup and every input so far.
    pub session: Session,
    /// The world after them.
    pub sim: Sim,
    /// Messages, log and movement read from the trace.
    pub journal: Journal,
    placement: Placement,
    /// The journal's placement version the placement was computed for (a rebuilt world starts
    /// a new journal, so a rebuild forgets it).
    placement_for: u64,
    /// The virtual time the views are drawn at (ms, between events while playing).
    pub shown: f64,
    /// Whether time runs by itself.
    pub playing: bool,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    /// Under the pointer.
    pub hover: Option<Focus>,
    /// Clicked.
    pub selected: Option<Focus>,
    /// The lesson being followed.
    pub lesson: Option<LessonRun>,
    /// Why the last command was refused.
    pub refusal: Option<String>,
    /// What the last command confirmed (a share link is ready): a status, not an alert.
    pub notice: Option<String>,
    /// Bumped whenever the world changed, so panels redraw only then.
    pub version: u64,
    /// The lesson steps taken so far, oldest first.
    pub marks: Vec<StepMark>,
    /// The lesson step playing out, if one is.
    step_playing: Option<Playing>,
    /// The answer picked to the question of the lesson's latest step: (step, choice).
    pub answer: Option<(usize, usize)>,
}

impl App {
    /// A page replaying `session`.
    pub fn new(session: Session) -> App {
        let sim = session.setup.world();
        let mut app = App {
            session,
            sim,
            journal: Journal::default(),
            placement: Placement::default(),
            placement_for: u64::MAX,
            shown: 0.0,
            playing: false,
            speed: 2,
            hover: None,
            selected: None,
            lesson: None,
            refusal: None,
            notice: None,
            version: 0,
            marks: Vec::new(),
            step_playing: None,
            answer: None,
        };
        app.rebuild();
        app
    }

    /// The ring as the current view places it (recomputed only after the world changed).
    pub fn placement(&mut self) -> &Placement {
        let at = self.journal.placement_version;
        if self.placement_for != at {
            self.placement = Placement::of(&self.sim);
            self.placement_for = at;
        }
        &self.placement
    }

    /// The placement as last computed by [`App::placement`], without recomputing.
    pub fn placement_cached(&self) -> &Placement {
        &self.placement
    }

    fn changed(&mut self) {
        self.journal.absorb(&self.sim);
        self.version += 1;
    }

    /// Gives the world one input and records it.
    pub fn input(&mut self, input: Input) {
        self.refusal = None;
        apply(&mut self.sim, &input);
        self.session.record(input);
        self.changed();
        self.shown = self.shown.max(self.sim.now().0 as f64);
    }

    /// Does `action` now.
    pub fn act(&mut self, action: Action) {
        self.input(Input::Act { action });
    }

    /// Handles the next event; the views jump to its time.
    pub fn step(&mut self) -> bool {
        let before = self.sim.steps();
        self.input(Input::Steps { n: 1 });
        self.shown = self.sim.now().0 as f64;
        self.sim.steps() > before
    }

    /// Runs the world for `ms` of virtual time.
    pub fn run_for(&mut self, ms: u64) {
        let until = Time(self.sim.now().0 + ms);
        self.run_to(until, &mut || false);
        self.shown = until.0 as f64;
    }

    /// Runs until `done` holds (checked after every event) or `ms` of virtual time passed;
    /// returns whether it held.
    pub fn run_until(&mut self, ms: u64, done: impl Fn(&Sim) -> bool) -> bool {
        let limit = Time(self.sim.now().0 + ms);
        if !done(&self.sim) {
            let journal = &mut self.journal;
            session::run_until(&mut self.sim, &mut self.session, limit, |sim| {
                journal.absorb(sim);
                !done(sim)
            });
            self.changed();
        }
        self.shown = self.sim.now().0 as f64;
        done(&self.sim)
    }

    /// Steps to `until` unless `out_of_time` says stop first; returns whether it got there.
    fn run_to(&mut self, until: Time, out_of_time: &mut dyn FnMut() -> bool) -> bool {
        let journal = &mut self.journal;
        let mut stopped = false;
        let taken = session::run_until(&mut self.sim, &mut self.session, until, |sim| {
            journal.absorb(sim);
            stopped = out_of_time();
            !stopped
        });
        if taken > 0 {
            self.changed();
        }
        !stopped
    }

    /// One animation frame of `real_ms` real time: while playing, the world runs at the
    /// chosen speed and messages glide between sender and receiver. When a burst of events
    /// would take longer than the frame allows (`out_of_time`), virtual time falls behind
    /// instead: the picture stays smooth and catches up after the burst.
    pub fn tick(&mut self, real_ms: f64, out_of_time: &mut dyn FnMut() -> bool) {
        if let Some(step) = self.step_playing {
            self.play_step(step, real_ms, out_of_time);
            return;
        }
        if !self.playing {
            return;
        }
        // A long pause of the tab must not turn into a huge jump.
        let virtual_ms = real_ms.min(100.0) * SPEEDS[self.speed];
        let target = self.shown + virtual_ms;
        if !self.run_to(Time(target as u64), out_of_time) {
            self.shown = self.shown.max(self.sim.now().0 as f64);
            return;
        }
        self.shown = target;
    }

    /// Takes back the last event (or the last command): the world is rebuilt from the seed by
    /// replaying everything before it.
    pub fn back(&mut self) -> bool {
        if !self.session.take_back() {
            return false;
        }
        self.step_playing = None;
        let at = self.position();
        while self.marks.last().is_some_and(|m| m.pos.is_some_and(|p| at <= p)) {
            self.marks.pop();
        }
        if let Some(run) = &mut self.lesson {
            run.done = run.done.min(self.marks.len());
        }
        self.rebuild();
        true
    }

    /// How far the session has come: inputs recorded plus events stepped. Taking back any input
    /// lowers it, and a session back at an earlier position is the same as it was then.
    pub fn position(&self) -> u64 {
        self.session.inputs.len() as u64 + self.session.steps()
    }

    /// Starts over with `setup`.
    pub fn reset(&mut self, setup: Setup) -> Result<(), String> {
        setup.check()?;
        self.session = Session::new(setup);
        self.lesson = None;
        self.marks.clear();
        self.step_playing = None;
        self.rebuild();
        Ok(())
    }

    /// Starts a fresh run with `setup` inside the lesson being followed: its steps so far stay
    /// marked, but can no longer be stepped back into.
    pub fn reset_within_lesson(&mut self, setup: Setup) -> Result<(), String> {
        let (lesson, mut marks) = (self.lesson, std::mem::take(&mut self.marks));
        self.reset(setup)?;
        for mark in &mut marks {
            mark.pos = None;
        }
        (self.lesson, self.marks) = (lesson, marks);
        Ok(())
    }

    /// Replaces the session (an opened link or an imported file) and replays it.
    pub fn load(&mut self, session: Session) -> Result<(), String> {
        session.check()?;
        self.session = session;
        self.lesson = None;
        self.marks.clear();
        self.step_playing = None;
        self.rebuild();
        Ok(())
    }

    fn rebuild(&mut self) {
        // The journal reads the world after every event: the movement chart's minimum needs
        // the keys as they were at each view change, not at the end.
        let mut journal = Journal::default();
        self.sim = self.session.replay_keeping(TRACE_KEPT, |sim| journal.absorb(sim));
        self.journal = journal;
        self.placement_for = u64::MAX;
        self.playing = false;
        self.refusal = None;
        self.changed();
        self.shown = self.sim.now().0 as f64;
        // A selection the rebuilt world has no such thing for goes: the inspector would say
        // "no such node", and a node started later under that name would be picked unasked.
        let gone = match &self.selected {
            Some(Focus::Message(id)) => !self.journal.messages.contains_key(id),
            Some(Focus::Node(addr)) => !model::lanes(&self.sim).iter().any(|(a, _)| a == addr),
            _ => false,
        };
        if gone {
            self.selected = None;
        }
    }

    /// Drops, delays or duplicates a message still in flight.
    pub fn tamper(&mut self, id: u64, how: Tamper) {
        if !self.sim.in_flight().iter().any(|m| m.id == id) {
            self.refusal = Some(format!("message {id} is no longer in flight"));
            return;
        }
        self.input(Input::Tamper { id, how });
    }

    /// Arms a client to crash the moment it would send its decision (for `tx`, or any).
    pub fn crash_coordinator(&mut self, client: Addr, tx: Option<TxId>) {
        self.act(Action::CrashCoordinator { client, tx });
    }

    /// The trace hash of the run so far: equal runs have equal hashes on every target.
    pub fn trace_hash(&self) -> String {
        self.sim.trace().hash()
    }

    /// Starts lesson `n` from its own setup.
    pub fn start_lesson(&mut self, n: usize) -> Result<(), String> {
        let lesson = lessons::LESSONS.get(n).ok_or_else(|| format!("there is no lesson {}", n + 1))?;
        self.reset(lesson.setup())?;
        self.lesson = Some(LessonRun { lesson: n, done: 0 });
        Ok(())
    }

    /// The lesson being followed, and how many of its steps were started.
    pub fn current_lesson(&self) -> Option<(&'static Lesson, usize)> {
        self.lesson.map(|run| (lessons::LESSONS[run.lesson], run.done))
    }

    /// Opens a shared run that was following lesson `n`, `done` steps in: the lesson is walked
    /// again to that point, and when that gives the very same run the lesson goes on from
    /// there, narrated and with its step marks. A run that went its own way after the lesson is
    /// replayed as it is, with the text of the step it was shared at.
    pub fn open_lesson(&mut self, session: Session, n: usize, done: usize) -> Result<(), String> {
        let lesson =
            lessons::LESSONS.get(n).ok_or_else(|| format!("the link names lesson {}, which does not exist", n + 1))?;
        if done > lesson.steps.len() {
            return Err(format!("the link names step {done} of lesson {}, which has {}", n + 1, lesson.steps.len()));
        }
        self.start_lesson(n)?;
        for _ in 0..done {
            self.lesson_step_now();
        }
        if self.session == session {
            return Ok(());
        }
        self.load(session)?;
        self.lesson = Some(LessonRun { lesson: n, done });
        Ok(())
    }

    /// Whether a lesson step is still playing out.
    pub fn step_in_progress(&self) -> bool {
        self.step_playing.is_some()
    }

    /// The lesson's next step: a step still playing finishes at once; otherwise the next step
    /// starts and plays out over the coming frames. Returns false at the end.
    pub fn lesson_next(&mut self) -> bool {
        if self.step_playing.is_some() {
            self.finish_step();
            return true;
        }
        let Some(run) = self.lesson else { return false };
        let lesson = lessons::LESSONS[run.lesson];
        let Some(step) = lesson.steps.get(run.done) else { return false };
        self.playing = false;
        let pos = self.position();
        (step.act)(self);
        // A step that started a fresh run cannot be stepped back out of.
        let pos = (self.position() >= pos && self.marks.iter().all(|m| m.pos.is_some())).then_some(pos);
        let start = self.sim.now().0 as f64;
        self.marks.push(StepMark { title: step.title, start, end: None, pos });
        self.lesson = Some(LessonRun { done: run.done + 1, ..run });
        let span = self.span_of(step.until);
        self.step_playing = Some(Playing { until: step.until, pace: (span / STEP_PLAY_MS).max(1e-4) });
        if span == 0.0 {
            self.finish_step();
        }
        true
    }

    /// Answers the question of the lesson's next step with `choice`, then plays the step.
    pub fn lesson_answer(&mut self, choice: usize) -> bool {
        let Some(run) = self.lesson else { return false };
        if self.step_playing.is_some() || lessons::LESSONS[run.lesson].steps.get(run.done).is_none() {
            return false;
        }
        self.answer = Some((run.done, choice));
        self.lesson_next()
    }

    /// Starts the next step and plays it to its moment at once (tests, and a link that opens a
    /// lesson part way).
    pub fn lesson_step_now(&mut self) -> bool {
        let more = self.lesson_next();
        if self.step_playing.is_some() {
            self.finish_step();
        }
        more
    }

    /// How much virtual time the step ending at `until` spans from now: a copy of the world,
    /// rebuilt from the session, is run ahead to find out.
    fn span_of(&self, until: fn(&Sim) -> bool) -> f64 {
        let mut ahead = self.session.replay();
        let from = ahead.now();
        ahead.run_while_not(Time(from.0 + lessons::PATIENCE_MS), until);
        (ahead.now().0 - from.0) as f64
    }

    /// One frame of a step playing out.
    fn play_step(&mut self, step: Playing, real_ms: f64, out_of_time: &mut dyn FnMut() -> bool) {
        let target = self.shown + real_ms.min(100.0) * step.pace;
        let journal = &mut self.journal;
        let taken = session::run_until(&mut self.sim, &mut self.session, Time(target as u64), |sim| {
            journal.absorb(sim);
            !(step.until)(sim) && !out_of_time()
        });
        if taken > 0 {
            self.changed();
        }
        let patience = self.marks.last().map_or(0.0, |m| m.start) + lessons::PATIENCE_MS as f64;
        if (step.until)(&self.sim) || target >= patience {
            self.finish_step();
        } else {
            self.shown = target.max(self.sim.now().0 as f64);
        }
    }

    /// Plays the current step to its moment now, and selects what its text is about.
    fn finish_step(&mut self) {
        let Some(step) = self.step_playing.take() else { return };
        self.run_until(lessons::PATIENCE_MS, step.until);
        let now = self.sim.now().0 as f64;
        if let Some(mark) = self.marks.last_mut() {
            mark.end = Some(now);
        }
        if let Some((lesson, done)) = self.current_lesson() {
            if let Some(focus) = (lesson.steps[done - 1].focus)() {
                self.selected = Some(focus);
            }
        }
        self.version += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stepping_back_lands_on_the_world_before_the_last_event() {
        let mut app = App::new(Session::new(Setup::default()));
        for _ in 0..30 {
            app.step();
        }
        let hash_30 = app.trace_hash();
        app.step();
        assert_ne!(app.trace_hash(), hash_30);
        assert!(app.back());
        assert_eq!(app.trace_hash(), hash_30);
        assert_eq!(app.sim.steps(), 30);
    }

    #[test]
    fn a_fresh_world_forgets_a_selected_node_it_does_not_have() {
        let mut app = App::new(Session::new(Setup { servers: 4, ..Setup::default() }));
        app.selected = Some(Focus::Node(Addr::from("s4")));
        app.reset(Setup { servers: 4, ..Setup::default() }).unwrap();
        assert_eq!(app.selected, Some(Focus::Node(Addr::from("s4"))), "s4 is still there");
        app.reset(Setup { servers: 3, ..Setup::default() }).unwrap();
        assert_eq!(app.selected, None, "no s4 in a world of three servers");
    }

    #[test]
    fn a_rebuilt_world_charts_view_changes_as_they_happened() {
        let mut app = App::new(Session::new(Setup::default()));
        app.run_until(5_000, crate::lessons::idle);
        app.act(Action::setr(Addr::from("c1"), "x".into(), "v".into()));
        app.run_until(5_000, crate::lessons::idle);
        app.act(Action::AddServer);
        app.run_until(5_000, crate::lessons::idle);
        let live = app.journal.moves.clone();
        assert_eq!(live.len(), 1, "forming the first view moved nothing; the join moved x: {live:?}");
        app.step();
        assert!(app.back());
        assert_eq!(app.journal.moves, live);
        // So does a page opened on the run's link.
        assert_eq!(App::new(app.session.clone()).journal.moves, live);
    }

    #[test]
    fn play_advances_at_the_chosen_speed_and_records_steps() {
        let mut app = App::new(Session::new(Setup::default()));
        app.playing = true;
        app.speed = 4; // real time
        for _ in 0..60 {
            app.tick(16.0, &mut || false);
        }
        assert!((app.shown - 960.0).abs() < 1e-6, "{}", app.shown);
        assert!(app.sim.now().0 <= 960);
        assert!(app.sim.steps() > 10);
        // The recorded session replays to the same world.
        assert_eq!(app.session.replay().trace().hash(), app.trace_hash());
    }

    #[test]
    fn a_frame_out_of_time_lets_virtual_time_fall_behind() {
        let mut app = App::new(Session::new(Setup::default()));
        app.playing = true;
        app.speed = 6;
        let mut budget = 3;
        app.tick(16.0, &mut || {
            budget -= 1;
            budget == 0
        });
        assert_eq!(app.sim.steps(), 3, "stopped after the third event");
        assert_eq!(app.shown, app.sim.now().0 as f64, "the picture waits where the world is");
        assert_eq!(app.session.replay().trace().hash(), app.trace_hash());
    }

    #[test]
    fn tampering_with_a_delivered_message_is_refused_with_a_reason() {
        let mut app = App::new(Session::new(Setup::default()));
        app.run_until(1_000, |s| !s.in_flight().is_empty() && s.deliveries() > 0);
        let delivered = app
            .journal
            .messages
            .values()
            .find(|m| matches!(m.fate, crate::model::Fate::Delivered(_)))
            .expect("messages flowed")
            .id;
        app.tamper(delivered, Tamper::Drop);
        assert!(app.refusal.as_deref().is_some_and(|r| r.contains("no longer in flight")));
        let inputs = app.session.inputs.len();
        let flying = app.sim.in_flight()[0].id;
        app.tamper(flying, Tamper::Drop);
        assert_eq!(app.refusal, None);
        assert_eq!(app.session.inputs.len(), inputs + 1);
    }

    #[test]
    fn a_link_shared_inside_a_lesson_opens_narrated_at_its_step() {
        let mut shared = crate::testing::lesson_after(3, 2);
        let mut opened = App::new(Session::default());
        opened.open_lesson(shared.session.clone(), 3, 2).unwrap();
        assert_eq!(opened.lesson, shared.lesson);
        assert_eq!(opened.marks, shared.marks);
        assert_eq!(opened.trace_hash(), shared.trace_hash());
        // A run that left the lesson's path keeps its own inputs and the step's text.
        shared.act(Action::AddServer);
        opened.open_lesson(shared.session.clone(), 3, 2).unwrap();
        assert_eq!(opened.session, shared.session);
        assert_eq!(opened.lesson.map(|l| l.done), Some(2));
        assert!(opened.open_lesson(shared.session.clone(), 3, 9).unwrap_err().contains("has 5"));
        assert!(opened.open_lesson(shared.session.clone(), 70, 1).is_err());
    }

    #[test]
    fn a_run_too_long_to_replay_is_refused_and_the_page_keeps_its_own() {
        let mut app = App::new(Session::new(Setup::default()));
        app.run_for(500);
        let hash = app.trace_hash();
        let mut long = Session::new(Setup::default());
        long.record(Input::Steps { n: 1_000_000_000_000 });
        let refusal = app.load(long).unwrap_err();
        assert!(refusal.contains(&format!("at most {} events", session::MAX_STEPS)), "{refusal}");
        assert_eq!(app.trace_hash(), hash);
    }

    #[test]
    fn reset_refuses_a_setup_it_cannot_show() {
        let mut app = App::new(Session::new(Setup::default()));
        assert!(app.reset(Setup { servers: 100, ..Setup::default() }).is_err());
        assert!(app.reset(Setup { seed: 5, servers: 4, ..Setup::default() }).is_ok());
        assert_eq!(app.sim.servers().count(), 4);
    }
}
