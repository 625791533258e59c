//! A session: how a world was set up and every input given to it since, in order. Replaying
//! a session rebuilds the same world bit for bit, natively or in the browser — which is how the
//! page steps back, shares a run by URL, and proves that both targets agree.

use ringside_core::{tagged_enum, Addr, CommitProtocol, Time};
use serde::{Deserialize, Serialize};

use crate::action::{Action, Tamper};
use crate::config::SimConfig;
use crate::world::Sim;

/// The most servers or clients a session may start with (the page draws them all).
pub const MAX_NODES: usize = 64;

/// The most events a session may step in all. A link or a file is replayed before the page
/// shows it (and Back replays the run again), so its work must be bounded: a step is one
/// event, so this bounds the replay's work and how far in virtual time it runs. The page's own
/// long runs (the memory test's million events) stay within it.
pub const MAX_STEPS: u64 = 1_000_000;

/// The most inputs (actions, step counts, tampers) a session may hold.
pub const MAX_INPUTS: usize = 100_000;

/// How a session's world starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// Fixes every random choice.
    pub seed: u64,
    /// Servers started at time zero.
    pub servers: usize,
    /// Clients started at time zero.
    pub clients: usize,
    /// Virtual nodes per server.
    pub vnodes: u32,
    /// How the servers decide a transaction whose coordinator went silent.
    #[serde(default)]
    pub commit: CommitProtocol,
    /// View-leader replicas: 1 is the course's lone view leader; 3 or 5 replicate it with Raft.
    #[serde(default = "lone")]
    pub view_leaders: usize,
}

fn lone() -> usize {
    1
}

impl Default for Setup {
    fn default() -> Self {
        Setup { seed: 1, servers: 3, clients: 2, vnodes: 1, commit: CommitProtocol::default(), view_leaders: 1 }
    }
}

impl Setup {
    /// Refuses setups the page cannot show.
    pub fn check(&self) -> Result<(), String> {
        if self.servers > MAX_NODES || self.clients > MAX_NODES {
            return Err(format!("at most {MAX_NODES} servers and {MAX_NODES} clients"));
        }
        if !(1..=64).contains(&self.vnodes) {
            return Err("virtual nodes per server must be between 1 and 64".into());
        }
        if !matches!(self.view_leaders, 1 | 3 | 5) {
            return Err("the view leader runs as 1, 3 or 5 replicas".into());
        }
        Ok(())
    }

    /// A fresh world for this setup.
    pub fn world(&self) -> Sim {
        let mut config = SimConfig::new(self.seed);
        config.vnodes = self.vnodes;
        config.commit = self.commit;
        config.view_leaders = self.view_leaders;
        Sim::with_cluster(config, self.servers, self.clients)
    }
}

tagged_enum! {
    /// One input to a world.
    #[tag = "input", twin = InputTwin, decoded_from_value]
    pub enum Input {
        /// Something done to the world.
        Act {
            /// The action.
            action: Action,
        },
        /// Handle the next `n` events (deliveries, timers, scheduled actions).
        Steps {
            /// How many.
            n: u64,
        },
        /// Drop, delay or duplicate one message in flight.
        Tamper {
            /// The message's number.
            id: u64,
            /// What to do to it.
            how: Tamper,
        },
    }
}

/// A setup and its inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// How the world starts.
    pub setup: Setup,
    /// Every input since, in order.
    pub inputs: Vec<Input>,
}

impl Session {
    /// A session with no inputs yet.
    pub fn new(setup: Setup) -> Self {
        Session { setup, inputs: Vec::new() }
    }

    /// Records `input`; consecutive steps are kept as one count.
    pub fn record(&mut self, input: Input) {
        match (self.inputs.last_mut(), &input) {
            (Some(Input::Steps { n }), Input::Steps { n: more }) => *n += more,
            (_, Input::Steps { n: 0 }) => {}
            _ => self.inputs.push(input),
        }
    }

    /// Forgets the last event stepped, or the last input if it was not a step. Returns false
    /// when there is nothing to take back.
    pub fn take_back(&mut self) -> bool {
        match self.inputs.last_mut() {
            Some(Input::Steps { n }) if *n > 1 => *n -= 1,
            Some(_) => {
                self.inputs.pop();
            }
            None => return false,
        }
        true
    }

    /// How many events have been stepped in all.
    pub fn steps(&self) -> u64 {
        self.inputs.iter().fold(0, |sum, i| if let Input::Steps { n } = i { sum.saturating_add(*n) } else { sum })
    }

