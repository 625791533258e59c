//! Named scenarios: scripted runs of the course's test cases and lessons, with narration.

use ringside_core::{Addr, Time};

use crate::action::Action;
use crate::config::SimConfig;
use crate::world::Sim;

/// A scripted cue: narration or an action, at a virtual time.
#[derive(Clone, Debug)]
pub enum Cue {
    /// A chapter heading for the narration.
    Say(String),
    /// Something done to the world.
    Do(Action),
}

/// A scenario's whole script.
#[derive(Clone, Debug)]
pub struct Script {
    /// The world's setup.
    pub config: SimConfig,
    /// Servers started at time zero.
    pub servers: usize,
    /// Clients started at time zero.
    pub clients: usize,
    /// Cues by time, in order.
    pub cues: Vec<(Time, Cue)>,
    /// When the run ends.
    pub end: Time,
}

/// A named scenario.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Its name for `--scenario`.
    pub name: &'static str,
    /// One line on what it shows.
    pub about: &'static str,
    build: fn(u64) -> Script,
}

impl Scenario {
    /// Its script for `seed`.
    pub fn script(&self, seed: u64) -> Script {
        (self.build)(seed)
    }
}

/// A played scenario: the world at the end, and where the narration's headings fall in the trace.
#[derive(Debug)]
pub struct Played {
    /// The world after the last cue and the end time.
    pub sim: Sim,
    /// (trace length when said, heading).
    pub headings: Vec<(usize, String)>,
}

/// Runs a script to its end.
pub fn play(script: Script) -> Played {
    let mut sim = Sim::with_cluster(script.config, script.servers, script.clients);
    let mut headings = Vec::new();
    for (at, cue) in script.cues {
        sim.run_until(at);
        match cue {
            Cue::Say(text) => headings.push((sim.trace().entries().len(), text)),
            Cue::Do(action) => {
                sim.act(action);
            }
        }
    }
    sim.run_until(script.end);
    Played { sim, headings }
}

/// Every scenario.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "tour",
        about: "the whole system in two minutes: joins, 2PC, a failure, rebalancing, locks",
        build: tour,
    },
    Scenario { name: "lookups", about: "setr and getr on a three-server cluster; a missing key", build: lookups },
    Scenario {
        name: "join",
        about: "a fourth server joins: the epoch grows and only the keys it now replicates move",
        build: join,
    },
    Scenario {
        name: "failure",
        about: "a key's primary crashes: getr still answers; the view changes and copies are restored",
        build: failure,
    },
    Scenario { name: "commit", about: "one setr: prepare, three yes votes, commit", build: commit },
    Scenario {
        name: "conflict",
        about: "two concurrent setr of one key: at most one wins, another key commits",
        build: conflict,
    },
    Scenario {
        name: "coordinator-crash",
        about: "the client dies between the phases: participants ask each other and block",
        build: coordinator_crash,
    },
    Scenario {
        name: "locks",
        about: "the course walkthrough on lock atm: c1 holds, c2 queues, release hands over",
        build: locks,
    },
    Scenario {
        name: "deadlock",
        about: "two clients each hold a lock and want the other's: the cycle is refused",
        build: deadlock,
    },
    Scenario {
        name: "shrink-grow",
        about: "kill servers one by one down to one, nothing lost; add them back, keys spread out",
        build: shrink_grow,
    },
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

fn c(n: u32) -> Addr {
    Addr(format!("c{n}"))
}

fn s(n: u32) -> Addr {
    Addr(format!("s{n}"))
}

fn say(t: u64, text: &str) -> (Time, Cue) {
    (Time(t), Cue::Say(text.into()))
}

fn act(t: u64, action: Action) -> (Time, Cue) {
    (Time(t), Cue::Do(action))
}

fn setr(t: u64, client: u32, key: &str, value: &str) -> (Time, Cue) {
    act(t, Action::setr(c(client), key.into(), value.into()))
}

fn getr(t: u64, client: u32, key: &str) -> (Time, Cue) {
    act(t, Action::getr(c(client), key.into()))
}

