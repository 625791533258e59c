//! What is done to a simulated world from outside — by a script, a test or a learner — and to
//! the messages in flight.

use ringside_core::{tagged_enum, Addr, Command, TxId};
use serde::{Deserialize, Serialize};

use crate::config::Faults;

/// Something done to the world from outside: by a script, a test or a learner.
///
/// Its JSON (in traces, sessions and share links) is the flat record of [`ActionRecord`]:
/// `{"action":"set_r","client":"c1","key":"k","value":"v"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ActionRecord", into = "ActionRecord")]
pub enum Action {
    /// Start a new server process at the next free address.
    AddServer,
    /// Kill a server process: its memory is gone.
    Crash {
        /// The node.
        node: Addr,
    },
    /// Start a fresh process at a crashed node's address (new id, empty memory).
    Restart {
        /// The node.
        node: Addr,
    },
    /// Pause a node's process (SIGSTOP, a sleeping laptop, a frozen VM) for `ms`: nothing it
    /// is sent is read and none of its timers fire until then; then it gets everything at once.
    Stall {
        /// The node.
        node: Addr,
        /// For how long (ms).
        ms: u64,
    },
    /// Start a new client process at the next free address.
    AddClient,
    /// A client command, in the vocabulary every front-end shares. The simulator's clients
    /// run the replicated and lock commands; a local RPC (`print`, `set`, `get`,
    /// `query_all_keys`) names no server here, so `act` refuses it like any refused command.
    Client {
        /// The client.
        client: Addr,
        /// What it is asked to do.
        command: Command,
    },
    /// Cut these nodes off from all others.
    Partition {
        /// One side; every other node is the other side.
        side: Vec<Addr>,
    },
    /// Remove the partition.
    Heal,
    /// Change the network's faults.
    SetFaults {
        /// The new faults.
        faults: Faults,
    },
    /// Crash a client the moment it would send a 2PC decision: it has its votes and has
    /// decided, but no participant ever hears the outcome (the blocking problem).
    CrashCoordinator {
        /// The client.
        client: Addr,
        /// Only this transaction's decision springs the trap (any, if none).
        tx: Option<TxId>,
    },
    /// Crash a client inside its next transaction: once it has sent `after` of that
    /// transaction's prepares (`during: prepare`) or of its decision messages
    /// (`during: decision`); the rest never leave. A client dying while it tells.
    CrashInTransaction {
        /// The client.
        client: Addr,
        /// Which of its messages the crash cuts.
        during: During,
        /// How many of them get out first.
        after: u32,
    },
}

/// The messages of a transaction a [`Action::CrashInTransaction`] cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum During {
    /// Phase one: the prepares.
    Prepare,
    /// Phase two: the commit or abort messages.
    Decision,
}

impl Action {
    /// `setr key value` from `client`.
    pub fn setr(client: Addr, key: String, value: String) -> Action {
        Action::Client { client, command: Command::SetR { key, value } }
    }

    /// `getr key` from `client`.
    pub fn getr(client: Addr, key: String) -> Action {
        Action::Client { client, command: Command::GetR { key } }
    }

    /// `lock_get name` from `client`.
    pub fn lock_get(client: Addr, name: String) -> Action {
        Action::Client { client, command: Command::LockGet { name } }
    }

    /// `lock_release name` from `client`.
    pub fn lock_release(client: Addr, name: String) -> Action {
        Action::Client { client, command: Command::LockRelease { name } }
    }
}

