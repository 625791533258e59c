//! Ringside's end-to-end suites live in `tests/tests/`. This library is what they share: real
//! `ringside` processes on loopback with short timings, the command-line client, and a raw
//! WebSocket peer.
//!
//! Tests learn facts from records, never from log sentences: a node's address and id from its
//! ready line, what it did from its events file (`--events`, the records of `docs/protocol.md`),
//! and answers from the client's `--json` output and exit code. Logs are kept only to show in
//! a failure message.
//!
//! The `ringside` binary is found through `RINGSIDE_BIN`, else in the workspace's target
//! directory beside this test binary (`cargo test --workspace` builds it, since the node crate
//! has integration tests of its own).

pub mod chaos;
pub mod view_leaders;

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ringside_node::ready::Ready;
use serde_json::Value;

/// Heartbeat period of test clusters (ms).
pub const HEARTBEAT_MS: u64 = 100;
/// Failure timeout of test clusters (ms): a killed server leaves the view within about a second.
pub const FAILURE_MS: u64 = 1_000;

/// The cluster key of `ringside cluster` runs in tests. Clients and raw peers always present
/// it: a node started without a key takes no notice of one.
pub const CLUSTER_KEY: &str = "ringside-tests-cluster-key";

/// The environment variable nodes and clients read the key from.
pub const KEY_ENV: &str = "RINGSIDE_CLUSTER_KEY";

/// The `ringside` binary.
pub fn ringside_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("RINGSIDE_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<this test> → target/<profile>/ringside
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("a target directory");
    let bin = dir.join("ringside");
    assert!(bin.exists(), "{} is missing: run `cargo build -p ringside-node` or set RINGSIDE_BIN", bin.display());
    bin
}

/// A port nothing listens on right now, below 32768: the kernel hands out ports from 32768 up
/// for outgoing connections, and a listener there can collide with one.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // Each test process starts somewhere else in 20000..32000, so parallel suites rarely meet.
    let base = 20_000 + (std::process::id() as usize * 7_919) % 12_000;
    loop {
        let port = 20_000 + (base - 20_000 + NEXT.fetch_add(1, Ordering::Relaxed) * 13) % 12_000;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
}

/// Polls `check` every 20 ms until it holds or `timeout` passes; says what was awaited.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long a node may take to write its ready line.
const STARTING: Duration = Duration::from_secs(10);

/// Whether `value` has every field of the object `pattern`, with the same value.
pub fn matches(value: &Value, pattern: &Value) -> bool {
    let fields = pattern.as_object().expect("a pattern is a JSON object");
    fields.iter().all(|(field, want)| value.get(field) == Some(want))
}

/// A node's events file, read as it grows.
struct EventsReader {
    path: PathBuf,
    /// How far the file has been read: up to the end of its last whole line.
    read: u64,
    records: Vec<Value>,
}

impl EventsReader {
    /// A fresh path in this test process's directory.
    fn new(role: &str) -> EventsReader {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let dir = std::env::temp_dir().join(format!("ringside-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for events files");
        let path = dir.join(format!("{}-{role}.jsonl", NEXT.fetch_add(1, Ordering::Relaxed)));
        EventsReader { path, read: 0, records: Vec::new() }
    }

    /// Takes in the whole lines written since the last call.
    fn update(&mut self) -> &[Value] {
        let mut file = std::fs::File::open(&self.path)
            .unwrap_or_else(|e| panic!("cannot open the events file {}: {e}", self.path.display()));
        file.seek(SeekFrom::Start(self.read)).expect("seek");
        let mut fresh = Vec::new();
        file.read_to_end(&mut fresh).expect("read");
        let whole = fresh.iter().rposition(|b| *b == b'\n').map_or(0, |n| n + 1);
        for line in fresh[..whole].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let record = serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!("{}: a record that is not JSON ({e}): {}", self.path.display(), String::from_utf8_lossy(line))
            });
            self.records.push(record);
        }
        self.read += whole as u64;
        &self.records
    }
}

/// One `ringside` node process, with `--events` to a file of its own; killed (SIGKILL) when
/// dropped.
pub struct Process {
    child: Child,
    /// `host:port` it listens on, from its ready line.
    pub addr: String,
    /// A server's id, from its ready line.
    pub id: Option<String>,
    log: Arc<Mutex<Vec<String>>>,
    events: Mutex<EventsReader>,
}

