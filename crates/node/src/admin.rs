//! The admin endpoint of `ringside cluster`: a WebSocket on 127.0.0.1 through which the page
//! adds, kills and lists servers.
//!
//! Only loopback, and only with the run's token in the handshake's URI
//! (`ws://127.0.0.1:39100/admin?token=...`): anything on this machine can reach a loopback
//! port, and the token is what keeps another user's process (or a web page in the browser)
//! from killing servers. Commands and replies are JSON text frames:
//!
//! ```json
//! {"id":1,"cmd":"list"}
//! {"re":1,"ok":true,"viewleader":"127.0.0.1:39000","servers":[{"label":"s1","addr":"127.0.0.1:38000","id":"bb4733cd","state":"running"}]}
//! ```
//!
//! Connection tasks hand each command to the cluster's one loop (the one that also reads stdin)
//! with a oneshot for the answer, so both drive the same cluster, one command at a time.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::cli::ListenArgs;
use crate::key::KeyArgs;
use crate::net::websocket_config;
use crate::upgrade;
use crate::NodeError;

/// The largest command accepted (bytes); a larger frame closes the connection.
pub const MAX_FRAME: usize = 64 * 1024;
const FIRST_PORT: u16 = 39100;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the admin endpoint can be asked.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum AdminCommand {
    /// Every server started, killed ones included.
    List,
    /// Start one more server.
    Add,
    /// kill -9 the server with this label or id, or the view-leader replica with this label.
    Kill {
        /// `s2`, a server id, or `vl2`.
        server: String,
    },
    /// Start a killed view-leader replica again, from its disk.
    Restart {
        /// `vl2`.
        server: String,
    },
}

/// One server, as replies show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListedServer {
    /// `s1`, `s2`, …
    pub label: String,
    /// Where it listens.
    pub addr: String,
    /// Its id, once it said.
    pub id: Option<String>,
    /// `running`, `killed`, or `exited` (on its own).
    pub state: &'static str,
}

/// What the cluster answers a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// `list`.
    List {
        /// The view leader's address.
        viewleader: String,
        /// Every server.
        servers: Vec<ListedServer>,
    },
    /// `add` and `kill`: the server concerned.
    Server {
        /// The server.
        server: ListedServer,
    },
    /// The command failed.
    Error {
        /// Why, in one line.
        error: String,
    },
}

/// A command on its way to the cluster's loop, with where the answer goes.
pub type Ask = (AdminCommand, oneshot::Sender<Answer>);

/// A reply frame's text: `re` is the command's `id`, `null` when it had no readable one.
pub fn reply(re: Option<u64>, answer: Answer) -> String {
    #[derive(Serialize)]
    struct Reply {
        re: Option<u64>,
        ok: bool,
        #[serde(flatten)]
        answer: Answer,
    }
    let ok = !matches!(answer, Answer::Error { .. });
    serde_json::to_string(&Reply { re, ok, answer }).expect("a reply always serializes")
}

/// A fresh token for this run: 32 lowercase hex digits from the OS's randomness.
pub fn token() -> String {
    format!("{:032x}", crate::fresh_secret())
}

/// Binds 127.0.0.1 on `port`, or on the first free port from 39100 up.
pub async fn bind(port: Option<u16>) -> Result<(TcpListener, SocketAddr), NodeError> {
    let listen = ListenArgs {
        listen: Ipv4Addr::LOCALHOST.into(),
        port,
        advertise: None,
        max_frame: MAX_FRAME,
        lifeline: false,
        key: KeyArgs::default(),
    };
    let (listener, _) = crate::serve::bind(&listen, FIRST_PORT).await?;
    let addr = listener.local_addr().map_err(|e| NodeError::new(format!("cannot read the admin address: {e}")))?;
    Ok((listener, addr))
}

/// Accepts admin connections for as long as the cluster runs; `say` prints a line.
pub fn serve(listener: TcpListener, token: String, commands: mpsc::Sender<Ask>, say: fn(&str)) {
    let token: Arc<str> = token.into();
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    tokio::spawn(connection(stream, remote, Arc::clone(&token), commands.clone(), say));
                }
                Err(e) => {
                    say(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
}

/// Why a handshake's URI does not carry `token`, if it does not.
fn refusal(request: &Request, token: &str) -> Option<&'static str> {
    let given = request.uri().query().unwrap_or_default().split('&').find_map(|pair| pair.strip_prefix("token="));
    match given {
        None => Some("no token"),
        Some(given) if !crate::key::same(given.as_bytes(), token.as_bytes()) => Some("wrong token"),
        Some(_) => None,
    }
}

