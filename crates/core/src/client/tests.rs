//! The client's tests, fed whole: commands and hand-made answers in, every output checked.

use super::*;
use crate::id::{TxSecret, Version};
use crate::msg::{NoReason, ReadAnswer, TxState, VoteAnswer};
use crate::testing::drain;
use crate::twopc::coordinator::DECISION_RESENDS;
use alloc::string::ToString;
use alloc::vec;

const VL: &str = "vl";
const SEED: u64 = 42;

fn addr(id: &str) -> Addr {
    Addr(format!("srv-{id}"))
}

fn sid(id: &str) -> ServerId {
    ServerId::from(id)
}

fn members(ids: &[&str]) -> Vec<Member> {
    ids.iter().map(|id| Member { id: sid(id), addr: addr(id) }).collect()
}

fn config() -> ClientConfig {
    ClientConfig { name: Some("cl".to_string()), ..ClientConfig::new(Addr::from(VL), SEED) }
}

/// This client's transaction `seq`: the client id is the first draw from its seed.
fn tx(seq: u64) -> TxId {
    TxId { client: Rng::new(SEED).next_u64(), seq }
}

/// The secret this client gives transaction `tx`.
fn secret(tx: TxId) -> TxSecret {
    TxSecret::derive(config().secret_key, tx)
}

fn to(to: Addr, msg: Msg) -> Transmit {
    Transmit { to, msg }
}

fn to_vl(msg: Msg) -> Transmit {
    to(Addr::from(VL), msg)
}

/// `msg` to each of these servers, in order.
fn to_each(ids: &[&str], msg: Msg) -> Vec<Transmit> {
    ids.iter().map(|id| to(addr(id), msg.clone())).collect()
}

fn servers(op: u64, epoch: u64, ids: &[&str]) -> Msg {
    Msg::Servers { op: OpId(op), epoch: Epoch(epoch), servers: members(ids), rebalancing: false, stable: vec![] }
}

/// A client that asked for the view (op 1) and got {a, b, c} at epoch 3.
fn with_view(config: ClientConfig) -> Client {
    let mut c = Client::new(config, Time(0));
    let op = c.query_servers(Time(0));
    c.handle_message(Time(0), Peer::Member(&Addr::from(VL)), servers(op.0, 3, &["a", "b", "c"]));
    drain(&mut c);
    c
}

// In {a, b, c}, k1's replicas are a, c, b (primary first); in {a, b, c, d} they are a, d, c.
const K1_ABC: [&str; 3] = ["a", "c", "b"];
const K1_ABCD: [&str; 3] = ["a", "d", "c"];

fn prepares(tx: TxId, epoch: u64, value: &str, ids: &[&str]) -> Vec<Transmit> {
    ids.iter()
        .map(|id| {
            let msg = Msg::Prepare {
                tx,
                epoch: Epoch(epoch),
                server: sid(id),
                key: "k1".to_string(),
                value: value.to_string(),
                participants: members(ids),
                secret: secret(tx),
            };
            to(addr(id), msg)
        })
        .collect()
}

fn vote(c: &mut Client, now: u64, tx: TxId, server: &str, vote: VoteAnswer) {
    c.handle_message(Time(now), Peer::Member(&addr(server)), Msg::Vote { tx, server: sid(server), vote });
}

fn done(c: &mut Client, now: u64, tx: TxId, ids: &[&str], committed: bool) {
    for id in ids {
        c.handle_message(Time(now), Peer::Member(&addr(id)), Msg::Done { tx, server: sid(id), committed });
    }
}

/// A client whose `setr k1=v` (op returned) got a yes from every replica, each at `version`;
/// its commit is drained.
fn all_voted_yes(version: Version) -> (Client, OpId) {
    let mut c = with_view(config());
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    for id in K1_ABC {
        vote(&mut c, 110, tx(1), id, VoteAnswer::Yes { version });
    }
    drain(&mut c);
    (c, op)
}

fn decided(tx: TxId, commit: bool, ids: &[&str]) -> Event {
    Event::TxDecided { tx, key: "k1".to_string(), commit, participants: ids.iter().map(|id| sid(id)).collect() }
}

fn op_done(op: OpId, result: Result<OpOutput, OpError>) -> Event {
    Event::OpDone { op, result }
}

fn retrying(op: OpId, attempt: u32, reason: &str) -> Event {
    Event::OpRetrying { op, attempt, reason: reason.to_string() }
}

/// Runs the backoff timer, which is 100-150 ms after `now` for the first retry.
fn after_first_backoff(c: &mut Client, now: u64) {
    let at = c.poll_timeout().unwrap();
    assert!(Time(now + 100) <= at && at <= Time(now + 150), "{at:?}");
    // Observers see the same deadline, and the backoff drawn for it.
    let next_attempt = Deadline { due: at, span_ms: at.0 - now };
    assert!(c.operations().iter().any(|o| o.stage == Stage::Backoff { next_attempt }), "{:?}", c.operations());
    c.handle_timeout(at);
}

fn getr_reply(c: &mut Client, op: OpId, server: &str, result: ReadAnswer) {
    c.handle_message(Time(200), Peer::Member(&addr(server)), Msg::GetRReply { op, server: sid(server), result });
}