impl Process {
    /// Starts `ringside ROLE ARGS --events FILE`, without a cluster key, and waits for its
    /// ready line.
    pub fn start(role: &str, args: &[&str]) -> Process {
        Process::start_keyed(role, args, None)
    }

    /// [`start`](Self::start), given `key` as its cluster key.
    pub fn start_keyed(role: &str, args: &[&str], key: Option<&str>) -> Process {
        Process::start_wrapped(&[], role, args, key)
    }

    /// [`start_keyed`](Self::start_keyed) under `wrapper` (`ip netns exec NAME`, say): the
    /// wrapper's program runs with the rest of it, then `ringside` and its arguments.
    pub fn start_wrapped(wrapper: &[&str], role: &str, args: &[&str], key: Option<&str>) -> Process {
        let events = EventsReader::new(role);
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(ringside_bin());
                c
            }
            None => Command::new(ringside_bin()),
        };
        match key {
            Some(key) => command.env(KEY_ENV, key),
            None => command.env_remove(KEY_ENV),
        };
        let mut child = command
            .arg(role)
            .args(args)
            .arg("--events")
            .arg(&events.path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ringside starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log lock").push(line);
            }
        });
        let stdout = child.stdout.take().expect("piped");
        let (ready, first) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            if let Some(line) = lines.next() {
                let _ = ready.send(line);
            }
            lines.for_each(drop);
        });
        let mut node = Process { child, addr: String::new(), id: None, log, events: Mutex::new(events) };
        let line = first.recv_timeout(STARTING).unwrap_or_else(|_| {
            panic!("ringside {role} wrote no ready line within {STARTING:?}; its log:\n{}", node.log().join("\n"))
        });
        match Ready::parse(&line) {
            Some(Ready::ViewLeader { addr }) => node.addr = addr.0,
            Some(Ready::Server { id, addr }) => (node.addr, node.id) = (addr.0, Some(id.0)),
            _ => panic!("ringside {role} wrote {line:?} where its ready line belongs"),
        }
        node
    }

    /// A view leader on `port` with the test timings.
    pub fn view_leader(port: u16) -> Process {
        let (port, hb, timeout) = (port.to_string(), HEARTBEAT_MS.to_string(), FAILURE_MS.to_string());
        Process::start("viewleader", &["--port", &port, "--heartbeat-ms", &hb, "--failure-timeout-ms", &timeout])
    }

    /// A server on `port` (0: any free port) reporting to `view_leader`, with test timings.
    pub fn server(view_leader: &str, port: u16) -> Process {
        Process::server_with(view_leader, port, &[])
    }

    /// [`server`](Self::server) with more flags.
    pub fn server_with(view_leader: &str, port: u16, more: &[&str]) -> Process {
        let port = if port == 0 { free_port() } else { port };
        let (port, hb, timeout) = (port.to_string(), HEARTBEAT_MS.to_string(), FAILURE_MS.to_string());
        let mut args =
            vec!["--port", &port, "--viewleader", view_leader, "--heartbeat-ms", &hb, "--failure-timeout-ms", &timeout];
        args.extend(more);
        Process::start("server", &args)
    }

    /// Every record the node has written to its events file so far, `hello` first.
    pub fn records(&self) -> Vec<Value> {
        self.events.lock().expect("events lock").update().to_vec()
    }

    /// The events it recorded so far (each record's `event`), in order.
    pub fn events(&self) -> Vec<Value> {
        let mut events = self.events.lock().expect("events lock");
        events.update().iter().filter(|r| r["kind"] == "event").map(|r| r["event"].clone()).collect()
    }

    /// How many of its events so far have the fields of `pattern`.
    pub fn count_events(&self, pattern: &Value) -> usize {
        self.events().iter().filter(|e| matches(e, pattern)).count()
    }

    /// Whether it recorded an event with the fields of `pattern`.
    pub fn has_event(&self, pattern: &Value) -> bool {
        self.count_events(pattern) > 0
    }

    /// Waits until it records an event with the fields of `pattern`; returns the event.
    pub fn await_event(&self, pattern: &Value, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            if let Some(event) = self.events().into_iter().find(|e| matches(e, pattern)) {
                return event;
            }
            assert!(
                start.elapsed() < timeout,
                "{} recorded no event {pattern} within {timeout:?}; its events:\n{}",
                self.addr,
                self.events().iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every log line so far: for failure messages, never to learn a fact from.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Its resident memory (KiB), from `/proc`: a figure the kernel keeps, not a log line.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("its /proc status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
        line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmRSS in kB")
    }

    /// The raw records it wrote to its events file so far.
    pub fn events_text(&self) -> String {
        std::fs::read_to_string(&self.events.lock().expect("events lock").path).unwrap_or_default()
    }

    /// Its process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends the process `signal` (`STOP`, `CONT`) with the shell's `kill`.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("sh").args(["-c", &format!("kill -{signal} {pid}")]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} {pid} failed");
    }

    /// kill -9.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.events.lock().expect("events lock").path);
    }
}

