//! A bare WebSocket JSON echo server: parses each text frame and sends it back. The benchmark
//! measures Ringside against round trips to it, the floor no protocol over the same sockets
//! can beat.

use futures_util::{FutureExt, SinkExt, StreamExt};
use ringside_core::Addr;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use crate::cli::ListenArgs;
use crate::net::websocket_config;
use crate::ready::Ready;
use crate::wire::DEFAULT_MAX_FRAME;
use crate::NodeError;

/// Echoes until the process is stopped; announces its address first.
pub async fn run(args: ListenArgs) -> Result<(), NodeError> {
    let listener = TcpListener::bind((args.listen, args.port.unwrap_or(0)))
        .await
        .map_err(|e| NodeError::new(format!("cannot listen: {e}")))?;
    let addr = listener.local_addr().map_err(|e| NodeError::new(e.to_string()))?;
    eprintln!("echo listening on {addr}");
    Ready::Echo { addr: Addr(addr.to_string()) }.announce();
    let mut stop = crate::stopping(args.lifeline);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => return Ok(()),
        };
        let Ok((stream, _)) = accepted else { continue };
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let config = websocket_config(DEFAULT_MAX_FRAME);
            let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else { return };
            while let Some(Ok(message)) = ws.next().await {
                // Answer everything already received, then flush once, as the nodes do.
                let mut next = Some(message);
                while let Some(message) = next.take() {
                    if let Message::Text(text) = message {
                        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text.as_str()) {
                            if ws.feed(Message::text(value.to_string())).await.is_err() {
                                return;
                            }
                        }
                    }
                    next = ws.next().now_or_never().flatten().and_then(Result::ok);
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
        });
    }
}
