//! The course's terms in a sentence each, and the marking that turns their first use in a
//! piece of HTML into a hover definition (`<abbr class="term" title="…">epoch</abbr>`).

use crate::html::esc;

/// Each term and its definition. A term in capitals (a 2PC state, the replication factor `R`)
/// matches only as written; the others match in any ASCII case and in the plural. Longer terms
/// come before the shorter ones they contain ("stable view" before "view").
pub const TERMS: &[(&str, &str)] = &[
    ("stable view", "The newest view whose rebalancing every member finished: reads trust only replicas placed by it."),
    (
        "view leader",
        "The one node that keeps the membership: it hears every server's heartbeats, declares the silent ones \
         failed and numbers each new view with an epoch.",
    ),
    ("view", "The set of live servers the view leader knows, numbered by its epoch."),
    ("epoch", "The number of a view: it goes up by one with every join and every failure."),
    ("bucket", "A server's own store of keys: the copies it holds, each with its value and version."),
    ("replica", "A server that holds a copy of a key: the key's R servers clockwise from it on the ring."),
    ("R", "The replication factor: how many servers hold a copy of each key."),
    ("primary", "A key's first replica: the first server clockwise from the key on the ring."),
    ("READY", "2PC participant state: it voted yes and holds the key locked; it may no longer decide alone."),
    (
        "BLOCKED",
        "2PC participant state: READY with the coordinator silent, and every participant it could ask is READY \
         too: nobody can decide, so it waits, the key locked.",
    ),
    ("INIT", "2PC state: the transaction has started but the votes are not all in."),
    ("COMMIT", "2PC decision: every participant voted yes, so the write is applied everywhere."),
    ("ABORT", "2PC decision: some participant voted no or was silent, so nothing is written."),
    (
        "lease",
        "How long a server may vote and answer reads after the view leader last accepted its heartbeat: past \
         it, the server may have been declared failed.",
    ),
    ("heartbeat", "The message each server sends the view leader every period to say it is alive."),
    (
        "failure timeout",
        "How long the view leader waits without a heartbeat before declaring a server failed, for good.",
    ),
    (
        "decision timeout",
        "How long a READY participant waits for the coordinator's decision before asking the other \
         participants (the termination protocol).",
    ),
    (
        "termination protocol",
        "A READY participant that heard no decision asks the other participants: one that knows the outcome, \
         or never voted yes, settles it.",
    ),
    ("coordinator", "The client that runs a write's two-phase commit: it asks for votes and decides."),
    ("participant", "A replica in a write's two-phase commit: it votes, then applies the decision."),
    ("version", "A key's write counter: each commit gets one above every replica's, so the highest is the newest."),
];

/// Elements whose text is never marked: code and data, links and buttons (a definition inside
/// a click target gets in the way), and marks already made.
const SKIPPED: &[&str] = &["a", "abbr", "button", "code", "dfn", "pre", "script", "select", "style", "textarea"];

/// `html` with the first use of each term in its text marked as a hover definition. Tags and
/// attributes are copied untouched, and so is the text of code, links, buttons and existing
/// marks, so marking twice changes nothing.
pub fn mark_terms(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut used = [false; TERMS.len()];
    // Open skipped elements around the text being read.
    let mut skipping = 0usize;
    let mut rest = html;
    while !rest.is_empty() {
        if rest.starts_with('<') {
            let end = rest.find('>').map_or(rest.len(), |i| i + 1);
            let tag = &rest[..end];
            skipping = match tag_name(tag) {
                Some((name, closing)) if SKIPPED.iter().any(|s| s.eq_ignore_ascii_case(name)) => {
                    if closing {
                        skipping.saturating_sub(1)
                    } else {
                        skipping + 1
                    }
                }
                _ => skipping,
            };
            out.push_str(tag);
            rest = &rest[end..];
            continue;
        }
        let end = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..end];
        if skipping == 0 {
            mark_text(text, &mut used, &mut out);
        } else {
            out.push_str(text);
        }
        rest = &rest[end..];
    }
    out
}

/// A tag's element name and whether it closes (`</b>`); `None` for comments and the like.
fn tag_name(tag: &str) -> Option<(&str, bool)> {
    let inner = tag.strip_prefix('<')?;
    let (inner, closing) = match inner.strip_prefix('/') {
        Some(rest) => (rest, true),
        None => (inner, false),
    };
    let end = inner.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(inner.len());
    (end > 0).then(|| (&inner[..end], closing))
}

