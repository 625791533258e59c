//! A storage server under hostile peers: what it stores stays within its limits and readable,
//! its epoch only grows, and no transaction's outcome it told anyone ever changes.

use std::collections::BTreeMap;

use ringside_core::id::MAX_NUMBER;
use ringside_core::msg::TxState;
use ringside_core::{Addr, Epoch, Msg, Server, ServerConfig, Time, Transmit, TxId};

use crate::run::{read, Harness, Step};
use crate::view_leader::LIMITS;

/// Runs a server at `s1`, its view leader at `vl`, through the steps `data` spells.
pub fn run(data: &[u8]) {
    let (seed, steps) = read::<()>(data);
    let mut config = ServerConfig::new(Addr::from("s1"), Addr::from("vl"), seed);
    config.limits = LIMITS;
    let mut harness = Harness::new(Server::new(config, Time::ZERO));
    harness.seen.own_id = Some(harness.node.id().clone());
    let mut outcomes = Outcomes::default();
    let mut epoch = Epoch(0);
    outcomes.note(&harness.sent);
    for step in &steps {
        if matches!(step, Step::Command(())) {
            continue;
        }
        harness.step(step);
        outcomes.note(&harness.sent);
        epoch = check(&harness.node, epoch);
    }
}

fn check(server: &Server, before: Epoch) -> Epoch {
    let epoch = server.view().epoch;
    assert!(epoch >= before, "the epoch went back from {before} to {epoch}");
    assert!(epoch.0 <= MAX_NUMBER, "epoch {epoch} is more than a frame may carry");
    for (key, entry) in server.bucket() {
        assert!(LIMITS.entry(key, &entry.value).is_ok(), "stored a key or value over the limits: {key:?}");
        assert!(entry.version <= MAX_NUMBER, "{key} is at version {}, more than a frame may carry", entry.version);
    }
    // Paxos Commit: nothing is accepted above the ballot promised, and no ballot passes what a
    // frame may carry.
    for p in server.pending() {
        assert!(p.promised <= MAX_NUMBER, "{} promised ballot {}", p.tx, p.promised);
        let accepted = p.accepted.as_ref().map_or(0, |a| a.ballot);
        assert!(accepted <= p.promised, "{} accepted ballot {accepted} above its promise {}", p.tx, p.promised);
    }
    epoch
}

/// What the server told anyone a transaction became.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Told {
    /// Committed, at this version when the message said.
    Committed(Option<u64>),
    Aborted,
}

/// Every outcome the server told, by transaction: none may change.
#[derive(Default)]
struct Outcomes(BTreeMap<TxId, Told>);

impl Outcomes {
    fn note(&mut self, sent: &[Transmit]) {
        for transmit in sent {
            let (tx, told) = match &transmit.msg {
                Msg::Done { tx, committed: true, .. } => (tx, Told::Committed(None)),
                Msg::Done { tx, committed: false, .. } => (tx, Told::Aborted),
                Msg::DecisionReply { tx, state: TxState::Committed { version } } => {
                    (tx, Told::Committed(Some(*version)))
                }
                Msg::DecisionReply { tx, state: TxState::Aborted } => (tx, Told::Aborted),
                _ => continue,
            };
            let before = *self.0.entry(*tx).or_insert(told);
            let same = match (before, told) {
                (Told::Committed(Some(a)), Told::Committed(Some(b))) => a == b,
                (Told::Committed(_), Told::Committed(_)) | (Told::Aborted, Told::Aborted) => true,
                _ => false,
            };
            assert!(same, "{tx} was told as {before:?}, now as {told:?}");
            if let (Told::Committed(None), Told::Committed(Some(_))) = (before, told) {
                self.0.insert(*tx, told);
            }
        }
    }
}
