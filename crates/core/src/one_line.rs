//! Text a peer chose, kept to one line wherever it is shown.

use core::fmt::{self, Write};

/// Shows `T` with every control character escaped (a newline as `\n`), so that text a peer
/// chose — an unknown command's name, a key, a lock name — can neither break a log line nor
/// forge one.
///
/// ```
/// use ringside_core::OneLine;
/// assert_eq!(OneLine("lock a\nINFO forged").to_string(), "lock a\\nINFO forged");
/// ```
pub struct OneLine<T>(pub T);

impl<T: fmt::Display> fmt::Display for OneLine<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escaped(f), "{}", self.0)
    }
}

/// Passes text on with its control characters escaped.
struct Escaped<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for Escaped<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some((at, control)) = rest.char_indices().find(|(_, c)| c.is_control()) {
            self.0.write_str(&rest[..at])?;
            write!(self.0, "{}", control.escape_default())?;
            rest = &rest[at + control.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(OneLine("plain é ✓").to_string(), "plain é ✓");
        assert_eq!(OneLine("a\nb\r\tc\u{1b}[2J").to_string(), "a\\nb\\r\\tc\\u{1b}[2J");
        assert_eq!(OneLine(format_args!("{}-{}", "x\n", 3)).to_string(), "x\\n-3");
    }
}
