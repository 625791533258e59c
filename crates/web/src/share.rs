//! Sharing a run: the URL fragment holds the session (seed, setup and every input), so opening
//! the link replays the same run; an export file holds the session, the trace hash and the
//! newest trace entries.

use ringside_sim::session;
use ringside_sim::{Session, Sim, TraceEntry};
use serde::Serialize;

/// The fragment for a session: `s=` and the session's JSON, percent-encoded.
pub fn fragment(session: &Session) -> String {
    let json = serde_json::to_string(session).expect("a session always serializes");
    format!("s={}", percent_encode(&json))
}

/// The session in a fragment (with or without its `#`); `None` when there is none, an error
/// in one line when it is damaged.
pub fn from_fragment(fragment: &str) -> Option<Result<Session, String>> {
    let encoded = fragment.trim_start_matches('#').split('&').find_map(|part| part.strip_prefix("s="))?;
    Some(
        percent_decode(encoded)
            .ok_or_else(|| "the link's run is damaged (bad percent-encoding)".to_string())
            .and_then(|json| session::parse(&json)),
    )
}

/// The fragment's part naming the lesson being followed and the steps taken:
/// `&lesson=N&step=K` (both from 0 and 1, as the page counts), or nothing.
pub fn lesson_part(lesson: Option<(usize, usize)>) -> String {
    lesson.map(|(n, done)| format!("&lesson={n}&step={done}")).unwrap_or_default()
}

/// The lesson and steps a fragment names, if both are there and are numbers.
pub fn lesson_of(fragment: &str) -> Option<(usize, usize)> {
    let field = |name: &str| {
        fragment.trim_start_matches('#').split('&').find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
    };
    Some((field("lesson")?.parse().ok()?, field("step")?.parse().ok()?))
}

/// An export, as pretty JSON: the session, the trace hash over every entry, and the entries the
/// page still holds (the newest, see [`crate::app::TRACE_KEPT`]), numbered from `trace_from`
/// of `trace_entries`. The session replays the whole run: `ringside-sim run --session FILE
/// --trace` prints every entry.
pub fn export(session: &Session, sim: &Sim) -> String {
    /// The file's fields, in order.
    #[derive(Serialize)]
    struct Export<'a> {
        ringside: &'a str,
        hash: String,
        session: &'a Session,
        trace_entries: u64,
        trace_from: u64,
        trace_note: &'a str,
        trace: &'a [TraceEntry],
    }
    let trace = sim.trace();
    let file = Export {
        ringside: "simulator run",
        hash: trace.hash(),
        session,
        trace_entries: trace.len(),
        trace_from: trace.first(),
        trace_note: "trace holds the newest entries from number trace_from; `ringside-sim run --session FILE --trace` prints them all",
        trace: trace.entries(),
    };
    pretty(&file)
}

/// `value` as indented JSON, laid out as `serde_json::to_string_pretty` lays it out. It is
/// written compactly, as the trace hash and the links write it, and the text is indented:
/// the wasm then holds one encoder of each type rather than one per layout.
pub fn pretty(value: &impl Serialize) -> String {
    let compact = serde_json::to_string(value).expect("a run's data always serializes");
    let mut out = String::with_capacity(compact.len() * 2);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(core::iter::repeat_n("  ", depth));
    };
    let (mut depth, mut in_string, mut escaped) = (0, false, false);
    let mut chars = compact.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty object or array stays on its line.
                match chars.peek() {
                    Some(&close @ ('}' | ']')) => {
                        out.push(close);
                        chars.next();
                    }
                    _ => {
                        depth += 1;
                        newline(&mut out, depth);
                    }
                }
            }
            '}' | ']' => {
                depth -= 1;
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

/// The fields of a live link, `#live=ADDR&admin=ADDR&token=T&key=K` (and `replicas=`, `vnodes=`
/// when not the page's defaults), as (input id, value).
pub fn live_link(hash: &str) -> Option<Vec<(&'static str, String)>> {
    let rest = hash.trim_start_matches('#');
    if !rest.starts_with("live=") {
        return None;
    }
    let fields = rest
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(k, v)| {
            let id = match k {
                "live" => "live-vl",
                "admin" => "live-admin",
                "token" => "live-token",
                "key" => "live-key",
                "replicas" => "live-replicas",
                "vnodes" => "live-vnodes",
                _ => return None,
            };
            Some((id, percent_decode(v).unwrap_or_default()))
        })
        .collect();
    Some(fields)
}

// The browser's own percent-encoding (`encodeURIComponent`): only the page calls these, so the
// native tests stop short of them and the browser tests (`tests/browser.rs`) go through them.
fn percent_encode(text: &str) -> String {
    js_sys::encode_uri_component(text).into()
}

fn percent_decode(text: &str) -> Option<String> {
    js_sys::decode_uri_component(text).ok().map(String::from)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pretty_lays_out_json_as_serde_json_does() {
        let value = serde_json::json!({"cmd": "say \"hi\", [ok]: {x}", "empty": [], "none": {}, "n": [1, {"a": null}],
            "esc": "back\\slash"});
        assert_eq!(pretty(&value), serde_json::to_string_pretty(&value).unwrap());
    }

    use super::*;
    use ringside_core::Addr;
    use ringside_sim::{Action, Input, Setup};

    fn session() -> Session {
        let mut s = Session::new(Setup { seed: 4, ..Setup::default() });
        s.record(Input::Steps { n: 30 });
        s.record(Input::Act { action: Action::setr(Addr::from("c1"), "ключ & <k>".into(), "v=1#2".into()) });
        s.record(Input::Steps { n: 10 });
        s
    }

    // A session surviving the fragment, and damaged fragments, are checked in the browser
    // (`tests/browser.rs`): the encoding is the browser's.
    #[test]
    fn a_hash_without_a_run_or_a_live_link_is_neither() {
        assert_eq!(from_fragment(""), None);
        assert_eq!(from_fragment("#lesson=2"), None);
        assert_eq!(live_link("#lesson=2"), None);
        assert_eq!(live_link("#s=%7B%7D"), None);
    }

    #[test]
    fn a_link_names_the_lesson_and_step_it_was_shared_at() {
        let part = lesson_part(Some((3, 2)));
        assert_eq!(lesson_of(&format!("#s=%7B%7D{part}")), Some((3, 2)));
        assert_eq!(lesson_part(None), "");
        assert_eq!(lesson_of("#s=%7B%7D"), None);
        assert_eq!(lesson_of("#s=x&lesson=a&step=1"), None);
    }

    #[test]
    fn an_export_replays_to_its_hash() {
        let s = session();
        let sim = s.replay();
        let text = export(&s, &sim);
        let back = session::parse(&text).expect("an export holds its session");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["hash"], back.replay().trace().hash());
        assert_eq!(v["trace_from"], 0);
        assert_eq!(v["trace"].as_array().map(Vec::len), Some(sim.trace().len() as usize));
    }

    #[test]
    fn an_export_of_a_long_run_holds_the_newest_entries_numbered() {
        let s = session();
        let all = s.replay();
        let kept = s.replay_keeping(20, |_| {});
        let v: serde_json::Value = serde_json::from_str(&export(&s, &kept)).unwrap();
        assert_eq!(v["hash"], all.trace().hash());
        assert_eq!(v["trace_entries"], all.trace().len());
        let from = v["trace_from"].as_u64().expect("a number");
        assert!(from > 0);
        let held: Vec<ringside_sim::TraceEntry> = serde_json::from_value(v["trace"].clone()).unwrap();
        assert_eq!(held, all.trace().entries()[from as usize..]);
    }
}
