//! The server's tests, fed whole: hand-made messages in, the whole list of outputs checked.
//! The 2PC participant's and rebalancing's own tests are in `participant.rs` and
//! `rebalance.rs` here; this file holds the shared helpers and the rest.

mod participant;
mod paxos;
mod rebalance;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::id::{Member, TxSecret};
use crate::msg::{Item, NoReason, TxState, VoteAnswer};
use crate::testing::drain;

const VL: &str = "vl";
const CL: &str = "cl";

fn addr(id: &str) -> Addr {
    Addr(format!("srv-{id}"))
}

fn sid(id: &str) -> ServerId {
    ServerId::from(id)
}

fn member(id: &str) -> Member {
    Member { id: sid(id), addr: addr(id) }
}

fn view(epoch: u64, ids: &[&str]) -> View {
    View { epoch: Epoch(epoch), members: ids.iter().map(|id| member(id)).collect() }
}

fn config(id: &str) -> ServerConfig {
    ServerConfig {
        id: Some(sid(id)),
        // Periodic heartbeats stay out of the outputs of tests that run for a few seconds.
        heartbeat_ms: 10_000,
        // The classic protocol's tests; Paxos Commit's are in `paxos`, with `paxos_config`.
        commit: CommitProtocol::Classic,
        ..ServerConfig::new(addr(id), Addr::from(VL), 1)
    }
}

fn to(to: Addr, msg: Msg) -> Transmit {
    Transmit { to, msg }
}

fn heartbeat(id: &str, epoch: u64, stable: u64, rebalanced: u64, sent: u64) -> Transmit {
    let msg = Msg::Heartbeat {
        id: sid(id),
        addr: addr(id),
        epoch: Epoch(epoch),
        stable: Epoch(stable),
        rebalanced: Epoch(rebalanced),
        sent: Time(sent),
    };
    to(Addr::from(VL), msg)
}

/// The view leader's acceptance of the heartbeat `id` sent at `sent`.
fn accepted(id: &str, sent: u64, epoch: u64, current: Option<View>, stable: Option<View>) -> Msg {
    let status = HeartbeatStatus::Ok { epoch: Epoch(epoch), view: current, stable };
    Msg::HeartbeatReply { id: sid(id), sent: Time(sent), status }
}

/// A server whose first heartbeat (sent at 0) was accepted at `now` with these views, so its
/// lease runs until 2400. Its outputs so far are drained.
fn joined(id: &str, current: View, stable: View, now: Time) -> Server {
    let mut s = Server::new(config(id), Time(0));
    s.handle_timeout(Time(0));
    let epoch = current.epoch.0;
    s.handle_message(now, Peer::Member(&Addr::from(VL)), accepted(id, 0, epoch, Some(current), Some(stable)));
    drain(&mut s);
    s
}

/// Server `id` in the settled view {a, b, c} of epoch 3.
fn settled(id: &str) -> Server {
    joined(id, view(3, &["a", "b", "c"]), view(3, &["a", "b", "c"]), Time(0))
}

fn tx(seq: u64) -> TxId {
    TxId { client: 7, seq }
}

fn prepare(tx: TxId, epoch: u64, server: &str, key: &str, value: &str) -> Msg {
    Msg::Prepare {
        tx,
        epoch: Epoch(epoch),
        server: sid(server),
        key: key.to_string(),
        value: value.to_string(),
        participants: vec![member("a"), member("b"), member("c")],
        secret: secret(tx),
    }
}

fn vote(tx: TxId, server: &str, vote: VoteAnswer) -> Transmit {
    to(Addr::from(CL), Msg::Vote { tx, server: sid(server), vote })
}

fn yes(version: Version) -> VoteAnswer {
    VoteAnswer::Yes { version }
}

fn no(reason: NoReason) -> VoteAnswer {
    VoteAnswer::No { reason }
}

fn voted(tx: TxId, key: &str, reason: Option<NoReason>) -> Event {
    Event::Voted { tx, key: key.to_string(), yes: reason.is_none(), reason }
}

fn done(tx: TxId, server: &str, committed: bool) -> Transmit {
    to(Addr::from(CL), Msg::Done { tx, server: sid(server), committed })
}

fn ask(dest: Addr, tx: TxId, server: Option<&str>) -> Transmit {
    to(dest, Msg::DecisionRequest { tx, server: server.map(sid) })
}

