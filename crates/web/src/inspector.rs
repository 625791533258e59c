//! The inspector: a card for what the learner selected — a node, a key or a message — then
//! the table of recent transactions. One builder for every mode: the cards are made of what
//! the [`Scene`] tells, which is everything inside each process for the simulator and what the
//! nodes' streams and answers show for a real cluster.

use std::fmt::Write;

use ringside_core::twopc::PendingPhase;
use ringside_core::{Addr, Client, CommitProtocol, Names, Server, Stage, ViewLeader};
use ringside_sim::{Kind, Role, Sim};

use crate::app::Focus;
use crate::glossary::mark_terms;
use crate::html::{button, esc, select_link};
use crate::live::{LiveNode, MS_PER_UNIT};
use crate::model::{Fate, MsgLine, TxPhase, TxRow};
use crate::replicas;
use crate::scene::{Copies, KeyFacts, NodeFacts, Scene, Source};
use crate::timers::{self, Clocks, Countdown};
use crate::wait_for::{Graph, Refused};

/// The inspector for what is selected, then the transaction table, its terms defined on
/// hover.
pub fn inspector(scene: &dyn Scene, focus: Option<&Focus>) -> String {
    let names = &scene.journal().names;
    let clocks = scene.clocks();
    let mut html = match focus {
        Some(Focus::Node(name)) => node(name, scene.node(name), names, &clocks, scene.journal().refused.as_ref()),
        Some(Focus::Key(key)) => key_card(key, scene.key(key)),
        Some(Focus::Message(id)) => message(scene, *id, names),
        None => {
            let more = match scene.source() {
                Source::Simulated => "",
                Source::Observed => " Everything shown comes from the nodes' own streams and answers.",
            };
            format!("<h2>Inspector</h2><p class=\"hint\">Click a server, a lane, a key or a message to read it here.{more}</p>")
        }
    };
    html.push_str(&transactions(scene.journal().recent_txs(), names, &clocks));
    mark_terms(&html)
}

fn node(name: &Addr, facts: NodeFacts<'_>, names: &Names, clocks: &Clocks, refused: Option<&Refused>) -> String {
    match facts {
        NodeFacts::Absent(what) => format!("<h2>{}</h2><p>{what}</p>", esc(&name.0)),
        NodeFacts::Simulated { kind, role, sim } => simulated(name, kind, role, sim, names, clocks, refused),
        NodeFacts::Watched { node, id, keys, can_kill, sent, received } => {
            watched(node, id.as_ref(), keys, can_kill, (sent, received), names)
        }
    }
}

fn simulated(
    addr: &Addr,
    kind: Kind,
    role: Option<&Role>,
    sim: &Sim,
    names: &Names,
    clocks: &Clocks,
    refused: Option<&Refused>,
) -> String {
    let mut h = format!("<h2>{} <small>{}</small></h2>", esc(&addr.0), kind_name(kind));
    // A replica keeps its term, vote and log on disk; a lone view leader has nothing to come back from.
    let replica = kind == Kind::ViewLeader && sim.view_leader_addrs().len() > 1;
    match role {
        None if replica => {
            h.push_str(
                "<p class=\"bad\">down: the process crashed and its memory is gone; its disk, with its term, vote \
                 and log, is kept.</p>",
            );
            h.push_str(&button(
                "restart",
                &addr.0,
                "Restart",
                "Start it again from its disk: it rejoins as a follower",
            ));
        }
        None => {
            h.push_str("<p class=\"bad\">down: the process crashed and its memory is gone.</p>");
            if kind != Kind::ViewLeader {
                h.push_str(&button("restart", &addr.0, "Restart", "Start a fresh process here: new id, empty memory"));
            }
        }
        Some(Role::ViewLeader(vl)) => {
            if replica {
                h.push_str(&button(
                    "crash",
                    &addr.0,
                    "Crash",
                    "Kill the replica: its memory is gone, its disk stays. While a majority runs, the others \
                     go on (electing a new leader if it led).",
                ));
                h.push_str(&replicas::inspect(vl, sim, names));
            }
            h.push_str(&view_leader(vl, names, clocks, refused));
        }
        Some(Role::Server(s)) => {
            h.push_str(&button(
                "crash",
                &addr.0,
                "Crash / remove",
                "Kill the process: it stops heartbeating and its memory is gone. Servers leave only this \
                 way: the view leader removes it from the view after the failure timeout.",
            ));
            if sim.view_leader().failed().contains(s.id()) {
                h.push_str(&stays_out(&addr.0));
            }
            h.push_str(&server(s, names, clocks));
        }
        Some(Role::Client(c)) => {
            h.push_str(&button("crash", &addr.0, "Crash", "Kill the client process"));
            h.push_str(&button(
                "trap",
                &addr.0,
                "Crash before its next decision",
                "It dies the moment it would send a 2PC decision",
            ));
            h.push_str(&client(sim, addr, c, names, clocks));
        }
    }
    h
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::ViewLeader => "view leader",
        Kind::Server => "server",
        Kind::Client => "client",
    }
}

