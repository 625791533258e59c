//! The few HTML pieces every panel is made of: escaped text, a command button, a link that
//! selects something.

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A button naming its command and argument.
pub fn button(cmd: &str, arg: &str, label: &str, title: &str) -> String {
    format!("<button data-cmd=\"{cmd}\" data-arg=\"{}\" title=\"{}\">{label}</button>", esc(arg), esc(title))
}

/// A link that selects `focus`.
pub fn select_link(focus: &str, label: &str) -> String {
    format!("<a href=\"#\" data-cmd=\"select\" data-arg=\"{}\">{}</a>", esc(focus), esc(label))
}
