// End-to-end test of live mode: the built page (dist/) watching and driving a real native
// cluster. `cargo xtask test` runs it as
//   RINGSIDE_BIN=target/release/ringside node e2e/live.test.mjs
// It starts `ringside cluster --servers 3` on loopback (short timings, events files in
// target/e2e/live-events/), opens the page from the link in the cluster's ready line (the one
// JSON line it writes to stdout once it listens; docs/protocol.md, "Ready lines"), and checks:
//   - the page connects: the view leader and three servers stream to it, the view has 3;
//   - setr from the page: the page's own client (the core in WebAssembly) runs 2PC, and the
//     diagram holds the prepares and commits the servers report receiving;
//   - + Server from the page (through the cluster's admin endpoint): it joins, keys move to it;
//   - killing a server from the inspector (through the admin endpoint too): the view changes
//     and the diagram shows the rebalancing transfers; getr returns the value;
//   - a wrong token is refused by the admin endpoint, and the page says so;
//   - a simulator run's actions re-run on the live cluster;
//   - the nodes' events files, imported, replay in the same viewer up to the same epoch;
//   - a second cluster with three view-leader replicas: each streams in a lane of its own, the
//     ring's centre says which leads, and setr from the page goes through it.
// Screenshots go to target/e2e/live-*.png.
//
// Environment: RINGSIDE_BIN (default target/release/ringside), RINGSIDE_DIST (default dist/),
// CHROMIUM (default /usr/bin/chromium).

import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, WAIT, check, click, log, open, serve, state, until } from './harness.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = resolve(ROOT, process.env.RINGSIDE_DIST || 'dist');
const OUT = join(ROOT, 'target', 'e2e');
const EVENTS = join(OUT, 'live-events');
const BIN = resolve(ROOT, process.env.RINGSIDE_BIN || join('target', 'release', 'ringside'));
const WATCHDOG = 4 * 60_000; // the whole test

/** The `ready` object of a ready line, or null for any other line. */
function readyOf(line) {
  if (!line.startsWith('{')) return null;
  try {
    return JSON.parse(line).ready ?? null;
  } catch {
    return null;
  }
}

/** Starts the cluster (with `more` flags); resolves to { child, fragment, output } once it wrote its ready line. */
function startCluster(more = ['--events-dir', EVENTS]) {
  const args = ['cluster', '--servers', '3', '--heartbeat-ms', '200', '--failure-timeout-ms', '1500', ...more];
  const child = spawn(BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = [];
  let stdout = '';
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`ringside cluster wrote no ready line within ${WAIT} ms:\n${output.join('')}`)), WAIT);
    const take = (d) => {
      output.push(d.toString());
      stdout += d.toString();
      const lines = stdout.split('\n');
      stdout = lines.pop();
      const ready = lines.map(readyOf).find((r) => r?.role === 'cluster');
      if (ready) {
        clearTimeout(timer);
        ok({ child, fragment: new URL(ready.page).hash, output });
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', (d) => output.push(d.toString()));
    child.on('error', (e) => fail(new Error(`cannot run ${BIN} (build it: cargo build --release -p ringside-node): ${e.message}`)));
    child.on('exit', (code) => fail(new Error(`ringside cluster exited ${code}:\n${output.join('')}`)));
  });
}

async function stopCluster(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.stdin.end('quit\n');
  const late = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(late);
}

async function typeInto(page, id, value) {
  await page.locator(`#${id}`).fill(value);
}

/** Connects from the cluster's link: all four nodes stream, the view has three servers. */
async function connect(page) {
  const s = await until(
    page,
    'the page streams from the view leader and three servers, and the view has 3',
    (s) => s.mode === 'live' && s.viewServers.length === 3 && s.lanes.filter((l) => l.up).length === 4 && s.adminServers?.length === 3,
  );
  log(`connected: epoch ${s.epoch}, view ${s.viewServers.join(' ')}, lanes ${s.lanes.map((l) => l.name).join(' ')}`);
  await page.waitForTimeout(1_500);
  const polled = await state(page);
  // The page's own polling (views, buckets) is matched to the nodes' records and not drawn.
  check(!polled.lanes.some((l) => l.name === 'clients'), `the page's polling shows as other clients: ${JSON.stringify(polled.lanes)}`);
  return s;
}