fn value(value: &str, version: Version) -> ReadAnswer {
    ReadAnswer::Value { value: value.to_string(), version }
}

#[test]
fn query_servers_reports_and_caches_the_view() {
    let mut c = Client::new(config(), Time(0));
    let op = c.query_servers(Time(0));
    assert_eq!(drain(&mut c), (vec![to_vl(Msg::QueryServers { op })], vec![]));
    c.handle_message(Time(10), Peer::Member(&Addr::from(VL)), servers(op.0, 3, &["a", "b", "c"]));
    let output = OpOutput::Servers { epoch: Epoch(3), servers: members(&["a", "b", "c"]), rebalancing: false };
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(output))]));
    assert_eq!(c.cached_epoch(), Some(Epoch(3)));
    assert_eq!(c.placement("k1"), K1_ABC.iter().map(|id| sid(id)).collect::<Vec<_>>());
    assert_eq!(c.ops_in_flight(), 0);
}

#[test]
fn setr_without_a_view_asks_the_view_leader_then_prepares_on_each_replica() {
    let mut c = Client::new(config(), Time(0));
    let op = c.setr(Time(0), "k1".to_string(), "v".to_string()).unwrap();
    assert_eq!(op, OpId(1));
    assert_eq!(drain(&mut c), (vec![to_vl(Msg::QueryServers { op: OpId(2) })], vec![]));
    c.handle_message(Time(10), Peer::Member(&Addr::from(VL)), servers(2, 3, &["a", "b", "c"]));
    assert_eq!(drain(&mut c), (prepares(tx(1), 3, "v", &K1_ABC), vec![]));
    assert_eq!(c.poll_timeout(), Some(Time(1_010)));
}

#[test]
fn setr_commits_above_every_replicas_version() {
    let mut c = with_view(config());
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    assert_eq!(drain(&mut c), (prepares(tx(1), 3, "v", &K1_ABC), vec![]));
    vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
    vote(&mut c, 110, tx(1), "c", VoteAnswer::Yes { version: 2 });
    assert_eq!(drain(&mut c), (vec![], vec![]));
    vote(&mut c, 120, tx(1), "b", VoteAnswer::Yes { version: 1 });
    assert_eq!(
        drain(&mut c),
        (
            to_each(&K1_ABC, Msg::Commit { tx: tx(1), version: 3, secret: secret(tx(1)) }),
            vec![decided(tx(1), true, &K1_ABC)]
        )
    );
    done(&mut c, 130, tx(1), &["a"], true);
    assert_eq!(drain(&mut c), (vec![], vec![]));
    // Two of three applied it: the write returns, and c is still told.
    done(&mut c, 135, tx(1), &["c"], true);
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(OpOutput::Written { version: 3 }))]));
    assert_eq!((c.ops_in_flight(), c.idle()), (0, false));
    done(&mut c, 140, tx(1), &["b"], true);
    assert_eq!(drain(&mut c), (vec![], vec![]));
    assert_eq!((c.idle(), c.poll_timeout()), (true, None));
}

#[test]
fn setr_aborts_when_a_replica_holds_the_largest_version() {
    let mut c = with_view(config());
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
    vote(&mut c, 110, tx(1), "b", VoteAnswer::Yes { version: crate::MAX_NUMBER });
    vote(&mut c, 110, tx(1), "c", VoteAnswer::Yes { version: 1 });
    let (transmits, events) = drain(&mut c);
    assert_eq!(
        transmits,
        to_each(&K1_ABC, Msg::Abort { tx: tx(1), secret: secret(tx(1)) }),
        "no commit at a wrapped version"
    );
    assert_eq!(events, vec![decided(tx(1), false, &K1_ABC)]);
    done(&mut c, 130, tx(1), &K1_ABC, false);
    let (_, events) = drain(&mut c);
    assert_eq!(events, vec![op_done(op, Err(OpError::VersionsUsedUp { key: "k1".into() }))]);
}

#[test]
fn a_returned_commit_is_resent_to_the_participant_yet_to_acknowledge_it() {
    let (mut c, op) = all_voted_yes(0);
    done(&mut c, 130, tx(1), &["a", "b"], true);
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(OpOutput::Written { version: 1 }))]));
    let commit = Msg::Commit { tx: tx(1), version: 1, secret: secret(tx(1)) };
    for resend in 1..=DECISION_RESENDS as u64 {
        let due = c.poll_timeout().expect("a resend is due");
        assert_eq!(due, Time(130 + resend * 1_000));
        c.handle_timeout(due);
        assert_eq!(drain(&mut c), (to_each(&["c"], commit.clone()), vec![]));
    }
    // Then c is left to learn the decision by asking, which the coordinator still answers.
    c.handle_timeout(c.poll_timeout().expect("the last wait"));
    assert_eq!((drain(&mut c), c.idle(), c.poll_timeout()), ((vec![], vec![]), true, None));
    c.handle_message(Time(5_000), Peer::Member(&addr("c")), Msg::DecisionRequest { tx: tx(1), server: None });
    let reply = Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 1 } };
    assert_eq!(drain(&mut c), (vec![to(addr("c"), reply)], vec![]));
}

