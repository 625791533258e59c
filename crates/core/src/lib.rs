//! Ringside's protocol core: the view leader, the storage server and the client of a
//! replicated key/value store, as pure state machines.
//!
//! Nothing here touches a socket, a clock, a thread or a global random generator: time comes
//! in as [`Time`], randomness from a seed in each role's config, messages through
//! `handle_message`, and everything a role wants done comes out of its `poll_*` methods. The
//! same code runs in the native nodes, in the deterministic simulator and in the browser.
//!
//! The run loop every shell follows:
//!
//! ```
//! use ringside_core::{Addr, Node, Peer, Time, ViewLeader, ViewLeaderConfig, Server, ServerConfig};
//!
//! let vl_addr = Addr::from("vl");
//! let mut vl = ViewLeader::new(ViewLeaderConfig::default(), Time(0));
//! let mut server = Server::new(ServerConfig::new(Addr::from("s1"), vl_addr.clone(), 7), Time(0));
//!
//! // The server's first heartbeat is due at once.
//! let now = server.poll_timeout().unwrap();
//! server.handle_timeout(now);
//! // Drain what it wants sent and hand it to the peer (a real shell writes to a socket).
//! while let Some(t) = server.poll_transmit() {
//!     assert_eq!(t.to, vl_addr);
//!     vl.handle_message(now, Peer::Member(&Addr::from("s1")), t.msg);
//! }
//! while let Some(event) = vl.poll_event() {
//!     println!("view leader: {event:?}"); // joined, epoch 1
//! }
//! assert_eq!(vl.epoch().0, 1);
//! // Then arm one timer for the earliest deadline and call handle_timeout when it passes.
//! assert!(vl.poll_timeout().is_some());
//! ```
#![no_std]
#![warn(missing_docs, unreachable_pub)]

extern crate alloc;

pub mod client;
pub mod command;
mod describe;
pub mod error;
pub mod event;
pub mod id;
pub mod leaders;
pub mod limits;
pub mod locks;
pub mod msg;
pub mod names;
mod one_line;
mod outbox;
pub mod peer;
pub mod replication;
pub mod ring;
pub mod rng;
pub mod server;
pub mod tagged;
pub mod time;
pub mod timing;
pub mod twopc;
pub mod view_leader;
pub mod wire;

#[cfg(test)]
mod testing;

pub use client::{Client, ClientConfig, OpOutput, OpStatus, Stage};
pub use command::{Command, CommandError, ParseError};
pub use error::{ClientError, OpError};
pub use event::Event;
pub use id::{next_version, Addr, Epoch, Member, OpId, ServerId, TxId, TxSecret, Version, View, MAX_NUMBER};
pub use limits::Limits;
pub use msg::{Msg, Transmit};
pub use names::Names;
pub use one_line::OneLine;
pub use peer::Peer;
pub use rng::Rng;
pub use server::{Server, ServerConfig};
pub use time::{Deadline, Time};
pub use timing::Timing;
pub use twopc::CommitProtocol;
pub use view_leader::{ViewLeader, ViewLeaderConfig};

/// The shape every role shares, so a shell can drive any of them the same way.
///
/// After every input (`handle_message`, `handle_timeout`, or a role's own command), drain
/// `poll_transmit` and `poll_event`, then read `poll_timeout` for the next deadline.
pub trait Node {
    /// A message from `from`: a member of the cluster or a client, as the shell knows it. What
    /// a peer may send is decided here, not in the shell; a bad or forbidden message becomes
    /// an error reply or an event, never a panic.
    fn handle_message(&mut self, now: Time, from: Peer<'_>, msg: Msg);
    /// Time passed; due timers fire. A call before any deadline is a no-op.
    fn handle_timeout(&mut self, now: Time);
    /// The next message to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The next thing that happened.
    fn poll_event(&mut self) -> Option<Event>;
    /// When `handle_timeout` should be called next.
    fn poll_timeout(&self) -> Option<Time>;
}
