//! Messages as a fuzzer writes them: every field drawn from a small pool (a few addresses, ids
//! and keys), from what the role under test sent so far (its ops, transactions and secrets), or
//! from the edges of a number's range — and now and then anything at all. Random strings alone
//! would never name a server the role knows or repeat a transaction it prepared, so the deep
//! states (a vote on a key already pending, a decision for a known transaction) would stay
//! out of reach.

use arbitrary::Arbitrary;
use ringside_core::id::{Addr, Epoch, Member, OpId, ServerId, TxId, TxSecret, View, MAX_NUMBER};
use ringside_core::limits::TooLarge;
use ringside_core::msg::{
    HeartbeatStatus, Item, LocalReply, LockAnswer, Msg, NoReason, Proposal, ReadAnswer, TxState, VoteAnswer,
};
use ringside_core::time::Time;

/// Addresses the roles under test use: the view leader, the servers and a client.
pub const ADDRS: [&str; 6] = ["vl", "s1", "s2", "s3", "s4", "c1"];
/// Server ids beside the one the server under test drew for itself.
pub const IDS: [&str; 4] = ["a", "b", "c", "d"];
/// Keys, values, lock names and requesters: short, so that they collide.
pub const WORDS: [&str; 6] = ["k", "x", "y", "", "a", "b"];

/// What the role under test said so far that a peer could repeat back to it.
#[derive(Debug, Default)]
pub struct Seen {
    /// The server under test's own id.
    pub own_id: Option<ServerId>,
    /// Ops of requests it sent.
    pub ops: Vec<OpId>,
    /// Transactions it prepared or was asked about, with the secret it sent when it did.
    pub txs: Vec<(TxId, Option<TxSecret>)>,
}

impl Seen {
    /// Remembers what `msg`, sent by the role, gives a peer to repeat.
    pub fn note(&mut self, msg: &Msg) {
        if let Some(op) = msg.op() {
            if !self.ops.contains(&op) {
                self.ops.push(op);
            }
        }
        let (tx, secret) = match msg {
            Msg::Prepare { tx, secret, .. } | Msg::Commit { tx, secret, .. } | Msg::Abort { tx, secret, .. } => {
                (*tx, Some(*secret))
            }
            Msg::Vote { tx, .. }
            | Msg::Done { tx, .. }
            | Msg::DecisionRequest { tx, .. }
            | Msg::DecisionReply { tx, .. }
            | Msg::Takeover { tx, .. }
            | Msg::Promise { tx, .. }
            | Msg::Accept { tx, .. }
            | Msg::Accepted { tx, .. } => (*tx, None),
            _ => return,
        };
        match self.txs.iter_mut().find(|(t, _)| *t == tx) {
            Some((_, known)) => *known = known.or(secret),
            None => self.txs.push((tx, secret)),
        }
    }
}

/// A number: small, at an edge of the wire's range, or any.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Num {
    /// 0–255.
    Small(u8),
    /// [`MAX_NUMBER`] less 0–3.
    BelowMax(u8),
    /// [`MAX_NUMBER`] plus 1–4: refused as the frame is read.
    AboveMax(u8),
    /// The largest `u64`.
    Top,
    /// Any.
    Any(u64),
}

impl Num {
    fn get(self) -> u64 {
        match self {
            Num::Small(n) => u64::from(n),
            Num::BelowMax(n) => MAX_NUMBER - u64::from(n % 4),
            Num::AboveMax(n) => MAX_NUMBER + 1 + u64::from(n % 4),
            Num::Top => u64::MAX,
            Num::Any(n) => n,
        }
    }

    fn epoch(self) -> Epoch {
        Epoch(self.get())
    }
}

/// A string: a pool word, a long run of one letter (past every limit the runs set), or any.
#[derive(Arbitrary, Clone, Debug)]
pub enum Text {
    /// One of [`WORDS`].
    Word(u8),
    /// `x` repeated this many times.
    Long(u8),
    /// Any.
    Any(String),
}

impl Text {
    /// The string.
    pub fn get(&self) -> String {
        match self {
            Text::Word(i) => pick(&WORDS, *i).into(),
            Text::Long(n) => "x".repeat(usize::from(*n)),
            Text::Any(s) => s.clone(),
        }
    }
}