/** setr from the page: its client coordinates 2PC; the servers report the prepares and commits. */
async function setrFromThePage(page, key, value) {
  const before = await state(page);
  await typeInto(page, 'key', key);
  await typeInto(page, 'value', value);
  await click(page, 'setr');
  const s = await until(
    page,
    `setr ${key} commits and the diagram holds 3 more prepares and commits`,
    // The predicate runs in the page: it reads the result record, not the words.
    (s, b) => {
      const r = s.lastResult;
      const written = r?.ok && r.command.command === 'setr' && r.command.key === b.key && r.command.value === b.value && r.output.output === 'written';
      return written && s.delivered.prepare >= b.delivered.prepare + 3 && s.delivered.commit >= b.delivered.commit + 2;
    },
    { delivered: before.delivered, key, value },
  );
  log(`setr from the page: "${s.lastOutcome}"; delivered prepares ${s.delivered.prepare}, commits ${s.delivered.commit}`);
}

/** + Server from the page: the cluster starts one more process; it joins and keys move to it. */
async function addFromThePage(page) {
  const before = await state(page);
  await click(page, 'add-server');
  const s = await until(
    page,
    'a fourth server joins, transfers to it are delivered (unless its movement bar says none were needed), rebalancing ends',
    // Server ids are random: with a few keys, now and then none lands where the new server
    // replicates, and the page's movement bar then says the least needed was 0.
    (s, b) => {
      const move = s.moves.find((m) => m.epoch === s.epoch);
      const moved = move !== undefined && (move.minimum === 0 || s.delivered.transfer > b.delivered.transfer);
      return s.adminServers.length === 4 && s.viewServers.length === 4 && s.epoch > b.epoch && moved && !s.rebalancing;
    },
    before,
  );
  const move = s.moves.find((m) => m.epoch === s.epoch);
  log(`+ Server: ${s.adminServers.map((x) => x.label).join(' ')}; epoch ${before.epoch} -> ${s.epoch}, transfers delivered ${s.delivered.transfer}, ` +
    `movement chart: ${move.what}, ${move.moved} copies moved, minimum ${move.minimum}`);
}

/** Kills a server from its inspector card; the view changes and rebalancing shows. */
async function killFromThePage(page, label) {
  const before = await state(page);
  await page.evaluate((l) => window.ringside.select(l), label);
  const kill = page.locator(`#inspector [data-cmd="crash"][data-arg="${label}"]`);
  await kill.click();
  await until(page, `${label} is killed`, (s, l) => s.adminServers.some((x) => x.label === l && x.state === 'killed'), label);
  const s = await until(
    page,
    'the view drops the killed server, transfers are delivered (unless its movement bar says none were needed), rebalancing ends',
    (s, b) => {
      const move = s.moves.find((m) => m.epoch === s.epoch);
      const moved = move !== undefined && (move.minimum === 0 || s.delivered.transfer > b.delivered.transfer);
      return s.epoch > b.epoch && s.viewServers.length === b.viewServers.length - 1 && moved && !s.rebalancing;
    },
    before,
  );
  const down = s.lanes.find((l) => l.name === label);
  check(down && !down.up, `${label}'s lane should show it down: ${JSON.stringify(s.lanes)}`);
  const move = s.moves[s.moves.length - 1];
  log(`killed ${label}: epoch ${before.epoch} -> ${s.epoch}, view ${s.viewServers.join(' ')}, transfers delivered ${s.delivered.transfer}` +
    (move ? `, movement chart: ${move.what}, ${move.moved} copies moved, minimum ${move.minimum}` : ''));
  return s;
}