/// Why a server the view leader declared failed is still out, even once it can be heard again
/// (a healed partition): its heartbeats are refused for good.
fn stays_out(label: &str) -> String {
    let label = esc(label);
    format!(
        "<p class=\"bad\">{label} was declared failed: cut off or silent past the failure timeout. A failed id is \
         never readmitted, not even after a partition heals: the view leader refuses its heartbeats, so it votes \
         and serves reads no more. Crash and restart {label} to join as a new server.</p>"
    )
}

fn view_leader(vl: &ViewLeader, names: &Names, clocks: &Clocks, refused: Option<&Refused>) -> String {
    let mut h = String::new();
    let view = vl.view();
    let _ = write!(
        h,
        "<p>epoch <b>{}</b>{} · {} in the view</p>",
        view.epoch.0,
        if vl.rebalancing() { " (rebalancing)" } else { "" },
        view.members.len()
    );
    // Locks in use come first, their wait-for graph in sight without scrolling.
    let has_locks = vl.locks().locks().next().is_some();
    if has_locks {
        h.push_str(&locks(vl, refused));
    }
    h.push_str(
        "<table><tr><th>server</th><th>id</th><th>last heartbeat</th><th>declared failed in</th>\
         <th>rebalanced</th></tr>",
    );
    for (id, r) in vl.servers() {
        let age = (clocks.at - r.last_heartbeat.0 as f64).max(0.0);
        let failing = clocks.heartbeat(id).map_or(String::new(), |c| c.bar(&c.words()));
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{age:.0} ms ago</td><td>{failing}</td><td>{}</td></tr>",
            select_link(&format!("node:{}", r.addr), names.addr(&r.addr)),
            esc(&id.0),
            if r.rebalanced { "yes" } else { "no" }
        );
    }
    h.push_str("</table>");
    if !clocks.heartbeats.is_empty() {
        h.push_str(
            "<p class=\"hint\">Each heartbeat restarts a server's failure timeout; a server silent for the \
             whole timeout is declared failed and leaves the view. The ring draws the same time round each \
             server.</p>",
        );
        h.push_str(timers::LEGEND);
    }
    if !vl.failed().is_empty() {
        let failed: Vec<String> = vl.failed().iter().map(|id| esc(names.server(id))).collect();
        let _ = write!(
            h,
            "<p class=\"bad\">declared failed: {}. A failed id is never readmitted, not even after a partition heals: \
             a server comes back only as a new process with a new id.</p>",
            failed.join(", ")
        );
    }
    if !has_locks {
        h.push_str("<h3>Locks</h3><p class=\"hint\">no locks</p>");
    }
    h
}

/// The view leader's locks, their holders and queues, and who waits for whom.
fn locks(vl: &ViewLeader, refused: Option<&Refused>) -> String {
    let mut h = String::from("<h3>Locks</h3>");
    for (name, holder, queue) in vl.locks().locks() {
        let _ = write!(
            h,
            "<p>lock <b>{}</b>: held by {}{}</p>",
            esc(name),
            holder.map_or("nobody".to_string(), esc),
            if queue.is_empty() { String::new() } else { format!(", queue: {}", esc(&queue.join(" → "))) }
        );
    }
    h.push_str("<h3>Wait-for graph</h3>");
    h.push_str(&Graph::of(vl.locks(), refused).svg());
    h
}