/// Found by fuzzing: a commit no participant confirmed was reported written once the resends
/// ran out, though every replica might have lost it.
#[test]
fn a_commit_fewer_than_a_majority_confirmed_is_not_reported_written() {
    let (mut c, op) = all_voted_yes(0);
    done(&mut c, 130, tx(1), &["a"], true);
    assert_eq!(drain(&mut c), (vec![], vec![]));
    let commit = Msg::Commit { tx: tx(1), version: 1, secret: secret(tx(1)) };
    for _ in 1..=DECISION_RESENDS {
        c.handle_timeout(c.poll_timeout().expect("a resend is due"));
        assert_eq!(drain(&mut c), (to_each(&["c", "b"], commit.clone()), vec![]));
    }
    c.handle_timeout(c.poll_timeout().expect("the last wait"));
    let unconfirmed = Err(OpError::Unconfirmed { tx: tx(1), version: 1 });
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, unconfirmed)]));
    // The decision stands for whoever asks.
    c.handle_message(Time(9_000), Peer::Member(&addr("b")), Msg::DecisionRequest { tx: tx(1), server: None });
    let reply = Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 1 } };
    assert_eq!(drain(&mut c), (vec![to(addr("b"), reply)], vec![]));
}

#[test]
fn an_abort_waits_for_every_participant() {
    let mut c = with_view(config());
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    vote(&mut c, 110, tx(1), "a", VoteAnswer::No { reason: NoReason::Aborted });
    drain(&mut c);
    done(&mut c, 130, tx(1), &["a", "b"], false);
    assert_eq!(drain(&mut c), (vec![], vec![]));
    assert_eq!(c.ops_in_flight(), 1);
    done(&mut c, 140, tx(1), &["c"], false);
    let (_, events) = drain(&mut c);
    assert!(events.iter().all(|e| !matches!(e, Event::OpDone { op: done, .. } if *done == op)), "{events:?}");
    assert!(matches!(events.as_slice(), [Event::OpRetrying { .. }]), "{events:?}");
}

#[test]
fn operations_report_each_2pc_phase() {
    let mut c = with_view(config());
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    let ids = |list: &[&str]| list.iter().map(|id| sid(id)).collect::<Vec<_>>();
    vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
    let voting = Stage::Voting { tx: tx(1), participants: ids(&K1_ABC), yes: ids(&["a"]) };
    assert_eq!(c.operations(), vec![OpStatus { op, what: "setr k1 v".into(), attempt: 1, stage: voting }]);
    vote(&mut c, 111, tx(1), "b", VoteAnswer::Yes { version: 0 });
    vote(&mut c, 112, tx(1), "c", VoteAnswer::Yes { version: 0 });
    done(&mut c, 120, tx(1), &["a"], true);
    // Unacknowledged participants come in id order.
    let deciding = Stage::Deciding { tx: tx(1), participants: ids(&K1_ABC), commit: true, unacked: ids(&["b", "c"]) };
    assert_eq!(c.operations()[0].stage, deciding);
    done(&mut c, 130, tx(1), &["b", "c"], true);
    assert!(c.operations().is_empty());
}

#[test]
fn a_key_held_by_another_clients_tx_aborts_with_a_conflict() {
    let mut c = with_view(config());
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    let other = TxId { client: 99, seq: 5 };
    vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
    vote(&mut c, 110, tx(1), "c", VoteAnswer::No { reason: NoReason::KeyBusy { tx: other } });
    assert_eq!(
        drain(&mut c),
        (to_each(&K1_ABC, Msg::Abort { tx: tx(1), secret: secret(tx(1)) }), vec![decided(tx(1), false, &K1_ABC)])
    );
    // A vote after the decision changes nothing.
    vote(&mut c, 120, tx(1), "b", VoteAnswer::Yes { version: 0 });
    done(&mut c, 130, tx(1), &K1_ABC, false);
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Err(OpError::Conflict { tx: other }))]));
}

/// The aborts of `tx`, and the view fetched meanwhile (op 3).
fn aborts_and_fetch(tx: TxId) -> Vec<Transmit> {
    let mut sent = to_each(&K1_ABC, Msg::Abort { tx, secret: secret(tx) });
    sent.push(to_vl(Msg::QueryServers { op: OpId(3) }));
    sent
}

#[test]
fn a_newer_epoch_aborts_and_runs_again_at_once_in_the_newer_view() {
    let mut c = with_view(config());
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    vote(&mut c, 110, tx(1), "c", VoteAnswer::No { reason: NoReason::EpochMismatch { epoch: Epoch(4) } });
    // The newer view is fetched while the abort goes out.
    assert_eq!(drain(&mut c), (aborts_and_fetch(tx(1)), vec![decided(tx(1), false, &K1_ABC)]));
    assert_eq!(c.cached_epoch(), None);
    c.handle_message(Time(150), Peer::Member(&Addr::from(VL)), servers(3, 4, &["a", "b", "c", "d"]));
    assert_eq!(drain(&mut c), (vec![], vec![]));
    // Once the abort is acknowledged, the write runs again in epoch 4: no backoff, and no attempt
    // counted.
    done(&mut c, 200, tx(1), &K1_ABC, false);
    let rerun = Event::OpRerun { op, epoch: Epoch(4), reason: "c is at epoch 4".to_string() };
    assert_eq!(drain(&mut c), (prepares(tx(2), 4, "v", &K1_ABCD), vec![rerun]));
    assert_eq!(c.operations()[0].attempt, 1);
}