/// Copies a run of text (no tags) to `out`, marking each term not used yet at a word start.
fn mark_text(text: &str, used: &mut [bool], out: &mut String) {
    let mut copied = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        let word_start = bytes[i].is_ascii_alphanumeric() && (i == 0 || !is_word_byte(bytes[i - 1]));
        if word_start {
            if let Some((t, len)) = term_at(&text[i..], used) {
                used[t] = true;
                out.push_str(&text[copied..i]);
                let word = &text[i..i + len];
                out.push_str("<abbr class=\"term\" title=\"");
                out.push_str(&esc(TERMS[t].1));
                out.push_str("\">");
                out.push_str(word);
                out.push_str("</abbr>");
                i += len;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
}

/// What a word is made of; anything else (spaces, punctuation, an entity's `&` and `;`)
/// bounds it.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The first unused term that `text` starts with as a whole word (optionally plural), and the
/// length it takes.
fn term_at(text: &str, used: &[bool]) -> Option<(usize, usize)> {
    TERMS.iter().enumerate().filter(|(i, _)| !used[*i]).find_map(|(i, (term, _))| {
        let head = text.get(..term.len())?;
        let exact = term.bytes().all(|b| !b.is_ascii_lowercase());
        let same = if exact { head == *term } else { head.eq_ignore_ascii_case(term) };
        if !same {
            return None;
        }
        let after = &text.as_bytes()[term.len()..];
        // "epochs" is the plural; "epochal" is another word; a capital term has no plural.
        let len = match after.first() {
            Some(b's') if !exact && after.get(1).is_none_or(|b| !is_word_byte(*b)) => term.len() + 1,
            Some(b) if is_word_byte(*b) => return None,
            _ => term.len(),
        };
        Some((i, len))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_use_of_each_term_is_marked_and_the_rest_left_alone() {
        let html = mark_terms("<p>epoch 3: two epochs later, epoch 5</p>");
        assert_eq!(html.matches("<abbr class=\"term\"").count(), 1, "{html}");
        assert!(html.starts_with("<p><abbr class=\"term\" title=\"The number of a view"), "{html}");
        assert!(html.contains(">epoch</abbr> 3: two epochs later, epoch 5</p>"), "{html}");
        let plural = mark_terms("three replicas, READY");
        assert!(plural.contains(">replicas</abbr>") && plural.contains(">READY</abbr>"), "{plural}");
    }

    #[test]
    fn terms_are_whole_words_and_capital_terms_match_only_as_written() {
        assert_eq!(mark_terms("epochal preview viewer"), "epochal preview viewer");
        assert_eq!(mark_terms("ready to commit, r"), "ready to commit, r");
        let view = mark_terms("s2's view");
        assert!(
            view.starts_with("s2's <abbr class=\"term\" title=\"The set of live servers")
                && view.ends_with(">view</abbr>")
        );
        let r = mark_terms("R = 3");
        assert!(r.starts_with("<abbr class=\"term\" title=\"The replication factor"), "{r}");
    }

    #[test]
    fn the_longer_term_wins() {
        let html = mark_terms("the view leader and its stable view");
        assert!(html.contains(">view leader</abbr>") && html.contains(">stable view</abbr>"), "{html}");
        assert!(!html.contains(">view</abbr>"), "{html}");
    }

    #[test]
    fn tags_attributes_and_code_are_untouched() {
        let html =
            "<td class=\"st ready\" title=\"epoch\">x</td><code>epoch</code><a href=\"#\">bucket</a> <b>bucket</b>";
        let marked = mark_terms(html);
        assert!(
            marked.starts_with(
                "<td class=\"st ready\" title=\"epoch\">x</td><code>epoch</code><a href=\"#\">bucket</a> <b><abbr"
            ),
            "{marked}"
        );
        let entity = mark_terms("&lt;epoch&gt; &amp;R");
        assert!(entity.starts_with("&lt;<abbr") && entity.contains(">epoch</abbr>&gt; &amp;<abbr"), "{entity}");
    }

    #[test]
    fn marking_twice_changes_nothing() {
        let once = mark_terms("<h3>Bucket</h3><p>epoch 2, lease, heartbeat</p>");
        assert_eq!(once.matches("<abbr").count(), 4, "{once}");
        assert_eq!(mark_terms(&once), once);
    }
}