/// A server id: the role's own, a pool id, or any.
#[derive(Arbitrary, Clone, Debug)]
pub enum Who {
    /// The server under test's id (a pool id for other roles).
    Own,
    /// One of [`IDS`].
    Pool(u8),
    /// Any.
    Any(String),
}

impl Who {
    fn get(&self, seen: &Seen) -> ServerId {
        match self {
            Who::Own => seen.own_id.clone().unwrap_or_else(|| ServerId(IDS[0].into())),
            Who::Pool(i) => ServerId(pick(&IDS, *i).into()),
            Who::Any(s) => ServerId(s.clone()),
        }
    }
}

/// An address: a pool address or any.
#[derive(Arbitrary, Clone, Debug)]
pub enum Place {
    /// One of [`ADDRS`].
    Pool(u8),
    /// Any.
    Any(String),
}

impl Place {
    /// The address.
    pub fn get(&self) -> Addr {
        match self {
            Place::Pool(i) => Addr(pick(&ADDRS, *i).into()),
            Place::Any(s) => Addr(s.clone()),
        }
    }
}

/// An op: one the role sent, or any.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Op {
    /// The n-th op the role sent (modulo how many).
    Seen(u8),
    /// Any.
    Any(Num),
}

impl Op {
    fn get(self, seen: &Seen) -> OpId {
        match self {
            Op::Seen(i) if !seen.ops.is_empty() => seen.ops[usize::from(i) % seen.ops.len()],
            Op::Seen(i) => OpId(u64::from(i)),
            Op::Any(n) => OpId(n.get()),
        }
    }
}

/// A transaction: one the role took part in, one from a small pool, or any.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Tx {
    /// The n-th transaction the role sent or was told of.
    Seen(u8),
    /// Client 0–3, sequence 0–3.
    Pool(u8),
    /// Any.
    Any(u64, u64),
}

impl Tx {
    fn get(self, seen: &Seen) -> TxId {
        match self {
            Tx::Seen(i) if !seen.txs.is_empty() => seen.txs[usize::from(i) % seen.txs.len()].0,
            Tx::Seen(i) | Tx::Pool(i) => TxId { client: u64::from(i % 4), seq: u64::from(i / 4 % 4) },
            Tx::Any(client, seq) => TxId { client, seq },
        }
    }
}

/// A transaction secret: the one the role sent for this transaction, one of a pool, the
/// hidden one observers see, or any.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Secret {
    /// The secret the role itself sent for the message's transaction, if it sent one.
    Known,
    /// One of four secrets (a fuzzer playing coordinator reuses them).
    Pool(u8),
    /// `"hidden"`.
    Hidden,
    /// Any.
    Any(u128),
}

impl Secret {
    fn get(self, tx: TxId, seen: &Seen) -> TxSecret {
        match self {
            Secret::Known => {
                seen.txs.iter().find(|(t, _)| *t == tx).and_then(|(_, secret)| *secret).unwrap_or(TxSecret::new(1))
            }
            Secret::Pool(i) => TxSecret::new(u128::from(i % 4) + 1),
            Secret::Hidden => TxSecret::HIDDEN,
            Secret::Any(bits) => TxSecret::new(bits),
        }
    }
}

/// A member of a view.
#[derive(Arbitrary, Clone, Debug)]
pub struct MemberIn {
    id: Who,
    addr: Place,
}

impl MemberIn {
    fn get(&self, seen: &Seen) -> Member {
        Member { id: self.id.get(seen), addr: self.addr.get() }
    }
}

/// A view, sorted as the view leader sends it or left as drawn.
#[derive(Arbitrary, Clone, Debug)]
pub struct ViewIn {
    epoch: Num,
    members: Vec<MemberIn>,
    sorted: bool,
}

impl ViewIn {
    fn get(&self, seen: &Seen) -> View {
        let mut members: Vec<Member> = self.members.iter().map(|m| m.get(seen)).collect();
        if self.sorted {
            members.sort();
            members.dedup_by(|a, b| a.id == b.id);
        }
        View { epoch: self.epoch.epoch(), members }
    }
}

