//! A test's view leader: one process, or replicas that each keep their term, vote and log in a
//! data directory of their own, so that a test (or the chaos suite's nemesis) can kill one
//! with SIGKILL and start it again from its disk at the same address.

use std::path::PathBuf;

use crate::chaos::Net;
use crate::{free_port, Process, CLUSTER_KEY, FAILURE_MS, HEARTBEAT_MS};

/// The replicas, by place in the list; `None` while one is down.
pub struct ViewLeaders {
    procs: Vec<Option<Process>>,
    /// Each replica's `host:port`.
    addrs: Vec<String>,
    /// The addresses joined with commas, as `--viewleader` takes them.
    pub list: String,
    /// Where the replicas' data directories are (none for a lone view leader).
    dir: Option<PathBuf>,
    /// Namespace wrappers by replica, with partitions.
    wrappers: Vec<Vec<String>>,
}

impl ViewLeaders {
    /// Starts `n` replicas on loopback (one is a lone view leader).
    pub fn start(n: usize) -> ViewLeaders {
        ViewLeaders::start_in(n, None)
    }

    /// Starts `n` replicas, replica `i` in namespace slot `i` of `net` if there is one.
    pub(crate) fn start_in(n: usize, net: Option<&Net>) -> ViewLeaders {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let host = |i: usize| net.map_or_else(|| "127.0.0.1".to_string(), |net| net.addr(i));
        let addrs: Vec<String> = ports.iter().enumerate().map(|(i, p)| format!("{}:{p}", host(i))).collect();
        let dir = (n > 1)
            .then(|| std::env::temp_dir().join(format!("ringside-chaos-vl-{}-{}", std::process::id(), ports[0])));
        let wrappers = (0..n).map(|i| net.map(|net| net.wrapper(i)).unwrap_or_default()).collect();
        let mut replicas = ViewLeaders { procs: Vec::new(), list: addrs.join(","), addrs, dir, wrappers };
        replicas.procs = (0..n).map(|i| Some(replicas.launch(i))).collect();
        replicas
    }

    /// How many replicas the list has.
    pub(crate) fn len(&self) -> usize {
        self.addrs.len()
    }

    fn launch(&self, i: usize) -> Process {
        let (host, port) = self.addrs[i].rsplit_once(':').expect("host:port");
        let (hb, timeout) = (HEARTBEAT_MS.to_string(), FAILURE_MS.to_string());
        let mut args = vec!["--port", port, "--heartbeat-ms", &hb, "--failure-timeout-ms", &timeout];
        let data = self.dir.as_ref().map(|d| d.join(format!("vl{}", i + 1)).display().to_string());
        if let Some(data) = &data {
            args.extend(["--viewleader", &self.list, "--data-dir", data]);
        }
        let wrapper: Vec<&str> = self.wrappers[i].iter().map(String::as_str).collect();
        if wrapper.is_empty() {
            Process::start("viewleader", &args)
        } else {
            args.extend(["--listen", host]);
            Process::start_wrapped(&wrapper, "viewleader", &args, Some(CLUSTER_KEY))
        }
    }

    /// The replica that leads now, by its place: of the live replicas whose latest `replica`
    /// record says they lead, the one of the highest term (one cut off may not know yet that
    /// it was replaced).
    pub fn leader(&self) -> Option<usize> {
        if self.len() == 1 {
            return Some(0);
        }
        let latest = |p: &Process| p.records().into_iter().rev().find(|r| r["kind"] == "replica");
        self.procs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let state = latest(p.as_ref()?)?["state"].take();
                (state["role"] == "leader").then(|| (state["term"].as_u64().unwrap_or(0), i))
            })
            .max()
            .map(|(_, i)| i)
    }

    /// Replica `i`, if it runs.
    pub fn get(&self, i: usize) -> Option<&Process> {
        self.procs[i].as_ref()
    }

    /// kill -9 of replica `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            p.kill();
        }
    }

    /// Starts replica `i` again from its data directory, at the same address.
    pub fn restart(&mut self, i: usize) {
        if self.procs[i].is_none() {
            self.procs[i] = Some(self.launch(i));
        }
    }

    /// The replicas that run (or should: a crash shows as not alive).
    pub(crate) fn alive_ones(&mut self) -> impl Iterator<Item = &mut Process> {
        self.procs.iter_mut().flatten()
    }
}

impl Drop for ViewLeaders {
    fn drop(&mut self) {
        self.procs.iter_mut().for_each(|p| drop(p.take()));
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