/// A server's lease, in words and as a bar.
fn lease(lease: Option<&Countdown>) -> String {
    let Some(c) = lease else {
        return "<p>lease: <b>none</b>, so it votes no and refuses reads: no heartbeat of it was accepted \
                yet, or the view leader declared it failed</p>"
            .to_string();
    };
    let words = if c.expired() {
        format!("{}: it votes no and refuses reads until the view leader answers a heartbeat", c.words())
    } else {
        format!("may vote and answer reads for {} more without hearing from the view leader", c.words())
    };
    format!("<p>lease: {}</p>{}", c.bar(&words), timers::LEGEND)
}

/// Bucket rows shown at most; a server can hold thousands.
const BUCKET_ROWS: usize = 60;

fn server(s: &Server, names: &Names, clocks: &Clocks) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<p>id <b>{}</b> · epoch {} · rebalanced {} · {} copies unacknowledged · {}</p>",
        esc(&s.id().0),
        s.view().epoch.0,
        s.stable_view().epoch.0,
        s.unacked_copies(),
        match s.commit_protocol() {
            CommitProtocol::Paxos => "Paxos Commit: takes over a transaction left undecided",
            CommitProtocol::Classic => "classic 2PC: asks around, may block",
        }
    );
    h.push_str(&lease(clocks.lease(s.id())));
    let pending: Vec<_> = s.pending().collect();
    if !pending.is_empty() {
        h.push_str(
            "<h3>Pending transactions</h3><table><tr><th>tx</th><th>key</th><th>state</th>\
             <th>decision timer</th></tr>",
        );
        for p in pending {
            let state = match &p.phase {
                PendingPhase::Ready => "READY".to_string(),
                PendingPhase::Asking { round, .. } => format!("READY (asking, round {round})"),
                PendingPhase::Blocked { .. } => "BLOCKED".to_string(),
                PendingPhase::Recovering { ballot, .. } if p.is_blocked() => format!("BLOCKED (ballot {ballot})"),
                PendingPhase::Recovering { ballot, proposal: None, .. } => format!("TAKING OVER (ballot {ballot})"),
                PendingPhase::Recovering { ballot, proposal: Some(_), .. } => format!("PROPOSING (ballot {ballot})"),
            };
            let timer = clocks.decision(s.id(), p.tx).map_or(String::new(), |c| {
                let next = match p.phase {
                    PendingPhase::Ready => "starts the termination protocol in",
                    PendingPhase::Asking { .. } => "asks again in",
                    PendingPhase::Blocked { .. } => "asks the coordinator again in",
                    PendingPhase::Recovering { .. } => "tries a higher ballot in",
                };
                c.bar(&format!("{next} {}", c.words()))
            });
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"st {}\">{state}</td><td>{timer}</td></tr>",
                esc(&names.tx(p.tx)),
                select_link(&format!("key:{}", p.key), &p.key),
                state.split(' ').next().unwrap_or("").to_ascii_lowercase()
            );
        }
        h.push_str("</table>");
        h.push_str(match s.commit_protocol() {
            CommitProtocol::Classic => {
                "<p class=\"hint\">A READY participant may not decide alone: if the decision does not come \
                 within the decision timeout, it asks the coordinator and the other participants how the \
                 transaction ended.</p>"
            }
            CommitProtocol::Paxos => {
                "<p class=\"hint\">A READY participant may not decide alone: if the decision does not come \
                 within its decision timeout, it takes over with a ballot of its own — a majority of the \
                 participants promise, and it finishes a commit any of them accepted, or aborts.</p>"
            }
        });
    }
    let bucket = s.bucket();
    let _ = write!(
        h,
        "<h3>Bucket <small>{} keys</small></h3><table><tr><th>key</th><th>value</th><th>version</th></tr>",
        bucket.len()
    );
    for (key, e) in bucket.iter().take(BUCKET_ROWS) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            select_link(&format!("key:{key}"), key),
            esc(&e.value),
            e.version
        );
    }
    h.push_str("</table>");
    if bucket.len() > BUCKET_ROWS {
        let _ = write!(h, "<p class=\"hint\">and {} more</p>", bucket.len() - BUCKET_ROWS);
    }
    h
}

