//! Network namespaces for the chaos suite's partitions: one namespace per node, each joined by
//! a veth pair to a bridge in the test's own namespace, where the clients run. Cutting a
//! node's link (its veth's host end down) isolates it from every other node and client;
//! healing brings the link back. Everything is created under names that carry this process's
//! id and deleted when the [`Net`] is dropped.

use std::process::{Command, Stdio};

/// The namespaces, the bridge and their addresses.
pub(crate) struct Net {
    tag: String,
    slots: usize,
    prefix: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out =
        Command::new("ip").args(args).stdout(Stdio::null()).output().map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Net {
    /// `slots` namespaces on one bridge; an error says why they cannot be made here (not
    /// root, no `ip`, namespaces not allowed).
    pub(crate) fn create(slots: usize) -> Result<Net, String> {
        let tag = format!("rsc{}", std::process::id() % 100_000);
        // 10.201–250.x.0/24: one subnet per run, from the process id.
        let id = std::process::id();
        let prefix = format!("10.{}.{}", 201 + id % 50, (id / 50) % 250);
        let net = Net { tag, slots: 0, prefix };
        let bridge = net.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        let mut net = net;
        ip(&["addr", "add", &format!("{}.1/24", net.prefix), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for slot in 0..slots {
            let (ns, host, inner) = (net.namespace(slot), net.host_end(slot), net.inner_end(slot));
            ip(&["netns", "add", &ns])?;
            net.slots = slot + 1;
            ip(&["link", "add", &host, "type", "veth", "peer", "name", &inner])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            ip(&["link", "set", &host, "master", &bridge])?;
            ip(&["link", "set", &host, "up"])?;
            ip(&["netns", "exec", &ns, "ip", "addr", "add", &format!("{}/24", net.addr(slot)), "dev", &inner])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", &inner, "up"])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    fn namespace(&self, slot: usize) -> String {
        format!("{}-n{slot}", self.tag)
    }

    fn host_end(&self, slot: usize) -> String {
        format!("{}h{slot}", self.tag)
    }

    fn inner_end(&self, slot: usize) -> String {
        format!("{}i{slot}", self.tag)
    }

    /// How many slots there are.
    pub(crate) fn slots(&self) -> usize {
        self.slots
    }

    /// The address of the node in `slot`.
    pub(crate) fn addr(&self, slot: usize) -> String {
        format!("{}.{}", self.prefix, slot + 2)
    }

    /// What runs a program inside `slot`'s namespace.
    pub(crate) fn wrapper(&self, slot: usize) -> Vec<String> {
        vec!["ip".into(), "netns".into(), "exec".into(), self.namespace(slot)]
    }

    /// Cuts `slot` off from everyone.
    pub(crate) fn cut(&self, slot: usize) {
        let _ = ip(&["link", "set", &self.host_end(slot), "down"]);
    }

    /// Gives `slot` its link back.
    pub(crate) fn heal(&self, slot: usize) {
        let _ = ip(&["link", "set", &self.host_end(slot), "up"]);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for slot in 0..self.slots {
            let _ = ip(&["link", "del", &self.host_end(slot)]);
            let _ = ip(&["netns", "del", &self.namespace(slot)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}
