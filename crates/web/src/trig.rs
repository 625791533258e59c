//! Sine, cosine and a point's angle for the drawings: in the page from the browser's `Math`,
//! so that its wasm carries no trigonometry of its own (about 8 KB of libm), and from Rust's
//! natively, where the unit tests run. Only drawings use them, never the simulator, so the
//! same seed still gives the same run everywhere.

#[cfg(target_arch = "wasm32")]
mod imp {
    pub fn sin(x: f64) -> f64 {
        js_sys::Math::sin(x)
    }

    pub fn cos(x: f64) -> f64 {
        js_sys::Math::cos(x)
    }

    pub fn atan2(y: f64, x: f64) -> f64 {
        js_sys::Math::atan2(y, x)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub fn sin(x: f64) -> f64 {
        x.sin()
    }

    pub fn cos(x: f64) -> f64 {
        x.cos()
    }

    pub fn atan2(y: f64, x: f64) -> f64 {
        y.atan2(x)
    }
}

pub use imp::{atan2, cos, sin};
