//! The driver every role runs in: one task owns the role, feeds it what the network delivers
//! and its timer, and hands what it wants sent to the network. Its events also go to the
//! node's watchers, if any.

use std::pin::Pin;
use std::time::Duration;

use ringside_core::view_leader::{ReplicaState, ViewWrite};
use ringside_core::{Addr, Client, Event, Node, Peer, Server, Time, ViewLeader};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use crate::disk::Disk;
use crate::net::{ConnInput, Delivery, Net, NetConfig};
use crate::watch::Watch;

/// A role, its connections and its clock.
#[derive(Debug)]
pub struct Shell<N> {
    /// The role.
    pub node: N,
    /// Its connections.
    pub net: Net,
    inbox: mpsc::Receiver<ConnInput>,
    start: Instant,
    /// One sleep, reset to each new deadline.
    timer: Pin<Box<Sleep>>,
    armed: Option<Time>,
    watch: Option<Watch>,
    /// Where a view-leader replica's writes go before its messages do.
    disk: Option<Disk>,
    /// With a disk: the writes of this turn's inputs, made durable at once at its end (one
    /// fsync for a burst), and the messages held until then.
    held_writes: Vec<ViewWrite>,
    held_sends: Vec<(Addr, ringside_core::Msg, Option<u64>)>,
    /// A view-leader replica's Raft state as last given to the watch.
    shown: Option<ReplicaState>,
}

/// What a role wants made durable before the messages it produced after it go out (a
/// view-leader replica's term, vote and log), and the Raft state its watchers see. Servers and
/// clients keep nothing on disk and have no Raft state.
pub trait Writes {
    /// Takes every pending write, in order.
    fn take_writes(&mut self) -> Vec<ViewWrite> {
        Vec::new()
    }

    /// A view-leader replica's Raft state at `now`, unless `shown` still describes it.
    fn replica_state_since(&self, _now: Time, _shown: Option<&ReplicaState>) -> Option<ReplicaState> {
        None
    }
}

impl Writes for Server {}
impl Writes for Client {}

impl Writes for ViewLeader {
    fn take_writes(&mut self) -> Vec<ViewWrite> {
        std::iter::from_fn(|| self.poll_write()).collect()
    }

    fn replica_state_since(&self, now: Time, shown: Option<&ReplicaState>) -> Option<ReplicaState> {
        ViewLeader::replica_state_since(self, now, shown)
    }
}

/// What one turn of the driver brought, beyond what the shell handled itself.
#[derive(Debug, Default)]
pub struct Turn {
    /// The role's events, in order.
    pub events: Vec<Event>,
    /// Peers that could not be reached.
    pub unreachable: Vec<(Addr, String)>,
}

impl<N: Node + Writes> Shell<N> {
    /// A shell around `make(now)`, the role built at this shell's time zero.
    pub fn new(config: NetConfig, make: impl FnOnce(Time) -> N) -> Self {
        let watch = config.watch.clone();
        let (net, inbox) = Net::new(config);
        let start = Instant::now();
        let mut shell = Shell {
            node: make(Time::ZERO),
            net,
            inbox,
            start,
            timer: Box::pin(tokio::time::sleep_until(start)),
            armed: None,
            watch,
            disk: None,
            held_writes: Vec::new(),
            held_sends: Vec::new(),
            shown: None,
        };
        shell.show_replica();
        shell
    }

    /// Makes the role's writes durable on `disk` before its messages go out.
    pub fn set_disk(&mut self, disk: Disk) {
        self.disk = Some(disk);
    }

    /// Milliseconds since the shell started, the role's clock.
    pub fn now(&self) -> Time {
        Time(self.start.elapsed().as_millis() as u64)
    }

