//! Paxos Commit on three servers a, b, c wired together by hand: the coordinator (the test)
//! sends what it likes and then falls silent; the servers' messages to each other are
//! delivered in the order sent, except to the servers a test has killed.

use alloc::collections::{BTreeMap, VecDeque};

use super::*;
use crate::msg::Proposal;

const T: u64 = 2_000;

fn paxos_settled(id: &str) -> Server {
    let config = ServerConfig { commit: CommitProtocol::Paxos, ..config(id) };
    let mut s = Server::new(config, Time(0));
    s.handle_timeout(Time(0));
    let abc = view(3, &["a", "b", "c"]);
    s.handle_message(Time(0), Peer::Member(&Addr::from(VL)), accepted(id, 0, 3, Some(abc.clone()), Some(abc)));
    drain(&mut s);
    s
}

/// Three Paxos Commit servers, what they sent each other not yet delivered, and what they
/// sent the coordinator.
struct Trio {
    servers: BTreeMap<&'static str, Server>,
    wire: VecDeque<(Addr, Transmit)>,
    to_client: Vec<Msg>,
    events: Vec<Event>,
    dead: Vec<&'static str>,
}

impl Trio {
    fn new() -> Self {
        let servers = ["a", "b", "c"].into_iter().map(|id| (id, paxos_settled(id))).collect();
        Trio { servers, wire: VecDeque::new(), to_client: Vec::new(), events: Vec::new(), dead: Vec::new() }
    }

    fn collect(&mut self, id: &'static str) {
        let (transmits, events) = drain(self.servers.get_mut(id).unwrap());
        for t in transmits {
            if t.to == Addr::from(CL) {
                self.to_client.push(t.msg);
            } else {
                self.wire.push_back((addr(id), t));
            }
        }
        self.events.extend(events);
    }

    /// The coordinator sends `msg` to server `id`.
    fn client_sends(&mut self, now: u64, id: &'static str, msg: Msg) {
        self.servers.get_mut(id).unwrap().handle_message(Time(now), Peer::Client(&Addr::from(CL)), msg);
        self.collect(id);
    }

    /// Prepares `tx` writing k=v on all three.
    fn prepare(&mut self, now: u64, tx: TxId) {
        for id in ["a", "b", "c"] {
            self.client_sends(now, id, prepare(tx, 3, id, "k", "v"));
        }
        self.to_client.clear();
    }

    /// Delivers the servers' messages to each other until none is left.
    fn settle(&mut self, now: u64) {
        while let Some((from, t)) = self.wire.pop_front() {
            let Some(id) = ["a", "b", "c"].into_iter().find(|id| addr(id) == t.to) else { continue };
            if self.dead.contains(&id) {
                continue;
            }
            self.servers.get_mut(id).unwrap().handle_message(Time(now), Peer::Member(&from), t.msg);
            self.collect(id);
        }
    }

    /// Fires every live server's timers due by `now`, then settles.
    fn tick(&mut self, now: u64) {
        for id in ["a", "b", "c"] {
            if !self.dead.contains(&id) {
                self.servers.get_mut(id).unwrap().handle_timeout(Time(now));
                self.collect(id);
            }
        }
        self.settle(now);
    }

    fn pending(&self, id: &str) -> usize {
        self.servers[id].pending().count()
    }

    fn stored(&self, id: &str) -> Vec<(&str, &str, Version)> {
        contents(&self.servers[id])
    }
}

fn commit(tx: TxId, version: Version) -> Msg {
    Msg::Commit { tx, version, secret: secret(tx) }
}

#[test]
fn the_participants_take_over_one_after_another() {
    let mut trio = Trio::new();
    trio.prepare(100, tx(1));
    let due = |trio: &Trio, id: &str| trio.servers[id].decision_deadline(&tx(1)).unwrap().due;
    assert_eq!(
        (due(&trio, "a"), due(&trio, "b"), due(&trio, "c")),
        (Time(100 + T), Time(100 + T + T / 3), Time(100 + T + 2 * T / 3))
    );
}