#[test]
fn an_epoch_mismatch_without_a_newer_view_backs_off() {
    let mut c = with_view(config());
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    vote(&mut c, 110, tx(1), "c", VoteAnswer::No { reason: NoReason::EpochMismatch { epoch: Epoch(4) } });
    drain(&mut c);
    // The view leader still says epoch 3: running again would meet the same answer.
    c.handle_message(Time(150), Peer::Member(&Addr::from(VL)), servers(3, 3, &["a", "b", "c"]));
    done(&mut c, 200, tx(1), &K1_ABC, false);
    assert_eq!(drain(&mut c), (vec![], vec![retrying(op, 2, "c is at epoch 4")]));
    after_first_backoff(&mut c, 200);
    assert_eq!(drain(&mut c), (prepares(tx(2), 3, "v", &K1_ABC), vec![]));
}

#[test]
fn a_missing_vote_aborts_without_waiting_for_the_silent() {
    let mut c = with_view(config());
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
    assert_eq!(c.poll_timeout(), Some(Time(1_100)));
    c.handle_timeout(Time(1_100));
    assert_eq!(drain(&mut c), (aborts_and_fetch(tx(1)), vec![decided(tx(1), false, &K1_ABC)]));
    assert_eq!(c.cached_epoch(), None);
    // Only a, which voted yes, holds the key: once it acknowledges, the attempt ends, however
    // long b and c stay silent (they may be dead).
    done(&mut c, 1_200, tx(1), &["a"], false);
    assert_eq!(drain(&mut c), (vec![], vec![retrying(op, 2, "no vote from c, b")]));
}

#[test]
fn setr_with_no_servers_fails_clearly() {
    let mut c = Client::new(config(), Time(0));
    let op = c.setr(Time(0), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    c.handle_message(Time(10), Peer::Member(&Addr::from(VL)), servers(2, 0, &[]));
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Err(OpError::NoServers))]));
}

#[test]
fn setr_gives_up_after_max_attempts_with_the_last_reason() {
    let mut c = with_view(ClientConfig { max_attempts: 2, ..config() });
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    vote(&mut c, 110, tx(1), "a", VoteAnswer::No { reason: NoReason::Aborted });
    done(&mut c, 120, tx(1), &K1_ABC, false);
    assert_eq!(
        drain(&mut c),
        (
            to_each(&K1_ABC, Msg::Abort { tx: tx(1), secret: secret(tx(1)) }),
            vec![decided(tx(1), false, &K1_ABC), retrying(op, 2, "a ruled the transaction out")],
        )
    );
    // The view is still good: the next attempt prepares at once.
    after_first_backoff(&mut c, 120);
    assert_eq!(drain(&mut c), (prepares(tx(2), 3, "v", &K1_ABC), vec![]));
    vote(&mut c, 300, tx(2), "c", VoteAnswer::No { reason: NoReason::Aborted });
    done(&mut c, 310, tx(2), &K1_ABC, false);
    let gave_up = OpError::GaveUp { attempts: 2, reason: "c ruled the transaction out".to_string() };
    assert_eq!(
        drain(&mut c),
        (
            to_each(&K1_ABC, Msg::Abort { tx: tx(2), secret: secret(tx(2)) }),
            vec![decided(tx(2), false, &K1_ABC), op_done(op, Err(gave_up))]
        )
    );
}

#[test]
fn a_decision_request_while_voting_aborts_the_transaction() {
    let mut c = with_view(config());
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
    c.handle_message(Time(2_110), Peer::Member(&addr("a")), Msg::DecisionRequest { tx: tx(1), server: None });
    let mut expected = to_each(&K1_ABC, Msg::Abort { tx: tx(1), secret: secret(tx(1)) });
    expected.push(to(addr("a"), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted }));
    assert_eq!(drain(&mut c), (expected, vec![decided(tx(1), false, &K1_ABC)]));
    // Another participant asking later hears the same.
    c.handle_message(Time(2_120), Peer::Member(&addr("c")), Msg::DecisionRequest { tx: tx(1), server: None });
    done(&mut c, 2_130, tx(1), &K1_ABC, false);
    assert_eq!(
        drain(&mut c),
        (
            vec![to(addr("c"), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted })],
            vec![retrying(op, 2, "a participant timed out waiting for the decision")],
        )
    );
}

#[test]
fn a_decision_request_after_the_decision_gets_the_decision() {
    let (mut c, op) = all_voted_yes(4);
    let committed = Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 5 } };
    c.handle_message(Time(2_110), Peer::Member(&addr("b")), Msg::DecisionRequest { tx: tx(1), server: None });
    assert_eq!(drain(&mut c), (vec![to(addr("b"), committed.clone())], vec![]));
    done(&mut c, 2_120, tx(1), &K1_ABC, true);
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(OpOutput::Written { version: 5 }))]));
    // Still remembered after the operation ended; a transaction never seen gets silence.
    c.handle_message(Time(2_130), Peer::Member(&addr("c")), Msg::DecisionRequest { tx: tx(1), server: None });
    c.handle_message(Time(2_130), Peer::Member(&addr("c")), Msg::DecisionRequest { tx: tx(9), server: None });
    assert_eq!(drain(&mut c), (vec![to(addr("c"), committed)], vec![]));
}

