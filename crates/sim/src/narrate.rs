//! Plain-language lines for trace entries: the narrated message sequence of `ringside-sim run`.

use ringside_core::msg::HeartbeatStatus;
use ringside_core::replication::RaftMsg;
use ringside_core::{Addr, Event, Msg, Names};

use crate::action::{Action, During};
use crate::config::Faults;
use crate::trace::{TraceEntry, TraceKind};

/// Whether a message is routine background (heartbeats), hidden unless asked for. Between
/// view-leader replicas that is an append carrying no entries and its answer: the leader's
/// heartbeat, several times per election timeout.
pub fn is_routine(msg: &Msg) -> bool {
    match msg {
        Msg::Raft { msg } => {
            matches!(&**msg, RaftMsg::Append { entries, .. } if entries.is_empty())
                || matches!(&**msg, RaftMsg::Appended { .. })
        }
        _ => matches!(
            msg,
            Msg::Heartbeat { .. }
                | Msg::HeartbeatReply { status: HeartbeatStatus::Ok { view: None, stable: None, .. }, .. }
        ),
    }
}

/// A plain-language description of an action, with the labels `names` knows.
pub fn describe_action(action: &Action, names: &Names) -> String {
    match action {
        Action::AddServer => "a new server process starts".into(),
        Action::Crash { node } => format!("{node} crashes (its memory is gone)"),
        // Only a replica restarts as a view leader (a lone one is never crashed): from its disk.
        Action::Restart { node } if node.0.starts_with(crate::VIEW_LEADER) => {
            format!("{node} restarts from its disk: term, vote and log as it left them")
        }
        Action::Restart { node } => format!("{node} restarts as a fresh process with a new id"),
        Action::Stall { node, ms } => {
            format!("{node} is paused for {ms} ms: it reads nothing and no timer of its fires until then")
        }
        Action::AddClient => "a new client starts".into(),
        Action::Client { client, command } => format!("{client}: {command}"),
        Action::Partition { side } => {
            let side: Vec<&str> = side.iter().map(Addr::as_str).collect();
            format!("network partition: {} cut off from the rest", side.join(", "))
        }
        Action::Heal => "the partition heals".into(),
        Action::SetFaults { faults } => format!("network faults now: {}", faults_words(faults)),
        Action::CrashCoordinator { client, tx: None } => {
            format!("{client} is set to crash the moment it would send a 2PC decision")
        }
        Action::CrashCoordinator { client, tx: Some(tx) } => {
            format!("{client} is set to crash the moment it would send its decision for {}", names.tx(*tx))
        }
        Action::CrashInTransaction { client, during, after } => {
            let what = match during {
                During::Prepare => "prepares",
                During::Decision => "decision messages",
            };
            format!("{client} is set to crash inside its next transaction, after sending {after} of its {what}")
        }
    }
}

/// The network's faults in words (`5% lost, 1% duplicated`).
fn faults_words(f: &Faults) -> String {
    let mut parts = Vec::new();
    if f.drop_ppm > 0 {
        parts.push(format!("{} lost", percent(f.drop_ppm)));
    }
    if f.duplicate_ppm > 0 {
        parts.push(format!("{} duplicated", percent(f.duplicate_ppm)));
    }
    if f.delay_ppm > 0 {
        parts.push(format!("{} delayed by {} ms", percent(f.delay_ppm), f.delay_ms));
    }
    if parts.is_empty() {
        return "none".into();
    }
    parts.join(", ")
}

/// Parts per million as a percentage, without trailing zeros (`0.5%`).
fn percent(ppm: u32) -> String {
    let (whole, frac) = (ppm / 10_000, ppm % 10_000);
    if frac == 0 {
        return format!("{whole}%");
    }
    let digits = format!("{frac:04}");
    format!("{whole}.{}%", digits.trim_end_matches('0'))
}

