//! The text panels as HTML: status line, node inspector, transaction table, message reader,
//! log and lesson card. Pure functions of the state, so they are tested natively.

use std::fmt::Write;

use ringside_core::twopc::PendingPhase;
use ringside_core::{Addr, Client, Server, Stage, Time, ViewLeader};
use ringside_sim::{Kind, Role, Sim};

use crate::app::{App, Focus};
use crate::model::{Fate, MsgLine, TxRow, TxState};

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn secs(t: Time) -> String {
    format!("{:.3}s", t.0 as f64 / 1000.0)
}

/// The header's status line.
pub fn status(app: &App) -> String {
    let vl = app.sim.view_leader();
    let hash = app.trace_hash();
    format!(
        "<span title=\"virtual time\">t = {}</span> · <span title=\"events handled so far\">step {}</span> · \
         <span title=\"the view leader's epoch: it grows with every view change\">epoch {}</span>{} · \
         <span class=\"hash\" title=\"trace hash: the same seed and inputs give the same hash, here and natively\">trace {}…</span>",
        secs(app.sim.now()),
        app.sim.steps(),
        vl.epoch().0,
        if vl.rebalancing() { " <b>rebalancing</b>" } else { "" },
        &hash[..12],
    )
}

/// A button naming its command and argument.
pub fn button(cmd: &str, arg: &str, label: &str, title: &str) -> String {
    format!("<button data-cmd=\"{cmd}\" data-arg=\"{}\" title=\"{}\">{label}</button>", esc(arg), esc(title))
}

/// A link that selects `focus`.
pub fn select_link(focus: &str, label: &str) -> String {
    format!("<a href=\"#\" data-cmd=\"select\" data-arg=\"{}\">{}</a>", esc(focus), esc(label))
}

/// The inspector for what is selected, then the transaction table.
pub fn inspector(app: &App) -> String {
    let mut html = match &app.selected {
        Some(Focus::Node(addr)) => node(app, addr),
        Some(Focus::Key(key)) => key_card(app, key),
        Some(Focus::Message(id)) => message(app, *id),
        None => "<h2>Inspector</h2><p class=\"hint\">Click a server, a lane, a key or a message to read it here.</p>"
            .to_string(),
    };
    html.push_str(&transactions(app.journal.recent_txs()));
    html
}