/// What a participant of a/b/c sends when it starts asking how `tx` ended: the others by
/// name, then the coordinator.
fn ask_everyone(tx: TxId) -> Vec<Transmit> {
    vec![ask(addr("b"), tx, Some("b")), ask(addr("c"), tx, Some("c")), ask(Addr::from(CL), tx, None)]
}

fn set(key: &str, value: &str) -> Msg {
    Msg::Set { op: OpId(1), key: key.to_string(), value: value.to_string() }
}

fn getr(op: u64, epoch: u64, key: &str) -> Msg {
    Msg::GetR { op: OpId(op), epoch: Epoch(epoch), key: key.to_string() }
}

fn read(op: u64, server: &str, result: ReadAnswer) -> Transmit {
    to(Addr::from(CL), Msg::GetRReply { op: OpId(op), server: sid(server), result })
}

fn item(key: &str, value: &str, version: Version) -> Item {
    Item { key: key.to_string(), value: value.to_string(), version }
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|k| k.to_string()).collect()
}

/// (key, value, version) of every stored entry.
fn contents(s: &Server) -> Vec<(&str, &str, Version)> {
    s.bucket().iter().map(|(k, e)| (k.as_str(), e.value.as_str(), e.version)).collect()
}

#[test]
fn local_rpcs_print_set_get_and_list_keys() {
    let mut s = Server::new(config("a"), Time(0));
    let cl = Addr::from(CL);
    s.handle_message(Time(0), Peer::Client(&cl), Msg::Print { op: OpId(1), text: "hello".to_string() });
    s.handle_message(
        Time(0),
        Peer::Client(&cl),
        Msg::Set { op: OpId(2), key: "y".to_string(), value: "1".to_string() },
    );
    s.handle_message(
        Time(0),
        Peer::Client(&cl),
        Msg::Set { op: OpId(3), key: "x".to_string(), value: "2".to_string() },
    );
    s.handle_message(
        Time(0),
        Peer::Client(&cl),
        Msg::Set { op: OpId(4), key: "y".to_string(), value: "3".to_string() },
    );
    s.handle_message(Time(0), Peer::Client(&cl), Msg::Get { op: OpId(5), key: "y".to_string() });
    s.handle_message(Time(0), Peer::Client(&cl), Msg::Get { op: OpId(6), key: "z".to_string() });
    s.handle_message(Time(0), Peer::Client(&cl), Msg::QueryAllKeys { op: OpId(7) });
    let reply = |op, result| to(Addr::from(CL), Msg::Reply { op: OpId(op), result });
    assert_eq!(
        drain(&mut s),
        (
            vec![
                reply(1, LocalReply::Ok),
                reply(2, LocalReply::Ok),
                reply(3, LocalReply::Ok),
                reply(4, LocalReply::Ok),
                reply(5, LocalReply::Value { value: "3".to_string() }),
                reply(6, LocalReply::NotFound { key: "z".to_string() }),
                reply(7, LocalReply::Keys { keys: keys(&["x", "y"]) }),
            ],
            vec![Event::Printed { text: "hello".to_string() }],
        )
    );
    // A local set replaces the value and moves its version up.
    assert_eq!(contents(&s), vec![("x", "2", 1), ("y", "3", 2)]);
}

#[test]
fn heartbeats_carry_the_epochs_and_replies_teach_the_view() {
    let mut s = Server::new(config("a"), Time(0));
    assert_eq!(s.poll_timeout(), Some(Time(0)));
    s.handle_timeout(Time(0));
    assert_eq!(drain(&mut s), (vec![heartbeat("a", 0, 0, 0, 0)], vec![]));
    assert_eq!(s.poll_timeout(), Some(Time(10_000)));

    // A reply for another id is not ours; a retry is reported and changes nothing.
    let abc = view(3, &["a", "b", "c"]);
    s.handle_message(
        Time(50),
        Peer::Member(&Addr::from(VL)),
        accepted("z", 0, 3, Some(abc.clone()), Some(abc.clone())),
    );
    s.handle_message(
        Time(60),
        Peer::Member(&Addr::from(VL)),
        Msg::HeartbeatReply { id: sid("a"), sent: Time(0), status: HeartbeatStatus::Retry },
    );
    assert_eq!(drain(&mut s), (vec![], vec![Event::ToldToRetry]));
    assert_eq!(s.view(), &View::default());

    // Learning a settled view: nothing to move, so it says at once that it is rebalanced.
    s.handle_message(
        Time(100),
        Peer::Member(&Addr::from(VL)),
        accepted("a", 0, 3, Some(abc.clone()), Some(abc.clone())),
    );
    assert_eq!(
        drain(&mut s),
        (
            vec![heartbeat("a", 3, 3, 3, 100)],
            vec![Event::ViewLearned { epoch: Epoch(3), servers: 3 }, Event::RebalanceFinished { epoch: Epoch(3) }],
        )
    );
    assert_eq!((s.view(), s.stable_view(), s.rebalanced()), (&abc, &abc, Epoch(3)));
    assert_eq!(s.poll_timeout(), Some(Time(10_100)));
    s.handle_timeout(Time(10_100));
    assert_eq!(drain(&mut s), (vec![heartbeat("a", 3, 3, 3, 10_100)], vec![]));
}

