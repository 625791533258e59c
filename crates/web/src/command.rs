//! The page's commands, typed: every button names one in `data-cmd` (with its argument in
//! `data-arg`), and [`PageCmd::parse`] reads it once; `dispatch` then routes it by mode.
//! Plain Rust, tested natively.
//!
//! A client's command is core's [`Command`], the vocabulary the command line and the simulator
//! share: the same on a simulated client and on the page's own client of a live cluster (and
//! what a simulator run's actions re-run as).

use ringside_core::{Addr, Command, TxId};
use ringside_sim::{Action, Tamper};

use crate::app::Focus;

/// Delay given to a message by the "delay" button (virtual ms).
const DELAY_MS: u64 = 200;

/// Refuses a client's command with an empty argument, before a client is picked for it.
pub fn check(cmd: &Command) -> Result<(), String> {
    let empty = match cmd {
        Command::SetR { key, .. } | Command::GetR { key } if key.is_empty() => "key",
        Command::SetR { value, .. } if value.is_empty() => "value",
        Command::LockGet { name } | Command::LockRelease { name } if name.is_empty() => "lock name",
        _ => return Ok(()),
    };
    Err(format!("the {empty} is empty"))
}

/// The command a simulator action gives its client; the action back if it is no client's
/// command.
pub fn of_action(action: Action) -> Result<Command, Action> {
    match action {
        Action::Client { command, .. } => Ok(command),
        other => Err(other),
    }
}

/// A command of the page.
#[derive(Clone, Debug, PartialEq)]
pub enum PageCmd {
    /// Connects to the cluster the live fields name.
    Connect,
    /// Leaves the live cluster or the replay for the simulator.
    Disconnect,
    /// A client's command (the simulator's chosen client, or the page's own on a live cluster).
    Client(Command),
    /// Handles the next event (or reads the next record of a replay).
    Step,
    /// Takes the last event (or record) back.
    Back,
    /// Plays or pauses.
    Play,
    /// Starts another server.
    AddServer,
    /// Starts another client.
    AddClient,
    /// Writes the number of keys the load field says, spread over the clients.
    Load,
    /// Starts over with the setup the fields say.
    Reset,
    /// Arms a client to crash the moment it would send a decision (for one transaction, or any);
    /// without a client named, the one picked in the controls.
    Trap {
        /// The client.
        client: Option<Addr>,
        /// The transaction.
        tx: Option<TxId>,
    },
    /// Crashes (on a live cluster: kills) a node.
    Crash(Addr),
    /// Starts a fresh process where a crashed one was.
    Restart(Addr),
    /// Cuts the ticked nodes off from the others.
    Cut,
    /// Heals the partition.
    Heal,
    /// Drops, delays or duplicates a message in flight.
    Tamper {
        /// The message.
        id: u64,
        /// What to do to it.
        how: Tamper,
    },
    /// Selects a node, a key or a message (or nothing).
    Select(Option<Focus>),
    /// Performs the lesson's next step.
    LessonNext,
    /// Answers the next step's question (by choice), then plays the step.
    LessonAnswer(usize),
    /// Starts a lesson (by index).
    LessonStart(usize),
    /// Puts the run in the address bar.
    Share,
    /// Downloads the run.
    Export,
    /// Plays the imported simulator run's actions on the live cluster.
    Rerun,
}

impl PageCmd {
    /// Reads a button's command and argument; `field` gives the text of the form's fields a
    /// client's command takes its arguments from (`key`, `value`, `lock`).
    pub fn parse(cmd: &str, arg: &str, field: &dyn Fn(&str) -> String) -> Result<PageCmd, String> {
        Ok(match cmd {
            "connect" => PageCmd::Connect,
            "disconnect" => PageCmd::Disconnect,
            "setr" | "getr" | "lock-get" | "lock-release" => {
                // The form's fields, in the order the command takes its arguments.
                let fields: &[&str] = match cmd {
                    "setr" => &["key", "value"],
                    "getr" => &["key"],
                    _ => &["lock"],
                };
                let args: Vec<String> = fields.iter().map(|f| field(f)).collect();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                PageCmd::Client(Command::parse(cmd, &args).map_err(|e| e.to_string())?)
            }
            "step" => PageCmd::Step,
            "back" => PageCmd::Back,
            "play" => PageCmd::Play,
            "add-server" => PageCmd::AddServer,
            "add-client" => PageCmd::AddClient,
            "load" => PageCmd::Load,
            "reset" => PageCmd::Reset,
            "trap" => trap(arg)?,
            "crash" => PageCmd::Crash(Addr(arg.to_string())),
            "restart" => PageCmd::Restart(Addr(arg.to_string())),
            "cut" => PageCmd::Cut,
            "heal" => PageCmd::Heal,
            "drop" | "delay" | "duplicate" => {
                let id: u64 = arg.parse().map_err(|_| format!("no message “{arg}”"))?;
                let how = match cmd {
                    "drop" => Tamper::Drop,
                    "delay" => Tamper::Delay(DELAY_MS),
                    _ => Tamper::Duplicate,
                };
                PageCmd::Tamper { id, how }
            }
            "select" => PageCmd::Select(Focus::parse(arg)),
            "lesson-next" => PageCmd::LessonNext,
            "lesson-answer" => PageCmd::LessonAnswer(arg.parse().map_err(|_| format!("no answer {arg:?}"))?),
            "lesson-start" => PageCmd::LessonStart(arg.parse().map_err(|_| format!("no lesson {arg:?}"))?),
            "share" => PageCmd::Share,
            "export" => PageCmd::Export,
            "rerun" => PageCmd::Rerun,
            other => return Err(format!("unknown command “{other}”")),
        })
    }

