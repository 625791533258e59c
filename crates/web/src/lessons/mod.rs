//! Guided lessons: each a setup and a few steps on the real protocol. A step does something to
//! the world, then plays it until the moment its text describes — a condition on the world, not
//! a span of time — and its claims about that moment are checked ([`Step::check`]) by the
//! tests on every run. Everything a step does is recorded in the session, so a lesson can be
//! shared, stepped back through and replayed like any run.

mod commit;
mod failover;
mod locks;
mod paxos;
mod ring;
#[cfg(test)]
mod tests;

use ringside_core::{Addr, CommitProtocol, Msg};
use ringside_sim::session::{client, server};
use ringside_sim::{Action, Setup, Sim};

use crate::app::{App, Focus};

/// A question asked before a step plays: the learner guesses, then watches.
pub struct Ask {
    /// The question.
    pub question: &'static str,
    /// Two or three answers to pick from.
    pub choices: &'static [&'static str],
    /// The right one (an index into `choices`).
    pub answer: usize,
}

/// One step of a lesson.
pub struct Step {
    /// A few words on what the step does.
    pub title: &'static str,
    /// What happens and what to watch; true at the moment the step stops.
    pub text: &'static str,
    /// What to guess before the step plays, if anything.
    pub ask: Option<Ask>,
    /// The step's inputs, done at once when it starts.
    pub act: fn(&mut App),
    /// The moment the text describes: the step plays until this holds.
    pub until: fn(&Sim) -> bool,
    /// The text's claims about that moment; an error names the claim that is false.
    pub check: fn(&App) -> Result<(), String>,
    /// What the views select when the step stops.
    pub focus: fn() -> Option<Focus>,
}

/// A lesson.
pub struct Lesson {
    /// Its name.
    pub title: &'static str,
    /// What it teaches, in a line.
    pub about: &'static str,
    seed: u64,
    servers: usize,
    clients: usize,
    vnodes: u32,
    /// The servers' commit protocol: the course's 2PC where the lesson teaches it.
    commit: CommitProtocol,
    /// View-leader replicas: more than one where the lesson teaches replication.
    view_leaders: usize,
    /// Whether the diagram draws heartbeats: the lesson is about them.
    pub heartbeats: bool,
    /// Its steps, in order.
    pub steps: &'static [Step],
    /// Something to try once the steps are done.
    pub challenge: &'static str,
}

impl Lesson {
    /// The world a lesson starts from.
    pub fn setup(&self) -> Setup {
        Setup {
            seed: self.seed,
            servers: self.servers,
            clients: self.clients,
            vnodes: self.vnodes,
            commit: self.commit,
            view_leaders: self.view_leaders,
        }
    }
}

/// Every lesson, in order.
pub static LESSONS: [&Lesson; 10] = [
    &ring::PLACEMENT,
    &ring::JOIN,
    &ring::FAILURE,
    &commit::COMMIT,
    &commit::CONFLICT,
    &commit::BLOCKING,
    &paxos::RESOLVED,
    &locks::LOCKS,
    &failover::FAILOVER,
    &failover::QUORUM,
];

/// Virtual time a step may play at most before giving up on its moment.
pub const PATIENCE_MS: u64 = 30_000;

/// At rest: every live server is in the view, rebalancing is done, no client has work left and
/// no transaction is undecided anywhere (with Paxos Commit a write returns before its replicas
/// are told it was chosen).
pub fn idle(sim: &Sim) -> bool {
    let view = sim.view_leader().view();
    sim.servers().all(|(_, s)| view.members.iter().any(|m| &m.id == s.id()) && s.pending().next().is_none())
        && sim.settled()
        && sim.clients().all(|(_, c)| c.idle())
}

/// Plays the world at once until it is at rest (setting up a step, not a step itself).
fn settle_now(app: &mut App) {
    app.run_until(PATIENCE_MS, idle);
}

fn setr(app: &mut App, c: usize, key: &str, value: &str) {
    app.act(Action::setr(client(c), key.into(), value.into()));
}

/// `count` setr from c1: keys `k00`, `k01`, …
fn write_keys(app: &mut App, count: usize) {
    for i in 0..count {
        setr(app, 1, &format!("k{i:02}"), &format!("v{i}"));
    }
}

fn nothing(_: &mut App) {}

fn no_focus() -> Option<Focus> {
    None
}

/// A claim: `Ok` when it holds, otherwise the claim in words.
fn claim(holds: bool, what: &str) -> Result<(), String> {
    if holds {
        Ok(())
    } else {
        Err(what.to_string())
    }
}

/// Messages on their way that `kind` picks.
fn flying(sim: &Sim, kind: fn(&Msg) -> bool) -> usize {
    sim.in_flight().iter().filter(|m| kind(&m.msg)).count()
}

/// Live servers (their addresses) in the view leader's view.
fn members(sim: &Sim) -> usize {
    sim.view_leader().view().members.len()
}

/// Whether the live server `n` is in the view.
fn in_view(sim: &Sim, n: usize) -> bool {
    let addr = server(n);
    sim.view_leader().view().members.iter().any(|m| m.addr == addr)
}

/// Every key stored anywhere, with how many servers hold it.
fn copies(sim: &Sim) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for (_, s) in sim.servers() {
        for key in s.bucket().keys() {
            *out.entry(key.clone()).or_insert(0) += 1;
        }
    }
    out
}

/// `count` keys are stored, each on exactly `replicas` servers.
fn keys_on(sim: &Sim, count: usize, replicas: usize) -> Result<(), String> {
    let copies = copies(sim);
    claim(copies.len() == count, &format!("{count} keys are stored (found {})", copies.len()))?;
    claim(
        copies.values().all(|n| *n == replicas),
        &format!("every key is on {replicas} servers (counts: {:?})", copies.values().collect::<Vec<_>>()),
    )
}

/// The values c1 wrote with [`write_keys`] are all still there.
fn values_intact(sim: &Sim, count: usize) -> Result<(), String> {
    values_intact_but(sim, count, None)
}

/// [`values_intact`], except that `rewritten` (a key and the value written over it since) holds
/// its newer value.
fn values_intact_but(sim: &Sim, count: usize, rewritten: Option<(&str, &str)>) -> Result<(), String> {
    for i in 0..count {
        let key = format!("k{i:02}");
        let want = match rewritten {
            Some((k, value)) if k == key => value.to_string(),
            _ => format!("v{i}"),
        };
        let held = sim.servers().any(|(_, s)| s.bucket().get(&key).is_some_and(|e| e.value == want));
        claim(held, &format!("{key} still holds {want}"))?;
    }
    Ok(())
}

fn select_node(node: Addr) -> Option<Focus> {
    Some(Focus::Node(node))
}

fn select_view_leader() -> Option<Focus> {
    select_node(Addr::from(ringside_sim::VIEW_LEADER))
}

/// At rest with `count` keys stored.
fn written(sim: &Sim, count: usize) -> bool {
    idle(sim) && copies(sim).len() == count
}
