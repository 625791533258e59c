//! A replay of records (imported events files), read into a live model one at a time, at the
//! speed the learner picked or step by step.

use ringside_core::{Addr, Event};

use crate::live::Live;
use crate::records::{Record, RecordKind};

/// A replay of records, read out one at a time.
#[derive(Debug)]
pub struct Replay {
    records: Vec<Record>,
    /// How many have been read into the view.
    pub done: usize,
    /// The replay's clock: the wall-clock microseconds of the moment shown.
    pub at: Option<f64>,
    /// Whether it plays by itself.
    pub playing: bool,
}

impl Replay {
    /// A replay of `records`, in time order, playing from the first.
    pub fn new(records: Vec<Record>) -> Replay {
        let at = records.first().map(|r| r.t as f64);
        Replay { records, done: 0, at, playing: true }
    }

    /// The live model to replay `records` into, and the replay.
    pub fn start(records: Vec<Record>) -> (Live, Replay) {
        let mut vls: Vec<Addr> = Vec::new();
        for r in &records {
            if matches!(&r.kind, RecordKind::Hello { role, .. } if role == "viewleader") && !vls.contains(&r.node) {
                vls.push(r.node.clone());
            }
        }
        if vls.is_empty() {
            vls.push(Addr::from("view leader"));
        }
        let mut live = Live::new(vls, 3, 1);
        // Servers are named in the order they first speak, as the cluster numbered them.
        for r in &records {
            if let RecordKind::Hello { role, .. } = &r.kind {
                if role == "server" {
                    live.node(&r.node, None);
                }
            }
        }
        (live, Replay::new(records))
    }

    /// How many records there are.
    pub fn total(&self) -> usize {
        self.records.len()
    }

    /// Reads the next record into `live`; false at the end.
    pub fn step(&mut self, live: &mut Live) -> bool {
        let Some(record) = self.records.get(self.done).cloned() else { return false };
        self.done += 1;
        if let (RecordKind::Event { event: Event::Committed { key, .. } }, Some(id)) =
            (&record.kind, live.nodes.get(&record.node).and_then(|n| n.id.clone()))
        {
            live.received(&id, [key.as_str()]);
        }
        live.absorb(record);
        true
    }

    /// Reads every record up to wall-clock `t_us`; false once none is left.
    pub fn run_until(&mut self, live: &mut Live, t_us: u64) -> bool {
        while self.records.get(self.done).is_some_and(|r| r.t <= t_us) {
            self.step(live);
        }
        self.done < self.records.len()
    }

    /// The wall-clock time of the next record.
    pub fn next_t(&self) -> Option<u64> {
        self.records.get(self.done).map(|r| r.t)
    }

    /// Plays `real_ms` of real time at `speed` (virtual per real millisecond), reading the
    /// records it reaches; stops playing at the end.
    pub fn play(&mut self, live: &mut Live, real_ms: f64, speed: f64) {
        if !self.playing {
            return;
        }
        // Virtual milliseconds per real millisecond, in microseconds of the files' clock.
        let at = self.at.unwrap_or_default() + real_ms * speed * 1000.0;
        self.at = Some(at);
        if !self.run_until(live, at as u64) {
            self.playing = false;
        }
    }

    /// Reads the next record and stops playing; false at the end.
    pub fn step_once(&mut self, live: &mut Live) -> bool {
        self.playing = false;
        if !self.step(live) {
            return false;
        }
        self.at = self.next_t().map(|t| t as f64);
        true
    }

    /// Takes the last record back and stops playing: the view is rebuilt by reading every
    /// record before it again. False at the start.
    pub fn back(&mut self, live: &mut Live) -> bool {
        if self.done == 0 {
            return false;
        }
        let target = self.done - 1;
        let mut fresh = Live::new(live.view_leaders.clone(), live.replicas, live.vnodes);
        self.done = 0;
        while self.done < target && self.step(&mut fresh) {}
        *live = fresh;
        self.playing = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use ringside_core::ServerId;

    use super::*;
    use crate::records::{is_events_file, parse_events};

    const VL: &str = "127.0.0.1:39000";

    #[test]
    fn an_events_file_replays_in_time_order_and_a_bad_line_is_named() {
        let lines = [
            r#"{"t":2000,"node":"127.0.0.1:38000","kind":"hello","role":"server","id":"ab"}"#,
            r#"{"t":1000,"node":"127.0.0.1:39000","kind":"hello","role":"viewleader","id":null}"#,
            "",
            r#"{"t":3000,"node":"127.0.0.1:38000","kind":"event","event":{"event":"committed","tx":{"client":1,"seq":1},"key":"x","version":1}}"#,
        ];
        assert!(is_events_file(&lines.join("\n")));
        let records = parse_events(&lines.join("\n")).unwrap();
        assert_eq!(records.iter().map(|r| r.t).collect::<Vec<_>>(), [1000, 2000, 3000]);
        let mut live = Live::new(vec![Addr::from(VL)], 3, 1);
        let mut replay = Replay::new(records);
        assert!(replay.run_until(&mut live, 2_500));
        assert_eq!(replay.done, 2);
        while replay.step(&mut live) {}
        assert_eq!(live.holdings.get(&ServerId::from("ab")), Some(&vec!["x".to_string()]));
        let err = parse_events("{\"t\":1}\nnonsense").unwrap_err();
        assert!(err.starts_with("line 1: not a Ringside node record"), "{err}");
        assert!(!is_events_file(r#"{"session":{}}"#));
    }
}
