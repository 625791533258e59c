//! The view leader's wait-for graph, drawn as a small SVG for its inspector: each requester a
//! circle saying which locks it holds, an arrow from each waiter to the holder of the lock it
//! waits for, and — while the cycle it would have closed still stands — the last request the
//! view leader refused as a deadlock, dashed and red.

use std::fmt::Write;

use ringside_core::locks::LockTable;

use crate::html::esc;
use crate::palette::{BAD, INK, MUTED};
use crate::trig;

/// A lock request the view leader refused because waiting would have closed a cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The lock asked for.
    pub lock: String,
    /// The requesters around the cycle, the asker first, each waiting for the next.
    pub cycle: Vec<String>,
}

/// One arrow of the graph: `waiter` waits for `lock`, which `holder` holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Who waits.
    pub waiter: String,
    /// Who holds the lock.
    pub holder: String,
    /// The lock.
    pub lock: String,
    /// A refused request, not a wait: it would have closed a cycle.
    pub refused: bool,
}

/// The graph: every requester with the locks it holds, and the arrows between them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// Requesters in order of first appearance, each with the locks it holds.
    pub nodes: Vec<(String, Vec<String>)>,
    /// Waits, in lock order, then the refused request.
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The graph of `locks`, with `refused` drawn while the rest of its cycle still stands.
    pub fn of(locks: &LockTable, refused: Option<&Refused>) -> Graph {
        let mut g = Graph::default();
        for (lock, holder, waiters) in locks.locks() {
            let Some(holder) = holder else { continue };
            g.node(holder).push(lock.to_string());
            for waiter in waiters {
                g.node(waiter);
                g.edges.push(Edge {
                    waiter: waiter.to_string(),
                    holder: holder.to_string(),
                    lock: lock.to_string(),
                    refused: false,
                });
            }
        }
        if let Some(r) = refused.filter(|r| g.still_closes(locks, r)) {
            g.edges.push(Edge {
                waiter: r.cycle[0].clone(),
                holder: r.cycle[1].clone(),
                lock: r.lock.clone(),
                refused: true,
            });
        }
        g
    }

    /// The locks `name` holds, adding it as a node first if it is new.
    fn node(&mut self, name: &str) -> &mut Vec<String> {
        let at = match self.nodes.iter().position(|(n, _)| n == name) {
            Some(at) => at,
            None => {
                self.nodes.push((name.to_string(), Vec::new()));
                self.nodes.len() - 1
            }
        };
        &mut self.nodes[at].1
    }

    /// Whether the refused request would still close its cycle: the lock is still held by the
    /// next around it, and each of the others still waits for the one after.
    fn still_closes(&self, locks: &LockTable, r: &Refused) -> bool {
        let n = r.cycle.len();
        n >= 2
            && locks.holder(&r.lock) == Some(r.cycle[1].as_str())
            && (1..n).all(|i| {
                let (waiter, holder) = (&r.cycle[i], &r.cycle[(i + 1) % n]);
                self.edges.iter().any(|e| &e.waiter == waiter && &e.holder == holder)
            })
    }

    /// The graph as an SVG, with a line saying how to read it; a hint when there are no locks.
    pub fn svg(&self) -> String {
        if self.nodes.is_empty() {
            return "<p class=\"hint\">no locks: the wait-for graph is empty</p>".to_string();
        }
        const W: f64 = 300.0;
        const NODE: f64 = 17.0;
        let h = if self.nodes.len() <= 2 { 88.0 } else { 190.0 };
        let (cx, cy) = (W / 2.0, h / 2.0 - 6.0);
        let n = self.nodes.len();
        let at = |i: usize| -> (f64, f64) {
            match n {
                1 => (cx, cy),
                2 => (cx + if i == 0 { -85.0 } else { 85.0 }, cy),
                _ => {
                    let a = i as f64 / n as f64 * std::f64::consts::TAU - std::f64::consts::FRAC_PI_2;
                    (cx + 95.0 * trig::cos(a), cy + 62.0 * trig::sin(a))
                }
            }
        };
        let index = |name: &str| self.nodes.iter().position(|(n, _)| n == name).unwrap_or(0);
        let mut s = String::new();
        let _ = write!(
            s,
            "<svg class=\"wait-for\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" \
             aria-label=\"wait-for graph\"><defs>{}{}</defs>",
            marker("wf-wait", INK),
            marker("wf-refused", BAD)
        );
        for e in &self.edges {
            let (p0, p1) = (at(index(&e.waiter)), at(index(&e.holder)));
            // Bend each arrow to its left, so two opposite arrows between a pair stay apart.
            let (dx, dy) = (p1.0 - p0.0, p1.1 - p0.1);
            let len = dx.hypot(dy).max(1.0);
            let (nx, ny) = (dy / len, -dx / len);
            let ctrl = ((p0.0 + p1.0) / 2.0 + nx * 22.0, (p0.1 + p1.1) / 2.0 + ny * 22.0);
            let start = toward(p0, ctrl, NODE);
            let end = toward(p1, ctrl, NODE + 2.0);
            let (colour, dash, id) =
                if e.refused { (BAD, " stroke-dasharray=\"5 3\"", "wf-refused") } else { (INK, "", "wf-wait") };
            let _ = write!(
                s,
                "<path d=\"M{:.1} {:.1} Q{:.1} {:.1} {:.1} {:.1}\" fill=\"none\" stroke=\"{colour}\" \
                 stroke-width=\"1.5\"{dash} marker-end=\"url(#{id})\"/>",
                start.0, start.1, ctrl.0, ctrl.1, end.0, end.1
            );
            let label = if e.refused { format!("wants {}: refused", e.lock) } else { format!("waits for {}", e.lock) };
            let mid = (0.25 * p0.0 + 0.5 * ctrl.0 + 0.25 * p1.0, 0.25 * p0.1 + 0.5 * ctrl.1 + 0.25 * p1.1);
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"{colour}\">{}</text>",
                mid.0 + nx * 9.0,
                mid.1 + ny * 9.0 + 4.0,
                esc(&label)
            );
        }
        for (i, (name, held)) in self.nodes.iter().enumerate() {
            let (x, y) = at(i);
            let _ = write!(
                s,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{NODE}\" fill=\"#eef1f6\" stroke=\"{INK}\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"600\" \
                 fill=\"{INK}\">{}</text>",
                y + 4.0,
                esc(name)
            );
            let holds =
                if held.is_empty() { "holds nothing".to_string() } else { format!("holds {}", held.join(", ")) };
            let _ = write!(
                s,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"{MUTED}\">{}</text>",
                y + NODE + 13.0,
                esc(&holds)
            );
        }
        s.push_str("</svg>");
        s.push_str(
            "<p class=\"hint\">An arrow points from a waiter to the holder of the lock it waits for. A cycle of \
             arrows would wait forever, so the view leader refuses the request that would close one: dashed \
             red.</p>",
        );
        s
    }
}

