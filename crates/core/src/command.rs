//! The client's commands as one vocabulary, for every front-end: the command line, the
//! simulator's actions and the page's buttons parse into a [`Command`] and [`apply`](Command::apply)
//! it to a [`Client`].
//!
//! In words a command reads as the course writes it (`setr apple red`, `lock_get atm`); as a
//! record it is a JSON object tagged by `command`, with its arguments as fields:
//! `{"command":"setr","key":"apple","value":"red"}`, `{"command":"query_servers"}`.
//! A lock's requester is not part of the command: it is the client's name
//! ([`ClientConfig::name`](crate::ClientConfig::name)).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::ClientError;
use crate::id::{Addr, OpId};
use crate::time::Time;

/// A client command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// `print text`: make one server log the text.
    Print {
        /// The text.
        text: String,
    },
    /// `set key value` on one server only (no replication).
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// `get key` from one server only.
    Get {
        /// The key.
        key: String,
    },
    /// `query_all_keys`: the keys one server holds.
    QueryAllKeys,
    /// `query_servers`: the view from the view leader.
    QueryServers,
    /// `setr key value`: a replicated write by two-phase commit.
    #[serde(rename = "setr")]
    SetR {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// `getr key`: the newest committed value among the key's replicas.
    #[serde(rename = "getr")]
    GetR {
        /// The key.
        key: String,
    },
    /// `lock_get name`: take the lock, waiting in its queue while another holds it.
    LockGet {
        /// The lock.
        name: String,
    },
    /// `lock_release name`: give the lock back, or leave its queue.
    LockRelease {
        /// The lock.
        name: String,
    },
}

/// Why a command could not be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// A local RPC (`print`, `set`, `get`, `query_all_keys`) was given no server to ask.
    NoServer {
        /// The command's name.
        command: &'static str,
    },
    /// The client refused the command (an empty key or lock name).
    Client(ClientError),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::NoServer { command } => write!(f, "{command} needs a server to ask"),
            CommandError::Client(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for CommandError {}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        CommandError::Client(e)
    }
}

/// Why a command's words could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No command has this name.
    UnknownCommand {
        /// The name given.
        name: String,
    },
    /// The command takes other arguments.
    WrongArguments {
        /// The command's name.
        command: &'static str,
        /// How it is written, e.g. `setr KEY VALUE`.
        usage: &'static str,
        /// How many arguments were given.
        given: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnknownCommand { name } => write!(f, "unknown command {name:?}"),
            ParseError::WrongArguments { command, usage, given } => {
                write!(f, "{command} takes `{usage}`, not {given} argument{}", if *given == 1 { "" } else { "s" })
            }
        }
    }
}

impl core::error::Error for ParseError {}