/// Any message, its fields drawn as above.
#[derive(Arbitrary, Clone, Debug)]
#[allow(missing_docs)]
pub enum MsgIn {
    Print { op: Op, text: Text },
    Set { op: Op, key: Text, value: Text },
    Get { op: Op, key: Text },
    QueryAllKeys { op: Op },
    Reply { op: Op, result: LocalReplyIn },
    Heartbeat { id: Who, addr: Place, epoch: Num, stable: Num, rebalanced: Num, sent: Num },
    HeartbeatReply { id: Who, sent: Num, status: StatusIn },
    QueryServers { op: Op },
    Servers { op: Op, view: ViewIn, rebalancing: bool, stable: ViewIn },
    LockGet { op: Op, name: Text, requester: Text, session: Num },
    LockRelease { op: Op, name: Text, requester: Text, session: Num },
    LockReply { op: Op, result: LockAnswerIn },
    Prepare { tx: Tx, epoch: Num, server: Who, key: Text, value: Text, participants: Vec<MemberIn>, secret: Secret },
    Vote { tx: Tx, server: Who, vote: VoteIn },
    Commit { tx: Tx, version: Num, secret: Secret },
    Abort { tx: Tx, secret: Secret },
    Done { tx: Tx, server: Who, committed: bool },
    DecisionRequest { tx: Tx, server: Option<Who> },
    DecisionReply { tx: Tx, state: TxStateIn },
    Takeover { tx: Tx, server: Who, ballot: Num },
    Promise { tx: Tx, server: Who, ballot: Num, accepted: Option<(Num, Option<Num>)> },
    Accept { tx: Tx, server: Who, ballot: Num, version: Option<Num> },
    Accepted { tx: Tx, server: Who, ballot: Num },
    GetR { op: Op, epoch: Num, key: Text },
    GetRReply { op: Op, server: Who, result: ReadIn },
    Transfer { epoch: Num, items: Vec<(Text, Text, Num)> },
    TransferAck { epoch: Num, keys: Vec<Text> },
    Error { op: Option<Op>, reason: Text },
}

#[derive(Arbitrary, Clone, Debug)]
#[allow(missing_docs)]
pub enum LocalReplyIn {
    Ok,
    Value(Text),
    NotFound(Text),
    Keys(Vec<Text>),
}

#[derive(Arbitrary, Clone, Debug)]
#[allow(missing_docs)]
pub enum StatusIn {
    Ok { epoch: Num, view: Option<ViewIn>, stable: Option<ViewIn> },
    Denied,
    Retry,
}

#[derive(Arbitrary, Clone, Debug)]
#[allow(missing_docs)]
pub enum LockAnswerIn {
    Granted,
    Retry(Num),
    Deadlock(Vec<Text>),
    Released(Option<Text>),
    LeftQueue,
    UnknownLock,
    NotHolderOrWaiter,
}

#[derive(Arbitrary, Clone, Debug)]
#[allow(missing_docs)]
pub enum VoteIn {
    Yes(Num),
    KeyBusy(Tx),
    EpochMismatch(Num),
    WrongServer(Who),
    Aborted,
    Isolated,
    TooLarge(Num, Num),
}

#[derive(Arbitrary, Clone, Debug)]
#[allow(missing_docs)]
pub enum TxStateIn {
    Committed(Num),
    Aborted,
    Prepared,
    Unknown,
}

#[derive(Arbitrary, Clone, Debug)]
#[allow(missing_docs)]
pub enum ReadIn {
    Value(Text, Num),
    NotFound,
    Pending(Tx),
    NotReplica,
    Isolated,
    WrongEpoch(Num),
}

