//! What the page's unit tests share.

use ringside_sim::{Session, Setup};

use crate::app::App;

/// Lesson 4 (a two-phase commit) on the default setup, `steps` steps in.
pub(crate) fn lesson_four_after(steps: usize) -> App {
    let mut app = App::new(Session::new(Setup::default()));
    app.start_lesson(3).unwrap();
    for _ in 0..steps {
        app.lesson_next();
    }
    app
}
