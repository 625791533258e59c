// What the browser tests share: Chromium's launch options, a static server for dist/, and a
// page opened with its errors recorded and waited on through the test hook window.ringside.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

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

/** Waits until `predicate(state)` holds (it runs in the page); says `what` on timeout. */
export async function until(page, what, predicate, arg) {
  try {
    const expression = `(${predicate})(window.ringside.state(), ${JSON.stringify(arg ?? null)})`;
    await page.waitForFunction(expression, null, { timeout: WAIT, polling: 50 });
  } catch (e) {
    const now = await state(page).catch(() => null);
    throw new Error(`timed out waiting until ${what}; state: ${JSON.stringify(now)?.slice(0, 800)}`);
  }
  return state(page);
}

export const click = (page, cmd) => page.locator(`[data-cmd="${cmd}"]`).first().click();
