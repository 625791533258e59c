//! Runs the page's commands: a button's `data-cmd` and `data-arg` are parsed once into a
//! [`PageCmd`], which goes to the mode shown — the simulator, a live cluster or a replay. A
//! refusal is shown under the controls, and so is a confirmation, in a calmer style.

use ringside_core::Addr;
use ringside_sim::{Action, Input, Setup};

use crate::command::{self, PageCmd};
use crate::live::Live;
use crate::modes::{Mode, RealCluster};
use crate::page::Page;
use crate::remote::Remote;

impl Page {
    /// A button was clicked.
    pub(crate) fn click(&mut self, cmd: &str, arg: &str) {
        match PageCmd::parse(cmd, arg, &|id| self.input_value(id)) {
            Ok(cmd) => self.run(cmd),
            Err(reason) => {
                self.app.refusal = Some(reason);
                self.drawn = None;
            }
        }
    }

    /// Runs one command in the mode shown.
    pub(crate) fn run(&mut self, cmd: PageCmd) {
        // A confirmation is about the command that gave it only.
        self.app.notice = None;
        let result = match cmd {
            PageCmd::Connect => self.connect(),
            PageCmd::Disconnect => {
                self.leave_live();
                Ok(())
            }
            cmd => match self.mode {
                Mode::Sim => self.simulator(cmd),
                Mode::Live(_) => self.live(cmd),
                Mode::Replay(_) => self.replay(cmd),
            },
        };
        if let Err(reason) = result {
            self.app.refusal = Some(reason);
        } else if !matches!(self.mode, Mode::Sim) {
            self.app.refusal = None;
        }
        self.drawn = None;
    }

    /// Connects to the cluster the live fields name.
    fn connect(&mut self) -> Result<(), String> {
        let list = self.input_value("live-vl");
        let vls: Vec<Addr> = list.split(',').map(|a| Addr(a.trim().to_string())).collect();
        if let Some(bad) = vls.iter().find(|a| a.0.is_empty() || !a.0.contains(':')) {
            return Err(format!(
                "the view leader's address must be HOST:PORT, or its replicas' joined by commas, not “{}”",
                bad.0
            ));
        }
        let replicas = self.number("live-replicas", "replicas", 1..=16)? as usize;
        let vnodes = self.number("live-vnodes", "virtual nodes", 1..=64)? as u32;
        let admin = self.input_value("live-admin").trim().to_string();
        let token = self.input_value("live-token").trim().to_string();
        let key = self.input_value("live-key").trim().to_string();
        if !admin.is_empty() && token.is_empty() {
            return Err("the admin endpoint needs the token `ringside cluster` printed".into());
        }
        self.leave_live();
        let mut live = Live::new(vls, replicas, vnodes);
        let admin = (!admin.is_empty()).then_some((admin.as_str(), token.as_str()));
        let key = (!key.is_empty()).then_some(key.as_str());
        let remote = Remote::connect(&mut live, admin, key, js_sys::Math::random().to_bits())?;
        self.enter(Mode::Live(Box::new(RealCluster { live, driver: remote })));
        Ok(())
    }