fn script(seed: u64, servers: usize, clients: usize, cues: Vec<(Time, Cue)>, end: u64) -> Script {
    Script { config: SimConfig::new(seed), servers, clients, cues, end: Time(end) }
}

fn lookups(seed: u64) -> Script {
    let cues = vec![
        say(0, "Three servers start and heartbeat the view leader; each join is a new epoch."),
        say(1_000, "The client asks the view leader for the view, then writes with two-phase commit."),
        setr(1_000, 1, "apple", "red"),
        setr(1_000, 1, "pear", "green"),
        say(1_500, "Reads go to every replica and return the newest committed value."),
        getr(1_500, 1, "apple"),
        getr(1_500, 1, "pear"),
        getr(1_500, 1, "plum"),
    ];
    script(seed, 3, 1, cues, 2_500)
}

fn join(seed: u64) -> Script {
    let mut cues = vec![say(0, "Three servers; twelve keys written.")];
    for i in 0..12 {
        cues.push(setr(1_000, 1, &format!("k{i}"), &format!("v{i}")));
    }
    cues.push(say(2_000, "A fourth server joins: only keys whose replica set now includes it move."));
    cues.push(act(2_000, Action::AddServer));
    cues.push(say(3_500, "Every key reads back from its new replicas."));
    for i in 0..12 {
        cues.push(getr(3_500, 1, &format!("k{i}")));
    }
    script(seed, 3, 1, cues, 4_500)
}

fn failure(seed: u64) -> Script {
    let mut cues = vec![say(0, "Four servers; six keys written.")];
    for i in 0..6 {
        cues.push(setr(1_000, 1, &format!("k{i}"), &format!("v{i}")));
    }
    cues.push(say(2_000, "s1 crashes. Until the view leader notices, reads still find the other replicas."));
    cues.push(act(2_000, Action::Crash { node: s(1) }));
    for i in 0..6 {
        cues.push(getr(2_050, 1, &format!("k{i}")));
    }
    cues.push(say(2_200, "The failure timeout passes: new epoch, and copies are made on the new replicas."));
    cues.push(say(4_000, "Reads after recovery."));
    for i in 0..6 {
        cues.push(getr(4_000, 1, &format!("k{i}")));
    }
    script(seed, 4, 1, cues, 5_000)
}

fn commit(seed: u64) -> Script {
    let cues = vec![
        say(1_000, "setr: prepare goes to the three replicas at once; each votes; all yes means commit."),
        setr(1_000, 1, "x", "1"),
        getr(1_600, 1, "x"),
    ];
    script(seed, 3, 1, cues, 2_500)
}

fn conflict(seed: u64) -> Script {
    let cues = vec![
        say(1_000, "Two clients write the same key at the same moment; a third key is written meanwhile."),
        setr(1_000, 1, "x", "from-c1"),
        setr(1_000, 2, "x", "from-c2"),
        setr(1_000, 3, "y", "independent"),
        say(1_800, "Whichever won, every replica agrees."),
        getr(1_800, 1, "x"),
        getr(1_800, 1, "y"),
    ];
    script(seed, 3, 3, cues, 3_000)
}

fn coordinator_crash(seed: u64) -> Script {
    let cues = vec![
        say(500, "c1 reads once, so it has the view cached and can prepare without asking."),
        getr(500, 1, "x"),
        say(1_000, "c1 starts a setr and crashes right after sending its prepares."),
        setr(1_000, 1, "x", "orphan"),
        act(1_000, Action::Crash { node: c(1) }),
        say(1_100, "Prepared participants wait, then run the termination protocol: all prepared, so they block."),
        say(3_000, "A reader sees the key pending and backs off: 2PC's blocking, shown."),
        getr(3_000, 2, "x"),
    ];
    script(seed, 3, 2, cues, 5_000)
}