#[test]
fn getr_returns_the_highest_version_among_the_replicas() {
    let mut c = with_view(config());
    let op = c.getr(Time(100), "k1".to_string()).unwrap();
    let read = Msg::GetR { op, epoch: Epoch(3), key: "k1".to_string() };
    assert_eq!(drain(&mut c), (to_each(&K1_ABC, read), vec![]));
    getr_reply(&mut c, op, "a", value("v1", 1));
    // Not a replica of the key: ignored.
    getr_reply(&mut c, op, "d", value("v9", 9));
    getr_reply(&mut c, op, "c", value("v2", 2));
    assert_eq!(drain(&mut c), (vec![], vec![]));
    getr_reply(&mut c, op, "b", ReadAnswer::NotFound);
    let output = OpOutput::Value { value: "v2".to_string(), version: Some(2) };
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(output))]));
}

#[test]
fn getr_is_not_found_when_no_replica_has_the_key() {
    let mut c = with_view(config());
    let op = c.getr(Time(100), "k1".to_string()).unwrap();
    drain(&mut c);
    for id in K1_ABC {
        getr_reply(&mut c, op, id, ReadAnswer::NotFound);
    }
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Err(OpError::NotFound { key: "k1".to_string() }))]));
}

#[test]
fn getr_survives_a_silent_primary() {
    let mut c = with_view(config());
    let op = c.getr(Time(100), "k1".to_string()).unwrap();
    drain(&mut c);
    getr_reply(&mut c, op, "c", value("v2", 2));
    getr_reply(&mut c, op, "b", value("v1", 1));
    c.handle_timeout(Time(1_100));
    let output = OpOutput::Value { value: "v2".to_string(), version: Some(2) };
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(output))]));
    // The silent replica may be dead: the next operation fetches the view again.
    assert_eq!(c.cached_epoch(), None);
}

#[test]
fn getr_retries_while_a_write_is_pending() {
    let mut c = with_view(config());
    let op = c.getr(Time(100), "k1".to_string()).unwrap();
    drain(&mut c);
    let other = TxId { client: 99, seq: 5 };
    getr_reply(&mut c, op, "a", ReadAnswer::Pending { tx: other });
    getr_reply(&mut c, op, "c", value("v1", 1));
    getr_reply(&mut c, op, "b", value("v1", 1));
    assert_eq!(drain(&mut c), (vec![], vec![retrying(op, 2, &format!("{other} is pending at a"))]));
    after_first_backoff(&mut c, 200);
    let read = Msg::GetR { op, epoch: Epoch(3), key: "k1".to_string() };
    assert_eq!(drain(&mut c), (to_each(&K1_ABC, read), vec![]));
    getr_reply(&mut c, op, "a", value("v2", 2));
    getr_reply(&mut c, op, "c", value("v2", 2));
    getr_reply(&mut c, op, "b", value("v1", 1));
    let output = OpOutput::Value { value: "v2".to_string(), version: Some(2) };
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(output))]));
}

#[test]
fn lock_get_waits_while_queued_and_reports_deadlock() {
    let mut c = Client::new(config(), Time(0));
    let op = c.lock_get(Time(0), "L".to_string()).unwrap();
    let ask =
        Msg::LockGet { op, name: "L".to_string(), requester: "cl".to_string(), session: Rng::new(SEED).next_u64() };
    assert_eq!(drain(&mut c), (vec![to_vl(ask.clone())], vec![]));
    c.handle_message(
        Time(10),
        Peer::Member(&Addr::from(VL)),
        Msg::LockReply { op, result: LockAnswer::Retry { position: 2 } },
    );
    assert_eq!(drain(&mut c), (vec![], vec![Event::LockWaiting { op, name: "L".to_string(), position: 2 }]));
    assert_eq!(c.poll_timeout(), Some(Time(5_010)));
    c.handle_timeout(Time(5_010));
    assert_eq!(drain(&mut c), (vec![to_vl(ask)], vec![]));
    c.handle_message(Time(5_020), Peer::Member(&Addr::from(VL)), Msg::LockReply { op, result: LockAnswer::Granted });
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(OpOutput::Granted))]));

    let op = c.lock_get(Time(6_000), "M".to_string()).unwrap();
    let cycle = vec!["cl".to_string(), "x".to_string()];
    c.handle_message(
        Time(6_010),
        Peer::Member(&Addr::from(VL)),
        Msg::LockReply { op, result: LockAnswer::Deadlock { cycle: cycle.clone() } },
    );
    let ask =
        Msg::LockGet { op, name: "M".to_string(), requester: "cl".to_string(), session: Rng::new(SEED).next_u64() };
    assert_eq!(drain(&mut c), (vec![to_vl(ask)], vec![op_done(op, Err(OpError::Deadlock { cycle }))]));
    assert_eq!(c.ops_in_flight(), 0);
}

