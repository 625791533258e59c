//! Linearizability checking of per-key register histories.
//!
//! A history is linearizable when every operation can be given one instant inside its
//! `[call, ret]` interval such that, replayed in that order, every read sees the latest
//! write. Each key is an independent register and linearizability is compositional, so
//! each key's history is checked on its own: many small searches are far cheaper than one
//! big one.
//!
//! The search is Wing and Gong's with Lowe's memoization, as in Porcupine: walk the call
//! and return events in time order, tentatively linearize a call whose effect the register
//! accepts, and backtrack on reaching the return of an op not yet linearized. A set of the
//! (linearized ops, register value) pairs already explored prunes the repeats that make the
//! plain search exponential.
//!
//! Timing rules:
//! - An op that returns at `t` precedes an op called at `t`. Ops that are called and return
//!   at the same `t` come after the first kind and before the second, concurrent with each
//!   other.
//! - An op with no definite outcome (`ret: None`) is treated as returning at infinity: a
//!   write may take effect at any point after its call, or never; a read constrains nothing
//!   and is dropped.
//!
//! Such writes would otherwise stay candidates at every step of the search, doubling its
//! space each, so they are settled up front where the reads allow: one whose value no read
//! saw is dropped, and the only writer of a value that was read must have taken effect
//! before the first such read returned.

use std::collections::{BTreeMap, HashMap, HashSet};

/// One operation of a client history on a single-key register.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryOp {
    /// Which client issued it; the ops of one client never overlap.
    pub client: u64,
    /// The register it touched.
    pub key: String,
    /// Invocation time, in any monotone unit.
    pub call: u64,
    /// Response time, not before `call`; `None` when the outcome is unknown (timed out, or
    /// the client crashed): the op may or may not have taken effect, at any point after
    /// `call`.
    pub ret: Option<u64>,
    /// What it did and, for a read, what it saw.
    pub kind: OpKind,
}

/// What a [`HistoryOp`] did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OpKind {
    /// A `setr key value` that returned ok (or had no definite outcome if `ret` is `None`).
    Write {
        /// The value written.
        value: String,
    },
    /// A `getr` that returned this value (`None` = "not found"); reads with `ret` `None`
    /// are ignored, as they constrain nothing.
    Read {
        /// The value seen.
        value: Option<String>,
    },
}

/// The verdict on one key that is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotLinearizable {
    /// The key whose history admits no linearization.
    pub key: String,
    /// Every op of that key, in history order, for the report.
    pub ops: Vec<HistoryOp>,
}

/// What a successful [`check`] covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Distinct keys checked.
    pub keys: usize,
    /// Ops that constrained the check: all but those with no definite outcome that no read
    /// observed.
    pub ops: usize,
}

/// Checks every key's history independently; registers start as "not found" (`None`).
///
/// Keys are checked in sorted order, so the reported violation is the same on every run.
///
/// # Panics
///
/// If an op's `ret` is before its `call`.
pub fn check(history: &[HistoryOp]) -> Result<CheckStats, NotLinearizable> {
    let mut by_key: BTreeMap<&str, Vec<&HistoryOp>> = BTreeMap::new();
    for op in history {
        by_key.entry(&op.key).or_default().push(op);
    }
    let mut stats = CheckStats::default();
    for (key, ops) in by_key {
        let mut register = Register::new(&ops);
        if !register.is_linearizable() {
            return Err(NotLinearizable { key: key.to_owned(), ops: ops.into_iter().cloned().collect() });
        }
        stats.keys += 1;
        stats.ops += register.effects.len();
    }
    Ok(stats)
}

/// What one op does to a register, with values interned: `NOT_FOUND` or an index.
#[derive(Clone, Copy)]
enum Effect {
    Write(u32),
    Read(u32),
}

/// The interned value of a register that was never written.
const NOT_FOUND: u32 = 0;

impl Effect {
    /// The register's value after this op, or `None` if the op cannot happen from `state`.
    fn apply(self, state: u32) -> Option<u32> {
        match self {
            Effect::Write(value) => Some(value),
            Effect::Read(value) => (value == state).then_some(state),
        }
    }
}

/// The index of `value`, numbering new values from 1 since `NOT_FOUND` is 0.
fn intern<'a>(interned: &mut HashMap<&'a str, u32>, value: &'a str) -> u32 {
    let next = u32::try_from(interned.len() + 1).expect("fewer than 2^32 values");
    *interned.entry(value).or_insert(next)
}

