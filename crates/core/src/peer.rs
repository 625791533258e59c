//! Who sent a message: the shell says what the peer proved, the roles decide what it may send.

use crate::id::Addr;
use crate::msg::Msg;

/// The sender of a message, as the shell knows it.
///
/// A shell calls a peer a member only when it proved it is one: in the native nodes, a
/// connection this node dialed to a node's address, or an accepted one whose handshake asked
/// for membership and presented the cluster key. Everyone else is a client, named by its
/// connection, whatever address its frames claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer<'a> {
    /// A view leader or server of this cluster, at the address it listens on.
    Member(&'a Addr),
    /// Anyone else: a client, an observer, a stranger.
    Client(&'a Addr),
}

impl<'a> Peer<'a> {
    /// Where replies go.
    pub fn addr(self) -> &'a Addr {
        match self {
            Peer::Member(addr) | Peer::Client(addr) => addr,
        }
    }

    /// Whether it proved it is a member of the cluster.
    pub fn is_member(self) -> bool {
        matches!(self, Peer::Member(_))
    }
}

/// Why a client may not send `msg`, which only members send: membership (`heartbeat`, its
/// reply), copies (`transfer`, its ack) and the participants' termination protocol. Each role
/// refuses these from a client, so a stranger can neither join nor fill a bucket nor decide
/// someone else's transaction.
pub fn members_only(msg: &Msg) -> alloc::string::String {
    alloc::format!("`{}` is taken only from members of the cluster", msg.name())
}
