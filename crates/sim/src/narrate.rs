//! Plain-language lines for trace entries: the narrated message sequence of `ringside-sim run`.

use ringside_core::msg::HeartbeatStatus;
use ringside_core::{Event, Msg};

use crate::action::Action;
use crate::trace::{TraceEntry, TraceKind};

/// Whether a message is routine background (heartbeats), hidden unless asked for.
pub fn is_routine(msg: &Msg) -> bool {
    matches!(
        msg,
        Msg::Heartbeat { .. }
            | Msg::HeartbeatReply { status: HeartbeatStatus::Ok { view: None, stable: None, .. }, .. }
    )
}

/// A plain-language description of an action.
pub fn describe_action(action: &Action) -> String {
    match action {
        Action::AddServer => "a new server process starts".into(),
        Action::Crash { node } => format!("{node} crashes (its memory is gone)"),
        Action::Restart { node } => format!("{node} restarts as a fresh process with a new id"),
        Action::AddClient => "a new client starts".into(),
        Action::Client { client, command } => format!("{client}: {command}"),
        Action::Partition { side } => format!("network partition: {side:?} cut off from the rest"),
        Action::Heal => "the partition heals".into(),
        Action::SetFaults { faults } => format!("network faults now {faults:?}"),
        Action::CrashCoordinator { client, tx: None } => {
            format!("{client} is set to crash the moment it would send a 2PC decision")
        }
        Action::CrashCoordinator { client, tx: Some(tx) } => {
            format!("{client} is set to crash the moment it would send its decision for {tx}")
        }
    }
}

/// The narrated line of a trace entry; `None` for routine entries when `all` is off.
pub fn line(entry: &TraceEntry, all: bool) -> Option<String> {
    let t = entry.t;
    match &entry.kind {
        TraceKind::Send { from, to, msg, .. } if all || !is_routine(msg) => {
            Some(format!("{t:>9}  {from:>3} → {to:<3}  {}", msg.summary()))
        }
        TraceKind::Drop { from, to, reason, .. } => {
            Some(format!("{t:>9}  {from:>3} ✗ {to:<3}  message lost ({reason})"))
        }
        TraceKind::Duplicate { .. } if all => Some(format!("{t:>9}  network duplicated a message")),
        TraceKind::Deliver { .. } | TraceKind::Timer { .. } if all => None,
        TraceKind::Action { action } => Some(format!("{t:>9}  ▶ {}", describe_action(action))),
        TraceKind::Event { node, event } => {
            let routine = matches!(
                event,
                Event::TransferSent { .. } | Event::TransferAcked { .. } | Event::TransferReceived { .. }
            );
            (all || !routine).then(|| format!("{t:>9}  {node:>3} ★ {}", event))
        }
        _ => None,
    }
}
