//! Connections: one WebSocket per peer, reused for every message, dialed on demand.
//!
//! Each connection has one task that reads frames into the node's inbox and writes the frames
//! the node queues for it. The node's own task owns [`Net`], the routing table from peer
//! address to connection. A peer is dialed when the node first sends to it; when a dial fails,
//! what was queued for it is dropped (the protocol resends what matters) and the next dial waits
//! a backoff that doubles up to a cap. Nothing here retries by itself, so a peer the node stops
//! sending to — a server gone from the view — is never dialed again.
//!
//! Frame ids are unique in the process, not per connection, so (sender's address, frame id)
//! names one message: what an observer needs to match a `send` on one node with the `recv` on
//! another. An accepted connection whose peer asks to watch leaves the routing table and
//! becomes an observer ([`crate::watch`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ringside_core::{Addr, Msg, OneLine};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info, warn};

use crate::key::{self, ClusterKey};
use crate::upgrade;
use crate::watch::{self, Watch};
use crate::weight;
use crate::wire::{BadFrame, Frame, PROTOCOL_VERSION};

/// A connection's number within this process.
pub type ConnId = u64;

/// What connection tasks tell the node's task.
#[derive(Debug)]
pub enum ConnInput {
    /// A connection is up; frames for it go into `outbox`, counted in `queued`. `peer` is the
    /// address dialed; `member` says whether its peer proved it is a member of the cluster.
    Opened { conn: ConnId, peer: Option<Addr>, member: bool, outbox: mpsc::Sender<Outgoing>, queued: Queued },
    /// Dialing `addr` failed.
    DialFailed { addr: Addr, reason: String },
    /// A well-formed frame arrived; `_room` holds its bytes of the inbox until it is handled.
    Frame { conn: ConnId, frame: Frame, _room: OwnedSemaphorePermit },
    /// The connection is gone.
    Closed { conn: ConnId },
}

/// What the node's task hands a connection task: a message, encoded by the connection's task
/// as it goes out (so encoding runs beside the protocol, not in its task), and its weight.
#[derive(Debug)]
pub struct Outgoing {
    msg: Msg,
    re: Option<u64>,
    /// What the connection's queue counts: about the bytes the message holds.
    weight: usize,
}

impl Outgoing {
    fn new(msg: Msg, re: Option<u64>) -> Outgoing {
        Outgoing { weight: weight::weight(&msg), msg, re }
    }

    fn bytes(&self) -> usize {
        self.weight
    }
}

/// How many bytes wait in one connection's queue, shared by the node's task (which adds) and
/// the connection's (which takes away once a frame is written).
#[derive(Clone, Debug, Default)]
pub struct Queued(Arc<QueuedInner>);

#[derive(Debug, Default)]
struct QueuedInner {
    bytes: AtomicUsize,
    /// Set when the node gave up on a peer that stopped reading: the connection closes, saying so.
    overflowed: AtomicBool,
    /// Set when the process is leaving: the connection closes with a plain goodbye.
    leaving: AtomicBool,
}

/// How connections behave.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Where this node listens, sent with every frame; `None` for clients.
    pub local: Option<Addr>,
    /// The largest frame accepted (bytes).
    pub max_frame: usize,
    /// The node's record stream, for observers and the events file; `None` for clients.
    pub watch: Option<Watch>,
    /// The cluster key every handshake must present, if the cluster has one.
    pub key: Option<ClusterKey>,
}

impl NetConfig {
    fn websocket(&self) -> WebSocketConfig {
        websocket_config(self.max_frame)
    }
}

/// WebSocket settings for frames up to `max_frame` bytes. The read buffer is kept small: the
/// WebSocket layer zeroes its whole free space before every read, and most frames are small.
pub fn websocket_config(max_frame: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame))
}

const READ_BUFFER: usize = 16 * 1024;

