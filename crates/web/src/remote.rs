//! The page's sockets to a real cluster: the core's client running in WebAssembly as a real
//! 2PC coordinator over web-sys WebSockets (one socket per node, reused), an observer stream
//! from the view leader and every server in the view, and the admin endpoint of
//! `ringside cluster` that adds and kills servers.
//!
//! Socket callbacks only queue what arrived; [`Remote::tick`], called every animation frame,
//! hands it to the client and the live model, fires the client's timer and sends what it wants
//! sent — the same run loop as every other shell.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use ringside_core::wire::{Frame, PROTOCOL_VERSION};
use ringside_core::{Addr, Client, ClientConfig, Command, Event, Node, OpId, OpOutput, Peer, ServerId, Time};
use ringside_sim::Action;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::command;
use crate::live::{Live, BROWSER};
use crate::records::{frame_of, Record, RecordKind};

/// How often the view and every server's keys are asked for (ms).
const POLL_MS: f64 = 1_000.0;

/// How soon they are asked for again after keys moved or a write committed (ms).
const SOON_MS: f64 = 150.0;

/// An imported run's actions are played this far apart (ms), so each one's messages can be
/// followed in the diagram.
const RERUN_MS: f64 = 1_000.0;

/// What a socket callback saw.
enum Incoming {
    Opened(Addr),
    Frame(Addr, String),
    Closed(Addr),
    Record(Addr, String),
    WatchClosed(Addr),
    Admin(String),
    AdminClosed(u16),
}

type Inbox = Rc<RefCell<VecDeque<Incoming>>>;

/// The key of the page client's transaction secrets, from the browser's cryptographic
/// generator: the client id shows its seed's stream, so the secrets must not follow from it.
fn secret_key() -> Result<u128, String> {
    let crypto = web_sys::window().ok_or("no window")?.crypto().map_err(|e| format!("no crypto: {e:?}"))?;
    let mut bytes = [0u8; 16];
    crypto.get_random_values_with_u8_array(&mut bytes).map_err(|e| format!("no random values: {e:?}"))?;
    Ok(u128::from_le_bytes(bytes))
}

/// A client connection to one node.
struct Sock {
    ws: WebSocket,
    open: bool,
    queue: Vec<String>,
}

/// What the page asked the client for, to say how it ended.
enum Asked {
    /// The page's own polling.
    View,
    Keys(ServerId),
    /// The learner's command.
    Command(Command),
}

/// Where the admin endpoint is and what it was asked.
struct Admin {
    ws: WebSocket,
    open: bool,
    queue: Vec<String>,
    next: u64,
    asked: HashMap<u64, String>,
}

/// A server as the admin endpoint lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterServer {
    /// `s1`, `s2`, …
    pub label: String,
    /// Where it listens.
    pub addr: Addr,
    /// `running` or `killed`.
    pub state: String,
}

/// The page connected to a cluster.
pub struct Remote {
    client: Client,
    /// The cluster key, percent-encoded for a URI, if the cluster has one.
    key: Option<String>,
    started: f64,
    sockets: HashMap<Addr, Sock>,
    watches: HashMap<Addr, WebSocket>,
    admin: Option<Admin>,
    inbox: Inbox,
    next_frame: u64,
    asked: HashMap<OpId, Asked>,
    last_poll: Option<f64>,
    last_rerun: Option<f64>,
    /// Whether watching and polling began.
    running: bool,
    /// Actions of an imported simulator run still to be played here, one per poll.
    pub rerun: VecDeque<Action>,
    /// The last command's outcome, in words (also in the log).
    pub last_outcome: Option<String>,
    /// The last client command's result as a record: the command, and its output or error.
    pub last_result: Option<serde_json::Value>,
    /// The cluster's servers, as the admin endpoint last listed them.
    pub servers: Vec<ClusterServer>,
    /// Why the admin endpoint is unusable, when it is.
    pub admin_error: Option<String>,
}

fn perf_now() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Wall-clock microseconds, as the nodes stamp their records.
fn wall_us() -> u64 {
    let origin = web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.time_origin());
    ((origin + perf_now()) * 1000.0) as u64
}

