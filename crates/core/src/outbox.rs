//! A role's pending outputs: messages to send and events to report, in the order they arose.
//! The parts of a role write here; the role's `poll_transmit` and `poll_event` drain it.

use alloc::collections::VecDeque;

use crate::event::Event;
use crate::id::Addr;
use crate::msg::{Msg, Transmit};

/// Messages and events waiting to be polled.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Outbox {
    /// Queues `msg` for `to`.
    pub(crate) fn send(&mut self, to: &Addr, msg: Msg) {
        self.transmits.push_back(Transmit { to: to.clone(), msg });
    }

    /// Queues an event.
    pub(crate) fn event(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// The oldest queued message.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The oldest queued event.
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}