/// One key's history, ready to search.
struct Register {
    effects: Vec<Effect>,
    events: Events,
}

impl Register {
    fn new(ops: &[&HistoryOp]) -> Self {
        // Interning makes the search state a `u32`: cheap to copy, hash and compare.
        let mut interned: HashMap<&str, u32> = HashMap::new();
        let mut parsed: Vec<(Effect, Span)> = Vec::with_capacity(ops.len());
        for op in ops {
            let effect = match (&op.kind, op.ret) {
                (OpKind::Read { .. }, None) => continue,
                (OpKind::Read { value: None }, _) => Effect::Read(NOT_FOUND),
                (OpKind::Read { value: Some(value) }, _) => Effect::Read(intern(&mut interned, value)),
                (OpKind::Write { value }, _) => Effect::Write(intern(&mut interned, value)),
            };
            parsed.push((effect, Span::of(op)));
        }

        let mut writers = vec![0_usize; interned.len() + 1];
        let mut first_seen: Vec<Option<Moment>> = vec![None; interned.len() + 1];
        for (effect, span) in &parsed {
            match (*effect, span.ret) {
                (Effect::Write(value), _) => writers[value as usize] += 1,
                (Effect::Read(value), Some(ret)) => {
                    let seen = &mut first_seen[value as usize];
                    *seen = Some(seen.map_or(ret, |seen| seen.min(ret)));
                }
                (Effect::Read(_), None) => {}
            }
        }
        // A write with no definite outcome is a call the search would try at every step
        // until the end of the history; pin it down where the reads allow.
        parsed.retain_mut(|(effect, span)| {
            let Effect::Write(value) = *effect else {
                return true;
            };
            if span.ret.is_some() {
                return true;
            }
            match first_seen[value as usize] {
                // No read depends on it, so leaving it out loses no linearization.
                None => false,
                // The only writer of a value that was read took effect before that read
                // returned. (A read returning before the call is left for the search to
                // reject.)
                Some(seen) if writers[value as usize] == 1 && seen > span.call => {
                    span.ret = Some(seen);
                    true
                }
                Some(_) => true,
            }
        });

        let (effects, spans): (Vec<Effect>, Vec<Span>) = parsed.into_iter().unzip();
        Register { effects, events: Events::new(&spans) }
    }

    /// The Wing–Gong–Lowe search: depth first over which pending call takes effect next.
    fn is_linearizable(&mut self) -> bool {
        let mut linearized = Bitset::new(self.effects.len());
        let mut explored: HashSet<(Bitset, u32)> = HashSet::new();
        // The calls linearized so far, each with the register value before it.
        let mut stack: Vec<(usize, u32)> = Vec::new();
        let mut state = NOT_FOUND;
        let mut cursor = self.events.first();
        loop {
            // Every node before the cursor is a call, so reaching the end means every op
            // with a definite return is linearized; any calls left are unknown outcomes
            // that never took effect.
            let Some(node) = cursor else { return true };
            let Node { op, is_call, .. } = self.events.nodes[node];
            if is_call {
                if let Some(next) = self.effects[op].apply(state) {
                    linearized.set(op);
                    if explored.insert((linearized.clone(), next)) {
                        stack.push((node, state));
                        state = next;
                        self.events.lift(node);
                        cursor = self.events.first();
                        continue;
                    }
                    linearized.clear(op);
                }
                cursor = self.events.nodes[node].next;
            } else {
                // An op returned before taking effect: undo the latest choice, try the next.
                let Some((call, before)) = stack.pop() else {
                    return false;
                };
                state = before;
                linearized.clear(self.events.nodes[call].op);
                self.events.unlift(call);
                cursor = self.events.nodes[call].next;
            }
        }
    }
}

/// Where an event sorts among events of the same timestamp, earliest first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tie {
    /// The return of an op called earlier: it precedes everything called now.
    Return,
    /// The call of an op that also returns now.
    InstantCall,
    /// The return of an op that was also called now: after every instant call, so
    /// instant ops at one time are concurrent with each other.
    InstantReturn,
    /// The call of an op that returns later, or never.
    Call,
}

/// When an event happens, ordered as the timing rules require.
type Moment = (u64, Tie);