/// Opens a WebSocket whose callbacks queue into `inbox`.
fn open(
    url: &str,
    inbox: &Inbox,
    on_open: Option<Incoming>,
    on_message: impl Fn(String) -> Incoming + 'static,
    on_close: impl Fn(u16) -> Incoming + 'static,
) -> Result<WebSocket, String> {
    let ws = WebSocket::new(url).map_err(|e| format!("cannot open {url}: {e:?}"))?;
    let push = |inbox: &Inbox, f: Box<dyn Fn(JsValue) -> Option<Incoming>>| {
        let inbox = inbox.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            if let Some(item) = f(e) {
                inbox.borrow_mut().push_back(item);
            }
        })
    };
    let opened = RefCell::new(on_open);
    let onopen = push(inbox, Box::new(move |_| opened.borrow_mut().take()));
    let onmessage =
        push(inbox, Box::new(move |e| e.dyn_into::<MessageEvent>().ok()?.data().as_string().map(&on_message)));
    let onclose = push(inbox, Box::new(move |e| Some(on_close(e.dyn_into::<CloseEvent>().map_or(1006, |c| c.code())))));
    ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    // The callbacks live as long as the socket; a closed socket calls none of them again.
    onopen.forget();
    onmessage.forget();
    onclose.forget();
    Ok(ws)
}

impl Remote {
    /// Connects to the cluster `live` describes with its `key` (if it has one), and to its
    /// admin endpoint when given one (`address`, `token`).
    pub fn connect(
        live: &mut Live,
        admin: Option<(&str, &str)>,
        key: Option<&str>,
        seed: u64,
    ) -> Result<Remote, String> {
        let mut config = ClientConfig::new(live.view_leaders[0].clone(), seed);
        config.view_leaders = live.view_leaders.clone();
        config.replicas = live.replicas;
        config.vnodes = live.vnodes;
        config.secret_key = secret_key()?;
        let mut remote = Remote {
            client: Client::new(config, Time::ZERO),
            key: key.map(|k| String::from(js_sys::encode_uri_component(k))),
            started: perf_now(),
            sockets: HashMap::new(),
            watches: HashMap::new(),
            admin: None,
            inbox: Rc::new(RefCell::new(VecDeque::new())),
            next_frame: 1,
            asked: HashMap::new(),
            last_poll: None,
            last_rerun: None,
            running: false,
            rerun: VecDeque::new(),
            last_outcome: None,
            last_result: None,
            servers: Vec::new(),
            admin_error: None,
        };
        if let Some((addr, token)) = admin {
            let url = format!("ws://{addr}/admin?token={token}");
            let ws = open(
                &url,
                &remote.inbox,
                Some(Incoming::Opened(Addr::from("admin"))),
                Incoming::Admin,
                Incoming::AdminClosed,
            )?;
            remote.admin = Some(Admin { ws, open: false, queue: Vec::new(), next: 1, asked: HashMap::new() });
            remote.admin_command("list", None)?;
        } else {
            remote.start(live);
        }
        Ok(remote)
    }

    /// Starts watching and polling. With an admin endpoint this waits for its list of the
    /// cluster's servers (or its refusal), so that every node is named by its label from the
    /// first record on.
    fn start(&mut self, live: &mut Live) {
        if !self.running {
            self.running = true;
            for vl in live.view_leaders.clone() {
                if let Err(reason) = self.watch(&vl) {
                    let t = live.clock(wall_us());
                    live.journal.log.push((t, String::new(), reason));
                }
            }
        }
    }

    /// Closes every socket.
    pub fn close(&mut self) {
        for sock in self.sockets.values() {
            let _ = sock.ws.close();
        }
        for ws in self.watches.values() {
            let _ = ws.close();
        }
        if let Some(a) = &self.admin {
            let _ = a.ws.close();
        }
    }

    fn now(&self) -> Time {
        Time((perf_now() - self.started).max(0.0) as u64)
    }

    /// Where the page connects to the node at `addr`: as a client, with the cluster key.
    fn node_url(&self, addr: &Addr) -> String {
        match &self.key {
            Some(key) => format!("ws://{addr}/?key={key}"),
            None => format!("ws://{addr}/"),
        }
    }

    /// Whether the admin endpoint can add and kill servers.
    pub fn has_admin(&self) -> bool {
        self.admin.is_some() && self.admin_error.is_none()
    }