    /// The command's name, as its button says it in `data-cmd`.
    pub fn name(&self) -> &'static str {
        match self {
            PageCmd::Connect => "connect",
            PageCmd::Disconnect => "disconnect",
            PageCmd::Client(Command::LockGet { .. }) => "lock-get",
            PageCmd::Client(Command::LockRelease { .. }) => "lock-release",
            PageCmd::Client(command) => command.name(),
            PageCmd::Step => "step",
            PageCmd::Back => "back",
            PageCmd::Play => "play",
            PageCmd::AddServer => "add-server",
            PageCmd::AddClient => "add-client",
            PageCmd::Load => "load",
            PageCmd::Reset => "reset",
            PageCmd::Trap { .. } => "trap",
            PageCmd::Crash(_) => "crash",
            PageCmd::Restart(_) => "restart",
            PageCmd::Cut => "cut",
            PageCmd::Heal => "heal",
            PageCmd::Tamper { how: Tamper::Drop, .. } => "drop",
            PageCmd::Tamper { how: Tamper::Delay(_), .. } => "delay",
            PageCmd::Tamper { how: Tamper::Duplicate, .. } => "duplicate",
            PageCmd::Select(_) => "select",
            PageCmd::LessonNext => "lesson-next",
            PageCmd::LessonAnswer(_) => "lesson-answer",
            PageCmd::LessonStart(_) => "lesson-start",
            PageCmd::Share => "share",
            PageCmd::Export => "export",
            PageCmd::Rerun => "rerun",
        }
    }
}

/// `client` or `client|tx client|tx seq` for one transaction; an empty client is the one
/// picked in the controls.
fn trap(arg: &str) -> Result<PageCmd, String> {
    let mut parts = arg.split('|');
    let client = parts.next().filter(|c| !c.is_empty()).map(|c| Addr(c.to_string()));
    let tx = match (parts.next(), parts.next()) {
        (Some(c), Some(seq)) => match (c.parse(), seq.parse()) {
            (Ok(client), Ok(seq)) => Some(TxId { client, seq }),
            _ => return Err(format!("bad transaction “{arg}”")),
        },
        _ => None,
    };
    Ok(PageCmd::Trap { client, tx })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 28] = [
        "connect",
        "disconnect",
        "setr",
        "getr",
        "lock-get",
        "lock-release",
        "step",
        "back",
        "play",
        "add-server",
        "add-client",
        "load",
        "reset",
        "trap",
        "crash",
        "restart",
        "cut",
        "heal",
        "drop",
        "delay",
        "duplicate",
        "select",
        "lesson-next",
        "lesson-answer",
        "lesson-start",
        "share",
        "export",
        "rerun",
    ];

    #[test]
    fn every_command_parses_back_to_its_name() {
        for name in NAMES {
            let cmd = PageCmd::parse(name, "7", &|_| String::new()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(cmd.name(), name);
        }
        assert_eq!(PageCmd::parse("nope", "", &|_| String::new()), Err("unknown command “nope”".into()));
    }

    #[test]
    fn arguments_come_from_the_button_and_the_form() {
        let form = &|id: &str| format!("<{id}>");
        assert_eq!(
            PageCmd::parse("setr", "", form),
            Ok(PageCmd::Client(Command::SetR { key: "<key>".into(), value: "<value>".into() }))
        );
        assert_eq!(
            PageCmd::parse("lock-release", "", form),
            Ok(PageCmd::Client(Command::LockRelease { name: "<lock>".into() }))
        );
        assert_eq!(PageCmd::parse("delay", "12", form), Ok(PageCmd::Tamper { id: 12, how: Tamper::Delay(DELAY_MS) }));
        assert!(PageCmd::parse("drop", "x", form).unwrap_err().contains("no message"));
        assert_eq!(PageCmd::parse("select", "key:x", form), Ok(PageCmd::Select(Some(Focus::Key("x".into())))));
        assert_eq!(PageCmd::parse("trap", "", form), Ok(PageCmd::Trap { client: None, tx: None }));
        assert_eq!(
            PageCmd::parse("trap", "c2|2|5", form),
            Ok(PageCmd::Trap { client: Some(Addr::from("c2")), tx: Some(TxId { client: 2, seq: 5 }) })
        );
        assert!(PageCmd::parse("trap", "c2|x|5", form).unwrap_err().contains("bad transaction"));
    }

    #[test]
    fn a_client_command_with_an_empty_argument_is_refused() {
        let setr = |key: &str, value: &str| Command::SetR { key: key.into(), value: value.into() };
        assert_eq!(check(&setr("", "")), Err("the key is empty".into()));
        assert_eq!(check(&setr("k", "")), Err("the value is empty".into()));
        assert_eq!(check(&setr("k", "v")), Ok(()));
        assert_eq!(check(&Command::GetR { key: String::new() }), Err("the key is empty".into()));
        assert_eq!(check(&Command::LockGet { name: String::new() }), Err("the lock name is empty".into()));
    }

    #[test]
    fn a_client_command_is_the_action_it_re_runs_as() {
        let command = Command::SetR { key: "k".into(), value: "v".into() };
        let action = Action::Client { client: Addr::from("c1"), command: command.clone() };
        assert_eq!(of_action(action), Ok(command));
        assert_eq!(of_action(Action::AddServer), Err(Action::AddServer));
    }
}
