// What the browser tests share: Chromium's launch options, a static server for dist/, a run in
// a browser bounded by a watchdog, and a page opened with its errors recorded and waited on
// through the test hook window.ringside.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// What works as root on this kind of machine (see shared TOOLCHAIN.md): without the
// background-networking flags Chromium keeps dialling hosts the closed network refuses.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const WAIT = 30_000; // any single wait

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

export function log(...args) {
  console.log('e2e:', ...args);
}

export function check(ok, what) {
  if (!ok) throw new Error(what);
}

/** Serves `dir` on 127.0.0.1 at a free port; resolves to { server, url }. */
export function serve(dir) {
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      if (path === '/favicon.ico') {
        res.writeHead(204).end();
        return;
      }
      let file = normalize(join(dir, path));
      if (file !== dir && !file.startsWith(dir + sep)) {
        res.writeHead(403).end();
        return;
      }
      let info = await stat(file).catch(() => null);
      if (info?.isDirectory()) {
        file = join(file, 'index.html');
        info = await stat(file).catch(() => null);
      }
      if (!info?.isFile()) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
        return;
      }
      res.writeHead(200, {
        'content-type': MIME[extname(file)] || 'application/octet-stream',
        'content-length': info.size,
        'cache-control': 'no-store',
      });
      createReadStream(file).pipe(res);
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok({ server, url: `http://127.0.0.1:${server.address().port}/` }));
  });
}

/** A new page at `url` that records console errors, page errors and failed requests. */
export async function open(context, url, errors, size) {
  const page = await context.newPage();
  await page.setViewportSize(size);
  page.setDefaultTimeout(WAIT);
  const where = () => page.url().slice(0, 60);
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console error on ${where()}: ${msg.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error on ${where()}: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  await page.goto(url, { waitUntil: 'load', timeout: WAIT });
  await page.waitForFunction(() => typeof window.ringside?.state === 'function', null, { timeout: WAIT });
  return page;
}

export const state = (page) => page.evaluate(() => window.ringside.state());

/** Waits until `predicate(state)` holds (it runs in the page), at most `timeout` ms; says
 * `what` on timeout. */
export async function until(page, what, predicate, arg, timeout = WAIT) {
  try {
    const expression = `(${predicate})(window.ringside.state(), ${JSON.stringify(arg ?? null)})`;
    await page.waitForFunction(expression, null, { timeout, polling: 50 });
  } catch (e) {
    const now = await state(page).catch(() => null);
    throw new Error(`timed out waiting until ${what}; state: ${JSON.stringify(now)?.slice(0, 800)}`);
  }
  return state(page);
}

export const click = (page, cmd) => page.locator(`[data-cmd="${cmd}"]`).first().click();

/** Serves `dist`, launches Chromium and runs `body(context, url, errors)`, all within
 * `watchdogMs` (past it the process exits failed, saying `name` took too long). Resolves to the
 * failures: what `body` threw, then every console or page error recorded. */
export async function inBrowser(dist, name, watchdogMs, body) {
  const failures = [];
  const errors = [];
  const { server, url } = await serve(dist);
  let browser = null;
  const watchdog = setTimeout(async () => {
    console.error(`${name}: FAILED: the test took over ${watchdogMs / 1000} s`);
    await Promise.race([browser?.close(), new Promise((r) => setTimeout(r, 5_000))]);
    server.close();
    process.exit(1);
  }, watchdogMs);
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: WAIT });
    const context = await browser.newContext();
    await body(context, url, errors);
    await context.close();
  } catch (e) {
    failures.push(e.stack || String(e));
  } finally {
    clearTimeout(watchdog);
    await browser?.close().catch(() => {});
    await new Promise((r) => server.close(r));
  }
  failures.push(...errors);
  return failures;
}