async function getrFromThePage(page, key, value) {
  await typeInto(page, 'key', key);
  await click(page, 'getr');
  const s = await until(page, `getr ${key} returns ${value}`, (s, v) => {
    const r = s.lastResult;
    return r?.ok && r.command.command === 'getr' && r.command.key === v.key && r.output.output === 'value' && r.output.value === v.value && r.output.version != null;
  }, { key, value });
  log(`getr from the page: "${s.lastOutcome}"`);
}

/** A simulator run's setr, made in a page of its own, re-run on the live cluster. */
async function rerunASimulatedRun(context, url, page, errors) {
  const sim = await open(context, url, errors, { width: 1280, height: 800 });
  await until(sim, 'the simulator has a client', (s) => s.viewServers.length === 3);
  await typeInto(sim, 'key', 'rerun-key');
  await typeInto(sim, 'value', 'from-the-simulator');
  await click(sim, 'setr');
  const session = await sim.evaluate(() => window.ringside.session());
  await sim.close();
  const file = join(OUT, 'live-rerun-session.json');
  await writeFile(file, session);
  await page.locator('#import').setInputFiles(file);
  await until(page, 'the page holds the imported run', (s) => /imported a simulator run/.test(s.notice ?? ''));
  await click(page, 'rerun');
  const s = await until(page, 'the re-run setr commits on the live cluster', (s) => {
    const r = s.lastResult;
    return r?.ok && r.command.command === 'setr' && r.command.key === 'rerun-key' && r.command.value === 'from-the-simulator' && r.output.output === 'written';
  });
  log(`re-run of a simulated run: "${s.lastOutcome}"`);
}

async function wrongToken(context, url, fragment, errors) {
  const bad = fragment.replace(/token=[0-9a-f]+/, 'token=00000000000000000000000000000000');
  // The refused handshake is the browser's to report as an error; it is expected here.
  const page = await open(context, url + bad, [], { width: 1280, height: 800 });
  const s = await until(page, 'a wrong token is refused', (s) => /refused this page/.test(s.adminError ?? ''));
  await click(page, 'add-server');
  const after = await until(page, 'adding a server is refused with the reason', (s) => /refused this page/.test(s.refusal ?? ''));
  log(`wrong token: "${s.adminError}"; + Server says "${after.refusal}"`);
  await page.close();
}

/** The nodes' events files, imported together, replay in the same viewer. */
async function replayEventsFiles(context, url, errors, liveEpoch) {
  const files = (await readdir(EVENTS)).filter((f) => f.endsWith('.jsonl')).map((f) => join(EVENTS, f));
  check(files.length >= 4, `expected an events file per node in ${EVENTS}, found ${files.length}`);
  const page = await open(context, url, errors, { width: 1280, height: 800 });
  await page.locator('#import').setInputFiles(files);
  await until(page, 'the page replays the events files', (s) => s.mode === 'replay');
  // Play at 10x: the whole run, a few seconds of real time.
  await page.evaluate(() => {
    const range = document.querySelector('#speed');
    range.value = '6';
    range.dispatchEvent(new Event('input', { bubbles: true }));
  });
  const s = await until(page, 'the replay reaches its end', (s) => s.replay.done === s.replay.total);
  check(s.epoch >= liveEpoch, `the replay should reach epoch ${liveEpoch}, reached ${s.epoch}`);
  check(s.delivered.prepare > 0 && s.delivered.transfer > 0, `the replay should hold prepares and transfers: ${JSON.stringify(s.delivered)}`);
  await page.screenshot({ path: join(OUT, 'live-replay-1280x800.png') });
  log(`replayed ${files.length} events files: ${s.replay.total} records, ${s.messages} messages, epoch ${s.epoch}`);
  await page.close();
}

/** A cluster of three view-leader replicas: each streams in a lane of its own, the ring's centre
 *  says who leads, and the page's setr goes through the leader. */