#[test]
fn a_coordinator_dead_before_its_commit_leaves_the_transaction_aborted_within_a_timeout() {
    let mut trio = Trio::new();
    trio.prepare(100, tx(1));
    trio.tick(100 + T);
    for id in ["a", "b", "c"] {
        assert_eq!(trio.pending(id), 0, "{id} decided");
        assert_eq!(trio.stored(id), vec![], "{id} wrote nothing");
    }
    let aborted = trio.events.iter().filter(|e| matches!(e, Event::Aborted { key: Some(_), .. })).count();
    assert_eq!(aborted, 3);
    // The first to take over asked the coordinator too, naming itself.
    assert_eq!(trio.to_client, vec![Msg::Takeover { tx: tx(1), server: sid("a"), ballot: 1 }]);
    trio.to_client.clear();
    // The key is free: the next write prepares at once.
    trio.client_sends(2_200, "a", prepare(tx(2), 3, "a", "k", "w"));
    assert_eq!(trio.to_client, vec![Msg::Vote { tx: tx(2), server: sid("a"), vote: yes(0) }]);
}

#[test]
fn a_commit_a_majority_accepted_is_kept_by_the_takeover() {
    let mut trio = Trio::new();
    trio.prepare(100, tx(1));
    // The coordinator's commit reaches b and c, and it dies before telling anyone it was chosen.
    trio.client_sends(150, "b", commit(tx(1), 1));
    trio.client_sends(150, "c", commit(tx(1), 1));
    let accepted = |id| Msg::Accepted { tx: tx(1), server: sid(id), ballot: 0 };
    assert_eq!(trio.to_client, vec![accepted("b"), accepted("c")]);
    // Accepted is not applied: nothing is visible until the outcome is chosen and told.
    assert_eq!(trio.stored("b"), vec![]);
    trio.tick(100 + T);
    for id in ["a", "b", "c"] {
        assert_eq!(trio.pending(id), 0, "{id} decided");
        assert_eq!(trio.stored(id), vec![("k", "v", 1)], "{id} committed");
    }
}

#[test]
fn a_commit_only_one_accepted_may_end_either_way_but_the_same_everywhere() {
    let mut trio = Trio::new();
    trio.prepare(100, tx(1));
    trio.client_sends(150, "c", commit(tx(1), 1));
    trio.tick(100 + T);
    let outcomes: Vec<_> = ["a", "b", "c"].into_iter().map(|id| trio.stored(id)).collect();
    assert!(outcomes.iter().all(|o| *o == outcomes[0]), "{outcomes:?}");
    assert_eq!(trio.pending("a") + trio.pending("b") + trio.pending("c"), 0);
}

#[test]
fn a_late_commit_after_a_takeover_is_refused_and_then_answered_with_the_outcome() {
    let mut trio = Trio::new();
    trio.prepare(100, tx(1));
    // a takes over; c is cut off for now. Only the takeover reaches b so far.
    trio.dead = vec!["c"];
    trio.servers.get_mut("a").unwrap().handle_timeout(Time(100 + T));
    trio.collect("a");
    let (from, takeover) = trio.wire.pop_front().unwrap();
    assert_eq!(takeover.msg, Msg::Takeover { tx: tx(1), server: sid("b"), ballot: 1 });
    trio.servers.get_mut("b").unwrap().handle_message(Time(2_110), Peer::Member(&from), takeover.msg);
    trio.collect("b");
    assert_eq!(trio.servers["b"].pending().next().unwrap().promised, 1);
    assert_eq!(trio.to_client, vec![Msg::Takeover { tx: tx(1), server: sid("a"), ballot: 1 }]);
    trio.to_client.clear();
    // The late commit reaches b, which promised ballot 1: no answer.
    trio.client_sends(2_150, "b", commit(tx(1), 1));
    assert_eq!(trio.to_client, vec![]);
    // a and b are a majority: the takeover chooses abort (nobody had accepted anything).
    trio.settle(2_200);
    assert_eq!((trio.pending("a"), trio.pending("b")), (0, 0));
    // The coordinator's resend now gets the outcome.
    trio.client_sends(2_400, "b", commit(tx(1), 1));
    assert_eq!(trio.to_client, vec![Msg::Done { tx: tx(1), server: sid("b"), committed: false }]);
    // c comes back: its own takeover learns the outcome from the others.
    trio.dead.clear();
    trio.wire.clear();
    trio.tick(100 + T + 2 * T / 3);
    assert_eq!(trio.pending("c"), 0);
    assert_eq!(trio.stored("c"), vec![]);
}