    /// Streams the node at `addr`'s records into the live model.
    fn watch(&mut self, addr: &Addr) -> Result<(), String> {
        if self.watches.contains_key(addr) {
            return Ok(());
        }
        let (a, b) = (addr.clone(), addr.clone());
        let ws = open(
            &self.node_url(addr),
            &self.inbox,
            Some(Incoming::Opened(Addr(format!("watch:{addr}")))),
            move |text| Incoming::Record(a.clone(), text),
            move |_| Incoming::WatchClosed(b.clone()),
        )?;
        self.watches.insert(addr.clone(), ws);
        Ok(())
    }

    /// A client's command, run by the page's own client.
    pub fn command(&mut self, live: &mut Live, cmd: &Command) -> Result<(), String> {
        let now = self.now();
        // The page's client asks nodes by the view; it has no one server for a local RPC.
        let op = cmd.apply(&mut self.client, now, None).map_err(|e| e.to_string())?;
        self.asked.insert(op, Asked::Command(cmd.clone()));
        self.flush(live);
        Ok(())
    }

    /// Asks the admin endpoint to start another server.
    pub fn add_server(&mut self) -> Result<(), String> {
        self.admin_command("add", None)
    }

    /// Asks the admin endpoint to kill a server (by label or id).
    pub fn kill(&mut self, server: &str) -> Result<(), String> {
        self.admin_command("kill", Some(server))
    }

    /// Asks the admin endpoint to `add` a server or `kill` one (by label or id).
    fn admin_command(&mut self, cmd: &str, server: Option<&str>) -> Result<(), String> {
        if let Some(reason) = &self.admin_error {
            return Err(reason.clone());
        }
        let admin = self.admin.as_mut().ok_or(
            "adding and killing servers needs the admin endpoint: open the page from the link `ringside cluster` prints",
        )?;
        let id = admin.next;
        admin.next += 1;
        let mut request = serde_json::json!({"id": id, "cmd": cmd});
        if let Some(server) = server {
            request["server"] = server.into();
        }
        admin.asked.insert(
            id,
            match server {
                Some(s) => format!("{cmd} {s}"),
                None => cmd.to_string(),
            },
        );
        let text = request.to_string();
        if admin.open {
            admin.ws.send_with_str(&text).map_err(|e| format!("the admin endpoint refused a frame: {e:?}"))?;
        } else {
            admin.queue.push(text);
        }
        Ok(())
    }

