//! The three things the page can show, each a [`Scene`]: the simulator (the page's [`App`]), a
//! live cluster driven through its sockets, and a replay of a cluster's events files. A mode is
//! one of them at a time, so a connection and a replay never coexist.

use ringside_core::ring::Ring;
use ringside_core::{Addr, ServerId};

use crate::app::{App, StepMark};
use crate::live::{Live, CLIENTS};
use crate::model::{self, Journal, Placement};
use crate::panels::{self, Link};
use crate::remote::Remote;
use crate::replay::Replay;
use crate::scene::{Copies, HeldCopy, KeyFacts, NodeFacts, Scene, Source};
use crate::timers::Clocks;

/// The diagram's moment sits this far (live clock units) past the latest message or event.
const LIVE_MARGIN: f64 = 20.0;

/// What the page shows. The simulator's state lives on in the page while another mode is
/// shown, and comes back as it was when that mode is left.
pub enum Mode {
    /// The simulator.
    Sim,
    /// A real cluster, connected to.
    Live(Box<RealCluster<Remote>>),
    /// A real cluster's events files, replayed.
    Replay(Box<RealCluster<Replay>>),
}

impl Mode {
    /// The mode's name in the header.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Sim => "simulator",
            Mode::Live(_) => "live cluster",
            Mode::Replay(_) => "replay of a real cluster",
        }
    }

    /// The scene to draw: the simulator's `app`, or the mode's own.
    pub fn scene<'a>(&'a mut self, app: &'a mut App) -> &'a mut dyn Scene {
        match self {
            Mode::Sim => app,
            Mode::Live(watch) => &mut **watch,
            Mode::Replay(watch) => &mut **watch,
        }
    }
}

/// A real cluster in the views: the model read from its records, and what feeds it.
pub struct RealCluster<D> {
    /// The cluster as its records show it.
    pub live: Live,
    /// The sockets to it, or the replay of its files.
    pub driver: D,
}

/// What feeds a watched cluster's model.
pub trait Driver {
    /// Takes in what arrived during a frame of `real_ms` at `speed`.
    fn advance(&mut self, live: &mut Live, real_ms: f64, speed: f64);
    /// Whether time runs by itself.
    fn playing(&self) -> bool {
        false
    }
    /// What the page is connected to, for the status line.
    fn link(&self) -> Link<'_>;
    /// Whether the page can have a server killed.
    fn can_kill(&self) -> bool {
        false
    }
}

impl Driver for Remote {
    fn advance(&mut self, live: &mut Live, _real_ms: f64, _speed: f64) {
        self.tick(live);
    }

    fn link(&self) -> Link<'_> {
        Link {
            connected: true,
            admin: self.has_admin() || self.admin_error.is_some(),
            admin_error: self.admin_error.as_deref(),
            replay: None,
        }
    }

    fn can_kill(&self) -> bool {
        self.has_admin()
    }
}

impl Driver for Replay {
    fn advance(&mut self, live: &mut Live, real_ms: f64, speed: f64) {
        self.play(live, real_ms, speed);
    }

    fn playing(&self) -> bool {
        self.playing
    }

    fn link(&self) -> Link<'_> {
        Link { connected: false, admin: false, admin_error: None, replay: Some((self.done, self.total())) }
    }
}

impl<D: Driver> Scene for RealCluster<D> {
    fn advance(&mut self, real_ms: f64, speed: f64, _out_of_time: &mut dyn FnMut() -> bool) {
        self.driver.advance(&mut self.live, real_ms, speed);
    }

    fn playing(&self) -> bool {
        self.driver.playing()
    }

    fn source(&self) -> Source {
        Source::Observed
    }

    fn journal(&self) -> &Journal {
        &self.live.journal
    }

    fn placement(&mut self) -> &Placement {
        self.live.placement()
    }

    fn placement_cached(&self) -> &Placement {
        self.live.placement_cached()
    }

    fn servers_up(&self) -> Vec<ServerId> {
        self.live.servers_up()
    }

    fn lanes(&self) -> Vec<(Addr, bool)> {
        self.live.lanes()
    }

    fn moment(&self) -> f64 {
        self.live.latest.0 as f64 + LIVE_MARGIN
    }

    fn version(&self) -> Option<u64> {
        None
    }

    fn status(&self) -> String {
        panels::live_status(&self.live, &self.driver.link())
    }

    fn node(&self, name: &Addr) -> NodeFacts<'_> {
        watched_node(&self.live, name, self.driver.can_kill())
    }

    fn key(&self, key: &str) -> KeyFacts<'_> {
        watched_key(&self.live, key)
    }

    fn leadership(&self) -> Option<String> {
        self.live.leadership()
    }
}

