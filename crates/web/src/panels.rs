//! The text panels but the inspector, as HTML: the header's status line (of the simulator, of
//! a live cluster or a replay) and the log. Pure functions, tested natively.

use std::fmt::Write;

use crate::app::App;
use crate::html::esc;
use crate::live::Live;
use crate::model::Journal;
use crate::scene::Source;

/// The header's status line for the simulator.
pub fn sim_status(app: &App) -> String {
    let vl = app.sim.view_leader();
    let hash = app.trace_hash();
    format!(
        "<span title=\"virtual time\">t = {}</span> · <span title=\"events handled so far\">step {}</span> · \
         <span title=\"the view leader's epoch: it grows with every view change\">epoch {}</span>{} · \
         <span class=\"hash\" title=\"trace hash: the same seed and inputs give the same hash, here and natively\">trace {}…</span>",
        Source::Simulated.when(app.sim.now()),
        app.sim.steps(),
        vl.epoch().0,
        if vl.rebalancing() { " <b>rebalancing</b>" } else { "" },
        &hash[..12],
    )
}

/// What the page is connected to, for the status line.
pub struct Link<'a> {
    /// Connected (false: a replayed events file).
    pub connected: bool,
    /// Why the admin endpoint cannot be used, if it cannot; `None` with `admin` true: usable.
    pub admin_error: Option<&'a str>,
    /// Whether an admin endpoint was given.
    pub admin: bool,
    /// A replay's progress: records read, records in all.
    pub replay: Option<(usize, usize)>,
}

/// The header's status line for a live cluster or a replay of its events files.
pub fn live_status(live: &Live, link: &Link<'_>) -> String {
    let source = match link.replay {
        Some((done, all)) => format!("<b>replay</b> of an events file · record {done} of {all}"),
        // Nothing heard yet: the view leader's stream and answers are still on their way.
        None if live.journal.messages.is_empty() && live.members.is_empty() => {
            format!("<b>connecting</b> to the view leader at {}…", esc(&live.view_leader_list()))
        }
        None => format!("<b>live</b> · view leader {}", esc(&live.view_leader_list())),
    };
    let admin = match (link.connected, link.admin, link.admin_error) {
        (false, ..) => String::new(),
        (true, false, _) => " · <span title=\"open the page from the link ringside cluster prints to add and kill servers\">no admin endpoint</span>".into(),
        (true, true, Some(e)) => format!(" · <span class=\"bad\" title=\"{}\">admin refused</span>", esc(e)),
        (true, true, None) => " · admin connected".into(),
    };
    format!(
        "{source} · <span title=\"the view leader's epoch\">epoch {}</span>{} · {} in the view · {} messages seen{admin}",
        live.epoch,
        if live.rebalancing { " <b>rebalancing</b>" } else { "" },
        live.members.len(),
        live.journal.messages.len(),
    )
}

/// Log lines shown, the newest.
const LOG_LINES: usize = 150;

/// The plain-language log, newest last, with times as the scene's source counts them.
pub fn log(journal: &Journal, source: Source) -> String {
    let lines = &journal.log;
    let mut h = String::new();
    for (t, node, text) in &lines[lines.len().saturating_sub(LOG_LINES)..] {
        let who = if node.is_empty() { "▶".to_string() } else { esc(node) };
        let _ = write!(h, "<li><time>{}</time> <b>{who}</b> {}</li>", source.when(*t), esc(text));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::live;

    #[test]
    fn the_status_line_says_what_the_page_is_connected_to() {
        let fresh = Live::new(vec![ringside_core::Addr::from("127.0.0.1:39000")], 3, 1);
        let link = Link { connected: true, admin_error: None, admin: true, replay: None };
        assert!(live_status(&fresh, &link).contains("<b>connecting</b> to the view leader at 127.0.0.1:39000"));
        let live = live();
        let s = live_status(&live, &link);
        assert!(s.contains("<b>live</b>") && s.contains("epoch 2") && s.contains("1 in the view"), "{s}");
        assert!(s.contains("admin connected"));
        let refused = Link { admin_error: Some("wrong token"), ..link };
        assert!(live_status(&live, &refused).contains("admin refused"));
        let replay = Link { connected: false, admin_error: None, admin: false, replay: Some((3, 9)) };
        assert!(live_status(&live, &replay).contains("record 3 of 9"));
    }
}
