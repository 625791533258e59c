//! Placement: the consistent-hashing ring and the one function every report of placement uses.
//!
//! A string's ring position is the first 8 bytes of its SHA-256 digest read as a big-endian
//! u64. Virtual node `i` of server `s` sits at the position of `s#i`; with one virtual node the
//! server sits at the position of its id itself, as in the course's ring.

use alloc::format;
use alloc::vec::Vec;
use sha2::{Digest, Sha256};

use crate::id::ServerId;

/// The ring position of `s`.
pub fn position(s: &str) -> u64 {
    let digest = Sha256::digest(s.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The replica list of `key` among `servers`, primary first: the first `r` distinct servers
/// clockwise from the key's position (smallest position >= the key's, wrapping).
pub fn replicas(key: &str, servers: &[ServerId], r: usize, vnodes: u32) -> Vec<ServerId> {
    Ring::new(servers.iter(), vnodes).replicas(key, r).into_iter().cloned().collect()
}

/// A ring built once per view, so placing many keys costs a hash and a binary search each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ring {
    servers: Vec<ServerId>,
    /// (position, index into `servers`), sorted; ties broken by server so every node agrees.
    points: Vec<(u64, usize)>,
    vnodes: u32,
}

impl Ring {
    /// The ring of `servers` with `vnodes` positions each (0 is treated as 1).
    pub fn new<'a>(servers: impl IntoIterator<Item = &'a ServerId>, vnodes: u32) -> Self {
        let vnodes = vnodes.max(1);
        let mut servers: Vec<ServerId> = servers.into_iter().cloned().collect();
        servers.sort();
        servers.dedup();
        let mut points = Vec::with_capacity(servers.len() * vnodes as usize);
        for (i, s) in servers.iter().enumerate() {
            if vnodes == 1 {
                points.push((position(s.as_str()), i));
            } else {
                for v in 0..vnodes {
                    points.push((position(&format!("{}#{}", s, v)), i));
                }
            }
        }
        points.sort_unstable();
        Ring { servers, points, vnodes }
    }

    /// The servers on the ring, sorted by id.
    pub fn servers(&self) -> &[ServerId] {
        &self.servers
    }

    /// Virtual nodes per server.
    pub fn vnodes(&self) -> u32 {
        self.vnodes
    }

    /// Every (position, server) point, in ring order.
    pub fn points(&self) -> impl Iterator<Item = (u64, &ServerId)> + '_ {
        self.points.iter().map(|&(p, i)| (p, &self.servers[i]))
    }

    /// The replica list of `key`, primary first.
    pub fn replicas(&self, key: &str, r: usize) -> Vec<&ServerId> {
        self.replicas_at(position(key), r)
    }

    /// The replica list of whatever sits at ring position `pos`.
    pub fn replicas_at(&self, pos: u64, r: usize) -> Vec<&ServerId> {
        let want = r.min(self.servers.len());
        // Distinctness is checked on indices: comparing ids would compare strings.
        let mut picked: Vec<usize> = Vec::with_capacity(want);
        if want > 0 {
            let start = self.points.partition_point(|&(p, _)| p < pos);
            for k in 0..self.points.len() {
                let (_, i) = self.points[(start + k) % self.points.len()];
                if !picked.contains(&i) {
                    picked.push(i);
                    if picked.len() == want {
                        break;
                    }
                }
            }
        }
        picked.into_iter().map(|i| &self.servers[i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn ids(names: &[&str]) -> Vec<ServerId> {
        names.iter().map(|n| ServerId(n.to_string())).collect()
    }

    #[test]
    fn position_is_sha256_prefix_big_endian() {
        // sha256("abc") = ba7816bf8f01cfea...
        assert_eq!(position("abc"), 0xba78_16bf_8f01_cfea);
    }

    #[test]
    fn replicas_walk_clockwise_from_the_key() {
        let servers = ids(&["a", "b", "c", "d", "e"]);
        let ring = Ring::new(servers.iter(), 1);
        let mut order: Vec<(u64, &str)> = servers.iter().map(|s| (position(s.as_str()), s.as_str())).collect();
        order.sort();
        for key in ["k1", "k2", "apple", "zebra", ""] {
            let kp = position(key);
            let first = order.iter().position(|&(p, _)| p >= kp).unwrap_or(0);
            let expect: Vec<&str> = (0..3).map(|i| order[(first + i) % order.len()].1).collect();
            let got: Vec<&str> = ring.replicas(key, 3).iter().map(|s| s.as_str()).collect();
            assert_eq!(got, expect, "key {key}");
        }
    }

    #[test]
    fn small_views_use_every_server_and_empty_has_none() {
        let servers = ids(&["a", "b"]);
        let mut got = replicas("k", &servers, 3, 1);
        got.sort();
        assert_eq!(got, servers);
        assert!(replicas("k", &[], 3, 1).is_empty());
    }

    #[test]
    fn virtual_nodes_give_distinct_replicas() {
        let servers = ids(&["a", "b", "c", "d"]);
        let ring = Ring::new(servers.iter(), 16);
        assert_eq!(ring.points().count(), 64);
        for key in ["x", "y", "z"] {
            let r = ring.replicas(key, 3);
            assert_eq!(r.len(), 3);
            assert!(r[0] != r[1] && r[1] != r[2] && r[0] != r[2]);
        }
        assert_eq!(replicas("x", &servers, 3, 16), ring.replicas("x", 3).into_iter().cloned().collect::<Vec<_>>());
    }
}