impl Command {
    /// Every command's name, as [`parse`](Self::parse) takes it and `Display` writes it.
    pub const NAMES: [&'static str; 9] =
        ["print", "set", "get", "query_all_keys", "query_servers", "setr", "getr", "lock_get", "lock_release"];

    /// The command's name in the course's words (`setr`, `lock_get`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Print { .. } => "print",
            Command::Set { .. } => "set",
            Command::Get { .. } => "get",
            Command::QueryAllKeys => "query_all_keys",
            Command::QueryServers => "query_servers",
            Command::SetR { .. } => "setr",
            Command::GetR { .. } => "getr",
            Command::LockGet { .. } => "lock_get",
            Command::LockRelease { .. } => "lock_release",
        }
    }

    /// Whether the command is a local RPC to one server rather than a request to the view
    /// leader or the key's replicas.
    pub fn needs_server(&self) -> bool {
        matches!(self, Command::Print { .. } | Command::Set { .. } | Command::Get { .. } | Command::QueryAllKeys)
    }

    /// A command from its name and arguments, as a text front-end has them (a typed line
    /// split at spaces, or a button's `data-cmd` and its fields). Names are taken with `_` or
    /// `-` between words (`lock_get`, `lock-get`); `print` joins all its arguments with spaces.
    pub fn parse(name: &str, args: &[&str]) -> Result<Command, ParseError> {
        let normal: String = name.chars().map(|c| if c == '-' { '_' } else { c }).collect();
        let Some(&command) = Self::NAMES.iter().find(|n| **n == normal) else {
            return Err(ParseError::UnknownCommand { name: name.to_string() });
        };
        let (usage, count) = match command {
            "print" => ("print TEXT", args.len().max(1)),
            "set" | "setr" => (if command == "set" { "set KEY VALUE" } else { "setr KEY VALUE" }, 2),
            "get" => ("get KEY", 1),
            "getr" => ("getr KEY", 1),
            "lock_get" => ("lock_get NAME", 1),
            "lock_release" => ("lock_release NAME", 1),
            "query_all_keys" => ("query_all_keys", 0),
            _ => ("query_servers", 0),
        };
        if args.len() != count {
            return Err(ParseError::WrongArguments { command, usage, given: args.len() });
        }
        let arg = |i: usize| args[i].to_string();
        Ok(match command {
            "print" => Command::Print { text: args.join(" ") },
            "set" => Command::Set { key: arg(0), value: arg(1) },
            "get" => Command::Get { key: arg(0) },
            "query_all_keys" => Command::QueryAllKeys,
            "query_servers" => Command::QueryServers,
            "setr" => Command::SetR { key: arg(0), value: arg(1) },
            "getr" => Command::GetR { key: arg(0) },
            "lock_get" => Command::LockGet { name: arg(0) },
            _ => Command::LockRelease { name: arg(0) },
        })
    }

    /// Issues the command on `client`; local RPCs go to `server`. The result arrives later as
    /// [`Event::OpDone`](crate::Event::OpDone) for the returned operation.
    pub fn apply(&self, client: &mut Client, now: Time, server: Option<&Addr>) -> Result<OpId, CommandError> {
        let server = || server.cloned().ok_or(CommandError::NoServer { command: self.name() });
        Ok(match self {
            Command::Print { text } => client.print(now, server()?, text.clone()),
            Command::Set { key, value } => client.set(now, server()?, key.clone(), value.clone())?,
            Command::Get { key } => client.get(now, server()?, key.clone())?,
            Command::QueryAllKeys => client.query_all_keys(now, server()?),
            Command::QueryServers => client.query_servers(now),
            Command::SetR { key, value } => client.setr(now, key.clone(), value.clone())?,
            Command::GetR { key } => client.getr(now, key.clone())?,
            Command::LockGet { name } => client.lock_get(now, name.clone())?,
            Command::LockRelease { name } => client.lock_release(now, name.clone())?,
        })
    }

    /// The command's arguments, in order.
    fn args(&self) -> Vec<&str> {
        match self {
            Command::Print { text } => Vec::from([text.as_str()]),
            Command::Set { key, value } | Command::SetR { key, value } => Vec::from([key.as_str(), value.as_str()]),
            Command::Get { key } | Command::GetR { key } => Vec::from([key.as_str()]),
            Command::LockGet { name } | Command::LockRelease { name } => Vec::from([name.as_str()]),
            Command::QueryAllKeys | Command::QueryServers => Vec::new(),
        }
    }
}