    /// A command while the simulator is shown.
    fn simulator(&mut self, cmd: PageCmd) -> Result<(), String> {
        let app = &mut self.app;
        match cmd {
            PageCmd::Step => {
                app.playing = false;
                if !app.step() {
                    return Err("nothing left to happen".into());
                }
            }
            PageCmd::Back => {
                if !app.back() {
                    return Err("this is the start of the run".into());
                }
            }
            PageCmd::Play if app.step_in_progress() => {
                return Err("a lesson step is playing out: Next step jumps to the moment it describes".into())
            }
            PageCmd::Play => app.playing = !app.playing,
            PageCmd::AddServer => app.act(Action::AddServer),
            PageCmd::AddClient => app.act(Action::AddClient),
            PageCmd::Load => {
                let count = self.number("load-count", "the number of keys", 1..=5_000)? as usize;
                let clients: Vec<Addr> = self.app.sim.clients().map(|(a, _)| a.clone()).collect();
                if clients.is_empty() {
                    return Err("there is no live client: add one first".into());
                }
                let first = self.app.placement().keys.len();
                for i in 0..count {
                    let client = clients[i % clients.len()].clone();
                    let key = format!("k{:04}", first + i);
                    self.app.act(Action::setr(client, key, format!("v{}", first + i)));
                }
            }
            PageCmd::Reset => {
                let setup = Setup {
                    seed: self.number("seed", "the seed", 0..=u64::MAX)?,
                    servers: self.number("servers", "servers", 0..=64)? as usize,
                    clients: self.number("clients", "clients", 0..=64)? as usize,
                    vnodes: self.number("vnodes", "virtual nodes", 1..=64)? as u32,
                    commit: self.commit_protocol()?,
                    view_leaders: self.view_leaders()?,
                };
                self.app.reset(setup)?;
                self.set_select("lesson-pick", "");
            }
            PageCmd::Client(cmd) => {
                let client = self.client()?;
                command::check(&cmd)?;
                self.app.act(Action::Client { client, command: cmd });
            }
            PageCmd::Trap { client, tx } => {
                let client = match client {
                    Some(c) => c,
                    None => self.client()?,
                };
                self.app.crash_coordinator(client, tx);
            }
            PageCmd::Crash(node) => app.act(Action::Crash { node }),
            PageCmd::Restart(node) => app.act(Action::Restart { node }),
            PageCmd::Cut => {
                let side = self.checked_nodes();
                if side.is_empty() {
                    return Err("tick the nodes of one side first".into());
                }
                self.app.act(Action::Partition { side });
            }
            PageCmd::Heal => app.act(Action::Heal),
            PageCmd::Tamper { id, how } => app.tamper(id, how),
            PageCmd::Select(focus) => app.selected = focus,
            PageCmd::LessonNext => {
                if !app.lesson_next() {
                    return Err("the lesson is over".into());
                }
            }
            PageCmd::LessonAnswer(choice) => {
                if !app.lesson_answer(choice) {
                    return Err("there is no question to answer now".into());
                }
            }
            PageCmd::LessonStart(n) => self.pick_lesson(&n.to_string()),
            PageCmd::Share => self.share()?,
            PageCmd::Export => self.export()?,
            PageCmd::Rerun | PageCmd::Connect | PageCmd::Disconnect => {
                return Err(format!("unknown command “{}”", cmd.name()))
            }
        }
        Ok(())
    }

    /// A command while a live cluster is shown.
    fn live(&mut self, cmd: PageCmd) -> Result<(), String> {
        let Mode::Live(watch) = &mut self.mode else { return Ok(()) };
        let RealCluster { live, driver: remote } = &mut **watch;
        match cmd {
            PageCmd::Select(focus) => self.app.selected = focus,
            PageCmd::Client(cmd) => {
                command::check(&cmd)?;
                remote.command(live, &cmd)?;
            }
            PageCmd::AddServer => remote.add_server()?,
            PageCmd::Crash(node) => remote.kill(node.as_str())?,
            PageCmd::Rerun => {
                let session = self.imported.as_ref().ok_or("import an exported simulator run first")?;
                let actions: Vec<Action> = session
                    .inputs
                    .iter()
                    .filter_map(|i| match i {
                        Input::Act { action } => Some(action.clone()),
                        _ => None,
                    })
                    .collect();
                if actions.is_empty() {
                    return Err("the imported run has no actions to re-run".into());
                }
                remote.rerun = actions.into();
            }
            PageCmd::Step | PageCmd::Back | PageCmd::Play => {
                return Err("a live cluster runs in real time: steps and replay are for the simulator and imported \
                            events files"
                    .into())
            }
            PageCmd::Share | PageCmd::Export => {
                return Err("a live cluster's runs are kept by its nodes: ringside cluster --events-dir DIR writes \
                            one events file per node, which Import replays here"
                    .into())
            }
            other => {
                return Err(format!(
                    "{} is a simulator control: on a live cluster you can setr, getr, lock, add and kill servers",
                    other.name()
                ))
            }
        }
        Ok(())
    }

    /// A command while an events file is replayed.
    fn replay(&mut self, cmd: PageCmd) -> Result<(), String> {
        let Mode::Replay(watch) = &mut self.mode else { return Ok(()) };
        match cmd {
            PageCmd::Select(focus) => self.app.selected = focus,
            PageCmd::Step => watch.step()?,
            PageCmd::Play => watch.driver.playing = !watch.driver.playing,
            PageCmd::Back => watch.back()?,
            other => {
                return Err(format!(
                    "{}: this is a replay of an events file; connect to a cluster to drive it",
                    other.name()
                ))
            }
        }
        Ok(())
    }
}