/// What a watched cluster's records and answers tell of the node on lane `name`.
fn watched_node<'a>(live: &'a Live, name: &Addr, can_kill: bool) -> NodeFacts<'a> {
    let Some(n) = live.by_name(name) else {
        return NodeFacts::Absent(if name.as_str() == CLIENTS {
            "clients this page does not run, such as ringside client: they do not listen, so a node knows each \
             only by its connection"
        } else {
            "this page's own client: the 2PC coordinator for the commands you give"
        });
    };
    let id = n.id.clone().or_else(|| live.members.iter().find(|m| m.addr == n.name).map(|m| m.id.clone()));
    let keys = id.as_ref().and_then(|id| live.holdings.get(id)).map(Vec::as_slice);
    NodeFacts::Watched {
        node: n,
        id,
        keys,
        can_kill,
        sent: live.journal.messages.values().filter(|m| m.from == n.name).count(),
        received: live.journal.messages.values().filter(|m| m.to == n.name).count(),
    }
}

/// What a watched cluster's answers tell of `key`.
fn watched_key<'a>(live: &'a Live, key: &str) -> KeyFacts<'a> {
    let ring = Ring::new(live.members.iter().map(|m| &m.id), live.vnodes);
    let name = |id: &ServerId| live.members.iter().find(|m| &m.id == id).map_or(id.0.clone(), |m| m.addr.0.clone());
    let holders =
        live.holdings.iter().filter(|(_, keys)| keys.iter().any(|k| k == key)).map(|(id, _)| name(id)).collect();
    KeyFacts {
        epoch: live.epoch,
        replicas: ring.replicas(key, live.replicas).iter().map(|id| name(id)).collect(),
        copies: Copies::Reported(holders),
    }
}

impl RealCluster<Replay> {
    /// Reads the next record.
    pub fn step(&mut self) -> Result<(), String> {
        if !self.driver.step_once(&mut self.live) {
            return Err("the events file is over".into());
        }
        Ok(())
    }

    /// Takes the last record back.
    pub fn back(&mut self) -> Result<(), String> {
        if !self.driver.back(&mut self.live) {
            return Err("this is the start of the events file".into());
        }
        Ok(())
    }
}

impl Scene for App {
    fn leadership(&self) -> Option<String> {
        crate::replicas::leadership(&self.sim)
    }

    fn advance(&mut self, real_ms: f64, _speed: f64, out_of_time: &mut dyn FnMut() -> bool) {
        // The simulator plays at its own speed, the one the page's control set.
        self.tick(real_ms, out_of_time);
    }

    fn playing(&self) -> bool {
        self.playing || self.step_in_progress()
    }

    fn source(&self) -> Source {
        Source::Simulated
    }

    fn journal(&self) -> &Journal {
        &self.journal
    }

    fn placement(&mut self) -> &Placement {
        App::placement(self)
    }

    fn placement_cached(&self) -> &Placement {
        App::placement_cached(self)
    }

    fn placement_costly(&self) -> bool {
        self.playing
    }

    fn servers_up(&self) -> Vec<ServerId> {
        self.sim.servers().map(|(_, s)| s.id().clone()).collect()
    }

    fn lanes(&self) -> Vec<(Addr, bool)> {
        model::lanes(&self.sim)
    }

    fn moment(&self) -> f64 {
        self.shown
    }

    fn version(&self) -> Option<u64> {
        Some(self.version)
    }

    fn status(&self) -> String {
        panels::sim_status(self)
    }

    fn node(&self, name: &Addr) -> NodeFacts<'_> {
        match self.sim.nodes().get(name) {
            Some(slot) => NodeFacts::Simulated { kind: slot.kind, role: slot.role.as_ref(), sim: &self.sim },
            None => NodeFacts::Absent("no such node"),
        }
    }

    fn key(&self, key: &str) -> KeyFacts<'_> {
        let view = self.sim.view_leader().view();
        let ring = Ring::new(view.members.iter().map(|m| &m.id), self.sim.config().vnodes);
        let copies = self
            .sim
            .servers()
            .filter_map(|(lane, s)| {
                let e = s.bucket().get(key)?;
                Some(HeldCopy { lane, id: s.id(), value: &e.value, version: e.version })
            })
            .collect();
        KeyFacts {
            epoch: view.epoch.0,
            replicas: ring
                .replicas(key, self.sim.config().replicas)
                .iter()
                .map(|id| self.journal.names.server(id).to_string())
                .collect(),
            copies: Copies::Read(copies),
        }
    }

    fn clocks(&self) -> Clocks {
        Clocks::read(&self.sim, self.shown)
    }

    fn tamperable(&self, id: u64) -> bool {
        self.sim.in_flight().iter().any(|f| f.id == id)
    }

    fn marks(&self) -> &[StepMark] {
        &self.marks
    }
}
