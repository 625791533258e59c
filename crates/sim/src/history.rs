//! The clients' history: every replicated operation's invocation and response, for the
//! linearizability checker and the durability invariant.

use std::collections::BTreeMap;

use ringside_core::{Addr, OpError, OpId, OpOutput, Time, Version};

use crate::linearize::{HistoryOp, OpKind};

#[derive(Clone, Debug)]
enum Call {
    Write { key: String, value: String },
    Read { key: String },
}

#[derive(Clone, Debug)]
enum Outcome {
    /// Still running, or its client died first: it may or may not have taken effect.
    Unknown,
    Written {
        version: Version,
    },
    Read {
        value: Option<String>,
    },
    /// Failed with a definite outcome: an aborted write, a read that returned no answer.
    Failed,
}

#[derive(Clone, Debug)]
struct Record {
    client: u64,
    call_at: Time,
    ret_at: Option<Time>,
    call: Call,
    outcome: Outcome,
}

/// Recorded operations of every client process.
#[derive(Clone, Debug, Default)]
pub struct History {
    records: Vec<Record>,
    open: BTreeMap<(Addr, OpId), usize>,
    /// Each client process gets its own number; a restarted client is a new process.
    processes: BTreeMap<Addr, u64>,
    next_process: u64,
}

impl History {
    fn process(&mut self, client: &Addr) -> u64 {
        if let Some(p) = self.processes.get(client) {
            return *p;
        }
        self.next_process += 1;
        self.processes.insert(client.clone(), self.next_process);
        self.next_process
    }

    fn invoked(&mut self, client: &Addr, op: OpId, now: Time, call: Call) {
        let process = self.process(client);
        self.open.insert((client.clone(), op), self.records.len());
        self.records.push(Record { client: process, call_at: now, ret_at: None, call, outcome: Outcome::Unknown });
    }

    /// A `setr` was started.
    pub fn invoked_write(&mut self, client: &Addr, op: OpId, now: Time, key: &str, value: &str) {
        self.invoked(client, op, now, Call::Write { key: key.into(), value: value.into() });
    }

    /// A `getr` was started.
    pub fn invoked_read(&mut self, client: &Addr, op: OpId, now: Time, key: &str) {
        self.invoked(client, op, now, Call::Read { key: key.into() });
    }

    /// An operation finished.
    pub fn completed(&mut self, client: &Addr, op: OpId, now: Time, result: &Result<OpOutput, OpError>) {
        let Some(i) = self.open.remove(&(client.clone(), op)) else { return };
        let record = &mut self.records[i];
        record.ret_at = Some(now);
        record.outcome = match (&record.call, result) {
            (Call::Write { .. }, Ok(OpOutput::Written { version })) => Outcome::Written { version: *version },
            (Call::Read { .. }, Ok(OpOutput::Value { value, .. })) => Outcome::Read { value: Some(value.clone()) },
            (Call::Read { .. }, Err(OpError::NotFound { .. })) => Outcome::Read { value: None },
            // Decided to commit, but too few replicas confirmed it: it may count or not.
            (Call::Write { .. }, Err(OpError::Unconfirmed { .. })) => Outcome::Unknown,
            _ => Outcome::Failed,
        };
    }

    /// A client process died: its open operations keep an unknown outcome.
    pub fn crashed(&mut self, client: &Addr) {
        self.open.retain(|(c, _), _| c != client);
        self.processes.remove(client);
    }

    /// Operations recorded.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The history in the checker's terms. Failed writes are left out (an aborted 2PC wrote
    /// nothing), as are failed and unfinished reads; unfinished writes may or may not count.
    pub fn ops(&self) -> Vec<HistoryOp> {
        self.records
            .iter()
            .filter_map(|r| {
                let (key, kind, ret) = match (&r.call, &r.outcome) {
                    (Call::Write { key, value }, Outcome::Written { .. }) => {
                        (key, OpKind::Write { value: value.clone() }, r.ret_at.map(|t| t.0))
                    }
                    (Call::Write { key, value }, Outcome::Unknown) => {
                        (key, OpKind::Write { value: value.clone() }, None)
                    }
                    (Call::Read { key }, Outcome::Read { value }) => {
                        (key, OpKind::Read { value: value.clone() }, r.ret_at.map(|t| t.0))
                    }
                    _ => return None,
                };
                Some(HistoryOp { client: r.client, key: key.clone(), call: r.call_at.0, ret, kind })
            })
            .collect()
    }

    /// Per key, the newest acknowledged write: its version and when it was invoked.
    pub fn acknowledged(&self) -> BTreeMap<String, (Version, Time)> {
        let mut out: BTreeMap<String, (Version, Time)> = BTreeMap::new();
        for r in &self.records {
            if let (Call::Write { key, .. }, Outcome::Written { version }) = (&r.call, &r.outcome) {
                let at = r.call_at;
                let e = out.entry(key.clone()).or_insert((*version, at));
                if *version > e.0 {
                    *e = (*version, at);
                }
            }
        }
        out
    }
}
