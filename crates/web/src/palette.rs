//! Colours shared by every view: each server keeps one hue everywhere it appears.

use ringside_core::Addr;

/// Ink for text and outlines.
pub const INK: &str = "#1d2433";
/// Secondary text.
pub const MUTED: &str = "#6b7385";
/// Faint rules and grid lines.
pub const RULE: &str = "#d9dde6";
/// The highlight for what the learner points at.
pub const FOCUS: &str = "#ff7a00";
/// Lost messages and failures.
pub const BAD: &str = "#d0312d";
/// Commits and success.
pub const GOOD: &str = "#1f8a4c";
/// The view leader's colour.
pub const LEADER: &str = "#5b4bb7";
/// Lesson steps marked on the diagram's time axis.
pub const MARK: &str = "#0f7c8c";
/// Clients' colour.
pub const CLIENT: &str = "#2a7ab8";

/// The hues servers may take (degrees): reds, crimsons and oranges are left out, so no server
/// reads as failed (red is for loss and failure) or as the highlight (orange).
pub const SERVER_HUES: (f64, f64) = (50.0, 310.0);

/// The hue of server number `n` (s1, s2, …): golden-ratio steps through the allowed band keep
/// neighbours apart.
pub fn server_hue(n: u32) -> f64 {
    let golden = (n as f64 * 0.618_033_988_75).fract();
    SERVER_HUES.0 + golden * (SERVER_HUES.1 - SERVER_HUES.0)
}

/// The number in a node's address (`s12` → 12).
pub fn number(addr: &Addr) -> u32 {
    addr.0.trim_start_matches(|c: char| c.is_ascii_alphabetic()).parse().unwrap_or(0)
}

/// A node's colour, at a lightness (percent).
pub fn node_color(addr: &Addr, lightness: u32) -> String {
    match addr.0.chars().next() {
        Some('s') => format!("hsl({:.0} 62% {lightness}%)", server_hue(number(addr))),
        Some('c') => CLIENT.to_string(),
        _ => LEADER.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_servers_get_distant_hues_and_none_is_red() {
        for n in 1..40 {
            let d = (server_hue(n) - server_hue(n + 1)).abs();
            assert!(d.min(360.0 - d) > 30.0, "s{n}");
        }
        for n in 0..200 {
            let h = server_hue(n);
            // Red and crimson sit around 0°/360°, orange (the highlight) near 30°.
            assert!((50.0..=310.0).contains(&h), "s{n} has hue {h}");
        }
        assert_eq!(number(&Addr::from("s12")), 12);
        assert_eq!(node_color(&Addr::from("vl"), 50), LEADER);
    }
}
