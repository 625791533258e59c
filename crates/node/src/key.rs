//! The cluster key: what every WebSocket handshake of a keyed cluster must present.
//!
//! A node reads it from `RINGSIDE_CLUSTER_KEY` or `--cluster-key-file`; `ringside cluster`
//! makes a fresh one per run when none is given and hands it to its children in their
//! environment. It travels in the handshake's URI (`ws://host:port/?key=...`, and
//! `/member?key=...` for a node asking to be treated as a member), since a browser cannot set
//! a handshake's headers. A handshake with a missing or wrong key gets HTTP 401 before any
//! frame is read. The key is compared in constant time and never logged, and no frame,
//! events file or `watch` record carries it.
//!
//! Without a key a node trusts the machine it runs on: it listens on loopback only, and a peer
//! that asks for `/member` is a member. With a key, only a peer that presents it is.

use std::fmt;
use std::path::{Path, PathBuf};

use clap::Args;
use tokio_tungstenite::tungstenite::handshake::server::Request;

use crate::NodeError;

/// The environment variable a key may come from.
pub const ENV: &str = "RINGSIDE_CLUSTER_KEY";
/// The handshake path of a node asking to be a member.
pub const MEMBER_PATH: &str = "/member";
const SHORTEST: usize = 16;
const LONGEST: usize = 256;

/// Where a process finds the cluster key.
#[derive(Clone, Debug, Default, Args)]
pub struct KeyArgs {
    /// Read the cluster key from FILE (surrounding whitespace ignored); without it, from the
    /// RINGSIDE_CLUSTER_KEY environment variable. Every handshake must then present it.
    #[arg(long, value_name = "FILE")]
    pub cluster_key_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The key these flags and the environment give, if any.
    pub fn resolve(&self) -> Result<Option<ClusterKey>, NodeError> {
        match &self.cluster_key_file {
            Some(path) => read_file(path).map(Some),
            None => match std::env::var(ENV) {
                Ok(text) if text.trim().is_empty() => Ok(None),
                Ok(text) => ClusterKey::new(text.trim()).map(Some).map_err(|e| NodeError::new(format!("{ENV}: {e}"))),
                Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => Err(NodeError::new(format!("{ENV} is not UTF-8"))),
            },
        }
    }
}

fn read_file(path: &Path) -> Result<ClusterKey, NodeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| NodeError::new(format!("cannot read the cluster key file {}: {e}", path.display())))?;
    ClusterKey::new(text.trim()).map_err(|e| NodeError::new(format!("{}: {e}", path.display())))
}

/// A cluster key: 16 to 256 characters a URI carries as they are (letters, digits, `-`, `_`,
/// `.`, `~`). Its `Debug` shows no part of it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey(String);

impl ClusterKey {
    /// Checks `text` is a usable key.
    pub fn new(text: &str) -> Result<ClusterKey, String> {
        if !(SHORTEST..=LONGEST).contains(&text.len()) {
            return Err(format!("a cluster key is {SHORTEST} to {LONGEST} characters, not {}", text.len()));
        }
        if !text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)) {
            return Err("a cluster key holds only letters, digits, '-', '_', '.' and '~'".into());
        }
        Ok(ClusterKey(text.to_string()))
    }

    /// A fresh key: 32 hex digits from the operating system's randomness.
    pub fn generate() -> ClusterKey {
        ClusterKey(crate::admin::token())
    }

    /// The key itself, to hand to a child process or print for the user.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

/// Compares in time independent of where the texts differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The URL a node (`member`) or a client dials `addr` at.
pub fn dial_url(addr: &str, member: bool, key: Option<&ClusterKey>) -> String {
    let path = if member { MEMBER_PATH } else { "/" };
    match key {
        Some(key) => format!("ws://{addr}{path}?key={}", key.0),
        None => format!("ws://{addr}{path}"),
    }
}

/// What an accepted handshake proved: whether its peer is a member.
pub fn admit(request: &Request, key: Option<&ClusterKey>) -> Result<bool, &'static str> {
    let member = request.uri().path() == MEMBER_PATH;
    let Some(key) = key else { return Ok(member) };
    let given = request.uri().query().unwrap_or_default().split('&').find_map(|pair| pair.strip_prefix("key="));
    match given {
        None => Err("this cluster needs its key: add ?key=... to the URI"),
        Some(given) if !same(given.as_bytes(), key.0.as_bytes()) => Err("wrong cluster key"),
        Some(_) => Ok(member),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> Request {
        Request::builder().uri(uri).body(()).expect("a request")
    }

    #[test]
    fn keys_are_checked_as_read() {
        assert!(ClusterKey::new("0123456789abcdef").is_ok());
        assert!(ClusterKey::new("short").unwrap_err().contains("16 to 256"));
        assert!(ClusterKey::new("0123456789abcdef&x=1").unwrap_err().contains("only letters"));
        assert_eq!(format!("{:?}", ClusterKey::generate()), "ClusterKey(..)");
    }

    #[test]
    fn a_handshake_proves_membership_with_the_key() {
        let key = ClusterKey::new("0123456789abcdef0123").unwrap();
        assert_eq!(admit(&request("/?key=0123456789abcdef0123"), Some(&key)), Ok(false));
        assert_eq!(admit(&request("/member?key=0123456789abcdef0123"), Some(&key)), Ok(true));
        assert_eq!(admit(&request("/member"), Some(&key)), Err("this cluster needs its key: add ?key=... to the URI"));
        assert_eq!(admit(&request("/?key=0123456789abcdef0124"), Some(&key)), Err("wrong cluster key"));
        // Without a key, the machine is trusted: asking is enough.
        assert_eq!(admit(&request("/member"), None), Ok(true));
        assert_eq!(admit(&request("/"), None), Ok(false));
        assert_eq!(dial_url("h:1", true, Some(&key)), "ws://h:1/member?key=0123456789abcdef0123");
        assert_eq!(dial_url("h:1", false, None), "ws://h:1/");
    }
}