/// Frames queued per connection before further ones are dropped (a stuck peer must not grow
/// the node's memory).
const OUTBOX: usize = 4096;
/// Bytes queued for one connection before the node decides its peer stopped reading and closes
/// it: a few MiB, above the largest burst rebalancing sends one peer at once.
pub const MAX_QUEUED: usize = 8 << 20;
/// Frames from all connections waiting for the node's task; readers wait when it is full.
const INBOX: usize = 4096;
/// Bytes of frames from all connections waiting for the node's task; readers wait beyond it.
const INBOX_BYTES: usize = 32 << 20;
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);
static NEXT_FRAME: AtomicU64 = AtomicU64::new(1);

fn next_conn() -> ConnId {
    NEXT_CONN.fetch_add(1, Ordering::Relaxed)
}

fn next_frame_id() -> u64 {
    NEXT_FRAME.fetch_add(1, Ordering::Relaxed)
}

/// Clients do not listen; they are known by a label naming their connection, never dialed.
fn client_label(conn: ConnId) -> Addr {
    Addr(format!("client#{conn}"))
}

fn is_client_label(addr: &Addr) -> bool {
    addr.as_str().starts_with("client#")
}

/// What an accepted connection's peer is called, from its first well-formed frame.
fn accepted_peer(frame: &Frame, conn: ConnId, member: bool) -> Addr {
    // A member counts as coming from where it listens, so replies and later messages to that
    // address reuse the connection. Anyone else is named by its connection, whatever its
    // frames claim: a client must not pass for a node.
    match &frame.from {
        Some(from) if member => from.clone(),
        _ => client_label(conn),
    }
}

#[derive(Debug)]
struct Conn {
    outbox: mpsc::Sender<Outgoing>,
    queued: Queued,
    /// The address frames from it count as coming from, once known.
    peer: Option<Addr>,
    /// Whether its peer proved it is a member.
    member: bool,
}

/// Frames for a peer being dialed, and their bytes.
#[derive(Debug)]
struct Waiting {
    frames: Vec<Outgoing>,
    bytes: usize,
}

#[derive(Debug)]
struct Backoff {
    next_try: Instant,
    delay: Duration,
}

/// Something for the node from the network.
#[derive(Debug)]
pub enum Delivery {
    /// A message from the peer at `from`; `member` if it proved it is a member.
    Message { from: Addr, member: bool, id: u64, msg: Msg },
    /// A peer could not be reached.
    Unreachable { addr: Addr, reason: String },
}

/// The routing table, owned by the node's task.
#[derive(Debug)]
pub struct Net {
    config: NetConfig,
    inbox: Inbox,
    conns: HashMap<ConnId, Conn>,
    routes: HashMap<Addr, ConnId>,
    dialing: HashMap<Addr, Waiting>,
    backoff: HashMap<Addr, Backoff>,
}

impl Net {
    /// A routing table and the inbox its connections feed.
    pub fn new(config: NetConfig) -> (Net, mpsc::Receiver<ConnInput>) {
        let (frames, rx) = mpsc::channel(INBOX);
        let inbox = Inbox { frames, room: Arc::new(Semaphore::new(INBOX_BYTES)) };
        let net = Net {
            config,
            inbox,
            conns: HashMap::new(),
            routes: HashMap::new(),
            dialing: HashMap::new(),
            backoff: HashMap::new(),
        };
        (net, rx)
    }

