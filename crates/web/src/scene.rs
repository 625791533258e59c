//! What the views draw from, whichever mode the page is in: the simulator, a live cluster or a
//! replay of its events files. Each mode implements [`Scene`]; the frame, the text panels and
//! the inspector read nothing else, so they are written once.

use ringside_core::{Addr, ServerId, Time, Version};
use ringside_sim::{Kind, Role, Sim};

use crate::app::StepMark;
use crate::live::{LiveNode, MS_PER_UNIT};
use crate::model::{Journal, Placement};
use crate::seq_view;
use crate::timers::Clocks;

/// The diagram's default zoom on a live cluster: pixels per unit of its clock (10 µs).
const OBSERVED_PX_PER_UNIT: f64 = 1.5;

/// Where a scene's facts come from, which says how its times are counted and worded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The simulator: virtual milliseconds, and every process's state seen from inside.
    Simulated,
    /// Real processes seen from outside through their streams: units of [`MS_PER_UNIT`]
    /// milliseconds since the first record.
    Observed,
}

impl Source {
    /// A time as the panels write it.
    pub fn when(self, t: Time) -> String {
        match self {
            Source::Simulated => format!("{:.3}s", t.0 as f64 / 1000.0),
            Source::Observed => format!("{:.2}ms", t.0 as f64 * MS_PER_UNIT),
        }
    }

    /// Milliseconds per unit of the scene's times.
    pub fn ms_per_unit(self) -> f64 {
        match self {
            Source::Simulated => 1.0,
            Source::Observed => MS_PER_UNIT,
        }
    }

    /// The diagram's zoom on entering the scene: pixels per unit of its times.
    pub fn zoom(self) -> f64 {
        match self {
            Source::Simulated => seq_view::PX_PER_MS,
            Source::Observed => OBSERVED_PX_PER_UNIT,
        }
    }
}

/// What the inspector can say of the node on a lane.
pub enum NodeFacts<'a> {
    /// A simulated process: its role's whole state, `None` once it crashed.
    Simulated {
        /// What kind of node it is.
        kind: Kind,
        /// Its role, while its process runs.
        role: Option<&'a Role>,
        /// The world it is part of.
        sim: &'a Sim,
    },
    /// A real process, as its stream and its answers show it.
    Watched {
        /// The node.
        node: &'a LiveNode,
        /// Its server id, from its hello or the view.
        id: Option<ServerId>,
        /// Its keys, from its last `query_all_keys` answer.
        keys: Option<&'a [String]>,
        /// Whether the page can have it killed (through the cluster's admin endpoint).
        can_kill: bool,
        /// Messages it sent while watched.
        sent: usize,
        /// Messages it received while watched.
        received: usize,
    },
    /// No process the page knows stands behind the lane: what the lane is, in words.
    Absent(&'static str),
}

/// What the inspector can say of a key.
pub struct KeyFacts<'a> {
    /// The view's epoch.
    pub epoch: u64,
    /// Its replicas in the view, primary first, as the page names them.
    pub replicas: Vec<String>,
    /// Its copies.
    pub copies: Copies<'a>,
}

/// The copies of a key.
pub enum Copies<'a> {
    /// Read inside every server (the simulator).
    Read(Vec<HeldCopy<'a>>),
    /// The servers that reported holding it, by name (a real cluster tells only that).
    Reported(Vec<String>),
}

/// One server's copy of a key.
pub struct HeldCopy<'a> {
    /// The server's lane.
    pub lane: &'a Addr,
    /// Its id.
    pub id: &'a ServerId,
    /// The value it holds.
    pub value: &'a str,
    /// The value's version.
    pub version: Version,
}

/// What every view draws from. The page holds one mode at a time and draws each frame from it.
pub trait Scene {
    /// Moves on by an animation frame of `real_ms` at `speed` (virtual per real millisecond):
    /// the simulator runs, stopping early when `out_of_time` says the frame is spent; a live
    /// cluster takes in what its sockets brought; a replay reads the records it reached.
    fn advance(&mut self, real_ms: f64, speed: f64, out_of_time: &mut dyn FnMut() -> bool);
    /// Whether time runs by itself (the play button then says Pause).
    fn playing(&self) -> bool;
    /// Where the facts come from.
    fn source(&self) -> Source;
    /// Messages, log, movement per view change and transactions.
    fn journal(&self) -> &Journal;
    /// The ring, recomputed if the cluster changed since it was last computed.
    fn placement(&mut self) -> &Placement;
    /// The ring as last computed.
    fn placement_cached(&self) -> &Placement;
    /// Whether recomputing the ring costs enough to do it only a few times a second now (the
    /// simulator playing through a burst reads every bucket).
    fn placement_costly(&self) -> bool {
        false
    }
    /// The servers whose process runs.
    fn servers_up(&self) -> Vec<ServerId>;
    /// The diagram's lanes, in order, each with whether its process runs.
    fn lanes(&self) -> Vec<(Addr, bool)>;
    /// The moment at the diagram's bottom, in the scene's units.
    fn moment(&self) -> f64;
    /// Bumped whenever what the panels show changed; `None` for a scene that changes all the
    /// time (a live cluster), whose panels are redrawn a few times a second.
    fn version(&self) -> Option<u64>;
    /// The header's status line, as HTML.
    fn status(&self) -> String;
    /// What is known of the node on lane `name`.
    fn node(&self, name: &Addr) -> NodeFacts<'_>;
    /// What is known of `key`.
    fn key(&self, key: &str) -> KeyFacts<'_>;
    /// The timers running at the moment drawn; none where the page cannot read them (a real
    /// cluster's processes do not report their deadlines).
    fn clocks(&self) -> Clocks {
        Clocks::default()
    }
    /// Whether message `id` is still in flight, so the learner can drop, delay or duplicate it.
    fn tamperable(&self, _id: u64) -> bool {
        false
    }
    /// The lesson steps taken, marked on the diagram's time axis (only the simulator has lessons).
    fn marks(&self) -> &[StepMark] {
        &[]
    }
    /// Who leads a replicated view leader, in a line for the ring's centre.
    fn leadership(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_writes_times_in_its_own_units() {
        assert_eq!(Source::Simulated.when(Time(1_234)), "1.234s");
        assert_eq!(Source::Observed.when(Time(1_234)), "12.34ms");
        assert_eq!(Source::Simulated.ms_per_unit(), 1.0);
        assert_eq!(Source::Observed.ms_per_unit(), MS_PER_UNIT);
    }
}