#[test]
fn without_a_majority_the_takeover_blocks_and_says_so() {
    let mut trio = Trio::new();
    trio.prepare(100, tx(1));
    trio.dead = vec!["b", "c"];
    let mut now = 100 + T;
    for _ in 0..=ROUNDS {
        trio.tick(now);
        now = trio.servers["a"].decision_deadline(&tx(1)).unwrap().due.0;
    }
    let p = trio.servers["a"].pending().next().unwrap();
    assert!(p.is_blocked(), "{:?}", p.phase);
    assert!(matches!(p.phase, PendingPhase::Recovering { round: 3, ballot: 7, .. }), "{:?}", p.phase);
    let blocked: Vec<_> = trio.events.iter().filter(|e| matches!(e, Event::NoMajority { .. })).collect();
    assert_eq!(blocked, vec![&Event::NoMajority { tx: tx(1), key: "k".to_string() }]);
}

const ROUNDS: u32 = crate::twopc::paxos::ROUNDS_BEFORE_BLOCKED;

#[test]
fn only_members_take_over_and_a_classic_server_refuses_the_paxos_messages() {
    let mut a = paxos_settled("a");
    let stranger = Addr::from("mallory");
    let takeover = Msg::Takeover { tx: tx(1), server: sid("a"), ballot: 5 };
    a.handle_message(Time(100), Peer::Client(&stranger), takeover.clone());
    let reason = String::from("`takeover` is taken only from members of the cluster");
    assert_eq!(
        drain(&mut a),
        (
            vec![to(stranger.clone(), Msg::Error { op: None, reason: reason.clone() })],
            vec![Event::BadMessage { from: stranger, reason }]
        )
    );
    // A member asking about a transaction never prepared here rules it out.
    a.handle_message(Time(100), Peer::Member(&addr("b")), takeover.clone());
    assert_eq!(
        drain(&mut a),
        (
            vec![to(addr("b"), Msg::DecisionReply { tx: tx(1), state: TxState::Aborted })],
            vec![Event::Aborted { tx: tx(1), key: None }]
        )
    );

    let mut classic = settled("a");
    classic.handle_message(Time(100), Peer::Member(&addr("b")), takeover);
    let reason = String::from("this server runs classic two-phase commit, which has no `takeover`");
    assert_eq!(
        drain(&mut classic),
        (
            vec![to(addr("b"), Msg::Error { op: None, reason: reason.clone() })],
            vec![Event::BadMessage { from: addr("b"), reason }]
        )
    );
}

#[test]
fn an_accept_below_the_promise_is_ignored() {
    let mut trio = Trio::new();
    trio.prepare(100, tx(1));
    let b = trio.servers.get_mut("b").unwrap();
    b.handle_message(Time(200), Peer::Member(&addr("c")), Msg::Takeover { tx: tx(1), server: sid("b"), ballot: 6 });
    b.handle_message(
        Time(200),
        Peer::Member(&addr("a")),
        Msg::Accept { tx: tx(1), server: sid("b"), proposal: Proposal { ballot: 4, version: None } },
    );
    let promise = Msg::Promise { tx: tx(1), server: sid("b"), ballot: 6, accepted: None };
    assert_eq!(drain(b), (vec![to(addr("c"), promise)], vec![]));
}