    /// Accepts connections on `listener` for as long as the node runs.
    pub fn listen(&self, listener: TcpListener) {
        let inbox = self.inbox.clone();
        let config = self.config.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, remote)) => {
                        tokio::spawn(accept(stream, remote, inbox.clone(), config.clone()));
                    }
                    // Out of file descriptors, say: wait rather than spin.
                    Err(e) => {
                        warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }

    /// Queues `msg` for the peer at `to`, dialing it if needed. Never waits.
    pub fn send(&mut self, to: &Addr, msg: Msg, re: Option<u64>) {
        let out = Outgoing::new(msg, re);
        if let Some(&id) = self.routes.get(to) {
            let Some(conn) = self.conns.get(&id) else { return };
            let queued = conn.queued.0.bytes.load(Ordering::Relaxed);
            if queued + out.bytes() > MAX_QUEUED {
                // A peer that stopped reading would grow this node without bound: let it go.
                warn!("closing the connection with {to}: it stopped reading, {queued} bytes wait for it");
                conn.queued.0.overflowed.store(true, Ordering::Relaxed);
                self.drop_conn(id);
                return;
            }
            conn.queued.0.bytes.fetch_add(out.bytes(), Ordering::Relaxed);
            if let Err(e) = conn.outbox.try_send(out) {
                conn.queued.0.bytes.fetch_sub(e.into_inner().bytes(), Ordering::Relaxed);
                warn!("dropped a message for {to}: its connection is {OUTBOX} frames behind");
            }
            return;
        }
        if is_client_label(to) {
            debug!("dropped a message for {to}: that client has disconnected");
            return;
        }
        if let Some(waiting) = self.dialing.get_mut(to) {
            if waiting.frames.len() < OUTBOX && waiting.bytes + out.bytes() <= MAX_QUEUED {
                waiting.bytes += out.bytes();
                waiting.frames.push(out);
            }
            return;
        }
        if self.backoff.get(to).is_some_and(|b| Instant::now() < b.next_try) {
            debug!("dropped a message for {to}: unreachable, waiting before dialing again");
            return;
        }
        self.dialing.insert(to.clone(), Waiting { bytes: out.bytes(), frames: vec![out] });
        tokio::spawn(dial(to.clone(), self.inbox.clone(), self.config.clone()));
    }

    /// Takes in what a connection task reported; returns what the node must handle.
    pub fn handle(&mut self, input: ConnInput) -> Option<Delivery> {
        match input {
            ConnInput::Opened { conn, peer, member, outbox, queued } => {
                if let Some(addr) = &peer {
                    self.backoff.remove(addr);
                    for out in self.dialing.remove(addr).map(|w| w.frames).unwrap_or_default() {
                        queued.0.bytes.fetch_add(out.bytes(), Ordering::Relaxed);
                        let _ = outbox.try_send(out);
                    }
                    self.routes.insert(addr.clone(), conn);
                    debug!("connected to {addr}");
                }
                self.conns.insert(conn, Conn { outbox, queued, peer, member });
                None
            }
            ConnInput::DialFailed { addr, reason } => {
                self.dialing.remove(&addr);
                let delay = self.backoff.get(&addr).map_or(BACKOFF_FIRST, |b| (b.delay * 2).min(BACKOFF_CAP));
                if delay == BACKOFF_FIRST {
                    warn!("cannot reach {addr}: {reason}");
                } else {
                    debug!("still cannot reach {addr}: {reason}; next try in {delay:?}");
                }
                self.backoff.insert(addr.clone(), Backoff { next_try: Instant::now() + delay, delay });
                Some(Delivery::Unreachable { addr, reason })
            }
            ConnInput::Frame { conn, frame, .. } => {
                let known = self.conns.get_mut(&conn)?;
                let member = known.member;
                let from = match &known.peer {
                    Some(peer) => peer.clone(),
                    None => {
                        let peer = accepted_peer(&frame, conn, member);
                        known.peer = Some(peer.clone());
                        self.routes.entry(peer.clone()).or_insert(conn);
                        peer
                    }
                };
                Some(Delivery::Message { from, member, id: frame.id, msg: frame.msg })
            }
            ConnInput::Closed { conn } => {
                if let Some(Conn { peer: Some(peer), .. }) = self.conns.remove(&conn) {
                    if self.routes.get(&peer) == Some(&conn) {
                        self.routes.remove(&peer);
                    }
                    debug!("connection with {peer} closed");
                }
                None
            }
        }
    }

    /// Ends connection `id`: dropping its outbox ends its task, which closes the socket.
    fn drop_conn(&mut self, id: ConnId) {
        if let Some(Conn { peer: Some(peer), .. }) = self.conns.remove(&id) {
            if self.routes.get(&peer) == Some(&id) {
                self.routes.remove(&peer);
            }
        }
    }

    /// Closes every connection with a close frame, as a process that is done does; returns how
    /// many were open (each reports `Closed` once its close frame is out).
    pub fn close_all(&mut self) -> usize {
        self.routes.clear();
        self.dialing.clear();
        let conns = std::mem::take(&mut self.conns);
        for conn in conns.values() {
            conn.queued.0.leaving.store(true, Ordering::Relaxed);
        }
        conns.len()
    }

    /// Forgets every dialable peer `keep` rejects: its backoff, and its connection if this node
    /// dialed it.
    pub fn forget_unless(&mut self, keep: impl Fn(&Addr) -> bool) {
        self.backoff.retain(|addr, _| keep(addr));
        let gone: Vec<Addr> =
            self.routes.keys().filter(|addr| !is_client_label(addr) && !keep(addr)).cloned().collect();
        for addr in gone {
            if let Some(conn) = self.routes.remove(&addr).and_then(|c| self.conns.remove(&c)) {
                // Dropping the outbox ends the connection task, which closes the socket.
                drop(conn);
                info!("forgot {addr}: no longer in the view");
            }
        }
    }
}