/// An arrowhead marker in `colour`.
fn marker(id: &str, colour: &str) -> String {
    format!(
        "<marker id=\"{id}\" viewBox=\"0 0 8 8\" refX=\"7\" refY=\"4\" markerWidth=\"7\" markerHeight=\"7\" \
         orient=\"auto\"><path d=\"M0 0L8 4L0 8z\" fill=\"{colour}\"/></marker>"
    )
}

/// The point `by` px from `from` toward `to`.
fn toward(from: (f64, f64), to: (f64, f64), by: f64) -> (f64, f64) {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let len = dx.hypot(dy).max(1.0);
    (from.0 + dx / len * by, from.1 + dy / len * by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_sim::Session;

    use crate::app::App;
    use crate::lessons::LESSONS;

    fn edge(waiter: &str, holder: &str, lock: &str, refused: bool) -> Edge {
        Edge { waiter: waiter.into(), holder: holder.into(), lock: lock.into(), refused }
    }

    /// Lesson 8 after `steps` steps, and its view leader's graph.
    fn lesson_eight(steps: usize) -> (App, Graph) {
        let mut app = App::new(Session::default());
        app.start_lesson(7).unwrap();
        for _ in 0..steps {
            app.lesson_step_now();
        }
        let g = Graph::of(app.sim.view_leader().locks(), app.journal.refused.as_ref());
        (app, g)
    }

    #[test]
    fn lesson_eight_draws_the_wait_and_the_refused_cycle() {
        let (_, g) = lesson_eight(1);
        assert_eq!(g.edges, vec![]);
        assert_eq!(g.nodes, vec![("c1".into(), vec!["a".into()]), ("c2".into(), vec!["b".into()])]);
        let (_, g) = lesson_eight(2);
        assert_eq!(g.edges, vec![edge("c1", "c2", "b", false)], "c1 waits for c2 on lock b");
        let (app, g) = lesson_eight(3);
        assert_eq!(g.edges, vec![edge("c1", "c2", "b", false), edge("c2", "c1", "a", true)]);
        assert_eq!(app.journal.refused.as_ref().map(|r| r.cycle.clone()), Some(vec!["c2".into(), "c1".into()]));
        let svg = g.svg();
        assert!(svg.contains("waits for b") && svg.contains("wants a: refused") && svg.contains("holds a"), "{svg}");
        // Once c2 released b, c1 holds it: nobody waits, and the refusal no longer closes a cycle.
        let (_, g) = lesson_eight(LESSONS[7].steps.len());
        assert_eq!(g.edges, vec![]);
        assert_eq!(g.nodes, vec![("c1".into(), vec!["a".into(), "b".into()])]);
    }

    #[test]
    fn a_chain_of_three_is_drawn_without_a_refusal() {
        let mut t = LockTable::new();
        for (lock, who) in [("x", "a"), ("y", "b"), ("y", "a"), ("x", "c")] {
            t.get(lock, who);
        }
        // A refusal whose cycle no longer stands (b does not wait for a) is left out.
        let stale = Refused { lock: "y".into(), cycle: vec!["c".into(), "b".into(), "a".into()] };
        let g = Graph::of(&t, Some(&stale));
        assert_eq!(g.edges, vec![edge("c", "a", "x", false), edge("a", "b", "y", false)]);
        assert_eq!(g.svg().matches("<circle").count(), 3);
    }

    #[test]
    fn an_empty_table_says_so_and_names_are_escaped() {
        assert!(Graph::default().svg().contains("no locks"));
        let mut t = LockTable::new();
        t.get("<l>", "<r>");
        let svg = Graph::of(&t, None).svg();
        assert!(svg.contains("&lt;r&gt;") && !svg.contains("<r>"), "{svg}");
    }
}