async fn connection(
    mut stream: TcpStream,
    remote: SocketAddr,
    token: Arc<str>,
    commands: mpsc::Sender<Ask>,
    say: fn(&str),
) {
    let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    if !upgrade::screen(&mut stream, HANDSHAKE_TIMEOUT).await {
        return say(&format!("answered {remote}'s HTTP request that was not a WebSocket upgrade with 426"));
    }
    let mut refused = None;
    // The signature is tungstenite's handshake callback, large error type and all.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        match refusal(request, &token) {
            None => Ok(response),
            Some(reason) => {
                refused = Some(reason);
                let mut forbidden =
                    ErrorResponse::new(Some(format!("{reason}: use the admin URL ringside cluster printed")));
                *forbidden.status_mut() = StatusCode::FORBIDDEN;
                Err(forbidden)
            }
        }
    };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(websocket_config(MAX_FRAME)));
    let mut ws = match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            return match refused {
                Some(reason) => say(&format!("refused a connection from {remote}: {reason} (HTTP 403)")),
                None => say(&format!("refused a connection from {remote}: WebSocket handshake failed: {e}")),
            }
        }
        Err(_) => {
            return say(&format!("dropped a connection from {remote}: no handshake within {HANDSHAKE_TIMEOUT:?}"))
        }
    };
    say(&format!("connected: {remote}"));
    while let Some(incoming) = ws.next().await {
        let out = match incoming {
            Ok(Message::Text(text)) => match parse(text.as_str()) {
                Ok((id, command)) => {
                    let (answer, answered) = oneshot::channel();
                    if commands.send((command, answer)).await.is_err() {
                        break;
                    }
                    let Ok(answer) = answered.await else { break };
                    reply(Some(id), answer)
                }
                Err((re, error)) => {
                    say(&format!("error from {remote}: {error}"));
                    reply(re, Answer::Error { error })
                }
            },
            Ok(Message::Binary(_)) => {
                let error = "binary frames are not spoken here: send JSON text frames".to_string();
                reply(None, Answer::Error { error })
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => continue, // pings are answered by the WebSocket layer
            Err(tungstenite::Error::Capacity(e)) => {
                let error = format!("frame too large: {e} (the limit is {MAX_FRAME} bytes)");
                say(&format!("closing the connection from {remote}: {error}"));
                let _ = ws.send(Message::text(reply(None, Answer::Error { error }))).await;
                let _ = ws.close(Some(CloseFrame { code: CloseCode::Size, reason: "frame too large".into() })).await;
                break;
            }
            Err(_) => break,
        };
        if ws.send(Message::text(out)).await.is_err() {
            break;
        }
    }
    say(&format!("{remote} left"));
}

/// A command and its `id`, or why not (with the `id` if one could be read).
pub fn parse(text: &str) -> Result<(u64, AdminCommand), (Option<u64>, String)> {
    let value: Value = serde_json::from_str(text).map_err(|e| (None, format!("malformed JSON: {e}")))?;
    if !value.is_object() {
        return Err((None, r#"a command is one JSON object, like {"id":1,"cmd":"list"}"#.into()));
    }
    let Some(id) = value.get("id").and_then(Value::as_u64) else {
        return Err((None, "every command needs an `id`, an unsigned integer".into()));
    };
    let command = AdminCommand::deserialize(&value).map_err(|e| (Some(id), format!("wrong command shape: {e}")))?;
    Ok((id, command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_commands_and_says_what_is_wrong() {
        assert_eq!(parse(r#"{"id":1,"cmd":"list"}"#), Ok((1, AdminCommand::List)));
        assert_eq!(parse(r#"{"cmd":"add","id":2}"#), Ok((2, AdminCommand::Add)));
        assert_eq!(
            parse(r#"{"id":3,"cmd":"kill","server":"s2"}"#),
            Ok((3, AdminCommand::Kill { server: "s2".into() }))
        );
        let (re, error) = parse("{not json").unwrap_err();
        assert_eq!(re, None);
        assert!(error.starts_with("malformed JSON: "), "{error}");
        let (re, error) = parse(r#"{"id":4,"cmd":"frobnicate"}"#).unwrap_err();
        assert_eq!(re, Some(4));
        assert_eq!(
            error,
            "wrong command shape: unknown variant `frobnicate`, expected one of `list`, `add`, `kill`, `restart`"
        );
        assert_eq!(
            parse(r#"{"id":6,"cmd":"restart","server":"vl2"}"#),
            Ok((6, AdminCommand::Restart { server: "vl2".into() }))
        );
        let (re, error) = parse(r#"{"id":5,"cmd":"kill","server":7}"#).unwrap_err();
        assert_eq!(
            (re, error.as_str()),
            (Some(5), "wrong command shape: invalid type: integer `7`, expected a string")
        );
        assert_eq!(parse(r#"{"id":"six","cmd":"list"}"#).unwrap_err().0, None);
        assert_eq!(parse("[1]").unwrap_err().0, None);
    }

    #[test]
    fn replies_in_the_documented_shape() {
        let entry = ListedServer { label: "s1".into(), addr: "127.0.0.1:38000".into(), id: None, state: "running" };
        assert_eq!(
            reply(Some(1), Answer::List { viewleader: "127.0.0.1:39000".into(), servers: vec![entry.clone()] }),
            r#"{"re":1,"ok":true,"viewleader":"127.0.0.1:39000","servers":[{"label":"s1","addr":"127.0.0.1:38000","id":null,"state":"running"}]}"#
        );
        assert_eq!(
            reply(Some(2), Answer::Server { server: entry }),
            r#"{"re":2,"ok":true,"server":{"label":"s1","addr":"127.0.0.1:38000","id":null,"state":"running"}}"#
        );
        assert_eq!(
            reply(None, Answer::Error { error: "no server s9".into() }),
            r#"{"re":null,"ok":false,"error":"no server s9"}"#
        );
    }

    #[test]
    fn tokens_are_fresh_hex() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn a_handshake_needs_the_token() {
        let request = |uri: &str| Request::builder().uri(uri).body(()).expect("a request");
        let token = "0123456789abcdef0123456789abcdef";
        assert_eq!(refusal(&request("/admin?token=0123456789abcdef0123456789abcdef"), token), None);
        assert_eq!(refusal(&request("/admin?x=1&token=0123456789abcdef0123456789abcdef"), token), None);
        assert_eq!(refusal(&request("/admin"), token), Some("no token"));
        assert_eq!(refusal(&request("/admin?token=0123"), token), Some("wrong token"));
    }
}