/// Where connection tasks hand what they read: a channel bounded in frames and, through `room`,
/// in bytes, so that peers sending large frames fast wait instead of growing the node.
#[derive(Clone, Debug)]
struct Inbox {
    frames: mpsc::Sender<ConnInput>,
    room: Arc<Semaphore>,
}

/// One connection as its task knows it.
struct Link {
    conn: ConnId,
    /// The peer's address, for logs.
    peer: String,
    /// The address this node dialed; `None` for a connection it accepted.
    dialed: Option<Addr>,
    /// Whether the peer proved it is a member.
    member: bool,
    outbox: mpsc::Receiver<Outgoing>,
    queued: Queued,
}

impl Link {
    /// A new connection's link, and what tells the node's task it is open.
    fn open(peer: String, dialed: Option<Addr>, member: bool) -> (Link, ConnInput) {
        let conn = next_conn();
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let queued = Queued::default();
        let opened = ConnInput::Opened { conn, peer: dialed.clone(), member, outbox, queued: queued.clone() };
        (Link { conn, peer, dialed, member, outbox: rx, queued }, opened)
    }
}

async fn accept(mut stream: TcpStream, remote: SocketAddr, inbox: Inbox, config: NetConfig) {
    let _ = stream.set_nodelay(true);
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    if !upgrade::screen(&mut stream, HANDSHAKE_TIMEOUT).await {
        return info!("answered {remote}'s HTTP request that was not a WebSocket upgrade with 426");
    }
    let mut admitted = None;
    // The signature is tungstenite's handshake callback, large error type and all.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let verdict = key::admit(request, config.key.as_ref());
        admitted = Some(verdict);
        match verdict {
            Ok(_) => Ok(response),
            Err(reason) => {
                let mut refusal = ErrorResponse::new(Some(format!("{reason}\n")));
                *refusal.status_mut() = StatusCode::UNAUTHORIZED;
                Err(refusal)
            }
        }
    };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config.websocket()));
    let ws = match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            return match admitted {
                Some(Err(reason)) => info!("refused a connection from {remote}: {reason} (HTTP 401)"),
                _ => info!("refused a connection from {remote}: WebSocket handshake failed: {}", OneLine(&e)),
            }
        }
        Err(_) => {
            return info!("dropped a connection from {remote}: no WebSocket handshake within {HANDSHAKE_TIMEOUT:?}")
        }
    };
    let (link, opened) = Link::open(remote.to_string(), None, admitted == Some(Ok(true)));
    if inbox.frames.send(opened).await.is_ok() {
        run(ws, link, inbox, config).await;
    }
}

