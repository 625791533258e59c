//! Drives one role the way a shell does — every message through the wire codec, every timer at
//! its deadline — and checks what any role owes its peers after every step: it does not panic,
//! everything it sends can be read back as sent, and no timer is left due once it ran.

use arbitrary::{Arbitrary, Unstructured};
use ringside_core::wire::{Frame, PROTOCOL_VERSION};
use ringside_core::{Addr, Event, Msg, Node, Peer, Time, Transmit};

use crate::input::{MsgIn, Place, Seen};

/// Steps one input may hold: enough to form a view, prepare, decide and rebalance.
pub const MAX_STEPS: usize = 256;

/// Timers one `wait` may fire before the run calls the role stuck.
const MAX_TIMERS_PER_WAIT: usize = 10_000;

/// One thing that happens to the role: a peer's message, time passing, or (for a client) one of
/// its own commands.
#[derive(Arbitrary, Clone, Debug)]
pub enum Step<C> {
    /// A message from a peer that proved membership or from a client, claiming an address.
    Deliver {
        /// Whether the shell calls the sender a member.
        member: bool,
        /// Where it says it listens.
        from: Place,
        /// What it sent.
        msg: MsgIn,
    },
    /// This many milliseconds pass, every timer firing at its deadline.
    Wait(u16),
    /// Many seconds pass at once, as when a process was paused: this many, times ten.
    Stall(u8),
    /// The role's own command.
    Command(C),
}

/// The steps `data` spells, at most [`MAX_STEPS`], after a seed for the role.
pub fn read<C: for<'a> Arbitrary<'a>>(data: &[u8]) -> (u64, Vec<Step<C>>) {
    let mut u = Unstructured::new(data);
    let seed = u.arbitrary().unwrap_or_default();
    let steps = u.arbitrary_take_rest_iter().map(|it| it.take(MAX_STEPS).filter_map(Result::ok).collect());
    (seed, steps.unwrap_or_default())
}

/// A role under test and what it did in the current step.
pub struct Harness<N> {
    /// The role.
    pub node: N,
    /// The time of the last input.
    pub now: Time,
    /// What it sent so far that a peer may repeat.
    pub seen: Seen,
    /// What it sent in this step.
    pub sent: Vec<Transmit>,
    /// What it reported in this step.
    pub events: Vec<Event>,
}

impl<N: Node> Harness<N> {
    /// Wraps a fresh role created at time 0.
    pub fn new(node: N) -> Self {
        let mut harness =
            Harness { node, now: Time::ZERO, seen: Seen::default(), sent: Vec::new(), events: Vec::new() };
        harness.drain();
        harness
    }

    /// Runs one step other than a command; returns the message the role was handed, if the
    /// frame carrying it could be read (a shell answers a frame that cannot with an error and
    /// the role never sees it).
    pub fn step<C>(&mut self, step: &Step<C>) -> Option<(bool, Addr, Msg)> {
        self.sent.clear();
        self.events.clear();
        match step {
            Step::Deliver { member, from, msg } => {
                let from = from.get();
                let msg = through_the_wire(&from, msg.get(&self.seen))?;
                let peer = if *member { Peer::Member(&from) } else { Peer::Client(&from) };
                self.node.handle_message(self.now, peer, msg.clone());
                self.drain();
                Some((*member, from, msg))
            }
            Step::Wait(ms) => {
                self.wait(u64::from(*ms));
                None
            }
            Step::Stall(tens) => {
                self.now = self.now + u64::from(*tens) * 10_000;
                self.node.handle_timeout(self.now);
                self.drain();
                self.check_timers();
                None
            }
            Step::Command(_) => None,
        }
    }

    /// Lets `ms` pass, firing every timer at its own deadline.
    pub fn wait(&mut self, ms: u64) {
        let until = self.now + ms;
        for _ in 0..MAX_TIMERS_PER_WAIT {
            match self.node.poll_timeout() {
                Some(due) if due <= until => {
                    self.now = self.now.max(due);
                    self.node.handle_timeout(self.now);
                    self.drain();
                    self.check_timers();
                }
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
        panic!("more than {MAX_TIMERS_PER_WAIT} timers fired within {ms} ms");
    }

    /// Takes everything the role wants sent and reported, checking that each message reads back
    /// from its frame exactly as sent.
    pub fn drain(&mut self) {
        while let Some(transmit) = self.node.poll_transmit() {
            let frame = Frame { v: PROTOCOL_VERSION, id: 1, re: None, from: None, msg: transmit.msg.clone() };
            match Frame::decode(&frame.encode()) {
                Ok(back) => assert_eq!(back, frame, "a frame reads back as something else"),
                Err(bad) => panic!("the role sent a frame no peer can read ({bad}): {:?}", transmit.msg),
            }
            self.seen.note(&transmit.msg);
            self.sent.push(transmit);
        }
        while let Some(event) = self.node.poll_event() {
            self.events.push(event);
        }
    }

    /// Once due timers ran, none is due any more: a shell would spin on it otherwise.
    fn check_timers(&self) {
        if let Some(due) = self.node.poll_timeout() {
            assert!(due > self.now, "a timer is still due at {} after handle_timeout({})", due, self.now);
        }
    }
}

/// `msg` as the role would get it from `from`'s frame: encoded, then decoded as a shell does.
/// `None` when the frame is refused (a number out of range, a bad secret).
pub fn through_the_wire(from: &Addr, msg: Msg) -> Option<Msg> {
    let frame = Frame { v: PROTOCOL_VERSION, id: 1, re: None, from: Some(from.clone()), msg };
    Frame::decode(&frame.encode()).ok().map(|frame| frame.msg)
}