async function replicatedCluster(context, url, errors) {
  const cluster = await startCluster(['--viewleaders', '3']);
  try {
    const page = await open(context, url + cluster.fragment, errors, { width: 1280, height: 800 });
    const s = await until(
      page,
      'three view-leader replicas stream in lanes of their own and one leads',
      (s) => ['vl1', 'vl2', 'vl3'].every((n) => s.lanes.some((l) => l.name === n && l.up)) && s.viewServers.length === 3 && /^vl\d leads · term \d+$/.test(s.leadership ?? ''),
    );
    await setrFromThePage(page, 'quince', 'gold');
    // The leader's inspector shows its Raft state as the replica streams it.
    const leader = s.leadership.split(' ')[0];
    await page.evaluate((l) => window.ringside.select(l), leader);
    const card = page.locator('#inspector');
    await card.getByText('leader, serving').waitFor({ timeout: WAIT });
    const text = await card.innerText();
    check(/committed through \d+/.test(text) && /replica \d of 3/.test(text), `${leader}'s inspector should show its log: ${text}`);
    await page.screenshot({ path: join(OUT, 'live-replicas-1280x800.png') });
    log(`replicated view leader: lanes ${s.lanes.map((l) => l.name).join(' ')}; "${s.leadership}"; ${leader}: ${text.match(/committed through \d+/)[0]}`);
    await page.close();
  } finally {
    await stopCluster(cluster.child);
  }
}

async function main() {
  await mkdir(OUT, { recursive: true });
  await rm(EVENTS, { recursive: true, force: true });
  const failures = [];
  const errors = [];
  const { server, url } = await serve(DIST);
  let cluster = null;
  let browser = null;
  const watchdog = setTimeout(async () => {
    console.error(`e2e live: FAILED: the test took over ${WATCHDOG / 1000} s`);
    cluster?.child.kill('SIGKILL');
    await Promise.race([browser?.close(), new Promise((r) => setTimeout(r, 5_000))]);
    server.close();
    process.exit(1);
  }, WATCHDOG);
  try {
    cluster = await startCluster();
    log(`cluster up; page link ${cluster.fragment}`);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: WAIT });
    const context = await browser.newContext();
    const page = await open(context, url + cluster.fragment, errors, { width: 1280, height: 800 });
    await connect(page);
    await setrFromThePage(page, 'apple', 'red');
    await page.screenshot({ path: join(OUT, 'live-setr-1280x800.png') });
    // More keys, so that a join and a failure have copies to move.
    for (const fruit of ['banana', 'cherry', 'damson', 'elder', 'fig', 'grape', 'hazel']) {
      await setrFromThePage(page, fruit, `${fruit}-1`);
    }
    await addFromThePage(page);
    const killed = await killFromThePage(page, 's1');
    await page.screenshot({ path: join(OUT, 'live-kill-1280x800.png') });
    await getrFromThePage(page, 'apple', 'red');
    await rerunASimulatedRun(context, url, page, errors);
    await page.setViewportSize({ width: 1920, height: 1080 });
    await page.screenshot({ path: join(OUT, 'live-1920x1080.png') });
    await wrongToken(context, url, cluster.fragment, errors);
    await page.close();
    await stopCluster(cluster.child);
    await replayEventsFiles(context, url, errors, killed.epoch);
    await replicatedCluster(context, url, errors);
    await context.close();
  } catch (e) {
    failures.push(e.stack || String(e));
    if (cluster) failures.push(`cluster output:\n${cluster.output.join('').slice(-3000)}`);
  } finally {
    clearTimeout(watchdog);
    if (cluster) await stopCluster(cluster.child).catch(() => cluster.child.kill('SIGKILL'));
    await browser?.close().catch(() => {});
    await new Promise((r) => server.close(r));
  }
  // A killed server's sockets fail to reconnect until the view drops it: the browser reports
  // each refused connection as a console error, which is what should happen.
  const refused = /WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/(\?key=[0-9a-f]+)?' failed/;
  failures.push(...errors.filter((e) => !refused.test(e)));
  if (failures.length > 0) {
    console.error(`e2e live: FAILED:\n${failures.join('\n')}`);
    process.exit(1);
  }
  log('live: all checks passed; screenshots in target/e2e/live-*.png');
}

main();