/// When an op is called and by when it must have taken effect, if ever.
#[derive(Clone, Copy)]
struct Span {
    call: Moment,
    ret: Option<Moment>,
}

impl Span {
    fn of(op: &HistoryOp) -> Self {
        match op.ret {
            Some(ret) if ret == op.call => {
                Span { call: (op.call, Tie::InstantCall), ret: Some((ret, Tie::InstantReturn)) }
            }
            Some(ret) => {
                assert!(ret > op.call, "op returns before its call: {op:?}");
                Span { call: (op.call, Tie::Call), ret: Some((ret, Tie::Return)) }
            }
            None => Span { call: (op.call, Tie::Call), ret: None },
        }
    }
}

/// The call and return events of one key in time order, as a doubly linked list from
/// which linearized ops are lifted out and put back, dancing-links style.
struct Events {
    /// `nodes[HEAD]` is a sentinel; the rest are events.
    nodes: Vec<Node>,
}

#[derive(Clone, Copy)]
struct Node {
    op: usize,
    is_call: bool,
    /// For a call with a definite return, that return's node.
    ret: Option<usize>,
    prev: usize,
    next: Option<usize>,
}

const HEAD: usize = 0;

impl Events {
    fn new(spans: &[Span]) -> Self {
        let mut order: Vec<(Moment, usize)> = Vec::with_capacity(2 * spans.len());
        for (op, span) in spans.iter().enumerate() {
            order.push((span.call, op));
            // Without a return event nothing ever forces the op to take effect.
            if let Some(ret) = span.ret {
                order.push((ret, op));
            }
        }
        order.sort_unstable();

        let mut nodes = Vec::with_capacity(order.len() + 1);
        nodes.push(Node { op: usize::MAX, is_call: false, ret: None, prev: HEAD, next: None });
        let mut call_node = vec![HEAD; spans.len()];
        for (index, &((_, tie), op)) in order.iter().enumerate() {
            let node = index + 1;
            let is_call = matches!(tie, Tie::Call | Tie::InstantCall);
            if is_call {
                call_node[op] = node;
            } else {
                nodes[call_node[op]].ret = Some(node);
            }
            nodes[node - 1].next = Some(node);
            nodes.push(Node { op, is_call, ret: None, prev: node - 1, next: None });
        }
        Events { nodes }
    }

    fn first(&self) -> Option<usize> {
        self.nodes[HEAD].next
    }

    /// Takes a linearized call, and its return, out of the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        if let Some(ret) = self.nodes[call].ret {
            self.unlink(ret);
        }
    }

    /// Undoes the latest `lift`, which must have been of `call`.
    fn unlift(&mut self, call: usize) {
        if let Some(ret) = self.nodes[call].ret {
            self.relink(ret);
        }
        self.relink(call);
    }

    /// Bypasses `node` but leaves its own links, so `relink` can put it back.
    fn unlink(&mut self, node: usize) {
        let Node { prev, next, .. } = self.nodes[node];
        self.nodes[prev].next = next;
        if let Some(next) = next {
            self.nodes[next].prev = prev;
        }
    }

    fn relink(&mut self, node: usize) {
        let Node { prev, next, .. } = self.nodes[node];
        self.nodes[prev].next = Some(node);
        if let Some(next) = next {
            self.nodes[next].prev = node;
        }
    }
}

/// The set of linearized ops of one key, one bit per op.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bitset(Vec<u64>);

impl Bitset {
    fn new(len: usize) -> Self {
        Bitset(vec![0; len.div_ceil(64)])
    }