#[test]
fn votes_and_reads_only_within_the_lease() {
    let mut s = Server::new(config("a"), Time(0));
    s.handle_timeout(Time(0));
    drain(&mut s);
    // No heartbeat accepted yet.
    assert_eq!(s.lease(), None);
    s.handle_message(Time(10), Peer::Client(&Addr::from(CL)), prepare(tx(1), 0, "a", "k1", "v"));
    s.handle_message(Time(10), Peer::Client(&Addr::from(CL)), getr(1, 0, "k1"));
    assert_eq!(
        drain(&mut s),
        (
            vec![vote(tx(1), "a", no(NoReason::Isolated)), read(1, "a", ReadAnswer::Isolated)],
            vec![voted(tx(1), "k1", Some(NoReason::Isolated))],
        )
    );

    // The reply at 1000 answers the heartbeat sent at 0: the lease runs until 0 + 2400.
    let abc = view(3, &["a", "b", "c"]);
    s.handle_message(Time(1_000), Peer::Member(&Addr::from(VL)), accepted("a", 0, 3, Some(abc.clone()), Some(abc)));
    drain(&mut s);
    assert_eq!(s.lease(), Some(Deadline { due: Time(2_400), span_ms: 2_400 }));
    s.handle_message(Time(2_399), Peer::Client(&Addr::from(CL)), prepare(tx(2), 3, "a", "k1", "v"));
    s.handle_message(Time(2_400), Peer::Client(&Addr::from(CL)), prepare(tx(3), 3, "a", "k3", "v"));
    s.handle_message(Time(2_400), Peer::Client(&Addr::from(CL)), getr(2, 3, "k3"));
    assert_eq!(
        drain(&mut s),
        (
            vec![
                vote(tx(2), "a", yes(0)),
                vote(tx(3), "a", no(NoReason::Isolated)),
                read(2, "a", ReadAnswer::Isolated),
            ],
            vec![voted(tx(2), "k1", None), voted(tx(3), "k3", Some(NoReason::Isolated))],
        )
    );

    // The heartbeat sent on learning the view (at 1000) is accepted: serving again.
    s.handle_message(Time(2_500), Peer::Member(&Addr::from(VL)), accepted("a", 1_000, 3, None, None));
    s.handle_message(Time(2_500), Peer::Client(&Addr::from(CL)), getr(3, 3, "k3"));
    assert_eq!(drain(&mut s), (vec![read(3, "a", ReadAnswer::NotFound)], vec![]));
}