fn locks(seed: u64) -> Script {
    let lock = |t, cl: u32, get: bool| {
        let name = "atm".to_string();
        act(t, if get { Action::lock_get(c(cl), name) } else { Action::lock_release(c(cl), name) })
    };
    let cues = vec![
        say(500, "c1 takes lock atm; c2 asks and is queued; c1 asks again (idempotent)."),
        lock(500, 1, true),
        lock(600, 2, true),
        lock(700, 1, true),
        say(1_000, "c1 releases: c2 is next in line and gets the lock on its next ask."),
        lock(1_000, 1, false),
        say(1_500, "Errors: c1 releases a lock it no longer holds; anyone releases an unknown lock."),
        lock(1_500, 1, false),
        act(1_600, Action::lock_release(c(1), "vault".into())),
    ];
    script(seed, 1, 2, cues, 2_000)
}

fn deadlock(seed: u64) -> Script {
    let get = |t, cl: u32, name: &str| act(t, Action::lock_get(c(cl), name.into()));
    let cues = vec![
        say(500, "c1 holds A, c2 holds B."),
        get(500, 1, "A"),
        get(500, 2, "B"),
        say(700, "c1 waits for B (held by c2). Then c2 asks for A: that would close the cycle."),
        get(700, 1, "B"),
        get(900, 2, "A"),
    ];
    script(seed, 1, 2, cues, 1_500)
}

fn shrink_grow(seed: u64) -> Script {
    let mut cues = vec![say(0, "Five servers; twenty keys written.")];
    for i in 0..20 {
        cues.push(setr(1_000, 1, &format!("k{i}"), &format!("v{i}")));
    }
    let mut t = 2_000;
    for n in 1..=4 {
        cues.push(say(t, &format!("Kill s{n}; wait for detection and rebalancing.")));
        cues.push(act(t, Action::Crash { node: s(n) }));
        t += 2_000;
    }
    cues.push(say(t, "One server holds every key. Read them all."));
    for i in 0..20 {
        cues.push(getr(t, 1, &format!("k{i}")));
    }
    t += 1_000;
    cues.push(say(t, "Four new servers join; keys spread out again."));
    for _ in 0..4 {
        cues.push(act(t, Action::AddServer));
        t += 1_000;
    }
    for i in 0..20 {
        cues.push(getr(t, 1, &format!("k{i}")));
    }
    script(seed, 5, 1, cues, t + 1_500)
}

fn tour(seed: u64) -> Script {
    let mut cues = vec![say(0, "1. Membership: three servers heartbeat the view leader; each join is a new epoch.")];
    cues.push(say(1_000, "2. Replicated writes: the client is the 2PC coordinator (prepare, votes, commit)."));
    for (i, fruit) in ["apple", "pear", "plum", "fig"].iter().enumerate() {
        cues.push(setr(1_000 + 50 * i as u64, 1, fruit, &format!("crate-{i}")));
    }
    cues.push(say(1_600, "3. A conflict: two clients write one key at once; at most one wins."));
    cues.push(setr(1_600, 1, "apple", "from-c1"));
    cues.push(setr(1_600, 2, "apple", "from-c2"));
    cues.push(say(2_200, "4. A fourth server joins: only the keys it now replicates move to it."));
    cues.push(act(2_200, Action::AddServer));
    cues.push(say(3_500, "5. s1 crashes: detection by missed heartbeats, a new epoch, copies restored."));
    cues.push(act(3_500, Action::Crash { node: s(1) }));
    cues.push(say(5_000, "6. Every key still reads back."));
    for fruit in ["apple", "pear", "plum", "fig"] {
        cues.push(getr(5_000, 2, fruit));
    }
    cues.push(say(5_500, "7. Locks: c1 holds A, c2 holds B, c1 waits for B; c2 asking for A is a deadlock."));
    cues.push(act(5_500, Action::lock_get(c(1), "A".into())));
    cues.push(act(5_500, Action::lock_get(c(2), "B".into())));
    cues.push(act(5_700, Action::lock_get(c(1), "B".into())));
    cues.push(act(5_900, Action::lock_get(c(2), "A".into())));
    script(seed, 3, 2, cues, 6_500)
}