#[test]
fn lock_release_answers_become_results() {
    let mut c = Client::new(config(), Time(0));
    let answers = [
        (
            LockAnswer::Released { next_holder: Some("x".to_string()) },
            Ok(OpOutput::Released { next_holder: Some("x".to_string()) }),
        ),
        (LockAnswer::LeftQueue, Ok(OpOutput::LeftQueue)),
        (LockAnswer::UnknownLock, Err(OpError::UnknownLock)),
        (LockAnswer::NotHolderOrWaiter, Err(OpError::NotHolderOrWaiter)),
    ];
    let mut sent = Vec::new();
    let mut results = Vec::new();
    for (answer, result) in answers {
        let op = c.lock_release(Time(0), "L".to_string()).unwrap();
        c.handle_message(Time(10), Peer::Member(&Addr::from(VL)), Msg::LockReply { op, result: answer });
        sent.push(to_vl(Msg::LockRelease {
            op,
            name: "L".to_string(),
            requester: "cl".to_string(),
            session: Rng::new(SEED).next_u64(),
        }));
        results.push(op_done(op, result));
    }
    assert_eq!(drain(&mut c), (sent, results));
}

#[test]
fn local_rpcs_map_replies_errors_and_silence() {
    let mut c = Client::new(config(), Time(0));
    let (a, b) = (addr("a"), addr("b"));
    let get = c.get(Time(0), a.clone(), "k".to_string()).unwrap();
    let missing = c.get(Time(0), a.clone(), "z".to_string()).unwrap();
    let silent = c.get(Time(0), b.clone(), "k".to_string()).unwrap();
    let print = c.print(Time(0), a.clone(), "hi".to_string());
    let set = c.set(Time(0), a.clone(), "k".to_string(), "v".to_string()).unwrap();
    let keys = c.query_all_keys(Time(0), a.clone());
    let refused = c.query_all_keys(Time(0), a.clone());
    assert_eq!(
        drain(&mut c).0,
        vec![
            to(a.clone(), Msg::Get { op: get, key: "k".to_string() }),
            to(a.clone(), Msg::Get { op: missing, key: "z".to_string() }),
            to(b.clone(), Msg::Get { op: silent, key: "k".to_string() }),
            to(a.clone(), Msg::Print { op: print, text: "hi".to_string() }),
            to(a.clone(), Msg::Set { op: set, key: "k".to_string(), value: "v".to_string() }),
            to(a.clone(), Msg::QueryAllKeys { op: keys }),
            to(a.clone(), Msg::QueryAllKeys { op: refused }),
        ]
    );
    let reply = |c: &mut Client, op, result| c.handle_message(Time(10), Peer::Member(&a), Msg::Reply { op, result });
    reply(&mut c, get, LocalReply::Value { value: "v".to_string() });
    reply(&mut c, missing, LocalReply::NotFound { key: "z".to_string() });
    reply(&mut c, print, LocalReply::Ok);
    reply(&mut c, set, LocalReply::Ok);
    reply(&mut c, keys, LocalReply::Keys { keys: vec!["k".to_string()] });
    c.handle_message(Time(10), Peer::Member(&a), Msg::Error { op: Some(refused), reason: "busy".to_string() });
    assert_eq!(
        drain(&mut c),
        (
            vec![],
            vec![
                op_done(get, Ok(OpOutput::Value { value: "v".to_string(), version: None })),
                op_done(missing, Err(OpError::NotFound { key: "z".to_string() })),
                op_done(print, Ok(OpOutput::Done)),
                op_done(set, Ok(OpOutput::Done)),
                op_done(keys, Ok(OpOutput::Keys { keys: vec!["k".to_string()] })),
                op_done(refused, Err(OpError::Remote { reason: "busy".to_string() })),
            ],
        )
    );
    assert_eq!(c.poll_timeout(), Some(Time(1_000)));
    c.handle_timeout(Time(1_000));
    assert_eq!(drain(&mut c), (vec![], vec![op_done(silent, Err(OpError::Timeout { peer: b }))]));
    assert_eq!(c.ops_in_flight(), 0);
}

#[test]
fn empty_keys_and_lock_names_are_refused_before_sending() {
    let mut c = Client::new(config(), Time(0));
    let a = addr("a");
    assert_eq!(c.setr(Time(0), String::new(), "v".to_string()), Err(ClientError::EmptyKey));
    assert_eq!(c.getr(Time(0), String::new()), Err(ClientError::EmptyKey));
    assert_eq!(c.set(Time(0), a.clone(), String::new(), "v".to_string()), Err(ClientError::EmptyKey));
    assert_eq!(c.get(Time(0), a, String::new()), Err(ClientError::EmptyKey));
    assert_eq!(c.lock_get(Time(0), String::new()), Err(ClientError::EmptyLockName));
    assert_eq!(c.lock_release(Time(0), String::new()), Err(ClientError::EmptyLockName));
    assert_eq!(drain(&mut c), (vec![], vec![]));
    assert_eq!((c.ops_in_flight(), c.poll_timeout()), (0, None));
}

#[test]
fn an_unexpected_message_gets_an_error_reply() {
    let mut c = Client::new(config(), Time(0));
    let a = addr("a");
    c.handle_message(Time(0), Peer::Member(&a), Msg::Get { op: OpId(7), key: "k".to_string() });
    let reason = "a client does not handle `get`".to_string();
    assert_eq!(
        drain(&mut c),
        (
            vec![to(a.clone(), Msg::Error { op: Some(OpId(7)), reason: reason.clone() })],
            vec![Event::BadMessage { from: a, reason }],
        )
    );
}