impl From<Action> for ActionRecord {
    fn from(action: Action) -> ActionRecord {
        match action {
            Action::AddServer => ActionRecord::AddServer,
            Action::Crash { node } => ActionRecord::Crash { node },
            Action::Restart { node } => ActionRecord::Restart { node },
            Action::Stall { node, ms } => ActionRecord::Stall { node, ms },
            Action::AddClient => ActionRecord::AddClient,
            Action::Client { client, command } => match command {
                Command::SetR { key, value } => ActionRecord::SetR { client, key, value },
                Command::GetR { key } => ActionRecord::GetR { client, key },
                Command::LockGet { name } => ActionRecord::LockGet { client, name },
                Command::LockRelease { name } => ActionRecord::LockRelease { client, name },
                Command::Print { text } => ActionRecord::Print { client, text },
                Command::Set { key, value } => ActionRecord::Set { client, key, value },
                Command::Get { key } => ActionRecord::Get { client, key },
                Command::QueryAllKeys => ActionRecord::QueryAllKeys { client },
                Command::QueryServers => ActionRecord::QueryServers { client },
            },
            Action::Partition { side } => ActionRecord::Partition { side },
            Action::Heal => ActionRecord::Heal,
            Action::SetFaults { faults } => ActionRecord::SetFaults { faults },
            Action::CrashCoordinator { client, tx } => ActionRecord::CrashCoordinator { client, tx },
            Action::CrashInTransaction { client, during, after } => {
                ActionRecord::CrashInTransaction { client, during, after }
            }
        }
    }
}

impl From<ActionRecord> for Action {
    fn from(record: ActionRecord) -> Action {
        match record {
            ActionRecord::AddServer => Action::AddServer,
            ActionRecord::Crash { node } => Action::Crash { node },
            ActionRecord::Restart { node } => Action::Restart { node },
            ActionRecord::Stall { node, ms } => Action::Stall { node, ms },
            ActionRecord::AddClient => Action::AddClient,
            ActionRecord::SetR { client, key, value } => Action::setr(client, key, value),
            ActionRecord::GetR { client, key } => Action::getr(client, key),
            ActionRecord::LockGet { client, name } => Action::lock_get(client, name),
            ActionRecord::LockRelease { client, name } => Action::lock_release(client, name),
            ActionRecord::Print { client, text } => Action::Client { client, command: Command::Print { text } },
            ActionRecord::Set { client, key, value } => Action::Client { client, command: Command::Set { key, value } },
            ActionRecord::Get { client, key } => Action::Client { client, command: Command::Get { key } },
            ActionRecord::QueryAllKeys { client } => Action::Client { client, command: Command::QueryAllKeys },
            ActionRecord::QueryServers { client } => Action::Client { client, command: Command::QueryServers },
            ActionRecord::Partition { side } => Action::Partition { side },
            ActionRecord::Heal => Action::Heal,
            ActionRecord::SetFaults { faults } => Action::SetFaults { faults },
            ActionRecord::CrashCoordinator { client, tx } => Action::CrashCoordinator { client, tx },
            ActionRecord::CrashInTransaction { client, during, after } => {
                Action::CrashInTransaction { client, during, after }
            }
        }
    }
}

tagged_enum! {
    /// An action as it is written down: one flat object tagged by `action`, a client's command
    /// flattened into it. The four client commands the simulator had before there was one
    /// vocabulary keep their tags (`set_r`, `get_r`, `lock_get`, `lock_release`), so every trace
    /// hash, session and share link made since stays valid. Flat, because a nested command would
    /// cost the page a second tagged decoder (about 2 KB of its gzipped wasm).
    #[tag = "action", twin = ActionTwin, decoded_from_value]
    enum ActionRecord {
        /// Start a new server process at the next free address.
        AddServer,
        /// Kill a server process: its memory is gone.
        Crash {
            /// The node.
            node: Addr,
        },
        /// Start a fresh process at a crashed node's address (new id, empty memory).
        Restart {
            /// The node.
            node: Addr,
        },
        /// Pause a node's process for `ms`.
        Stall {
            /// The node.
            node: Addr,
            /// For how long (ms).
            ms: u64,
        },
        /// Start a new client process at the next free address.
        AddClient,
        /// `setr` from a client.
        SetR {
            /// The client.
            client: Addr,
            /// The key.
            key: String,
            /// The value.
            value: String,
        },
        /// `getr` from a client.
        GetR {
            /// The client.
            client: Addr,
            /// The key.
            key: String,
        },
        /// `lock_get` from a client.
        LockGet {
            /// The client.
            client: Addr,
            /// The lock.
            name: String,
        },
        /// `lock_release` from a client.
        LockRelease {
            /// The client.
            client: Addr,
            /// The lock.
            name: String,
        },
        /// `print` from a client.
        Print { client: Addr, text: String },
        /// `set` from a client.
        Set { client: Addr, key: String, value: String },
        /// `get` from a client.
        Get { client: Addr, key: String },
        /// `query_all_keys` from a client.
        QueryAllKeys { client: Addr },
        /// `query_servers` from a client.
        QueryServers { client: Addr },
        /// Cut these nodes off from all others.
        Partition {
            /// One side; every other node is the other side.
            side: Vec<Addr>,
        },
        /// Remove the partition.
        Heal,
        /// Change the network's faults.
        SetFaults {
            /// The new faults.
            faults: Faults,
        },
        /// Crash a client the moment it would send a 2PC decision: it has its votes and has
        /// decided, but no participant ever hears the outcome (the blocking problem).
        CrashCoordinator {
            /// The client.
            client: Addr,
            /// Only this transaction's decision springs the trap (any, if none).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            tx: Option<TxId>,
        },
        /// Crash a client inside its next transaction, after `after` of its messages `during`.
        CrashInTransaction {
            /// The client.
            client: Addr,
            /// Which of its messages the crash cuts.
            during: During,
            /// How many of them get out first.
            after: u32,
        },
    }
}

