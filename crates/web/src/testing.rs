//! What the page's unit tests share.

use ringside_core::{Addr, Member, ServerId};
use ringside_sim::{Session, Setup};

use crate::app::App;
use crate::live::Live;

/// Lesson `n` (from 0), `steps` steps in, each played to its moment.
pub(crate) fn lesson_after(n: usize, steps: usize) -> App {
    let mut app = App::new(Session::new(Setup::default()));
    app.start_lesson(n).unwrap();
    for _ in 0..steps {
        app.lesson_step_now();
    }
    app
}

/// Lesson 4 (a two-phase commit), `steps` steps in.
pub(crate) fn lesson_four_after(steps: usize) -> App {
    lesson_after(3, steps)
}

/// A live cluster seen by the page: view leader, one server `s1` (id `ab`) holding two keys.
pub(crate) fn live() -> Live {
    let mut live = Live::new(vec![Addr::from("127.0.0.1:39000")], 3, 1);
    live.node(&Addr::from("127.0.0.1:38000"), Some("s1"));
    live.set_view(2, &[Member { id: ServerId::from("ab"), addr: Addr::from("127.0.0.1:38000") }], false);
    live.set_keys(ServerId::from("ab"), vec!["apple".into(), "plum".into()]);
    live
}