#[test]
fn a_vote_from_a_server_outside_the_participants_does_not_count() {
    let mut c = with_view(config());
    c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    drain(&mut c);
    vote(&mut c, 110, tx(1), "a", VoteAnswer::Yes { version: 0 });
    vote(&mut c, 110, tx(1), "c", VoteAnswer::Yes { version: 0 });
    // d is no replica of k1 here: only b's vote may complete phase one.
    vote(&mut c, 110, tx(1), "d", VoteAnswer::Yes { version: 0 });
    assert_eq!(drain(&mut c), (vec![], vec![]));
    vote(&mut c, 120, tx(1), "b", VoteAnswer::Yes { version: 0 });
    assert_eq!(
        drain(&mut c),
        (
            to_each(&K1_ABC, Msg::Commit { tx: tx(1), version: 1, secret: secret(tx(1)) }),
            vec![decided(tx(1), true, &K1_ABC)]
        )
    );
}

#[test]
fn setr_returns_only_once_participants_say_they_committed() {
    let (mut c, op) = all_voted_yes(0);
    // "Done, but not committed" is no acknowledgement of a commit, from anyone.
    done(&mut c, 120, tx(1), &K1_ABC, false);
    assert_eq!(drain(&mut c), (vec![], vec![]));
    assert_eq!(c.ops_in_flight(), 1);
    done(&mut c, 130, tx(1), &["a", "c"], true);
    assert_eq!(drain(&mut c).1, vec![op_done(op, Ok(OpOutput::Written { version: 1 }))]);
}

#[test]
fn a_takeover_asking_the_coordinator_hears_only_an_outcome_that_is_certain() {
    let (mut c, _) = all_voted_yes(0);
    let takeover = |c: &mut Client, now| {
        let ask = Msg::Takeover { tx: tx(1), server: sid("b"), ballot: 2 };
        c.handle_message(Time(now), Peer::Member(&addr("b")), ask);
        drain(c).0
    };
    // The commit is sent but accepted by one participant only: a takeover may yet choose
    // abort, so the coordinator says nothing.
    c.handle_message(Time(120), Peer::Member(&addr("a")), Msg::Accepted { tx: tx(1), server: sid("a"), ballot: 0 });
    drain(&mut c);
    assert_eq!(takeover(&mut c, 125), vec![]);
    // Chosen once a majority accepted: the outcome is told to whoever takes over, even after
    // every participant answered and the write is done.
    c.handle_message(Time(130), Peer::Member(&addr("c")), Msg::Accepted { tx: tx(1), server: sid("c"), ballot: 0 });
    c.handle_message(Time(135), Peer::Member(&addr("b")), Msg::Accepted { tx: tx(1), server: sid("b"), ballot: 0 });
    drain(&mut c);
    assert!(c.idle());
    let chosen = Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 1 } };
    assert_eq!(takeover(&mut c, 140), vec![to(addr("b"), chosen)]);
    // A stranger's takeover is refused.
    c.handle_message(Time(150), Peer::Client(&addr("x")), Msg::Takeover { tx: tx(1), server: sid("b"), ballot: 2 });
    let (sent, _) = drain(&mut c);
    assert!(matches!(sent.as_slice(), [Transmit { msg: Msg::Error { .. }, .. }]), "{sent:?}");
}

#[test]
fn a_paxos_commit_returns_once_a_majority_accepted_and_tells_them_it_was_chosen() {
    let (mut c, op) = all_voted_yes(0);
    let accepted = |c: &mut Client, now, id| {
        c.handle_message(Time(now), Peer::Member(&addr(id)), Msg::Accepted { tx: tx(1), server: sid(id), ballot: 0 });
    };
    accepted(&mut c, 120, "a");
    assert_eq!(drain(&mut c), (vec![], vec![]));
    accepted(&mut c, 130, "c");
    // Chosen: a and c apply it once told, and so does b, which has not answered yet.
    let chosen = Msg::DecisionReply { tx: tx(1), state: TxState::Committed { version: 1 } };
    assert_eq!(
        drain(&mut c),
        (to_each(&K1_ABC, chosen.clone()), vec![op_done(op, Ok(OpOutput::Written { version: 1 }))])
    );
    // b's acceptance answers the commit it was sent first: it has been told already.
    accepted(&mut c, 140, "b");
    assert_eq!(drain(&mut c), (vec![], vec![]));
    assert!(c.idle());
    // An acceptance of any other ballot is no business of a client.
    c.handle_message(Time(150), Peer::Member(&addr("a")), Msg::Accepted { tx: tx(1), server: sid("a"), ballot: 4 });
    assert_eq!(
        drain(&mut c).0,
        vec![to(addr("a"), Msg::Error { op: None, reason: "a client does not handle `accepted`".to_string() })]
    );
}

