//! Log lines: one readable line per important event, filtered by `RUST_LOG`.
//!
//! Events are logged under targets by subject — `ringside::node` (listening), `::membership`,
//! `::rebalance`, `::tx`, `::locks`, `::print`, `::net`, `::client` — so a busy node can keep
//! its membership and rebalancing lines while muting per-transaction ones:
//! `RUST_LOG=info,ringside::tx=warn`.

use ringside_core::{Event, OneLine};
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

/// Logs a role's event in plain words, on one line whatever names a peer chose. The words are
/// only written out when the line's target and level are enabled: a busy server must not format
/// a line per vote to throw it away.
pub fn event(event: &Event) {
    macro_rules! log {
        ($level:ident, $target:literal) => {
            $level!(target: $target, "{}", OneLine(event))
        };
    }
    match event {
        Event::ServerJoined { .. }
        | Event::ServerFailed { .. }
        | Event::HeartbeatDenied { .. }
        | Event::AddressBusy { .. }
        | Event::Recovering { .. }
        | Event::Recovered { .. }
        | Event::LeaderElected { .. }
        | Event::LeaderLost { .. }
        | Event::RebalancingDone { .. }
        | Event::ViewLearned { .. }
        | Event::ToldToRetry => log!(info, "ringside::membership"),
        Event::Denied | Event::LeaderPaused { .. } => log!(warn, "ringside::membership"),
        Event::LockGranted { .. } | Event::LockQueued { .. } | Event::LockReleased { .. } => {
            log!(info, "ringside::locks")
        }
        Event::LockDeadlock { .. } => log!(warn, "ringside::locks"),
        Event::RebalanceStarted { .. }
        | Event::TransferSent { .. }
        | Event::TransferReceived { .. }
        | Event::TransferAcked { .. }
        | Event::RebalanceFinished { .. }
        | Event::CopiesDropped { .. } => log!(info, "ringside::rebalance"),
        Event::Voted { .. } | Event::Committed { .. } | Event::Aborted { .. } | Event::TxDecided { .. } => {
            log!(info, "ringside::tx")
        }
        Event::TerminationStarted { .. } | Event::Blocked { .. } | Event::NoMajority { .. } => {
            log!(warn, "ringside::tx")
        }
        Event::Printed { .. } => log!(info, "ringside::print"),
        Event::BadMessage { .. } => log!(warn, "ringside::net"),
        Event::WriteOnBothSets { .. }
        | Event::OpRetrying { .. }
        | Event::OpRerun { .. }
        | Event::LockWaiting { .. }
        | Event::OpDone { .. } => log!(info, "ringside::client"),
    }
}