/// What one `ringside client` run printed.
#[derive(Debug)]
pub struct ClientRun {
    /// Exit code 0.
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl ClientRun {
    fn of(output: Output) -> ClientRun {
        ClientRun {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The `--json` output.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Runs `ringside client --viewleader VL ARGS` with test-friendly timeouts.
pub fn client(view_leader: &str, args: &[&str]) -> ClientRun {
    let mut command = Command::new(ringside_bin());
    command.env(KEY_ENV, CLUSTER_KEY);
    command.args(["client", "--viewleader", view_leader, "--timeout-ms", "500", "--attempts", "12"]).args(args);
    ClientRun::of(command.output().expect("the client runs"))
}

/// Starts `ringside client ...` without waiting for it.
pub fn client_spawn(view_leader: &str, args: &[&str]) -> Child {
    Command::new(ringside_bin())
        .env(KEY_ENV, CLUSTER_KEY)
        .args(["client", "--viewleader", view_leader, "--timeout-ms", "500", "--attempts", "12"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the client starts")
}

/// The view as `query_servers --json` reports it: (epoch, server ids, rebalancing).
pub fn view(view_leader: &str) -> Option<(u64, Vec<String>, bool)> {
    let answer = client(view_leader, &["--json", "query_servers"]);
    if !answer.ok {
        return None;
    }
    let result = &answer.json()["result"];
    let ids = result["servers"].as_array()?.iter().filter_map(|m| m["id"].as_str().map(String::from)).collect();
    Some((result["epoch"].as_u64()?, ids, result["rebalancing"].as_bool()?))
}

/// Waits until the view holds exactly `n` servers and rebalancing is done; returns the epoch.
pub fn settled(view_leader: &str, n: usize, timeout: Duration) -> u64 {
    let mut epoch = 0;
    wait_until(&format!("a rebalanced view of {n} servers"), timeout, || match view(view_leader) {
        Some((e, ids, false)) if ids.len() == n => {
            epoch = e;
            true
        }
        _ => false,
    });
    epoch
}

/// A view leader on a free port and `n` servers, settled.
pub struct TestCluster {
    /// The view leader.
    pub view_leader: Process,
    /// The servers, in start order.
    pub servers: Vec<Process>,
}

impl TestCluster {
    /// Starts it and waits for the view to settle.
    pub fn start(n: usize) -> TestCluster {
        TestCluster::start_with(n, &[])
    }

    /// [`start`](Self::start), each server given the flags `more` (`--commit classic`, say).
    pub fn start_with(n: usize, more: &[&str]) -> TestCluster {
        let view_leader = Process::view_leader(free_port());
        let servers = (0..n).map(|_| Process::server_with(&view_leader.addr, 0, more)).collect();
        let cluster = TestCluster { view_leader, servers };
        settled(&cluster.vl(), n, Duration::from_secs(20));
        cluster
    }

    /// The view leader's address.
    pub fn vl(&self) -> String {
        self.view_leader.addr.clone()
    }

    /// Runs the client against this cluster.
    pub fn client(&self, args: &[&str]) -> ClientRun {
        client(&self.vl(), args)
    }

    /// The epoch and the view's members (`{id, addr}`, as `query_servers` gives them).
    pub fn members(&self) -> (u64, Vec<Value>) {
        let answer = self.client(&["--json", "query_servers"]);
        assert!(answer.ok, "{answer:?}");
        let result = answer.json()["result"].clone();
        let members = result["servers"].as_array().expect("servers").clone();
        (result["epoch"].as_u64().expect("an epoch"), members)
    }
}

/// A raw WebSocket connection to a node, for sending anything at all.
pub struct Peer {
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
}

impl Peer {
    /// Connects to `addr` (`host:port`) as a client, with the tests' cluster key.
    pub fn connect(addr: &str) -> Peer {
        Peer::connect_url(&format!("ws://{addr}/?key={CLUSTER_KEY}")).expect("the node accepts WebSockets")
    }

    /// Connects to `url`; the error is the node's refusal.
    pub fn connect_url(url: &str) -> tungstenite::Result<Peer> {
        let (socket, _) = tungstenite::connect(url)?;
        if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_ref() {
            tcp.set_read_timeout(Some(Duration::from_secs(5))).expect("a read timeout");
        }
        Ok(Peer { socket })
    }

    /// Sends a message.
    pub fn send(&mut self, message: tungstenite::Message) -> tungstenite::Result<()> {
        self.socket.send(message)
    }

    /// Sends a text frame.
    pub fn send_text(&mut self, text: &str) {
        self.send(tungstenite::Message::text(text)).expect("the frame is sent");
    }

    /// The next message (a timeout or close is an `Err`).
    pub fn read(&mut self) -> tungstenite::Result<tungstenite::Message> {
        self.socket.read()
    }

    /// The next text frame as JSON.
    pub fn read_json(&mut self) -> Value {
        loop {
            let message = match self.read() {
                // A signal to this test process (the suite stops and resumes nodes) may cut a
                // blocking read short: nothing was lost, read again.
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => other.expect("a frame arrives"),
            };
            match message {
                tungstenite::Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
                tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Sends `msg` in frame `id` and returns the `msg` of the frame that answers it, passing
    /// over any other.
    pub fn ask(&mut self, id: u64, msg: Value) -> Value {
        self.send_text(&serde_json::json!({"v": 1, "id": id, "msg": msg}).to_string());
        loop {
            let frame = self.read_json();
            if frame["re"] == id {
                return frame["msg"].clone();
            }
        }
    }
}

/// How long a test waits for a line of `ringside cluster`.
const CLUSTER_PATIENCE: Duration = Duration::from_secs(20);

/// `ringside cluster` in the background, its stdout gathered line by line.
pub struct RunningCluster {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl RunningCluster {
    /// Starts `ringside cluster` with the test timings and `args`.
    pub fn start(args: &[&str]) -> RunningCluster {
        let (hb, timeout) = (HEARTBEAT_MS.to_string(), FAILURE_MS.to_string());
        let mut child = Command::new(ringside_bin())
            .env(KEY_ENV, CLUSTER_KEY)
            .args(["cluster", "--heartbeat-ms", &hb, "--failure-timeout-ms", &timeout])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ringside cluster starts");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        RunningCluster { child, stdin, lines, seen: Vec::new() }
    }

    /// The first line it printed for its user (from the start) that contains `needle`, waiting
    /// for it.
    pub fn expect(&mut self, needle: &str) -> String {
        self.first(&format!("a line containing {needle:?}"), |line| line.contains(needle).then(|| line.to_string()))
    }

    /// Its ready line, waiting for it: it comes once every node and the admin endpoint listen.
    pub fn ready(&mut self) -> Ready {
        self.first("its ready line", |line| Ready::parse(line).filter(|r| matches!(r, Ready::Cluster { .. })))
    }

    /// What `take` makes of the first line (from the start) it takes, waiting for that line.
    fn first<T>(&mut self, what: &str, take: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + CLUSTER_PATIENCE;
        loop {
            if let Some(found) = self.seen.iter().find_map(|l| take(l)) {
                return found;
            }
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no {what} in:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Types `line` on its stdin.
    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin.as_mut().expect("stdin is open"), "{line}").expect("the cluster reads stdin");
    }

    /// `quit`, then waits for it to exit.
    pub fn quit(&mut self) {
        self.command("quit");
        let child = &mut self.child;
        wait_until("the cluster to exit", CLUSTER_PATIENCE, || matches!(child.try_wait(), Ok(Some(_))));
    }
}

impl Drop for RunningCluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
