//! Log lines: one readable line per important event, filtered by `RUST_LOG`.
//!
//! Events are logged under targets by subject, so a busy node can keep its membership and
//! rebalancing lines while muting per-transaction ones: `RUST_LOG=info,ringside::tx=warn`.

use ringside_core::Event;
use ringside_sim::narrate::describe;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

/// Logs to stderr at `info` unless `RUST_LOG` says otherwise.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// Logs a role's event in plain words.
pub fn event(event: &Event) {
    let line = describe(event);
    match event {
        Event::ServerJoined { .. }
        | Event::ServerFailed { .. }
        | Event::HeartbeatDenied { .. }
        | Event::AddressBusy { .. }
        | Event::Recovering { .. }
        | Event::Recovered { .. }
        | Event::RebalancingDone { .. }
        | Event::ViewLearned { .. }
        | Event::ToldToRetry => info!(target: "ringside::membership", "{line}"),
        Event::Denied => warn!(target: "ringside::membership", "{line}"),
        Event::LockGranted { .. } | Event::LockQueued { .. } | Event::LockReleased { .. } => {
            info!(target: "ringside::locks", "{line}")
        }
        Event::LockDeadlock { .. } => warn!(target: "ringside::locks", "{line}"),
        Event::RebalanceStarted { .. }
        | Event::TransferSent { .. }
        | Event::TransferReceived { .. }
        | Event::TransferAcked { .. }
        | Event::RebalanceFinished { .. }
        | Event::CopiesDropped { .. } => info!(target: "ringside::rebalance", "{line}"),
        Event::Voted { .. } | Event::Committed { .. } | Event::Aborted { .. } | Event::TxDecided { .. } => {
            info!(target: "ringside::tx", "{line}")
        }
        Event::TerminationStarted { .. } | Event::Blocked { .. } => warn!(target: "ringside::tx", "{line}"),
        Event::Printed { .. } => info!(target: "ringside::print", "{line}"),
        Event::BadMessage { .. } => warn!(target: "ringside::net", "{line}"),
        Event::OpRetrying { .. } | Event::LockWaiting { .. } | Event::OpDone { .. } => {
            info!(target: "ringside::client", "{line}")
        }
    }
}
