//! Sharing a run: the URL fragment holds the session (seed, setup and every input), so opening
//! the link replays the same run; an export file holds the session, the trace and its hash.

use ringside_sim::session;
use ringside_sim::{Session, Sim};
use serde_json::json;

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

/// An export: the session, every trace entry and the trace hash, as pretty JSON.
pub fn export(session: &Session, sim: &Sim) -> String {
    let file = json!({
        "ringside": "simulator run",
        "hash": sim.trace().hash(),
        "session": session,
        "trace": sim.trace().entries(),
    });
    serde_json::to_string_pretty(&file).expect("an export always serializes")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn a_session_survives_the_fragment() {
        let s = session();
        let f = fragment(&s);
        assert!(f.bytes().all(|b| b.is_ascii_graphic()), "{f}");
        assert_eq!(from_fragment(&format!("#{f}")), Some(Ok(s.clone())));
        assert_eq!(from_fragment(&f), Some(Ok(s)));
    }

    #[test]
    fn no_fragment_and_damaged_fragments_are_told_apart() {
        assert_eq!(from_fragment(""), None);
        assert_eq!(from_fragment("#lesson=2"), None);
        assert!(from_fragment("#s=%7").unwrap().is_err());
        assert!(from_fragment("#s=%7B%7D").unwrap().unwrap_err().contains("not a Ringside session"));
    }

    #[test]
    fn an_export_replays_to_its_hash() {
        let s = session();
        let sim = s.replay();
        let text = export(&s, &sim);
        let back = session::parse(&text).expect("an export holds its session");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["hash"], back.replay().trace().hash());
    }
}
