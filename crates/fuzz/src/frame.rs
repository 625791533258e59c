//! The frame decoder under any bytes: it never panics, a frame it reads encodes back to a frame
//! that reads the same, and what it refuses it explains in one line.

use ringside_core::wire::Frame;

/// Decodes `data` as a shell decodes a text frame (a binary one is refused before decoding).
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Frame::decode(text) {
        Ok(frame) => {
            let again = Frame::decode(&frame.encode()).expect("a decoded frame encodes to one that decodes");
            assert_eq!(again, frame, "a frame changed on its way back through the codec");
        }
        Err(bad) => assert!(!bad.reason.contains('\n'), "a refusal takes more than a line: {:?}", bad.reason),
    }
}
