//! The labels people know nodes by (`s2`, `c1`), for the words that would otherwise show ids.
//!
//! A server's id is random hex, a transaction's id carries its client's random number, and a
//! node's address may be `host:port`: exact, but not what a learner calls them. A front-end
//! that knows the mapping (the page, the simulator's narration) fills in a [`Names`] and hands
//! it to `describe_with`; a node's own log knows no labels and its words show the ids.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;

use crate::id::{Addr, ServerId, TxId};

/// Labels for servers (by id), clients (by the id their transactions carry) and addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    servers: BTreeMap<ServerId, String>,
    /// By the client's id, with the prefix its transactions show as (`tx0007`).
    clients: BTreeMap<u64, (String, String)>,
    addrs: BTreeMap<Addr, String>,
}

impl Names {
    /// No labels: every word shows the ids themselves.
    pub const NONE: Names = Names { servers: BTreeMap::new(), clients: BTreeMap::new(), addrs: BTreeMap::new() };

    /// Calls the server with this id `label` (its lane: a restarted server's new id gets the
    /// same label as the old one).
    pub fn name_server(&mut self, id: &ServerId, label: &str) {
        // Heartbeats name their sender again and again: only a change allocates.
        if self.servers.get(id).is_none_or(|l| l != label) {
            self.servers.insert(id.clone(), label.into());
        }
    }

    /// Calls the client whose transactions carry `client` `label`.
    pub fn name_client(&mut self, client: u64, label: &str) {
        if self.clients.get(&client).is_none_or(|(l, _)| l != label) {
            let shown = format!("{}", TxId { client, seq: 0 });
            let prefix = shown.split('.').next().unwrap_or_default().into();
            self.clients.insert(client, (label.into(), prefix));
        }
    }

    /// Calls the node at `addr` `label` (a live cluster's `127.0.0.1:38002` is `s2`).
    pub fn name_addr(&mut self, addr: &Addr, label: &str) {
        if addr.as_str() != label && self.addrs.get(addr).is_none_or(|l| l != label) {
            self.addrs.insert(addr.clone(), label.into());
        }
    }

    /// The server's label, if it has one.
    pub fn server_label(&self, id: &ServerId) -> Option<&str> {
        self.servers.get(id).map(String::as_str)
    }

    /// The server's label, or its id.
    pub fn server<'a>(&'a self, id: &'a ServerId) -> &'a str {
        self.server_label(id).unwrap_or(id.as_str())
    }

    /// The node's label, or its address.
    pub fn addr<'a>(&'a self, addr: &'a Addr) -> &'a str {
        self.addrs.get(addr).map_or(addr.as_str(), String::as_str)
    }

    /// A transaction as people say it: `c1's write #2` (its client's second transaction), or
    /// the id (`tx0007.2`) when the client has no label.
    pub fn tx(&self, tx: TxId) -> String {
        match self.clients.get(&tx.client) {
            Some((label, _)) => format!("{label}'s write #{}", tx.seq),
            None => format!("{tx}"),
        }
    }

    /// Text a role wrote with ids in it (a retry's reason: `the key is rebalancing at
    /// 5e41ab08`), with every id this book knows as a whole word replaced by its label.
    pub fn relabel(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric()) {
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
            let word = &rest[..end];
            rest = &rest[end..];
            // A transaction shows as its client's prefix, a dot and its number.
            let seq = rest.strip_prefix('.').filter(|r| r.starts_with(|c: char| c.is_ascii_digit()));
            let client = self.clients.values().find(|(_, prefix)| prefix == word).filter(|_| seq.is_some());
            if let (Some((label, _)), Some(after_dot)) = (client, seq) {
                out.push_str(label);
                out.push_str("'s write #");
                rest = after_dot;
            } else if let Some(label) = self.servers.get(&ServerId::from(word)) {
                out.push_str(label);
            } else {
                out.push_str(word);
            }
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> Names {
        let mut names = Names::default();
        names.name_server(&ServerId::from("5e41ab08"), "s2");
        names.name_client(7, "c1");
        names.name_addr(&Addr::from("127.0.0.1:38002"), "s2");
        names
    }

    #[test]
    fn known_ids_read_as_labels_and_unknown_ones_as_themselves() {
        let names = book();
        assert_eq!(names.server(&ServerId::from("5e41ab08")), "s2");
        assert_eq!(names.server(&ServerId::from("0badf00d")), "0badf00d");
        assert_eq!(names.tx(TxId { client: 7, seq: 2 }), "c1's write #2");
        assert_eq!(names.tx(TxId { client: 8, seq: 2 }), "tx0008.2");
        assert_eq!(names.addr(&Addr::from("127.0.0.1:38002")), "s2");
        assert_eq!(Names::NONE.tx(TxId { client: 7, seq: 2 }), "tx0007.2");
    }

    #[test]
    fn a_reason_written_with_ids_is_relabelled_word_by_word() {
        let names = book();
        assert_eq!(
            names.relabel("our earlier tx0007.3 is still pending at 5e41ab08"),
            "our earlier c1's write #3 is still pending at s2"
        );
        assert_eq!(names.relabel("x5e41ab08 and tx0007 alone and tx0008.1"), "x5e41ab08 and tx0007 alone and tx0008.1");
        assert_eq!(names.relabel("no vote from 5e41ab08, 0badf00d."), "no vote from s2, 0badf00d.");
    }
}
