//! A node's place in the simulated world: what kind of node lives at an address, the role
//! running there (none while crashed), and how many processes it has had.

use ringside_core::{Client, Node, Server, Time, ViewLeader};
use serde::{Deserialize, Serialize};

/// A node's role.
#[derive(Debug)]
// A world holds a handful of nodes: boxing the large roles would cost an indirection on every
// step to save a few hundred bytes.
#[allow(clippy::large_enum_variant)]
pub enum Role {
    /// The view leader.
    ViewLeader(ViewLeader),
    /// A storage server.
    Server(Server),
    /// A client.
    Client(Client),
}

impl Role {
    pub(crate) fn node(&mut self) -> &mut dyn Node {
        match self {
            Role::ViewLeader(n) => n,
            Role::Server(n) => n,
            Role::Client(n) => n,
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Time> {
        match self {
            Role::ViewLeader(n) => n.poll_timeout(),
            Role::Server(n) => n.poll_timeout(),
            Role::Client(n) => n.poll_timeout(),
        }
    }
}

/// What kind of node lives at an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The view leader.
    ViewLeader,
    /// A storage server.
    Server,
    /// A client.
    Client,
}

/// A node's place in the world: its process (none while crashed) and its armed timer.
#[derive(Debug)]
pub struct Slot {
    /// What runs here.
    pub kind: Kind,
    /// The live process, or `None` while crashed.
    pub role: Option<Role>,
    /// Process starts at this address so far (1 = the first).
    pub incarnation: u32,
    /// When its timer is armed for.
    pub(crate) armed: Option<Time>,
    /// Until when its process is paused: what it is sent and its timer wait till then.
    pub stalled_until: Option<Time>,
}

impl Slot {
    /// A slot running `role` in its first process.
    pub(crate) fn new(kind: Kind, role: Role) -> Slot {
        Slot { kind, role: Some(role), incarnation: 1, armed: None, stalled_until: None }
    }

    /// Whether its process is paused at `now`.
    pub fn stalled(&self, now: Time) -> bool {
        self.stalled_until.is_some_and(|until| until > now)
    }
}
