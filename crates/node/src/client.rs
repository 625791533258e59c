//! `ringside client`: one command against a cluster, run by the core's client (and 2PC
//! coordinator) in a shell, with the answer printed in words or as JSON.

use ringside_core::{Addr, Client, ClientConfig, ClientError, Event, OpError, OpId, OpOutput, Time};
use serde_json::json;

use crate::cli::{ClientArgs, ClientCommand};
use crate::net::NetConfig;
use crate::shell::{Shell, Turn};
use crate::wire::CLIENT_MAX_FRAME;
use crate::CommandError;

/// Runs one command; `Err` carries the one-line reason and makes the exit code non-zero.
pub async fn run(args: ClientArgs) -> Result<(), CommandError> {
    let view_leader = Addr(args.viewleader.clone());
    let server = Addr(args.server.clone());
    let mut config = ClientConfig::new(view_leader.clone(), crate::fresh_seed());
    config.rpc_timeout_ms = args.timeout_ms;
    config.max_attempts = args.attempts;
    config.lock_retry_ms = args.lock_retry_ms;
    config.replicas = usize::from(args.placement.replicas);
    config.vnodes = args.placement.vnodes;
    if let ClientCommand::LockGet { requester, .. } | ClientCommand::LockRelease { requester, .. } = &args.command {
        config.name = Some(requester.clone());
    }
    let mut shell =
        Shell::new(NetConfig { local: None, max_frame: CLIENT_MAX_FRAME, watch: None }, |now| Client::new(config, now));
    let now = shell.now();
    let op =
        issue(&mut shell.node, now, &args.command, server.clone()).map_err(|e| CommandError::new(e.to_string()))?;
    // The peer this command talks to first: if it cannot be reached at all, say so at once
    // rather than after every retry.
    let target = match args.command {
        ClientCommand::Print { .. }
        | ClientCommand::Set { .. }
        | ClientCommand::Get { .. }
        | ClientCommand::QueryAllKeys => server,
        _ => view_leader,
    };
    let mut turn = Turn::default();
    shell.drain(None, &mut turn);
    loop {
        if let Some((addr, reason)) = turn.unreachable.iter().find(|(addr, _)| *addr == target) {
            return Err(CommandError::new(format!("cannot reach {addr}: {reason}")));
        }
        for event in turn.events {
            match event {
                Event::OpDone { op: done, result } if done == op => {
                    report(&args, &result)?;
                    // A write returns once a majority applied it; the rest are still being
                    // told, and this process is their coordinator.
                    while !shell.node.idle() && shell.turn().await.is_some() {}
                    return result.map(drop).map_err(|_| CommandError::quiet());
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
        turn = shell.turn().await.ok_or_else(|| CommandError::new("the network stopped"))?;
    }
}

fn issue(client: &mut Client, now: Time, command: &ClientCommand, server: Addr) -> Result<OpId, ClientError> {
    Ok(match command.clone() {
        ClientCommand::Print { text } => client.print(now, server, text),
        ClientCommand::Set { key, value } => client.set(now, server, key, value)?,
        ClientCommand::Get { key } => client.get(now, server, key)?,
        ClientCommand::QueryAllKeys => client.query_all_keys(now, server),
        ClientCommand::QueryServers => client.query_servers(now),
        ClientCommand::LockGet { name, .. } => client.lock_get(now, name)?,
        ClientCommand::LockRelease { name, .. } => client.lock_release(now, name)?,
        ClientCommand::Setr { key, value } => client.setr(now, key, value)?,
        ClientCommand::Getr { key } => client.getr(now, key)?,
    })
}

/// Prints the result; an error in words is the failure's reason (printed by the caller).
fn report(args: &ClientArgs, result: &Result<OpOutput, OpError>) -> Result<(), CommandError> {
    if args.json {
        let line = match result {
            Ok(output) => json!({ "ok": true, "result": output }),
            Err(error) => json!({ "ok": false, "error": error, "message": error.to_string() }),
        };
        println!("{line}");
        return Ok(());
    }
    let output = result.as_ref().map_err(|e| CommandError::new(e.to_string()))?;
    println!("{}", words(&args.command, output));
    Ok(())
}

/// The answer in words.
fn words(command: &ClientCommand, output: &OpOutput) -> String {
    match (command, output) {
        (ClientCommand::Get { key } | ClientCommand::Getr { key }, OpOutput::Value { value, version }) => match version
        {
            Some(v) => format!("{key} = {value} (version {v})"),
            None => format!("{key} = {value}"),
        },
        (ClientCommand::Setr { key, value }, OpOutput::Written { version }) => {
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
        (ClientCommand::LockGet { name, requester }, OpOutput::Granted) => {
            format!("lock {name} granted to {requester}")
        }
        (ClientCommand::LockRelease { name, .. }, OpOutput::Released { next_holder: Some(next) }) => {
            format!("released lock {name}; {next} holds it now")
        }
        (ClientCommand::LockRelease { name, .. }, OpOutput::Released { next_holder: None }) => {
            format!("released lock {name}; nobody was waiting")
        }
        (ClientCommand::LockRelease { name, requester }, OpOutput::LeftQueue) => {
            format!("{requester} left the queue of lock {name}")
        }
        (_, OpOutput::Done) => "ok".into(),
        (_, other) => format!("{other:?}"),
    }
}
