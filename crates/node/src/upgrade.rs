//! What a node answers an HTTP request that is not a WebSocket upgrade: `426 Upgrade Required`
//! with one line saying what listens here, instead of a silently dropped connection (RFC 6455
//! §4.2.1 asks for an HTTP error; the WebSocket library drops such a connection unanswered).
//!
//! The request's head is peeked, not read, so a real upgrade reaches the WebSocket handshake
//! untouched.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The most of a request's head looked at: enough for any browser's or tool's upgrade.
const HEAD_LIMIT: usize = 8 * 1024;
/// How long to wait between peeks while the head is still arriving: short at first (a head
/// split in two packets), doubling up to the longest, so a peer dribbling its head a byte at a
/// time (slow-loris) costs a few peeks a second, not hundreds.
const PEEK_PAUSE: Duration = Duration::from_millis(5);
const PEEK_PAUSE_MOST: Duration = Duration::from_millis(200);

/// What the request head `head` (its bytes so far) is, as far as the upgrade goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// Not all there yet.
    Partial,
    /// A complete HTTP request asking for a WebSocket, or bytes that are not HTTP at all (the
    /// handshake refuses those as it always did).
    Upgrade,
    /// A complete HTTP request that does not ask for a WebSocket.
    Plain,
}

/// Reads `head` as far as it goes.
pub fn classify(head: &[u8]) -> Head {
    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if head.len() >= HEAD_LIMIT { Head::Upgrade } else { Head::Partial };
    };
    let text = String::from_utf8_lossy(&head[..end]);
    let mut lines = text.split("\r\n");
    let http = lines.next().is_some_and(|l| l.ends_with("HTTP/1.1") || l.ends_with("HTTP/1.0"));
    if !http {
        return Head::Upgrade;
    }
    let asks = lines.filter_map(|l| l.split_once(':')).any(|(name, value)| {
        name.trim().eq_ignore_ascii_case("upgrade") && value.to_ascii_lowercase().contains("websocket")
    });
    if asks {
        Head::Upgrade
    } else {
        Head::Plain
    }
}

/// The whole answer to a plain HTTP request.
pub fn refusal() -> String {
    let body = "this is a Ringside node: it speaks JSON over WebSocket (see docs/protocol.md)\n";
    format!(
        "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Looks at what `stream` sent until its request head is complete or `patience` runs out;
/// answers a plain HTTP request with [`refusal`] and returns false (the connection is done).
/// True: hand the stream to the WebSocket handshake.
pub async fn screen(stream: &mut TcpStream, patience: Duration) -> bool {
    let until = Instant::now() + patience;
    let mut buf = vec![0; HEAD_LIMIT];
    let mut pause = PEEK_PAUSE;
    loop {
        let seen = match tokio::time::timeout_at(until, stream.peek(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return false,
            Ok(Ok(n)) => n,
            // The handshake's own timeout reports the silence.
            Err(_) => return true,
        };
        match classify(&buf[..seen]) {
            Head::Upgrade => return true,
            Head::Plain => {
                let _ = stream.write_all(refusal().as_bytes()).await;
                let _ = stream.shutdown().await;
                return false;
            }
            Head::Partial if Instant::now() >= until => return true,
            Head::Partial => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(PEEK_PAUSE_MOST);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_upgrade_goes_to_the_handshake() {
        let head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:39000\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\
                     Sec-WebSocket-Version: 13\r\n\r\n";
        assert_eq!(classify(head), Head::Upgrade);
    }

    #[test]
    fn a_plain_request_is_refused_and_a_partial_one_waited_for() {
        assert_eq!(classify(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Head::Plain);
        assert_eq!(classify(b"POST /set HTTP/1.0\r\nUpgrade: h2c\r\n\r\nbody"), Head::Plain);
        assert_eq!(classify(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websock"), Head::Partial);
        // Not HTTP, or a head past the limit: the handshake decides, as before.
        assert_eq!(classify(b"\x16\x03\x01 junk\r\n\r\n"), Head::Upgrade);
        assert_eq!(classify(&vec![b'a'; HEAD_LIMIT]), Head::Upgrade);
    }

    #[test]
    fn the_refusal_is_a_complete_response() {
        let r = refusal();
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert_eq!(body.lines().count(), 1);
    }
}
