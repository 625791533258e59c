//! What roles tell their observers: logs, the simulator's checks, the browser's narration.

use alloc::string::String;
use alloc::vec::Vec;

use crate::tagged_enum;

use crate::client::op::OpOutput;
use crate::error::OpError;
use crate::id::{Addr, Epoch, OpId, ServerId, TxId, Version};
use crate::msg::NoReason;

tagged_enum! {
/// Something a role did or saw that an observer may want to narrate or check.
#[tag = "event", twin = EventTwin]
pub enum Event {
    /// View leader: a new server joined; the epoch went up.
    ServerJoined {
        /// The new server.
        id: ServerId,
        /// Its address.
        addr: Addr,
        /// The new epoch.
        epoch: Epoch,
    },
    /// View leader: a server missed heartbeats past the failure timeout; the epoch went up.
    ServerFailed {
        /// The failed server, never accepted again.
        id: ServerId,
        /// The new epoch.
        epoch: Epoch,
    },
    /// View leader: a heartbeat from a failed id was denied.
    HeartbeatDenied {
        /// The failed id.
        id: ServerId,
    },
    /// View leader: a new id asked to join on an address a live server holds; told to retry.
    AddressBusy {
        /// The new id.
        id: ServerId,
        /// The contested address.
        addr: Addr,
    },
    /// View leader: a server knew a newer epoch than this leader's, so the leader restarted;
    /// it gathers live servers for one failure timeout before forming a view.
    Recovering {
        /// The newest epoch a server knew.
        epoch: Epoch,
    },
    /// View leader: its failure timers fired this late (ms) — the leader itself was paused —
    /// so every live server got a fresh failure timeout instead of being failed.
    LeaderPaused {
        /// How late the earliest failure timer was (ms).
        late_ms: u64,
        /// How many servers got a fresh timeout.
        servers: usize,
    },
    /// View-leader replica: it leads `term` and has applied everything committed before it, so
    /// it answers servers and clients from now on.
    LeaderElected {
        /// The term it leads.
        term: u64,
    },
    /// View-leader replica: it no longer leads (a newer term, or a majority stopped answering).
    LeaderLost {
        /// The term it led.
        term: u64,
    },
    /// View leader: the gathering after a restart is over; one view holds every server heard.
    Recovered {
        /// The new epoch, above every epoch the servers knew.
        epoch: Epoch,
        /// How many servers the view holds.
        servers: usize,
    },
    /// View leader: every server of this epoch finished rebalancing.
    RebalancingDone {
        /// The epoch now fully rebalanced.
        epoch: Epoch,
    },
    /// View leader: a lock was granted (also on hand-over from a release or a failure).
    LockGranted {
        /// The lock.
        name: String,
        /// The new holder.
        requester: String,
    },
    /// View leader: a requester was queued for a lock.
    LockQueued {
        /// The lock.
        name: String,
        /// The waiter.
        requester: String,
        /// Its place (1 = next).
        position: usize,
    },
    /// View leader: a request was refused because waiting would deadlock.
    LockDeadlock {
        /// The lock asked for.
        name: String,
        /// The asker.
        requester: String,
        /// The cycle, asker first.
        cycle: Vec<String>,
    },
    /// View leader: a lock was released by its holder or a waiter left.
    LockReleased {
        /// The lock.
        name: String,
        /// Who released or left.
        requester: String,
    },

    /// Server: a `print` request's text.
    Printed {
        /// The text.
        text: String,
    },
    /// Server: learned a newer view from the view leader.
    ViewLearned {
        /// The new epoch.
        epoch: Epoch,
        /// How many servers it has.
        servers: usize,
    },
    /// Server: the view leader denied this id's heartbeat (it was declared failed).
    Denied,
    /// Server: the view leader told this id to retry (its address is held by a live server).
    ToldToRetry,
    /// Server: rebalancing towards this epoch started with this many copies to send.
    RebalanceStarted {
        /// The epoch rebalanced to.
        epoch: Epoch,
        /// Copies this server must send.
        copies: usize,
    },
    /// Server: sent a batch of copies.
    TransferSent {
        /// The epoch rebalanced to.
        epoch: Epoch,
        /// The receiver.
        to: ServerId,
        /// How many keys in the batch.
        keys: usize,
    },
    /// Server: received a batch of copies.
    TransferReceived {
        /// Who sent it.
        from: Addr,
        /// Keys in the batch.
        keys: usize,
        /// Keys stored (the rest were older than what was already here).
        stored: usize,
    },
    /// Server: a receiver acknowledged copies.
    TransferAcked {
        /// The receiver.
        from: ServerId,
        /// Keys acknowledged.
        keys: usize,
    },
    /// Server: its own part of rebalancing towards this epoch is done.
    RebalanceFinished {
        /// The epoch.
        epoch: Epoch,
    },
    /// Server: dropped copies it no longer replicates, after every new holder had them.
    CopiesDropped {
        /// The fully rebalanced epoch that allowed it.
        epoch: Epoch,
        /// How many keys.
        keys: usize,
    },
    /// Server: voted in phase one.
    Voted {
        /// The transaction.
        tx: TxId,
        /// The key.
        key: String,
        /// Yes or no.
        yes: bool,
        /// Why no.
        reason: Option<NoReason>,
    },
    /// Server: applied a commit.
    Committed {
        /// The transaction.
        tx: TxId,
        /// The key.
        key: String,
        /// The committed version.
        version: Version,
    },
    /// Server: applied an abort (or ruled a transaction out).
    Aborted {
        /// The transaction.
        tx: TxId,
        /// The key, when the transaction was prepared here.
        key: Option<String>,
    },
    /// Server: prepared too long without a decision; asking the others.
    TerminationStarted {
        /// The transaction.
        tx: TxId,
        /// The key.
        key: String,
    },
    /// Server: every participant that answered is prepared too; nobody can decide without the
    /// coordinator. The transaction stays pending and the key stays locked.
    Blocked {
        /// The transaction.
        tx: TxId,
        /// The key.
        key: String,
    },
    /// Server (Paxos Commit): its takeovers of a transaction found no majority of participants
    /// for several rounds. The transaction stays pending and the key locked until enough of
    /// them answer; it keeps trying.
    NoMajority {
        /// The transaction.
        tx: TxId,
        /// The key.
        key: String,
    },

    /// Client: a 2PC decision was taken.
    TxDecided {
        /// The transaction.
        tx: TxId,
        /// The key.
        key: String,
        /// Commit or abort.
        commit: bool,
        /// The participants.
        participants: Vec<ServerId>,
    },
    /// Client: a write of a moving key goes to both its replica sets, the stable replicas
    /// still alive and the new ones.
    #[cfg_attr(target_arch = "wasm32", serde(skip_deserializing))]
    WriteOnBothSets {
        /// The transaction.
        tx: TxId,
        /// The key.
        key: String,
        /// Its live stable replicas.
        stable: Vec<ServerId>,
        /// Its new replicas.
        new: Vec<ServerId>,
    },
    /// Client: an operation failed for a transient reason and will be retried after a backoff.
    OpRetrying {
        /// The operation.
        op: OpId,
        /// The attempt that comes next (2 = first retry).
        attempt: u32,
        /// Why it failed.
        reason: String,
    },
    /// Client: an attempt ended because the view changed under it; the operation runs again
    /// at once in the newer view, without a backoff and without counting an attempt.
    #[cfg_attr(target_arch = "wasm32", serde(skip_deserializing))]
    OpRerun {
        /// The operation.
        op: OpId,
        /// The epoch it runs in now.
        epoch: Epoch,
        /// What said the view had changed.
        reason: String,
    },
    /// Client: a lock is held by another; still waiting.
    LockWaiting {
        /// The lock_get operation.
        op: OpId,
        /// The lock.
        name: String,
        /// Place in the queue.
        position: usize,
    },
    /// Client: an operation finished.
    // The browser reads events back only from nodes' records, and nodes are view leaders and
    // servers: decoding this variant's result there would cost the page ~10 KB of its gzipped
    // size budget for a message it is never sent.
    #[cfg_attr(target_arch = "wasm32", serde(skip_deserializing))]
    OpDone {
        /// The operation.
        op: OpId,
        /// Its result.
        result: Result<OpOutput, OpError>,
    },

    /// Any role: a peer sent something that could not be handled; it was answered with an error.
    BadMessage {
        /// The peer.
        from: Addr,
        /// What was wrong.
        reason: String,
    },
}
}
