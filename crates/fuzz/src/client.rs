//! A client under hostile servers and view leader: it never reports a write that a majority
//! of the transaction's participants did not say they committed, and once its peers fall
//! silent every operation it started ends.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use ringside_core::id::MAX_NUMBER;
use ringside_core::{Addr, Client, ClientConfig, Event, Msg, OpId, OpOutput, ServerId, Time, TxId};

use crate::input::{Place, Text};
use crate::run::{read, Harness, Step};

/// How long the client may take to give up on silent peers, in all.
const SILENCE_MS: u64 = 30 * 60 * 1000;

/// One of the client's own commands.
#[derive(Arbitrary, Clone, Debug)]
#[allow(missing_docs)]
pub enum Command {
    SetR(Text, Text),
    GetR(Text),
    LockGet(Text),
    LockRelease(Text),
    QueryServers,
    Set(Place, Text, Text),
    Get(Place, Text),
}

/// What the client did with each transaction, as its peers saw it.
#[derive(Default)]
struct Writes {
    /// Each setr's key, by op.
    keys: BTreeMap<OpId, String>,
    /// Each transaction's key and the servers it prepared at.
    prepared: BTreeMap<TxId, (String, BTreeSet<ServerId>)>,
    /// The version each transaction was committed at.
    commits: BTreeMap<TxId, u64>,
    /// Servers that said they committed each transaction.
    done: BTreeMap<TxId, BTreeSet<ServerId>>,
}

/// Runs a client of the view leader at `vl` through the steps `data` spells, then lets its
/// peers fall silent until every operation ended.
pub fn run(data: &[u8]) {
    let (seed, steps) = read::<Command>(data);
    let mut harness = Harness::new(Client::new(ClientConfig::new(Addr::from("vl"), seed), Time::ZERO));
    let mut writes = Writes::default();
    for step in &steps {
        let now = harness.now;
        match step {
            Step::Command(command) => {
                harness.sent.clear();
                harness.events.clear();
                let client = &mut harness.node;
                let started = match command {
                    Command::SetR(key, value) => {
                        client.setr(now, key.get(), value.get()).map(|op| (op, Some(key.get())))
                    }
                    Command::GetR(key) => client.getr(now, key.get()).map(|op| (op, None)),
                    Command::LockGet(name) => client.lock_get(now, name.get()).map(|op| (op, None)),
                    Command::LockRelease(name) => client.lock_release(now, name.get()).map(|op| (op, None)),
                    Command::QueryServers => Ok((client.query_servers(now), None)),
                    Command::Set(to, key, value) => {
                        client.set(now, to.get(), key.get(), value.get()).map(|op| (op, None))
                    }
                    Command::Get(to, key) => client.get(now, to.get(), key.get()).map(|op| (op, None)),
                };
                if let Ok((op, Some(key))) = started {
                    writes.keys.insert(op, key);
                }
                harness.drain();
            }
            other => {
                if let Some((_, _, Msg::Done { tx, server, committed: true })) = harness.step(other) {
                    writes.done.entry(tx).or_default().insert(server);
                }
            }
        }
        writes.check(&harness.sent, &harness.events);
    }
    harness.sent.clear();
    harness.events.clear();
    harness.wait(SILENCE_MS);
    writes.check(&harness.sent, &harness.events);
    assert_eq!(harness.node.ops_in_flight(), 0, "operations still running after {SILENCE_MS} ms of silence");
}

impl Writes {
    fn check(&mut self, sent: &[ringside_core::Transmit], events: &[Event]) {
        for transmit in sent {
            match &transmit.msg {
                Msg::Prepare { tx, server, key, .. } => {
                    self.prepared.entry(*tx).or_insert_with(|| (key.clone(), BTreeSet::new())).1.insert(server.clone());
                }
                Msg::Commit { tx, version, .. } => {
                    assert!(*version <= MAX_NUMBER, "{tx} committed at {version}, past what a frame may carry");
                    let before = *self.commits.entry(*tx).or_insert(*version);
                    assert_eq!(before, *version, "{tx} committed at two versions");
                }
                _ => {}
            }
        }
        for event in events {
            let Event::OpDone { op, result: Ok(OpOutput::Written { version }) } = event else { continue };
            let key = self.keys.get(op).expect("only setr writes");
            let applied = self.prepared.iter().any(|(tx, (prepared_key, at))| {
                let done = self.done.get(tx).map_or(0, |done| done.intersection(at).count());
                prepared_key == key && self.commits.get(tx) == Some(version) && 2 * done > at.len()
            });
            assert!(applied, "setr of {key:?} reported version {version}, which no majority said it committed");
        }
    }
}