/// What to do to an in-flight message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", content = "ms", rename_all = "snake_case")]
pub enum Tamper {
    /// Lose it.
    Drop,
    /// Hold it back this many ms more.
    Delay(u64),
    /// Deliver it twice.
    Duplicate,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_four_older_client_actions_keep_their_flat_records() {
        let c1 = Addr::from("c1");
        let cases = [
            (
                Action::setr(c1.clone(), "k".into(), "v".into()),
                json!({"action":"set_r","client":"c1","key":"k","value":"v"}),
            ),
            (Action::getr(c1.clone(), "k".into()), json!({"action":"get_r","client":"c1","key":"k"})),
            (Action::lock_get(c1.clone(), "L".into()), json!({"action":"lock_get","client":"c1","name":"L"})),
            (Action::lock_release(c1.clone(), "L".into()), json!({"action":"lock_release","client":"c1","name":"L"})),
        ];
        for (action, record) in cases {
            assert_eq!(serde_json::to_value(&action).unwrap(), record);
            assert_eq!(serde_json::from_value::<Action>(record).unwrap(), action);
        }
    }

    #[test]
    fn other_commands_are_recorded_flat() {
        let c2 = Addr::from("c2");
        let cases = [
            (Command::QueryServers, json!({"action":"query_servers","client":"c2"})),
            (
                Command::Set { key: "k".into(), value: "v".into() },
                json!({"action":"set","client":"c2","key":"k","value":"v"}),
            ),
            (Command::Print { text: "hi".into() }, json!({"action":"print","client":"c2","text":"hi"})),
        ];
        for (command, record) in cases {
            let action = Action::Client { client: c2.clone(), command };
            assert_eq!(serde_json::to_value(&action).unwrap(), record);
            assert_eq!(serde_json::from_value::<Action>(record).unwrap(), action);
        }
    }

    #[test]
    fn a_crash_coordinator_without_a_tx_leaves_it_out() {
        let action = Action::CrashCoordinator { client: Addr::from("c1"), tx: None };
        assert_eq!(serde_json::to_value(&action).unwrap(), json!({"action":"crash_coordinator","client":"c1"}));
    }

    #[test]
    fn records_decode_from_text_in_any_field_order_and_say_what_is_wrong() {
        let input: crate::session::Input =
            serde_json::from_str(r#"{"action":{"node":"s2","ms":5,"action":"stall"},"input":"act"}"#).unwrap();
        let stall = Action::Stall { node: Addr::from("s2"), ms: 5 };
        assert_eq!(input, crate::session::Input::Act { action: stall });
        let heal: Action = serde_json::from_str(r#"{"action":"heal"}"#).unwrap();
        assert_eq!(heal, Action::Heal);
        let missing = serde_json::from_str::<Action>(r#"{"node":"s2"}"#).unwrap_err().to_string();
        assert!(missing.starts_with("missing field `action`"), "{missing}");
        let unknown = serde_json::from_str::<Action>(r#"{"action":"explode"}"#).unwrap_err().to_string();
        assert!(unknown.starts_with("unknown variant `explode`"), "{unknown}");
    }
}