    /// Waits for the next input or deadline, hands it to the role, and sends what the role
    /// wants sent. Returns `None` once nothing can ever arrive again.
    pub async fn turn(&mut self) -> Option<Turn> {
        let deadline = self.node.poll_timeout();
        if deadline != self.armed {
            if let Some(t) = deadline {
                self.timer.as_mut().reset(self.start + Duration::from_millis(t.0));
            }
            self.armed = deadline;
        }
        let mut turn = Turn::default();
        tokio::select! {
            // What already arrived is handled before a timer: after a pause (SIGSTOP, a
            // sleeping laptop) the heartbeats that waited must count before failure timers.
            biased;
            input = self.inbox.recv() => {
                self.take(input?, &mut turn);
                // Take whatever else already arrived before draining: fewer, fuller writes.
                while let Ok(input) = self.inbox.try_recv() {
                    self.take(input, &mut turn);
                }
                self.flush();
                self.show_replica();
            }
            () = self.timer.as_mut(), if self.armed.is_some() => {
                self.armed = None;
                let now = self.now();
                self.node.handle_timeout(now);
                self.drain(None, &mut turn);
            }
        }
        Some(turn)
    }

    /// Closes every connection cleanly, waiting at most `patience` for the close frames to go
    /// out: a process that exits with its sockets open looks, to its peers, like one that died.
    pub async fn close(&mut self, patience: Duration) {
        let mut open = self.net.close_all();
        let deadline = Instant::now() + patience;
        while open > 0 {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(ConnInput::Closed { .. })) => open -= 1,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Sends what the role wants sent and collects its events. Call after every command given
    /// to the role directly.
    pub fn drain(&mut self, answering: Option<(&Addr, u64)>, turn: &mut Turn) {
        self.collect(answering, turn);
        self.flush();
        self.show_replica();
    }

    /// Gives the watch a view-leader replica's Raft state when it changed: once a turn, after
    /// its writes are durable, so a watcher never sees a vote the disk could still lose.
    fn show_replica(&mut self) {
        let Some(watch) = self.watch.as_ref() else { return };
        if let Some(state) = self.node.replica_state_since(self.now(), self.shown.as_ref()) {
            watch.replica(&state);
            self.shown = Some(state);
        }
    }

    /// Makes the held writes durable, then sends the held messages.
    fn flush(&mut self) {
        if let Some(disk) = self.disk.as_mut() {
            if !self.held_writes.is_empty() {
                if let Err(e) = disk.write(&self.held_writes) {
                    // A replica that cannot keep its promises must not make more: a vote or an
                    // acknowledgement sent without its write could be given twice after a crash.
                    tracing::error!(target: "ringside::node", "{}; stopping", e.0);
                    std::process::exit(1);
                }
                self.held_writes.clear();
            }
        }
        for (to, msg, re) in self.held_sends.drain(..) {
            self.net.send(&to, msg, re);
        }
    }

    /// Takes what the role wants sent (held, with a disk, until its writes are durable) and
    /// its events.
    fn collect(&mut self, answering: Option<(&Addr, u64)>, turn: &mut Turn) {
        if self.disk.is_some() {
            self.held_writes.extend(self.node.take_writes());
        }
        while let Some(t) = self.node.poll_transmit() {
            let re = answering.filter(|(from, _)| **from == t.to).map(|(_, id)| id);
            if self.disk.is_some() {
                self.held_sends.push((t.to, t.msg, re));
            } else {
                self.net.send(&t.to, t.msg, re);
            }
        }
        let first = turn.events.len();
        turn.events.extend(std::iter::from_fn(|| self.node.poll_event()));
        if let Some(watch) = self.watch.as_ref().filter(|w| w.active()) {
            for event in &turn.events[first..] {
                watch.event(event);
            }
        }
    }

    fn take(&mut self, input: ConnInput, turn: &mut Turn) {
        match self.net.handle(input) {
            Some(Delivery::Message { from, member, id, msg }) => {
                let now = self.now();
                let peer = if member { Peer::Member(&from) } else { Peer::Client(&from) };
                self.node.handle_message(now, peer, msg);
                self.collect(Some((&from, id)), turn);
            }
            Some(Delivery::Unreachable { addr, reason }) => turn.unreachable.push((addr, reason)),
            None => {}
        }
    }
}
