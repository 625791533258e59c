//! Ringside's end-to-end suites live in `tests/tests/`; later suites drive real node processes
//! and a real browser. This library is their shared home and has no code of its own yet.
