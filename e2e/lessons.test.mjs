// End-to-end walk of every lesson on the built page (dist/) in headless Chromium at 1280×800,
// as a student clicks through it. `cargo xtask test` runs it as `node e2e/lessons.test.mjs`.
// For every step it:
//   - answers the step's question when it asks one (the first choice: a wrong guess must still
//     play the step) or presses Next step, and waits until the step has played out;
//   - asserts the step's narrated claims hold in the world at that moment (the page's own
//     check of the step, window.ringside.state().lesson.falseClaim, is null);
//   - asserts the messages sent during the step are inside the diagram's visible time span
//     (state().diagram: the span shown and the step's messages in it);
//   - saves a screenshot to target/e2e/lessons/lesson-<n>-step-<k>.png.
// After the last step it checks the lesson ends with a challenge and the way to the next one,
// and that Back returns the card to the step before.
//
// Environment: RINGSIDE_DIST (default dist/), CHROMIUM (default /usr/bin/chromium).

import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { check, click, inBrowser, log, open, state, until } from './harness.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = resolve(ROOT, process.env.RINGSIDE_DIST || 'dist');
const OUT = join(ROOT, 'target', 'e2e', 'lessons');
const LESSONS = 10;
const WATCHDOG = 6 * 60_000; // the whole walk

/** Plays the lesson's next step as a student does; resolves to the state once it played out. */
async function takeStep(page, done) {
  const before = await state(page);
  if (before.lesson.asks !== null) {
    const choices = page.locator('#lesson-text [data-cmd="lesson-answer"]');
    check((await choices.count()) >= 2, `step ${done + 1} asks a question with its choices on the card`);
    await choices.first().click();
  } else {
    await page.locator('#lesson-next').click();
  }
  return until(
    page,
    `step ${done + 1} plays out`,
    (s, n) => s.lesson?.done === n && !s.lesson.playing,
    done + 1,
  );
}

async function walk(page, n) {
  await page.selectOption('#lesson-pick', String(n));
  let s = await until(page, `lesson ${n + 1} starts`, (s, n) => s.lesson?.index === n && s.lesson.done === 0, n);
  const total = s.lesson.total;
  const figures = [];
  for (let done = 0; done < total; done++) {
    s = await takeStep(page, done);
    const where = `lesson ${n + 1} step ${done + 1} (${s.lesson.mark?.title})`;
    check(s.lesson.falseClaim === null, `${where}: the text claims ${JSON.stringify(s.lesson.falseClaim)}, the world disagrees`);
    const d = s.diagram;
    check(d.stepMessages === d.stepMessagesShown, `${where}: ${d.stepMessagesShown} of the step's ${d.stepMessages} messages are in the diagram's span [${d.top}, ${d.bottom}]`);
    figures.push(`${d.stepMessages} msgs`);
    const card = await page.locator('#lesson-text').innerText();
    check(card.includes(`step ${done + 1} of ${total}`), `${where}: the card says ${JSON.stringify(card.slice(0, 80))}`);
    await page.screenshot({ path: join(OUT, `lesson-${n + 1}-step-${done + 1}.png`) });
  }
  const card = await page.locator('#lesson-text').innerText();
  check(card.includes('Your turn.'), `lesson ${n + 1} ends with a challenge: ${card}`);
  if (n + 1 < LESSONS) {
    check(await page.locator('#lesson-text [data-cmd="lesson-start"]').isVisible(), `lesson ${n + 1} points at the next lesson`);
  }
  log(`lesson ${n + 1}: ${total} steps, claims hold, messages on screen (${figures.join(', ')})`);
}

/** Back from the end of a lesson's last step lands inside it, then, past its inputs, in the step before. */
async function backRestoresTheStep(page) {
  await page.selectOption('#lesson-pick', '3');
  await until(page, 'lesson 4 starts', (s) => s.lesson?.index === 3 && s.lesson.done === 0);
  for (let done = 0; done < 2; done++) await takeStep(page, done);
  const started = (await state(page)).lesson.mark.start;
  // Step back until the world is before step 2 began.
  for (let i = 0; i < 500; i++) {
    const s = await state(page);
    if (s.lesson.done < 2) break;
    check(s.now >= started, `Back left step 2's span (t=${s.now}) and the card still says step 2`);
    await click(page, 'back');
  }
  const s = await state(page);
  check(s.lesson.done === 1, `after Back the card is at step 1, says ${s.lesson.done}`);
  // The text panels redraw on the next animation frame, not inside the click.
  const shown = await page
    .waitForFunction(() => document.getElementById('lesson-text').innerText.includes('step 1 of 5'), null, { timeout: 5000 })
    .then(() => true, () => false);
  const card = await page.locator('#lesson-text').innerText();
  check(shown, `after Back the card's text is step 1's: ${card.slice(0, 80)}`);
  log('back: stepping back out of a step restores the step before on the card');
}

async function main() {
  await mkdir(OUT, { recursive: true });
  const failures = await inBrowser(DIST, 'e2e lessons', WATCHDOG, async (context, url, errors) => {
    const page = await open(context, url, errors, { width: 1280, height: 800 });
    const first = await state(page);
    check(first.keys > 0 && !first.playing, `the first screen holds keys and is paused: ${first.keys} keys`);
    check((await page.locator('#run-state').innerText()).includes('paused'), 'the first screen says it is paused');
    await page.screenshot({ path: join(OUT, 'first-screen.png') });
    for (let n = 0; n < LESSONS; n++) await walk(page, n);
    await backRestoresTheStep(page);
  });
  if (failures.length > 0) {
    for (const f of failures) console.error(`e2e lessons: FAILED: ${f}`);
    process.exit(1);
  }
  log(`lessons: all checks passed; screenshots in ${OUT}`);
}

await main();
