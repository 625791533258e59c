//! Ringside in the browser: the real protocol core, compiled to WebAssembly, running a
//! deterministic simulated cluster the learner can see, break, step through and replay — or
//! watching and driving a real native cluster in the same views.
//!
//! [`app`] holds the state and every command, [`model`] what the views draw, [`lessons`] the
//! guided lessons, [`live`] a real cluster read from its nodes' streams and [`remote`] the
//! sockets to it; the rest is the page: drawing and the DOM.

pub mod app;
pub mod canvas;
pub mod charts;
pub mod lessons;
pub mod live;
pub mod live_panels;
pub mod model;
pub mod page;
pub mod palette;
pub mod panels;
pub mod remote;
pub mod ring_view;
pub mod seq_view;
pub mod share;
