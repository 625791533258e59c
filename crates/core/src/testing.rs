//! What the roles' unit tests share.

use alloc::vec::Vec;

use crate::{Event, Node, Transmit};

/// Everything a role wants sent and reported since the last drain.
pub(crate) fn drain(node: &mut impl Node) -> (Vec<Transmit>, Vec<Event>) {
    let transmits = core::iter::from_fn(|| node.poll_transmit()).collect();
    let events = core::iter::from_fn(|| node.poll_event()).collect();
    (transmits, events)
}