async fn dial(addr: Addr, inbox: Inbox, config: NetConfig) {
    // A node dials as a member; a client (which listens nowhere) as a client.
    let url = key::dial_url(addr.as_str(), config.local.is_some(), config.key.as_ref());
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(config.websocket()), true);
    let reason = match tokio::time::timeout(DIAL_TIMEOUT, connect).await {
        Ok(Ok((ws, _))) => {
            // The peer is the node listening where we dialed: a member.
            let (link, opened) = Link::open(addr.to_string(), Some(addr), true);
            if inbox.frames.send(opened).await.is_ok() {
                run(ws, link, inbox, config).await;
            }
            return;
        }
        Ok(Err(tungstenite::Error::Http(refusal))) if refusal.status() == StatusCode::UNAUTHORIZED => {
            let said = refusal.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            format!("refused (HTTP 401: {}): give the cluster key in {} or --cluster-key-file", said.trim(), key::ENV)
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {DIAL_TIMEOUT:?}"),
    };
    let _ = inbox.frames.send(ConnInput::DialFailed { addr, reason }).await;
}

/// One connection's life: frames in to the inbox, queued frames out, until either side ends.
async fn run<S>(ws: WebSocketStream<S>, link: Link, inbox: Inbox, config: NetConfig)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Link { conn, peer, dialed, member, mut outbox, queued } = link;
    let accepted = dialed.is_none();
    let mut writer = Writer { ws, conn, peer: dialed, local: config.local, watch: config.watch };
    let mut observer = false;
    loop {
        tokio::select! {
            incoming = writer.ws.next() => {
                let Some(incoming) = incoming else { break };
                match incoming {
                    Ok(Message::Text(text)) => match Frame::decode(text.as_str()) {
                        Ok(frame) => {
                            let known = writer.peer.get_or_insert_with(|| accepted_peer(&frame, conn, member));
                            if let Some(watch) = writer.watch.as_ref().filter(|w| w.active()) {
                                // A client's claimed address is not shown: it names nobody.
                                let shown = frame.from.as_ref().filter(|_| member).unwrap_or(known);
                                watch.received(shown.as_str(), text.as_str(), frame.msg.secret());
                            }
                            // Waits while the node's task has too many bytes of frames to handle.
                            let bytes = text.len().min(INBOX_BYTES) as u32;
                            let Ok(room) = Arc::clone(&inbox.room).acquire_many_owned(bytes).await else { break };
                            if inbox.frames.send(ConnInput::Frame { conn, frame, _room: room }).await.is_err() {
                                break;
                            }
                        }
                        // Tried only once the frame is no message: the hot path is unchanged.
                        Err(_) if accepted && writer.watch.is_some() && watch::is_request(text.as_str()) => {
                            observer = true;
                            break;
                        }
                        Err(bad) => {
                            warn!("bad frame from {peer}: {bad}");
                            if writer.refuse(bad).await.is_err() {
                                break;
                            }
                        }
                    },
                    Ok(Message::Binary(_)) => {
                        let bad = BadFrame { re: None, reason: "binary frames are not spoken here: send JSON text frames".into() };
                        warn!("bad frame from {peer}: {bad}");
                        if writer.refuse(bad).await.is_err() {
                            break;
                        }
                    }
                    Ok(Message::Close(_)) => break,
                    Ok(_) => {} // pings are answered by the WebSocket layer
                    Err(tungstenite::Error::Capacity(e)) => {
                        let reason = format!("frame too large: {e} (the limit is {} bytes)", config.max_frame);
                        warn!("closing the connection from {peer}: {reason}");
                        writer.close_with(CloseCode::Size, reason).await;
                        break;
                    }
                    Err(tungstenite::Error::Protocol(e)) => {
                        let reason = format!("WebSocket protocol violation: {e}");
                        warn!("closing the connection from {peer}: {reason}");
                        writer.close_with(CloseCode::Protocol, reason).await;
                        break;
                    }
                    Err(tungstenite::Error::Utf8(e)) => {
                        let reason = format!("text frame is not UTF-8: {e}");
                        warn!("closing the connection from {peer}: {reason}");
                        writer.close_with(CloseCode::Invalid, reason).await;
                        break;
                    }
                    // The peer went away (reset, closed mid-frame): nothing to answer.
                    Err(e) => {
                        debug!("connection with {peer} ended: {e}");
                        break;
                    }
                }
            }
            next = outbox.recv() => {
                let Some(first) = next else {
                    if queued.0.overflowed.load(Ordering::Relaxed) {
                        let reason = format!("you stopped reading: over {MAX_QUEUED} bytes waited for you");
                        writer.close_with(CloseCode::Policy, reason).await;
                    } else if queued.0.leaving.load(Ordering::Relaxed) {
                        // Nothing went wrong: a close frame alone, so the peer logs no error.
                        let bye = CloseFrame { code: CloseCode::Normal, reason: "done".into() };
                        let _ = writer.ws.close(Some(bye)).await;
                    } else {
                        writer.close_with(CloseCode::Normal, "forgotten".into()).await;
                    }
                    break;
                };
                // Write everything already queued, then flush once: one syscall for a burst.
                let mut result = writer.feed(first, &queued).await;
                while result.is_ok() {
                    match outbox.try_recv() {
                        Ok(next) => result = writer.feed(next, &queued).await,
                        Err(_) => break,
                    }
                }
                if result.is_err() || writer.ws.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = inbox.frames.send(ConnInput::Closed { conn }).await;
    if let (true, Some(watch)) = (observer, &writer.watch) {
        // What was queued for this connection goes nowhere now: it left the routing table.
        drop(outbox);
        watch::observe(writer.ws, &peer, watch).await;
    }
}

struct Writer<S> {
    ws: WebSocketStream<S>,
    conn: ConnId,
    /// What the node calls the peer, once known.
    peer: Option<Addr>,
    local: Option<Addr>,
    watch: Option<Watch>,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Writer<S> {
    /// Writes one frame, flushed or left for the next flush. Watchers see it once the WebSocket
    /// took it: a frame for a connection already gone is no `send`.
    async fn write(&mut self, out: Outgoing, flush: bool) -> Result<(), tungstenite::Error> {
        let secret = out.msg.secret().copied();
        let frame =
            Frame { v: PROTOCOL_VERSION, id: next_frame_id(), re: out.re, from: self.local.clone(), msg: out.msg };
        let text = frame.encode();
        let record = self.watch.as_ref().filter(|w| w.active()).map(|watch| {
            let peer = self.peer.clone().unwrap_or_else(|| client_label(self.conn));
            (watch, watch.send_record(peer.as_str(), &text, secret.as_ref()))
        });
        let message = Message::text(text);
        if flush {
            self.ws.send(message).await?;
        } else {
            self.ws.feed(message).await?;
        }
        if let Some((watch, record)) = record {
            watch.publish(record);
        }
        Ok(())
    }

    async fn feed(&mut self, out: Outgoing, queued: &Queued) -> Result<(), tungstenite::Error> {
        queued.0.bytes.fetch_sub(out.bytes(), Ordering::Relaxed);
        self.write(out, false).await
    }

    /// An error of this connection's own (a bad frame, a close), written at once.
    async fn error(&mut self, reason: String, re: Option<u64>) -> Result<(), tungstenite::Error> {
        self.write(Outgoing::new(Msg::Error { op: None, reason }, re), true).await
    }

    async fn refuse(&mut self, bad: BadFrame) -> Result<(), tungstenite::Error> {
        self.error(bad.reason, bad.re).await
    }

    async fn close_with(&mut self, code: CloseCode, reason: String) {
        let _ = self.error(reason.clone(), None).await;
        // Close reasons must fit in a control frame (123 bytes).
        let short: String = reason.chars().take(100).collect();
        let _ = self.ws.close(Some(CloseFrame { code, reason: short.into() })).await;
    }
}