    /// Refuses sessions the page cannot replay: a setup it cannot show, or more inputs or
    /// events than it replays in seconds ([`MAX_INPUTS`], [`MAX_STEPS`]).
    pub fn check(&self) -> Result<(), String> {
        self.setup.check()?;
        if self.inputs.len() > MAX_INPUTS {
            return Err(format!("a run may hold at most {MAX_INPUTS} inputs; this one holds {}", self.inputs.len()));
        }
        let steps = self.steps();
        if steps > MAX_STEPS {
            return Err(format!("a run may step at most {MAX_STEPS} events; this one steps {steps}"));
        }
        Ok(())
    }

    /// The world after every input.
    pub fn replay(&self) -> Sim {
        self.replay_watching(|_| {})
    }

    /// The world after every input, calling `watch` on the fresh world and after every action
    /// and every single step (an observer that reads the world as it was at each event, as the
    /// page's charts do).
    pub fn replay_watching(&self, watch: impl FnMut(&Sim)) -> Sim {
        self.replay_keeping(usize::MAX, watch)
    }

    /// As [`Session::replay_watching`], the world holding at most the newest `trace_kept`
    /// trace entries ([`Sim::keep_trace`]): the same world and hash in bounded memory.
    pub fn replay_keeping(&self, trace_kept: usize, mut watch: impl FnMut(&Sim)) -> Sim {
        let mut sim = self.setup.world();
        sim.keep_trace(trace_kept);
        watch(&sim);
        for input in &self.inputs {
            match input {
                Input::Steps { n } => {
                    for _ in 0..*n {
                        if !sim.step() {
                            break;
                        }
                        watch(&sim);
                    }
                }
                other => {
                    apply(&mut sim, other);
                    watch(&sim);
                }
            }
        }
        sim
    }
}

/// Reads a session from JSON: either a bare session or an exported trace file that holds one
/// under `session`. Says in one line what is wrong otherwise.
pub fn parse(text: &str) -> Result<Session, String> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a Ringside session: {e}"))?;
    if let Some(inner) = value.get_mut("session") {
        value = inner.take();
    }
    let session: Session = serde_json::from_value(value).map_err(|e| format!("not a Ringside session: {e}"))?;
    session.check()?;
    Ok(session)
}

/// Gives `input` to `sim`. Returns how many events were stepped (fewer than asked when the
/// world ran out of things to do).
pub fn apply(sim: &mut Sim, input: &Input) -> u64 {
    match input {
        Input::Act { action } => {
            sim.act(action.clone());
            0
        }
        Input::Steps { n } => (0..*n).take_while(|_| sim.step()).count() as u64,
        Input::Tamper { id, how } => {
            sim.tamper(*id, *how);
            0
        }
    }
}

/// Steps until virtual time `until` (events due then included), calling `after_step` after
/// each, and records the steps; returns how many were taken. Stops early when `after_step`
/// says so, so that a busy world cannot hold up the page.
pub fn run_until(sim: &mut Sim, session: &mut Session, until: Time, mut after_step: impl FnMut(&Sim) -> bool) -> u64 {
    let mut taken = 0;
    while sim.next_due().is_some_and(|due| due <= until) {
        if !sim.step() {
            break;
        }
        taken += 1;
        if !after_step(sim) {
            break;
        }
    }
    session.record(Input::Steps { n: taken });
    taken
}

/// The address of server `n` (1-based) as the world names it.
pub fn server(n: usize) -> Addr {
    Addr(format!("s{n}"))
}