fn client(sim: &Sim, addr: &Addr, c: &Client, names: &Names, clocks: &Clocks) -> String {
    let armed = sim.traps().contains_key(addr);
    let mut h = String::new();
    let _ = write!(
        h,
        "<p>cached view: {}</p>",
        c.cached_epoch().map_or("none yet".to_string(), |e| format!("epoch {}", e.0))
    );
    if armed {
        h.push_str("<p class=\"bad\">armed: crashes the moment it would send a 2PC decision</p>");
    }
    for (tx, unacked) in c.telling() {
        // Participants by their lane names, as everywhere on the page.
        let told: Vec<&str> = unacked.iter().map(|id| names.server(id)).collect();
        let _ = write!(
            h,
            "<p>{}: returned, a majority committed it; still telling {}</p>",
            esc(&names.tx(tx)),
            esc(&told.join(", "))
        );
    }
    let ops = c.operations();
    if ops.is_empty() {
        h.push_str("<p class=\"hint\">no operation in progress</p>");
        return h;
    }
    h.push_str("<table><tr><th>op</th><th>command</th><th>waiting for</th></tr>");
    for op in ops {
        let mut trap = String::new();
        let mut timer = String::new();
        let stage = match &op.stage {
            Stage::Asking => "an answer".to_string(),
            Stage::NeedView => "the view".to_string(),
            Stage::Backoff { next_attempt } => {
                let left = Countdown::at(*next_attempt, clocks.at);
                timer = left.bar(&format!("attempt {} in {}", op.attempt, left.words()));
                "its backoff to end".to_string()
            }
            Stage::Voting { tx, participants, yes } => {
                trap = button(
                    "trap",
                    &format!("{}|{}|{}", addr.0, tx.client, tx.seq),
                    "Crash before deciding this",
                    "The client dies the moment it would send its decision for this transaction",
                );
                format!("INIT: votes for {} ({} of {} yes)", names.tx(*tx), yes.len(), participants.len())
            }
            Stage::Deciding { tx, commit, unacked, participants } => format!(
                "{}: {} sent; {} of {} acknowledgements to come",
                if *commit { "COMMIT" } else { "ABORT" },
                names.tx(*tx),
                unacked.len(),
                participants.len()
            ),
            Stage::Reading { replicas, answered } => {
                format!("{} of {} replicas to answer", replicas.len() - answered.len(), replicas.len())
            }
            Stage::LockQueued => "its turn in the lock's queue".to_string(),
        };
        let _ =
            write!(h, "<tr><td>{}</td><td>{}</td><td>{} {trap}{timer}</td></tr>", op.op.0, esc(&op.what), esc(&stage));
    }
    h.push_str("</table>");
    h
}

/// Bucket keys a watched server's card lists at most.
const KEYS_SHOWN: usize = 60;

