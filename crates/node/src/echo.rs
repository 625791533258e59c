//! A bare WebSocket JSON echo server: parses each text frame and sends it back. The benchmark
//! measures Ringside against round trips to it, the floor no protocol over the same sockets
//! can beat.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use crate::cli::ListenArgs;
use crate::Failure;

/// Echoes until the process is stopped; prints its address first.
pub async fn run(args: ListenArgs) -> Result<(), Failure> {
    let listener = TcpListener::bind((args.listen, args.port.unwrap_or(0)))
        .await
        .map_err(|e| Failure::new(format!("cannot listen: {e}")))?;
    let addr = listener.local_addr().map_err(|e| Failure::new(e.to_string()))?;
    eprintln!("echo listening on {addr}");
    crate::lifeline(args.lifeline);
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
            while let Some(Ok(message)) = ws.next().await {
                let Message::Text(text) = message else { continue };
                let Ok(value) = serde_json::from_str::<serde_json::Value>(text.as_str()) else { continue };
                if ws.send(Message::text(value.to_string())).await.is_err() {
                    return;
                }
            }
        });
    }
}