    /// One turn: takes in what arrived, polls the view and the keys, fires the client's timer
    /// and sends what it wants sent.
    pub fn tick(&mut self, live: &mut Live) {
        let arrived: Vec<Incoming> = self.inbox.borrow_mut().drain(..).collect();
        for item in arrived {
            self.take(live, item);
        }
        if !self.running {
            return;
        }
        let frame_time = perf_now();
        if self.last_poll.is_none_or(|t| frame_time - t >= POLL_MS) {
            self.last_poll = Some(frame_time);
            self.poll(live);
        }
        if !self.rerun.is_empty() && self.last_rerun.is_none_or(|t| frame_time - t >= RERUN_MS) {
            self.last_rerun = Some(frame_time);
            self.next_rerun(live);
        }
        let now = self.now();
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
        }
        self.flush(live);
    }

    /// Moves the next poll of the view and the buckets to [`SOON_MS`] from now, unless one is
    /// due earlier.
    fn poll_soon(&mut self) {
        let soon = perf_now() - POLL_MS + SOON_MS;
        self.last_poll = Some(self.last_poll.map_or(soon, |t| t.min(soon)));
    }

    fn poll(&mut self, live: &mut Live) {
        let now = self.now();
        let op = self.client.query_servers(now);
        self.asked.insert(op, Asked::View);
        for m in &live.members {
            let Some(node) = live.by_name(&m.addr) else { continue };
            let op = self.client.query_all_keys(now, node.addr.clone());
            self.asked.insert(op, Asked::Keys(m.id.clone()));
        }
    }

    /// Plays the next action of an imported simulator run on this cluster.
    fn next_rerun(&mut self, live: &mut Live) {
        let Some(action) = self.rerun.pop_front() else { return };
        let described = ringside_sim::narrate::describe_action(&action, &live.journal.names);
        let result = match command::of_action(action) {
            Ok(cmd) => self.command(live, &cmd),
            Err(Action::AddServer) => self.add_server(),
            Err(Action::Crash { node }) if node.as_str().starts_with('s') => self.kill(node.as_str()),
            Err(_) => Err(format!("skipped: {described} has no live counterpart")),
        };
        let t = live.clock(wall_us());
        let text = match result {
            Ok(()) => format!("re-run: {described}"),
            Err(reason) => format!("re-run: {reason}"),
        };
        live.journal.log.push((t, BROWSER.into(), text));
    }

    /// Sends what the client wants sent, and records it.
    fn flush(&mut self, live: &mut Live) {
        while let Some(t) = self.client.poll_transmit() {
            let hidden = matches!(
                t.msg,
                ringside_core::Msg::QueryServers { op } | ringside_core::Msg::QueryAllKeys { op }
                    if matches!(self.asked.get(&op), Some(Asked::View | Asked::Keys(_)))
            );
            let frame = Frame { v: PROTOCOL_VERSION, id: self.next_frame, re: None, from: None, msg: t.msg };
            self.next_frame += 1;
            live.page_send(wall_us(), &t.to, &frame, hidden);
            self.send(&t.to, frame.encode());
        }
        while let Some(event) = self.client.poll_event() {
            self.event(live, event);
        }
    }

    fn send(&mut self, to: &Addr, text: String) {
        if !self.sockets.contains_key(to) {
            let (a, b) = (to.clone(), to.clone());
            let Ok(ws) = open(
                &self.node_url(to),
                &self.inbox,
                Some(Incoming::Opened(to.clone())),
                move |text| Incoming::Frame(a.clone(), text),
                move |_| Incoming::Closed(b.clone()),
            ) else {
                return;
            };
            self.sockets.insert(to.clone(), Sock { ws, open: false, queue: Vec::new() });
        }
        let Some(sock) = self.sockets.get_mut(to) else { return };
        if sock.open {
            // A socket that fails to send is closing: its close event forgets it, and the
            // client's timeouts resend what matters.
            let _ = sock.ws.send_with_str(&text);
        } else {
            sock.queue.push(text);
        }
    }

    fn take(&mut self, live: &mut Live, item: Incoming) {
        match item {
            Incoming::Opened(addr) if addr.as_str() == "admin" => {
                if let Some(a) = &mut self.admin {
                    a.open = true;
                    for text in a.queue.drain(..) {
                        let _ = a.ws.send_with_str(&text);
                    }
                }
            }
            Incoming::Opened(addr) => {
                if let Some(node) = addr.as_str().strip_prefix("watch:") {
                    if let Some(ws) = self.watches.get(&Addr::from(node)) {
                        let _ =
                            ws.send_with_str(&format!(r#"{{"v":{PROTOCOL_VERSION},"id":1,"msg":{{"cmd":"watch"}}}}"#));
                    }
                } else if let Some(sock) = self.sockets.get_mut(&addr) {
                    sock.open = true;
                    for text in sock.queue.drain(..) {
                        let _ = sock.ws.send_with_str(&text);
                    }
                }
            }
            // Through `serde_json::Value`, as every JSON the page reads, rather than
            // `Frame::decode`'s one-pass path: one decoder of each message type in the wasm.
            Incoming::Frame(from, text) => {
                match serde_json::from_str(&text).map_err(|e| e.to_string()).and_then(frame_of) {
                    Ok(frame) => {
                        live.page_recv(wall_us(), &from, &frame);
                        let now = self.now();
                        // Every socket of the page's client is one it opened to a node.
                        self.client.handle_message(now, Peer::Member(&from), frame.msg);
                        self.flush(live);
                    }
                    Err(bad) => {
                        let t = live.clock(wall_us());
                        live.journal.log.push((t, BROWSER.into(), format!("a bad frame from {from}: {bad}")));
                    }
                }
            }
            Incoming::Closed(addr) => {
                self.sockets.remove(&addr);
            }
            Incoming::Record(node, text) => match Record::parse(&text) {
                Ok(record) => {
                    // A server is watched from the moment it joins, not from the next poll of
                    // the view: the copies sent to it come within a heartbeat or two.
                    if let RecordKind::Event { event } = &record.kind {
                        if let Event::ServerJoined { addr, .. } = event {
                            let _ = self.watch(addr);
                        }
                        // Keys moved or changed: ask for the buckets soon, not at the next poll.
                        if matches!(
                            event,
                            Event::RebalancingDone { .. } | Event::Committed { .. } | Event::CopiesDropped { .. }
                        ) {
                            self.poll_soon();
                        }
                    }
                    live.absorb(record);
                }
                Err(reason) => {
                    let t = live.clock(wall_us());
                    live.journal.log.push((t, String::new(), format!("{node}: {reason}")));
                }
            },
            Incoming::WatchClosed(addr) => {
                self.watches.remove(&addr);
                live.node_gone(&addr);
            }
            Incoming::Admin(text) => {
                self.admin_reply(live, &text);
                self.start(live);
            }
            Incoming::AdminClosed(code) => {
                self.start(live);
                let opened = self.admin.as_ref().is_some_and(|a| a.open);
                self.admin_error = Some(if opened {
                    format!("the admin endpoint closed (code {code}): is `ringside cluster` still running?")
                } else {
                    "the admin endpoint refused this page: its token is wrong, or `ringside cluster` is not running"
                        .to_string()
                });
            }
        }
    }

    fn admin_reply(&mut self, live: &mut Live, text: &str) {
        let Ok(reply) = serde_json::from_str::<serde_json::Value>(text) else { return };
        let asked = reply["re"].as_u64().and_then(|re| self.admin.as_mut()?.asked.remove(&re));
        let entry = |v: &serde_json::Value| ClusterServer {
            label: v["label"].as_str().unwrap_or_default().to_string(),
            addr: Addr::from(v["addr"].as_str().unwrap_or_default()),
            state: v["state"].as_str().unwrap_or_default().to_string(),
        };
        if let Some(list) = reply["servers"].as_array() {
            self.servers = list.iter().map(entry).collect();
        }
        if let Some(one) = reply.get("server").filter(|s| s.is_object()) {
            let one = entry(one);
            match self.servers.iter_mut().find(|s| s.label == one.label) {
                Some(s) => *s = one,
                None => self.servers.push(one),
            }
        }
        for s in &self.servers {
            live.node(&s.addr, Some(&s.label));
        }
        let started: Vec<Addr> = self.servers.iter().filter(|s| s.state == "running").map(|s| s.addr.clone()).collect();
        for addr in started {
            let _ = self.watch(&addr);
        }
        let words = asked.unwrap_or_else(|| "admin".into());
        let outcome = if reply["ok"].as_bool() == Some(true) {
            match reply.get("server").and_then(|s| s["label"].as_str()) {
                Some(label) => format!("{words}: done ({label})"),
                None => return,
            }
        } else {
            format!("{words}: refused: {}", reply["error"].as_str().unwrap_or("no reason given"))
        };
        let t = live.clock(wall_us());
        live.journal.log.push((t, "cluster".into(), outcome.clone()));
        self.last_outcome = Some(outcome);
    }

    fn event(&mut self, live: &mut Live, event: Event) {
        let Event::OpDone { op, result } = event else {
            // Its decisions fill the coordinator's column of the 2PC table; retries and waits
            // are logged.
            live.page_event(wall_us(), event);
            return;
        };
        match (self.asked.remove(&op), result) {
            (Some(Asked::View), Ok(OpOutput::Servers { epoch, servers, rebalancing })) => {
                live.set_view(epoch.0, &servers, rebalancing);
                for m in &servers {
                    let _ = self.watch(&m.addr);
                }
            }
            (Some(Asked::Keys(id)), Ok(OpOutput::Keys { keys })) => live.set_keys(id, keys),
            (Some(Asked::View | Asked::Keys(_)), Err(_)) | (None, _) => {}
            (Some(Asked::Command(command)), result) => {
                let words = match command {
                    Command::LockGet { .. } | Command::LockRelease { .. } => {
                        format!("{command} (as {})", self.client.name())
                    }
                    _ => command.to_string(),
                };
                let outcome = match &result {
                    Ok(output) => format!("{words}: {output}"),
                    Err(e) => format!("{words}: failed: {}", e.describe_with(&live.journal.names)),
                };
                self.last_result = Some(match result {
                    Ok(output) => serde_json::json!({ "command": command, "ok": true, "output": output }),
                    Err(error) => serde_json::json!({ "command": command, "ok": false, "error": error }),
                });
                let t = live.clock(wall_us());
                live.latest = live.latest.max(t);
                live.journal.log.push((t, BROWSER.into(), outcome.clone()));
                self.last_outcome = Some(outcome);
            }
            (Some(_), Ok(_)) => {}
        }
    }
}