/// Learns who is who from a trace entry: a heartbeat names its server's id after the lane it
/// comes from, a prepare names its client's transactions and its participants, a join names
/// the new id after its address. `label` gives the lane of an address, `None` for a lane
/// several nodes share (which names none of them).
pub fn learn(names: &mut Names, entry: &TraceEntry, label: &dyn Fn(&Addr) -> Option<Addr>) {
    match &entry.kind {
        TraceKind::Send { from, msg: Msg::Heartbeat { id, .. }, .. } => {
            if let Some(lane) = label(from) {
                names.name_server(id, lane.as_str());
            }
        }
        TraceKind::Send { from, msg: Msg::Prepare { tx, participants, .. }, .. } => {
            if let Some(lane) = label(from) {
                names.name_client(tx.client, lane.as_str());
            }
            for m in participants {
                if let Some(lane) = label(&m.addr) {
                    names.name_server(&m.id, lane.as_str());
                    names.name_addr(&m.addr, lane.as_str());
                }
            }
        }
        TraceKind::Event { event: Event::ServerJoined { id, addr, .. }, .. } => {
            if let Some(lane) = label(addr) {
                names.name_server(id, lane.as_str());
                names.name_addr(addr, lane.as_str());
            }
        }
        TraceKind::Event {
            event:
                Event::TransferReceived { from, .. }
                | Event::BadMessage { from, .. }
                | Event::AddressBusy { addr: from, .. },
            ..
        } => {
            if let Some(lane) = label(from) {
                names.name_addr(from, lane.as_str());
            }
        }
        _ => {}
    }
}

/// The narrated line of a trace entry; `None` for routine entries when `all` is off. `names`
/// learns from every entry (read them in order), so servers and transactions read as their
/// nodes' names.
pub fn line(entry: &TraceEntry, all: bool, names: &mut Names) -> Option<String> {
    // The simulator names every node by its address.
    learn(names, entry, &|addr| Some(addr.clone()));
    let names = &*names;
    let t = entry.t;
    match &entry.kind {
        TraceKind::Send { from, to, msg, .. } if all || !is_routine(msg) => {
            Some(format!("{t:>9}  {from:>3} → {to:<3}  {}", msg.describe_with(names)))
        }
        TraceKind::Drop { from, to, reason, .. } => {
            Some(format!("{t:>9}  {from:>3} ✗ {to:<3}  message lost ({reason})"))
        }
        TraceKind::Duplicate { .. } if all => Some(format!("{t:>9}  network duplicated a message")),
        TraceKind::Deliver { .. } | TraceKind::Timer { .. } if all => None,
        TraceKind::Action { action } => Some(format!("{t:>9}  ▶ {}", describe_action(action, names))),
        TraceKind::Event { node, event } => {
            let routine = matches!(
                event,
                Event::TransferSent { .. } | Event::TransferAcked { .. } | Event::TransferReceived { .. }
            );
            (all || !routine).then(|| format!("{t:>9}  {node:>3} ★ {}", event.describe_with(names)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use ringside_core::Time;

    use super::*;
    use crate::session::{client, server, Setup};

    /// Two clients write the same key at once, as in the course's conflict; every line of the
    /// narration, in the order a reader gets them.
    fn conflict() -> Vec<String> {
        let mut sim = Setup::default().world();
        sim.run_until(Time(2_000));
        sim.act(Action::setr(client(1), "x".into(), "1".into()));
        sim.act(Action::setr(client(2), "x".into(), "2".into()));
        sim.act(Action::Partition { side: vec![server(1), server(2)] });
        sim.run_until(Time(2_300));
        let mut names = Names::default();
        sim.trace().entries().iter().filter_map(|e| line(e, false, &mut names)).collect()
    }

    #[test]
    fn the_narration_names_servers_and_transactions_by_their_nodes() {
        let lines = conflict();
        let text = lines.join("\n");
        let ids: Vec<String> = Setup::default().world().servers().map(|(_, s)| s.id().to_string()).collect();
        assert!(text.contains("s1 joined with id"), "{text}");
        assert!(text.contains("c1's write #1") && text.contains("c2's write #1"), "{text}");
        assert!(text.contains("network partition: s1, s2 cut off from the rest"), "{text}");
        for line in &lines {
            assert!(!line.contains("Some(") && !line.contains(" { ") && !line.contains("Addr("), "{line}");
            // A server's id shows only where it joins, beside its name.
            let named = line.contains("joined with id");
            assert!(named || ids.iter().all(|id| !line.contains(id.as_str())), "a hex id: {line}");
        }
    }

    #[test]
    fn faults_read_as_percentages() {
        let faults = Faults { drop_ppm: 50_000, duplicate_ppm: 5_000, delay_ppm: 0, delay_ms: 200 };
        assert_eq!(faults_words(&faults), "5% lost, 0.5% duplicated");
        assert_eq!(faults_words(&Faults::default()), "none");
    }
}
