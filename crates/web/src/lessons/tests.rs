use ringside_sim::Session;

use super::*;
use crate::app::App;

/// Walks lesson `n` step by step, checking after each that the world is what its text says.
fn walk(n: usize) -> App {
    let mut app = App::new(Session::default());
    app.start_lesson(n).expect("exists");
    for step in LESSONS[n].steps {
        assert!(app.lesson_step_now(), "lesson {}: {} starts", n + 1, step.title);
        assert!(app.sim.violation().is_none(), "lesson {}: {:?}", n + 1, app.sim.violation());
        assert!((step.until)(&app.sim), "lesson {}: {:?} reached its moment", n + 1, step.title);
        if let Err(claim) = (step.check)(&app) {
            panic!("lesson {}, step {:?}: the text says {claim:?}, the world does not", n + 1, step.title);
        }
    }
    assert!(!app.lesson_next(), "the lesson is over");
    app
}

#[test]
fn every_step_of_every_lesson_says_what_the_world_shows() {
    for (n, lesson) in LESSONS.iter().enumerate() {
        let app = walk(n);
        assert_eq!(app.marks.len(), lesson.steps.len());
        assert!(app.marks.iter().all(|m| m.end.is_some_and(|end| end >= m.start)));
    }
}

#[test]
fn every_question_has_its_answer_among_its_choices() {
    for lesson in LESSONS {
        for step in lesson.steps {
            if let Some(ask) = &step.ask {
                assert!((2..=3).contains(&ask.choices.len()), "{}", step.title);
                assert!(ask.answer < ask.choices.len(), "{}", step.title);
            }
        }
        assert!(!lesson.challenge.is_empty());
    }
}

#[test]
fn a_step_played_out_frame_by_frame_stops_where_the_instant_one_does() {
    let instant = walk(3);
    let mut app = App::new(Session::default());
    app.start_lesson(3).unwrap();
    let mut frames = 0;
    while app.lesson_next() {
        while app.step_in_progress() {
            app.tick(16.0, &mut || false);
            frames += 1;
            assert!(frames < 10_000, "a step plays out in bounded frames");
        }
    }
    assert!(frames > LESSONS[3].steps.len() * 20, "steps play over many frames, not at once: {frames}");
    assert_eq!(app.trace_hash(), instant.trace_hash());
    assert_eq!(app.session.replay().trace().hash(), app.trace_hash());
}

#[test]
fn stepping_back_out_of_a_step_restores_the_step_before() {
    let mut app = crate::testing::lesson_after(3, 3);
    let after_two = {
        let two = crate::testing::lesson_after(3, 2);
        two.position()
    };
    while app.position() > after_two {
        assert!(app.back());
        if app.position() > after_two {
            assert_eq!(app.lesson.map(|l| l.done), Some(3), "inside step 3, its text stays");
        }
    }
    assert_eq!(app.lesson.map(|l| l.done), Some(2), "back at the end of step 2");
    assert_eq!(app.marks.len(), 2);
}

#[test]
fn a_lesson_is_a_session_that_replays() {
    let app = walk(4);
    assert_eq!(app.session.replay().trace().hash(), app.trace_hash());
}

#[test]
fn lesson_two_moves_exactly_the_minimum() {
    let app = walk(1);
    let join = app.journal.moves.last().expect("the join is charted");
    assert!(join.minimum > 0);
    assert_eq!(join.moved, join.minimum);
}
