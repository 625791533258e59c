//! Ringside in the browser: the real protocol core, compiled to WebAssembly, running a
//! deterministic simulated cluster the learner can see, break, step through and replay.
//!
//! [`app`] holds the state and every command, [`model`] what the views draw, [`lessons`] the
//! guided lessons; the rest is the page: drawing and the DOM.

pub mod app;
pub mod canvas;
pub mod charts;
pub mod lessons;
pub mod model;
pub mod page;
pub mod palette;
pub mod panels;
pub mod ring_view;
pub mod seq_view;
pub mod share;