#[test]
fn a_lock_no_replica_answers_as_leader_fails_saying_so() {
    let vls: Vec<Addr> = ["vl1", "vl2", "vl3"].map(Addr::from).to_vec();
    let mut c = Client::new(ClientConfig { view_leaders: vls.clone(), ..config() }, Time(0));
    let op = c.lock_get(Time(0), "x".to_string()).expect("a lock name");
    let mut asked = Vec::new();
    let mut now = 0;
    while c.ops_in_flight() > 0 && now < 100_000 {
        let (sent, _) = drain(&mut c);
        asked.extend(sent.into_iter().map(|t| t.to));
        // A replica that is up but leads nobody answers with no leader to name.
        if let Some(to) = asked.last().cloned() {
            c.handle_message(Time(now), Peer::Member(&to), Msg::NotLeader { op, leader: None });
        }
        now = c.poll_timeout().map_or(now + 1, |t| t.0);
        c.handle_timeout(Time(now));
    }
    let (_, events) = drain(&mut c);
    assert_eq!(events.last(), Some(&op_done(op, Err(OpError::NoLeader { replicas: 3 }))), "{events:?}");
    assert!(vls.iter().all(|vl| asked.contains(vl)), "each replica was asked in turn: {asked:?}");
}

/// A client whose view (op 1) is {a, b, c, d} at epoch 4, rebalancing from the stable {a, b, c}:
/// k1 moves from a, c, b to a, d, c.
fn with_moving_view() -> Client {
    let mut c = Client::new(config(), Time(0));
    let op = c.query_servers(Time(0));
    let msg = Msg::Servers {
        op,
        epoch: Epoch(4),
        servers: members(&["a", "b", "c", "d"]),
        rebalancing: true,
        stable: members(&["a", "b", "c"]),
    };
    c.handle_message(Time(0), Peer::Member(&Addr::from(VL)), msg);
    drain(&mut c);
    c
}

/// k1's two replica sets together: the new replicas, then the stable one leaving.
const K1_BOTH: [&str; 4] = ["a", "d", "c", "b"];

#[test]
fn a_moving_key_is_written_on_both_replica_sets() {
    let mut c = with_moving_view();
    let op = c.setr(Time(100), "k1".to_string(), "v".to_string()).unwrap();
    let both = Event::WriteOnBothSets {
        tx: tx(1),
        key: "k1".to_string(),
        stable: vec![sid("a"), sid("c"), sid("b")],
        new: vec![sid("d")],
    };
    assert_eq!(drain(&mut c), (prepares(tx(1), 4, "v", &K1_BOTH), vec![both]));
    // The new replica has no copy yet (version 0); the commit goes above the stable ones'.
    for (id, version) in [("a", 3), ("d", 0), ("c", 3), ("b", 3)] {
        vote(&mut c, 110, tx(1), id, VoteAnswer::Yes { version });
    }
    let commit = Msg::Commit { tx: tx(1), version: 4, secret: secret(tx(1)) };
    assert_eq!(drain(&mut c), (to_each(&K1_BOTH, commit), vec![decided(tx(1), true, &K1_BOTH)]));
    done(&mut c, 120, tx(1), &K1_BOTH, true);
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(OpOutput::Written { version: 4 }))]));
}

#[test]
fn a_moving_key_is_read_from_both_sets_and_settled_by_a_stable_replica() {
    let mut c = with_moving_view();
    let op = c.getr(Time(100), "k1".to_string()).unwrap();
    let read = Msg::GetR { op, epoch: Epoch(4), key: "k1".to_string() };
    assert_eq!(drain(&mut c), (to_each(&K1_BOTH, read), vec![]));
    // The new replica took a write its copy had not brought yet: the newest answer wins.
    getr_reply(&mut c, op, "d", value("v5", 5));
    getr_reply(&mut c, op, "a", value("v4", 4));
    getr_reply(&mut c, op, "c", value("v4", 4));
    getr_reply(&mut c, op, "b", value("v4", 4));
    let output = OpOutput::Value { value: "v5".to_string(), version: Some(5) };
    assert_eq!(drain(&mut c), (vec![], vec![op_done(op, Ok(output))]));
}

#[test]
fn a_new_replica_alone_does_not_settle_a_read() {
    let mut c = with_moving_view();
    let op = c.getr(Time(100), "k1".to_string()).unwrap();
    drain(&mut c);
    // Its "not found" may only mean its copy is on the way.
    getr_reply(&mut c, op, "d", ReadAnswer::NotFound);
    c.handle_timeout(c.poll_timeout().unwrap());
    let (_, events) = drain(&mut c);
    assert_eq!(events, vec![retrying(op, 2, "no answer from a, c, b")]);
}

#[test]
fn a_replica_that_gave_its_copy_up_makes_the_read_run_again_in_the_settled_view() {
    let mut c = with_moving_view();
    let op = c.getr(Time(100), "k1".to_string()).unwrap();
    drain(&mut c);
    getr_reply(&mut c, op, "b", ReadAnswer::NotReplica);
    for id in ["a", "d", "c"] {
        getr_reply(&mut c, op, id, value("v4", 4));
    }
    // The view leader has settled epoch 4 meanwhile: the read runs again there at once.
    assert_eq!(drain(&mut c), (vec![to_vl(Msg::QueryServers { op: OpId(3) })], vec![]));
    c.handle_message(Time(250), Peer::Member(&Addr::from(VL)), servers(3, 4, &["a", "b", "c", "d"]));
    let read = Msg::GetR { op, epoch: Epoch(4), key: "k1".to_string() };
    let reason = "b no longer replicates k1 in epoch 4".to_string();
    assert_eq!(drain(&mut c), (to_each(&K1_ABCD, read), vec![Event::OpRerun { op, epoch: Epoch(4), reason }]));
}