fn watched(
    n: &LiveNode,
    id: Option<&ringside_core::ServerId>,
    keys: Option<&[String]>,
    can_kill: bool,
    counts: (usize, usize),
    names: &Names,
) -> String {
    let role =
        n.role.as_deref().map_or("not heard from yet", |r| if r == "viewleader" { "view leader" } else { "server" });
    let mut h = format!("<h2>{} <small>{role} at {}</small></h2>", esc(&n.name.0), esc(&n.addr.0));
    if let Some(id) = id {
        let _ = write!(h, "<p>server id <code>{}</code></p>", esc(&id.0));
    }
    if let Some(state) = &n.raft {
        h.push_str(&replicas::state_card(state, names));
    }
    h.push_str(if n.up {
        "<p class=\"good\">streaming its messages and events to this page</p>"
    } else {
        "<p class=\"bad\">its stream is closed: the process is gone or unreachable</p>"
    });
    if role == "server" && n.up {
        if can_kill {
            h.push_str(&button(
                "crash",
                &n.name.0,
                "Kill (kill -9)",
                "Ask ringside cluster to kill this process: it stops heartbeating, and the view leader fails it \
                 after the failure timeout; the others then rebalance its keys",
            ));
        } else {
            h.push_str(
                "<p class=\"hint\">Killing servers needs the admin endpoint of <code>ringside cluster</code>.</p>",
            );
        }
    }
    if let Some(keys) = keys {
        let shown: Vec<String> = keys.iter().take(KEYS_SHOWN).map(|k| select_link(&format!("key:{k}"), k)).collect();
        let more =
            if keys.len() > KEYS_SHOWN { format!(" … and {} more", keys.len() - KEYS_SHOWN) } else { String::new() };
        let _ = write!(
            h,
            "<h3>bucket <small>{} keys, from its query_all_keys</small></h3><p>{}{more}</p>",
            keys.len(),
            shown.join(" ")
        );
    }
    let (sent, got) = counts;
    let _ = write!(h, "<p class=\"hint\">{sent} messages sent, {got} received while watched</p>");
    h
}

fn key_card(key: &str, facts: KeyFacts<'_>) -> String {
    let mut h = format!("<h2>key <b>{}</b></h2>", esc(key));
    let want: Vec<String> = facts.replicas.iter().map(|name| esc(name)).collect();
    let _ = write!(h, "<p>replicas in epoch {}: {} (primary first)</p>", facts.epoch, want.join(", "));
    match facts.copies {
        Copies::Read(copies) => {
            h.push_str("<table><tr><th>server</th><th>value</th><th>version</th></tr>");
            for c in copies {
                let _ = write!(
                    h,
                    "<tr><td title=\"server id {}\">{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&c.id.0),
                    select_link(&format!("node:{}", c.lane), &c.lane.0),
                    esc(c.value),
                    c.version
                );
            }
            h.push_str("</table>");
        }
        Copies::Reported(holders) => {
            let holders: Vec<String> = holders.iter().map(|name| esc(name)).collect();
            let _ =
                write!(h, "<p>held by: {}</p>", if holders.is_empty() { "nobody".into() } else { holders.join(", ") });
        }
    }
    h
}

fn message(scene: &dyn Scene, id: u64, names: &Names) -> String {
    let source = scene.source();
    let Some(m) = scene.journal().messages.get(&id) else {
        let missing = match source {
            _ if scene.journal().forgot(id) => "too old: the page keeps only the newest messages",
            Source::Simulated => "not in this run",
            Source::Observed => "not seen",
        };
        return format!("<h2>message {id}</h2><p>{missing}</p>");
    };
    let mut h = format!("<h2>message {id} <small>{} → {}</small></h2>", esc(&m.from.0), esc(&m.to.0));
    let _ = match source {
        Source::Simulated => write!(
            h,
            "<p>{}</p><p>sent {} · due {} · {}</p>",
            esc(&m.summary(names)),
            source.when(m.sent),
            source.when(m.due),
            fate(m)
        ),
        Source::Observed => {
            write!(h, "<p>{}</p><p>sent at {} · {}</p>", esc(&m.summary(names)), source.when(m.sent), receipt(m))
        }
    };
    if scene.tamperable(id) {
        h.push_str("<div class=\"row\">");
        h.push_str(&button("drop", &id.to_string(), "Drop", "Lose this message"));
        h.push_str(&button(
            "delay",
            &id.to_string(),
            "Delay 200 ms",
            "Hold it back 200 ms more: later messages may overtake it",
        ));
        h.push_str(&button("duplicate", &id.to_string(), "Duplicate", "Deliver it twice"));
        h.push_str("</div>");
    }
    let json = crate::share::pretty(&m.msg);
    let _ = write!(h, "<pre>{}</pre>", esc(&json));
    h
}