/// The address of client `n` (1-based) as the world names it.
pub fn client(n: usize) -> Addr {
    Addr(format!("c{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy_session() -> Session {
        let mut s = Session::new(Setup { seed: 9, ..Setup::default() });
        s.record(Input::Steps { n: 40 });
        s.record(Input::Act { action: Action::setr(client(1), "k".into(), "v".into()) });
        s.record(Input::Steps { n: 25 });
        s.record(Input::Steps { n: 25 });
        s
    }

    #[test]
    fn consecutive_steps_merge_and_zero_steps_vanish() {
        let mut s = busy_session();
        assert_eq!(s.inputs.len(), 3);
        assert_eq!(s.inputs[2], Input::Steps { n: 50 });
        s.record(Input::Steps { n: 0 });
        assert_eq!(s.inputs.len(), 3);
        assert_eq!(s.steps(), 90);
    }

    #[test]
    fn replay_is_deterministic_and_take_back_undoes_one_event() {
        let s = busy_session();
        let a = s.replay();
        let b = s.replay();
        assert_eq!(a.trace().hash(), b.trace().hash());
        assert_eq!(a.steps(), s.steps());

        let mut back = s.clone();
        assert!(back.take_back());
        let before = back.replay();
        assert_eq!(before.steps() + 1, a.steps());
        // Stepping the one event again lands on the same world.
        let mut again = back.clone();
        again.record(Input::Steps { n: 1 });
        assert_eq!(again.replay().trace().hash(), a.trace().hash());
    }

    #[test]
    fn take_back_removes_whole_inputs_then_stops() {
        let mut s = Session::new(Setup::default());
        s.record(Input::Act { action: Action::AddServer });
        s.record(Input::Steps { n: 1 });
        assert!(s.take_back());
        assert_eq!(s.inputs, vec![Input::Act { action: Action::AddServer }]);
        assert!(s.take_back());
        assert!(!s.take_back());
    }

    #[test]
    fn a_session_survives_json() {
        let mut s = busy_session();
        s.record(Input::Tamper { id: 3, how: Tamper::Delay(50) });
        let text = serde_json::to_string(&s).expect("serializes");
        let back: Session = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, s);
        assert_eq!(back.replay().trace().hash(), s.replay().trace().hash());
    }

    #[test]
    fn the_coordinator_trap_crashes_a_client_with_its_decision_unsent() {
        let mut s = Session::new(Setup { seed: 3, ..Setup::default() });
        let mut sim = s.replay();
        run_until(&mut sim, &mut s, Time(1_000), |_| true);
        for action in
            [Action::CrashCoordinator { client: client(1), tx: None }, Action::setr(client(1), "x".into(), "1".into())]
        {
            let input = Input::Act { action };
            apply(&mut sim, &input);
            s.record(input);
        }
        run_until(&mut sim, &mut s, Time(1_300), |_| true);
        assert!(sim.clients().all(|(a, _)| *a != client(1)), "c1 crashed");
        let prepared: usize = sim.servers().map(|(_, srv)| srv.pending().count()).sum();
        assert_eq!(prepared, 3, "every participant is left prepared");
        assert!(sim.traps().is_empty());
        assert_eq!(s.replay().trace().hash(), sim.trace().hash());
    }

    #[test]
    fn parse_takes_bare_and_exported_sessions_and_explains_the_rest() {
        let s = busy_session();
        let bare = serde_json::to_string(&s).expect("serializes");
        assert_eq!(parse(&bare), Ok(s.clone()));
        let exported = format!(r#"{{"hash":"ab","session":{bare},"trace":[]}}"#);
        assert_eq!(parse(&exported), Ok(s));
        assert!(parse("{").unwrap_err().starts_with("not a Ringside session"));
        let wrong = r#"{"setup":{"seed":1,"servers":3,"clients":1,"vnodes":1},"inputs":[{"input":"fly"}]}"#;
        assert!(parse(wrong).unwrap_err().contains("fly"));
        let big = r#"{"setup":{"seed":1,"servers":300,"clients":1,"vnodes":1},"inputs":[]}"#;
        assert!(parse(big).unwrap_err().contains("at most"));
    }

    #[test]
    fn runs_too_long_to_replay_are_refused_naming_the_limit() {
        let mut s = busy_session();
        assert_eq!(s.check(), Ok(()));
        s.record(Input::Steps { n: MAX_STEPS });
        let refusal = s.check().unwrap_err();
        assert_eq!(refusal, format!("a run may step at most {MAX_STEPS} events; this one steps {}", MAX_STEPS + 90));
        // Counts past u64 saturate instead of wrapping round to a small number.
        let huge = Session {
            inputs: vec![Input::Steps { n: u64::MAX }, Input::Act { action: Action::Heal }, Input::Steps { n: 5 }],
            ..busy_session()
        };
        assert_eq!(huge.steps(), u64::MAX);
        assert!(huge.check().unwrap_err().contains("at most"));
        let link =
            r#"{"setup":{"seed":1,"servers":3,"clients":1,"vnodes":1},"inputs":[{"input":"steps","n":1000000000000}]}"#;
        assert!(parse(link).unwrap_err().contains(&format!("at most {MAX_STEPS} events")));
        let many = Session { inputs: vec![Input::Act { action: Action::Heal }; MAX_INPUTS + 1], ..busy_session() };
        assert!(many.check().unwrap_err().contains(&format!("at most {MAX_INPUTS} inputs")));
        let bad_setup = Session::new(Setup { vnodes: 65, ..Setup::default() });
        assert!(bad_setup.check().unwrap_err().contains("virtual nodes"));
    }

    #[test]
    fn a_replay_keeping_few_trace_entries_reaches_the_same_world() {
        let s = busy_session();
        let (all, kept) = (s.replay(), s.replay_keeping(16, |_| {}));
        assert_eq!(kept.trace().hash(), all.trace().hash());
        assert_eq!(kept.trace().len(), all.trace().len());
        assert!(kept.trace().entries().len() <= 16);
        assert_eq!(kept.steps(), all.steps());
    }

    #[test]
    fn setups_the_page_cannot_show_are_refused() {
        assert!(Setup::default().check().is_ok());
        assert!(Setup { servers: 65, ..Setup::default() }.check().is_err());
        assert!(Setup { vnodes: 0, ..Setup::default() }.check().is_err());
    }
}
