//! Watching a node: a record of every frame it writes and reads and of every event its role
//! emits, for observers on its own port and for its events file.
//!
//! A connection that sends `{"v":1,"id":N,"msg":{"cmd":"watch"}}` becomes an observer: it gets a
//! `hello` record, then one record per text frame, and is never read from again except for its
//! Close. Records are JSON objects, encoded once and shared by every observer:
//!
//! ```json
//! {"t":1700000000000000,"node":"127.0.0.1:38000","kind":"send","peer":"127.0.0.1:39000","frame":{"v":1,"id":9,...}}
//! ```
//!
//! Each watcher has its own queue, bounded in bytes (an observer's by [`OBSERVER_BUDGET`], the
//! events file's by [`FILE_BUDGET`]); the records in it are shared, not copied. A watcher that falls that far behind misses records (an observer is told so and
//! closed; the events file notes the gap) rather than slowing the node or growing its memory.
//! While nobody watches, no record is built: a frame costs one atomic load.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use ringside_core::view_leader::ReplicaState;
use ringside_core::{Addr, Event, ServerId, TxSecret};
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::{info, warn};

use crate::wire::PROTOCOL_VERSION;

/// `frame` with its transaction secret shown as `"hidden"`: an observer may see that a
/// prepare, commit or abort carried one, never what it was. The secret's field is matched with
/// its name, which no JSON string can hold unescaped, so a value holding the same digits stays.
fn hide<'a>(frame: &'a str, secret: Option<&TxSecret>) -> Cow<'a, str> {
    let Some(text) = secret.and_then(TxSecret::wire_text) else { return Cow::Borrowed(frame) };
    Cow::Owned(frame.replace(&format!(r#""secret":"{text}""#), r#""secret":"hidden""#))
}

/// Bytes of records queued for an observer (a peer: untrusted, perhaps slow on purpose) before it
/// misses records. The queues share the records, so the node holds at most about this much
/// however many observe.
pub const OBSERVER_BUDGET: usize = 1 << 20;
/// The same for the node's own events file, which a burst of events may briefly outrun.
pub const FILE_BUDGET: usize = 32 << 20;
/// What a queued record costs besides its text.
const PER_RECORD: usize = 64;

/// What a node is, as its `hello` record says.
#[derive(Clone, Debug)]
pub enum Identity {
    /// The view leader.
    ViewLeader,
    /// A storage server with this id.
    Server(ServerId),
}

/// A node's record stream; cheap to clone, one per node shared by all its connections.
#[derive(Clone, Debug)]
pub struct Watch(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    /// Every watcher's queue of encoded records; `Utf8Bytes` so that each observer's text frame
    /// shares the one copy.
    sinks: Mutex<Vec<Sink>>,
    /// Observers and events files subscribed: records are built only while this is above 0.
    watchers: AtomicUsize,
    /// The node's address, as a JSON string.
    node: String,
    identity: Identity,
    /// A view-leader replica's latest `replica` record, which a new watcher gets right after
    /// its `hello`.
    replica: Mutex<Option<Utf8Bytes>>,
}

/// A record in a queue, or how many records a watcher missed there.
type Queued = Result<Utf8Bytes, u64>;

/// One watcher's queue, as the publishing side holds it.
#[derive(Debug)]
struct Sink {
    id: u64,
    budget: usize,
    records: mpsc::UnboundedSender<Queued>,
    /// Bytes queued, taken away by the watcher as it reads.
    bytes: Arc<AtomicUsize>,
    /// Records missed since the queue was last full; told once it has drained to half.
    missed: Option<u64>,
}

impl Sink {
    /// Queues `record`, or counts it missed while the watcher is too far behind.
    fn offer(&mut self, record: &Utf8Bytes) {
        let queued = self.bytes.load(Ordering::Relaxed);
        if let Some(missed) = &mut self.missed {
            if queued > self.budget / 2 {
                *missed += 1;
                return;
            }
            let _ = self.records.send(Err(*missed));
            self.missed = None;
        }
        let cost = cost(record);
        if queued + cost > self.budget {
            self.missed = Some(1);
            return;
        }
        self.bytes.fetch_add(cost, Ordering::Relaxed);
        let _ = self.records.send(Ok(record.clone()));
    }
}

fn cost(record: &Utf8Bytes) -> usize {
    record.len() + PER_RECORD
}

/// One watcher's place in the stream; unsubscribes when dropped.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    records: mpsc::UnboundedReceiver<Queued>,
    bytes: Arc<AtomicUsize>,
    watch: Watch,
}

impl Subscription {
    /// The next record; `Lagged` says how many were missed just before it.
    pub async fn recv(&mut self) -> Result<Utf8Bytes, RecvError> {
        match self.records.recv().await {
            Some(queued) => self.took(queued).map_err(RecvError::Lagged),
            None => Err(RecvError::Closed),
        }
    }

    /// The next record if one is queued.
    pub fn try_recv(&mut self) -> Result<Utf8Bytes, TryRecvError> {
        match self.records.try_recv() {
            Ok(queued) => self.took(queued).map_err(TryRecvError::Lagged),
            Err(mpsc::error::TryRecvError::Empty) => Err(TryRecvError::Empty),
            Err(mpsc::error::TryRecvError::Disconnected) => Err(TryRecvError::Closed),
        }
    }

    /// A record taken from the queue, or how many were missed.
    fn took(&self, queued: Queued) -> Result<Utf8Bytes, u64> {
        let record = queued?;
        self.bytes.fetch_sub(cost(&record), Ordering::Relaxed);
        Ok(record)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.watch.0.sinks.lock().expect("no publisher panics").retain(|sink| sink.id != self.id);
        self.watch.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Watch {
    /// The stream of the node that listens at `node`.
    pub fn new(node: &Addr, identity: Identity) -> Watch {
        let sinks = Mutex::new(Vec::new());
        let node = json_string(node.as_str());
        Watch(Arc::new(Shared { sinks, watchers: AtomicUsize::new(0), node, identity, replica: Mutex::new(None) }))
    }

    /// Whether anyone watches: check before building a record.
    pub fn active(&self) -> bool {
        self.0.watchers.load(Ordering::Relaxed) > 0
    }

    /// Starts receiving records, missing some whenever more than `budget` bytes of them wait.
    pub fn subscribe(&self, budget: usize) -> Subscription {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let (tx, records) = mpsc::unbounded_channel();
        let bytes = Arc::new(AtomicUsize::new(0));
        let sink = Sink { id, budget, records: tx, bytes: Arc::clone(&bytes), missed: None };
        self.0.sinks.lock().expect("no publisher panics").push(sink);
        self.0.watchers.fetch_add(1, Ordering::Relaxed);
        Subscription { id, records, bytes, watch: self.clone() }
    }

    /// `hello`: who this node is. Each watcher's first record.
    pub fn hello(&self) -> Utf8Bytes {
        let (role, id) = match &self.0.identity {
            Identity::ViewLeader => ("viewleader", "null".to_string()),
            Identity::Server(id) => ("server", json_string(id.as_str())),
        };
        self.record("hello", |r| {
            let _ = write!(r, r#","role":"{role}","id":{id}"#);
        })
    }

    /// `replica`: a view-leader replica's Raft state changed to `state`. Built whether or not
    /// anyone watches, since a later watcher starts from it.
    pub fn replica(&self, state: &ReplicaState) {
        let state = serde_json::to_string(state).expect("a replica's state always serializes");
        let record = self.record("replica", |r| {
            let _ = write!(r, r#","state":{state}"#);
        });
        *self.0.replica.lock().expect("no publisher panics") = Some(record.clone());
        self.publish(record);
    }

    /// The latest `replica` record, for a new watcher after its `hello`.
    pub fn replica_record(&self) -> Option<Utf8Bytes> {
        self.0.replica.lock().expect("no publisher panics").clone()
    }

    /// `dropped`: a watcher lost `missed` records, and why in words.
    pub fn dropped(&self, missed: u64, reason: &str) -> Utf8Bytes {
        self.record("dropped", |r| {
            let _ = write!(r, r#","missed":{missed},"reason":{}"#, json_string(reason));
        })
    }

    /// `send`: the node wrote `frame` (its exact text, but for the transaction `secret` it
    /// carries) to `peer`. Built before the write (which takes the text), published after it.
    pub fn send_record(&self, peer: &str, frame: &str, secret: Option<&TxSecret>) -> Utf8Bytes {
        self.frame_record("send", peer, &hide(frame, secret))
    }

    /// `recv`: the node read the well-formed `frame` (its text as received, but for the
    /// transaction `secret` it carries) from `peer`.
    pub fn received(&self, peer: &str, frame: &str, secret: Option<&TxSecret>) {
        let frame = hide(frame, secret);
        // Raw line breaks in JSON text can only be whitespace; a record stays one line.
        if frame.contains(['\n', '\r']) {
            self.publish(self.frame_record("recv", peer, &frame.replace(['\n', '\r'], " ")));
        } else {
            self.publish(self.frame_record("recv", peer, &frame));
        }
    }

    /// `event`: the role emitted `event`.
    pub fn event(&self, event: &Event) {
        let event = serde_json::to_string(event).expect("an event always serializes");
        self.publish(self.record("event", |r| {
            let _ = write!(r, r#","event":{event}"#);
        }));
    }

    fn frame_record(&self, kind: &str, peer: &str, frame: &str) -> Utf8Bytes {
        self.record(kind, |r| {
            let _ = write!(r, r#","peer":{},"frame":{frame}"#, json_string(peer));
        })
    }

    fn record(&self, kind: &str, fields: impl FnOnce(&mut String)) -> Utf8Bytes {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        let mut record = String::with_capacity(256);
        let _ = write!(record, r#"{{"t":{t},"node":{},"kind":"{kind}""#, self.0.node);
        fields(&mut record);
        record.push('}');
        record.into()
    }

    /// Hands a record to every watcher.
    pub fn publish(&self, record: Utf8Bytes) {
        for sink in self.0.sinks.lock().expect("no publisher panics").iter_mut() {
            sink.offer(&record);
        }
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// Whether a text frame (one `Frame::decode` refused) asks to watch this node.
pub fn is_request(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Request {
        v: u32,
        msg: Cmd,
    }
    #[derive(Deserialize)]
    #[serde(tag = "cmd", rename_all = "snake_case")]
    enum Cmd {
        Watch,
    }
    matches!(serde_json::from_str::<Request>(text), Ok(Request { v: PROTOCOL_VERSION, msg: Cmd::Watch }))
}

/// An observer connection's life: `hello`, then every record, until it closes or falls
/// [`OBSERVER_BUDGET`] bytes behind.
pub async fn observe<S>(mut ws: WebSocketStream<S>, remote: &str, watch: &Watch)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut subscription = watch.subscribe(OBSERVER_BUDGET);
    info!(target: "ringside::net", "observer {remote} is watching");
    let greeting = std::iter::once(watch.hello()).chain(watch.replica_record());
    for record in greeting {
        if ws.send(Message::Text(record)).await.is_err() {
            return info!(target: "ringside::net", "observer {remote} left");
        }
    }
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                // An observer only listens: whatever else it sends is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            first = subscription.recv() => {
                // Write everything already published, then flush once.
                let mut next = first;
                loop {
                    match next {
                        Ok(record) => {
                            if ws.feed(Message::Text(record)).await.is_err() {
                                return info!(target: "ringside::net", "observer {remote} left");
                            }
                        }
                        Err(RecvError::Lagged(behind)) => {
                            let reason = format!("observer fell {behind} records behind; closing");
                            warn!(target: "ringside::net", "dropped observer {remote}: it fell {behind} records behind");
                            let _ = ws.send(Message::Text(watch.dropped(behind, &reason))).await;
                            let _ = ws.close(Some(CloseFrame { code: CloseCode::Again, reason: "fell behind".into() })).await;
                            return;
                        }
                        Err(RecvError::Closed) => return,
                    }
                    next = match subscription.try_recv() {
                        Ok(record) => Ok(record),
                        Err(TryRecvError::Lagged(behind)) => Err(RecvError::Lagged(behind)),
                        Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                    };
                }
                if ws.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    info!(target: "ringside::net", "observer {remote} left");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(record: &Utf8Bytes) -> serde_json::Value {
        serde_json::from_str(record.as_str()).expect("a record is JSON")
    }

    #[test]
    fn records_are_json_in_the_documented_field_order() {
        let watch = Watch::new(&Addr::from("127.0.0.1:38000"), Identity::Server(ServerId::from("bb4733cd")));
        let hello = watch.hello();
        assert!(hello.starts_with(r#"{"t":"#), "{hello}");
        assert!(
            hello.ends_with(r#","node":"127.0.0.1:38000","kind":"hello","role":"server","id":"bb4733cd"}"#),
            "{hello}"
        );
        let vl = Watch::new(&Addr::from("127.0.0.1:39000"), Identity::ViewLeader);
        assert!(vl.hello().ends_with(r#""kind":"hello","role":"viewleader","id":null}"#), "{}", vl.hello());
        let dropped = watch.dropped(3, "observer fell 3 records behind; closing");
        assert_eq!(parse(&dropped)["missed"], 3);
        assert_eq!(parse(&dropped)["reason"], "observer fell 3 records behind; closing");
    }

    #[test]
    fn a_replicas_latest_state_is_kept_for_watchers_to_come() {
        use ringside_core::replication::{Role, Term};
        let vl = Watch::new(&Addr::from("127.0.0.1:39001"), Identity::ViewLeader);
        assert!(vl.replica_record().is_none(), "a lone view leader, or a replica before its first turn");
        let state = |term| ReplicaState {
            role: Role::Leader,
            serving: true,
            term: Term(term),
            vote: Some(Addr::from("127.0.0.1:39001")),
            leader: Some(Addr::from("127.0.0.1:39001")),
            me: 1,
            replicas: 3,
            commit: 1,
            last: 1,
            snapshot: 0,
            entries: Vec::new(),
        };
        vl.replica(&state(2));
        let mut watcher = vl.subscribe(OBSERVER_BUDGET);
        vl.replica(&state(3));
        let kept = parse(&vl.replica_record().expect("kept"));
        assert_eq!((kept["kind"].as_str(), kept["state"]["term"].as_u64()), (Some("replica"), Some(3)));
        let streamed = parse(&watcher.try_recv().expect("published to watchers"));
        assert_eq!(streamed["state"]["role"], "leader");
    }

    #[test]
    fn publishes_only_to_subscribers_and_keeps_records_one_line() {
        let watch = Watch::new(&Addr::from("127.0.0.1:38000"), Identity::ViewLeader);
        assert!(!watch.active());
        let mut sub = watch.subscribe(OBSERVER_BUDGET);
        assert!(watch.active());
        let frame = "{\"v\":1,\n\"id\":2,\"msg\":{\"cmd\":\"query_servers\",\"op\":1}}";
        watch.received("client#4", frame, None);
        watch.publish(watch.send_record(
            "bad\"peer",
            r#"{"v":1,"id":3,"msg":{"cmd":"print","op":1,"text":"a"}}"#,
            None,
        ));
        let recv = sub.try_recv().expect("a recv record");
        assert!(!recv.contains('\n'), "{recv}");
        let recv = parse(&recv);
        assert_eq!((recv["kind"].as_str(), recv["peer"].as_str()), (Some("recv"), Some("client#4")));
        assert_eq!(recv["frame"]["id"], 2);
        let send = parse(&sub.try_recv().expect("a send record"));
        assert_eq!((send["kind"].as_str(), send["peer"].as_str()), (Some("send"), Some("bad\"peer")));
        watch.event(&Event::Denied);
        assert_eq!(parse(&sub.try_recv().expect("an event record"))["event"]["event"], "denied");
        drop(sub);
        assert!(!watch.active());
    }

    #[test]
    fn records_show_that_a_secret_was_there_but_not_what_it_was() {
        let secret = TxSecret::new(0xabc);
        let digits = "00000000000000000000000000000abc";
        let frame =
            format!(r#"{{"v":1,"id":4,"msg":{{"cmd":"abort","tx":{{"client":1,"seq":1}},"secret":"{digits}"}}}}"#);
        let shown = hide(&frame, Some(&secret));
        assert!(!shown.contains(digits), "{shown}");
        assert!(shown.contains(r#""secret":"hidden""#), "{shown}");
        let value = format!(r#"{{"cmd":"set","op":1,"key":"k","value":"\"secret\":\"{digits}\""}}"#);
        assert_eq!(hide(&value, Some(&secret)), value, "a value holding the digits stays as written");
    }

    #[test]
    fn a_watcher_that_does_not_read_misses_records_instead_of_growing_the_node() {
        let watch = Watch::new(&Addr::from("127.0.0.1:38000"), Identity::ViewLeader);
        let mut sub = watch.subscribe(8 << 20);
        let big: Utf8Bytes = "x".repeat(1 << 20).into();
        for _ in 0..10 {
            watch.publish(big.clone());
        }
        let mut queued = 0;
        while sub.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, 7, "8 MiB hold seven 1 MiB records");
        watch.publish(big.clone());
        assert!(matches!(sub.try_recv(), Err(TryRecvError::Lagged(3))), "then the gap is told");
        assert!(sub.try_recv().is_ok(), "and records flow again");
    }

    #[test]
    fn knows_a_watch_request() {
        assert!(is_request(r#"{"v":1,"id":1,"msg":{"cmd":"watch"}}"#));
        assert!(is_request(r#"{"msg":{"cmd":"watch"},"id":9,"v":1}"#));
        assert!(!is_request(r#"{"v":2,"id":1,"msg":{"cmd":"watch"}}"#));
        assert!(!is_request(r#"{"v":1,"id":1,"msg":{"cmd":"watchh"}}"#));
        assert!(!is_request("{not json"));
    }
}