/// What became of a simulated message, in words.
fn fate(m: &MsgLine) -> String {
    let when = |t| Source::Simulated.when(t);
    let copy = m.copy_of.map_or(String::new(), |o| format!(" (a copy of {o})"));
    match &m.fate {
        Fate::InFlight => format!("in flight{copy}"),
        Fate::Delivered(t) => format!("delivered at {}{copy}", when(*t)),
        Fate::Dropped(t, why) => format!("<span class=\"bad\">lost at {} ({})</span>{copy}", when(*t), esc(why)),
    }
}

/// What its receiver reported of a watched message, in words.
fn receipt(m: &MsgLine) -> String {
    let when = |t| Source::Observed.when(t);
    match &m.fate {
        Fate::InFlight => "its receipt not reported yet".to_string(),
        Fate::Delivered(t) => {
            format!("received at {} ({:.0} µs on the way)", when(*t), (t.0 - m.sent.0) as f64 * MS_PER_UNIT * 1000.0)
        }
        Fate::Dropped(t, why) => format!("<span class=\"bad\">lost at {} ({})</span>", when(*t), esc(why)),
    }
}

/// Transactions shown in the table, the newest.
const TX_SHOWN: usize = 12;

/// The table of recent transactions (given newest first): the coordinator's state and each
/// participant's.
pub fn transactions<'a>(rows: impl Iterator<Item = &'a TxRow>, names: &Names, clocks: &Clocks) -> String {
    let mut rows = rows.take(TX_SHOWN).peekable();
    if rows.peek().is_none() {
        return "<h3>Transactions</h3><p class=\"hint\">none yet: setr starts one</p>".to_string();
    }
    let mut h = String::from(
        "<h3>Transactions <small>2PC state of the coordinator and of each participant; a bar: the time until a \
         READY participant asks how it ended</small></h3>\
         <table class=\"txs\"><tr><th>tx</th><th>key</th><th>coordinator</th><th>participants</th></tr>",
    );
    for row in rows {
        let coordinator = format!(
            "{} <span class=\"st {}\">{}</span>{}",
            esc(&row.coordinator.0),
            row.decided.name().to_ascii_lowercase(),
            row.decided.name(),
            if row.coordinator_crashed { " <span class=\"bad\">crashed</span>" } else { "" }
        );
        let parts: Vec<String> = row
            .participants
            .iter()
            .map(|(id, addr, st)| {
                let asking = if row.asking && *st == TxPhase::Ready { " (asking)" } else { "" };
                let timer = clocks.decision(id, row.tx).map_or(String::new(), |c| c.bar(&c.words()));
                format!(
                    "{} <span class=\"st {}\">{}</span>{asking} {timer}",
                    esc(&addr.0),
                    st.name().to_ascii_lowercase(),
                    st.name()
                )
            })
            .collect();
        let _ = write!(
            h,
            "<tr data-tx=\"{}\"><td>{}</td><td>{}</td><td>{coordinator}</td><td>{}</td></tr>",
            esc(&row.tx.to_string()),
            esc(&names.tx(row.tx)),
            select_link(&format!("key:{}", row.key), &row.key),
            parts.join(" · "),
        );
    }
    h.push_str("</table>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::live::Live;
    use crate::modes::{Driver, RealCluster};
    use crate::panels::Link;
    use crate::records::Record;
    use crate::testing::{lesson_four_after, live};
    use ringside_sim::{Action, Session, Setup};

    #[test]
    fn the_transaction_table_names_each_2pc_state() {
        let app = lesson_four_after(2);
        let html = transactions(app.journal.recent_txs(), &app.journal.names, &app.clocks());
        assert_eq!(html.matches(">READY<").count(), 3, "{html}");
        assert!(html.contains(">INIT<"), "the coordinator is still collecting votes: {html}");
        let app = lesson_four_after(5);
        let html = transactions(app.journal.recent_txs(), &app.journal.names, &app.clocks());
        assert_eq!(html.matches(">COMMIT<").count(), 4, "{html}");
    }

    #[test]
    fn a_key_names_its_replicas_by_their_labels() {
        let app = lesson_four_after(5);
        let html = inspector(&app, Some(&Focus::Key("x".into())));
        let ids: Vec<String> = app.sim.servers().map(|(_, s)| s.id().0.clone()).collect();
        assert!(html.contains("</abbr> 3: s"), "{html}");
        assert!(
            ids.iter().all(|id| !html.contains(&format!(">{id}<")) && !html.contains(&format!(" {id},"))),
            "{html}"
        );
    }

    #[test]
    fn a_selected_server_shows_its_pending_transaction_and_bucket() {
        let app = lesson_four_after(2);
        let html = inspector(&app, app.selected.as_ref());
        assert!(html.contains("Pending transactions") && html.contains("READY"), "{html}");
        assert!(html.contains("data-cmd=\"crash\""));
    }

    #[test]
    fn a_coordinator_shows_the_participants_it_still_tells_after_its_write_returned() {
        let mut app = lesson_four_after(3);
        let c1 = ringside_sim::session::client(1);
        let returned = app.run_until(1_000, |sim| {
            sim.clients().any(|(a, c)| *a == c1 && c.ops_in_flight() == 0 && !c.telling().is_empty())
        });
        assert!(returned, "the write returns before the last acknowledgement");
        app.selected = Some(Focus::Node(c1));
        let html = inspector(&app, app.selected.as_ref());
        assert!(html.contains("returned, a majority committed it; still telling s"), "{html}");
    }

    #[test]
    fn the_view_leader_and_a_server_show_their_timers_as_bars() {
        let app = lesson_four_after(1);
        let vl = inspector(&app, Some(&Focus::Node(Addr::from(ringside_sim::VIEW_LEADER))));
        assert_eq!(vl.matches("class=\"timer\"").count(), 3, "one failure timeout per server: {vl}");
        assert!(vl.contains("declared failed in") && vl.contains("green while far"), "{vl}");
        let s1 = inspector(&app, Some(&Focus::Node(ringside_sim::session::server(1))));
        assert!(s1.contains("lease</abbr>: <span class=\"timer\">") && s1.contains("without hearing from"), "{s1}");
    }

    #[test]
    fn a_ready_participant_and_a_retrying_reader_count_down() {
        let mut app = crate::testing::lesson_after(5, 2);
        assert!(app.run_until(1_000, |sim| sim.servers().all(|(_, s)| s.pending().count() == 1)));
        let s1 = inspector(&app, Some(&Focus::Node(ringside_sim::session::server(1))));
        assert!(s1.contains("termination protocol</abbr> in"), "{s1}");
        let table = transactions(app.journal.recent_txs(), &app.journal.names, &app.clocks());
        assert_eq!(table.matches("class=\"timer\"").count(), 3, "{table}");
        // The blocked key makes c2's read back off before its next attempt.
        app.lesson_step_now();
        app.act(ringside_sim::Action::getr(ringside_sim::session::client(2), "x".into()));
        let c2 = ringside_sim::session::client(2);
        let backing_off = |sim: &Sim| {
            sim.clients()
                .any(|(a, c)| *a == c2 && c.operations().iter().any(|o| matches!(o.stage, Stage::Backoff { .. })))
        };
        assert!(app.run_until(2_000, backing_off));
        let card = inspector(&app, Some(&Focus::Node(c2)));
        assert!(card.contains("its backoff to end <span class=\"timer\">") && card.contains("attempt 2 in"), "{card}");
    }

    #[test]
    fn text_from_the_learner_is_escaped() {
        assert_eq!(esc("<b>\"x\"&"), "&lt;b&gt;&quot;x&quot;&amp;");
        let mut app = App::new(Session::new(Setup::default()));
        app.selected = Some(Focus::Key("<script>".into()));
        assert!(!inspector(&app, app.selected.as_ref()).contains("<script>"));
    }

    /// A watched cluster whose page may or may not kill servers.
    struct Admin(bool);

    impl Driver for Admin {
        fn advance(&mut self, _: &mut Live, _: f64, _: f64) {}

        fn link(&self) -> Link<'_> {
            Link { connected: true, admin: self.0, admin_error: None, replay: None }
        }

        fn can_kill(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn a_server_card_lists_its_bucket_and_offers_a_kill_only_with_the_admin_endpoint() {
        let mut watch = RealCluster { live: live(), driver: Admin(true) };
        let focus = Focus::Node(Addr::from("s1"));
        let html = inspector(&watch, Some(&focus));
        assert!(html.contains("2 keys") && html.contains("apple"), "{html}");
        assert!(html.contains("its stream is closed"), "not said hello yet: {html}");
        let hello = r#"{"t":1,"node":"127.0.0.1:38000","kind":"hello","role":"server","id":"ab"}"#;
        watch.live.absorb(Record::parse(hello).unwrap());
        assert!(inspector(&watch, Some(&focus)).contains("Kill (kill -9)"));
        let watch = RealCluster { live: watch.live, driver: Admin(false) };
        assert!(!inspector(&watch, Some(&focus)).contains("Kill (kill -9)"));
        let key = text(&inspector(&watch, Some(&Focus::Key("plum".into()))));
        assert!(key.contains("replicas in epoch 2: s1") && key.contains("held by: s1"), "{key}");
    }

    /// The words of some HTML, without its tags.
    fn text(html: &str) -> String {
        html.split('<').map(|part| part.split_once('>').map_or(part, |(_, words)| words)).collect()
    }

    /// The default world after two clients wrote `x` at once.
    fn conflict() -> App {
        let mut app = App::new(Session::new(Setup::default()));
        app.run_for(2_000);
        app.act(Action::setr(Addr::from("c1"), "x".into(), "1".into()));
        app.act(Action::setr(Addr::from("c2"), "x".into(), "2".into()));
        app.run_for(2_000);
        app
    }

    #[test]
    fn cards_name_servers_and_transactions_by_their_labels_and_define_terms() {
        let mut app = conflict();
        let servers: Vec<(Addr, String)> = app.sim.servers().map(|(a, s)| (a.clone(), s.id().to_string())).collect();
        let table = transactions(app.journal.recent_txs(), &app.journal.names, &app.clocks());
        assert!(table.contains("<td>c1's write #1</td>") && table.contains("data-tx=\"tx"), "{table}");
        for (addr, own) in &servers {
            app.selected = Some(Focus::Node(addr.clone()));
            let html = inspector(&app, app.selected.as_ref());
            assert!(html.contains("<abbr class=\"term\""), "terms are defined: {html}");
            let words = text(&html);
            // A server's card shows its own id, and no other server's.
            assert!(words.contains(own.as_str()), "{words}");
            assert!(servers.iter().all(|(_, id)| id == own || !words.contains(id.as_str())), "{words}");
            assert!(!words.contains("tx0"), "transactions by their clients: {words}");
        }
    }

    #[test]
    fn a_server_failed_while_cut_off_says_why_it_stays_out_after_the_heal() {
        let mut app = App::new(Session::new(Setup::default()));
        app.run_for(2_000);
        app.act(Action::Partition { side: vec![Addr::from("s2")] });
        app.run_for(5_000);
        app.act(Action::Heal);
        app.run_for(1_000);
        app.selected = Some(Focus::Node(Addr::from("s2")));
        let card = text(&inspector(&app, app.selected.as_ref()));
        assert!(card.contains("s2 was declared failed") && card.contains("Crash and restart s2"), "{card}");
        app.selected = Some(Focus::Node(Addr::from("vl")));
        let leader = text(&inspector(&app, app.selected.as_ref()));
        assert!(leader.contains("declared failed: s2. A failed id is never readmitted"), "{leader}");
        let refused = app.journal.log.iter().rev().find(|(_, node, _)| node == "vl").map(|(_, _, line)| line.as_str());
        assert!(refused.is_some_and(|l| l.starts_with("refused a heartbeat of s2")), "{refused:?}");
    }
}