impl MsgIn {
    /// The message, its references resolved against what the role sent so far.
    pub fn get(&self, seen: &Seen) -> Msg {
        match self {
            MsgIn::Print { op, text } => Msg::Print { op: op.get(seen), text: text.get() },
            MsgIn::Set { op, key, value } => Msg::Set { op: op.get(seen), key: key.get(), value: value.get() },
            MsgIn::Get { op, key } => Msg::Get { op: op.get(seen), key: key.get() },
            MsgIn::QueryAllKeys { op } => Msg::QueryAllKeys { op: op.get(seen) },
            MsgIn::Reply { op, result } => Msg::Reply { op: op.get(seen), result: result.get() },
            MsgIn::Heartbeat { id, addr, epoch, stable, rebalanced, sent } => Msg::Heartbeat {
                id: id.get(seen),
                addr: addr.get(),
                epoch: epoch.epoch(),
                stable: stable.epoch(),
                rebalanced: rebalanced.epoch(),
                sent: Time(sent.get()),
            },
            MsgIn::HeartbeatReply { id, sent, status } => {
                Msg::HeartbeatReply { id: id.get(seen), sent: Time(sent.get()), status: status.get(seen) }
            }
            MsgIn::QueryServers { op } => Msg::QueryServers { op: op.get(seen) },
            MsgIn::Servers { op, view, rebalancing, stable } => {
                let view = view.get(seen);
                Msg::Servers {
                    op: op.get(seen),
                    epoch: view.epoch,
                    servers: view.members,
                    rebalancing: *rebalancing,
                    stable: stable.get(seen).members,
                }
            }
            MsgIn::LockGet { op, name, requester, session } => {
                Msg::LockGet { op: op.get(seen), name: name.get(), requester: requester.get(), session: session.get() }
            }
            MsgIn::LockRelease { op, name, requester, session } => {
                let (op, name, requester) = (op.get(seen), name.get(), requester.get());
                Msg::LockRelease { op, name, requester, session: session.get() }
            }
            MsgIn::LockReply { op, result } => Msg::LockReply { op: op.get(seen), result: result.get() },
            MsgIn::Prepare { tx, epoch, server, key, value, participants, secret } => {
                let tx = tx.get(seen);
                Msg::Prepare {
                    tx,
                    epoch: epoch.epoch(),
                    server: server.get(seen),
                    key: key.get(),
                    value: value.get(),
                    participants: participants.iter().map(|m| m.get(seen)).collect(),
                    secret: secret.get(tx, seen),
                }
            }
            MsgIn::Vote { tx, server, vote } => {
                Msg::Vote { tx: tx.get(seen), server: server.get(seen), vote: vote.get(seen) }
            }
            MsgIn::Commit { tx, version, secret } => {
                let tx = tx.get(seen);
                Msg::Commit { tx, version: version.get(), secret: secret.get(tx, seen) }
            }
            MsgIn::Abort { tx, secret } => {
                let tx = tx.get(seen);
                Msg::Abort { tx, secret: secret.get(tx, seen) }
            }
            MsgIn::Done { tx, server, committed } => {
                Msg::Done { tx: tx.get(seen), server: server.get(seen), committed: *committed }
            }
            MsgIn::DecisionRequest { tx, server } => {
                Msg::DecisionRequest { tx: tx.get(seen), server: server.as_ref().map(|s| s.get(seen)) }
            }
            MsgIn::DecisionReply { tx, state } => Msg::DecisionReply { tx: tx.get(seen), state: state.get() },
            MsgIn::Takeover { tx, server, ballot } => {
                Msg::Takeover { tx: tx.get(seen), server: server.get(seen), ballot: ballot.get() }
            }
            MsgIn::Promise { tx, server, ballot, accepted } => Msg::Promise {
                tx: tx.get(seen),
                server: server.get(seen),
                ballot: ballot.get(),
                accepted: accepted.map(|(b, v)| Proposal { ballot: b.get(), version: v.map(Num::get) }),
            },
            MsgIn::Accept { tx, server, ballot, version } => Msg::Accept {
                tx: tx.get(seen),
                server: server.get(seen),
                proposal: Proposal { ballot: ballot.get(), version: version.map(Num::get) },
            },
            MsgIn::Accepted { tx, server, ballot } => {
                Msg::Accepted { tx: tx.get(seen), server: server.get(seen), ballot: ballot.get() }
            }
            MsgIn::GetR { op, epoch, key } => Msg::GetR { op: op.get(seen), epoch: epoch.epoch(), key: key.get() },
            MsgIn::GetRReply { op, server, result } => {
                Msg::GetRReply { op: op.get(seen), server: server.get(seen), result: result.get(seen) }
            }
            MsgIn::Transfer { epoch, items } => Msg::Transfer {
                epoch: epoch.epoch(),
                items: items
                    .iter()
                    .map(|(key, value, version)| Item { key: key.get(), value: value.get(), version: version.get() })
                    .collect(),
            },
            MsgIn::TransferAck { epoch, keys } => {
                Msg::TransferAck { epoch: epoch.epoch(), keys: keys.iter().map(Text::get).collect() }
            }
            MsgIn::Error { op, reason } => Msg::Error { op: op.map(|op| op.get(seen)), reason: reason.get() },
        }
    }
}

