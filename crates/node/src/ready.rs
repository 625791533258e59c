//! The ready line: once a process listens, it writes one JSON line to stdout saying what it is
//! and where it listens, for the program that started it (`ringside cluster`, the bench, the
//! tests). Logs go to stderr; a node writes nothing else to stdout.
//!
//! ```json
//! {"ready":{"role":"server","id":"bb4733cd","addr":"127.0.0.1:38000"}}
//! ```
//!
//! `docs/protocol.md` shows each role's.

use std::io::Write;

use ringside_core::{Addr, ServerId};
use serde::{Deserialize, Serialize};
use tracing::warn;

/// What a process that listens announces, tagged by `role`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Ready {
    /// `ringside viewleader`.
    ViewLeader {
        /// Where peers dial it.
        addr: Addr,
    },
    /// `ringside server`.
    Server {
        /// Its server id, new in every process.
        id: ServerId,
        /// Where peers dial it.
        addr: Addr,
    },
    /// The benchmark's echo server.
    Echo {
        /// Where it listens.
        addr: Addr,
    },
    /// `ringside cluster`, once every node it started listens.
    Cluster {
        /// Its admin endpoint (127.0.0.1).
        addr: Addr,
        /// Its view leader.
        viewleader: Addr,
        /// The token the admin endpoint wants in its handshake's URI.
        token: String,
        /// The link that opens the browser page on this cluster.
        page: String,
    },
}

/// The line's one field, so that a reader can tell the ready line from anything else.
#[derive(Serialize, Deserialize)]
struct Line {
    ready: Ready,
}

impl Ready {
    /// Where it listens.
    pub fn addr(&self) -> &Addr {
        match self {
            Ready::ViewLeader { addr }
            | Ready::Server { addr, .. }
            | Ready::Echo { addr }
            | Ready::Cluster { addr, .. } => addr,
        }
    }

    /// The line, without its line break.
    pub fn line(&self) -> String {
        serde_json::to_string(&Line { ready: self.clone() }).expect("a ready line always serializes")
    }

    /// The ready line `line` is, if it is one.
    pub fn parse(line: &str) -> Option<Ready> {
        serde_json::from_str::<Line>(line).ok().map(|l| l.ready)
    }

    /// Writes the line to stdout and flushes it. A parent that stopped reading is no reason to
    /// stop serving: a failed write is only logged.
    pub fn announce(&self) {
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{}", self.line()).and_then(|()| out.flush()) {
            warn!(target: "ringside::node", "cannot write the ready line to stdout: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_reads_back_and_anything_else_is_none() {
        let server = Ready::Server { id: ServerId::from("bb4733cd"), addr: Addr::from("127.0.0.1:38000") };
        assert_eq!(server.line(), r#"{"ready":{"role":"server","id":"bb4733cd","addr":"127.0.0.1:38000"}}"#);
        let vl = Ready::ViewLeader { addr: Addr::from("127.0.0.1:39000") };
        assert_eq!(vl.line(), r#"{"ready":{"role":"viewleader","addr":"127.0.0.1:39000"}}"#);
        for ready in [server, vl, Ready::Echo { addr: Addr::from("127.0.0.1:4000") }] {
            assert_eq!(Ready::parse(&ready.line()), Some(ready));
        }
        assert_eq!(Ready::parse("2025-01-01T00:00:00Z  INFO server bb4733cd listening on 127.0.0.1:38000"), None);
        assert_eq!(Ready::parse(r#"{"ready":{"role":"janitor","addr":"x"}}"#), None);
    }
}
