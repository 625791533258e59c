//! The lesson card: the step's text, the question before a step plays, the answer after, and
//! at the end a challenge and the way to the next lesson; the course's terms in the step's text
//! are hover definitions. Pure HTML, tested natively.

use std::fmt::Write;

use crate::app::App;
use crate::glossary::mark_terms;
use crate::html::esc;
use crate::lessons::{Step, LESSONS};

/// The lesson card's HTML.
pub fn card(app: &App) -> String {
    let Some((lesson, done)) = app.current_lesson() else { return menu() };
    let total = lesson.steps.len();
    // The lesson's title is in the picker above the card.
    let mut h = format!("<p class=\"about\">{}</p>", esc(lesson.about));
    let _ = write!(h, "<p class=\"progress\">step {done} of {total}</p>");
    if done == 0 {
        let _ = write!(h, "<p>Press <b>Next step</b> to begin: {}.</p>", esc(lesson.steps[0].title));
    } else {
        let step = &lesson.steps[done - 1];
        let _ = write!(h, "<h4>{}</h4><p>{}</p>", esc(step.title), mark_terms(&esc(step.text)));
        guessed(&mut h, app, done - 1, step);
    }
    if app.step_in_progress() {
        h.push_str("<p class=\"playing\">▶ playing out… <b>Next step</b> jumps to the moment described.</p>");
        return h;
    }
    match lesson.steps.get(done) {
        Some(next) => match &next.ask {
            Some(ask) => {
                let _ = write!(h, "<div class=\"ask\"><p><b>What happens next?</b> {}</p>", esc(ask.question));
                for (i, choice) in ask.choices.iter().enumerate() {
                    let _ = write!(h, "<button data-cmd=\"lesson-answer\" data-arg=\"{i}\">{}</button>", esc(choice));
                }
                h.push_str("<p class=\"hint\">Pick one to see, or press <b>Next step</b> to just watch.</p></div>");
            }
            None => {
                let _ = write!(h, "<p class=\"next\">Next: {}</p>", esc(next.title));
            }
        },
        None => {
            let _ = write!(h, "<div class=\"challenge\"><p><b>Your turn.</b> {}</p>", esc(lesson.challenge));
            let n = LESSONS.iter().position(|l| std::ptr::eq(*l, lesson)).unwrap_or(0);
            match LESSONS.get(n + 1) {
                Some(following) => {
                    let _ = write!(
                        h,
                        "<button class=\"primary\" data-cmd=\"lesson-start\" data-arg=\"{}\">Next lesson: {} ▸</button>",
                        n + 1,
                        esc(following.title)
                    );
                }
                None => h.push_str("<p>That was the last lesson.</p>"),
            }
            h.push_str("</div>");
        }
    }
    h
}

/// Free play's card: every lesson, one click from starting.
fn menu() -> String {
    let mut h = String::from("<p class=\"hint\">Eight guided walks through the protocol, or play freely below.</p>");
    h.push_str("<ol class=\"menu\">");
    for (i, lesson) in LESSONS.iter().enumerate() {
        let name = lesson.title.split_once(" · ").map_or(lesson.title, |(_, name)| name);
        let _ = write!(
            h,
            "<li><button data-cmd=\"lesson-start\" data-arg=\"{i}\" title=\"{}\">{}</button></li>",
            esc(lesson.about),
            esc(name)
        );
    }
    h.push_str("</ol>");
    h
}

/// What the learner guessed before step `index` played, against what happened.
fn guessed(h: &mut String, app: &App, index: usize, step: &Step) {
    let (Some(ask), Some((answered, choice))) = (&step.ask, app.answer) else { return };
    if answered != index {
        return;
    }
    let picked = ask.choices.get(choice).copied().unwrap_or("");
    if choice == ask.answer {
        let _ = write!(h, "<p class=\"verdict right\">You said “{}” — right.</p>", esc(picked));
    } else {
        let _ = write!(
            h,
            "<p class=\"verdict wrong\">You said “{}”; what happened: “{}”.</p>",
            esc(picked),
            esc(ask.choices[ask.answer])
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lesson_four_after;
    use ringside_sim::Session;

    #[test]
    fn free_play_lists_every_lesson() {
        let html = card(&App::new(Session::default()));
        assert_eq!(html.matches("data-cmd=\"lesson-start\"").count(), LESSONS.len(), "{html}");
        assert!(html.contains(">Placement and balance<"), "{html}");
    }

    #[test]
    fn the_card_says_what_happened_and_what_comes_next() {
        let app = lesson_four_after(1);
        let html = card(&app);
        assert!(html.contains("step 1 of 5") && html.contains("Next: c1 sends prepare"), "{html}");
    }

    #[test]
    fn a_question_comes_before_its_step_and_the_verdict_after() {
        let mut app = lesson_four_after(3);
        let html = card(&app);
        assert!(html.contains("What happens next?") && html.contains("data-cmd=\"lesson-answer\""), "{html}");
        assert!(app.lesson_answer(1));
        assert!(card(&app).contains("playing out"), "the step plays after the answer");
        app.lesson_next();
        let html = card(&app);
        assert!(html.contains("verdict wrong") && html.contains("COMMIT to all three"), "{html}");
        assert!(!html.contains("What happens next?"));
    }

    #[test]
    fn the_last_step_ends_with_a_challenge_and_the_next_lesson() {
        let mut app = App::new(Session::default());
        app.start_lesson(0).unwrap();
        while app.lesson_step_now() {}
        let html = card(&app);
        assert!(html.contains("Your turn.") && html.contains("data-cmd=\"lesson-start\" data-arg=\"1\""), "{html}");
    }
}