fn node(app: &App, addr: &Addr) -> String {
    let Some(slot) = app.sim.nodes().get(addr) else {
        return format!("<h2>{}</h2><p>no such node</p>", esc(&addr.0));
    };
    let mut h = format!("<h2>{} <small>{}</small></h2>", esc(&addr.0), kind_name(slot.kind));
    let restartable = slot.kind != Kind::ViewLeader;
    match &slot.role {
        None => {
            h.push_str("<p class=\"bad\">down: the process crashed and its memory is gone.</p>");
            if restartable {
                h.push_str(&button("restart", &addr.0, "Restart", "Start a fresh process here: new id, empty memory"));
            }
        }
        Some(Role::ViewLeader(vl)) => h.push_str(&view_leader(vl, app.sim.now())),
        Some(Role::Server(s)) => {
            h.push_str(&button(
                "crash",
                &addr.0,
                "Crash / remove",
                "Kill the process: it stops heartbeating and its memory is gone. Servers leave only this \
                 way: the view leader removes it from the view after the failure timeout.",
            ));
            h.push_str(&server(s));
        }
        Some(Role::Client(c)) => {
            h.push_str(&button("crash", &addr.0, "Crash", "Kill the client process"));
            h.push_str(&button(
                "trap",
                &addr.0,
                "Crash before its next decision",
                "It dies the moment it would send a 2PC decision",
            ));
            h.push_str(&client(&app.sim, addr, c));
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

fn view_leader(vl: &ViewLeader, now: Time) -> String {
    let mut h = String::new();
    let view = vl.view();
    let _ = write!(
        h,
        "<p>epoch <b>{}</b>{} · {} in the view</p>",
        view.epoch.0,
        if vl.rebalancing() { " (rebalancing)" } else { "" },
        view.members.len()
    );
    h.push_str("<table><tr><th>server</th><th>at</th><th>last heartbeat</th><th>rebalanced</th></tr>");
    for (id, r) in vl.servers() {
        let age = now.0.saturating_sub(r.last_heartbeat.0);
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{} ms ago</td><td>{}</td></tr>",
            esc(&id.0),
            select_link(&format!("node:{}", r.addr), &r.addr.0),
            age,
            if r.rebalanced { "yes" } else { "no" }
        );
    }
    h.push_str("</table>");
    if !vl.failed().is_empty() {
        let failed: Vec<String> = vl.failed().iter().map(|id| esc(&id.0)).collect();
        let _ = write!(h, "<p class=\"bad\">failed (never accepted again): {}</p>", failed.join(", "));
    }
    h.push_str("<h3>Locks</h3>");
    let mut any = false;
    for (name, holder, queue) in vl.locks().locks() {
        any = true;
        let _ = write!(
            h,
            "<p>lock <b>{}</b>: held by {}{}</p>",
            esc(name),
            holder.map_or("nobody".to_string(), esc),
            if queue.is_empty() { String::new() } else { format!(", queue: {}", esc(&queue.join(" → "))) }
        );
    }
    if !any {
        h.push_str("<p class=\"hint\">no locks</p>");
    }
    h
}

/// Bucket rows shown at most; a server can hold thousands.
const BUCKET_ROWS: usize = 60;

fn server(s: &Server) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<p>id <b>{}</b> · epoch {} · rebalanced {} · {} copies unacknowledged</p>",
        esc(&s.id().0),
        s.view().epoch.0,
        s.stable_view().epoch.0,
        s.unacked_copies()
    );
    let pending: Vec<_> = s.pending().collect();
    if !pending.is_empty() {
        h.push_str("<h3>Pending transactions</h3><table><tr><th>tx</th><th>key</th><th>state</th></tr>");
        for p in pending {
            let state = match &p.phase {
                PendingPhase::Ready => "READY".to_string(),
                PendingPhase::Asking { round, .. } => format!("READY (asking, round {round})"),
                PendingPhase::Blocked { .. } => "BLOCKED".to_string(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"st {}\">{state}</td></tr>",
                esc(&p.tx.to_string()),
                select_link(&format!("key:{}", p.key), &p.key),
                state.split(' ').next().unwrap_or("").to_lowercase()
            );
        }
        h.push_str("</table>");
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

fn client(sim: &Sim, addr: &Addr, c: &Client) -> String {
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
        let names: Vec<&str> = unacked
            .iter()
            .map(|id| sim.servers().find(|(_, s)| s.id() == id).map_or(id.as_str(), |(a, _)| a.as_str()))
            .collect();
        let _ = write!(h, "<p>{tx}: returned, a majority committed it; still telling {}</p>", esc(&names.join(", ")));
    }
    let ops = c.operations();
    if ops.is_empty() {
        h.push_str("<p class=\"hint\">no operation in progress</p>");
        return h;
    }
    h.push_str("<table><tr><th>op</th><th>command</th><th>waiting for</th></tr>");
    for op in ops {
        let mut trap = String::new();
        let stage = match &op.stage {
            Stage::Asking => "an answer".to_string(),
            Stage::NeedView => "the view".to_string(),
            Stage::Backoff => "its backoff to end".to_string(),
            Stage::Voting { tx, participants, yes } => {
                trap = button(
                    "trap",
                    &format!("{}|{}|{}", addr.0, tx.client, tx.seq),
                    "Crash before deciding this",
                    "The client dies the moment it would send its decision for this transaction",
                );
                format!("INIT: votes for {tx} ({} of {} yes)", yes.len(), participants.len())
            }
            Stage::Deciding { tx, commit, unacked, participants } => format!(
                "{}: {tx} sent; {} of {} acknowledgements to come",
                if *commit { "COMMIT" } else { "ABORT" },
                unacked.len(),
                participants.len()
            ),
            Stage::Reading { replicas, answered } => {
                format!("{} of {} replicas to answer", replicas.len() - answered.len(), replicas.len())
            }
            Stage::LockQueued => "its turn in the lock's queue".to_string(),
        };
        let _ = write!(h, "<tr><td>{}</td><td>{}</td><td>{} {trap}</td></tr>", op.op.0, esc(&op.what), esc(&stage));
    }
    h.push_str("</table>");
    h
}

fn key_card(app: &App, key: &str) -> String {
    let mut h = format!("<h2>key <b>{}</b></h2>", esc(key));
    let vl_view = app.sim.view_leader().view();
    let ring = ringside_core::ring::Ring::new(vl_view.members.iter().map(|m| &m.id), app.sim.config().vnodes);
    let want: Vec<String> = ring.replicas(key, app.sim.config().replicas).iter().map(|id| esc(&id.0)).collect();
    let _ = write!(h, "<p>replicas in epoch {}: {} (primary first)</p>", vl_view.epoch.0, want.join(", "));
    h.push_str("<table><tr><th>server</th><th>value</th><th>version</th></tr>");
    for (addr, s) in app.sim.servers() {
        if let Some(e) = s.bucket().get(key) {
            let _ = write!(
                h,
                "<tr><td>{} ({})</td><td>{}</td><td>{}</td></tr>",
                select_link(&format!("node:{addr}"), &addr.0),
                esc(&s.id().0),
                esc(&e.value),
                e.version
            );
        }
    }
    h.push_str("</table>");
    h
}

fn message(app: &App, id: u64) -> String {
    let Some(m) = app.journal.messages.get(&id) else {
        return format!("<h2>message {id}</h2><p>not in this run</p>");
    };
    let mut h = format!("<h2>message {id} <small>{} → {}</small></h2>", esc(&m.from.0), esc(&m.to.0));
    let _ = write!(h, "<p>{}</p><p>sent {} · due {} · {}</p>", esc(&m.summary()), secs(m.sent), secs(m.due), fate(m));
    if app.sim.in_flight().iter().any(|f| f.id == id) {
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
    let json = serde_json::to_string_pretty(&m.msg).unwrap_or_default();
    let _ = write!(h, "<pre>{}</pre>", esc(&json));
    h
}

/// What became of a message, in words.
pub fn fate(m: &MsgLine) -> String {
    let copy = m.copy_of.map_or(String::new(), |o| format!(" (a copy of {o})"));
    match &m.fate {
        Fate::InFlight => format!("in flight{copy}"),
        Fate::Delivered(t) => format!("delivered at {}{copy}", secs(*t)),
        Fate::Dropped(t, why) => format!("<span class=\"bad\">lost at {} ({})</span>{copy}", secs(*t), esc(why)),
    }
}

/// Transactions shown in the table, the newest.
const TX_SHOWN: usize = 12;

/// The table of recent transactions (given newest first): the coordinator's state and each
/// participant's.
pub fn transactions<'a>(rows: impl Iterator<Item = &'a TxRow>) -> String {
    let mut rows = rows.take(TX_SHOWN).peekable();
    if rows.peek().is_none() {
        return "<h3>Transactions</h3><p class=\"hint\">none yet: setr starts one</p>".to_string();
    }
    let mut h = String::from(
        "<h3>Transactions <small>2PC state of the coordinator and of each participant</small></h3>\
         <table class=\"txs\"><tr><th>tx</th><th>key</th><th>coordinator</th><th>participants</th></tr>",
    );
    for row in rows {
        let coordinator = format!(
            "{} <span class=\"st {}\">{}</span>{}",
            esc(&row.coordinator.0),
            row.decided.name().to_lowercase(),
            row.decided.name(),
            if row.coordinator_crashed { " <span class=\"bad\">crashed</span>" } else { "" }
        );
        let parts: Vec<String> = row
            .participants
            .iter()
            .map(|(_, addr, st)| {
                let asking = if row.asking && *st == TxState::Ready { " (asking)" } else { "" };
                format!("{} <span class=\"st {}\">{}</span>{asking}", esc(&addr.0), st.name().to_lowercase(), st.name())
            })
            .collect();
        let _ = write!(
            h,
            "<tr data-tx=\"{tx}\"><td>{tx}</td><td>{}</td><td>{coordinator}</td><td>{}</td></tr>",
            select_link(&format!("key:{}", row.key), &row.key),
            parts.join(" · "),
            tx = esc(&row.tx.to_string()),
        );
    }
    h.push_str("</table>");
    h
}

/// Log lines shown, the newest.
const LOG_LINES: usize = 150;

/// The plain-language log, newest last.
pub fn log(app: &App) -> String {
    log_lines(&app.journal.log, secs)
}

/// Log lines as list items, newest last, each time written by `when`.
pub fn log_lines(lines: &[(Time, String, String)], when: impl Fn(Time) -> String) -> String {
    let mut h = String::new();
    for (t, node, text) in &lines[lines.len().saturating_sub(LOG_LINES)..] {
        let who = if node.is_empty() { "▶".to_string() } else { esc(node) };
        let _ = write!(h, "<li><time>{}</time> <b>{who}</b> {}</li>", when(*t), esc(text));
    }
    h
}

/// The lesson card's text.
pub fn lesson(app: &App) -> String {
    let Some((lesson, done)) = app.current_lesson() else {
        return "<p class=\"hint\">Pick a lesson to be walked through the protocol, or play freely with the \
                controls below.</p>"
            .to_string();
    };
    let mut h = format!("<h3>{}</h3><p class=\"about\">{}</p>", esc(lesson.title), esc(lesson.about));
    let _ = write!(h, "<p class=\"progress\">step {done} of {}</p>", lesson.steps.len());
    if done == 0 {
        let _ = write!(h, "<p>Press <b>Next step</b> to begin: {}.</p>", esc(lesson.steps[0].title));
    } else {
        let step = &lesson.steps[done - 1];
        let _ = write!(h, "<h4>{}</h4><p>{}</p>", esc(step.title), esc(step.text));
        match lesson.steps.get(done) {
            Some(next) => {
                let _ = write!(h, "<p class=\"next\">Next: {}</p>", esc(next.title));
            }
            None => {
                h.push_str("<p class=\"next\">That is the whole lesson. Step back, replay, or try your own faults.</p>")
            }
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_sim::{Session, Setup};

    fn lesson_four_after(steps: usize) -> App {
        let mut app = App::new(Session::new(Setup::default()));
        app.start_lesson(3).unwrap();
        for _ in 0..steps {
            app.lesson_next();
        }
        app
    }

    #[test]
    fn the_transaction_table_names_each_2pc_state() {
        let app = lesson_four_after(2);
        let html = transactions(app.journal.recent_txs());
        assert_eq!(html.matches(">READY<").count(), 3, "{html}");
        assert!(html.contains(">INIT<"), "the coordinator is still collecting votes: {html}");
        let app = lesson_four_after(4);
        let html = transactions(app.journal.recent_txs());
        assert_eq!(html.matches(">COMMIT<").count(), 4, "{html}");
    }

    #[test]
    fn a_selected_server_shows_its_pending_transaction_and_bucket() {
        let app = lesson_four_after(2);
        let html = inspector(&app);
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
        let html = inspector(&app);
        assert!(html.contains("returned, a majority committed it; still telling s"), "{html}");
    }

    #[test]
    fn text_from_the_learner_is_escaped() {
        assert_eq!(esc("<b>\"x\"&"), "&lt;b&gt;&quot;x&quot;&amp;");
        let mut app = App::new(Session::new(Setup::default()));
        app.selected = Some(Focus::Key("<script>".into()));
        assert!(!inspector(&app).contains("<script>"));
    }

    #[test]
    fn the_lesson_card_says_what_happened_and_what_comes_next() {
        let app = lesson_four_after(1);
        let html = lesson(&app);
        assert!(html.contains("step 1 of 4") && html.contains("Next: c1 sends prepare"), "{html}");
    }
}
