//! Ringside in the browser: the real protocol core, compiled to WebAssembly, running a
//! deterministic simulated cluster the learner can see, break, step through and replay — or
//! watching and driving a real native cluster in the same views.
//!
//! The page shows one [`modes::Mode`] at a time — the simulator ([`app`]), a live cluster
//! ([`live`] read from its nodes' records, [`remote`] the sockets to it) or a [`replay`] of its
//! events files — and draws every view from the [`scene::Scene`] trait they implement: the
//! ring, the message diagram, the charts, the [`panels`] and the [`inspector`]. [`model`] holds
//! what the views read from a trace, [`lessons`] the guided lessons, [`command`] the page's
//! command vocabulary. The DOM is in [`page`] (wiring), [`dispatch`] (commands by mode),
//! [`files`] (import, export, share) and [`hooks`] (what the end-to-end tests read).

pub mod app;
pub mod canvas;
pub mod charts;
pub mod command;
pub mod dispatch;
pub mod files;
pub mod glossary;
pub mod hooks;
pub mod html;
pub mod inspector;
pub mod labels;
pub mod lesson_card;
pub mod lessons;
pub mod live;
pub mod model;
pub mod modes;
pub mod page;
pub mod palette;
pub mod panels;
pub mod records;
pub mod remote;
pub mod replay;
pub mod replicas;
pub mod ring_view;
pub mod scene;
pub mod seq_view;
pub mod share;
#[cfg(test)]
mod testing;
pub mod timers;
pub mod trig;
pub mod views;
pub mod wait_for;
