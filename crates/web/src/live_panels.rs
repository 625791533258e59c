//! The text panels for a live cluster (or a replayed events file): status line, inspector of
//! a node, key or message, and the log with real times. Pure functions, tested natively.

use std::fmt::Write;

use ringside_core::ring::Ring;
use ringside_core::Time;

use crate::app::Focus;
use crate::live::{Live, MS_PER_UNIT};
use crate::model::Fate;
use crate::panels::{button, esc, log_lines, select_link, transactions};

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

/// A live clock time in milliseconds since the first record.
pub fn ms(t: Time) -> String {
    format!("{:.2}ms", t.0 as f64 * MS_PER_UNIT)
}

/// The header's status line.
pub fn status(live: &Live, link: &Link<'_>) -> String {
    let source = match link.replay {
        Some((done, all)) => format!("<b>replay</b> of an events file · record {done} of {all}"),
        // Nothing heard yet: the view leader's stream and answers are still on their way.
        None if live.journal.messages.is_empty() && live.members.is_empty() => {
            format!("<b>connecting</b> to the view leader at {}…", esc(&live.view_leader.0))
        }
        None => format!("<b>live</b> · view leader {}", esc(&live.view_leader.0)),
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

/// The inspector for what is selected, then the transaction table.
pub fn inspector(live: &Live, focus: Option<&Focus>, can_kill: bool) -> String {
    let mut h = match focus {
        Some(Focus::Node(name)) => node(live, name, can_kill),
        Some(Focus::Key(key)) => key_card(live, key),
        Some(Focus::Message(id)) => message(live, *id),
        None => "<h2>Inspector</h2><p class=\"hint\">Click a server, a lane, a key or a message to read it here. \
                 Everything shown comes from the nodes' own streams and answers.</p>"
            .to_string(),
    };
    h.push_str(&transactions(live.journal.recent_txs()));
    h
}

fn node(live: &Live, name: &ringside_core::Addr, can_kill: bool) -> String {
    let Some(n) = live.by_name(name) else {
        let what = if name.as_str() == crate::live::CLIENTS {
            "clients this page does not run, such as ringside client: they do not listen, so a node knows each only \
             by its connection"
        } else {
            "this page's own client: the 2PC coordinator for the commands you give"
        };
        return format!("<h2>{}</h2><p>{what}</p>", esc(&name.0));
    };
    let role =
        n.role.as_deref().map_or("not heard from yet", |r| if r == "viewleader" { "view leader" } else { "server" });
    let mut h = format!("<h2>{} <small>{role} at {}</small></h2>", esc(&n.name.0), esc(&n.addr.0));
    let id = n.id.clone().or_else(|| live.members.iter().find(|m| m.addr == n.name).map(|m| m.id.clone()));
    if let Some(id) = &id {
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
    if let Some(keys) = id.as_ref().and_then(|id| live.holdings.get(id)) {
        let shown: Vec<String> = keys.iter().take(60).map(|k| select_link(&format!("key:{k}"), k)).collect();
        let more = if keys.len() > 60 { format!(" … and {} more", keys.len() - 60) } else { String::new() };
        let _ = write!(
            h,
            "<h3>bucket <small>{} keys, from its query_all_keys</small></h3><p>{}{more}</p>",
            keys.len(),
            shown.join(" ")
        );
    }
    let sent = live.journal.messages.values().filter(|m| m.from == n.name).count();
    let got = live.journal.messages.values().filter(|m| m.to == n.name).count();
    let _ = write!(h, "<p class=\"hint\">{sent} messages sent, {got} received while watched</p>");
    h
}

fn key_card(live: &Live, key: &str) -> String {
    let mut h = format!("<h2>key <b>{}</b></h2>", esc(key));
    let ring = Ring::new(live.members.iter().map(|m| &m.id), live.vnodes);
    let name = |id: &ringside_core::ServerId| {
        live.members.iter().find(|m| &m.id == id).map_or(id.0.clone(), |m| m.addr.0.clone())
    };
    let want: Vec<String> = ring.replicas(key, live.replicas).iter().map(|id| esc(&name(id))).collect();
    let _ = write!(h, "<p>replicas in epoch {}: {} (primary first)</p>", live.epoch, want.join(", "));
    let holders: Vec<String> =
        live.holdings.iter().filter(|(_, keys)| keys.iter().any(|k| k == key)).map(|(id, _)| esc(&name(id))).collect();
    let _ = write!(h, "<p>held by: {}</p>", if holders.is_empty() { "nobody".into() } else { holders.join(", ") });
    h
}

fn message(live: &Live, id: u64) -> String {
    let Some(m) = live.journal.messages.get(&id) else {
        return format!("<h2>message {id}</h2><p>not seen</p>");
    };
    let mut h = format!("<h2>message {id} <small>{} → {}</small></h2>", esc(&m.from.0), esc(&m.to.0));
    let fate = match &m.fate {
        Fate::InFlight => "its receipt not reported yet".to_string(),
        Fate::Delivered(t) => {
            format!("received at {} ({:.0} µs on the way)", ms(*t), (t.0 - m.sent.0) as f64 * MS_PER_UNIT * 1000.0)
        }
        Fate::Dropped(t, why) => format!("<span class=\"bad\">lost at {} ({})</span>", ms(*t), esc(why)),
    };
    let _ = write!(h, "<p>{}</p><p>sent at {} · {fate}</p>", esc(&m.summary()), ms(m.sent));
    let json = serde_json::to_string_pretty(&m.msg).unwrap_or_default();
    let _ = write!(h, "<pre>{}</pre>", esc(&json));
    h
}

/// The log, with times in milliseconds since the first record.
pub fn log(live: &Live) -> String {
    log_lines(&live.journal.log, ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_core::{Addr, Member, ServerId};

    fn live() -> Live {
        let mut live = Live::new(Addr::from("127.0.0.1:39000"), 3, 1);
        live.node(&Addr::from("127.0.0.1:38000"), Some("s1"));
        live.set_view(2, &[Member { id: ServerId::from("ab"), addr: Addr::from("127.0.0.1:38000") }], false);
        live.set_keys(ServerId::from("ab"), vec!["apple".into(), "plum".into()]);
        live
    }

    #[test]
    fn the_status_line_says_what_the_page_is_connected_to() {
        let fresh = Live::new(ringside_core::Addr::from("127.0.0.1:39000"), 3, 1);
        let link = Link { connected: true, admin_error: None, admin: true, replay: None };
        assert!(status(&fresh, &link).contains("<b>connecting</b> to the view leader at 127.0.0.1:39000"));
        let live = live();
        let s = status(&live, &link);
        assert!(s.contains("<b>live</b>") && s.contains("epoch 2") && s.contains("1 in the view"), "{s}");
        assert!(s.contains("admin connected"));
        let refused = Link { admin_error: Some("wrong token"), ..link };
        assert!(status(&live, &refused).contains("admin refused"));
        let replay = Link { connected: false, admin_error: None, admin: false, replay: Some((3, 9)) };
        assert!(status(&live, &replay).contains("record 3 of 9"));
    }

    #[test]
    fn a_server_card_lists_its_bucket_and_offers_a_kill_only_with_the_admin_endpoint() {
        let mut live = live();
        let focus = Focus::Node(Addr::from("s1"));
        let html = inspector(&live, Some(&focus), true);
        assert!(html.contains("2 keys") && html.contains("apple"), "{html}");
        assert!(html.contains("its stream is closed"), "not said hello yet: {html}");
        let hello = r#"{"t":1,"node":"127.0.0.1:38000","kind":"hello","role":"server","id":"ab"}"#;
        live.absorb(crate::live::Record::parse(hello).unwrap());
        assert!(inspector(&live, Some(&focus), true).contains("Kill (kill -9)"));
        assert!(!inspector(&live, Some(&focus), false).contains("Kill (kill -9)"));
        let key = inspector(&live, Some(&Focus::Key("plum".into())), false);
        assert!(key.contains("replicas in epoch 2: s1") && key.contains("held by: s1"), "{key}");
    }
}