impl LocalReplyIn {
    fn get(&self) -> LocalReply {
        match self {
            LocalReplyIn::Ok => LocalReply::Ok,
            LocalReplyIn::Value(value) => LocalReply::Value { value: value.get() },
            LocalReplyIn::NotFound(key) => LocalReply::NotFound { key: key.get() },
            LocalReplyIn::Keys(keys) => LocalReply::Keys { keys: keys.iter().map(Text::get).collect() },
        }
    }
}

impl StatusIn {
    fn get(&self, seen: &Seen) -> HeartbeatStatus {
        match self {
            StatusIn::Ok { epoch, view, stable } => HeartbeatStatus::Ok {
                epoch: epoch.epoch(),
                view: view.as_ref().map(|v| v.get(seen)),
                stable: stable.as_ref().map(|v| v.get(seen)),
            },
            StatusIn::Denied => HeartbeatStatus::Denied,
            StatusIn::Retry => HeartbeatStatus::Retry,
        }
    }
}

impl LockAnswerIn {
    fn get(&self) -> LockAnswer {
        match self {
            LockAnswerIn::Granted => LockAnswer::Granted,
            LockAnswerIn::Retry(position) => LockAnswer::Retry { position: position.get() as usize },
            LockAnswerIn::Deadlock(cycle) => LockAnswer::Deadlock { cycle: cycle.iter().map(Text::get).collect() },
            LockAnswerIn::Released(next) => LockAnswer::Released { next_holder: next.as_ref().map(Text::get) },
            LockAnswerIn::LeftQueue => LockAnswer::LeftQueue,
            LockAnswerIn::UnknownLock => LockAnswer::UnknownLock,
            LockAnswerIn::NotHolderOrWaiter => LockAnswer::NotHolderOrWaiter,
        }
    }
}

impl VoteIn {
    fn get(&self, seen: &Seen) -> VoteAnswer {
        let no = |reason| VoteAnswer::No { reason };
        match self {
            VoteIn::Yes(version) => VoteAnswer::Yes { version: version.get() },
            VoteIn::KeyBusy(tx) => no(NoReason::KeyBusy { tx: tx.get(seen) }),
            VoteIn::EpochMismatch(epoch) => no(NoReason::EpochMismatch { epoch: epoch.epoch() }),
            VoteIn::WrongServer(id) => no(NoReason::WrongServer { id: id.get(seen) }),
            VoteIn::Aborted => no(NoReason::Aborted),
            VoteIn::Isolated => no(NoReason::Isolated),
            VoteIn::TooLarge(bytes, limit) => {
                no(NoReason::TooLarge(TooLarge { what: "value".into(), bytes: bytes.get(), limit: limit.get() }))
            }
        }
    }
}

impl TxStateIn {
    fn get(&self) -> TxState {
        match self {
            TxStateIn::Committed(version) => TxState::Committed { version: version.get() },
            TxStateIn::Aborted => TxState::Aborted,
            TxStateIn::Prepared => TxState::Prepared,
            TxStateIn::Unknown => TxState::Unknown,
        }
    }
}

impl ReadIn {
    fn get(&self, seen: &Seen) -> ReadAnswer {
        match self {
            ReadIn::Value(value, version) => ReadAnswer::Value { value: value.get(), version: version.get() },
            ReadIn::NotFound => ReadAnswer::NotFound,
            ReadIn::Pending(tx) => ReadAnswer::Pending { tx: tx.get(seen) },
            ReadIn::NotReplica => ReadAnswer::NotReplica,
            ReadIn::Isolated => ReadAnswer::Isolated,
            ReadIn::WrongEpoch(epoch) => ReadAnswer::WrongEpoch { epoch: epoch.epoch() },
        }
    }
}

fn pick<'a>(pool: &[&'a str], i: u8) -> &'a str {
    pool[usize::from(i) % pool.len()]
}
