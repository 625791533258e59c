//! The inspector: a card for what the learner selected — a node, a key or a message — then
//! the table of recent transactions. One builder for every mode: the cards are made of what
//! the [`Scene`] tells, which is everything inside each process for the simulator and what the
//! nodes' streams and answers show for a real cluster.

use std::fmt::Write;

use ringside_core::twopc::PendingPhase;
use ringside_core::{Addr, Client, Server, Stage, Time, ViewLeader};
use ringside_sim::{Kind, Role, Sim};

use crate::app::Focus;
use crate::html::{button, esc, select_link};
use crate::live::{LiveNode, MS_PER_UNIT};
use crate::model::{Fate, MsgLine, TxPhase, TxRow};
use crate::scene::{Copies, KeyFacts, NodeFacts, Scene, Source};

/// The inspector for what is selected, then the transaction table.
pub fn inspector(scene: &dyn Scene, focus: Option<&Focus>) -> String {
    let mut html = match focus {
        Some(Focus::Node(name)) => node(name, scene.node(name)),
        Some(Focus::Key(key)) => key_card(key, scene.key(key)),
        Some(Focus::Message(id)) => message(scene, *id),
        None => {
            let more = match scene.source() {
                Source::Simulated => "",
                Source::Observed => " Everything shown comes from the nodes' own streams and answers.",
            };
            format!("<h2>Inspector</h2><p class=\"hint\">Click a server, a lane, a key or a message to read it here.{more}</p>")
        }
    };
    html.push_str(&transactions(scene.journal().recent_txs()));
    html
}

fn node(name: &Addr, facts: NodeFacts<'_>) -> String {
    match facts {
        NodeFacts::Absent(what) => format!("<h2>{}</h2><p>{what}</p>", esc(&name.0)),
        NodeFacts::Simulated { kind, role, sim } => simulated(name, kind, role, sim),
        NodeFacts::Watched { node, id, keys, can_kill, sent, received } => {
            watched(node, id.as_ref(), keys, can_kill, (sent, received))
        }
    }
}

fn simulated(addr: &Addr, kind: Kind, role: Option<&Role>, sim: &Sim) -> String {
    let mut h = format!("<h2>{} <small>{}</small></h2>", esc(&addr.0), kind_name(kind));
    let restartable = kind != Kind::ViewLeader;
    match role {
        None => {
            h.push_str("<p class=\"bad\">down: the process crashed and its memory is gone.</p>");
            if restartable {
                h.push_str(&button("restart", &addr.0, "Restart", "Start a fresh process here: new id, empty memory"));
            }
        }
        Some(Role::ViewLeader(vl)) => h.push_str(&view_leader(vl, sim.now())),
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
            h.push_str(&client(sim, addr, c));
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
                state.split(' ').next().unwrap_or("").to_ascii_lowercase()
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

/// Bucket keys a watched server's card lists at most.
const KEYS_SHOWN: usize = 60;

fn watched(
    n: &LiveNode,
    id: Option<&ringside_core::ServerId>,
    keys: Option<&[String]>,
    can_kill: bool,
    counts: (usize, usize),
) -> String {
    let role =
        n.role.as_deref().map_or("not heard from yet", |r| if r == "viewleader" { "view leader" } else { "server" });
    let mut h = format!("<h2>{} <small>{role} at {}</small></h2>", esc(&n.name.0), esc(&n.addr.0));
    if let Some(id) = id {
        let _ = write!(h, "<p>server id <code>{}</code></p>", esc(&id.0));
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
                    "<tr><td>{} ({})</td><td>{}</td><td>{}</td></tr>",
                    select_link(&format!("node:{}", c.lane), &c.lane.0),
                    esc(&c.id.0),
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

fn message(scene: &dyn Scene, id: u64) -> String {
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
            esc(&m.summary()),
            source.when(m.sent),
            source.when(m.due),
            fate(m)
        ),
        Source::Observed => {
            write!(h, "<p>{}</p><p>sent at {} · {}</p>", esc(&m.summary()), source.when(m.sent), receipt(m))
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
    let json = serde_json::to_string_pretty(&m.msg).unwrap_or_default();
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
            row.decided.name().to_ascii_lowercase(),
            row.decided.name(),
            if row.coordinator_crashed { " <span class=\"bad\">crashed</span>" } else { "" }
        );
        let parts: Vec<String> = row
            .participants
            .iter()
            .map(|(_, addr, st)| {
                let asking = if row.asking && *st == TxPhase::Ready { " (asking)" } else { "" };
                format!(
                    "{} <span class=\"st {}\">{}</span>{asking}",
                    esc(&addr.0),
                    st.name().to_ascii_lowercase(),
                    st.name()
                )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::live::Live;
    use crate::modes::{Driver, RealCluster};
    use crate::panels::Link;
    use crate::records::Record;
    use crate::testing::{lesson_four_after, live};
    use ringside_sim::{Session, Setup};

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
        let key = inspector(&watch, Some(&Focus::Key("plum".into())));
        assert!(key.contains("replicas in epoch 2: s1") && key.contains("held by: s1"), "{key}");
    }
}