#[test]
fn forged_heartbeat_and_decision_replies_are_refused() {
    let mut s = settled("a");
    let stranger = Addr::from("mallory");
    let denial = || Msg::HeartbeatReply { id: sid("a"), sent: Time(0), status: HeartbeatStatus::Denied };
    s.handle_message(Time(100), Peer::Client(&stranger), denial());
    let reason = String::from("`heartbeat_reply` is taken only from members of the cluster");
    assert_eq!(
        drain(&mut s),
        (
            vec![to(stranger.clone(), Msg::Error { op: None, reason: reason.clone() })],
            vec![Event::BadMessage { from: stranger.clone(), reason }]
        )
    );
    // A member that is not this server's view leader does not speak for the view either.
    s.handle_message(Time(100), Peer::Member(&addr("b")), denial());
    let reason = String::from("heartbeat replies are taken only from the view leader");
    assert_eq!(
        drain(&mut s),
        (
            vec![to(addr("b"), Msg::Error { op: None, reason: reason.clone() })],
            vec![Event::BadMessage { from: addr("b"), reason }]
        )
    );
    // Still serving: the forged denial changed nothing.
    s.handle_message(Time(200), Peer::Client(&Addr::from(CL)), prepare(tx(1), 3, "a", "k1", "v"));
    assert_eq!(drain(&mut s).0, vec![vote(tx(1), "a", yes(0))]);
    // Only the coordinator or a participant may say how the transaction ended.
    s.handle_message(Time(300), Peer::Client(&stranger), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted });
    let reason = String::from("mallory is neither coordinator nor participant of a pending tx0007.1");
    assert_eq!(
        drain(&mut s),
        (
            vec![to(stranger.clone(), Msg::Error { op: None, reason: reason.clone() })],
            vec![Event::BadMessage { from: stranger, reason }]
        )
    );
    assert_eq!(s.pending().count(), 1);
}

#[test]
fn a_denied_server_never_serves_again() {
    let mut s = settled("a");
    s.handle_message(
        Time(100),
        Peer::Member(&Addr::from(VL)),
        Msg::HeartbeatReply { id: sid("a"), sent: Time(0), status: HeartbeatStatus::Denied },
    );
    s.handle_message(Time(200), Peer::Client(&Addr::from(CL)), prepare(tx(1), 3, "a", "k1", "v"));
    assert_eq!(
        drain(&mut s),
        (
            vec![vote(tx(1), "a", no(NoReason::Isolated))],
            vec![Event::Denied, voted(tx(1), "k1", Some(NoReason::Isolated))]
        )
    );
    assert_eq!(s.lease(), None, "a denied server has no lease to draw");
    // Even an accepted heartbeat (a stale reply) does not bring it back.
    s.handle_message(Time(300), Peer::Member(&Addr::from(VL)), accepted("a", 0, 3, None, None));
    s.handle_message(Time(300), Peer::Client(&Addr::from(CL)), getr(1, 3, "k1"));
    assert_eq!(drain(&mut s), (vec![read(1, "a", ReadAnswer::Isolated)], vec![]));
}

#[test]
fn getr_answers_value_not_found_pending_and_wrong_epoch() {
    let mut s = settled("a");
    let cl = Addr::from(CL);
    s.handle_message(Time(100), Peer::Client(&cl), prepare(tx(1), 3, "a", "k1", "v"));
    s.handle_message(Time(100), Peer::Client(&cl), Msg::Commit { tx: tx(1), version: 2, secret: secret(tx(1)) });
    s.handle_message(Time(100), Peer::Client(&cl), prepare(tx(2), 3, "a", "k3", "w"));
    drain(&mut s);
    s.handle_message(Time(200), Peer::Client(&cl), getr(1, 3, "k1"));
    s.handle_message(Time(200), Peer::Client(&cl), getr(2, 3, "k6"));
    s.handle_message(Time(200), Peer::Client(&cl), getr(3, 3, "k3"));
    s.handle_message(Time(200), Peer::Client(&cl), getr(4, 2, "k1"));
    assert_eq!(
        drain(&mut s),
        (
            vec![
                read(1, "a", ReadAnswer::Value { value: "v".to_string(), version: 2 }),
                read(2, "a", ReadAnswer::NotFound),
                read(3, "a", ReadAnswer::Pending { tx: tx(2) }),
                read(4, "a", ReadAnswer::WrongEpoch { epoch: Epoch(3) }),
            ],
            vec![],
        )
    );
}

#[test]
fn an_unexpected_message_gets_an_error_reply() {
    let mut s = settled("a");
    let cl = Addr::from(CL);
    s.handle_message(Time(100), Peer::Client(&cl), Msg::QueryServers { op: OpId(4) });
    let reason = "a server does not handle `query_servers`".to_string();
    assert_eq!(
        drain(&mut s),
        (
            vec![to(cl.clone(), Msg::Error { op: Some(OpId(4)), reason: reason.clone() })],
            vec![Event::BadMessage { from: cl, reason }],
        )
    );
}

/// The secret the test coordinator gives transaction `tx`.
fn secret(tx: TxId) -> TxSecret {
    TxSecret::new(u128::from(tx.seq) << 64 | 0x5ec2e7)
}