    fn set(&mut self, bit: usize) {
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    fn clear(&mut self, bit: usize) {
        self.0[bit / 64] &= !(1 << (bit % 64));
    }
}

/// How long, in time units, a client waits before giving up on an op in
/// [`synthetic_history`].
const SYNTHETIC_TIMEOUT: u64 = 40;

/// Builds a linearizable history deterministically from `seed`, for the benchmark and
/// tests: `ops` ops spread evenly over `keys` keys, each key served by `clients`
/// concurrent clients.
///
/// It simulates a real atomic register: every op gets a call time, a duration and an
/// instant inside that interval at which it takes effect, and each read returns the
/// register's value at its instant. About one op in a hundred times out (`ret: None`); a
/// timed-out write takes effect later or never, and its client is replaced by a fresh one,
/// as a crashed client would be.
///
/// # Panics
///
/// If `ops` is not zero while `keys` or `clients` is.
pub fn synthetic_history(seed: u64, keys: usize, ops: usize, clients: usize) -> Vec<HistoryOp> {
    assert!(ops == 0 || (keys > 0 && clients > 0), "ops need at least one key and one client");
    let mut rng = SplitMix64(seed);
    let mut next_client = 0;
    let mut history = Vec::with_capacity(ops);
    for k in 0..keys {
        let count = ops / keys + usize::from(k < ops % keys);
        let key = format!("k{k}");
        history.extend(synthetic_key(&mut rng, &key, count, clients, &mut next_client));
    }
    // Interleave the keys as a recorder would have seen them; the sort is stable.
    history.sort_by_key(|op| op.call);
    history
}

/// One key's part of [`synthetic_history`].
///
/// Calls and returns fall on even times and effects on odd ones strictly inside the
/// interval, so ordering ops by effect never contradicts the timing rules.
fn synthetic_key(
    rng: &mut SplitMix64,
    key: &str,
    count: usize,
    clients: usize,
    next_client: &mut u64,
) -> Vec<HistoryOp> {
    let mut fresh_client = || {
        *next_client += 1;
        *next_client - 1
    };
    let mut ids: Vec<u64> = (0..clients).map(|_| fresh_client()).collect();
    let mut free_at = vec![0; clients];
    let mut ops = Vec::with_capacity(count);
    let mut effects = Vec::with_capacity(count);
    for n in 0..count {
        // The least advanced client goes next, so all of them stay busy and overlap.
        let slot = (0..clients).min_by_key(|&c| free_at[c]).expect("a client");
        let client = ids[slot];
        let call = free_at[slot] + 2 * rng.below(3);
        let len = 2 * (1 + rng.below(8));
        let is_write = rng.below(2) == 0;
        let (ret, effect_at) = if rng.below(100) == 0 {
            ids[slot] = fresh_client();
            free_at[slot] = call + SYNTHETIC_TIMEOUT;
            let lands = is_write && rng.below(2) == 0;
            // Like a request stuck in a queue, it may land even after its client gave up.
            let effect_at = lands.then(|| call + 1 + 2 * rng.below(SYNTHETIC_TIMEOUT));
            (None, effect_at)
        } else {
            free_at[slot] = call + len;
            (Some(call + len), Some(call + 1 + 2 * rng.below(len / 2)))
        };
        let kind = if is_write { OpKind::Write { value: format!("{key}-{n}") } } else { OpKind::Read { value: None } };
        if let Some(at) = effect_at {
            effects.push((at, ops.len()));
        }
        ops.push(HistoryOp { client, key: key.to_owned(), call, ret, kind });
    }
    effects.sort_unstable();
    let mut register = None;
    for (_, op) in effects {
        match &mut ops[op].kind {
            OpKind::Write { value } => register = Some(value.clone()),
            OpKind::Read { value } => value.clone_from(&register),
        }
    }
    ops
}

/// SplitMix64: a tiny, good-enough generator so histories depend only on the seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; the modulo bias is irrelevant for test data.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(client: u64, key: &str, call: u64, ret: Option<u64>, value: &str) -> HistoryOp {
        HistoryOp { client, key: key.to_owned(), call, ret, kind: OpKind::Write { value: value.to_owned() } }
    }

    fn read(client: u64, key: &str, call: u64, ret: u64, value: Option<&str>) -> HistoryOp {
        HistoryOp {
            client,
            key: key.to_owned(),
            call,
            ret: Some(ret),
            kind: OpKind::Read { value: value.map(str::to_owned) },
        }
    }

    fn violation_key(history: &[HistoryOp]) -> String {
        check(history).expect_err("not linearizable").key
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let history = [
            read(1, "a", 0, 1, None),
            write(1, "a", 2, Some(3), "x"),
            read(2, "a", 4, 5, Some("x")),
            write(2, "a", 6, Some(7), "y"),
            read(1, "a", 8, 9, Some("y")),
        ];
        assert_eq!(check(&history), Ok(CheckStats { keys: 1, ops: 5 }));
    }

    #[test]
    fn concurrent_write_and_read_may_go_either_way() {
        for seen in [None, Some("x")] {
            let history = [write(1, "a", 0, Some(10), "x"), read(2, "a", 2, 8, seen)];
            assert!(check(&history).is_ok(), "read saw {seen:?}");
        }
    }

    #[test]
    fn stale_read_after_completed_write_is_rejected() {
        let history = [write(1, "a", 0, Some(2), "x"), write(1, "a", 3, Some(5), "y"), read(2, "a", 6, 7, Some("x"))];
        let violation = check(&history).expect_err("stale read");
        assert_eq!(violation.key, "a");
        assert_eq!(violation.ops, history);
    }

    #[test]
    fn read_of_never_written_value_is_rejected() {
        let history = [write(1, "a", 0, Some(2), "x"), read(2, "a", 1, 3, Some("ghost"))];
        assert_eq!(violation_key(&history), "a");
    }

    #[test]
    fn op_returning_when_another_is_called_precedes_it() {
        let history = [write(1, "a", 0, Some(5), "x"), read(2, "a", 5, 6, None)];
        assert_eq!(violation_key(&history), "a");
    }

    #[test]
    fn instantaneous_ops_are_ordered_by_their_instant() {
        let history = [
            write(1, "a", 3, Some(3), "x"),
            read(2, "a", 3, 3, None),
            read(3, "a", 3, 3, Some("x")),
            read(1, "a", 4, 4, Some("x")),
        ];
        assert!(check(&history).is_ok());
        let stale = [write(1, "a", 3, Some(3), "x"), read(2, "a", 4, 4, None)];
        assert_eq!(violation_key(&stale), "a");
    }

    #[test]
    fn unknown_outcome_write_may_explain_later_read() {
        let history = [write(1, "a", 0, None, "x"), read(2, "a", 1, 2, None), read(2, "a", 50, 51, Some("x"))];
        assert_eq!(check(&history), Ok(CheckStats { keys: 1, ops: 3 }));
    }

    #[test]
    fn unknown_outcome_write_may_never_happen() {
        let history = [write(1, "a", 0, None, "x"), read(2, "a", 1, 2, None), read(2, "a", 50, 51, None)];
        assert!(check(&history).is_ok());
    }

    #[test]
    fn unknown_outcome_write_may_land_between_instant_reads() {
        let history = [write(1, "a", 0, None, "x"), read(2, "a", 5, 5, None), read(3, "a", 5, 5, Some("x"))];
        assert!(check(&history).is_ok());
    }

    #[test]
    fn unknown_outcome_write_cannot_act_before_its_call() {
        let history = [read(2, "a", 0, 1, Some("x")), write(1, "a", 5, None, "x")];
        assert_eq!(violation_key(&history), "a");
    }

    #[test]
    fn unknown_outcome_read_is_ignored() {
        let mut lost = read(2, "a", 0, 1, Some("ghost"));
        lost.ret = None;
        assert_eq!(check(&[lost]), Ok(CheckStats { keys: 1, ops: 0 }));
    }

    #[test]
    fn keys_are_checked_independently() {
        let history = [
            write(1, "a", 0, Some(2), "x"),
            write(2, "b", 0, Some(2), "y"),
            read(3, "a", 3, 4, Some("x")),
            read(4, "b", 3, 4, Some("x")),
        ];
        let violation = check(&history).expect_err("b read a's value");
        assert_eq!(violation.key, "b");
        assert_eq!(violation.ops, [history[1].clone(), history[3].clone()]);
    }

    #[test]
    fn synthetic_history_is_deterministic_and_linearizable() {
        let history = synthetic_history(7, 10, 10_000, 4);
        assert_eq!(history, synthetic_history(7, 10, 10_000, 4));
        assert_eq!(history.len(), 10_000);
        assert!(history.iter().any(|op| op.ret.is_none()));
        let stats = check(&history).expect("linearizable");
        assert_eq!(stats.keys, 10);
    }

    #[test]
    fn mutated_synthetic_history_is_rejected() {
        let mut history = synthetic_history(7, 10, 10_000, 4);
        let victim = history
            .iter()
            .enumerate()
            .filter(|(_, op)| matches!(op.kind, OpKind::Read { .. }) && op.ret.is_some())
            .map(|(i, _)| i)
            .nth(2_500)
            .expect("enough reads");
        history[victim].kind = OpKind::Read { value: Some("never written".to_owned()) };
        assert_eq!(violation_key(&history), history[victim].key);
    }
}