/// The command as a user would type it: `setr apple red`.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        for arg in self.args() {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::vec;

    use super::*;
    use crate::msg::{Msg, Transmit};
    use crate::testing::drain;
    use crate::ClientConfig;

    fn all() -> Vec<Command> {
        let s = |x: &str| x.to_string();
        vec![
            Command::Print { text: s("hello world") },
            Command::Set { key: s("k"), value: s("v") },
            Command::Get { key: s("k") },
            Command::QueryAllKeys,
            Command::QueryServers,
            Command::SetR { key: s("apple"), value: s("red") },
            Command::GetR { key: s("apple") },
            Command::LockGet { name: s("atm") },
            Command::LockRelease { name: s("atm") },
        ]
    }

    #[test]
    fn display_writes_the_command_as_typed_and_parse_reads_it_back() {
        let typed: Vec<String> = all().iter().map(|c| c.to_string()).collect();
        assert_eq!(
            typed,
            [
                "print hello world",
                "set k v",
                "get k",
                "query_all_keys",
                "query_servers",
                "setr apple red",
                "getr apple",
                "lock_get atm",
                "lock_release atm",
            ]
        );
        for (command, line) in all().into_iter().zip(&typed) {
            let words: Vec<&str> = line.split(' ').collect();
            assert_eq!(Command::parse(words[0], &words[1..]), Ok(command), "{line}");
        }
    }

    #[test]
    fn parse_takes_the_pages_dashed_names() {
        assert_eq!(Command::parse("lock-get", &["atm"]), Ok(Command::LockGet { name: "atm".into() }));
        assert_eq!(Command::parse("lock-release", &["atm"]), Ok(Command::LockRelease { name: "atm".into() }));
        assert_eq!(Command::parse("query-servers", &[]), Ok(Command::QueryServers));
    }

    #[test]
    fn parse_refuses_unknown_names_and_wrong_argument_counts() {
        assert_eq!(Command::parse("sett", &["k"]), Err(ParseError::UnknownCommand { name: "sett".into() }));
        let wrong = Command::parse("setr", &["k"]).unwrap_err();
        assert_eq!(wrong, ParseError::WrongArguments { command: "setr", usage: "setr KEY VALUE", given: 1 });
        assert_eq!(format!("{wrong}"), "setr takes `setr KEY VALUE`, not 1 argument");
        assert!(matches!(Command::parse("getr", &[]), Err(ParseError::WrongArguments { given: 0, .. })));
        assert!(matches!(Command::parse("query_servers", &["x"]), Err(ParseError::WrongArguments { given: 1, .. })));
        assert!(matches!(Command::parse("print", &[]), Err(ParseError::WrongArguments { given: 0, .. })));
    }

    #[test]
    fn the_record_is_tagged_by_command() {
        let setr = Command::SetR { key: "apple".into(), value: "red".into() };
        let json = serde_json::to_string(&setr).unwrap();
        assert_eq!(json, r#"{"command":"setr","key":"apple","value":"red"}"#);
        assert_eq!(serde_json::to_string(&Command::QueryServers).unwrap(), r#"{"command":"query_servers"}"#);
        for command in all() {
            let json = serde_json::to_string(&command).unwrap();
            assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), command, "{json}");
        }
    }

    #[test]
    fn apply_issues_the_command_on_the_client() {
        let vl = Addr::from("vl");
        let server = Addr::from("s1");
        let config = ClientConfig { name: Some("cl".into()), ..ClientConfig::new(vl.clone(), 1) };
        let mut client = Client::new(config, Time(0));
        let get = Command::Get { key: "k".into() }.apply(&mut client, Time(0), Some(&server)).unwrap();
        let lock = Command::LockGet { name: "atm".into() }.apply(&mut client, Time(0), None).unwrap();
        let (sent, _) = drain(&mut client);
        // The client's random id, the first draw from its seed, is its session.
        let session = crate::rng::Rng::new(1).next_u64();
        assert_eq!(
            sent,
            vec![
                Transmit { to: server, msg: Msg::Get { op: get, key: "k".into() } },
                Transmit {
                    to: vl,
                    msg: Msg::LockGet { op: lock, name: "atm".into(), requester: "cl".into(), session }
                },
            ]
        );
    }

    #[test]
    fn apply_needs_a_server_for_local_rpcs_and_passes_the_clients_refusals_on() {
        let mut client = Client::new(ClientConfig::new(Addr::from("vl"), 1), Time(0));
        assert_eq!(
            Command::QueryAllKeys.apply(&mut client, Time(0), None),
            Err(CommandError::NoServer { command: "query_all_keys" })
        );
        assert_eq!(
            Command::SetR { key: String::new(), value: "v".into() }.apply(&mut client, Time(0), None),
            Err(CommandError::Client(ClientError::EmptyKey))
        );
        assert_eq!(drain(&mut client), (vec![], vec![]));
        assert_eq!(format!("{}", CommandError::NoServer { command: "get" }), "get needs a server to ask");
    }
}
