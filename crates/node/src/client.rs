//! `ringside client`: one command against a cluster, run by the core's client (and 2PC
//! coordinator) in a shell, with the answer printed in words or as JSON.

use std::time::Duration;

use ringside_core::{Addr, Client, ClientConfig, Command, Event, OpError, OpOutput};
use serde_json::json;

use crate::cli::ClientArgs;
use crate::net::NetConfig;
use crate::shell::{Shell, Turn};
use crate::wire::CLIENT_MAX_FRAME;
use crate::NodeError;

/// How long a finished command waits for its connections' close frames to go out.
const CLOSE_PATIENCE: Duration = Duration::from_millis(500);

/// Runs one command; `Err` carries the one-line reason and makes the exit code non-zero.
pub async fn run(args: ClientArgs) -> Result<(), NodeError> {
    let view_leaders = args.viewleader.0.clone();
    let server = Addr(args.server.clone());
    let key = args.key.resolve()?;
    let mut config = ClientConfig::new(view_leaders[0].clone(), crate::fresh_seed());
    config.view_leaders = view_leaders.clone();
    config.secret_key = crate::fresh_secret();
    config.rpc_timeout_ms = args.timeout_ms;
    config.max_attempts = args.attempts;
    config.lock_retry_ms = args.lock_retry_ms;
    config.replicas = usize::from(args.placement.replicas);
    config.vnodes = args.placement.vnodes;
    config.name = args.command.requester().map(str::to_owned);
    let net = NetConfig { local: None, max_frame: CLIENT_MAX_FRAME, watch: None, key };
    let mut shell = Shell::new(net, |now| Client::new(config, now));
    let now = shell.now();
    let command = args.command.command();
    let op = command.apply(&mut shell.node, now, Some(&server)).map_err(|e| NodeError::new(e.to_string()))?;
    // The peer this command talks to first: if it cannot be reached at all, say so at once
    // rather than after every retry (with replicas, the next one is tried instead).
    let target = match (command.needs_server(), view_leaders.as_slice()) {
        (true, _) => Some(server),
        (false, [lone]) => Some(lone.clone()),
        (false, _) => None,
    };
    let mut turn = Turn::default();
    shell.drain(None, &mut turn);
    loop {
        if let Some((addr, reason)) = turn.unreachable.iter().find(|(addr, _)| Some(addr) == target.as_ref()) {
            return Err(NodeError::new(format!("cannot reach {addr}: {reason}")));
        }
        for event in turn.events {
            match event {
                Event::OpDone { op: done, result } if done == op => {
                    let reported = report(&args, &command, &result);
                    // A write returns once a majority applied it; the rest are still being
                    // told, and this process is their coordinator.
                    while !shell.node.idle() && shell.turn().await.is_some() {}
                    shell.close(CLOSE_PATIENCE).await;
                    reported?;
                    return result.map(drop).map_err(|_| NodeError::quiet());
                }
                Event::LockWaiting { name, position, .. } => eprintln!(
                    "lock {name} is held by another: waiting, place {position} in the queue (asking again every {} ms)",
                    args.lock_retry_ms
                ),
                Event::OpRetrying { attempt, reason, .. } => {
                    eprintln!("retrying (attempt {attempt} of {}): {reason}", args.attempts)
                }
                _ => {}
            }
        }
        turn = shell.turn().await.ok_or_else(|| NodeError::new("the network stopped"))?;
    }
}

/// Prints the result; an error in words is the failure's reason (printed by the caller).
fn report(args: &ClientArgs, command: &Command, result: &Result<OpOutput, OpError>) -> Result<(), NodeError> {
    if args.json {
        let line = match result {
            Ok(output) => json!({ "ok": true, "result": output }),
            Err(error) => json!({ "ok": false, "error": error, "message": error.to_string() }),
        };
        println!("{line}");
        return Ok(());
    }
    let output = result.as_ref().map_err(|e| NodeError::new(e.to_string()))?;
    println!("{}", words(command, args.command.requester(), output));
    Ok(())
}

/// The answer in words.
fn words(command: &Command, requester: Option<&str>, output: &OpOutput) -> String {
    let requester = requester.unwrap_or_default();
    match (command, output) {
        (Command::Get { key } | Command::GetR { key }, OpOutput::Value { value, version }) => match version {
            Some(v) => format!("{key} = {value} (version {v})"),
            None => format!("{key} = {value}"),
        },
        (Command::SetR { key, value }, OpOutput::Written { version }) => {
            format!("{key} = {value} committed at version {version}")
        }
        (_, OpOutput::Keys { keys }) if keys.is_empty() => "no keys".into(),
        (_, OpOutput::Keys { keys }) => keys.join("\n"),
        (_, OpOutput::Servers { epoch, servers, rebalancing }) => {
            let state = if *rebalancing { "rebalancing under way" } else { "rebalancing done" };
            let mut text = format!("epoch {epoch}, {} server(s), {state}", servers.len());
            for m in servers {
                text.push_str(&format!("\n  {}  {}", m.id, m.addr));
            }
            text
        }
        (Command::LockGet { name }, OpOutput::Granted) => {
            format!("lock {name} granted to {requester}")
        }
        (Command::LockRelease { name }, OpOutput::Released { next_holder: Some(next) }) => {
            format!("released lock {name}; {next} holds it now")
        }
        (Command::LockRelease { name }, OpOutput::Released { next_holder: None }) => {
            format!("released lock {name}; nobody was waiting")
        }
        (Command::LockRelease { name }, OpOutput::LeftQueue) => {
            format!("{requester} left the queue of lock {name}")
        }
        (_, OpOutput::Done) => "ok".into(),
        (_, other) => other.to_string(),
    }
}
